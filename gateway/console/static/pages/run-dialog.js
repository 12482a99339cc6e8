// "Run now" with a JSON payload editor, shared by the routines and routine pages.
import { api } from "../api.js";
import { act, errorBox, field, h } from "../dom.js";

export function payloadDialog(onRun = null) {
  const payload = h("textarea", { rows: "8", spellcheck: "false", class: "mono" }, "{}");
  const problem = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Run");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const heading = h("h2", { id: "run-dialog-title" }, "Run now");
  const form = h("form", { method: "dialog" }, heading,
    field("Payload (JSON object)", payload, "Sent to the run as its payload."),
    problem, h("div", { class: "buttons" }, submit, cancel));
  const element = h("dialog", { class: "card", "aria-labelledby": "run-dialog-title" }, form);
  let routine = null;
  let report = null;
  cancel.addEventListener("click", () => element.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse(payload.value || "{}");
      if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("not an object");
    } catch {
      problem.replaceChildren(errorBox(new Error("The payload must be a JSON object, e.g. {\"key\": \"value\"}.")));
      return;
    }
    const run = await act(submit, problem, () => api.run(routine.id, { source: "manual", payload: body }));
    if (!run) return;
    element.close();
    report.replaceChildren(h("div", { class: "notice", role: "status" },
      `Run ${run.id} of “${routine.title}” accepted. `,
      h("a", { href: "#/runs" }, "Watch it on the live runs page")));
    if (onRun) onRun(run);
  });
  return {
    element,
    open(target, where) {
      routine = target;
      report = where;
      heading.textContent = `Run “${target.title}” now`;
      problem.replaceChildren();
      element.showModal();
      payload.focus();
    },
  };
}
