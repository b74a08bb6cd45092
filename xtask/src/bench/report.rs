//! The written results: `target/bench/report.md` and `report.json`, and each suite's section of
//! `docs/BENCHMARKS.md` between `<!-- bench:SUITE:start -->` and `<!-- bench:SUITE:end -->`.

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::stats::{Ratio, Side};
use crate::error::{Error, Result};
use crate::process;

/// What one suite measured, ready to print and save.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// The suite's name, also its marker in docs/BENCHMARKS.md.
    pub suite: &'static str,
    /// What was compared, as a heading.
    pub title: String,
    /// How it was measured, in one sentence.
    pub setup: String,
    /// Each server's medians and runs.
    pub sides: Vec<Side>,
    /// The comparisons that answer the suite's question.
    pub ratios: Vec<Ratio>,
    /// The reference against itself: ratios closer to 1 than this are noise.
    pub noise_floor: Option<Ratio>,
    /// Markdown for measurements outside the req/s table (the http suite's large files), or empty.
    pub extra: String,
    /// Whether the run is complete enough to replace the suite's section in the docs; smoke runs
    /// are not.
    #[serde(skip)]
    pub publish: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    date: &'a str,
    commit: &'a str,
    sections: &'a [Section],
}

/// Writes report.md and report.json under target/bench/ and refreshes the docs sections of the
/// sections marked `publish`.
pub fn write(sections: &[Section]) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let date = utc_date(now);
    let commit = commit();
    let stamp = format!("_Measured {date} at commit `{commit}` by `cargo xtask bench`._");

    let dir = process::target_dir().join("bench");
    fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let mut markdown = format!("# Benchmark report\n\n{stamp}\n");
    for section in sections {
        markdown.push('\n');
        markdown.push_str(&render(section));
    }
    let md_path = dir.join("report.md");
    fs::write(&md_path, markdown).map_err(Error::io("write", &md_path))?;
    let json = serde_json::to_string_pretty(&Report {
        date: &date,
        commit: &commit,
        sections,
    })?;
    let json_path = dir.join("report.json");
    fs::write(&json_path, json + "\n").map_err(Error::io("write", &json_path))?;
    println!("report: {}", md_path.display());
    println!("report: {}", json_path.display());

    let docs = process::project_root().join("docs").join("BENCHMARKS.md");
    for section in sections.iter().filter(|s| s.publish) {
        let old = match fs::read_to_string(&docs) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => DOCS_HEADER.to_owned(),
            Err(err) => return Err(Error::io("read", &docs)(err)),
        };
        let body = format!("{stamp}\n\n{}", render(section));
        let new = replace_section(&old, section.suite, &body);
        if let Some(parent) = docs.parent() {
            fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
        }
        fs::write(&docs, new).map_err(Error::io("write", &docs))?;
        println!(
            "updated the {} section of {}",
            section.suite,
            docs.display()
        );
    }
    Ok(())
}

/// The start of docs/BENCHMARKS.md when the first suite writes it.
const DOCS_HEADER: &str = "# Benchmarks

Side-by-side runs on the project's two-core machine, each section rewritten by
`cargo xtask bench <suite>`. Servers are pinned to core 0 and wrk (one thread) to core 1; the sides
alternate round by round and the figure to quote is the median of the pairwise ratios. Compare sides
within one section only: numbers from different runs or days are not comparable. The reference
server against itself gives the noise floor; a difference smaller than that is no difference.
";

/// The markdown of one section: a table of sides, then the ratios and the noise floor.
pub fn render(section: &Section) -> String {
    let mut out = format!(
        "## {}: {}\n\n{}\n\n",
        section.suite, section.title, section.setup
    );
    out.push_str("| side | req/s | p50 | p99 | failed answers | socket errors |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for side in &section.sides {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            side.name,
            thousands(side.requests_per_sec),
            latency(side.p50_us),
            latency(side.p99_us),
            side.non_2xx,
            side.socket_errors,
        );
    }
    out.push('\n');
    for ratio in &section.ratios {
        let _ = writeln!(
            out,
            "- {} requests/s, median of pairwise ratios: **{:.2}** (rounds: {})",
            ratio.label,
            ratio.median,
            list(&ratio.rounds),
        );
    }
    if let Some(floor) = &section.noise_floor {
        let _ = writeln!(
            out,
            "- noise floor, {}: {:.2} (rounds: {})",
            floor.label,
            floor.median,
            list(&floor.rounds),
        );
    }
    out.push_str(&section.extra);
    out
}

/// Replaces the text between the suite's markers with `body`, or appends a marked section.
pub fn replace_section(doc: &str, suite: &str, body: &str) -> String {
    let start = format!("<!-- bench:{suite}:start -->");
    let end = format!("<!-- bench:{suite}:end -->");
    let body = body.trim_end();
    if let Some(from) = doc.find(&start) {
        let inner = from + start.len();
        if let Some(to) = doc[inner..].find(&end) {
            let to = inner + to;
            return format!("{}\n{body}\n{}", &doc[..inner], &doc[to..]);
        }
    }
    let mut out = doc.trim_end().to_owned();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    format!("{out}{start}\n{body}\n{end}\n")
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Microseconds in the unit a reader takes in at a glance.
fn latency(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The short hash of HEAD, or "unknown" outside a git checkout.
fn commit() -> String {
    Command::new("git")
        .current_dir(process::project_root())
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since the Unix epoch (Hinnant's days-to-civil algorithm).
fn utc_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::wrk::WrkResult;

    #[test]
    fn dates() {
        let check = |secs: u64, expected: &str| assert_eq!(utc_date(secs), expected, "{secs}");
        check(0, "1970-01-01 00:00 UTC");
        check(951_782_400, "2000-02-29 00:00 UTC");
        check(1_795_436_544, "2026-11-23 12:22 UTC");
        check(4_107_542_399, "2100-02-28 23:59 UTC");
    }

    #[test]
    fn number_formats() {
        let check = |got: String, expected: &str| assert_eq!(got, expected);
        check(thousands(0.0), "0");
        check(thousands(999.4), "999");
        check(thousands(72_978.94), "72,979");
        check(thousands(1_234_567.0), "1,234,567");
        check(latency(847.0), "847 µs");
        check(latency(1390.0), "1.39 ms");
    }

    #[test]
    fn sections_are_replaced_between_markers() {
        let check = |doc: &str, expected: &str| {
            assert_eq!(
                replace_section(doc, "http", "new\n"),
                expected,
                "doc: {doc:?}"
            );
        };
        check(
            "",
            "<!-- bench:http:start -->\nnew\n<!-- bench:http:end -->\n",
        );
        check(
            "# B\n",
            "# B\n\n<!-- bench:http:start -->\nnew\n<!-- bench:http:end -->\n",
        );
        check(
            "# B\n\n<!-- bench:http:start -->\nold\nlines\n<!-- bench:http:end -->\n\ntail\n",
            "# B\n\n<!-- bench:http:start -->\nnew\n<!-- bench:http:end -->\n\ntail\n",
        );
        // Another suite's section is left alone and ours is appended after it.
        check(
            "<!-- bench:proxy:start -->\np\n<!-- bench:proxy:end -->\n",
            "<!-- bench:proxy:start -->\np\n<!-- bench:proxy:end -->\n\n\
             <!-- bench:http:start -->\nnew\n<!-- bench:http:end -->\n",
        );
        // A start marker without its end is not trusted: a fresh section is appended.
        check(
            "<!-- bench:http:start -->\nbroken\n",
            "<!-- bench:http:start -->\nbroken\n\n<!-- bench:http:start -->\nnew\n<!-- bench:http:end -->\n",
        );
    }

    #[test]
    fn renders_a_table_and_ratios() {
        let run = |rps: f64| WrkResult {
            requests_per_sec: rps,
            p50_us: 800.0,
            p99_us: 1500.0,
            requests: 100,
            non_2xx: 0,
            socket_errors: 0,
        };
        let ours = Side::new("ours", vec![run(80_000.0), run(90_000.0)]);
        let nginx = Side::new("nginx", vec![run(100_000.0), run(100_000.0)]);
        let section = Section {
            suite: "http",
            title: "static 1 KiB".to_owned(),
            setup: "two rounds".to_owned(),
            ratios: vec![Ratio::between(&ours, &nginx)],
            noise_floor: Some(Ratio::between(&nginx, &nginx)),
            extra: String::new(),
            sides: vec![ours, nginx],
            publish: true,
        };
        let text = render(&section);
        for needle in [
            "## http: static 1 KiB",
            "| ours | 85,000 | 800 µs | 1.50 ms | 0 | 0 |",
            "| nginx | 100,000 | 800 µs | 1.50 ms | 0 | 0 |",
            "ours/nginx requests/s, median of pairwise ratios: **0.85** (rounds: 0.80, 0.90)",
            "noise floor, nginx/nginx: 1.00 (rounds: 1.00, 1.00)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
