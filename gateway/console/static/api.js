// The console's one door to Firehook: the public JSON API and the SSE stream.
// The key lives in sessionStorage only and travels as a bearer header; it is
// never put in a URL, a cookie or a log line.

const KEY = "firehook.key";
const COMPANY = "firehook.company";
const ME = "firehook.me";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = body && body.details;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get companyId() { return sessionStorage.getItem(COMPANY); },
  save(key, companyId) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(COMPANY, companyId);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(COMPANY);
    sessionStorage.removeItem(ME);
  },
};

function headers(extra = {}) {
  return { Authorization: `Bearer ${session.key}`, Accept: "application/json", ...extra };
}

/** One JSON request; an ApiError carrying the API's message when it is not 2xx. */
export async function request(method, path, body, { key } = {}) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: "Firehook is not reachable" });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: text.slice(0, 200) }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, response };
}

const get = async (path) => (await request("GET", path)).data;
const post = async (path, body) => (await request("POST", path, body)).data;
const enc = encodeURIComponent;
const query = (params) => {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${enc(k)}=${enc(v)}`);
  return parts.length ? `?${parts.join("&")}` : "";
};

// Collections are bare arrays, with the size of the whole collection in X-Total-Count.
function listOf({ data, response }) {
  const items = Array.isArray(data) ? data : [];
  const header = response.headers.get("X-Total-Count");
  return { items, total: header !== null ? Number(header) : items.length };
}

// A created or rotated trigger answers `{trigger, secretMaterial}`; the secret only there.
function triggerOf(body) {
  const material = body.secretMaterial ?? null;
  return {
    trigger: body.trigger,
    secret: material?.webhookSecret ?? null,
    webhookUrl: material?.webhookUrl ?? body.trigger.publicUrl ?? null,
  };
}

async function list(path, params = {}) {
  return listOf(await request("GET", path + query(params)));
}

/** Every item of a collection, page by page; `onPage` sees the items so far. */
export async function listAll(path, params = {}, onPage = null, pageSize = 200) {
  const all = [];
  for (let offset = 0; ; offset += pageSize) {
    const { items, total } = await list(path, { ...params, limit: pageSize, offset });
    all.push(...items);
    if (onPage) onPage(all, total);
    if (!items.length || all.length >= total) return all;
  }
}

// What the signed-in key may do (`GET /api/me`), read once at sign-in and kept in the
// tab with the key (a key's role, agent and collection never change; a revoked key is
// a 401 anyway): the pages offer only that. Until it is known, nothing that needs it is.
let me = null;

function storedMe() {
  try {
    return JSON.parse(sessionStorage.getItem(ME));
  } catch {
    return null;
  }
}

function known() {
  if (!me) me = storedMe();
  return me;
}

export const access = {
  get me() { return known(); },
  async load(key) {
    me = (await request("GET", "/api/me", undefined, { key })).data;
    sessionStorage.setItem(ME, JSON.stringify(me));
    return me;
  },
  forget() {
    me = null;
    sessionStorage.removeItem(ME);
  },
  /** Whether the key has the named permission (a boolean of `permissions`). */
  may(name) {
    const p = known()?.permissions;
    return Boolean(p && p[name] === true);
  },
  /** Whether the key may pause, resume, run, archive, edit and rotate this routine's secrets. */
  manages(routine) {
    const key = known();
    if (!key || !key.permissions) return false;
    if (key.permissions.manageRoutines === "all") return true;
    return Boolean(routine) && key.permissions.manageRoutines === "assigned"
      && key.agentId !== null && routine.assigneeAgentId === key.agentId;
  },
  /** The one agent the key may assign routines to, or null when it may assign anyone. */
  get assignsOnly() {
    const key = known();
    return key && key.permissions && key.permissions.assignRoutines === "self" ? key.agentId : null;
  },
};

export const api = {
  company: (id, key) => request("GET", `/api/companies/${enc(id)}`, undefined, { key }),
  routines: (params) => list(`/api/companies/${enc(session.companyId)}/routines`, params),
  allRoutines: (params = {}, onPage = null) =>
    listAll(`/api/companies/${enc(session.companyId)}/routines`, params, onPage),
  routine: (id) => get(`/api/routines/${enc(id)}`),
  createRoutine: (body) => post(`/api/companies/${enc(session.companyId)}/routines`, body),
  pause: (id) => post(`/api/routines/${enc(id)}/pause`),
  resume: (id) => post(`/api/routines/${enc(id)}/resume`),
  archive: async (id) => (await request("DELETE", `/api/routines/${enc(id)}`)).data,
  run: (id, body) => post(`/api/routines/${enc(id)}/run`, body),
  runs: (routineId, params) => list(`/api/routines/${enc(routineId)}/runs`, params),
  getRun: (id) => get(`/api/runs/${enc(id)}`),
  cancelRun: (id) => post(`/api/runs/${enc(id)}/cancel`),
  createTrigger: async (routineId, body) =>
    triggerOf(await post(`/api/routines/${enc(routineId)}/triggers`, body)),
  rotateSecret: async (triggerId) =>
    triggerOf(await post(`/api/routine-triggers/${enc(triggerId)}/rotate-secret`, {})),
  deleteTrigger: (id) => request("DELETE", `/api/routine-triggers/${enc(id)}`),
  validate: (params) => get(`/api/scheduler/validate${query(params)}`),
  calendar: (params) => get(`/api/companies/${enc(session.companyId)}/calendar${query(params)}`),
  heatmap: (params) => get(`/api/companies/${enc(session.companyId)}/heatmap${query(params)}`),
  suggestions: (params) =>
    get(`/api/companies/${enc(session.companyId)}/suggestions${query(params)}`),
  chains: () => listAll(`/api/companies/${enc(session.companyId)}/chains`),
  tasks: () => listAll(`/api/companies/${enc(session.companyId)}/tasks`),
  taskSchema: (id) => get(`/api/tasks/${enc(id)}/init-params-schema`),
};

/**
 * The company's run events. EventSource cannot send an Authorization header, so
 * the stream is read with fetch() and parsed here; after a drop it reconnects
 * with Last-Event-ID and carries on where it stopped.
 */
export function streamRunEvents({ onEvent, onState, signal }) {
  let lastEventId = null;
  let retryMs = 2000;
  const url = `/api/companies/${enc(session.companyId)}/events`;

  async function connect() {
    const extra = { Accept: "text/event-stream" };
    if (lastEventId !== null) extra["Last-Event-ID"] = lastEventId;
    const response = await fetch(url, { headers: headers(extra), signal, cache: "no-store" });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch { /* not JSON */ }
      throw new ApiError(response.status, body);
    }
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  function dispatch(block) {
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "data") data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (id !== null) lastEventId = id;
    if (!data.length) return;
    try {
      onEvent(JSON.parse(data.join("\n")), id);
    } catch { /* a record that cannot be read is skipped, as the server's readers do */ }
  }

  (async () => {
    while (!signal.aborted) {
      try {
        await connect();
        if (!signal.aborted) onState("reconnecting");
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
          onState("error", error);
          return;
        }
        onState("reconnecting", error);
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();
}
