// Headless-Chromium test of the chat UI's banners: a peer whose tracker is down says so, and a
// tab whose peer process is gone says so too, greys the peers and refuses to send with the reason.
//
// usage: node banners.mjs URL_NO_TRACKER URL_GONE PID_GONE SHOT.png
//   URL_NO_TRACKER: the token link of a peer whose tracker does not answer;
//   URL_GONE, PID_GONE: the token link and process id of a peer in `general` with a linked peer,
//   which this script kills (SIGKILL) once its page is open.
// Prints one `ok`/`not ok` line per check; exit status 0 when every check passed.
import { args, assert, check, run } from "./harness.mjs";

const [urlNoTracker, urlGone, pidGone, shotPath] = args("node banners.mjs URL_NO_TRACKER URL_GONE PID_GONE SHOT.png", 4);
const WAIT_MS = 15000;

await run(async (browser) => {
  await check("a peer whose tracker is down shows a banner naming the tracker", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(urlNoTracker);
    const banner = page.locator("#banner");
    await banner.waitFor({ state: "visible", timeout: WAIT_MS });
    const text = await banner.innerText();
    assert(/tracker at [\d.:]+ does not answer/.test(text), text);
  });

  const page = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
  await check("a live peer's tab shows no banner and a linked peer online", async () => {
    await page.goto(urlGone);
    await page.waitForSelector('#peer-list .presence[data-online="true"]', { timeout: WAIT_MS });
    await page.waitForFunction(() => document.getElementById("conn").dataset.state === "live", null, {
      timeout: WAIT_MS,
    });
    assert(await page.locator("#banner").isHidden(), "a banner is shown");
  });

  await check("when the peer process is gone the tab says so and greys the peers", async () => {
    process.kill(Number(pidGone), "SIGKILL");
    const banner = page.locator("#banner");
    await page.waitForFunction(
      () => document.getElementById("banner").innerText.includes("peer process is not running"),
      null,
      { timeout: WAIT_MS },
    );
    assert((await banner.getAttribute("data-kind")) === "error", "not shown as an error");
    const online = await page.locator('#peer-list .presence[data-online="true"]').count();
    assert(online === 0, `${online} peers still shown online`);
    await page.screenshot({ path: shotPath });
  });

  await check("sending then says why it cannot", async () => {
    await page.fill("#message-input", "anyone there?");
    await page.click("#send-button");
    const error = page.locator("#send-error");
    await error.waitFor({ state: "visible", timeout: WAIT_MS });
    const text = await error.innerText();
    assert(text.includes("peer process is not running"), text);
  });
});
