"""`firehook validate` on the command line."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firehook.cli", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_prints_description_and_next_runs() -> None:
    result = run("0 9 * * MON-FRI", "--tz", "America/New_York", "--count", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "At 09:00, Monday through Friday (America/New_York)"
    assert len(lines) == 4
    assert all(
        line.strip().endswith(("-05:00", "-04:00")) and "T09:00:00" in line for line in lines[1:]
    )


def test_validate_rejects_a_bad_expression() -> None:
    result = run("61 * * * *")
    assert result.returncode == 2
    assert "minute field: 61 is out of range 0-59" in result.stderr


def test_validate_other_types() -> None:
    result = run("15m", "--type", "every", "--count", "1")
    assert result.returncode == 0 and result.stdout.startswith("Every 15 minutes")
