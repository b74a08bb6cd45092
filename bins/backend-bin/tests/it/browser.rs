//! Task 1 in a real browser: headless Chromium driven by `xtask/browser/task1.mjs`
//! (`cargo xtask ci` installs its node packages; `.ci/run` installs Chromium).

use crate::start;
use backend::AuthMode;
use test_support::{run_browser_script, screenshot_path, tempdir};

#[test]
fn task1_works_in_headless_chromium() {
    let server = start(AuthMode::Session);
    let tmp = tempdir("task1");
    let shot = screenshot_path(tmp.path(), "task1.png");
    let url = format!("http://{}", server.addr);
    let text = run_browser_script("task1.mjs", &[url.as_ref(), shot.as_ref()]);
    assert!(
        text.contains("ok 6 - ") && !text.contains("not ok"),
        "{text}"
    );
}
