// Activity: the 24×7 heatmap of runs (in the browser's zone) and quiet-time suggestions.
import { api } from "../api.js";
import { browserZone, empty, errorBox, field, h, loading, s } from "../dom.js";

const CELL = 22;
const LEFT = 40;
const TOP = 18;

export async function render(view) {
  const weeks = h("select", {}, [1, 4, 12, 52].map((w) => h("option", { value: w }, `${w} week${w > 1 ? "s" : ""}`)));
  weeks.value = "4";
  const map = h("div", {}, loading());
  const suggestions = h("div");
  view.replaceChildren(
    h("div", { class: "heading" }, h("h1", {}, "Activity"), field("Period", weeks)),
    h("p", { class: "muted" }, `Runs by weekday and hour, in your timezone (${browserZone}).`),
    map,
    h("section", { "aria-labelledby": "suggest-h" }, h("h2", { id: "suggest-h" }, "Quiet times for a new schedule"),
      suggestForm(suggestions, weeks), suggestions));
  weeks.addEventListener("change", draw);

  async function draw() {
    try {
      const heat = await api.heatmap({ weeks: weeks.value, timezone: browserZone });
      map.replaceChildren(heatmap(heat),
        heat.total ? h("p", { class: "muted" }, `${heat.total} runs; busiest hour: ${heat.max}.`)
          : empty("No runs in this period yet: the map fills in as routines run."));
    } catch (error) {
      map.replaceChildren(errorBox(error));
    }
  }
  await draw();
}

function heatmap(heat) {
  const width = LEFT + 24 * CELL;
  const height = TOP + 7 * CELL;
  const cells = [];
  heat.counts.forEach((row, day) => row.forEach((count, hour) => {
    cells.push(s("rect", {
      x: LEFT + hour * CELL, y: TOP + day * CELL, width: CELL - 2, height: CELL - 2, rx: 3,
      class: `heat heat-${heat.levels[day][hour]}`, "data-count": count,
    }, s("title", {}, `${heat.days[day]} ${String(hour).padStart(2, "0")}:00 — ${count} run${count === 1 ? "" : "s"}`)));
  }));
  const hours = [0, 3, 6, 9, 12, 15, 18, 21].map((hour) =>
    s("text", { x: LEFT + hour * CELL, y: 12, class: "axis" }, String(hour).padStart(2, "0")));
  const days = heat.days.map((name, day) =>
    s("text", { x: 0, y: TOP + day * CELL + 15, class: "axis" }, name));
  const summary = heat.days.map((name, day) => `${name}: ${heat.counts[day].reduce((a, b) => a + b, 0)}`).join(", ");
  return h("figure", { class: "heatmap" },
    s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `Runs per weekday and hour. ${summary}` },
      hours, days, cells),
    h("figcaption", { class: "legend" }, "Fewer ", [0, 1, 2, 3, 4].map((level) =>
      h("span", { class: `swatch heat-${level}`, "aria-hidden": "true" })), " more"));
}

function suggestForm(out, weeks) {
  const clock = h("input", { type: "time", value: "09:00", required: true });
  const days = h("select", {}, ["daily", "weekdays", "weekends", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    .map((d) => h("option", { value: d }, d)));
  const submit = h("button", { type: "submit" }, "Suggest");
  const form = h("form", { class: "filters", "aria-label": "Suggest quiet times" },
    field("Near", clock), field("Days", days), submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const result = await api.suggestions({ time: clock.value.slice(0, 5), days: days.value, timezone: browserZone, weeks: weeks.value });
      out.replaceChildren(result.suggestions.length
        ? h("ul", { class: "plain suggestions" }, result.suggestions.map((sug) => h("li", { class: "card" },
          h("strong", {}, `${sug.time} ${sug.days}`), " — ", sug.reason, " ",
          h("code", {}, sug.cronExpression), ` (${sug.timezone}, ${sug.runsPerWeek} runs/week now)`)))
        : empty("No quieter time found near that time."));
    } catch (error) {
      out.replaceChildren(errorBox(error));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
