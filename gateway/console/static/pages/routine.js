// One routine: its triggers (next five fires, cron description, webhook URL and a
// signed curl example, secret rotation), a form for a new trigger, and its runs.
import { access, api } from "../api.js";
import {
  act, badge, browserZone, copyButton, duration, empty, errorBox, field, h, loading, pre, time,
} from "../dom.js";
import { payloadDialog } from "./run-dialog.js";
import { signedCurl } from "./curl.js";

const SIGNING_MODES = ["bearer", "hmac_sha256", "standard_webhooks", "github", "stripe", "slack", "none"];
const RETRYABLE = new Set(["failed", "timed_out"]);
const CANCELLABLE = new Set(["received", "dispatched", "running", "retry_pending"]);

export async function render(view, routineId) {
  view.replaceChildren(loading());
  const problem = h("div", { "aria-live": "polite" });
  const secretSlot = h("div", { "aria-live": "polite" });
  const header = h("div");
  const triggerList = h("div", {}, loading());
  const runList = h("div", {}, loading());
  const dialog = payloadDialog(() => loadRuns());
  let routine = await api.routine(routineId);
  // Whether this key may act on the routine; what it may not do is not offered.
  const manages = () => access.manages(routine);

  view.replaceChildren(
    h("p", {}, h("a", { href: "#/routines" }, "← Routines")),
    header, problem, secretSlot,
    h("section", { "aria-labelledby": "triggers-h" }, h("h2", { id: "triggers-h" }, "Triggers"),
      triggerList, manages() ? newTriggerForm() : null),
    h("section", { "aria-labelledby": "runs-h" }, h("div", { class: "heading" },
      h("h2", { id: "runs-h" }, "Run history"),
      h("button", { type: "button", class: "secondary", onclick: () => loadRuns() }, "Refresh")),
    runList),
    dialog.element);

  function drawHeader() {
    const buttons = [];
    if (routine.status !== "archived" && manages()) {
      const toggle = h("button", { type: "button", class: "secondary" },
        routine.status === "active" ? "Pause" : "Resume");
      toggle.addEventListener("click", () => act(toggle, problem, async () => {
        routine = { ...routine, ...(routine.status === "active"
          ? await api.pause(routine.id) : await api.resume(routine.id)) };
        drawHeader();
        drawTriggers();
      }));
      buttons.push(toggle);
      if (routine.status === "active") {
        buttons.push(h("button", { type: "button", onclick: () => dialog.open(routine, problem) }, "Run now"));
      }
    }
    header.replaceChildren(h("div", {},
      h("div", { class: "heading" }, h("h1", {}, routine.title), h("div", { class: "buttons" }, buttons)),
      h("dl", { class: "facts" },
        fact("Status", badge(routine.status)),
        fact("Next run", h("span", { class: "next-run" }, time(routine.nextRunAt, zoneOf(routine)))),
        fact("Last run", routine.lastRun ? [badge(routine.lastRun.status), " ", time(routine.lastRun.triggeredAt)] : "never"),
        fact("Assignee", routine.assigneeAgentId),
        fact("Project", routine.projectId),
        fact("Concurrency", routine.concurrencyPolicy),
        fact("Catch-up", routine.catchUpPolicy),
        fact("Dispatch", routine.dispatch?.type === "http" ? `HTTP ${routine.dispatch.url}` : "event stream"),
        routine.taskId ? fact("Task", h("a", { href: "#/tasks" }, routine.taskId)) : null,
        fact("Id", h("code", {}, routine.id))),
      routine.description ? h("p", {}, routine.description) : null,
      (routine.warnings || []).map((w) => h("p", { class: "notice" }, w))));
  }

  function drawTriggers() {
    const triggers = routine.triggers || [];
    if (!triggers.length) {
      triggerList.replaceChildren(empty("No triggers yet: add a schedule or a webhook below, or run it by hand."));
      return;
    }
    triggerList.replaceChildren(...triggers.map(triggerCard));
  }

  function triggerCard(t) {
    const card = h("article", { class: "card trigger", "data-trigger-id": t.id, "aria-label": `${t.kind} trigger` },
      h("h3", {}, h("span", { class: `kind kind-${t.kind}` }, t.kind), " ", t.label || "",
        t.enabled ? null : h("span", { class: "muted" }, " (disabled)")));
    if (t.kind === "schedule") card.append(...scheduleDetails(t));
    if (t.kind === "webhook") card.append(...webhookDetails(t));
    if (t.kind === "api") card.append(h("p", { class: "muted" }, `Fires only through a manual run naming trigger ${t.id}.`));
    return card;
  }

  function scheduleDetails(t) {
    const spec = scheduleSpec(t);
    const description = h("p", { class: "describe" });
    const fires = h("ol", { class: "fires", "aria-label": "Next five fires" }, h("li", {}, loading()));
    (async () => {
      try {
        const result = await api.validate({ ...spec, count: 5 });
        description.textContent = result.human_readable || "";
        if (!result.valid) fires.replaceChildren(h("li", {}, errorBox(new Error(result.error))));
        else if (routine.status !== "active") fires.replaceChildren(h("li", { class: "muted" }, `No fires while ${routine.status}.`));
        else if (!result.next_runs.length) fires.replaceChildren(h("li", { class: "muted" }, "No further fires."));
        else fires.replaceChildren(...result.next_runs.map((iso) => h("li", {}, time(iso, t.timezone))));
      } catch (error) {
        fires.replaceChildren(h("li", {}, errorBox(error)));
      }
    })();
    return [
      h("p", {}, h("code", {}, spec.value), t.timezone ? ` in ${t.timezone}` : ""),
      description,
      h("p", { class: "small muted" }, `Next five fires, in your timezone (${browserZone}); hover for UTC and ${t.timezone || "UTC"}:`),
      fires,
    ];
  }

  function webhookDetails(t, secret = null) {
    const url = t.publicUrl || `${location.origin}/api/routine-triggers/public/${t.publicId}/fire`;
    const rotate = h("button", { type: "button", class: "secondary" }, "Rotate secret");
    rotate.addEventListener("click", () => {
      if (!confirm("Rotate the secret? Senders using the old one will be refused.")) return;
      act(rotate, problem, async () => {
        const result = await api.rotateSecret(t.id);
        showSecret(result, "rotated");
      });
    });
    return [
      h("dl", { class: "facts" },
        fact("Public URL", [h("code", { class: "webhook-url" }, url), " ", copyButton(url, "Copy URL")]),
        fact("Signing mode", h("code", {}, t.signingMode)),
        t.replayWindowSec ? fact("Replay window", `${t.replayWindowSec} s`) : null,
        t.lastRotatedAt ? fact("Secret rotated", time(t.lastRotatedAt)) : null),
      h("details", {}, h("summary", {}, "Signed curl example"),
        curlBlock(t.signingMode, url, secret)),
      t.signingMode === "none" || !manages() ? null : rotate,
    ];
  }

  function curlBlock(mode, url, secret) {
    const text = signedCurl(mode, url, secret);
    return h("div", { class: "curl" }, pre(text), copyButton(text, "Copy curl"));
  }

  // A secret comes once: it is shown here and nowhere else, and is gone on reload.
  function showSecret({ trigger, secret, webhookUrl }, verb) {
    const url = webhookUrl || trigger.publicUrl;
    secretSlot.replaceChildren(secret ? h("div", { class: "card secret", role: "status" },
      h("h2", {}, `Webhook secret ${verb}`),
      h("p", {}, "Copy it now: it is shown only this once and cannot be read back."),
      h("p", {}, h("code", { class: "secret-value" }, secret), " ", copyButton(secret, "Copy secret")),
      h("p", {}, "URL: ", h("code", {}, url)),
      curlBlock(trigger.signingMode, url, secret)) : "");
    refresh();
  }

  function newTriggerForm() {
    const kind = h("select", {}, ["schedule", "webhook", "api"].map((k) => h("option", { value: k }, k)));
    const cron = h("input", { type: "text", value: "0 9 * * 1-5", spellcheck: "false", class: "mono" });
    const zone = h("input", { type: "text", value: browserZone, spellcheck: "false" });
    const preview = h("p", { class: "small muted", "aria-live": "polite" });
    const mode = h("select", {}, SIGNING_MODES.map((m) => h("option", { value: m }, m)));
    mode.value = "hmac_sha256";
    const label = h("input", { type: "text", maxlength: "200" });
    const scheduleFields = h("div", {}, field("Cron expression", cron), field("Timezone (IANA)", zone), preview);
    const webhookFields = h("div", { hidden: true }, field("Signing mode", mode));
    const formProblem = h("div", { "aria-live": "polite" });
    const submit = h("button", { type: "submit" }, "Add trigger");
    const form = h("form", { class: "card", "aria-labelledby": "new-trigger-h" },
      h("h3", { id: "new-trigger-h" }, "Add a trigger"),
      field("Kind", kind), field("Label (optional)", label), scheduleFields, webhookFields, formProblem, submit);
    kind.addEventListener("change", () => {
      scheduleFields.hidden = kind.value !== "schedule";
      webhookFields.hidden = kind.value !== "webhook";
    });
    let timer = null;
    const check = () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        try {
          const result = await api.validate({ type: "cron", value: cron.value.trim(), timezone: zone.value.trim(), count: 1 });
          preview.textContent = result.valid ? `${result.human_readable}` : result.error;
        } catch (error) {
          preview.textContent = error.message;
        }
      }, 250);
    };
    cron.addEventListener("input", check);
    zone.addEventListener("input", check);
    check();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { kind: kind.value, label: label.value.trim() || undefined };
      if (kind.value === "schedule") Object.assign(body, { cronExpression: cron.value.trim(), timezone: zone.value.trim() });
      if (kind.value === "webhook") body.signingMode = mode.value;
      const result = await act(submit, formProblem, () => api.createTrigger(routine.id, body));
      if (!result) return;
      label.value = "";
      if (result.secret) showSecret(result, "created");
      else refresh();
    });
    return form;
  }

  async function loadRuns() {
    try {
      const { items, total } = await api.runs(routine.id, { limit: 50 });
      if (!items.length) {
        runList.replaceChildren(empty("No runs yet. Use “Run now”, or wait for a trigger to fire."));
        return;
      }
      runList.replaceChildren(h("p", { class: "muted" }, `${total} runs, newest first`),
        h("div", { class: "runs" }, items.map(runItem)));
    } catch (error) {
      runList.replaceChildren(errorBox(error));
    }
  }

  function runItem(run) {
    const actions = h("div", { class: "buttons" });
    if (CANCELLABLE.has(run.status) && manages()) {
      const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
      cancel.addEventListener("click", () => act(cancel, problem, async () => { await api.cancelRun(run.id); loadRuns(); }));
      actions.append(cancel);
    }
    if (RETRYABLE.has(run.status) && routine.status === "active" && manages()) {
      const retry = h("button", { type: "button", class: "secondary" }, "Retry");
      retry.addEventListener("click", () => act(retry, problem, async () => {
        await api.run(routine.id, { source: "manual", payload: run.payload ?? undefined });
        loadRuns();
      }));
      actions.append(retry);
    }
    return h("details", { class: "run", "data-run-id": run.id },
      h("summary", {}, badge(run.status), " ", time(run.createdAt), " · ", run.source,
        ` · ${duration(run.durationMs)} · attempt ${run.attempt}`),
      h("dl", { class: "facts" },
        fact("Run id", h("code", {}, run.id)),
        run.scheduledFor ? fact("Scheduled for", time(run.scheduledFor)) : null,
        fact("Started", time(run.startedAt)), fact("Finished", time(run.finishedAt)),
        fact("Duration", duration(run.durationMs)),
        run.reason ? fact("Reason", run.reason) : null,
        run.coalescedIntoRunId ? fact("Coalesced into", h("code", {}, run.coalescedIntoRunId)) : null),
      h("h4", {}, "Payload"), pre(run.payload ?? null),
      h("h4", {}, "Output"), pre(run.output ?? null),
      run.error ? [h("h4", {}, "Error"), h("pre", { class: "error-text" }, run.error)] : null,
      h("h4", {}, "Attempts"),
      run.attempts && run.attempts.length
        ? h("table", {}, h("thead", {}, h("tr", {}, ["#", "Status", "Started", "Finished", "HTTP", "Error"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, run.attempts.map((a) => h("tr", {}, h("td", {}, a.attempt), h("td", {}, badge(a.status)),
            h("td", {}, time(a.startedAt)), h("td", {}, time(a.finishedAt)), h("td", {}, a.httpStatus ?? "—"), h("td", {}, a.error || "")))))
        : h("p", { class: "muted" }, "No delivery attempt yet."),
      actions);
  }

  async function refresh() {
    try {
      routine = await api.routine(routine.id);
      drawHeader();
      drawTriggers();
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    }
  }

  drawHeader();
  drawTriggers();
  loadRuns();
}

function fact(name, value) {
  return h("div", {}, h("dt", {}, name), h("dd", {}, value));
}

function zoneOf(routine) {
  return (routine.triggers || []).find((t) => t.timezone)?.timezone || null;
}

export function scheduleSpec(t) {
  if (t.cronExpression) return { type: "cron", value: t.cronExpression, timezone: t.timezone || "UTC" };
  if (t.every) return { type: "every", value: String(t.every) };
  if (t.at) return { type: "at", value: t.at };
  const c = t.cadence || { type: "manual" };
  const pad = (n) => String(n ?? 0).padStart(2, "0");
  const clock = `${pad(c.hour_utc)}:${pad(c.minute_utc)}`;
  const value = c.type === "hourly" ? `hourly:${pad(c.minute_utc)}`
    : c.type === "weekly" ? `weekly:${c.day_of_week ?? 0}:${clock}`
      : c.type === "manual" ? "manual" : `${c.type}:${clock}`;
  return { type: "cadence", value };
}
