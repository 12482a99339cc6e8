// Runs, live: the company's run events over SSE (read with fetch, resumed with
// Last-Event-ID), newest first, filterable; failed runs can be retried, active ones cancelled.
import { access, api, streamRunEvents } from "../api.js";
import { act, badge, duration, empty, errorBox, field, h, time } from "../dom.js";

const RETRYABLE = new Set(["failed", "timed_out"]);
const CANCELLABLE = new Set(["received", "dispatched", "running", "retry_pending"]);
const MAX_SHOWN = 500;
const MAX_KEPT = 5000;

export async function render(view) {
  const runs = new Map();
  const titles = new Map();
  // Routines as read (title, assignee), to offer run actions only on those the key manages.
  const routines = new Map();
  const connection = h("span", { class: "badge", role: "status", "aria-live": "polite" }, "connecting…");
  const problem = h("div", { "aria-live": "polite" });
  const status = h("select", {}, ["", "received", "dispatched", "running", "retry_pending", "succeeded",
    "failed", "timed_out", "cancelled", "coalesced", "skipped"].map((v) => h("option", { value: v }, v || "any")));
  const routine = h("input", { type: "search", placeholder: "Routine title or id" });
  const body = h("div");
  const controller = new AbortController();
  let pending = false;

  view.replaceChildren(
    h("div", { class: "heading" }, h("h1", {}, "Runs, live"), connection),
    h("form", { class: "filters", role: "search", "aria-label": "Filter runs" },
      field("Status", status), field("Routine", routine)),
    problem, body);
  status.addEventListener("change", draw);
  routine.addEventListener("input", draw);

  // Titles of the routines that show up, each read once (the id stands in meanwhile).
  function learnTitle(routineId) {
    if (titles.has(routineId)) return;
    titles.set(routineId, "");
    api.routine(routineId).then((r) => { titles.set(routineId, r.title); routines.set(routineId, r); schedule(); })
      .catch(() => { /* the id is shown instead */ });
  }

  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  function draw() {
    const text = routine.value.trim().toLowerCase();
    const rows = [...runs.values()]
      .filter((r) => !status.value || r.status === status.value)
      .filter((r) => !text || r.routineId.includes(text) || (titles.get(r.routineId) || "").toLowerCase().includes(text))
      .sort((a, b) => (b.createdAt > a.createdAt ? 1 : b.createdAt < a.createdAt ? -1 : 0))
      .slice(0, MAX_SHOWN);
    if (!runs.size) {
      body.replaceChildren(empty("No runs yet. Run a routine now from the Routines page, and it appears here as it happens."));
      return;
    }
    if (!rows.length) {
      body.replaceChildren(empty("No run matches these filters."));
      return;
    }
    body.replaceChildren(h("div", { class: "table-wrap" }, h("table", { class: "live-runs" },
      h("caption", { class: "sr-only" }, "Runs, newest first"),
      h("thead", {}, h("tr", {}, ["Run", "Routine", "Status", "Source", "Created", "Duration", "Actions"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map(row)))));
  }

  function row(r) {
    learnTitle(r.routineId);
    const ms = r.finishedAt ? new Date(r.finishedAt) - new Date(r.dispatchedAt || r.createdAt) : null;
    const actions = [];
    const manages = access.manages(routines.get(r.routineId));
    if (CANCELLABLE.has(r.status) && manages) {
      const cancel = h("button", { type: "button", class: "secondary", "aria-label": `Cancel run ${r.runId}` }, "Cancel");
      cancel.addEventListener("click", () => act(cancel, problem, () => api.cancelRun(r.runId)));
      actions.push(cancel);
    }
    if (RETRYABLE.has(r.status) && manages) {
      const retry = h("button", { type: "button", class: "secondary", "aria-label": `Retry run ${r.runId}` }, "Retry");
      retry.addEventListener("click", () => act(retry, problem, () =>
        api.run(r.routineId, { source: "manual", payload: r.payload ?? undefined })));
      actions.push(retry);
    }
    return h("tr", { "data-run-id": r.runId, "data-status": r.status },
      h("td", {}, h("code", { title: r.runId }, r.runId.slice(0, 8))),
      h("td", {}, h("a", { href: `#/routine/${r.routineId}` }, titles.get(r.routineId) || r.routineId)),
      h("td", {}, badge(r.status), r.error ? h("div", { class: "small error-text" }, r.error) : null),
      h("td", {}, r.source),
      h("td", {}, time(r.createdAt)),
      h("td", {}, duration(ms)),
      h("td", { class: "actions" }, actions));
  }

  draw();
  streamRunEvents({
    signal: controller.signal,
    onEvent(event) {
      const data = event.data;
      if (!data || !data.runId) return;
      runs.set(data.runId, { ...(runs.get(data.runId) || {}), ...data });
      // The stream starts at the company's first event: keep the latest runs only.
      if (runs.size > MAX_KEPT) runs.delete(runs.keys().next().value);
      schedule();
    },
    onState(state, error) {
      connection.textContent = state === "live" ? "live" : state === "reconnecting" ? "reconnecting…" : "stopped";
      connection.className = `badge conn-${state}`;
      if (state === "error" && error) problem.replaceChildren(errorBox(error));
    },
  });
  return () => controller.abort();
}
