// Headless-Chromium test of Task 1 (backend-bin) as a user does it: the login page, a wrong
// password (which keeps the username and says why), a right one (the address then shows /), the
// protected page and its /user card, logging out (confirmed), Back after logout.
//
// usage: node task1.mjs BASE_URL SCREENSHOT.png      (BASE_URL like http://127.0.0.1:9000)
// Prints one `ok`/`not ok` line per check; exit status 0 when every check passed.
import { args, assert, check, run } from "./harness.mjs";

const [base, shotPath] = args("node task1.mjs BASE_URL SCREENSHOT.png", 2);

await run(async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));

  await check("the index without a session shows the 401 page", async () => {
    const res = await page.goto(`${base}/`);
    assert(res.status() === 401, `status ${res.status()}`);
  });

  await check("the login page renders its form with the stylesheet", async () => {
    const res = await page.goto(`${base}/login`);
    assert(res.status() === 200, `status ${res.status()}`);
    await page.locator('input[name="username"]').waitFor({ timeout: 5000 });
    const styled = await page.evaluate(() => document.styleSheets.length > 0 && getComputedStyle(document.body).fontFamily !== "");
    assert(styled, "no stylesheet applied");
  });

  await check("a wrong password answers 401 and sets no cookie", async () => {
    await page.fill('input[name="username"]', "admin");
    await page.fill('input[name="password"]', "wrong");
    const [res] = await Promise.all([page.waitForNavigation(), page.locator('form [type="submit"], form button').first().click()]);
    assert(res.status() === 401, `status ${res.status()}`);
    assert((await context.cookies()).length === 0, "cookies were set");
    const why = await page.locator('[role="alert"]').innerText();
    assert(why.includes("Wrong username or password"), "no reason shown: " + why);
    assert((await page.inputValue('input[name="username"]')) === "admin", "the username was lost");
  });

  await check("the right password shows the index and sets auth and sid", async () => {
    await page.goto(`${base}/login`);
    await page.fill('input[name="username"]', "admin");
    await page.fill('input[name="password"]', "password");
    const [res] = await Promise.all([page.waitForNavigation(), page.locator('form [type="submit"], form button').first().click()]);
    assert(res.status() === 200, `status ${res.status()}`);
    const cookies = Object.fromEntries((await context.cookies()).map((c) => [c.name, c]));
    assert(cookies.auth?.value === "true", "no auth=true cookie");
    assert(/^[0-9a-f]{32}$/.test(cookies.sid?.value ?? ""), "no sid cookie");
    assert(cookies.sid.httpOnly, "sid is not HttpOnly");
    await page.waitForFunction(() => location.pathname === "/", null, { timeout: 5000 });
  });

  await check("the protected page shows the user from /user", async () => {
    const res = await page.goto(`${base}/`);
    assert(res.status() === 200, `status ${res.status()}`);
    await page.waitForFunction(() => document.body.innerText.includes("admin"), null, { timeout: 5000 });
    await page.screenshot({ path: shotPath, fullPage: true });
  });

  await check("logout says so on the login page and the session is gone", async () => {
    await Promise.all([page.waitForURL(/\/login\?logged-out/), page.click("#logout")]);
    const note = await page.locator('[role="status"]').innerText();
    assert(note.includes("You are logged out"), "no confirmation: " + note);
    const res = await page.goto(`${base}/`);
    assert(res.status() === 401, `status after logout ${res.status()}`);
  });

  await check("no script errors", async () => {
    assert(errors.length === 0, errors.join("; "));
  });
});
