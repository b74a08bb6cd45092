//! Task 1 in a real browser: headless Chromium driven by `xtask/browser/task1.mjs`
//! (`cargo xtask ci` installs its node packages; `.ci/run` installs Chromium).

use crate::start;
use backend::AuthMode;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn task1_works_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let browser = root.join("xtask/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "browser test packages missing: run `npm ci --prefix xtask/browser` (cargo xtask ci does)"
    );
    let server = start(AuthMode::Session);
    // `WEAPROUS_SCREENS_DIR=docs/screens` refreshes the README's screenshot.
    let shot = match std::env::var_os("WEAPROUS_SCREENS_DIR") {
        Some(dir) => PathBuf::from(dir).join("task1.png"),
        None => std::env::temp_dir().join(format!("task1-{}.png", std::process::id())),
    };
    let output = Command::new("node")
        .arg(browser.join("task1.mjs"))
        .arg(format!("http://{}", server.addr))
        .arg(&shot)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("ok 6 - ") && !text.contains("not ok"),
        "{text}"
    );
    if std::env::var_os("WEAPROUS_SCREENS_DIR").is_none() {
        let _ = std::fs::remove_file(shot);
    }
}
