"""The container image's recipe: reproducible inputs, nothing fetched that is not pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", LOCK, flags=re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_every_dependency_is_locked_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    missing = [r for r in project["dependencies"] if _name(r) not in locked]
    assert not missing, f"regenerate requirements.lock (see its header): {missing}"
    assert "setuptools" in locked, "the image builds Firehook with the locked setuptools"
    entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", LOCK.split("\n", 4)[-1])
    assert all("--hash=sha256:" in entry for entry in entries if "==" in entry)


def test_the_image_installs_only_what_is_locked() -> None:
    assert "--require-hashes" in DOCKERFILE and "--only-binary=:all:" in DOCKERFILE
    assert "--no-build-isolation --no-index" in DOCKERFILE
    # The dependency layer comes before the source, so a code change keeps it cached.
    assert DOCKERFILE.index("COPY requirements.lock") < DOCKERFILE.index("COPY . .")


def test_the_base_is_pinned_by_digest_and_nothing_else_is_pulled() -> None:
    assert re.search(r"^ARG BASE_IMAGE=\S+@sha256:[0-9a-f]{64}$", DOCKERFILE, re.MULTILINE)
    assert "# syntax=" not in DOCKERFILE
    assert "build-essential" not in DOCKERFILE and "apt-get" not in DOCKERFILE
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert froms and all(image == "${BASE_IMAGE}" for image in froms)


def test_the_image_has_oci_labels() -> None:
    for label in ("title", "version", "revision", "created", "source", "licenses", "base.name"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE, label
