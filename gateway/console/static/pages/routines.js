// Routines: filters and search, status, triggers, next and last run; pause, resume,
// run now (with a payload), archive; and a form for a new routine.
import { api } from "../api.js";
import { act, badge, empty, errorBox, field, h, loading, time } from "../dom.js";
import { payloadDialog } from "./run-dialog.js";

const PAGE_SIZE = 50;

export async function render(view) {
  const state = { routines: [], total: 0, page: 0, details: new Map() };
  const problem = h("div", { "aria-live": "polite" });
  const status = h("select", {}, ["", "active", "paused", "archived"].map(
    (v) => h("option", { value: v }, v || "any")));
  const assignee = h("select", {}, h("option", { value: "" }, "any"));
  const project = h("select", {}, h("option", { value: "" }, "any"));
  const label = h("select", {}, h("option", { value: "" }, "any"));
  const search = h("input", { type: "search", placeholder: "Title, id, description" });
  const labelField = field("Label", label);
  labelField.hidden = true;
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter routines" },
    field("Search", search), field("Status", status), field("Assignee", assignee),
    field("Project", project), labelField);
  filters.addEventListener("submit", (e) => e.preventDefault());
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const body = h("div", {}, loading());
  const pager = h("nav", { class: "pager", "aria-label": "Routine pages" });
  const dialog = payloadDialog();

  view.replaceChildren(
    h("div", { class: "heading" }, h("h1", {}, "Routines"), newRoutineButton()),
    problem, filters, count, body, pager, dialog.element);

  for (const control of [status, assignee, project, label]) {
    control.addEventListener("change", () => { state.page = 0; draw(); });
  }
  search.addEventListener("input", () => { state.page = 0; draw(); });

  function options(select, values) {
    const current = select.value;
    select.replaceChildren(h("option", { value: "" }, "any"),
      [...values].sort().map((v) => h("option", { value: v }, v)));
    select.value = current;
  }

  function matching() {
    const text = search.value.trim().toLowerCase();
    return state.routines.filter((r) =>
      (!status.value || r.status === status.value)
      && (!assignee.value || r.assigneeAgentId === assignee.value)
      && (!project.value || r.projectId === project.value)
      && (!label.value || (r.labels || []).includes(label.value))
      && (!text || [r.title, r.id, r.description || ""].some((v) => v.toLowerCase().includes(text))));
  }

  function draw() {
    const rows = matching();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const shown = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    count.textContent = `${rows.length} of ${state.total} routines`;
    if (!state.total) {
      body.replaceChildren(empty("No routines yet. Create one with “New routine”, or through the API."));
    } else if (!rows.length) {
      body.replaceChildren(empty("No routine matches these filters. Clear the search or pick “any”."));
    } else {
      body.replaceChildren(table(shown));
    }
    pager.replaceChildren(
      pageButton("Previous", state.page > 0, () => state.page--),
      h("span", {}, `Page ${state.page + 1} of ${pages}`),
      pageButton("Next", state.page < pages - 1, () => state.page++));
    loadDetails(shown);
  }

  function pageButton(text, enabled, move) {
    return h("button", { type: "button", class: "secondary", disabled: !enabled,
      onclick: () => { move(); draw(); } }, text);
  }

  function table(rows) {
    return h("div", { class: "table-wrap" }, h("table", { class: "routines" },
      h("caption", { class: "sr-only" }, "Routines"),
      h("thead", {}, h("tr", {}, ["Routine", "Status", "Triggers", "Next run", "Last run", "Actions"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map(row))));
  }

  function row(r) {
    const detail = state.details.get(r.id);
    const zone = detail && (detail.triggers || []).find((t) => t.timezone)?.timezone;
    return h("tr", { "data-routine-id": r.id },
      h("td", {}, h("a", { href: `#/routine/${r.id}` }, r.title),
        h("div", { class: "muted small" }, `${r.assigneeAgentId} · ${r.projectId}`)),
      h("td", { "data-label": "Status" }, badge(r.status)),
      h("td", { class: "triggers-cell", "data-label": "Triggers" }, detail ? triggerSummary(detail.triggers || []) : "…"),
      h("td", { class: "next-run", "data-label": "Next run" }, time(r.nextRunAt, zone)),
      h("td", { "data-label": "Last run" }, r.lastStatus ? badge(r.lastStatus) : h("span", { class: "muted" }, "never"),
        r.lastRun ? h("div", { class: "small" }, time(r.lastRun)) : null),
      h("td", { class: "actions" }, actions(r)));
  }

  function actions(r) {
    if (r.status === "archived") return h("span", { class: "muted" }, "archived");
    const toggle = r.status === "active"
      ? h("button", { type: "button", class: "secondary" }, "Pause")
      : h("button", { type: "button", class: "secondary" }, "Resume");
    toggle.setAttribute("aria-label", `${toggle.textContent} ${r.title}`);
    toggle.addEventListener("click", () => act(toggle, problem, async () => {
      replace(r.status === "active" ? await api.pause(r.id) : await api.resume(r.id));
    }));
    const run = h("button", { type: "button", "aria-label": `Run ${r.title} now` }, "Run now");
    run.addEventListener("click", () => dialog.open(r, problem));
    const archive = h("button", { type: "button", class: "danger", "aria-label": `Archive ${r.title}` }, "Archive");
    archive.addEventListener("click", () => {
      if (!confirm(`Archive “${r.title}”? Archived is final: it cannot be resumed.`)) return;
      act(archive, problem, async () => replace(await api.archive(r.id)));
    });
    return [toggle, r.status === "active" ? run : null, archive];
  }

  function replace(updated) {
    if (!updated || !updated.id) return;
    const i = state.routines.findIndex((r) => r.id === updated.id);
    if (i >= 0) state.routines[i] = { ...state.routines[i], ...updated };
    draw();
  }

  // The list has no triggers: fetch them for the rows on screen only.
  async function loadDetails(rows) {
    const wanted = rows.filter((r) => !state.details.has(r.id)).slice(0, PAGE_SIZE);
    for (let i = 0; i < wanted.length; i += 6) {
      await Promise.all(wanted.slice(i, i + 6).map(async (r) => {
        try {
          state.details.set(r.id, await api.routine(r.id));
        } catch {
          state.details.set(r.id, { triggers: [] });
        }
        const tr = body.querySelector(`tr[data-routine-id="${r.id}"]`);
        if (tr) tr.replaceWith(row(r));
      }));
    }
  }

  try {
    await api.allRoutines((items, total) => {
      state.routines = items;
      state.total = total;
      options(assignee, new Set(items.map((r) => r.assigneeAgentId)));
      options(project, new Set(items.map((r) => r.projectId)));
      if (items.some((r) => Array.isArray(r.labels))) {
        labelField.hidden = false;
        options(label, new Set(items.flatMap((r) => r.labels || [])));
      }
      draw();
    });
  } catch (error) {
    body.replaceChildren(errorBox(error));
  }
}

export function triggerSummary(triggers) {
  if (!triggers.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "plain" }, triggers.map((t) => h("li", {},
    h("span", { class: `kind kind-${t.kind}` }, t.kind),
    " ", t.cronExpression || t.label || (t.every ? `every ${t.every} s` : "") || t.signingMode || "",
    t.enabled ? null : h("span", { class: "muted" }, " (disabled)"))));
}

function newRoutineButton() {
  const button = h("button", { type: "button" }, "New routine");
  const title = h("input", { type: "text", required: true, maxlength: "200" });
  const assignee = h("input", { type: "text", required: true, value: "agent-1" });
  const projectId = h("input", { type: "text", required: true, value: "default" });
  const description = h("textarea", { rows: "2" });
  const problem = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit" }, "Create routine");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { method: "dialog", "aria-labelledby": "new-routine-title" },
    h("h2", { id: "new-routine-title" }, "New routine"),
    field("Title", title), field("Assignee agent id", assignee), field("Project id", projectId),
    field("Description", description), problem, h("div", { class: "buttons" }, save, cancel));
  const dialog = h("dialog", { class: "card" }, form);
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await act(save, problem, () => api.createRoutine({
      title: title.value.trim(),
      assigneeAgentId: assignee.value.trim(),
      projectId: projectId.value.trim(),
      description: description.value.trim() || undefined,
    }));
    if (created) {
      dialog.close();
      location.hash = `#/routine/${created.id}`;
    }
  });
  button.addEventListener("click", () => { dialog.showModal(); title.focus(); });
  return h("div", {}, button, dialog);
}
