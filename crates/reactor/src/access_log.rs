//! The access log: one `info` line per answered request, in one format for every daemon.
//!
//! `METHOD HOST PATH STATUS BYTES UPSTREAM MICROSus`, with `-` for what does not apply: HOST
//! when the request named none, BYTES when the body was streamed through untold (the proxy),
//! UPSTREAM for an answer made locally. A request refused before its head could be read logs
//! `- - - STATUS BYTES - 0us`.

use std::fmt;
use std::time::Instant;

use log::{info, log_enabled};

/// One answered request.
#[derive(Clone, Copy)]
pub struct AccessLine<'a> {
    /// The method, if the head was read.
    pub method: Option<&'a dyn fmt::Display>,
    /// The `Host` (or absolute-form authority), if any.
    pub host: Option<&'a str>,
    /// The request target's path, if the head was read.
    pub path: Option<&'a str>,
    /// The status code sent.
    pub status: u16,
    /// Body bytes sent, when known.
    pub bytes: Option<usize>,
    /// The upstream that answered, for a proxied request.
    pub upstream: Option<&'a dyn fmt::Display>,
    /// When the request arrived; `None` for an answer made before any request began.
    pub started: Option<Instant>,
}

impl AccessLine<'_> {
    /// A request refused before its head could be read: `- - - STATUS BYTES - 0us`.
    pub fn refused(status: u16, bytes: usize) -> AccessLine<'static> {
        AccessLine {
            method: None,
            host: None,
            path: None,
            status,
            bytes: Some(bytes),
            upstream: None,
            started: None,
        }
    }

    /// Writes the line at `info`, if that level is on.
    pub fn log(&self) {
        if log_enabled!(log::Level::Info) {
            info!("{self}");
        }
    }
}

impl fmt::Display for AccessLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn field(f: &mut fmt::Formatter<'_>, value: Option<&dyn fmt::Display>) -> fmt::Result {
            match value {
                Some(v) => write!(f, "{v} "),
                None => f.write_str("- "),
            }
        }
        field(f, self.method)?;
        field(f, self.host.as_ref().map(|h| h as &dyn fmt::Display))?;
        field(f, self.path.as_ref().map(|p| p as &dyn fmt::Display))?;
        write!(f, "{} ", self.status)?;
        field(f, self.bytes.as_ref().map(|b| b as &dyn fmt::Display))?;
        field(f, self.upstream)?;
        // `started` is when the loop woke for the request; the loop's cached time would read
        // the same instant at the end, so take a fresh one.
        let micros = self.started.map_or(0, |t| {
            Instant::now().saturating_duration_since(t).as_micros()
        });
        write!(f, "{micros}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_format_with_dashes_for_what_does_not_apply() {
        let refused = AccessLine::refused(400, 31);
        assert_eq!(refused.to_string(), "- - - 400 31 - 0us");
        let upstream = "127.0.0.1:9000";
        let proxied = AccessLine {
            method: Some(&"GET"),
            host: Some("localhost:8080"),
            path: Some("/login"),
            status: 200,
            bytes: None,
            upstream: Some(&upstream),
            started: Some(Instant::now()),
        };
        let line = proxied.to_string();
        assert!(
            line.starts_with("GET localhost:8080 /login 200 - 127.0.0.1:9000 "),
            "{line}"
        );
        assert!(line.ends_with("us"), "{line}");
    }
}
