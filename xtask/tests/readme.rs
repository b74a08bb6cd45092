//! Runs every command block of README.md as written (issue 13), the way
//! `bins/tracker-bin/tests/it/protocol.rs` runs PROTOCOL.md's examples.
//!
//! How a block is run:
//! - Its ports (the daemons' defaults the README uses) become free ephemeral ports, everywhere
//!   in the block's text and in a copy of `configs/proxy.conf`, so the test never needs a fixed
//!   port and the proxy's upstreams follow the backends.
//! - `[VAR=value …] cargo run --release -p NAME -- ARGS` starts the built binary `NAME` with
//!   `ARGS` (the debug build the test run already made; `--release` changes speed, not
//!   behaviour), in a scratch directory holding `configs/proxy.conf`; the next line waits until
//!   its port answers. The daemons of a block stop when the block ends.
//! - A `curl` line runs through `sh -c` in that directory, so quoting, `-c jar` and `-b jar`
//!   work as they do for a reader. `TOKEN` becomes the last `"token"` a command answered.
//! - The comment after a command (or on the line below it) is what it must show: a status code
//!   first (`# 401 …`, for `curl -i`) or JSON (`# {"user":"admin"}`) whose fields must all be in
//!   the answer (`"…"` matches any value); any other comment is prose. A check that fails is
//!   tried again until a deadline, since peers link a moment after they start.
//! - A bare `NAME-bin ARGS` line starts that daemon the same way, and `redis-server --port P &`
//!   starts Redis (persistence off, in the scratch directory; `.ci/run` installs it).
//! - `cargo xtask …` lines are not run here: the demo and CI have tests of their own. Blocks
//!   that need several machines are fenced as `text`, not `sh`, and are not run.

use std::collections::HashMap;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a daemon may take to listen, and a check to pass.
const WAIT: Duration = Duration::from_secs(20);
/// The ports the README uses (the daemons' defaults and their neighbours).
const PORTS: [u16; 9] = [9000, 9001, 8000, 8001, 8002, 8080, 5001, 5002, 6379];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/debug` (or the profile this test was built in): the test binary is in its `deps/`.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The ```sh blocks of a Markdown text.
fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// One command of a block and the comment that says what it must show.
#[derive(Debug)]
struct Step {
    command: String,
    expect: String,
}

/// Splits a block into commands; a comment-only line belongs to the command above it.
fn steps(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in block.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(last) = steps.last_mut()
                && last.expect.is_empty()
            {
                last.expect = comment.trim().to_string();
            }
            continue;
        }
        // A comment starts at a `#` after two spaces; the commands hold no such sequence.
        let (command, expect) = match line.split_once("  #") {
            Some((c, e)) => (c.trim(), e.trim()),
            None => (trimmed, ""),
        };
        steps.push(Step {
            command: command.to_string(),
            expect: expect.to_string(),
        });
    }
    steps
}

/// A free port on 127.0.0.1 (bound, then released for the daemon to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `text` with every README port replaced by its stand-in.
fn remap(text: &str, ports: &HashMap<u16, u16>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        let mapped = digits
            .parse::<u16>()
            .ok()
            .and_then(|p| ports.get(&p))
            .map(u16::to_string);
        out.push_str(mapped.as_deref().unwrap_or(digits));
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// The daemons a block started; killed when the block ends.
struct Daemons(Vec<(String, Child)>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A daemon a `cargo run` line starts.
struct Launch {
    env: Vec<(String, String)>,
    package: String,
    args: Vec<String>,
}

/// The daemons a line may start by their binary's name, as an installed user would.
const DAEMONS: [&str; 4] = ["backend-bin", "tracker-bin", "proxy-bin", "peer-bin"];

/// A line that starts a daemon: `[VAR=value …] cargo run [--release] -p NAME -- ARGS`, a bare
/// `NAME-bin ARGS`, or `redis-server --port P &` (run with persistence off, in the scratch
/// directory).
fn launch(command: &str) -> Option<Launch> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let args = |from: usize| -> Vec<String> {
        words[from..]
            .iter()
            .filter(|w| **w != "&")
            .map(|s| s.to_string())
            .collect()
    };
    match words.first() {
        Some(&"redis-server") => {
            let mut args = args(1);
            args.extend(["--save", "", "--appendonly", "no"].map(str::to_string));
            Some(Launch {
                env: Vec::new(),
                package: "redis-server".to_string(),
                args,
            })
        }
        Some(first) if DAEMONS.contains(first) => Some(Launch {
            env: Vec::new(),
            package: first.to_string(),
            args: args(1),
        }),
        _ => cargo_run(command),
    }
}

/// `[VAR=value …] cargo run [--release] -p NAME -- ARGS`.
fn cargo_run(command: &str) -> Option<Launch> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let start = words.iter().position(|w| *w == "cargo")?;
    if words.get(start + 1) != Some(&"run") {
        return None;
    }
    let env = words[..start]
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').expect("VAR=value before cargo");
            (k.to_string(), v.to_string())
        })
        .collect();
    let rest = &words[start + 2..];
    let package = rest
        .iter()
        .position(|w| *w == "-p")
        .map(|i| rest[i + 1].to_string())?;
    let args = rest
        .iter()
        .position(|w| *w == "--")
        .map(|i| rest[i + 1..].iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    Some(Launch { env, package, args })
}

/// The port after `--port` in `args`.
fn port_arg(args: &[String]) -> u16 {
    let i = args.iter().position(|a| a == "--port").expect("--port");
    args[i + 1].parse().unwrap()
}

fn wait_listening(name: &str, port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + WAIT;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(exit)) = child.try_wait() {
            let log = fs::read_to_string(log).unwrap_or_default();
            panic!("{name} exited ({exit}) before listening on {port}:\n{log}");
        }
        assert!(Instant::now() < deadline, "{name} not listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `got` holds every field of `want` (`"…"` matches any value).
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (_, Value::String(s)) if s == "…" => true,
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| contains(gv, v))),
        _ => got == want,
    }
}

/// What is wrong with `output` given the expectation `expect`, if anything.
fn check(expect: &str, output: &str) -> Option<String> {
    let status: String = expect.chars().take_while(char::is_ascii_digit).collect();
    if status.len() == 3 {
        let line = output.lines().next().unwrap_or_default();
        let got = line.split_whitespace().nth(1).unwrap_or_default();
        return (got != status).then(|| format!("status {got:?}, expected {status}"));
    }
    if expect.starts_with('{') || expect.starts_with('[') {
        let want: Value = serde_json::from_str(expect)
            .unwrap_or_else(|e| panic!("README comment {expect:?} is not JSON: {e}"));
        let got: Value = match serde_json::from_str(output.trim()) {
            Ok(v) => v,
            Err(_) => return Some("the answer is not JSON".to_string()),
        };
        return (!contains(&got, &want)).then(|| format!("{got} does not hold {want}"));
    }
    None
}

/// Runs one shell command in `dir`; answers its stdout, or why it failed.
fn shell(command: &str, dir: &Path) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{}: {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn run_block(n: usize, block: &str, bins: &Path) {
    let ports: HashMap<u16, u16> = PORTS.iter().map(|&p| (p, free_port())).collect();
    let dir = std::env::temp_dir().join(format!("readme-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("configs")).unwrap();
    let conf = fs::read_to_string(root().join("configs/proxy.conf")).unwrap();
    fs::write(dir.join("configs/proxy.conf"), remap(&conf, &ports)).unwrap();

    let mut daemons = Daemons(Vec::new());
    let mut token = String::new();
    for step in steps(&remap(block, &ports)) {
        let what = format!("README block {n}: {}", step.command);
        if step.command.starts_with("cargo xtask") {
            continue;
        }
        if let Some(Launch { env, package, args }) = launch(&step.command) {
            let exe = if package == "redis-server" {
                PathBuf::from("/usr/bin/redis-server")
            } else {
                bins.join(&package)
            };
            assert!(
                exe.is_file(),
                "{what}: {} is not built (cargo build --workspace, or run the whole test suite)",
                exe.display()
            );
            let log = dir.join(format!("{package}-{}.log", daemons.0.len()));
            let mut child = Command::new(&exe)
                .args(&args)
                .envs(env)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(fs::File::create(&log).unwrap())
                .stderr(Stdio::from(
                    fs::File::create(log.with_extension("err")).unwrap(),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            wait_listening(
                &what,
                port_arg(&args),
                &mut child,
                &log.with_extension("err"),
            );
            daemons.0.push((package, child));
            continue;
        }
        assert!(
            step.command.starts_with("curl "),
            "{what}: not a command this test knows"
        );
        let command = step.command.replace("TOKEN", &token);
        let deadline = Instant::now() + WAIT;
        let output = loop {
            let result = shell(&command, &dir);
            let problem = match &result {
                Ok(out) => check(&step.expect, out),
                Err(e) => Some(e.clone()),
            };
            match problem {
                None => break result.unwrap(),
                Some(p) if Instant::now() >= deadline => {
                    panic!("{what}\n  expected: {}\n  {p}", step.expect)
                }
                Some(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        if let Ok(v) = serde_json::from_str::<Value>(output.trim())
            && let Some(t) = v["token"].as_str()
        {
            token = t.to_string();
        }
    }
    drop(daemons);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn every_readme_block_runs_as_written() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 5, "README has {} sh blocks", blocks.len());
    let bins = bin_dir();
    for (n, block) in blocks.iter().enumerate() {
        run_block(n + 1, block, &bins);
    }
}

#[test]
fn comments_are_checked_as_documented() {
    assert_eq!(
        check("401 and the 401 page", "HTTP/1.1 401 Unauthorized\r\n"),
        None
    );
    assert!(check("200 with the session", "HTTP/1.1 401 Unauthorized\r\n").is_some());
    assert_eq!(
        check(
            r#"{"a":{"b":1},"t":"…"}"#,
            r#"{"a":{"b":1,"c":2},"t":"x","u":0}"#
        ),
        None
    );
    assert!(check(r#"{"a":1}"#, r#"{"a":2}"#).is_some());
    assert!(check(r#"{"a":1}"#, "not json").is_some());
    assert_eq!(check("upstream health", "anything"), None);
    let ports = HashMap::from([(8000, 41000)]);
    assert_eq!(
        remap("127.0.0.1:8000 --ttl 90 80000", &ports),
        "127.0.0.1:41000 --ttl 90 80000"
    );
    let s = steps("a x  # 200\n   # ignored\nb\n# 401 next line\n");
    assert_eq!(
        (s[0].expect.as_str(), s[1].expect.as_str()),
        ("200", "401 next line")
    );
    let launch = cargo_run("T=1 cargo run --release -p peer-bin -- --port 5001").unwrap();
    assert_eq!(
        (launch.env[0].0.as_str(), launch.package.as_str()),
        ("T", "peer-bin")
    );
    assert_eq!(port_arg(&launch.args), 5001);
}

/// Issue 13: every daemon's `--help` states its default port and shows the course's aliases.
#[test]
fn every_help_states_the_default_port_and_the_course_aliases() {
    for (bin, port) in [
        ("backend-bin", 9000),
        ("tracker-bin", 8000),
        ("proxy-bin", 8080),
        ("peer-bin", 5001),
    ] {
        let exe = bin_dir().join(bin);
        assert!(exe.is_file(), "{} is not built", exe.display());
        let out = Command::new(exe).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for needle in [
            format!("[default: {port}]"),
            "--server-port".to_string(),
            "--server-ip".to_string(),
        ] {
            assert!(
                help.contains(&needle),
                "{bin} --help lacks {needle:?}:\n{help}"
            );
        }
        assert!(
            !help.contains("[default: \"\"]"),
            "{bin}: an empty default shown"
        );
    }
}
