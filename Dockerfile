# Firehook container image: one image for every role.
#
#   docker build -t firehook:dev .         (or scripts/build-image.sh: no registry needed)
#   docker run --rm firehook:dev --help
#
# The entrypoint is the `firehook` console script; the command picks the role
# (gateway, scheduler, consumer, dev, migrate, keys ...).
#
# Reproducible: the base is pinned by digest (override BASE_IMAGE to use a
# mirror or a base built here), every dependency is installed from
# requirements.lock with exact versions and hashes, as wheels only (no compiler
# in any stage), in a layer of its own that a code change does not invalidate.
# No syntax frontend is named, so air-gapped builders need nothing but the base.

# python:3.12-slim-bookworm, pinned. Any Debian-like base with python3 and its
# venv module works (scripts/build-image.sh uses a debootstrap-made bookworm).
ARG BASE_IMAGE=python:3.12-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254

# ---- build: the dependencies, then Firehook, into a virtualenv ----
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# A package index mirror and the CA bundle of a TLS-inspecting proxy, when the
# builder needs them (seen by pip in this stage only; hashes still decide).
ARG PIP_INDEX_URL
ARG PIP_CERT

RUN python3 -m venv /opt/firehook
ENV PATH=/opt/firehook/bin:$PATH

WORKDIR /src
# The dependency layer: rebuilt only when the lock changes.
COPY requirements.lock .
RUN pip install --require-hashes --only-binary=:all: --no-deps -r requirements.lock

# .dockerignore lets in only what the package build needs.
COPY . .
# Built with the locked setuptools already installed: nothing is resolved or fetched.
RUN pip install --no-deps --no-build-isolation --no-index . \
    && pip uninstall -y pip setuptools \
    && firehook --help > /dev/null

# ---- runtime: the virtualenv on the same base, as an unprivileged user ----
FROM ${BASE_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="firehook" \
      org.opencontainers.image.description="Event-driven trigger gateway: cron schedules, signed webhooks and API calls, dispatched over Kafka" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/firehook/firehook" \
      org.opencontainers.image.url="https://github.com/firehook/firehook" \
      org.opencontainers.image.documentation="https://github.com/firehook/firehook/blob/main/docs/kubernetes.md" \
      org.opencontainers.image.vendor="Firehook" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# Numeric ids so Kubernetes can verify runAsNonRoot; the chart uses the same.
RUN groupadd --system --gid 10001 firehook \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/firehook \
       --shell /usr/sbin/nologin firehook \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/firehook

COPY --from=build /opt/firehook /opt/firehook

ENV PATH=/opt/firehook/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FIREHOOK_HOST=0.0.0.0 \
    FIREHOOK_PORT=8080

# Writable working directory for `firehook dev` (its SQLite file and key); in
# Kubernetes the root filesystem is read-only and this is a volume.
WORKDIR /var/lib/firehook
USER 10001:10001
EXPOSE 8080

ENTRYPOINT ["firehook"]
CMD ["gateway"]
