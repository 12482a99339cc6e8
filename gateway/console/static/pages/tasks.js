// Tasks: each task with its init params and the JSON Schema a run's params must meet.
import { api } from "../api.js";
import { empty, errorBox, h, loading, pre } from "../dom.js";

export async function render(view) {
  view.replaceChildren(h("h1", {}, "Tasks"), loading());
  try {
    const tasks = await api.tasks();
    view.replaceChildren(h("h1", {}, "Tasks"), tasks.length
      ? h("div", {}, tasks.map(taskCard))
      : empty("No tasks yet. A task names the work and its init params; create one with POST /api/companies/{companyId}/tasks."));
  } catch (error) {
    view.replaceChildren(h("h1", {}, "Tasks"), errorBox(error));
  }
}

function taskCard(task) {
  const schema = h("div", {}, loading());
  async function load() {
    try {
      schema.replaceChildren(h("h3", {}, "Init-params schema"), pre(await api.taskSchema(task.id)));
    } catch (error) {
      schema.replaceChildren(errorBox(error));
    }
  }
  load();
  const params = task.initParams || [];
  return h("article", { class: "card task", "aria-labelledby": `task-${task.id}` },
    h("h2", { id: `task-${task.id}` }, task.name, task.collection ? h("span", { class: "muted" }, ` · ${task.collection}`) : null),
    task.description ? h("p", {}, task.description) : null,
    params.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Param", "Type", "Default"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, params.map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.typeHint ?? p.type_hint),
          h("td", {}, h("code", {}, JSON.stringify(p.default)))))))
      : h("p", { class: "muted" }, "No init params."),
    schema);
}
