"""Logs never carry the local variables of a failing frame (they can hold secrets)."""

from __future__ import annotations

import logging

import pytest
import structlog

from firehook.logging import configure_logging


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_exception_logs_do_not_print_locals(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt)
    try:

        def open_secret(secret_value: str = "whsec_DO-NOT-LOG-THIS") -> None:
            raise ValueError("decryption failed")

        open_secret()
    except ValueError:
        structlog.get_logger("test").exception("could not open a secret")
    finally:
        output = capsys.readouterr().err
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    assert "decryption failed" in output
    assert "DO-NOT-LOG-THIS" not in output
