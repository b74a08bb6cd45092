//! Header rewriting at the proxy hop (pure): hop-by-hop fields out, `X-Forwarded-*` and
//! `proxy_set_header` in, framing fields rewritten for the side they go to.

use bytes::{Bytes, BytesMut};
use http_core::write::{write_request_head, write_response_head};
use http_core::{BodyKind, Headers, RequestHead, ResponseHead, Version};

use crate::config::{HostBlock, Upstream};

/// How a response body is framed towards the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFraming {
    /// No body follows; the upstream's `Content-Length` (of a HEAD or 304) is passed on.
    Empty,
    /// `Content-Length` bytes, passed through unchanged.
    Length(u64),
    /// Re-encoded as chunked (HTTP/1.1 clients).
    Chunked,
    /// Until the connection closes (HTTP/1.0 clients of an unframed body).
    CloseDelimited,
}

impl ClientFraming {
    /// The framing towards a client speaking `version` for an upstream body framed as `kind`.
    pub fn for_client(kind: BodyKind, version: Version) -> ClientFraming {
        match kind {
            BodyKind::Empty => ClientFraming::Empty,
            BodyKind::Length(n) => ClientFraming::Length(n),
            BodyKind::Chunked | BodyKind::CloseDelimited => match version {
                Version::Http11 => ClientFraming::Chunked,
                Version::Http10 => ClientFraming::CloseDelimited,
            },
        }
    }
}

/// Removes the hop-by-hop fields of RFC 9110 §7.6.1: those named by `Connection`, then
/// `Connection`, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding` (framing is
/// redone per hop) and `Upgrade` unless the exchange is becoming a tunnel.
pub fn strip_hop_by_hop(headers: &mut Headers, keep_upgrade: bool) {
    let named: Vec<Vec<u8>> = headers
        .get_all("connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .filter(|t| !(t.is_empty() || (keep_upgrade && t == b"upgrade")))
        .collect();
    headers.retain(|name, _| {
        let lower = name.to_ascii_lowercase();
        let fixed = matches!(
            &lower[..],
            b"connection" | b"keep-alive" | b"te" | b"trailer" | b"transfer-encoding"
        ) || lower.starts_with(b"proxy-")
            || (!keep_upgrade && lower == b"upgrade");
        !fixed && !named.contains(&lower)
    });
}

/// What the forwarder knows about one request when writing it upstream.
pub struct Outgoing<'a> {
    /// The client's request head.
    pub head: &'a RequestHead,
    /// How its body is framed (towards the upstream: `Length` as is, `Chunked` re-encoded).
    pub kind: BodyKind,
    /// The block that routed it.
    pub block: &'a HostBlock,
    /// The upstream it goes to.
    pub upstream: &'a Upstream,
    /// The client's IP address as text.
    pub client_ip: &'a str,
}

/// Writes the request head to send upstream: HTTP/1.1, keep-alive, path prefixed with the
/// upstream's path, forwarding fields added, `proxy_set_header` applied last (an empty value
/// removes the field, as in nginx).
pub fn write_upstream_head(out: &Outgoing<'_>, dst: &mut BytesMut) {
    let head = out.head;
    let upgrade = head.is_upgrade();
    let mut headers = head.headers.clone();
    let host = head.host().unwrap_or_default().trim().to_owned();
    strip_hop_by_hop(&mut headers, upgrade);
    headers.remove("content-length");

    let forwarded_for = match joined(&headers, "x-forwarded-for") {
        Some(earlier) => format!("{earlier}, {}", out.client_ip),
        None => out.client_ip.to_owned(),
    };
    headers.insert("X-Forwarded-For", forwarded_for);
    if !host.is_empty() {
        headers.insert("X-Forwarded-Host", host.clone());
    }
    headers.insert("X-Forwarded-Proto", "http");
    headers.insert("Host", out.upstream.authority());
    for set in &out.block.headers {
        let value = set.value.render(&host, out.client_ip);
        if value.is_empty() {
            headers.remove(&set.name);
        } else {
            headers.insert(Bytes::from(set.name.clone()), value);
        }
    }
    match out.kind {
        BodyKind::Length(n) => headers.insert("Content-Length", n.to_string()),
        BodyKind::Chunked => headers.insert("Transfer-Encoding", "chunked"),
        BodyKind::Empty | BodyKind::CloseDelimited => {}
    }
    if upgrade {
        headers.insert("Connection", "upgrade");
    }
    let target = upstream_target(&out.upstream.path, head);
    write_request_head(&head.method, &target, Version::Http11, &headers, dst);
}

/// The request-target upstream: origin-form, after the `proxy_pass` path.
fn upstream_target(prefix: &str, head: &RequestHead) -> String {
    let origin = head.origin_form();
    if prefix.is_empty() {
        origin.into_owned()
    } else {
        format!("{}{}", prefix.trim_end_matches('/'), origin)
    }
}

/// Every value of `name` joined by `, `, if any.
fn joined(headers: &Headers, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Writes the response head to send to the client, with framing and `Connection` for that side.
pub fn write_client_head(
    head: &ResponseHead,
    framing: ClientFraming,
    keep_alive: bool,
    client_version: Version,
    dst: &mut BytesMut,
) {
    let upgrade = head.status.code() == 101;
    let mut headers = head.headers.clone();
    strip_hop_by_hop(&mut headers, upgrade);
    match framing {
        ClientFraming::Empty | ClientFraming::Length(_) => {}
        ClientFraming::Chunked => {
            headers.remove("content-length");
            headers.insert("Transfer-Encoding", "chunked");
        }
        ClientFraming::CloseDelimited => {
            headers.remove("content-length");
        }
    }
    if upgrade {
        headers.insert("Connection", "upgrade");
    } else if !keep_alive {
        headers.insert("Connection", "close");
    } else if client_version == Version::Http10 {
        headers.insert("Connection", "keep-alive");
    }
    write_response_head(Version::Http11, head.status, &headers, dst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_core::{Limits, Status, parse_request_head};

    fn request(raw: &str) -> (RequestHead, BodyKind) {
        let mut buf = BytesMut::from(raw);
        parse_request_head(&mut buf, &Limits::default())
            .unwrap()
            .unwrap()
    }

    fn block(conf: &str) -> HostBlock {
        crate::parse(conf, "t.conf").unwrap().hosts.remove(0)
    }

    /// Rewrites `raw` for the first upstream of `conf` and compares the upstream head's lines.
    fn check(conf: &str, raw: &str, expected: &[&str]) {
        let (head, kind) = request(raw);
        let block = block(conf);
        let mut dst = BytesMut::new();
        let out = Outgoing {
            head: &head,
            kind,
            block: &block,
            upstream: &block.upstreams[0],
            client_ip: "10.0.0.9",
        };
        write_upstream_head(&out, &mut dst);
        let text = String::from_utf8(dst.to_vec()).unwrap();
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines, expected, "{raw:?}");
    }

    const PLAIN: &str = "host a { proxy_pass http://127.0.0.1:9000; }";

    #[test]
    fn hop_by_hop_out_forwarded_in() {
        check(
            PLAIN,
            "GET /x?y=1 HTTP/1.1\r\nHost: a.local:8080\r\nConnection: keep-alive, X-Secret\r\n\
             X-Secret: s\r\nKeep-Alive: 5\r\nProxy-Authorization: p\r\nTE: trailers\r\n\
             Accept: */*\r\n\r\n",
            &[
                "GET /x?y=1 HTTP/1.1",
                "Accept: */*",
                "X-Forwarded-For: 10.0.0.9",
                "X-Forwarded-Host: a.local:8080",
                "X-Forwarded-Proto: http",
                "Host: 127.0.0.1:9000",
            ],
        );
    }

    #[test]
    fn forwarded_for_appends_and_framing_is_redone() {
        check(
            PLAIN,
            "POST /p HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n\
             X-Forwarded-For: 2.2.2.2\r\nContent-Length: 3, 3\r\n\r\n",
            &[
                "POST /p HTTP/1.1",
                "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9",
                "X-Forwarded-Host: a",
                "X-Forwarded-Proto: http",
                "Host: 127.0.0.1:9000",
                "Content-Length: 3",
            ],
        );
        check(
            PLAIN,
            "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            &[
                "POST /p HTTP/1.1",
                "X-Forwarded-For: 10.0.0.9",
                "X-Forwarded-Host: a",
                "X-Forwarded-Proto: http",
                "Host: 127.0.0.1:9000",
                "Transfer-Encoding: chunked",
            ],
        );
    }

    #[test]
    fn set_header_path_prefix_and_upgrade() {
        check(
            "host a { proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;
              proxy_set_header Accept \"\"; proxy_pass http://127.0.0.1:9000/app/; }",
            "GET http://a.local/ws HTTP/1.1\r\nHost: a.local\r\nAccept: x\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            &[
                "GET /app/ws HTTP/1.1",
                "Upgrade: websocket",
                "X-Forwarded-For: 10.0.0.9",
                "X-Forwarded-Host: a.local",
                "X-Forwarded-Proto: http",
                "Host: a.local",
                "X-Real-IP: 10.0.0.9",
                "Connection: upgrade",
            ],
        );
    }

    fn response(status: u16, fields: &[(&str, &str)]) -> ResponseHead {
        let mut headers = Headers::new();
        for (n, v) in fields {
            headers.append(n.to_string(), v.to_string());
        }
        ResponseHead {
            version: Version::Http11,
            status: Status(status),
            headers,
        }
    }

    fn check_client(
        head: ResponseHead,
        framing: ClientFraming,
        keep_alive: bool,
        version: Version,
        expected: &[&str],
    ) {
        let mut dst = BytesMut::new();
        write_client_head(&head, framing, keep_alive, version, &mut dst);
        let text = String::from_utf8(dst.to_vec()).unwrap();
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn client_heads() {
        let unframed = response(200, &[("Content-Type", "text/event-stream")]);
        check_client(
            unframed.clone(),
            ClientFraming::for_client(BodyKind::CloseDelimited, Version::Http11),
            true,
            Version::Http11,
            &[
                "HTTP/1.1 200 OK",
                "Content-Type: text/event-stream",
                "Transfer-Encoding: chunked",
            ],
        );
        check_client(
            unframed,
            ClientFraming::for_client(BodyKind::Chunked, Version::Http10),
            false,
            Version::Http10,
            &[
                "HTTP/1.1 200 OK",
                "Content-Type: text/event-stream",
                "Connection: close",
            ],
        );
        check_client(
            response(200, &[("Content-Length", "5"), ("Connection", "close")]),
            ClientFraming::Length(5),
            true,
            Version::Http10,
            &[
                "HTTP/1.1 200 OK",
                "Content-Length: 5",
                "Connection: keep-alive",
            ],
        );
        check_client(
            response(
                101,
                &[
                    ("Connection", "Upgrade"),
                    ("Upgrade", "echo"),
                    ("Keep-Alive", "1"),
                ],
            ),
            ClientFraming::Empty,
            true,
            Version::Http11,
            &[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: echo",
                "Connection: upgrade",
            ],
        );
    }
}
