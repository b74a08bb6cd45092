//! `GET /__proxy/status`: who may read it and what they get. Pure, so the refusal for a
//! non-loopback client is tested without a second network interface.

use std::net::IpAddr;

use http_core::{Response, Status as HttpStatus};

use crate::pool::Status;

/// The path the proxy answers itself, for clients on loopback.
pub const STATUS_PATH: &str = "/__proxy/status";

/// Whether a client at `peer` may read the status page: loopback only, including an IPv4
/// loopback client seen as `::ffff:127.0.0.1` on a dual-stack listener.
pub fn may_read_status(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// The answer to a status request from `peer`: the JSON from `status` for a loopback client
/// (only then is it built), else `403`.
pub fn status_response(peer: IpAddr, status: impl FnOnce() -> Status) -> Response {
    if may_read_status(peer) {
        Response::with_body(HttpStatus::OK, "application/json", status().to_json())
    } else {
        Response::text(
            HttpStatus::FORBIDDEN,
            "Forbidden: the proxy status is only served to localhost\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(peer: &str, expected: u16) {
        let peer: IpAddr = peer.parse().unwrap();
        let mut built = false;
        let response = status_response(peer, || {
            built = true;
            Status { hosts: Vec::new() }
        });
        assert_eq!(response.status.code(), expected, "{peer}");
        let body = String::from_utf8_lossy(&response.body).into_owned();
        if expected == 200 {
            assert_eq!(body, r#"{"hosts":[]}"#, "{peer}");
        } else {
            assert!(body.starts_with("Forbidden: "), "{peer}: {body}");
        }
        assert_eq!(
            built,
            expected == 200,
            "{peer}: the status is built only when served"
        );
    }

    #[test]
    fn loopback_clients_read_the_status() {
        check("127.0.0.1", 200);
        check("127.9.9.9", 200);
        check("::1", 200);
        check("::ffff:127.0.0.1", 200);
    }

    #[test]
    fn other_clients_are_refused_with_403() {
        check("10.0.0.5", 403);
        check("192.168.56.103", 403);
        check("0.0.0.0", 403);
        check("2001:db8::1", 403);
        check("::ffff:10.0.0.5", 403);
    }
}
