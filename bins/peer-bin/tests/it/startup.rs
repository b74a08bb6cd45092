//! Start-up errors name what is wrong (issue 13): a busy port names its address, a missing
//! `--static-root` and an unusable `--data-dir` name their paths; each is one line and a
//! failing exit.

use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::tempdir;

/// Runs peer-bin with `args` (no tracker needed: it fails before dialling); answers its exit
/// code and stderr.
fn start(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_peer-bin"))
        .args(["--host", "127.0.0.1"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn start_up_errors_name_the_address_or_the_path() {
    let tmp = tempdir("startup");
    let dir = tmp.path();
    let data = dir.join("data");
    let data = data.to_str().unwrap();

    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (code, err) = start(&["--port", &port, "--data-dir", data]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && !err.contains("message store"),
        "{err}"
    );

    let missing = dir.join("no-such-ui");
    let (code, err) = start(&["--port", "0", "--static-root", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains(missing.to_str().unwrap()), "{err}");

    // A data directory that cannot be created (a file is in the way).
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under = file.join("data");
    let (code, err) = start(&["--port", "0", "--data-dir", under.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains(&format!("data directory {}", under.display())),
        "{err}"
    );
    drop(busy);
}
