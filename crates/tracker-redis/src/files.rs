//! The file index in Redis: checking a publish before it is sent, and reading the answers.
//! A holder's chunks are a Redis bitmap, in Redis's bit order (bit 0 is the high bit of byte 0).

use redis_client::Value;
use tracker_core::files::{FileSummary, FileView, HolderView, PeerFile, PublishParams};
use tracker_core::{Result, file_id, limits};

/// A publish, checked, as the script's arguments after the peer id and token hash.
pub(crate) struct PublishArgs {
    pub(crate) file_id: String,
    pub(crate) argv: Vec<String>,
}

/// Checks a publish as the memory store does, before anything reaches Redis.
pub(crate) fn publish_args(p: &PublishParams) -> Result<PublishArgs> {
    limits::file_name(&p.name)?;
    if p.chunk_size == 0 || p.chunk_size > limits::MAX_CHUNK_SIZE {
        return Err(limits::bad(format!(
            "chunk_size must be in 1..={}, got {}",
            limits::MAX_CHUNK_SIZE,
            p.chunk_size
        )));
    }
    let count = p.size.div_ceil(p.chunk_size);
    if count > limits::MAX_FILE_CHUNKS {
        return Err(limits::bad(format!(
            "{} bytes in chunks of {} is {count} chunks, more than {}",
            p.size,
            p.chunk_size,
            limits::MAX_FILE_CHUNKS
        )));
    }
    if p.chunk_hashes.len() as u64 != count {
        return Err(limits::bad(format!(
            "{} bytes in chunks of {} needs {count} chunk hashes, got {}",
            p.size,
            p.chunk_size,
            p.chunk_hashes.len()
        )));
    }
    let id = file_id(&p.chunk_hashes)?;
    let hashes: String = p
        .chunk_hashes
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let argv = vec![
        p.name.clone(),
        p.size.to_string(),
        p.chunk_size.to_string(),
        count.to_string(),
        id.clone(),
        hashes,
        limits::MAX_FILES_PER_PEER.to_string(),
    ];
    Ok(PublishArgs { file_id: id, argv })
}

/// The indices set in a Redis bitmap, ascending.
pub(crate) fn indices(bitmap: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    for (i, byte) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                out.push((i * 8 + bit) as u32);
            }
        }
    }
    out
}

fn int(v: &Value) -> Option<u64> {
    u64::try_from(v.as_int()?).ok()
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// `fid name size chunk_size count {holders}`.
pub(crate) fn summary(item: Value) -> Option<FileSummary> {
    let Value::Array(f) = item else { return None };
    let [id, name, size, chunk_size, count, holders] = <[Value; 6]>::try_from(f).ok()?;
    let mut holders = strings(&holders)?;
    holders.sort_unstable();
    Some(FileSummary {
        file_id: id.as_str()?.to_owned(),
        name: name.as_str()?.to_owned(),
        size: int(&size)?,
        chunk_size: int(&chunk_size)?,
        chunks: int(&count)?,
        holders,
    })
}

/// `name size chunk_size count hashes {{id ip port bitmap}}`.
pub(crate) fn view(file_id: String, reply: Vec<Value>) -> Option<FileView> {
    let [name, size, chunk_size, count, hashes, holders] = <[Value; 6]>::try_from(reply).ok()?;
    let chunks = int(&count)?;
    let hashes = hashes.as_str()?;
    let chunk_hashes = (0..hashes.len() / 64)
        .map(|i| hashes[i * 64..(i + 1) * 64].to_owned())
        .collect();
    let Value::Array(holders) = holders else {
        return None;
    };
    let mut holders = holders
        .into_iter()
        .map(|h| {
            let Value::Array(h) = h else { return None };
            let [id, ip, port, bitmap] = <[Value; 4]>::try_from(h).ok()?;
            let have = indices(bitmap.as_bytes().unwrap_or_default());
            Some(HolderView {
                peer_id: id.as_str()?.to_owned(),
                ip: ip.as_str()?.parse().ok()?,
                port: port.as_str()?.parse().ok()?,
                complete: have.len() as u64 == chunks,
                chunks: have,
            })
        })
        .collect::<Option<Vec<HolderView>>>()?;
    holders.sort_unstable_by(|a, b| a.peer_id.cmp(&b.peer_id));
    Some(FileView {
        file_id,
        name: name.as_str()?.to_owned(),
        size: int(&size)?,
        chunk_size: int(&chunk_size)?,
        chunks,
        chunk_hashes,
        holders,
    })
}

/// `fid name size chunk_size count have`.
pub(crate) fn peer_file(item: Value) -> Option<PeerFile> {
    let Value::Array(f) = item else { return None };
    let [id, name, size, chunk_size, count, have] = <[Value; 6]>::try_from(f).ok()?;
    let (chunks, have) = (int(&count)?, int(&have)?);
    Some(PeerFile {
        file_id: id.as_str()?.to_owned(),
        name: name.as_str()?.to_owned(),
        size: int(&size)?,
        chunk_size: int(&chunk_size)?,
        chunks,
        have,
        complete: have == chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_in_redis_bit_order() {
        assert_eq!(indices(&[]), Vec::<u32>::new());
        assert_eq!(indices(&[0xFF, 0b1100_0000]), (0..10).collect::<Vec<u32>>());
        assert_eq!(indices(&[0b0100_0001, 0x01]), [1, 7, 15]);
    }
}
