// Building blocks of the pages: elements, times, empty states, errors, copy buttons.
// Text always goes in as text nodes, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.setAttribute("class", value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const localFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium", timeStyle: "short", timeZone: browserZone,
});

function inZone(date, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, {
      dateStyle: "medium", timeStyle: "short", timeZone: zone, timeZoneName: "short",
    }).format(date);
  } catch {
    return null;
  }
}

/** A <time> in the browser's zone; UTC and the schedule's own zone on hover. */
export function time(iso, scheduleZone = null) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  const hover = [`UTC: ${date.toISOString().replace(".000Z", "Z")}`];
  if (scheduleZone && scheduleZone !== "UTC") hover.push(`${scheduleZone}: ${inZone(date, scheduleZone)}`);
  return h("time", { datetime: date.toISOString(), title: hover.join("\n") }, localFormat.format(date));
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function badge(status) {
  return h("span", { class: `badge status-${status || "none"}` }, status || "never");
}

export function empty(message, ...next) {
  return h("div", { class: "empty", role: "status" }, h("p", {}, message), ...next);
}

export function errorBox(error) {
  const code = error && error.code ? ` (${error.code})` : "";
  return h("div", { class: "error", role: "alert" }, `${error.message || error}${code}`);
}

export function loading() {
  return h("p", { class: "muted", role: "status" }, "Loading…");
}

export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "secondary" }, label);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

export function field(label, control, hint = null) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("small", { class: "muted" }, hint) : null);
}

export function pre(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return h("pre", { tabindex: "0" }, text);
}

/** Runs `action`, showing its error in `where` and disabling `button` meanwhile. */
export async function act(button, where, action) {
  button.disabled = true;
  where.replaceChildren();
  try {
    return await action();
  } catch (error) {
    where.replaceChildren(errorBox(error));
    return undefined;
  } finally {
    button.disabled = false;
  }
}
