// The peer's chat UI: session check, channels, direct messages, peers, live updates (SSE).
// Talks only to the local peer's API (SPEC §6). User text always goes through textContent.

import { onFileEvent, refreshFiles, setupFiles, stopFiles } from "./files.js";
import { peerGone, sendBlocked, setPeerGone, showTracker } from "./status.js";
import { $, api, formatTime, listOf, onUnauthorized, seg, showError, tsMillis } from "./util.js";

const PAGE_SIZE = 100;
const TITLE = "WeApRous chat";
// Pixels from the bottom within which the view keeps following new messages.
const STICK_PX = 80;
// Pixels from the top at which the next older page is requested.
const OLDER_PX = 40;
// Retry delay when the event stream was closed for good (EventSource only retries by itself
// after network errors, not after an HTTP error status).
const SSE_RETRY_MS = 5000;

const state = {
  me: null,
  /** name -> channel record (group channels and dm: channels alike) */
  channels: new Map(),
  /** peer_id -> {peer_id, name, addr, online} */
  peers: new Map(),
  current: null,
  events: null,
  eventsRetry: 0,
  everConnected: false,
  // Once the server has sent an `unread` event, its counts are authoritative and the UI no
  // longer counts arriving messages itself (which would double-count).
  serverCountsUnread: false,
};

function isDm(name) {
  return name.startsWith("dm:");
}

function dmChannel(peerId) {
  return "dm:" + [state.me.peer_id, peerId].sort().join("+");
}

/** The other party of a `dm:<a>+<b>` channel. */
function dmPeer(name) {
  const ids = name.slice(3).split("+");
  return ids.find((id) => id !== state.me.peer_id) ?? ids[0];
}

function peerName(id) {
  const p = state.peers.get(id);
  return p && p.name ? p.name : id;
}

// ---------------------------------------------------------------- views

function showLogin() {
  if (state.events) {
    state.events.close();
    state.events = null;
  }
  clearTimeout(state.eventsRetry);
  stopFiles();
  $("boot").hidden = true;
  $("app").hidden = true;
  $("login-view").hidden = false;
  document.title = "Sign in · " + TITLE;
}

function showApp() {
  $("boot").hidden = true;
  $("login-view").hidden = true;
  $("app").hidden = false;
}

// ---------------------------------------------------------------- channels

function channelRecord(name) {
  let ch = state.channels.get(name);
  if (ch) return ch;
  const win = document.createElement("div");
  win.className = "window";
  win.hidden = true;
  win.setAttribute("role", "log");
  win.setAttribute("aria-live", "polite");
  win.tabIndex = 0;
  const note = document.createElement("p");
  note.className = "history-note";
  win.append(note);
  $("windows").append(win);
  ch = {
    name,
    unread: 0,
    joined: false,
    win,
    note,
    // Display order: {key, el}, sorted by key.
    items: [],
    ids: new Set(),
    loaded: false,
    loading: false,
    exhausted: false,
    oldestId: null,
    readTimer: 0,
  };
  win.addEventListener("scroll", () => onWindowScroll(ch));
  state.channels.set(name, ch);
  return ch;
}

/** Order messages as peers do, by (lamport, from, seq); servers without lamport by ts. */
function orderKey(m) {
  if (typeof m.lamport === "number") return [m.lamport, String(m.from), Number(m.seq) || 0];
  return [tsMillis(m.ts), String(m.from), Number(m.seq) || 0];
}

function keyBefore(a, b) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return true;
    if (a[i] > b[i]) return false;
  }
  return false;
}

function messageElement(m) {
  const own = state.me && m.from === state.me.peer_id;
  const el = document.createElement("article");
  el.className = own ? "msg own" : "msg";
  el.dataset.id = String(m.id);
  const head = document.createElement("div");
  head.className = "msg-head";
  const name = document.createElement("span");
  name.className = "msg-name";
  name.textContent = own ? "You" : String(m.name || m.from || "?");
  if (!own && m.from) name.title = String(m.from);
  const ms = tsMillis(m.ts);
  const time = document.createElement("time");
  time.className = "msg-time";
  if (ms) {
    time.dateTime = new Date(ms).toISOString();
    time.title = new Date(ms).toLocaleString();
  }
  time.textContent = formatTime(ms);
  head.append(name, time);
  if (m.unverified) {
    // A course peer's message came over plain HTTP: nothing proves who wrote it.
    const badge = document.createElement("span");
    badge.className = "msg-unverified";
    badge.textContent = "unverified";
    badge.title = "Sent by a course peer over plain HTTP: the sender is not proven";
    head.append(badge);
  }
  const text = document.createElement("p");
  text.className = "msg-text";
  text.textContent = String(m.text ?? "");
  el.append(head, text);
  return el;
}

/** Inserts a message at its place in the channel window; false if it was already shown. */
function insertMessage(ch, m) {
  if (!m || m.id === undefined || ch.ids.has(String(m.id))) return false;
  ch.ids.add(String(m.id));
  const key = orderKey(m);
  const el = messageElement(m);
  let i = ch.items.length;
  while (i > 0 && keyBefore(key, ch.items[i - 1].key)) i -= 1;
  if (i === ch.items.length) ch.win.append(el);
  else ch.items[i].el.before(el);
  ch.items.splice(i, 0, { key, el });
  if (i === 0 || ch.oldestId === null) ch.oldestId = String(ch.items[0].el.dataset.id);
  return true;
}

function nearBottom(win) {
  return win.scrollHeight - win.scrollTop - win.clientHeight < STICK_PX;
}

function scrollToBottom(ch) {
  ch.win.scrollTop = ch.win.scrollHeight;
  $("jump-button").hidden = true;
}

function updateNote(ch) {
  if (ch.loading) ch.note.textContent = "Loading…";
  else if (ch.exhausted) ch.note.textContent = ch.items.length ? "Start of the conversation" : "No messages yet. Say hello!";
  else ch.note.textContent = "Scroll up for older messages";
}

async function fetchPage(ch, before) {
  let path = "/api/channels/" + seg(ch.name) + "/messages?limit=" + PAGE_SIZE;
  if (before) path += "&before=" + encodeURIComponent(before);
  return listOf(await api("GET", path), "messages");
}

/** First page of a channel, or the newest page again to catch up after a reconnect. */
async function loadLatest(ch) {
  if (ch.loading) return;
  ch.loading = true;
  updateNote(ch);
  const stick = !ch.loaded || nearBottom(ch.win);
  try {
    let page;
    try {
      page = await fetchPage(ch, null);
    } catch (err) {
      // A direct conversation that has no message yet may not exist on the peer.
      if (err.status !== 404 || !isDm(ch.name)) throw err;
      page = [];
    }
    if (!ch.loaded) ch.exhausted = page.length < PAGE_SIZE;
    page.forEach((m) => insertMessage(ch, m));
    ch.loaded = true;
  } catch (err) {
    if (err.status !== 401) ch.note.textContent = "Could not load messages: " + err.message;
    ch.loading = false;
    return;
  }
  ch.loading = false;
  updateNote(ch);
  if (stick) scrollToBottom(ch);
}

async function loadOlder(ch) {
  if (ch.loading || ch.exhausted || !ch.loaded || !ch.oldestId) return;
  ch.loading = true;
  updateNote(ch);
  const before = ch.win.scrollHeight;
  try {
    const page = await fetchPage(ch, ch.oldestId);
    let added = 0;
    page.forEach((m) => {
      if (insertMessage(ch, m)) added += 1;
    });
    ch.exhausted = page.length < PAGE_SIZE || added === 0;
  } catch (err) {
    if (err.status !== 401) ch.note.textContent = "Could not load older messages: " + err.message;
    ch.loading = false;
    return;
  }
  ch.loading = false;
  updateNote(ch);
  // Keep the message the user was looking at in place.
  ch.win.scrollTop += ch.win.scrollHeight - before;
}

function onWindowScroll(ch) {
  if (ch !== state.current) return;
  if (ch.win.scrollTop < OLDER_PX) loadOlder(ch);
  if (nearBottom(ch.win)) $("jump-button").hidden = true;
}

function openChannel(name) {
  const ch = channelRecord(name);
  if (state.current && state.current !== ch) {
    // Tell the peer now what was read: a read sent later would also clear messages that
    // arrive after the user has looked away.
    flushRead(state.current);
    state.current.win.hidden = true;
  }
  state.current = ch;
  ch.win.hidden = false;
  const dm = isDm(name);
  $("conv-title").textContent = dm ? peerName(dmPeer(name)) : "# " + name;
  updateConvSub();
  $("leave-button").hidden = dm;
  $("message-input").placeholder = dm ? "Message " + peerName(dmPeer(name)) + "…" : "Message #" + name + "…";
  $("jump-button").hidden = true;
  showError($("send-error"), "");
  closeSidebar();
  if (ch.loaded) scrollToBottom(ch);
  else loadLatest(ch);
  markRead(ch);
  renderChannels();
  renderPeers();
  try {
    history.replaceState(null, "", "#" + encodeURIComponent(name));
  } catch {
    // some embedders forbid history changes; the hash is only a convenience
  }
  $("message-input").focus({ preventScroll: true });
}

function updateConvSub() {
  const ch = state.current;
  if (!ch) return;
  if (isDm(ch.name)) {
    const p = state.peers.get(dmPeer(ch.name));
    $("conv-sub").textContent = (p && p.online ? "online" : "offline") + " · " + dmPeer(ch.name);
  } else {
    $("conv-sub").textContent = "channel";
  }
}

/** Marks the open channel read, unless the tab is in the background. */
function markRead(ch) {
  if (!ch || document.hidden) return;
  if (ch.unread) {
    ch.unread = 0;
    renderChannels();
    renderPeers();
  }
  // One request for a burst of messages. Sent only if the channel is still the one in view: a
  // read mark sent after switching away would clear messages that arrived since, unseen.
  clearTimeout(ch.readTimer);
  ch.readTimer = setTimeout(() => sendRead(ch), 150);
}

function sendRead(ch) {
  ch.readTimer = 0;
  if (state.channels.get(ch.name) === ch) {
    api("POST", "/api/channels/" + seg(ch.name) + "/read").catch(() => {});
  }
}

/** Sends a pending read mark at once. */
function flushRead(ch) {
  if (ch.readTimer) {
    clearTimeout(ch.readTimer);
    sendRead(ch);
  }
}

function setUnread(name, count) {
  const ch = channelRecord(name);
  if (ch === state.current && !document.hidden) {
    if (count > 0) markRead(ch);
    return;
  }
  ch.unread = Math.max(0, count | 0);
  renderChannels();
  renderPeers();
}

async function refreshChannels() {
  const list = listOf(await api("GET", "/api/channels"), "channels");
  const seen = new Set();
  for (const item of list) {
    const name = typeof item === "string" ? item : String(item.name);
    seen.add(name);
    const ch = channelRecord(name);
    ch.joined = true;
    const unread = typeof item === "object" ? Number(item.unread) || 0 : 0;
    if (ch === state.current && !document.hidden) {
      if (unread) markRead(ch);
    } else {
      ch.unread = unread;
    }
  }
  for (const ch of state.channels.values()) {
    if (!isDm(ch.name) && !seen.has(ch.name)) ch.joined = false;
  }
  renderChannels();
  renderPeers();
}

function renderChannels() {
  const ul = $("channel-list");
  ul.replaceChildren();
  const names = [...state.channels.values()]
    .filter((ch) => !isDm(ch.name) && ch.joined)
    .map((ch) => ch.name)
    .sort();
  for (const name of names) {
    const ch = state.channels.get(name);
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "nav-item" + (ch.unread ? " has-unread" : "");
    b.dataset.channel = name;
    if (ch === state.current) b.setAttribute("aria-current", "true");
    const hash = document.createElement("span");
    hash.className = "hash";
    hash.textContent = "#";
    hash.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = name;
    b.append(hash, label);
    appendBadge(b, ch.unread);
    b.addEventListener("click", () => openChannel(name));
    li.append(b);
    ul.append(li);
  }
  updateTitle();
}

function appendBadge(button, count) {
  if (!count) return;
  const badge = document.createElement("span");
  badge.className = "unread";
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.setAttribute("aria-label", count + " unread");
  button.append(badge);
}

function updateTitle() {
  let total = 0;
  for (const ch of state.channels.values()) total += ch.unread;
  document.title = total ? "(" + total + ") " + TITLE : TITLE;
}

// ---------------------------------------------------------------- peers

function upsertPeer(p, online) {
  if (!p || !p.peer_id || (state.me && p.peer_id === state.me.peer_id)) return;
  const id = String(p.peer_id);
  const old = state.peers.get(id) ?? { peer_id: id, name: id, addr: "", online: false };
  old.name = p.name ? String(p.name) : old.name;
  old.addr = p.addr ? String(p.addr) : old.addr;
  old.online = online;
  state.peers.set(id, old);
}

async function refreshPeers() {
  const list = listOf(await api("GET", "/api/peers"), "peers");
  const linked = new Set();
  for (const p of list) {
    linked.add(String(p.peer_id));
    upsertPeer(p, p.online !== false && p.state !== "down");
  }
  for (const p of state.peers.values()) {
    if (!linked.has(p.peer_id)) p.online = false;
  }
  renderPeers();
}

function renderPeers() {
  if (!state.me) return;
  // Peers with a DM history stay listed while offline.
  for (const ch of state.channels.values()) {
    if (isDm(ch.name)) {
      const id = dmPeer(ch.name);
      if (!state.peers.has(id)) upsertPeer({ peer_id: id }, false);
    }
  }
  const peers = [...state.peers.values()].sort(
    (a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name),
  );
  const ul = $("peer-list");
  ul.replaceChildren();
  for (const p of peers) {
    const channel = dmChannel(p.peer_id);
    const ch = state.channels.get(channel);
    const unread = ch ? ch.unread : 0;
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    const online = p.online && !peerGone();
    b.className = "nav-item" + (online ? "" : " offline") + (unread ? " has-unread" : "");
    b.dataset.peer = p.peer_id;
    b.title = p.peer_id + (p.addr ? " · " + p.addr : "");
    if (ch && ch === state.current) b.setAttribute("aria-current", "true");
    const dot = document.createElement("span");
    dot.className = "presence";
    dot.dataset.online = String(online);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.name;
    const status = document.createElement("span");
    status.className = "visually-hidden";
    status.textContent = online ? ", online" : ", offline";
    b.append(dot, label, status);
    appendBadge(b, unread);
    b.addEventListener("click", () => openChannel(channel));
    li.append(b);
    ul.append(li);
  }
  $("peers-empty").hidden = peers.length > 0;
  updateConvSub();
  if (state.current && isDm(state.current.name)) {
    $("conv-title").textContent = peerName(dmPeer(state.current.name));
  }
  updateTitle();
}

// ---------------------------------------------------------------- live events

function onMessageEvent(m) {
  if (!m || !m.channel) return;
  const ch = channelRecord(String(m.channel));
  if (isDm(ch.name)) ch.joined = true;
  if (isDm(ch.name) && m.from !== state.me.peer_id) upsertPeer({ peer_id: m.from, name: m.name }, true);
  const own = m.from === state.me.peer_id;
  const viewing = ch === state.current;
  if (ch.loaded) {
    const stick = own || nearBottom(ch.win);
    if (insertMessage(ch, m) && viewing) {
      if (stick) scrollToBottom(ch);
      else $("jump-button").hidden = false;
      updateNote(ch);
    }
  }
  if (own) return;
  if (viewing && !document.hidden) {
    markRead(ch);
  } else if (!state.serverCountsUnread) {
    ch.unread += 1;
  }
  notify(ch, m);
  renderChannels();
  renderPeers();
}

function onPeerEvent(p) {
  if (!p || !p.peer_id) return;
  upsertPeer(p, p.state ? p.state === "up" : true);
  renderPeers();
}

function onUnreadEvent(u) {
  if (!u || !u.channel) return;
  state.serverCountsUnread = true;
  setUnread(String(u.channel), Number(u.count) || 0);
}

function parseData(ev) {
  try {
    return JSON.parse(ev.data);
  } catch {
    return null;
  }
}

/** An unnamed event (or one named `message`): a message, or `{type, ...}` of any kind. */
function onDefaultEvent(ev) {
  const data = parseData(ev);
  if (!data) return;
  switch (data.type) {
    case "peer":
      onPeerEvent(data.peer ?? data);
      break;
    case "unread":
      onUnreadEvent(data);
      break;
    case "progress":
    case "file":
      onFileEvent(data);
      break;
    case "message":
      onMessageEvent(data.message ?? data);
      break;
    default:
      if (data.channel && data.id !== undefined) onMessageEvent(data);
  }
}

function setConn(stateName, text) {
  $("conn").dataset.state = stateName;
  $("conn-text").textContent = text;
  $("conn").title = "Live updates: " + text;
}

function connectEvents() {
  clearTimeout(state.eventsRetry);
  if (state.events) state.events.close();
  setConn("connecting", "connecting");
  const es = new EventSource("/events");
  state.events = es;
  es.addEventListener("message", onDefaultEvent);
  es.addEventListener("peer", (ev) => onPeerEvent(parseData(ev)));
  es.addEventListener("unread", (ev) => onUnreadEvent(parseData(ev)));
  // A course peer did not get one of our messages after every retry: say so, never "sent".
  es.addEventListener("undelivered", (ev) => {
    const d = parseData(ev);
    if (d) showError($("send-error"), "Not delivered to " + d.peer_id + ": " + d.error);
  });
  es.addEventListener("progress", (ev) => onFileEvent(parseData(ev)));
  es.addEventListener("file", (ev) => onFileEvent(parseData(ev)));
  es.addEventListener("tracker", (ev) => showTracker(parseData(ev)));
  es.addEventListener("open", () => {
    setConn("live", "live");
    setPeerGone(false);
    // After a drop, catch up on what the stream missed.
    if (state.everConnected) resync();
    state.everConnected = true;
  });
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CLOSED) {
      setConn("offline", "offline");
      // Closed for good: maybe the session ended; check, then try again later.
      api("GET", "/api/me")
        .then(() => {
          state.eventsRetry = setTimeout(connectEvents, SSE_RETRY_MS);
        })
        .catch((err) => {
          if (err.status !== 401) state.eventsRetry = setTimeout(connectEvents, SSE_RETRY_MS);
        });
    } else {
      setConn("connecting", "reconnecting");
      checkPeer();
    }
  });
}

/** After the stream dropped: is the peer process still there? A network error says not. */
function checkPeer() {
  api("GET", "/api/me")
    .then((me) => {
      setPeerGone(false);
      showTracker(me && me.tracker);
    })
    .catch((err) => {
      if (err.status === undefined) {
        setPeerGone(true);
        setConn("offline", "peer not running");
        renderPeers();
      }
    });
}

async function resync() {
  try {
    await Promise.all([refreshChannels(), refreshPeers()]);
    for (const ch of state.channels.values()) {
      if (ch.loaded) await loadLatest(ch);
    }
  } catch {
    // the next reconnect tries again
  }
}

// ---------------------------------------------------------------- notifications

function notify(ch, m) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (ch === state.current && !document.hidden) return;
  const title = isDm(ch.name) ? String(m.name || m.from) : String(m.name || m.from) + " in #" + ch.name;
  try {
    const n = new Notification(title, { body: String(m.text ?? ""), tag: ch.name, icon: "icon.svg" });
    n.onclick = () => {
      window.focus();
      openChannel(ch.name);
      n.close();
    };
  } catch {
    // some platforms only allow notifications from a service worker
  }
}

function setupNotifyButton() {
  const button = $("notify-button");
  if (!("Notification" in window) || Notification.permission !== "default") {
    button.hidden = true;
    return;
  }
  button.hidden = false;
  button.onclick = async () => {
    try {
      await Notification.requestPermission();
    } finally {
      setupNotifyButton();
    }
  };
}

// ---------------------------------------------------------------- actions

async function sendMessage(ev) {
  ev.preventDefault();
  const input = $("message-input");
  const text = input.value.trim();
  const ch = state.current;
  if (!text || !ch) return;
  if (sendBlocked()) {
    showError($("send-error"), "Not sent: " + sendBlocked());
    return;
  }
  const button = $("send-button");
  button.disabled = true;
  showError($("send-error"), "");
  try {
    const path = isDm(ch.name)
      ? "/api/direct/" + seg(dmPeer(ch.name))
      : "/api/channels/" + seg(ch.name) + "/messages";
    const sent = await api("POST", path, { text });
    input.value = "";
    autosize();
    // The answer is usually the stored message; the SSE copy is then dropped by id.
    const m = sent && typeof sent === "object" ? (sent.message ?? sent) : null;
    // Stored but reached nobody (no link, no course peer): say so rather than imply "sent".
    const delivery = m && m.delivery;
    if (delivery && delivery.status === "stored") showError($("send-error"), "Stored, not sent: " + delivery.note);
    if (m && m.id !== undefined && m.channel && ch.loaded) {
      insertMessage(ch, m);
      scrollToBottom(ch);
      updateNote(ch);
    }
  } catch (err) {
    if (err.status === undefined) {
      // fetch itself failed: the peer process is gone (or the network to it)
      setPeerGone(true);
      renderPeers();
    }
    if (err.status !== 401) showError($("send-error"), "Not sent: " + (sendBlocked() || err.message));
  } finally {
    button.disabled = false;
    input.focus();
  }
}

function autosize() {
  const input = $("message-input");
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight + 2, 144) + "px";
}

async function joinChannel(ev) {
  ev.preventDefault();
  const nameInput = $("join-name");
  const name = nameInput.value.trim().replace(/^#/, "");
  const key = $("join-key").value;
  if (!name) return;
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(name)) {
    showError($("join-error"), "Use letters, digits, dot, underscore or dash (at most 32).");
    return;
  }
  showError($("join-error"), "");
  try {
    await api("POST", "/api/channels/" + seg(name) + "/join", key ? { key } : {});
    nameInput.value = "";
    $("join-key").value = "";
    await refreshChannels();
    channelRecord(name).joined = true;
    openChannel(name);
  } catch (err) {
    if (err.status !== 401) {
      const why = err.status === 403 ? "wrong or missing key" : err.message;
      showError($("join-error"), "Could not join #" + name + ": " + why);
    }
  }
}

async function leaveChannel() {
  const ch = state.current;
  if (!ch || isDm(ch.name)) return;
  if (!window.confirm("Leave #" + ch.name + "?")) return;
  try {
    await api("POST", "/api/channels/" + seg(ch.name) + "/leave");
  } catch (err) {
    if (err.status !== 401) showError($("send-error"), "Could not leave: " + err.message);
    return;
  }
  clearTimeout(ch.readTimer);
  ch.win.remove();
  state.channels.delete(ch.name);
  state.current = null;
  await refreshChannels().catch(() => {});
  openDefault();
}

function openDefault() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  const groups = [...state.channels.values()].filter((c) => c.joined && !isDm(c.name)).map((c) => c.name).sort();
  let name = null;
  if (wanted && state.channels.has(wanted)) name = wanted;
  else if (groups.includes("general")) name = "general";
  else if (groups.length) name = groups[0];
  if (name) {
    openChannel(name);
  } else {
    $("conv-title").textContent = "No channel";
    $("conv-sub").textContent = "Join a channel from the sidebar.";
    $("leave-button").hidden = true;
  }
}

function openSidebar() {
  $("sidebar").classList.add("open");
  $("scrim").hidden = false;
  $("menu-toggle").setAttribute("aria-expanded", "true");
}

function closeSidebar() {
  $("sidebar").classList.remove("open");
  $("scrim").hidden = true;
  $("menu-toggle").setAttribute("aria-expanded", "false");
}

// ---------------------------------------------------------------- login

function setupLogin() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    if (!token) {
      showError($("login-error"), "Enter the token the peer printed.");
      return;
    }
    // The peer sets the session cookie and redirects to `/`.
    location.href = "/?token=" + encodeURIComponent(token);
  });
  $("password-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("login-error"), "");
    try {
      await api("POST", "/login", { username: $("username").value, password: $("password").value });
      $("password").value = "";
      boot();
    } catch (err) {
      showError($("login-error"), err.status === 401 ? "Wrong username or password." : "Sign-in failed: " + err.message);
    }
  });
}

// ---------------------------------------------------------------- start

async function boot() {
  let me;
  try {
    me = await api("GET", "/api/me");
  } catch (err) {
    if (err.status === 401) return;
    $("boot").querySelector("span").textContent = "Cannot reach the peer: " + err.message;
    setTimeout(boot, SSE_RETRY_MS);
    return;
  }
  state.me = { ...me, peer_id: String(me.peer_id) };
  showTracker(me.tracker);
  $("me-name").textContent = String(me.name ?? me.peer_id);
  $("me-avatar").textContent = String(me.name ?? me.peer_id).charAt(0) || "?";
  $("me-name").parentElement.title = String(me.peer_id);
  showApp();
  setupNotifyButton();
  connectEvents();
  try {
    await Promise.all([refreshChannels(), refreshPeers()]);
  } catch (err) {
    if (err.status === 401) return;
  }
  if (!state.current) openDefault();
  refreshFiles().catch(() => {});
}

function setup() {
  setupLogin();
  $("composer").addEventListener("submit", sendMessage);
  $("message-input").addEventListener("keydown", (ev) => {
    // Enter sends; Shift+Enter adds a line; never while an IME is composing.
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("message-input").addEventListener("input", autosize);
  $("join-form").addEventListener("submit", joinChannel);
  setupFiles();
  $("leave-button").addEventListener("click", leaveChannel);
  $("jump-button").addEventListener("click", () => state.current && scrollToBottom(state.current));
  $("menu-toggle").addEventListener("click", () =>
    $("sidebar").classList.contains("open") ? closeSidebar() : openSidebar(),
  );
  $("scrim").addEventListener("click", closeSidebar);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") closeSidebar();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.current) markRead(state.current);
  });
  // A `?token=` left in the address (server without redirect) should not linger.
  if (location.search.includes("token=")) {
    try {
      history.replaceState(null, "", "/" + location.hash);
    } catch {
      // keep the address as is
    }
  }
  boot();
}

onUnauthorized(showLogin);
setup();
