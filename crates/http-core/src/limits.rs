//! The limits of SPEC §2 as named constants, and [`Limits`] to override them per server.

use std::time::Duration;

/// Largest request head (request line + headers + blank line) in bytes → 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header fields in one head → 431.
pub const MAX_HEADERS: usize = 100;
/// Longest request line / request-target in bytes → 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest body accepted on API routes → 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest chunk-size line (hex digits + extensions) of a chunked body → 400.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;
/// Largest chunk-size of a chunked body (1 TiB), refused before any of its data is read → 400
/// (502 from an upstream).
pub const MAX_CHUNK_SIZE: u64 = 1 << 40;
/// Largest trailer section of a chunked body → 431.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// How long a client may take to send a complete head → 408.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection is kept.
pub const IDLE_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server connection with unsent output may go without the client taking any of it
/// before the connection is dropped with it, as nginx's `send_timeout`.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections held at once by one process; beyond it the server stops accepting.
pub const MAX_CONNECTIONS: usize = 10_000;

/// The limits one server (or client) enforces; `Default` gives the constants above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`MAX_URI_BYTES`].
    pub max_uri_bytes: usize,
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`IDLE_KEEP_ALIVE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Send file bodies with `sendfile(2)` (nginx's `sendfile`, off by default there too)
    /// rather than `pread` through a small reused buffer. Zero-copy saves the server's CPU on
    /// a real network card; on loopback the reader then copies from cold page-cache pages
    /// instead of freshly written, cache-hot socket buffers, and measured slower here (see
    /// docs/BENCHMARKS.md), so it is off unless asked for.
    pub sendfile: bool,
}

impl Limits {
    /// How long a connection may wait with nothing in flight: `idle_timeout`, or, when that is
    /// zero (keep-alive off), `header_read_timeout`, so that a new connection still has time
    /// to send its first request.
    pub fn idle_wait(&self) -> Duration {
        if self.idle_timeout.is_zero() {
            self.header_read_timeout
        } else {
            self.idle_timeout
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_uri_bytes: MAX_URI_BYTES,
            max_body_bytes: MAX_BODY_BYTES,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_KEEP_ALIVE_TIMEOUT,
            send_timeout: SEND_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            sendfile: false,
        }
    }
}
