// What the browser test scripts share: numbered `ok`/`not ok` checks, a headless Chromium as
// CI installs it, and the exit status (0 when every check passed).
import { chromium } from "playwright-core";

let failures = 0;
let step = 0;

/** Runs one named check and prints `ok N - name` or `not ok N - name` with the reason. */
export async function check(name, fn) {
  step += 1;
  try {
    await fn();
    console.log(`ok ${step} - ${name}`);
  } catch (err) {
    failures += 1;
    console.log(`not ok ${step} - ${name}\n  # ${String(err.message).split("\n").join("\n  # ")}`);
  }
}

/** Fails the current check with `message` unless `cond` holds. */
export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Headless Chromium (`CHROMIUM` or /usr/bin/chromium), quiet and without a sandbox. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Closes the browser and exits 0 when every check passed, 1 otherwise. */
export async function finish(browser) {
  await browser.close();
  process.exit(failures === 0 ? 0 : 1);
}
