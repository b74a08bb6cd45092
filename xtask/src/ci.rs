//! `cargo xtask ci`: format check, clippy and rustdoc with warnings denied, then every test — what
//! `.ci/run` runs. With `FUZZ=1` in the environment it then runs every fuzz target for
//! [`FUZZ_SECONDS`].

use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::process::{self, cargo};

/// How long each fuzz target runs in CI when `FUZZ=1`.
const FUZZ_SECONDS: u64 = 60;

/// One CI step: a name for the log and the command that must succeed.
struct Step {
    name: &'static str,
    command: Command,
}

/// Runs the steps in order and stops at the first failure.
pub fn run() -> Result<()> {
    let started = Instant::now();
    for mut step in steps() {
        println!("==> {}: {}", step.name, process::display(&step.command));
        let step_started = Instant::now();
        let result = process::run(&mut step.command);
        let secs = step_started.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!("==> {}: ok in {secs:.1} s", step.name),
            Err(source) => {
                println!("==> {}: FAILED after {secs:.1} s", step.name);
                return Err(Error::CiStep {
                    step: step.name,
                    source: Box::new(source),
                });
            }
        }
    }
    println!(
        "==> ci: all steps passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn steps() -> Vec<Step> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    // Broken intra-doc links and bad doc HTML fail the build like any other warning.
    let mut doc = cargo();
    doc.args(["doc", "--no-deps", "--workspace"])
        .env("RUSTDOCFLAGS", "-D warnings");
    let mut steps = vec![
        Step {
            name: "fmt",
            command: fmt,
        },
        Step {
            name: "clippy",
            command: clippy,
        },
        Step {
            name: "doc",
            command: doc,
        },
    ];
    steps.extend(browser_packages());
    steps.extend(test_steps());
    steps.extend(fuzz_step());
    steps
}

/// Fuzzing (nightly, cargo-fuzz installed on demand) only when asked for with `FUZZ=1`, so the
/// default CI needs neither.
fn fuzz_step() -> Option<Step> {
    if std::env::var_os("FUZZ").is_none_or(|v| v != "1") {
        return None;
    }
    let mut fuzz = cargo();
    fuzz.args(["xtask", "fuzz", "--seconds", &FUZZ_SECONDS.to_string()]);
    Some(Step {
        name: "fuzz",
        command: fuzz,
    })
}

/// The browser tests (headless Chromium through playwright-core) need their node packages;
/// `npm ci` installs exactly the locked versions, once.
fn browser_packages() -> Option<Step> {
    let dir = process::project_root().join("xtask").join("browser");
    if dir.join("node_modules").join("playwright-core").is_dir() {
        return None;
    }
    let mut npm = Command::new("npm");
    npm.arg("ci").arg("--prefix").arg(&dir);
    Some(Step {
        name: "browser test packages",
        command: npm,
    })
}

/// nextest when it is installed (one process per test, clearer failures), plain `cargo test`
/// otherwise. nextest does not run doctests, so they get a step of their own in that case.
fn test_steps() -> Vec<Step> {
    if !process::succeeds(cargo().args(["nextest", "--version"])) {
        let mut test = cargo();
        test.args(["test", "--workspace"]);
        return vec![Step {
            name: "test",
            command: test,
        }];
    }
    let mut nextest = cargo();
    nextest.args(["nextest", "run", "--workspace"]);
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]);
    vec![
        Step {
            name: "test (nextest)",
            command: nextest,
        },
        Step {
            name: "doctests",
            command: doc,
        },
    ]
}
