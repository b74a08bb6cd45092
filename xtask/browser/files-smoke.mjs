// Headless-Chromium smoke test of the chat UI's files panel (static/chat/files.js) against two
// running peers with file sharing.
//
// usage: node files-smoke.mjs URL_A URL_B PATH SCREENSHOT.png
//   URL_A, URL_B: the `http://HOST:PORT/?token=...` lines the two peers printed; PATH: a file on
//   A's disk to publish, large enough (or A's uploads slow enough) that a fetch takes a moment.
// Checks: A's panel publishes PATH; B's panel lists it and fetches it, showing a progress bar
// with the rate and time left that reaches 100 % (the file then shows as on B), with no script
// errors. Exit 0 when all pass.
import { LOAD_MS, checkNoErrors, openPeer, screenshot } from "./chat-ui.mjs";
import { args, assert, check, failed, run } from "./harness.mjs";

const FETCH_MS = 30000;
const NAME = "ui-test.bin";

const [urlA, urlB, path, shotPath] = args("node files-smoke.mjs URL_A URL_B PATH SCREENSHOT.png", 4);

function item(page) {
  return page.locator("#file-list li", { has: page.locator(".file-name", { hasText: NAME }) });
}

let pageA;
let pageB;
await run(async (browser) => {
  await check("both peers show the files panel", async () => {
    pageA = await openPeer(browser, urlA, { label: "A", ready: ["#files-panel"] });
    pageB = await openPeer(browser, urlB, { label: "B", ready: ["#files-panel"] });
  });
  if (failed()) throw new Error("cannot continue without both pages");

  await check("A publishes a file from the panel", async () => {
    await pageA.locator("#publish-path").fill(path);
    await pageA.locator("#publish-name").fill(NAME);
    await pageA.locator("#publish-form button[type=submit]").click();
    await item(pageA).waitFor({ timeout: LOAD_MS });
    await item(pageA).locator(".file-meta", { hasText: "on this peer" }).waitFor({ timeout: LOAD_MS });
  });

  await check("B lists it and fetches it, with a progress bar, its rate and time left", async () => {
    await pageB.reload({ waitUntil: "domcontentloaded" });
    await item(pageB).waitFor({ timeout: LOAD_MS });
    await pageB.getByRole("button", { name: `Fetch ${NAME}` }).click();
    await item(pageB).locator("progress").waitFor({ timeout: LOAD_MS });
    await item(pageB).locator(".file-rate", { hasText: "/s" }).waitFor({ timeout: LOAD_MS });
  });

  await check("B's fetch reaches 100 % and the file shows as on B", async () => {
    await item(pageB).locator(".file-meta", { hasText: "on this peer" }).waitFor({ timeout: FETCH_MS });
    await item(pageB).locator("progress").waitFor({ state: "detached", timeout: LOAD_MS });
    const done = await pageB.evaluate(async () => {
      const files = await (await fetch("/api/files", { credentials: "same-origin" })).json();
      return files.fetches.map((f) => `${f.state} ${f.have}/${f.chunks}`);
    });
    assert(done.length === 1 && /^done (\d+)\/\1$/.test(done[0]), `fetches: ${done}`);
  });

  await checkNoErrors(pageA, pageB);
}, () => screenshot(pageB, shotPath));
