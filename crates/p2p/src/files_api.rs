//! The peer's file-sharing routes (SPEC §8).
//!
//! Open to other peers: `GET /files/:id/chunks/:n`, the raw bytes of a chunk this peer holds,
//! read on a worker thread at the chunk's offset (one chunk of memory per request), paced by the
//! peer's upload limit if it has one; `404` for a
//! file or chunk not held here, `416` for an index past the last chunk. The local user's (the
//! session check of [`crate::api`] covers `/api/`): `GET /api/files`, `POST /api/files/publish
//! {path, name?, chunk_size?}` → 201, `POST /api/files/fetch {file_id | name, dest?}` → 202.

use std::path::PathBuf;

use http_core::{Response, Status};
use reactor::Reply;
use router::{App, HttpError, Req, json_response};
use serde::Deserialize;
use serde_json::json;

use crate::api::Site;
use crate::driver::files::library::Serve;
use crate::driver::files::{FileError, disk, lock_lib};

#[derive(Deserialize)]
struct PublishBody {
    path: PathBuf,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    chunk_size: Option<u64>,
}

#[derive(Deserialize)]
struct FetchBody {
    #[serde(default)]
    file_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    dest: Option<PathBuf>,
}

fn file_error(e: &FileError) -> Response {
    let mut body = json!({"error": e.to_string()});
    if let FileError::Conflict {
        file_id: Some(id), ..
    } = e
    {
        body["file_id"] = json!(id);
    }
    json_response(Status(e.status()), &body)
}

/// Adds the file routes to the peer's app.
pub(crate) fn routes(app: &mut App<Site>) {
    app.get("/files/:id/chunks/:n", |s: &Site, req: &Req| -> Reply {
        let files = s.node.files().clone();
        let id = req.param("id").unwrap_or_default();
        let Ok(chunk) = req.param("n").unwrap_or_default().parse::<usize>() else {
            return HttpError::bad_request("the chunk index must be a number")
                .into_response()
                .into();
        };
        let found = lock_lib(&files.lib).serve(&id, chunk);
        let (file, offset, len, not_before) = match found {
            Serve::Read {
                file,
                offset,
                len,
                not_before,
            } => (file, offset, len, not_before),
            Serve::UnknownFile => {
                return HttpError::not_found(format!("file {id} is not shared here"))
                    .into_response()
                    .into();
            }
            Serve::Missing => {
                return HttpError::not_found(format!("chunk {chunk} of {id} is not held here"))
                    .into_response()
                    .into();
            }
            Serve::PastEnd(chunks) => {
                let why = format!("chunk {chunk} is past the end: {id} has {chunks} chunks");
                return HttpError::new(Status(416), why)
                    .into_response()
                    .header("Content-Range", format!("chunks */{chunks}"))
                    .into();
            }
        };
        let responder = req.info().responder();
        let pool = files.pool.clone();
        pool.run(move || {
            // The upload limit: a worker waits, never the loop.
            if let Some(at) = not_before {
                std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
            }
            let mut buf = files.buffers.take_filled(len);
            let response = match disk::read_chunk_into(&file, offset, &mut buf) {
                Ok(()) => {
                    let body = files.buffers.bytes(buf);
                    Response::with_body(Status::OK, "application/octet-stream", body)
                }
                Err(e) => HttpError::new(
                    Status::INTERNAL_SERVER_ERROR,
                    format!("cannot read the chunk: {e}"),
                )
                .into_response(),
            };
            responder.respond(response);
        });
        Reply::Deferred
    });

    app.get("/api/files", |s: &Site, req: &Req| -> Reply {
        let files = s.node.files();
        let responder = req.info().responder();
        let local = files.local();
        let fetches = files.fetches();
        files.list(Box::new(move |listed| {
            let listed = listed.unwrap_or_default();
            let body = json!({"files": listed, "local": local, "fetches": fetches});
            responder.respond(json_response(Status::OK, &body));
        }));
        Reply::Deferred
    });

    app.post(
        "/api/files/publish",
        |s: &Site, req: &Req| -> Result<Reply, HttpError> {
            let files = s.node.files();
            let body: PublishBody = req.json()?;
            let responder = req.info().responder();
            files.publish(
                body.path,
                body.name,
                body.chunk_size,
                Box::new(move |result| {
                    responder.respond(match result {
                        Ok(p) if p.existing => json_response(Status::OK, &p),
                        Ok(p) => json_response(Status::CREATED, &p),
                        Err(e) => file_error(&e),
                    })
                }),
            );
            Ok(Reply::Deferred)
        },
    );

    app.post(
        "/api/files/fetch",
        |s: &Site, req: &Req| -> Result<Reply, HttpError> {
            let files = s.node.files();
            let body: FetchBody = req.json()?;
            let target = body
                .file_id
                .filter(|id| !id.is_empty())
                .or(body.name)
                .ok_or_else(|| HttpError::bad_request("give a file_id or a name"))?;
            let responder = req.info().responder();
            files.fetch(
                &target,
                body.dest,
                Box::new(move |result| {
                    responder.respond(match result {
                        Ok(started) if started.note.is_some() => {
                            json_response(Status::OK, &started)
                        }
                        Ok(started) => json_response(Status(202), &started),
                        Err(e) => file_error(&e),
                    })
                }),
            );
            Ok(Reply::Deferred)
        },
    );
}
