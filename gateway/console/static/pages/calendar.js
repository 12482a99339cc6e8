// Calendar: every upcoming fire of the week or the month, by local day; click through.
import { api } from "../api.js";
import { browserZone, empty, errorBox, field, h, loading } from "../dom.js";

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "short", day: "numeric" });
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

export async function render(view) {
  const span = h("select", {}, h("option", { value: "7" }, "Next 7 days"), h("option", { value: "31" }, "Next 31 days"));
  const body = h("div", {}, loading());
  view.replaceChildren(
    h("div", { class: "heading" }, h("h1", {}, "Calendar"), field("Window", span)),
    h("p", { class: "muted" }, `Upcoming fires of active routines, in your timezone (${browserZone}).`),
    body);
  span.addEventListener("change", load);

  async function load() {
    body.replaceChildren(loading());
    const from = new Date();
    const to = new Date(from.getTime() + Number(span.value) * 86_400_000);
    try {
      const calendar = await api.calendar({ from: from.toISOString(), to: to.toISOString() });
      const fires = calendar.routines.flatMap((r) =>
        r.fires.map((f) => ({ at: new Date(f.at), routineId: r.routineId, title: r.title })));
      if (!fires.length) {
        body.replaceChildren(empty("Nothing is scheduled in this window. Add a schedule trigger to a routine to see its fires here."));
        return;
      }
      fires.sort((a, b) => a.at - b.at);
      const days = new Map();
      for (const fire of fires) {
        const key = dayFormat.format(fire.at);
        if (!days.has(key)) days.set(key, []);
        days.get(key).push(fire);
      }
      const truncated = calendar.routines.filter((r) => r.truncated).map((r) => r.title);
      body.replaceChildren(h("div", {},
        h("p", { class: "muted" }, `${calendar.totalFires} fires`),
        truncated.length ? h("p", { class: "notice" }, `Only the first fires are listed for: ${truncated.join(", ")}`) : null,
        h("div", { class: "calendar" }, [...days].map(([day, list]) =>
          h("section", { class: "day card", "aria-label": day }, h("h2", {}, day),
            h("ul", { class: "plain" }, list.slice(0, 200).map((f) => h("li", {},
              h("time", { datetime: f.at.toISOString(), title: `UTC: ${f.at.toISOString()}` }, clockFormat.format(f.at)),
              " ", h("a", { href: `#/routine/${f.routineId}` }, f.title)))),
            list.length > 200 ? h("p", { class: "muted" }, `and ${list.length - 200} more`) : null)))));
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
  }
  await load();
}
