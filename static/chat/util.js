// Helpers shared by the chat UI modules: the API client, URL encoding, time and size formats.

export const $ = (id) => document.getElementById(id);

// Called when the API answers 401; the chat replaces it with its login view.
let unauthorized = () => {};

/** Sets what happens when the session is gone (any API call answering 401). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Encodes a path segment, leaving `:`, `+` and `@` readable (valid in paths per RFC 3986). */
export function seg(value) {
  return encodeURIComponent(value).replace(/%3A/gi, ":").replace(/%2B/gi, "+").replace(/%40/gi, "@");
}

/** A non-2xx answer: `status` is the HTTP status. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the peer's API with the session cookie; JSON in and out; throws {@link HttpError}. */
export async function api(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    // A header no other site's page can send: the peer refuses cookie calls without it
    // (or a matching Origin), so a page on another local port cannot use this session.
    headers: { Accept: "application/json", "X-WeApRous": "1" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401 && path !== "/login") {
    unauthorized();
    throw new HttpError(401, "your session has ended");
  }
  const text = await res.text();
  if (!res.ok) {
    throw new HttpError(res.status, errorText(text) || "HTTP " + res.status);
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A short human message out of an error body (JSON `{error}` or plain text). */
function errorText(text) {
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object") return String(v.error ?? v.message ?? v.status ?? text);
  } catch {
    // not JSON: use the text as is
  }
  return text.trim().slice(0, 200);
}

/** `ts` is unix milliseconds when above 1e12, seconds otherwise. */
export function tsMillis(ts) {
  const n = Number(ts);
  if (!Number.isFinite(n) || n <= 0) return 0;
  return n > 1e12 ? n : n * 1000;
}

/** Clock time for today's messages, with the date for older ones. */
export function formatTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
}

/** A byte count in binary units (`3.3 MiB`). */
export function formatSize(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
}

/** Shows `message` in an error element, or hides it when empty. */
export function showError(el, message) {
  el.textContent = message;
  el.hidden = !message;
}

/** Accepts `[...]` or `{key: [...]}` so small differences in the server's shape do not break. */
export function listOf(value, key) {
  if (Array.isArray(value)) return value;
  if (value && Array.isArray(value[key])) return value[key];
  return [];
}

