// The tracker's read-only dashboard and its sign-in page. Polls /dashboard.json; every value
// from the registry goes into the page through textContent, never as HTML.

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function ago(seconds) {
  if (seconds < 2) return "just now";
  if (seconds < 120) return seconds + " s ago";
  return Math.round(seconds / 60) + " min ago";
}

function size(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

function fill(id, items, render) {
  $(id).replaceChildren(...items.map(render));
  $(id + "-empty").hidden = items.length > 0;
  $(id + "-count").textContent = "(" + items.length + ")";
}

function names(peers) {
  return new Map(peers.map((p) => [p.peer_id, p.name || p.peer_id]));
}

function render(snap) {
  const who = names(snap.peers);
  const label = (id) => (who.has(id) && who.get(id) !== id ? who.get(id) + " (" + id + ")" : id);
  fill("peers", snap.peers, (p) =>
    row(
      cell(p.name || p.peer_id),
      cell(p.peer_id, "mono"),
      cell(p.ip + ":" + p.port, "mono"),
      cell(p.channels.join(", ")),
      cell(ago(p.last_seen)),
    ),
  );
  fill("channels", snap.channels, (c) =>
    row(cell("#" + c.name), cell(c.policy), cell(c.members.map(label).join(", "))),
  );
  fill("files", snap.files, (f) => {
    const pct = f.chunks ? Math.round((100 * f.covered) / f.chunks) : 100;
    const bar = document.createElement("td");
    const meter = document.createElement("meter");
    meter.min = 0;
    meter.max = f.chunks || 1;
    meter.value = f.covered;
    bar.append(meter, " " + f.covered + "/" + f.chunks + " chunks (" + pct + "%)");
    const holders = f.holders
      .map((h) => label(h.peer_id) + (h.complete ? ": all" : ": " + h.have + "/" + f.chunks))
      .join(", ");
    return row(cell(f.name), cell(size(f.size)), bar, cell(holders));
  });
  const now = new Date().toLocaleTimeString();
  $("summary").textContent =
    snap.peers.length + " peers · " + snap.channels.length + " channels · " +
    snap.files.length + " files · up " + ago(snap.uptime_s).replace(" ago", "") + " · updated " + now;
}

async function poll() {
  try {
    const res = await fetch("/dashboard.json", { cache: "no-store", credentials: "same-origin" });
    if (res.status === 401) {
      location.href = "/login";
      return;
    }
    render(await res.json());
    $("offline").hidden = true;
  } catch {
    $("offline").textContent = "The tracker does not answer; retrying every " + POLL_MS / 1000 + " s.";
    $("offline").hidden = false;
  }
  setTimeout(poll, POLL_MS);
}

function setupLogin() {
  if (new URLSearchParams(location.search).has("out")) {
    $("login-note").textContent = "You are signed out.";
    $("login-note").hidden = false;
    history.replaceState(null, "", "/login");
  }
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").hidden = true;
    const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
    try {
      const res = await fetch("/login", { method: "POST", body, credentials: "same-origin" });
      if (res.ok) {
        location.href = "/";
        return;
      }
      const answer = await res.json().catch(() => ({}));
      $("login-error").textContent =
        (answer.error || "HTTP " + res.status) +
        ". The accounts are the tracker's --user NAME:PASSWORD options.";
    } catch (err) {
      $("login-error").textContent = "The tracker does not answer: " + err.message;
    }
    // Keep the username; clear only the password.
    $("password").value = "";
    $("password").focus();
    $("login-error").hidden = false;
  });
}

if ($("login-form")) setupLogin();
else poll();
