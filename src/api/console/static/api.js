// The console's calls to its own JSON API. The session is an HttpOnly cookie the page never sees; the
// CSRF token lives in this module's memory only (gone with the tab) and goes with every change.

let csrf = '';

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** GET (no body) or POST (a JSON body); answers the parsed JSON or throws ApiError. */
export async function api(path, body) {
  const init = { method: 'GET', credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['content-type'] = 'application/json';
    init.headers['x-csrf-token'] = csrf;
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(`/console/api/${path}`, init);
  const text = await res.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = { error: { type: 'BadResponse', message: text.slice(0, 200) } };
  }
  if (!res.ok) {
    const e = data.error ?? {};
    throw new ApiError(res.status, e.type ?? 'Error', e.message ?? res.statusText);
  }
  return data;
}

/** A path segment for a function, queue or bucket name. */
export const seg = (s) => encodeURIComponent(s);
