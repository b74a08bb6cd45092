// What the browser test scripts share: their arguments, a headless Chromium as CI installs it,
// numbered `ok`/`not ok` checks, the summary line and the exit status (0 when every check passed).
import { chromium } from "playwright-core";

let failures = 0;
let step = 0;

/** The script's `count` arguments; prints `usage: USAGE` and exits 2 when one is missing. */
export function args(usage, count) {
  const argv = process.argv.slice(2);
  if (argv.length < count || argv.slice(0, count).some((arg) => !arg)) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return argv;
}

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

/** Whether a check has failed so far (a script stops where later checks depend on earlier ones). */
export function failed() {
  return failures > 0;
}

/**
 * Launches headless Chromium, runs `body(browser)`, then `after()` (say, a screenshot), closes the
 * browser and exits: 0 when every check passed, 1 otherwise. An error escaping `body` counts as a
 * failure (`# aborted: ...`), so a script cannot pass by stopping early. The last line is
 * `# all N checks passed` or `# FAILED: N check(s)`.
 */
export async function run(body, after = async () => {}) {
  const browser = await launch();
  try {
    await body(browser);
  } catch (err) {
    failures += 1;
    console.log(`# aborted: ${err.message}`);
  } finally {
    // A failed screenshot must not keep the browser open or hide the checks' outcome.
    await after().catch((err) => console.log(`# after the checks: ${err.message}`));
    await browser.close();
  }
  console.log(failures ? `# FAILED: ${failures} check(s)` : `# all ${step} checks passed`);
  process.exit(failures ? 1 : 0);
}

/** Headless Chromium (`CHROMIUM` or /usr/bin/chromium), quiet and without a sandbox. */
function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
