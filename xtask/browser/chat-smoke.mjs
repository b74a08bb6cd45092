// Headless-Chromium smoke test of the peer chat UI (static/chat) against two running peers.
//
// usage: node chat-smoke.mjs URL_A URL_B SCREENSHOT.png
//   URL_A, URL_B: the `http://HOST:PORT/?token=...` lines the two peers printed; both peers must
//   be in `general` and linked to each other.
// Checks: A's message in `general` reaches B's open window through SSE within 5 s; a message into
// a channel B is not viewing raises B's unread badge and the page title, and viewing clears them;
// a direct message shows on B under A's peer entry. Exit status 0 when every check passed.
import { LOAD_MS, checkNoErrors, openPeer, screenshot } from "./chat-ui.mjs";
import { args, assert, check, failed, run } from "./harness.mjs";

const LIVE_MS = 5000;

const [urlA, urlB, shotPath] = args("node chat-smoke.mjs URL_A URL_B SCREENSHOT.png", 3);

/**
 * What a chat page may answer with 400 or more: `/api/files` is 404 on a peer without file
 * sharing, and a direct conversation with no message yet may have no history; the UI handles both.
 */
function allowed(path, status) {
  return status === 404 && (path === "/api/files" || path.startsWith("/api/channels/dm"));
}

/** In the page: the title is `(N) WeApRous chat` with N the sum of the sidebar's badges. */
function titleMatchesBadges() {
  let total = 0;
  for (const badge of document.querySelectorAll("#sidebar .unread")) {
    total += Number(badge.getAttribute("aria-label").split(" ")[0]);
  }
  return document.title === (total ? `(${total}) WeApRous chat` : "WeApRous chat");
}

async function me(page) {
  return page.evaluate(async () => (await fetch("/api/me", { credentials: "same-origin" })).json());
}

async function send(page, text) {
  const input = page.locator("#message-input");
  await input.fill(text);
  await input.press("Enter");
}

/**
 * Waits until `fn` holds in the page, polling on a timer rather than on animation frames (which a
 * background page may not get); on a timeout the error shows the title and the badges.
 */
async function waitInPage(page, fn, arg = null) {
  try {
    await page.waitForFunction(fn, arg, { timeout: LIVE_MS, polling: 50 });
  } catch (err) {
    const seen = await page.evaluate(() => ({
      title: document.title,
      hidden: document.hidden,
      badges: [...document.querySelectorAll("#sidebar .unread")].map((b) => b.getAttribute("aria-label")),
    }));
    throw new Error(`${err.message.split("\n")[0]}; page shows ${JSON.stringify(seen)}`);
  }
}

function openWindow(page) {
  return page.locator("#windows .window:not([hidden])");
}

async function openChannel(page, name) {
  await page.locator(`#channel-list button[data-channel="${name}"]`).click();
  await page.locator("#conv-title", { hasText: name }).waitFor({ timeout: LOAD_MS });
}

const stamp = Date.now().toString(36);
let pageA;
let pageB;
await run(async (browser) => {
  await check("both peers open the chat UI with a session and a live event stream", async () => {
    pageA = await openPeer(browser, urlA, { label: "A", allowed });
    pageB = await openPeer(browser, urlB, { label: "B", allowed });
  });
  if (failed()) throw new Error("cannot continue without both pages");
  const meA = await me(pageA);
  const meB = await me(pageB);

  await check("both pages show #general", async () => {
    for (const page of [pageA, pageB]) {
      await openChannel(page, "general");
    }
  });

  const first = `smoke ${stamp} hello from ${meA.name} <b>&amp;</b>`;
  await check("A's message in general appears in B's open window via SSE within 5 s", async () => {
    await send(pageA, first);
    await openWindow(pageA).locator(".msg.own .msg-text", { hasText: first }).waitFor({ timeout: LIVE_MS });
    const t0 = Date.now();
    const msg = openWindow(pageB).locator(".msg", { hasText: first });
    await msg.waitFor({ timeout: LIVE_MS });
    assert(!(await msg.getAttribute("class")).includes("own"), "A's message is styled as B's own");
    const name = await msg.locator(".msg-name").textContent();
    assert(name === meA.name, `sender shown as ${JSON.stringify(name)}, want ${JSON.stringify(meA.name)}`);
    console.log(`  # seen on B ${Date.now() - t0} ms after A showed it`);
  });

  await check("user text is shown as text, not markup", async () => {
    const html = await openWindow(pageB).locator(".msg-text", { hasText: first }).innerHTML();
    assert(html.includes("&lt;b&gt;"), `markup was interpreted: ${html}`);
  });

  const side = `smoke-${stamp}`.slice(0, 32);
  await check(`B joins #${side} through the join form and views it`, async () => {
    await pageB.locator("#join-name").fill(side);
    await pageB.locator("#join-form button[type=submit]").click();
    await pageB.locator("#conv-title", { hasText: side }).waitFor({ timeout: LOAD_MS });
  });

  const second = `smoke ${stamp} while you were away`;
  await check("a message into general while B views another channel raises B's badge and title", async () => {
    await send(pageA, second);
    const badge = pageB.locator('#channel-list button[data-channel="general"] .unread');
    await badge.waitFor({ timeout: LIVE_MS });
    const count = Number(await badge.textContent());
    assert(count >= 1, `badge shows ${count}`);
    await waitInPage(pageB, () => /^\(\d+\) WeApRous chat$/.test(document.title));
    await waitInPage(pageB, titleMatchesBadges);
  });

  await check("viewing general on B shows the message and clears badge and title", async () => {
    await openChannel(pageB, "general");
    await openWindow(pageB).locator(".msg", { hasText: second }).waitFor({ timeout: LIVE_MS });
    await pageB
      .locator('#channel-list button[data-channel="general"] .unread')
      .waitFor({ state: "detached", timeout: LIVE_MS });
    // Other conversations (earlier direct messages) may still be unread: the title must count
    // exactly what the badges show.
    await waitInPage(pageB, titleMatchesBadges);
  });

  await check("the read mark reached the peer (GET /api/channels shows general with 0 unread)", async () => {
    await pageB.waitForFunction(
      async () => {
        const list = await (await fetch("/api/channels", { credentials: "same-origin" })).json();
        const general = (Array.isArray(list) ? list : list.channels).find((c) => c.name === "general");
        return general && Number(general.unread) === 0;
      },
      null,
      { timeout: LIVE_MS, polling: 250 },
    );
  });

  const dm = `smoke ${stamp} direct to ${meB.name}`;
  await check("a direct message from A shows on B under A's peer entry", async () => {
    const peerButton = pageA.locator(`#peer-list button[data-peer="${meB.peer_id}"]`);
    await peerButton.waitFor({ timeout: LOAD_MS });
    await peerButton.click();
    await send(pageA, dm);
    await openWindow(pageA).locator(".msg.own", { hasText: dm }).waitFor({ timeout: LIVE_MS });
    const onB = pageB.locator(`#peer-list button[data-peer="${meA.peer_id}"]`);
    await onB.locator(".unread").waitFor({ timeout: LIVE_MS });
    await onB.click();
    await openWindow(pageB).locator(".msg", { hasText: dm }).waitFor({ timeout: LIVE_MS });
  });

  await check(`B leaves #${side}`, async () => {
    await openChannel(pageB, side);
    await pageB.locator("#leave-button").click();
    await pageB.locator(`#channel-list button[data-channel="${side}"]`).waitFor({ state: "detached", timeout: LOAD_MS });
    await openChannel(pageB, "general");
  });

  await checkNoErrors(pageA, pageB);
}, () => screenshot(pageB, shotPath));
