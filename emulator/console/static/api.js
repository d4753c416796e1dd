// The emulator's control plane as the page uses it: every request keeps the page's ?token=.
// The page always names its project in the path (/_emulator/projects/{app_id}/...), so what
// it shows never depends on which project is the default one.

const PREFIX = "/_emulator";
const token = new URLSearchParams(window.location.search).get("token");

export class ApiError extends Error {
  constructor(status, body) {
    const text = (body && (body.error_description || body.message)) || `HTTP ${status}`;
    super(text);
    this.status = status;
    this.body = body;
  }
}

/** The page's token as a query suffix ("" without one). */
export function tokenQuery(joiner = "?") {
  return token === null ? "" : `${joiner}token=${encodeURIComponent(token)}`;
}

/** `/_emulator/projects/{app}{path}` (or `/_emulator{path}` without a project). */
export function projectPath(app, path) {
  return app ? `${PREFIX}/projects/${encodeURIComponent(app)}${path}` : `${PREFIX}${path}`;
}

function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  if (token !== null) query.set("token", token);
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method, path, params, body) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(withQuery(path, params), init);
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  get: (path, params) => send("GET", path, params),
  post: (path, body, params) => send("POST", path, params, body === undefined ? {} : body),
  put: (path, body, params) => send("PUT", path, params, body),
  del: (path, params) => send("DELETE", path, params),
  streamUrl: (app, params) => withQuery(projectPath(app, "/stream"), params),
  prefix: PREFIX,
};
