// What the chat UI's browser scripts (chat-smoke, files-smoke) share: opening a peer's token link
// in its own context while recording the page's errors, the check that there were none, and the
// screenshot of the page a run ends on.
import { assert, check } from "./harness.mjs";

/** How long a page may take to load and go live. */
export const LOAD_MS = 15000;

/**
 * Opens a peer's token URL in its own context (the peers' cookies must not mix) and waits until the
 * app shows with a live event stream and every selector in `ready` is visible. The page records in
 * `page.errors` its script errors, console errors and responses of 400 or more that
 * `allowed(path, status)` does not expect.
 */
export async function openPeer(browser, url, { label, ready = [], allowed = () => false }) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 780 } });
  const page = await context.newPage();
  page.label = label;
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err.message));
  page.on("console", (msg) => {
    // Failed requests are judged by the response handler below, with their URL.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
      page.errors.push("console: " + msg.text());
    }
  });
  page.on("response", (res) => {
    const path = new URL(res.url()).pathname;
    if (res.status() >= 400 && !allowed(path, res.status())) {
      page.errors.push(`HTTP ${res.status()} for ${res.request().method()} ${path}`);
    }
  });
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.locator("#app").waitFor({ state: "visible", timeout: LOAD_MS });
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: LOAD_MS });
  for (const selector of ready) {
    await page.locator(selector).waitFor({ state: "visible", timeout: LOAD_MS });
  }
  return page;
}

/** The check that none of `pages` (opened by `openPeer`) recorded an error. */
export function checkNoErrors(...pages) {
  return check("no script errors on either page", async () => {
    const errors = pages.flatMap((page) => page.errors.map((e) => `${page.label}: ${e}`));
    assert(errors.length === 0, errors.join("\n"));
  });
}

/** Saves a screenshot of `page` to `path`, if the page was opened at all. */
export async function screenshot(page, path) {
  if (page) {
    await page.screenshot({ path });
    console.log(`# screenshot of ${page.label}: ${path}`);
  }
}
