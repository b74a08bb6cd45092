// The files panel: shared files with fetch progress, and publishing. Shown only when the peer
// answers GET /api/files with 200, since file sharing is optional; nothing here is made up.

import { $, api, formatSize, listOf, showError } from "./util.js";

// While a fetch runs and no progress events arrive, the list is polled this often.
const FILES_POLL_MS = 2000;

const state = { enabled: false, timer: 0 };

function fileId(f) {
  return String(f.file_id ?? f.id ?? f.name);
}

/** Loads the file list; the panel appears on the first 200 answer. */
export async function refreshFiles() {
  let list;
  try {
    list = listOf(await api("GET", "/api/files"), "files");
  } catch (err) {
    // No file sharing on this peer (404/405/501): keep the panel hidden.
    if (!state.enabled) return;
    throw err;
  }
  state.enabled = true;
  $("files-panel").hidden = false;
  renderFiles(list);
}

/** Chunks held out of total, from whichever fields the server gives. */
function fileProgress(f) {
  const total = Number(f.chunks ?? f.total ?? 0);
  const have = Array.isArray(f.have) ? f.have.length : Number(f.have ?? f.done ?? NaN);
  return { total, have };
}

function renderFiles(list) {
  const ul = $("file-list");
  ul.replaceChildren();
  let fetching = false;
  for (const f of list) {
    const li = document.createElement("li");
    li.className = "file-item";
    li.dataset.file = fileId(f);
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = String(f.name ?? fileId(f));
    name.title = fileId(f);
    const meta = document.createElement("span");
    meta.className = "file-meta";
    const holders = Array.isArray(f.holders) ? f.holders.length : Number(f.holders ?? 0);
    const parts = [formatSize(f.size)];
    if (holders) parts.push(holders + (holders === 1 ? " holder" : " holders"));
    if (f.local || f.complete) parts.push("on this peer");
    meta.textContent = parts.join(" · ");
    li.append(name);
    const { total, have } = fileProgress(f);
    const inFlight = f.fetching === true || (Number.isFinite(have) && total > 0 && have > 0 && have < total);
    if (!(f.local || f.complete) || inFlight) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button button-ghost button-small";
      b.textContent = inFlight ? "Fetching" : "Fetch";
      b.disabled = inFlight;
      b.setAttribute("aria-label", "Fetch " + String(f.name ?? fileId(f)));
      b.addEventListener("click", () => fetchFile(f, b));
      li.append(b);
    }
    li.append(meta);
    if (inFlight) {
      fetching = true;
      li.append(progressBar(f.name, have, total));
    }
    ul.append(li);
  }
  $("files-empty").hidden = list.length > 0;
  clearTimeout(state.timer);
  if (fetching) state.timer = setTimeout(() => refreshFiles().catch(() => {}), FILES_POLL_MS);
}

function progressBar(name, have, total) {
  const bar = document.createElement("progress");
  bar.max = total;
  bar.value = have;
  bar.setAttribute("aria-label", "Fetching " + String(name ?? "file"));
  return bar;
}

async function fetchFile(f, button) {
  button.disabled = true;
  button.textContent = "Fetching";
  try {
    await api("POST", "/api/files/fetch", { file_id: fileId(f), name: f.name });
    await refreshFiles();
  } catch (err) {
    button.disabled = false;
    button.textContent = "Fetch";
    showError($("publish-error"), "Fetch failed: " + err.message);
  }
}

/** Live fetch progress `{file_id, done|have, total|chunks, bytes_per_s?, eta_s?, state?, error?}`
 * from the event stream. */
export function onFileEvent(p) {
  if (!p || !state.enabled) return;
  if (p.state === "failed") showError($("publish-error"), "Fetch failed: " + String(p.error ?? ""));
  const id = String(p.file_id ?? p.id ?? "");
  const li = [...$("file-list").children].find((el) => el.dataset.file === id);
  if (!li) {
    refreshFiles().catch(() => {});
    return;
  }
  const total = Number(p.total ?? p.chunks ?? 0);
  const have = Number(p.done ?? p.have ?? 0);
  let bar = li.querySelector("progress");
  if (total > 0 && have >= total) {
    refreshFiles().catch(() => {});
    return;
  }
  if (!bar) {
    bar = progressBar(li.querySelector(".file-name").textContent, have, total);
    li.append(bar);
  }
  bar.max = total;
  bar.value = have;
  showRate(li, p);
}

/** The fetch's rate and time left, next to its progress bar, when the event carries them. */
function showRate(li, p) {
  const rate = Number(p.bytes_per_s ?? 0);
  if (!(rate > 0)) return;
  let span = li.querySelector(".file-rate");
  if (!span) {
    span = document.createElement("span");
    span.className = "file-rate muted small";
    li.append(span);
  }
  const left = p.eta_s == null ? "" : ` · ${Number(p.eta_s)} s left`;
  span.textContent = formatSize(rate) + "/s" + left;
}

async function publishFile(ev) {
  ev.preventDefault();
  const path = $("publish-path").value.trim();
  const name = $("publish-name").value.trim();
  if (!path) return;
  const body = { path };
  if (name) body.name = name;
  showError($("publish-error"), "");
  try {
    await api("POST", "/api/files/publish", body);
    $("publish-path").value = "";
    $("publish-name").value = "";
    await refreshFiles();
  } catch (err) {
    showError($("publish-error"), "Publish failed: " + err.message);
  }
}


/** Wires the publish form. */
export function setupFiles() {
  $("publish-form").addEventListener("submit", publishFile);
}

/** Stops polling, when the session ends. */
export function stopFiles() {
  clearTimeout(state.timer);
}
