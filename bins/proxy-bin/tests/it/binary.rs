//! The built binary and the config files: the course's sample parses as printed and the binary
//! starts with it, a broken config stops start-up with file:line:col and exit code 2.

use crate::{ProxyProcess, get, text};
use std::process::Command;

/// The course's sample as a student's copy has it: a tab, blank lines, `#` comments, two
/// `proxy_pass`, and `dist_policy round-robin` without `;`.
const COURSE_SAMPLE: &str = "# proxy.conf from the course
host \"192.168.56.103:8080\" {
    proxy_pass http://192.168.56.103:9000;
}

host \"app2.local\" {
\tproxy_set_header Host $host;
    proxy_pass http://192.168.56.210:9002;  # one instance
    proxy_pass http://192.168.56.220:9002;  # and another

    dist_policy round-robin
}
";

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_course_sample_and_the_shipped_config_parse() {
    let sample = proxy::Config::load(temp_file("sample.conf", COURSE_SAMPLE)).unwrap();
    assert_eq!(sample.hosts.len(), 2);
    assert_eq!(sample.hosts[1].upstreams.len(), 2);
    assert_eq!(sample.hosts[1].headers.len(), 1);
    assert_eq!(sample.hosts[1].policy, proxy::Policy::RoundRobin);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/proxy.conf");
    proxy::Config::load(shipped).unwrap();
}

#[test]
fn the_binary_starts_with_the_course_sample() {
    let proxy = ProxyProcess::start(COURSE_SAMPLE);
    let status = text(&get(proxy.addr, "x", "/__proxy/status"));
    for upstream in [
        "192.168.56.103:9000",
        "192.168.56.210:9002",
        "192.168.56.220:9002",
    ] {
        assert!(status.contains(upstream), "{upstream} in {status}");
    }
    assert!(
        status.contains(r#""host":"app2.local","policy":"round-robin""#),
        "{status}"
    );
}

#[test]
fn broken_config_stops_start_up_with_its_place() {
    let path = temp_file(
        "broken.conf",
        "host \"a.local\" {\n    proxy_pass http://127.0.0.1:9000;\n    dist_policy fastest\n}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_proxy-bin"))
        .arg("--config")
        .arg(&path)
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:3:17: ", path.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("fastest"), "{stderr}");
}

/// Issue 13: a busy port is one line naming the address, exit 1.
#[test]
fn a_busy_port_names_its_address() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let config = temp_file(
        "busy.conf",
        "host \"x\" {\n    proxy_pass http://127.0.0.1:9;\n}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_proxy-bin"))
        .args(["--host", "127.0.0.1", "--port", &port, "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let needle = format!("proxy-bin: proxy on 127.0.0.1:{port}: ");
    assert!(err.lines().any(|l| l.starts_with(&needle)), "{err}");
    drop(busy);
}
