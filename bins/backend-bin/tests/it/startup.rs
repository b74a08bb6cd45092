//! Start-up errors name the path (issue 13): a missing `--users-file` or `--static-root` is one
//! line naming it, exit 2.

use std::process::{Command, Stdio};

#[test]
fn missing_paths_are_named() {
    let missing = std::env::temp_dir().join(format!("backend-missing-{}", std::process::id()));
    let missing = missing.to_str().unwrap();
    for flag in ["--users-file", "--static-root"] {
        let out = Command::new(env!("CARGO_BIN_EXE_backend-bin"))
            .args(["--port", "0", flag, missing])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("backend-bin: {flag} {missing}")) && err.lines().count() == 1,
            "{flag}: {err}"
        );
    }
}
