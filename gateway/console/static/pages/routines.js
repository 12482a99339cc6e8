// Routines: filters and search, status, triggers, next and last run; pause, resume,
// run now (with a payload), archive; and a form for a new routine.
import { access, api } from "../api.js";
import { act, badge, empty, errorBox, field, h, loading, time } from "../dom.js";
import { payloadDialog } from "./run-dialog.js";

const PAGE_SIZE = 50;

export async function render(view) {
  // The server pages and filters by status, assignee and project; a text search or a
  // label filter reads every matching routine once and filters here.
  const state = { shown: [], matched: 0, total: 0, page: 0, details: new Map(), all: null, allKey: "" };
  const problem = h("div", { "aria-live": "polite" });
  const status = h("select", {}, ["", "active", "paused", "archived"].map(
    (v) => h("option", { value: v }, v || "any")));
  const assignee = h("input", { type: "text", list: "assignees", placeholder: "any", spellcheck: "false" });
  const project = h("input", { type: "text", list: "projects", placeholder: "any", spellcheck: "false" });
  const assignees = h("datalist", { id: "assignees" });
  const projects = h("datalist", { id: "projects" });
  const label = h("select", {}, h("option", { value: "" }, "any"));
  const search = h("input", { type: "search", placeholder: "Title, id, description" });
  const labelField = field("Label", label);
  labelField.hidden = true;
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter routines" },
    field("Search", search), field("Status", status), field("Assignee", assignee),
    field("Project", project), labelField, assignees, projects);
  filters.addEventListener("submit", (e) => e.preventDefault());
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const body = h("div", {}, loading());
  const pager = h("nav", { class: "pager", "aria-label": "Routine pages" });
  const dialog = payloadDialog();
  const seen = { assignees: new Set(), projects: new Set(), labels: new Set() };

  view.replaceChildren(
    h("div", { class: "heading" }, h("h1", {}, "Routines"), newRoutineButton()),
    problem, filters, count, body, pager, dialog.element);

  let timer = null;
  const reload = () => { state.page = 0; clearTimeout(timer); timer = setTimeout(load, 200); };
  for (const control of [status, label]) control.addEventListener("change", reload);
  for (const control of [search, assignee, project]) control.addEventListener("input", reload);

  function serverFilters() {
    return {
      status: status.value || undefined,
      assigneeAgentId: assignee.value.trim() || undefined,
      projectId: project.value.trim() || undefined,
    };
  }

  // A routine's labels map, as `key=value` strings (a label selector's own syntax).
  function labelsOf(r) {
    return Object.entries(r.labels || {}).map(([key, value]) => `${key}=${value}`);
  }

  function remember(items) {
    for (const r of items) {
      seen.assignees.add(r.assigneeAgentId);
      seen.projects.add(r.projectId);
      for (const l of labelsOf(r)) seen.labels.add(l);
    }
    assignees.replaceChildren(...[...seen.assignees].sort().map((v) => h("option", { value: v })));
    projects.replaceChildren(...[...seen.projects].sort().map((v) => h("option", { value: v })));
    // Labels are offered only once routines carry them.
    if (seen.labels.size) {
      labelField.hidden = false;
      const current = label.value;
      label.replaceChildren(h("option", { value: "" }, "any"),
        ...[...seen.labels].sort().map((v) => h("option", { value: v }, v)));
      label.value = current;
    }
  }

  function matches(r, text) {
    return (!label.value || labelsOf(r).includes(label.value))
      && (!text || [r.title, r.id, r.description || ""].some((v) => v.toLowerCase().includes(text)));
  }

  async function load() {
    const params = serverFilters();
    const text = search.value.trim().toLowerCase();
    problem.replaceChildren();
    try {
      if (text || label.value) {
        const key = JSON.stringify(params);
        if (!state.all || state.allKey !== key) {
          body.replaceChildren(h("p", { class: "muted", role: "status" }, "Searching every routine…"));
          state.all = await api.allRoutines(params);
          state.allKey = key;
          remember(state.all);
        }
        const rows = state.all.filter((r) => matches(r, text));
        state.matched = rows.length;
        state.total = state.all.length;
        state.shown = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
      } else {
        const { items, total } = await api.routines({ ...params, limit: PAGE_SIZE, offset: state.page * PAGE_SIZE });
        state.matched = total;
        state.total = total;
        state.shown = items;
        remember(items);
      }
      draw();
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
  }

  function draw() {
    const pages = Math.max(1, Math.ceil(state.matched / PAGE_SIZE));
    const filtered = status.value || assignee.value.trim() || project.value.trim() || search.value.trim() || label.value;
    const noun = state.matched === 1 ? "routine" : "routines";
    count.textContent = `${state.matched} ${noun}${filtered ? (state.matched === 1 ? " matches" : " match") : ""}`;
    if (!state.matched && !filtered) {
      body.replaceChildren(empty("No routines yet. Create one with “New routine”, or through the API."));
    } else if (!state.matched) {
      body.replaceChildren(empty("No routine matches these filters. Clear the search or the filters."));
    } else {
      body.replaceChildren(table(state.shown));
    }
    pager.replaceChildren(
      pageButton("Previous", state.page > 0, () => state.page--),
      h("span", {}, `Page ${state.page + 1} of ${pages}`),
      pageButton("Next", state.page < pages - 1, () => state.page++));
    loadDetails(state.shown);
  }

  function pageButton(text, enabled, move) {
    return h("button", { type: "button", class: "secondary", disabled: !enabled,
      onclick: () => { move(); load(); } }, text);
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
      h("td", { "data-label": "Last run" }, r.lastRun ? badge(r.lastRun.status) : h("span", { class: "muted" }, "never"),
        r.lastRun ? h("div", { class: "small" }, time(r.lastRun.triggeredAt)) : null),
      h("td", { class: "actions" }, actions(r)));
  }

  function actions(r) {
    if (r.status === "archived") return h("span", { class: "muted" }, "archived");
    // What this key may not do to the routine is not offered (agents: their own routines only).
    if (!access.manages(r)) return null;
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
    const merge = (list) => list && list.map((r) => (r.id === updated.id ? { ...r, ...updated } : r));
    state.shown = merge(state.shown);
    state.all = merge(state.all);
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

  await load();
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
  // A key that may assign only to its own agent is not offered anyone else.
  const own = access.assignsOnly;
  const assignee = h("input", { type: "text", required: true, value: own ?? "agent-1", readonly: own !== null });
  // A collection-bound key makes routines only of its collection's tasks.
  const needsTask = access.may("routinesNeedTask");
  const task = h("select", { required: true }, h("option", { value: "" }, "Choose a task"));
  const projectId = h("input", { type: "text", required: true, value: "default" });
  const description = h("textarea", { rows: "2" });
  const problem = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit" }, "Create routine");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { method: "dialog", "aria-labelledby": "new-routine-title" },
    h("h2", { id: "new-routine-title" }, "New routine"),
    field("Title", title),
    field("Assignee agent id", assignee, own !== null ? "This key assigns routines to its own agent only." : undefined),
    field("Project id", projectId), needsTask ? field("Task", task) : null,
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
      taskId: needsTask ? task.value : undefined,
    }));
    if (created) {
      dialog.close();
      location.hash = `#/routine/${created.id}`;
    }
  });
  button.addEventListener("click", async () => {
    dialog.showModal();
    title.focus();
    if (needsTask && task.options.length === 1) {
      try {
        const tasks = await api.tasks();
        task.append(...tasks.map((t) => h("option", { value: t.id }, t.name)));
        if (!tasks.length) problem.replaceChildren(errorBox(new Error("This key's collection has no task yet: a routine needs one.")));
      } catch (error) {
        problem.replaceChildren(errorBox(error));
      }
    }
  });
  return h("div", {}, button, dialog);
}
