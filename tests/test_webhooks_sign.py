"""`firehook sign`: the printed curl command fires the trigger, in every signing mode."""

from __future__ import annotations

import asyncio
import shlex
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from firehook.cli import main
from firehook.context import Context
from gateway import create_app
from gateway.signatures import SIGNING_MODES
from tests.conftest import Tenant
from tests.servers import serve
from tests.test_webhooks import fire_path, new_webhook, secret_for


def sign(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["sign", *args]) == 0
    return capsys.readouterr().out


def parse_curl(command: str) -> tuple[str, dict[str, str], str]:
    """URL, headers and --data-binary argument of a printed curl command."""
    # A shell drops backslash-newline; shlex would keep the newline as a word.
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    url, headers, data = words[4], {}, None
    rest = iter(words[5:])
    for word in rest:
        if word == "-H":
            name, _, value = next(rest).partition(": ")
            headers[name] = value
        else:
            assert word == "--data-binary"
            data = next(rest)
    assert data is not None
    return url, headers, data


@pytest.mark.parametrize("mode", SIGNING_MODES)
async def test_printed_command_fires_the_trigger(
    client: httpx.AsyncClient,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    trigger = await new_webhook(client, tenant, mode)
    body = '{"id": "evt_9", "note": "it\'s \\"quoted\\" $HOME `x`"}'
    output = sign(
        capsys,
        "--trigger",
        trigger["publicId"],
        "--mode",
        mode,
        "--secret",
        secret_for(mode),
        "--body",
        body,
        "--url",
        "https://hooks.example.test/",
    )

    url, headers, data = parse_curl(output)
    assert url == "https://hooks.example.test" + fire_path(trigger)
    assert headers["Content-Type"] == "application/json"
    assert data == body
    response = await client.post(fire_path(trigger), content=data.encode(), headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["runId"]


async def test_full_url_and_idempotency_key(
    client: httpx.AsyncClient, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = await new_webhook(client, tenant, "hmac_sha256")
    output = sign(
        capsys,
        "--trigger",
        trigger["publicUrl"],
        "--mode",
        "hmac_sha256",
        "--secret",
        secret_for("hmac_sha256"),
        "--idempotency-key",
        "order-17",
    )
    url, headers, data = parse_curl(output)
    assert url == trigger["publicUrl"]
    assert headers["Idempotency-Key"] == "order-17" and data == "{}"
    response = await client.post(fire_path(trigger), content=data.encode(), headers=headers)
    assert response.json()["idempotencyKey"] == "order-17"


async def test_secret_from_standard_input_and_body_from_a_file(
    client: httpx.AsyncClient,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import io

    trigger = await new_webhook(client, tenant, "slack")
    form = tmp_path / "form.txt"
    form.write_bytes(b"command=%2Fdeploy&text=now\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(secret_for("slack") + "\n"))
    output = sign(
        capsys,
        "--trigger",
        trigger["publicId"],
        "--mode",
        "slack",
        "--secret",
        "-",
        "--body-file",
        str(form),
        "--content-type",
        "application/x-www-form-urlencoded",
        "--url",
        "http://x",
    )
    assert secret_for("slack") not in output
    _, headers, data = parse_curl(output)
    assert data == f"@{form}"
    response = await client.post(fire_path(trigger), content=form.read_bytes(), headers=headers)
    assert response.status_code == 202, response.text


def test_signed_mode_needs_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", "--trigger", "abc", "--mode", "stripe", "--url", "http://x"]) == 2
    assert "--secret" in capsys.readouterr().err


def test_unusable_secret_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sign", "--trigger", "abc", "--mode", "standard_webhooks", "--secret", "!!"]
    assert main([*args, "--url", "http://x"]) == 2
    assert "standard_webhooks secret" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_printed_command_runs_in_a_shell_against_a_real_server(
    ctx: Context,
    client: httpx.AsyncClient,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trigger = await new_webhook(client, tenant, "standard_webhooks")
    async with serve(create_app(ctx)) as base:
        output = sign(
            capsys,
            "--trigger",
            trigger["publicId"],
            "--mode",
            "standard_webhooks",
            "--secret",
            secret_for("standard_webhooks"),
            "--body",
            '{"hello": "world"}',
            "--url",
            base,
        )
        process = await asyncio.create_subprocess_shell(
            output.strip() + " -o /dev/null -w '%{http_code}'",
            stdout=asyncio.subprocess.PIPE,
        )
        status, _ = await process.communicate()
    assert status.decode() == "202"
    runs: list[dict[str, Any]] = (
        await client.get(
            f"/api/routines/{trigger['routineId']}/runs", headers=Tenant.auth(tenant.board)
        )
    ).json()
    assert runs[0]["payload"] == {"hello": "world"}
