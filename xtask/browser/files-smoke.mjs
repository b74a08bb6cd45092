// Headless-Chromium smoke test of the chat UI's files panel (static/chat/files.js) against two
// running peers with file sharing.
//
// usage: node files-smoke.mjs URL_A URL_B PATH SCREENSHOT.png
//   URL_A, URL_B: the `http://HOST:PORT/?token=...` lines the two peers printed; PATH: a file on
//   A's disk to publish, large enough (or A's uploads slow enough) that a fetch takes a moment.
// Checks: A's panel publishes PATH; B's panel lists it and fetches it, showing a progress bar
// with the rate and time left that reaches 100 % (the file then shows as on B), with no script errors. Exit 0 when all pass.
import { chromium } from "playwright-core";

const LOAD_MS = 15000;
const FETCH_MS = 30000;
const NAME = "ui-test.bin";

const [urlA, urlB, path, shotPath] = process.argv.slice(2);
if (!urlA || !urlB || !path || !shotPath) {
  console.error("usage: node files-smoke.mjs URL_A URL_B PATH SCREENSHOT.png");
  process.exit(2);
}

let failures = 0;
let step = 0;

async function check(name, fn) {
  step += 1;
  try {
    await fn();
    console.log(`ok ${step} - ${name}`);
  } catch (err) {
    failures += 1;
    console.log(`not ok ${step} - ${name}\n  # ${String(err.message).split("\n").join("\n  # ")}`);
  }
}

async function openPeer(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 780 } });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err.message));
  page.on("response", (res) => {
    if (res.status() >= 400) page.errors.push(`HTTP ${res.status()} for ${new URL(res.url()).pathname}`);
  });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.locator("#app").waitFor({ state: "visible", timeout: LOAD_MS });
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: LOAD_MS });
  await page.locator("#files-panel").waitFor({ state: "visible", timeout: LOAD_MS });
  return page;
}

function item(page) {
  return page.locator("#file-list li", { has: page.locator(".file-name", { hasText: NAME }) });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

let pageB;
try {
  let pageA;
  await check("both peers show the files panel", async () => {
    pageA = await openPeer(browser, urlA);
    pageB = await openPeer(browser, urlB);
  });
  if (failures) throw new Error("cannot continue without both pages");

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
    if (done.length !== 1 || !/^done (\d+)\/\1$/.test(done[0])) throw new Error(`fetches: ${done}`);
  });

  await check("no script errors on either page", async () => {
    const errors = [...pageA.errors.map((e) => "A: " + e), ...pageB.errors.map((e) => "B: " + e)];
    if (errors.length) throw new Error(errors.join("\n"));
  });
} catch (err) {
  failures += 1;
  console.log(`# aborted: ${err.message}`);
} finally {
  if (pageB) {
    await pageB.screenshot({ path: shotPath });
    console.log(`# screenshot of B: ${shotPath}`);
  }
  await browser.close();
}

console.log(failures ? `# FAILED: ${failures} check(s)` : `# all ${step} checks passed`);
process.exit(failures ? 1 : 0);
