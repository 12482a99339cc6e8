// Chains: each chain drawn as a graph of its routines (layered left to right) with typed edges.
import { api } from "../api.js";
import { empty, errorBox, h, loading, s } from "../dom.js";

const NODE_W = 180;
const NODE_H = 40;
const GAP_X = 80;
const GAP_Y = 24;
const EDGE_LABEL = { on_success: "on success", on_failure: "on failure", on_complete: "on complete" };

export async function render(view) {
  view.replaceChildren(h("h1", {}, "Chains"), loading());
  try {
    const chains = await api.chains();
    const ids = [...new Set(chains.flatMap((c) => c.routines))];
    const titles = new Map(await Promise.all(ids.map(async (id) => {
      try {
        return [id, (await api.routine(id)).title];
      } catch {
        return [id, id];
      }
    })));
    view.replaceChildren(h("h1", {}, "Chains"),
      chains.length
        ? h("div", {}, h("p", { class: "legend" }, Object.entries(EDGE_LABEL).map(([type, text]) =>
          h("span", { class: `edge-key edge-${type}` }, text))), chains.map((c) => chainCard(c, titles)))
        : empty("No chains yet. Create one with POST /api/companies/{companyId}/chains to run routines one after another."));
  } catch (error) {
    view.replaceChildren(h("h1", {}, "Chains"), errorBox(error));
  }
}

function layers(chain) {
  const depth = new Map(chain.routines.map((id) => [id, 0]));
  // Longest path from a root: edges always point to a deeper column (chains are acyclic).
  for (let i = 0; i < chain.routines.length; i++) {
    for (const e of chain.edges) depth.set(e.to, Math.max(depth.get(e.to) ?? 0, (depth.get(e.from) ?? 0) + 1));
  }
  return depth;
}

function chainCard(chain, titles) {
  const depth = layers(chain);
  const columns = [];
  for (const id of chain.routines) {
    const d = depth.get(id) ?? 0;
    (columns[d] ||= []).push(id);
  }
  const at = new Map();
  columns.forEach((ids, col) => ids.forEach((id, row) =>
    at.set(id, { x: 10 + col * (NODE_W + GAP_X), y: 10 + row * (NODE_H + GAP_Y) })));
  const width = 20 + columns.length * (NODE_W + GAP_X) - GAP_X;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;
  const edges = chain.edges.map((e, i) => {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b) return null;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2 + (i % 3 - 1) * 6;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2 + (i % 3 - 1) * 6;
    const mid = (x1 + x2) / 2;
    return s("g", { class: `edge edge-${e.type}` },
      s("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 6},${y2}`, "marker-end": "url(#arrow)" }),
      s("title", {}, `${titles.get(e.from) || e.from} → ${titles.get(e.to) || e.to}: ${EDGE_LABEL[e.type] || e.type}`));
  });
  const nodes = chain.routines.map((id) => {
    const p = at.get(id);
    const title = titles.get(id) || id;
    return s("a", { href: `#/routine/${id}`, class: "node", "aria-label": `Routine ${title}` },
      s("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6 }),
      s("text", { x: p.x + 10, y: p.y + 25 }, title.length > 22 ? `${title.slice(0, 21)}…` : title));
  });
  return h("article", { class: "card chain", "aria-labelledby": `chain-${chain.id}` },
    h("h2", { id: `chain-${chain.id}` }, chain.name),
    chain.description ? h("p", {}, chain.description) : null,
    h("div", { class: "graph-wrap" }, s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "group",
      "aria-label": `Graph of chain ${chain.name}` },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))),
    edges, nodes)),
    h("ul", { class: "plain small" }, chain.edges.map((e) => h("li", {},
      h("a", { href: `#/routine/${e.from}` }, titles.get(e.from) || e.from), ` → ${EDGE_LABEL[e.type] || e.type} → `,
      h("a", { href: `#/routine/${e.to}` }, titles.get(e.to) || e.to)))));
}
