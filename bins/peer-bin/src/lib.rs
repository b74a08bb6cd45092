//! peer-bin's wiring: command-line values turned into a [`p2p::Config`], the loop set up with
//! signals, and the console of SPEC §6. The peer itself lives in the `p2p` crate.

pub mod console;
pub mod files;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use reactor::EventLoop;

/// Default port of peer-bin (SPEC §1).
pub const DEFAULT_PORT: u16 = 5001;
/// Default tracker.
pub const DEFAULT_TRACKER: &str = "http://127.0.0.1:8000";
/// Channel joined when none is given.
pub const DEFAULT_CHANNEL: &str = "general";

/// The tracker's address from a URL such as `http://127.0.0.1:8000` (or plain `host:port`),
/// read by the `url` crate; the port defaults to 80.
pub fn parse_tracker(arg: &str) -> Result<SocketAddr, String> {
    let with_scheme = if arg.contains("://") {
        arg.to_string()
    } else {
        format!("http://{arg}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("--tracker {arg:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("--tracker {arg:?}: only http:// is supported"));
    }
    url.socket_addrs(|| Some(80))
        .map_err(|e| format!("--tracker {arg:?}: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("--tracker {arg:?}: no address"))
}

/// An `--advertise` value: `HOST`, `HOST:PORT`, `V6`, `[V6]` or `[V6]:PORT` (read by the `url`
/// crate, as `--tracker` is); a name is resolved once, at start. A wildcard address names no
/// one, so it is refused.
pub fn parse_advertise(arg: &str) -> Result<p2p::Advertise, String> {
    let arg = arg.trim();
    let (ip, port) = match arg.parse::<IpAddr>() {
        Ok(ip) => (ip, None),
        Err(_) => {
            let url =
                url::Url::parse(&format!("http://{arg}")).map_err(|e| format!("{arg:?}: {e}"))?;
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
                Some(url::Host::Domain(name)) => (name, 0)
                    .to_socket_addrs()
                    .map_err(|e| format!("{arg:?}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("{arg:?}: no address"))?
                    .ip(),
                None => return Err(format!("{arg:?}: no host")),
            };
            if url.path() != "/" || url.port() == Some(0) {
                return Err(format!("{arg:?}: expected HOST or HOST:PORT, port 1-65535"));
            }
            (ip, url.port())
        }
    };
    if ip.is_unspecified() {
        return Err(format!(
            "{arg:?} is a wildcard: advertise the address other peers reach this one by"
        ));
    }
    Ok(p2p::Advertise { ip, port })
}

/// A `--channel` value: `NAME` or `NAME:KEY` (channel names never hold `:`).
pub fn parse_channel(arg: &str) -> (String, Option<String>) {
    match arg.split_once(':') {
        Some((name, key)) => (name.to_string(), Some(key.to_string())),
        None => (arg.to_string(), None),
    }
}

/// The web UI when none is given: `static/chat/` of the workspace this binary was built from,
/// else `./static/chat`.
pub fn default_static_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static/chat");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("static/chat")
    }
}

/// A loop with SIGINT/SIGTERM handling and the peer of `config` on it, ready to run.
pub fn prepare(config: p2p::Config) -> Result<(EventLoop, p2p::Peer), p2p::Error> {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS)?;
    event_loop.handle_signals().map_err(p2p::Error::Io)?;
    let peer = p2p::start(&mut event_loop, config)?;
    Ok((event_loop, peer))
}

/// Runs the loop until `/quit`, SIGINT or SIGTERM.
pub fn run(event_loop: EventLoop) -> io::Result<()> {
    event_loop.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: Result<&str, ()>) {
        let got = parse_tracker(url).map(|a| a.to_string()).map_err(|_| ());
        assert_eq!(got.as_deref().map_err(|_| ()), expected, "{url}");
    }

    #[test]
    fn tracker_urls() {
        check("http://127.0.0.1:8000", Ok("127.0.0.1:8000"));
        check("http://127.0.0.1:8000/", Ok("127.0.0.1:8000"));
        check("127.0.0.1:9", Ok("127.0.0.1:9"));
        check("http://127.0.0.1", Ok("127.0.0.1:80"));
        check("http://[::1]:9000/x", Ok("[::1]:9000"));
        check("https://127.0.0.1:8000", Err(()));
        check("http://127.0.0.1:99999", Err(()));
        check("http://", Err(()));
    }

    #[test]
    fn advertised_addresses() {
        let check = |arg: &str, expected: Option<(&str, Option<u16>)>| {
            let got = parse_advertise(arg)
                .ok()
                .map(|a| (a.ip.to_string(), a.port));
            let expected = expected.map(|(ip, port)| (ip.to_string(), port));
            assert_eq!(got, expected, "{arg}");
        };
        check("192.0.2.7", Some(("192.0.2.7", None)));
        check("192.0.2.7:6000", Some(("192.0.2.7", Some(6000))));
        check("[2001:db8::1]:6000", Some(("2001:db8::1", Some(6000))));
        check("2001:db8::1", Some(("2001:db8::1", None)));
        check("[2001:db8::1]", Some(("2001:db8::1", None)));
        check("192.0.2.7/x", None);
        let named = parse_advertise("localhost:7").unwrap();
        assert!(named.ip.is_loopback() && named.port == Some(7), "{named:?}");
        check("0.0.0.0", None);
        check("192.0.2.7:0", None);
        check("192.0.2.7:http", None);
    }

    #[test]
    fn channels() {
        assert_eq!(parse_channel("general"), ("general".to_string(), None));
        assert_eq!(
            parse_channel("secret:k1"),
            ("secret".to_string(), Some("k1".to_string()))
        );
    }
}
