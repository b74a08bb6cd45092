// Headless-Chromium test of the tracker's dashboard and of a peer's stale-link page.
//
// usage: node dashboard.mjs TRACKER_URL USER PASSWORD STALE_URL SHOT_DIR
//   TRACKER_URL: like http://127.0.0.1:8000, a tracker with the account USER:PASSWORD, a peer
//   named alice in `general` and at least one published file;
//   STALE_URL: a peer's `/?token=` link with a token that is not its own;
//   SHOT_DIR: where dashboard.png and stale-link.png go.
// Prints one `ok`/`not ok` line per check; exit status 0 when every check passed.
import { args, assert, check, run } from "./harness.mjs";

const [tracker, user, password, staleUrl, shotDir] = args("node dashboard.mjs TRACKER_URL USER PASSWORD STALE_URL SHOT_DIR", 5);
const LIVE_MS = 10000;

await run(async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));

  await check("a stale peer link explains how to get a fresh one", async () => {
    const res = await page.goto(staleUrl);
    assert(res.status() === 401, `status ${res.status()}`);
    const text = await page.locator("main").innerText();
    assert(text.includes("This link has expired"), "no title: " + text);
    assert(text.includes("target/demo/urls.txt"), "no hint about the demo's links");
    await page.screenshot({ path: `${shotDir}/stale-link.png` });
  });

  await check("the dashboard without a session leads to its sign-in page", async () => {
    await page.goto(`${tracker}/`);
    assert(new URL(page.url()).pathname === "/login", "at " + page.url());
    await page.locator("#login-form").waitFor({ timeout: 5000 });
  });

  await check("a wrong password says why and keeps the username", async () => {
    await page.fill("#username", user);
    await page.fill("#password", "not-" + password);
    await page.click("#login-form button");
    await page.locator("#login-error").waitFor({ state: "visible", timeout: 5000 });
    const why = await page.locator("#login-error").innerText();
    assert(why.includes("wrong username or password"), why);
    assert((await page.inputValue("#username")) === user, "username lost");
  });

  await check("signing in shows peers, channels and files", async () => {
    await page.fill("#password", password);
    await Promise.all([page.waitForURL(`${tracker}/`), page.click("#login-form button")]);
    await page.waitForFunction(() => document.querySelectorAll("#peers tr").length > 0, null, { timeout: 5000 });
    const peers = await page.locator("#peers").innerText();
    assert(peers.includes("alice") && (peers.includes("s ago") || peers.includes("just now")), peers);
    const channels = await page.locator("#channels").innerText();
    assert(channels.includes("#general") && channels.includes("alice"), channels);
    const files = await page.locator("#files").innerText();
    assert(/chunks \(\d+%\)/.test(files), "no coverage: " + files);
  });

  await check("a peer registering later shows up by itself", async () => {
    const res = await fetch(`${tracker}/submit-info`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ip: "127.0.0.1", port: 6553, name: "latecomer" }),
    });
    assert(res.ok, "register: HTTP " + res.status);
    await page.waitForFunction(() => document.querySelector("#peers").innerText.includes("latecomer"), null, {
      timeout: LIVE_MS,
    });
    await page.screenshot({ path: `${shotDir}/dashboard.png` });
  });

  await check("signing out says so, and the dashboard needs a sign-in again", async () => {
    await Promise.all([page.waitForURL(/\/login/), page.click(".logout button")]);
    const note = await page.locator("#login-note").innerText();
    assert(note.includes("signed out"), note);
    const res = await page.goto(`${tracker}/dashboard.json`);
    assert(res.status() === 401, `status ${res.status()}`);
  });

  await check("no script errors", async () => {
    assert(errors.length === 0, errors.join("; "));
  });
});
