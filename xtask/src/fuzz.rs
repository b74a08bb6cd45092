//! `cargo xtask fuzz [TARGET] [--seconds N]`: seeds each cargo-fuzz target (crate `fuzz/`) from
//! the repository's own test inputs, then runs it with libFuzzer on the nightly toolchain.
//!
//! Each target gets a dictionary of its grammar's tokens (`fuzz/dict/`). The corpus lives in `fuzz/corpus/TARGET/` (not committed): the seeds are written there afresh
//! on every run, next to what earlier runs found. A crash stops the run; libFuzzer leaves the input
//! in `fuzz/artifacts/TARGET/`, to be replayed with `cargo +nightly fuzz run TARGET FILE`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::process::{self, display};

/// The cargo-fuzz targets, in the order a full run takes them.
pub const TARGETS: [&str; 5] = [
    "http_request",
    "chunked_body",
    "http_response",
    "proxy_conf",
    "p2p_frame",
];

/// The control bytes put in front of every seed of a target that reads them (see
/// `fuzz/src/lib.rs`): cut in the middle, then 3-byte reads.
const CONTROL: [u8; 2] = [0x80, 0x03];

/// Where the HTTP request conformance corpus is kept in the repository.
const CONFORMANCE: &str = "crates/http-core/tests/conformance/llhttp-requests.jsonl";

/// Arguments of `cargo xtask fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// The target to run; without one, every target runs in turn.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    pub target: Option<String>,
    /// How long each target runs, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
}

/// Seeds and runs the chosen targets one after the other; stops at the first crash.
pub fn run(args: &FuzzArgs) -> Result<()> {
    ensure_cargo_fuzz()?;
    let targets: Vec<&str> = match &args.target {
        Some(target) => vec![target.as_str()],
        None => TARGETS.to_vec(),
    };
    let mut summary = Vec::new();
    for target in targets {
        let seeds = seed(target)?;
        println!("==> fuzz {target}: {seeds} seeds, {} s", args.seconds);
        let started = Instant::now();
        let executions = fuzz(target, args.seconds)?;
        summary.push(format!(
            "{target}: {:.0} s, {executions} executions, no crash",
            started.elapsed().as_secs_f64()
        ));
    }
    for line in summary {
        println!("==> fuzz {line}");
    }
    Ok(())
}

/// `cargo` through rustup, so that `+nightly` works: the `CARGO` that started us is the stable
/// toolchain's own binary, and its variables would pin the children to it.
fn nightly_cargo() -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .current_dir(process::project_root())
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN");
    command
}

/// Nightly must be there (the machine has it); cargo-fuzz is installed from crates.io if missing,
/// so that only a fuzzing run pays for it.
fn ensure_cargo_fuzz() -> Result<()> {
    if !process::succeeds(nightly_cargo().arg("--version")) {
        return Err(Error::NoNightly);
    }
    if process::succeeds(nightly_cargo().args(["fuzz", "--version"])) {
        return Ok(());
    }
    let mut install = nightly_cargo();
    install.args(["install", "cargo-fuzz", "--locked"]);
    println!("==> {}", display(&install));
    process::run(&mut install)
}

/// Runs `target` for `seconds` on its corpus; answers how many inputs it executed.
fn fuzz(target: &str, seconds: u64) -> Result<u64> {
    let root = process::project_root();
    let mut command = nightly_cargo();
    command
        .args([
            "fuzz",
            "run",
            "--sanitizer",
            "none",
            "--debug-assertions",
            target,
        ])
        .arg(corpus_dir(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // An input that takes this long is a hang worth reporting, not a slow machine.
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .arg(format!(
            "-dict={}",
            root.join("fuzz")
                .join("dict")
                .join(dictionary(target))
                .display()
        ))
        .current_dir(root.join("fuzz"))
        .stderr(Stdio::piped());
    println!("==> {}", display(&command));
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        program: display(&command),
        source,
    })?;
    // libFuzzer reports on stderr: pass it through and keep the final count of executions.
    let mut executions = 0;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::io::Result::ok)
        {
            eprintln!("{line}");
            if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
                executions = n.trim().parse().unwrap_or(executions);
            }
        }
    }
    let status = child.wait().map_err(Error::io("wait for", "cargo fuzz"))?;
    if status.success() {
        Ok(executions)
    } else {
        Err(Error::FuzzCrash {
            target: target.to_owned(),
            artifacts: root.join("fuzz").join("artifacts").join(target),
        })
    }
}

/// The libFuzzer dictionary of `target` in `fuzz/dict/`: the tokens of its grammar, so mutations
/// reach past the first bytes of a message.
fn dictionary(target: &str) -> &'static str {
    match target {
        "proxy_conf" => "proxy_conf.dict",
        "p2p_frame" => "p2p_frame.dict",
        _ => "http.dict",
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    process::project_root()
        .join("fuzz")
        .join("corpus")
        .join(target)
}

/// Writes the seeds of `target` into its corpus directory; answers how many.
fn seed(target: &str) -> Result<usize> {
    let root = process::project_root();
    let requests = conformance_requests(&root.join(CONFORMANCE))?;
    let mut seeds: Vec<Vec<u8>> = match target {
        "http_request" => requests,
        "chunked_body" => requests
            .iter()
            .filter(|raw| contains_ignore_case(raw, b"chunked"))
            .filter_map(|raw| after_head(raw))
            .collect(),
        "http_response" => requests.iter().map(|raw| as_response(raw)).collect(),
        "proxy_conf" => vec![read(&root.join("configs").join("proxy.conf"))?],
        _ => Vec::new(),
    };
    seeds.extend(committed_seeds(
        &root.join("fuzz").join("seeds").join(target),
    )?);
    let controlled = target != "proxy_conf";
    let dir = corpus_dir(target);
    fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    for (i, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("seed-{i:03}"));
        let bytes = if controlled {
            [&CONTROL[..], seed].concat()
        } else {
            seed.clone()
        };
        fs::write(&path, bytes).map_err(Error::io("write", &path))?;
    }
    Ok(seeds.len())
}

/// The raw bytes of every case of the request conformance corpus (see its README).
fn conformance_requests(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = fs::read_to_string(path).map_err(Error::io("read", path))?;
    let mut requests = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let case: Value = serde_json::from_str(line)?;
        let raw = case["raw_b64"]
            .as_str()
            .and_then(|b64| BASE64.decode(b64).ok())
            .ok_or_else(|| Error::BadSeed {
                path: path.to_owned(),
                detail: format!("no base64 `raw_b64` in {line}"),
            })?;
        requests.push(raw);
    }
    Ok(requests)
}

/// The hand-written seeds kept in `fuzz/seeds/TARGET/` (small text files), if any.
fn committed_seeds(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths.iter().map(|path| read(path)).collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(Error::io("read", path))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What follows the first empty line of a message: the body, for the chunked decoder's seeds.
fn after_head(raw: &[u8]) -> Option<Vec<u8>> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(raw[end + 4..].to_vec())
}

/// A request turned into a response by swapping its request line for a status line: the same
/// header fields and body framing, for the response parser's seeds.
fn as_response(raw: &[u8]) -> Vec<u8> {
    let rest = raw
        .iter()
        .position(|&b| b == b'\n')
        .map_or(&[][..], |i| &raw[i + 1..]);
    [&b"HTTP/1.1 200 OK\r\n"[..], rest].concat()
}
