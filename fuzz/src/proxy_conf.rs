//! proxy.conf properties: an accepted file means what it says (written back out it parses to the
//! same configuration, and every host routes to its own block); a refused one names a place that
//! exists in the file.

use proxy::config::{HostPattern, TemplatePart};
use proxy::{Config, ConfigError};

/// Parses the input as text (invalid UTF-8 replaced, as a file read lossily would be) and checks
/// the properties above.
pub fn proxy_conf(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    match proxy::parse(&src, "fuzz.conf") {
        Ok(config) => accepted(&config),
        Err(err) => refused(&src, &err),
    }
}

fn accepted(config: &Config) {
    let written = write(config);
    let again = proxy::parse(&written, "written.conf")
        .unwrap_or_else(|e| panic!("written back, {config:?} does not parse: {e}\n{written}"));
    assert_eq!(
        without_lines(&again),
        without_lines(config),
        "written back:\n{written}"
    );
    for (i, block) in config.hosts.iter().enumerate() {
        assert!(!block.upstreams.is_empty(), "block {i} has no upstream");
        if let HostPattern::Exact(name) = &block.host {
            assert_eq!(
                config.route(Some(name)),
                Some(i),
                "host {name:?} routes elsewhere"
            );
        }
    }
    let catch_all = config
        .hosts
        .iter()
        .position(|b| b.host == HostPattern::CatchAll);
    assert_eq!(
        config.route(None),
        catch_all,
        "no Host goes to the catch-all"
    );
}

/// The error's line and column are in the file (line 1 column 1 for an empty one; one past the
/// last character of a line for an error at its end).
fn refused(src: &str, err: &ConfigError) {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines: Vec<&str> = src.split('\n').collect();
    assert!(
        (1..=lines.len()).contains(&err.line),
        "error line {} of {} lines: {err}",
        err.line,
        lines.len()
    );
    let width = lines[err.line - 1].chars().count();
    assert!(
        (1..=width + 1).contains(&err.col),
        "error column {} of {width}: {err}",
        err.col
    );
}

/// The configuration as proxy.conf text, every value quoted.
fn write(config: &Config) -> String {
    let mut out = String::new();
    for block in &config.hosts {
        out.push_str(&format!("host {} {{\n", quote(&block.host.to_string())));
        for upstream in &block.upstreams {
            out.push_str(&format!("  proxy_pass {};\n", quote(&upstream.to_string())));
        }
        for header in &block.headers {
            let value: String = header
                .value
                .parts()
                .iter()
                .map(|part| match part {
                    TemplatePart::Literal(text) => text.as_str(),
                    TemplatePart::Host => "$host",
                    TemplatePart::RemoteAddr => "$remote_addr",
                })
                .collect();
            out.push_str(&format!(
                "  proxy_set_header {} {};\n",
                quote(&header.name),
                quote(&value)
            ));
        }
        out.push_str(&format!("  dist_policy {};\n", block.policy));
        out.push_str(&format!(
            "  proxy_timeout {}ms;\n",
            block.timeout.as_millis()
        ));
        if let Some(path) = &block.health_check {
            out.push_str(&format!("  health_check {};\n", quote(path)));
        }
        out.push_str("}\n");
    }
    out
}

/// `text` as a proxy.conf string: in double quotes, `\` and `"` escaped.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The configuration with the blocks' line numbers zeroed: writing it back moves the blocks.
fn without_lines(config: &Config) -> Config {
    let mut config = config.clone();
    for block in &mut config.hosts {
        block.line = 0;
    }
    config
}
