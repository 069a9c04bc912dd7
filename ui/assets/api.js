// The REST API and its event streams, as the pages use them.
//
// Sign-in exchanges the owner key for an HttpOnly session cookie, so the
// key never stays in the page. A server without the session endpoint gets
// the key as a bearer token kept in this tab's sessionStorage (said on
// screen), and live updates fall back to polling there, since EventSource
// cannot send headers.

const BASE = '/api/v1';
const TAB_KEY = 'n8n-work.key';

/** A failed API call, in the API's error shape. */
export class ApiProblem extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || 'http';
    this.details = error?.details ?? null;
  }
}

export const session = {
  /** 'cookie', 'bearer' or null (signed out). */
  mode: null,
  tenant: null,
  role: null,
  /** Set when the server lacks an endpoint the UI would rather use. */
  notices: new Set(),
};

let onUnauthorized = () => {};
/** Where to send the user when the session ends. */
export function whenSignedOut(fn) { onUnauthorized = fn; }

function headers(extra) {
  const out = { 'X-Requested-With': 'n8n-work', Accept: 'application/json', ...extra };
  if (session.mode === 'bearer') {
    const key = sessionStorage.getItem(TAB_KEY);
    if (key) out.Authorization = `Bearer ${key}`;
  }
  return out;
}

/**
 * One call. `body` is sent as JSON unless `text` is given (then with
 * `contentType`). Resolves to the parsed JSON (null for 204); rejects with
 * ApiProblem.
 */
export async function api(method, path, { body, text, contentType, signal, quiet } = {}) {
  const init = { method, credentials: 'same-origin', signal, headers: headers() };
  if (text !== undefined) {
    init.body = text;
    init.headers['Content-Type'] = contentType || 'application/yaml';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(BASE + path, init);
  if (response.status === 204) return null;
  const raw = await response.text();
  let data = null;
  try { data = raw ? JSON.parse(raw) : null; } catch { data = { error: { message: raw } }; }
  if (!response.ok) {
    const problem = new ApiProblem(response.status, data?.error);
    if (response.status === 401 && !quiet && session.mode) {
      session.mode = null;
      onUnauthorized(problem);
    }
    throw problem;
  }
  return data;
}

/** Whether `e` says the server has no such route (an older server). */
export function missing(e) {
  return e instanceof ApiProblem && (e.status === 404 || e.status === 405) && e.code === 'not_found'
    && /no such API route|no route/i.test(e.message);
}

/** Notes an endpoint the server lacks, for the banner. */
export function lacks(what) {
  session.notices.add(what);
  document.dispatchEvent(new CustomEvent('n8n-notices'));
}

/** Signs in with an API key. */
export async function signIn(key) {
  try {
    const who = await api('POST', '/session', { body: { key }, quiet: true });
    session.mode = 'cookie';
    session.tenant = who?.tenant ?? null;
    session.role = who?.role ?? null;
    sessionStorage.removeItem(TAB_KEY);
    return;
  } catch (e) {
    if (!missing(e)) throw e;
  }
  // No session endpoint: check the key with a plain call and keep it here.
  const response = await fetch(`${BASE}/workflows`, { headers: { Authorization: `Bearer ${key}` } });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiProblem(response.status, data?.error);
  }
  sessionStorage.setItem(TAB_KEY, key);
  session.mode = 'bearer';
  lacks('sessions (your key is kept in this tab until you sign out; live updates poll)');
}

/** Finds out whether this tab is signed in. */
export async function restore() {
  try {
    const who = await api('GET', '/session', { quiet: true });
    session.mode = 'cookie';
    session.tenant = who?.tenant ?? null;
    session.role = who?.role ?? null;
    return true;
  } catch (e) {
    if (!missing(e)) { session.mode = null; return false; }
  }
  if (sessionStorage.getItem(TAB_KEY)) {
    session.mode = 'bearer';
    try {
      await api('GET', '/workflows', { quiet: true });
      lacks('sessions (your key is kept in this tab until you sign out; live updates poll)');
      return true;
    } catch {
      sessionStorage.removeItem(TAB_KEY);
    }
  }
  session.mode = null;
  return false;
}

export async function signOut() {
  sessionStorage.removeItem(TAB_KEY);
  if (session.mode === 'cookie') {
    await api('DELETE', '/session', { quiet: true }).catch(() => {});
  }
  session.mode = null;
}

const EVENT_NAMES = ['run.started', 'step.started', 'step.finished', 'run.finished'];

/**
 * Follows an event stream (`/executions/{id}/events`). `onEvent(name, data)`
 * gets each event and returns true to stop following. When the stream cannot be had (no cookie session, or
 * the server lacks it), `poll()` is called every `everyMs` until it
 * resolves true. Returns a function that stops either.
 */
export function follow(path, onEvent, poll, everyMs = 700) {
  let stopped = false;
  let source = null;
  let timer = null;
  const startPolling = () => {
    if (stopped || timer) return;
    const tick = async () => {
      timer = null;
      if (stopped) return;
      let done = false;
      try { done = await poll(); } catch { done = false; }
      if (!done && !stopped) timer = setTimeout(tick, everyMs);
    };
    timer = setTimeout(tick, 0);
  };
  if (session.mode === 'cookie' && 'EventSource' in window) {
    source = new EventSource(BASE + path, { withCredentials: true });
    let opened = false;
    source.onopen = () => { opened = true; };
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (event) => {
        let data = {};
        try { data = JSON.parse(event.data); } catch { /* keep {} */ }
        // The page says when it has seen enough (returns true): a run
        // retried from its failed step goes on after its first run.finished.
        if (onEvent(name, data) === true) source.close();
      });
    }
    source.onerror = () => {
      // Never opened: the server lacks the stream. Opened then failed: the
      // browser retries by itself; polling meanwhile keeps the page live.
      if (!opened) lacks('event streams (pages poll instead)');
      source.close();
      startPolling();
    };
  } else {
    startPolling();
  }
  return () => {
    stopped = true;
    if (source) source.close();
    if (timer) clearTimeout(timer);
  };
}
