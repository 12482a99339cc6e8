"""The console in a real browser: Chromium from the distribution, driven by Playwright,
against a real `firehook dev` process.

The tests run in order over one dev process and one browser: each builds on what the
previous ones made (a routine, its triggers, its runs). Screenshots of every page go to
a folder printed at the end of the run (or to FIREHOOK_CONSOLE_SCREENSHOTS when set).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from firehook.devservers import free_port
from tests.processes import RoleProcess

pytestmark = pytest.mark.slow

BROWSER_ZONE = "Asia/Tokyo"
SCHEDULE_ZONE = "Europe/Paris"
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)


@dataclass
class Dev:
    url: str
    company_id: str
    key: str
    http: httpx.Client
    shots: Path
    made: dict[str, Any] = field(default_factory=dict)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


def _chromium() -> str:
    path = (
        os.environ.get("FIREHOOK_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if path is None:
        pytest.fail(
            "the console tests need Chromium: `apt-get install -y chromium` (Debian/Ubuntu), "
            "or set FIREHOOK_CHROMIUM to a Chromium or Chrome binary"
        )
    return path


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Dev]:
    workdir = tmp_path_factory.mktemp("console-dev")
    port = free_port()
    env = {name: v for name, v in os.environ.items() if not name.startswith("FIREHOOK_")}
    env |= {
        "FIREHOOK_HOST": "127.0.0.1",
        "FIREHOOK_PORT": str(port),
        "FIREHOOK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'dev.db'}",
        "FIREHOOK_SECRET_KEY_FILE": str(workdir / "firehook.key"),
    }
    process = RoleProcess(["dev"], env, port, workdir / "dev.log", workdir).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.alive, process.log_tail()
            try:
                if httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, process.log_tail()
            time.sleep(0.1)
        log = process.log_path.read_text()
        company = re.search(r"company:\s+(\S+)", log)
        key = re.search(r"admin key:\s+(\S+)", log)
        assert company and key, log
        # The startup banner points at the console.
        assert f"{process.url}/ui/" in log
        shots = Path(
            os.environ.get("FIREHOOK_CONSOLE_SCREENSHOTS")
            or tmp_path_factory.mktemp("console-screenshots")
        )
        shots.mkdir(parents=True, exist_ok=True)
        request.config.pluginmanager.register(_ScreenshotNote(shots), "console-screenshots")
        with httpx.Client(
            base_url=process.url,
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=10,
        ) as http:
            yield Dev(
                process.url,
                company.group(1),
                key.group(1),
                http,
                shots,
                {"log": process.log_path, "key_in_banner": log.count(key.group(1))},
            )
    finally:
        process.terminate()


class _ScreenshotNote:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(f"console screenshots: {self.folder}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[Any]:
    context = browser.new_context(
        timezone_id=BROWSER_ZONE, locale="en-US", viewport={"width": 1280, "height": 860}
    )
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


@pytest.fixture(scope="module")
def page(context: Any, dev: Dev) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None,
    )
    yield page
    assert not errors, errors


def sign_in(page: Page, dev: Dev, key: str | None = None) -> None:
    page.goto(f"{dev.url}/ui/")
    page.get_by_label("API key").fill(key or dev.key)
    page.get_by_label("Company id").fill(dev.company_id)
    page.get_by_role("button", name="Sign in").click()


def shot(page: Page, dev: Dev, name: str, *, height: int | None = None) -> None:
    """The whole page, or its top `height` pixels (the README's pictures)."""
    path = str(dev.shots / f"{name}.png")
    if height is None:
        page.screenshot(path=path, full_page=True)
    else:
        page.screenshot(path=path, clip={"x": 0, "y": 0, "width": 1280, "height": height})


def local_text(moment: datetime) -> str:
    """How en-US Intl (dateStyle medium, timeStyle short) writes `moment` in the browser's zone."""
    local = moment.astimezone(ZoneInfo(BROWSER_ZONE))
    hour = local.hour % 12 or 12
    return f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u202f", " ")).strip()


def test_sign_in_refuses_a_wrong_key_and_keeps_the_right_one_in_the_tab(
    page: Page, dev: Dev
) -> None:
    sign_in(page, dev, key="fhk_not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("invalid API key")
    expect(page.get_by_role("navigation", name="Pages")).to_be_hidden()

    sign_in(page, dev)
    expect(page.get_by_role("heading", name="Routines")).to_be_visible()
    expect(page.get_by_text("No routines yet")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('firehook.key')") == dev.key
    assert dev.key not in page.url
    assert not page.context.cookies()
    shot(page, dev, "routines-empty")


def test_create_a_routine_and_a_schedule_trigger_and_see_the_next_run_in_the_browser_zone(
    page: Page, dev: Dev
) -> None:
    page.get_by_role("button", name="New routine").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill("Morning report")
    dialog.get_by_label("Project id").fill("reports")
    dialog.get_by_role("button", name="Create routine").click()
    expect(page.get_by_role("heading", name="Morning report", level=1)).to_be_visible()
    routine_id = page.url.rsplit("/", 1)[-1]
    dev.made["routine"] = routine_id

    form = page.locator("form", has=page.get_by_role("heading", name="Add a trigger"))
    form.get_by_label("Kind").select_option("schedule")
    form.get_by_label("Cron expression").fill("30 9 * * *")
    form.get_by_label("Timezone (IANA)").fill(SCHEDULE_ZONE)
    expect(form).to_contain_text("09:30")
    form.get_by_role("button", name="Add trigger").click()

    fires = page.get_by_role("list", name="Next five fires")
    expect(fires.get_by_role("listitem")).to_have_count(5)
    routine = dev.api("GET", f"/api/routines/{routine_id}")
    next_run = datetime.fromisoformat(routine["nextRunAt"].replace("Z", "+00:00"))
    first = fires.get_by_role("listitem").first
    assert normal(first.inner_text()) == local_text(next_run)
    hover = first.locator("time").get_attribute("title") or ""
    assert "UTC:" in hover and f"{SCHEDULE_ZONE}:" in hover
    expect(page.locator(".next-run")).to_contain_text(local_text(next_run).split(", ")[-1])

    page.goto(f"{dev.url}/ui/#/routines")
    row = page.locator(f'tr[data-routine-id="{routine_id}"]')
    expect(row).to_contain_text("30 9 * * *")
    assert normal(row.locator(".next-run").inner_text()) == local_text(next_run)
    shot(page, dev, "routines")


def test_run_now_appears_live_and_follows_its_status(page: Page, context: Any, dev: Dev) -> None:
    routine_id = dev.made["routine"]
    live = context.new_page()
    sign_in(live, dev)
    live.goto(f"{dev.url}/ui/#/runs")
    expect(live.get_by_role("status").filter(has_text="live")).to_be_visible()

    page.goto(f"{dev.url}/ui/#/routine/{routine_id}")
    page.get_by_role("button", name="Run now").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Payload (JSON object)").fill('{"region": "eu"}')
    dialog.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text("accepted")).to_be_visible()
    runs = dev.api("GET", f"/api/routines/{routine_id}/runs")
    run = (runs if isinstance(runs, list) else runs["data"])[0]

    row = live.locator(f'tr[data-run-id="{run["id"]}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Morning report")
    dev.api(
        "POST", f"/api/runs/{run['id']}/complete", {"status": "succeeded", "output": {"ok": True}}
    )
    expect(row).to_have_attribute("data-status", "succeeded")

    # A second run fails: the live page offers a retry, which starts a new run.
    second = dev.api("POST", f"/api/routines/{routine_id}/run", {"payload": {"n": 2}})
    second_id = second.get("id") or second["runId"]
    failed = live.locator(f'tr[data-run-id="{second_id}"]')
    expect(failed).to_be_visible()
    dev.api("POST", f"/api/runs/{second_id}/complete", {"status": "failed", "error": "disk full"})
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed).to_contain_text("disk full")
    live.get_by_role("button", name=f"Retry run {second_id}").click()
    expect(live.locator("tbody tr")).to_have_count(3)
    shot(live, dev, "runs-live")
    shot(live, dev, "runs-live-top", height=400)
    live.close()

    page.reload()
    history = page.locator(f'details[data-run-id="{run["id"]}"]')
    history.locator("summary").click()
    expect(history).to_contain_text('"region": "eu"')
    expect(history).to_contain_text('"ok": true')
    shot(page, dev, "routine")


def test_pause_and_resume(page: Page, dev: Dev) -> None:
    routine_id = dev.made["routine"]
    page.goto(f"{dev.url}/ui/#/routines")
    row = page.locator(f'tr[data-routine-id="{routine_id}"]')
    row.get_by_role("button", name="Pause Morning report").click()
    expect(row.locator(".badge").first).to_have_text("paused")
    assert dev.api("GET", f"/api/routines/{routine_id}")["status"] == "paused"
    row = page.locator(f'tr[data-routine-id="{routine_id}"]')
    row.get_by_role("button", name="Resume Morning report").click()
    expect(row.locator(".badge").first).to_have_text("active")
    assert dev.api("GET", f"/api/routines/{routine_id}")["status"] == "active"
    expect(row.locator(".triggers-cell")).to_contain_text("30 9 * * *")
    shot(page, dev, "routines-top", height=400)

    # Filters: the server's status filter, and a text search over every routine.
    page.get_by_label("Status").select_option("paused")
    expect(page.get_by_text("No routine matches these filters")).to_be_visible()
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill("morning")
    expect(page.locator("tr[data-routine-id]")).to_have_count(1)
    page.get_by_label("Search").fill("no such routine")
    expect(page.get_by_text("No routine matches these filters")).to_be_visible()
    page.get_by_label("Search").fill("")


def _fire_with(snippet: str) -> str:
    """Run the page's curl example in a shell; the HTTP status it got."""
    script = snippet.replace("curl -sS", "curl -sS -o /dev/null -w '%{http_code}'", 1)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def test_webhook_secret_is_shown_once_and_can_be_rotated(page: Page, dev: Dev) -> None:
    routine_id = dev.made["routine"]
    page.goto(f"{dev.url}/ui/#/routine/{routine_id}")
    form = page.locator("form", has=page.get_by_role("heading", name="Add a trigger"))
    form.get_by_label("Kind").select_option("webhook")
    form.get_by_label("Signing mode").select_option("hmac_sha256")
    form.get_by_role("button", name="Add trigger").click()

    card = page.locator(".secret")
    expect(card).to_contain_text("shown only this once")
    secret = card.locator(".secret-value").inner_text()
    assert len(secret) >= 32
    snippet = card.locator("pre").inner_text()
    assert secret in snippet and "X-Firehook-Signature" in snippet
    # The ready-to-paste example is really signed: the webhook endpoint accepts it.
    assert _fire_with(snippet) == "202"
    shot(page, dev, "routine-webhook-secret")

    page.reload()
    expect(page.get_by_role("heading", name="Morning report", level=1)).to_be_visible()
    expect(page.locator("[data-trigger-id]").filter(has_text="webhook")).to_be_visible()
    assert secret not in page.content()
    expect(page.locator(".secret")).to_have_count(0)

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator(".secret .secret-value")
    expect(rotated).to_be_visible()
    assert rotated.inner_text() != secret
    assert _fire_with(page.locator(".secret pre").inner_text()) == "202"
    assert _fire_with(snippet) == "401"


def test_calendar_shows_the_upcoming_fire_and_leads_to_the_routine(page: Page, dev: Dev) -> None:
    page.goto(f"{dev.url}/ui/#/calendar")
    link = page.get_by_role("link", name="Morning report").first
    expect(link).to_be_visible()
    first_day = page.locator(".day").first
    expect(first_day).to_contain_text(local_text(_next_fire(dev)).split(", ")[-1])
    shot(page, dev, "calendar")
    link.click()
    expect(page.get_by_role("heading", name="Morning report", level=1)).to_be_visible()


def _next_fire(dev: Dev) -> datetime:
    routine = dev.api("GET", f"/api/routines/{dev.made['routine']}")
    return datetime.fromisoformat(routine["nextRunAt"].replace("Z", "+00:00"))


def test_activity_heatmap_is_drawn(page: Page, dev: Dev) -> None:
    page.goto(f"{dev.url}/ui/#/activity")
    cells = page.locator("svg rect.heat")
    expect(cells).to_have_count(7 * 24)
    # The runs of the earlier tests executed in this hour, in the browser's zone.
    now = datetime.now(ZoneInfo(BROWSER_ZONE))
    day = (now.weekday() + 1) % 7
    busy = cells.nth(day * 24 + now.hour)
    assert int(busy.get_attribute("data-count") or 0) >= 2
    assert "heat-0" not in (busy.get_attribute("class") or "")
    page.get_by_role("button", name="Suggest").click()
    expect(page.locator(".suggestions li").first).to_be_visible()
    shot(page, dev, "activity")


def test_a_chain_is_drawn_and_followed(page: Page, dev: Dev) -> None:
    upstream = dev.made["routine"]
    downstream = dev.api(
        "POST",
        f"/api/companies/{dev.company_id}/routines",
        {"title": "Publish report", "assigneeAgentId": "agent-1", "projectId": "reports"},
    )["id"]
    dev.api(
        "POST",
        f"/api/companies/{dev.company_id}/chains",
        {
            "name": "Report pipeline",
            "edges": [{"from": upstream, "to": downstream, "type": "on_success"}],
        },
    )
    page.goto(f"{dev.url}/ui/#/chains")
    graph = page.get_by_role("group", name="Graph of chain Report pipeline")
    expect(graph.locator(".edge-on_success")).to_have_count(1)
    shot(page, dev, "chains")
    graph.get_by_role("link", name="Routine Publish report").click()
    expect(page.get_by_role("heading", name="Publish report", level=1)).to_be_visible()


def test_tasks_show_their_init_params_schema(page: Page, dev: Dev) -> None:
    dev.api(
        "POST",
        f"/api/companies/{dev.company_id}/tasks",
        {
            "name": "summarise",
            "initParams": [{"name": "language", "default": "en", "type_hint": "string"}],
        },
    )
    page.goto(f"{dev.url}/ui/#/tasks")
    card = page.locator(".task").filter(has_text="summarise")
    expect(card).to_contain_text("language")
    expect(card.locator("pre")).to_contain_text('"type_hint": "string"')
    shot(page, dev, "tasks")


def test_phone_width_and_keyboard(page: Page, dev: Dev) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(f"{dev.url}/ui/#/routines")
        link = page.get_by_role("link", name="Morning report")
        expect(link).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, dev, "routines-phone")
        for route in (
            "runs",
            "calendar",
            "activity",
            "chains",
            "tasks",
            f"routine/{dev.made['routine']}",
        ):
            page.goto(f"{dev.url}/ui/#/{route}")
            expect(page.locator("h1")).to_be_visible()
            expect(page.get_by_text("Loading…")).to_have_count(0)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (route, width)
        page.goto(f"{dev.url}/ui/#/routines")
        expect(link).to_be_visible()
        # The keyboard alone reaches a routine: Tab to its link, Enter to open it.
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Morning report":
                break
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Morning report", level=1)).to_be_visible()
        # Dialogs open on Enter and close on Escape, giving focus back.
        page.get_by_role("button", name="Run now").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("dialog")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_be_hidden()
    finally:
        page.set_viewport_size({"width": 1280, "height": 860})


def test_live_runs_resume_with_last_event_id_after_a_drop(context: Any, dev: Dev) -> None:
    page = context.new_page()
    sign_in(page, dev)
    expect(page.get_by_role("heading", name="Routines")).to_be_visible()
    asked: list[str | None] = []
    fake_run = "00000000-0000-4000-8000-000000000001"

    def events(route: Any) -> None:
        asked.append(route.request.headers.get("last-event-id"))
        if len(asked) > 1:
            route.continue_()
            return
        # A stream that ends after one event, as a dropped connection does.
        data = {
            "runId": fake_run,
            "routineId": dev.made["routine"],
            "status": "running",
            "source": "manual",
            "createdAt": "2026-01-01T00:00:00Z",
        }
        event = {"type": "dev.firehook.run.running", "data": data}
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=f"retry: 100\n\nid: 1\nevent: dev.firehook.run.running\ndata: {_json(event)}\n\n",
        )

    page.route("**/api/companies/*/events", events)
    page.goto(f"{dev.url}/ui/#/runs")
    expect(page.locator(f'tr[data-run-id="{fake_run}"]')).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()
    page.wait_for_timeout(500)
    assert asked[:2] == [None, "1"]
    # Resumed after event 1: the real runs after it stream in on the same page.
    run = dev.api("POST", f"/api/routines/{dev.made['routine']}/run", {"payload": {"n": 3}})
    expect(page.locator(f'tr[data-run-id="{run.get("id") or run["runId"]}"]')).to_be_visible()
    page.close()


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def test_the_console_reads_the_array_and_secret_material_shapes(context: Any, dev: Dev) -> None:
    """Collections as bare arrays with X-Total-Count, `{trigger, secretMaterial}` and
    a 202 run object: the shapes of the native API as Paperclip answers."""
    import json

    page = context.new_page()
    sign_in(page, dev)
    expect(page.get_by_role("heading", name="Routines")).to_be_visible()

    def reshape(route: Any) -> None:
        response = route.fetch()
        body = response.json() if response.body() else None
        headers = dict(response.headers)
        path = route.request.url.split("?")[0]
        method = route.request.method
        if method == "GET" and isinstance(body, dict) and "data" in body and "total" in body:
            headers["x-total-count"] = str(body["total"])
            body = body["data"]
        elif (
            method == "POST"
            and (path.endswith("/triggers") or path.endswith("/rotate-secret"))
            and "trigger" not in body
        ):
            secret = body.pop("secret", None)
            material = {"webhookUrl": body.get("publicUrl"), "webhookSecret": secret}
            body = {"trigger": body, "secretMaterial": material if secret else None}
        elif method == "POST" and path.endswith("/run"):
            body = {
                "id": body["runId"],
                "status": "received",
                "routineId": path.split("/")[-2],
            } | body
        route.fulfill(status=response.status, headers=headers, body=json.dumps(body))

    page.route("**/api/**", reshape)
    page.goto(f"{dev.url}/ui/#/routines")
    expect(page.get_by_text("2 routines")).to_be_visible()
    page.get_by_role("link", name="Publish report").click()
    form = page.locator("form", has=page.get_by_role("heading", name="Add a trigger"))
    form.get_by_label("Kind").select_option("webhook")
    form.get_by_label("Signing mode").select_option("bearer")
    form.get_by_role("button", name="Add trigger").click()
    secret = page.locator(".secret .secret-value")
    expect(secret).to_be_visible()
    assert _fire_with(page.locator(".secret pre").inner_text()) == "202"
    page.get_by_role("button", name="Run now").click()
    page.get_by_role("dialog").get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="accepted")).to_contain_text("Run ")
    page.unroute_all(behavior="ignoreErrors")
    page.close()


@pytest.mark.parametrize(
    "mode", ["bearer", "hmac_sha256", "standard_webhooks", "github", "stripe", "slack", "none"]
)
def test_the_curl_example_of_every_signing_mode_is_accepted(
    page: Page, dev: Dev, mode: str
) -> None:
    created = dev.api(
        "POST",
        f"/api/routines/{dev.made['routine']}/triggers",
        {"kind": "webhook", "signingMode": mode},
    )
    trigger = created.get("trigger", created)
    secret = (created.get("secretMaterial") or {}).get("webhookSecret") or created.get("secret")
    page.goto(f"{dev.url}/ui/#/routines")
    snippet = page.evaluate(
        "async ([mode, url, secret]) => (await import('./pages/curl.js')).signedCurl(mode, url, secret)",
        [mode, trigger["publicUrl"], secret],
    )
    assert _fire_with(snippet) == "202", snippet


def test_routines_filter_by_label_when_routines_carry_labels(page: Page, dev: Dev) -> None:
    labelled = dev.api(
        "POST",
        f"/api/companies/{dev.company_id}/routines",
        {
            "title": "Nightly ETL",
            "assigneeAgentId": "agent-1",
            "projectId": "data",
            "labels": {"team": "data", "env": "prod"},
        },
    )["id"]
    page.goto(f"{dev.url}/ui/#/routines")
    page.reload()  # the page may be drawn already, without the labelled routine
    page.get_by_label("Label").select_option("team=data")
    rows = page.locator("tr[data-routine-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-routine-id", labelled)
    page.get_by_label("Label").select_option("")
    expect(page.locator(f'tr[data-routine-id="{dev.made["routine"]}"]')).to_be_visible()


def _key(dev: Dev, **body: Any) -> str:
    made = dev.api("POST", f"/api/companies/{dev.company_id}/api-keys", body)
    return str(made["key"])


def _signed_in_page(context: Any, dev: Dev, key: str) -> Page:
    """A new tab (its own sessionStorage) signed in with `key`, on the routines page."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    dev.made.setdefault("tab_errors", []).append(errors)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/me") else None)
    dev.made["asked_me"] = asked
    sign_in(page, dev, key)
    expect(page.get_by_role("heading", name="Routines")).to_be_visible()
    return page


def _actions_of(page: Page, dev: Dev, routine_id: str, title: str) -> list[str]:
    """The buttons offered on a routine's row, then on its own page, once they are drawn."""
    page.goto(f"{dev.url}/ui/#/routines")
    row = page.locator(f'tr[data-routine-id="{routine_id}"]')
    expect(row.get_by_role("link", name=title)).to_be_visible()
    offered = [f"row: {b}" for b in row.get_by_role("button").all_inner_texts()]
    page.goto(f"{dev.url}/ui/#/routine/{routine_id}")
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.locator("[data-trigger-id]").filter(has_text="webhook").first).to_be_visible()
    expect(page.get_by_text("runs, newest first")).to_be_visible()
    # The run dialog's own buttons are left out: it opens only from "Run now".
    buttons = page.evaluate(
        "[...document.querySelectorAll('main button')]"
        ".filter((b) => !b.closest('dialog')).map((b) => b.textContent)"
    )
    offered += [f"page: {b}" for b in buttons]
    return offered


_MANAGER = {
    "row: Pause",
    "row: Run now",
    "row: Archive",
    "page: Pause",
    "page: Run now",
    "page: Rotate secret",
    "page: Add trigger",
    "page: Cancel",
}


def test_an_agent_is_offered_actions_on_its_own_routines_only(context: Any, dev: Dev) -> None:
    own, own_title = dev.made["routine"], "Morning report"  # assigned to agent-1
    other_title = "Another agent's sync"
    other = dev.api(
        "POST",
        f"/api/companies/{dev.company_id}/routines",
        {"title": other_title, "assigneeAgentId": "agent-2", "projectId": "sync"},
    )["id"]
    dev.made["other_routine"] = other
    dev.api("POST", f"/api/routines/{other}/triggers", {"kind": "webhook"})
    dev.api("POST", f"/api/routines/{other}/run", {"payload": {"by": "admin"}})
    page = _signed_in_page(context, dev, _key(dev, role="agent", agentId="agent-1"))

    mine = set(_actions_of(page, dev, own, own_title))
    assert _MANAGER <= mine, mine
    theirs = set(_actions_of(page, dev, other, other_title))
    # Only reading is offered: the copy buttons and the run list's refresh.
    assert not theirs & _MANAGER, theirs
    assert "page: Refresh" in theirs and "page: Copy URL" in theirs
    expect(page.get_by_role("heading", name="Add a trigger")).to_have_count(0)
    shot(page, dev, "routine-agent-not-assigned")

    # Live, a run is cancellable only on the agent's own routine.
    page.goto(f"{dev.url}/ui/#/runs")
    for routine_id, title, offered in ((own, own_title, 1), (other, other_title, 0)):
        listed = dev.api("GET", f"/api/routines/{routine_id}/runs")
        active = ("received", "dispatched", "running")
        run_id = next(r["id"] for r in listed if r["status"] in active)
        row = page.locator(f'tr[data-run-id="{run_id}"]')
        expect(row.get_by_role("link", name=title)).to_be_visible()
        expect(row.get_by_role("button", name=f"Cancel run {run_id}")).to_have_count(offered)

    # What the key may do was read once, at sign-in, and is kept in the tab with the key.
    page.goto(f"{dev.url}/ui/#/routines")
    page.reload()
    row = page.locator(f'tr[data-routine-id="{own}"]')
    expect(row.get_by_role("button", name=f"Pause {own_title}")).to_be_visible()
    assert len(dev.made["asked_me"]) == 1, dev.made["asked_me"]

    # A new routine can be assigned to the agent itself only.
    page.goto(f"{dev.url}/ui/#/routines")
    page.get_by_role("button", name="New routine").click()
    assignee = page.get_by_role("dialog").get_by_label("Assignee agent id")
    expect(assignee).to_have_value("agent-1")
    expect(assignee).not_to_be_editable()
    page.close()


def test_a_board_key_is_offered_actions_on_every_routine(context: Any, dev: Dev) -> None:
    page = _signed_in_page(context, dev, _key(dev, role="board"))
    theirs = set(_actions_of(page, dev, dev.made["other_routine"], "Another agent's sync"))
    assert _MANAGER <= theirs, theirs
    page.goto(f"{dev.url}/ui/#/routines")
    page.get_by_role("button", name="New routine").click()
    expect(page.get_by_role("dialog").get_by_label("Assignee agent id")).to_be_editable()
    page.close()


def test_a_collection_bound_key_is_not_offered_the_company_wide_pages(
    context: Any, dev: Dev
) -> None:
    task = dev.api(
        "POST", f"/api/companies/{dev.company_id}/tasks", {"name": "crawl", "collection": "my-org"}
    )
    page = _signed_in_page(context, dev, _key(dev, role="board", collection="my-org"))
    # Its routines belong to its collection's tasks: the new-routine form asks for one.
    page.get_by_role("button", name="New routine").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill("Crawl the docs")
    expect(dialog.get_by_label("Task").locator("option")).to_have_count(2)
    dialog.get_by_label("Task").select_option(label="crawl")
    dialog.get_by_role("button", name="Create routine").click()
    expect(page.get_by_role("heading", name="Crawl the docs", level=1)).to_be_visible()
    assert dev.api("GET", f"/api/routines/{page.url.rsplit('/', 1)[-1]}")["taskId"] == task["id"]
    page.goto(f"{dev.url}/ui/#/routines")
    pages = page.get_by_role("navigation", name="Pages")
    expect(pages.get_by_role("link", name="Tasks")).to_be_visible()
    assert pages.get_by_role("link").all_inner_texts() == ["Routines", "Tasks"]
    # A link kept from another key leads back to the routines, not to a 404.
    page.goto(f"{dev.url}/ui/#/chains")
    expect(page).to_have_url(re.compile(r"#/routines$"))
    expect(page.get_by_role("heading", name="Routines")).to_be_visible()
    page.close()
    assert dev.made["tab_errors"] and not any(dev.made["tab_errors"]), dev.made["tab_errors"]


def test_signing_out_forgets_the_key_and_the_server_never_logged_it(page: Page, dev: Dev) -> None:
    page.goto(f"{dev.url}/ui/#/routines")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.goto(f"{dev.url}/ui/#/runs")
    expect(page.get_by_label("API key")).to_be_visible()
    # Only the startup banner ever printed it; every request since kept it in a header.
    assert dev.made["log"].read_text().count(dev.key) == dev.made["key_in_banner"]
