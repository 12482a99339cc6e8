// The console's shell: sign-in, navigation, and one module per page (hash routes).
import { ApiError, access, api, session } from "./api.js";
import { errorBox, field, h } from "./dom.js";

const PAGES = {
  routines: () => import("./pages/routines.js"),
  routine: () => import("./pages/routine.js"),
  runs: () => import("./pages/runs.js"),
  calendar: () => import("./pages/calendar.js"),
  activity: () => import("./pages/activity.js"),
  chains: () => import("./pages/chains.js"),
  tasks: () => import("./pages/tasks.js"),
};
// Pages a key sees only with a permission (a collection-bound key has no company-wide view).
const NEEDS = {
  runs: "viewRunStream",
  calendar: "viewCompanyStats",
  activity: "viewCompanyStats",
  chains: "viewChains",
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");
let leave = null;

function signInForm() {
  const key = h("input", { type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const company = h("input", { type: "text", autocomplete: "off", required: true, spellcheck: "false" });
  const problem = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Firehook"),
    h("p", { class: "muted" }, "The key stays in this tab (session storage) and is sent only as an Authorization header."),
    field("API key", key),
    field("Company id", company, "Printed with the admin key by `firehook dev`."),
    problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    problem.replaceChildren();
    try {
      await api.company(company.value.trim(), key.value.trim());
      await access.load(key.value.trim());
      session.save(key.value.trim(), company.value.trim());
      key.value = "";
      if (!location.hash || location.hash === "#/") location.hash = "#/routines";
      route();
    } catch (error) {
      const message = error instanceof ApiError && error.status === 401
        ? new Error("That key was not accepted (invalid API key).")
        : error;
      problem.replaceChildren(errorBox(message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

async function route() {
  if (leave) { leave(); leave = null; }
  if (!session.key) {
    nav.hidden = true;
    signOut.hidden = true;
    main.replaceChildren(signInForm());
    main.querySelector("input").focus();
    return;
  }
  if (!access.me) {
    try {
      await access.load();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        session.clear();
        return route();
      }
      main.replaceChildren(errorBox(error));
      signOut.hidden = false;
      return;
    }
  }
  nav.hidden = false;
  signOut.hidden = false;
  const [name, ...args] = (location.hash.replace(/^#\/?/, "") || "routines").split("/");
  if (NEEDS[name] && !access.may(NEEDS[name])) {
    // Not offered to this key: a link typed or kept from another key leads to the routines.
    location.replace("#/routines");
    return;
  }
  const load = PAGES[name] || PAGES.routines;
  for (const link of nav.querySelectorAll("a")) {
    const page = link.getAttribute("href").slice(2);
    link.hidden = Boolean(NEEDS[page]) && !access.may(NEEDS[page]);
    const current = link.getAttribute("href") === `#/${name === "routine" ? "routines" : name}`;
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const view = h("div", { class: "view" });
  main.replaceChildren(view);
  try {
    const page = await load();
    leave = (await page.render(view, ...args.map(decodeURIComponent))) || null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.clear();
      access.forget();
      return route();
    }
    view.replaceChildren(errorBox(error));
  }
  main.focus({ preventScroll: true });
}

signOut.addEventListener("click", () => {
  session.clear();
  access.forget();
  location.hash = "#/";
  route();
});
window.addEventListener("hashchange", route);
route();
