// The banner under the top bar: what the user must know before typing. Two sources, the peer
// process itself (gone: nothing can be sent) and the tracker (down: links keep working, but
// joining and discovery wait). The peer being gone wins: it hides everything else.

import { $ } from "./util.js";

const status = { tracker: null, peerGone: false };

/** `tracker` as `/api/me` and the SSE `tracker` event give it: {addr, checked, reachable}. */
export function showTracker(tracker) {
  if (tracker && typeof tracker === "object") status.tracker = tracker;
  render();
}

/** Whether the peer process answers; while it does not, peers are greyed and sends refused. */
export function setPeerGone(gone) {
  if (status.peerGone === gone) return;
  status.peerGone = gone;
  document.body.classList.toggle("peer-gone", gone);
  render();
}

/** Whether the peer process is known to be gone. */
export function peerGone() {
  return status.peerGone;
}

/** Why a message cannot be sent right now, or "" when it can be tried. */
export function sendBlocked() {
  return status.peerGone
    ? "the peer process is not running. Start peer-bin again; this page reconnects by itself."
    : "";
}

function render() {
  const banner = $("banner");
  const t = status.tracker;
  let text = "";
  let kind = "";
  if (status.peerGone) {
    kind = "error";
    text =
      "The peer process is not running, so nothing can be sent or received. " +
      "Start peer-bin again with the same --port and --data-dir; this page reconnects by itself.";
  } else if (t && t.addr && t.checked && !t.reachable) {
    kind = "warning";
    text =
      "The tracker at " +
      t.addr +
      " does not answer. Peers already linked keep chatting; joining channels and finding " +
      "new peers wait until it is back (the peer retries by itself).";
  }
  banner.hidden = !text;
  banner.dataset.kind = kind;
  banner.textContent = text;
}
