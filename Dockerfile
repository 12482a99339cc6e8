# syntax=docker/dockerfile:1
#
# Firehook container image: one image for every role.
#   docker build -t firehook:dev .
#   docker run --rm firehook:dev --help
# The entrypoint is the `firehook` console script; the command picks the role
# (gateway, scheduler, consumer, migrate, keys ...).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build: compile and install Firehook and its dependencies into a venv ----
FROM ${PYTHON_IMAGE} AS build

# Compilers only for dependencies without a wheel for this platform; this
# stage is discarded, none of it reaches the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/firehook
ENV PATH=/opt/firehook/bin:$PATH

WORKDIR /src
# .dockerignore lets in only what the package build needs.
COPY . .
# A regular (non-editable) install: the source tree stays in this stage.
# pip compiles the bytecode now, since the runtime filesystem is read-only.
RUN pip install . \
    && pip uninstall -y pip \
    && firehook --help > /dev/null

# ---- runtime: the venv on a clean slim Python, as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="firehook" \
      org.opencontainers.image.description="Event-driven trigger gateway: cron schedules, signed webhooks and API calls, dispatched over Kafka" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

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

# Writable working directory for `firehook dev` (its SQLite file); in
# Kubernetes the root filesystem is read-only and only /tmp is writable.
WORKDIR /var/lib/firehook
USER 10001:10001
EXPOSE 8080

ENTRYPOINT ["firehook"]
CMD ["gateway"]
