//! The tracker's file endpoints as the peer uses them (docs/PROTOCOL.md, "Files"): the
//! requests, and the parsing of their answers.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_core::{Method, Request};
use p2p_proto::files::{ChunkSet, FileMeta, HolderInfo, chunk_count, parse_digest};
use serde::Deserialize;
use serde_json::{Value, json};

fn post(target: &str, body: &Value) -> Request {
    let mut req = Request::new(Method::Post, target);
    req.head.headers.insert("Content-Type", "application/json");
    req.body = Bytes::from(body.to_string());
    req
}

/// `POST /files/publish`.
pub fn publish(peer_id: &str, token: &str, meta: &FileMeta) -> Request {
    post(
        "/files/publish",
        &json!({"peer_id": peer_id, "token": token, "name": meta.name, "size": meta.size,
            "chunk_size": meta.chunk_size, "chunk_hashes": meta.hex_digests()}),
    )
}

/// `POST /files/:id/chunks`.
pub fn add_chunks(file_id: &str, peer_id: &str, token: &str, chunks: &[usize]) -> Request {
    post(
        &format!("/files/{file_id}/chunks"),
        &json!({"peer_id": peer_id, "token": token, "chunks": chunks}),
    )
}

/// `GET /files`.
pub fn list() -> Request {
    Request::new(Method::Get, "/files")
}

/// `GET /files/:id`.
pub fn location(file_id: &str) -> Request {
    Request::new(Method::Get, format!("/files/{file_id}"))
}

/// One entry of `GET /files`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Listed {
    /// The content id.
    pub file_id: String,
    /// Its listed name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Chunks in all.
    pub chunks: usize,
    /// Holder peer ids.
    #[serde(default)]
    pub holders: Vec<String>,
}

/// Reads a `GET /files` answer.
pub fn parse_list(body: &[u8]) -> Result<Vec<Listed>, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
struct LocationBody {
    file_id: String,
    name: String,
    size: u64,
    chunk_size: u64,
    chunk_hashes: Vec<String>,
    #[serde(default)]
    holders: Vec<HolderBody>,
}

#[derive(Deserialize)]
struct HolderBody {
    peer_id: String,
    ip: IpAddr,
    port: u16,
    #[serde(default)]
    chunks: Vec<usize>,
}

/// Reads a `GET /files/:id` answer: the file, checked against its id, and its holders.
pub fn parse_location(body: &[u8]) -> Result<(FileMeta, Vec<HolderInfo>), String> {
    let b: LocationBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let digests = b
        .chunk_hashes
        .iter()
        .map(|h| parse_digest(h).ok_or_else(|| format!("bad chunk hash {h:?}")))
        .collect::<Result<Vec<_>, String>>()?;
    let meta = FileMeta::new(&b.name, b.size, b.chunk_size, digests);
    if meta.file_id != b.file_id || chunk_count(b.size, b.chunk_size) != meta.chunks() {
        return Err(format!(
            "the tracker's metadata for {} does not match its id",
            b.file_id
        ));
    }
    let n = meta.chunks();
    let holders = b
        .holders
        .into_iter()
        .map(|h| HolderInfo {
            peer_id: h.peer_id,
            addr: SocketAddr::new(h.ip, h.port),
            chunks: ChunkSet::from_indices(n, h.chunks),
        })
        .collect();
    Ok((meta, holders))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_answers_are_checked_against_their_id() {
        // docs/PROTOCOL.md's example.
        let body = r#"{"status":"ok","file_id":"62921829630f561dc99d369b703a84365667dbf7c64d74b7df5ea57bf3b93a1b",
            "name":"hello.txt","size":12,"chunk_size":8,"chunks":2,
            "chunk_hashes":["2850459f91fca1b8ca435e518708137a0eee63750d71056a67d700eb3d3ae9c9",
                            "9413f219292fc7d0f60fcaea2a3ab7a7b73d89a938e5b9e9be040a9b7984f98e"],
            "holders":[{"peer_id":"a","ip":"127.0.0.1","port":5001,"chunks":[0,1],"complete":true},
                       {"peer_id":"b","ip":"127.0.0.1","port":5002,"chunks":[0],"complete":false}]}"#;
        let (meta, holders) = parse_location(body.as_bytes()).unwrap();
        assert_eq!((meta.name.as_str(), meta.chunks()), ("hello.txt", 2));
        assert_eq!(holders[1].chunks.iter().collect::<Vec<_>>(), [0]);
        assert_eq!(holders[0].addr.port(), 5001);
        let forged = body.replace("\"size\":12", "\"size\":20");
        assert!(parse_location(forged.as_bytes()).is_err());
        let listed = parse_list(
            br#"[{"file_id":"x","name":"n","size":1,"chunk_size":1,"chunks":1,"holders":["a"]}]"#,
        )
        .unwrap();
        assert_eq!(listed[0].holders, ["a"]);
    }
}
