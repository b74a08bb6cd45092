//! The tracker's read-only web dashboard: `GET /` after signing in at `/login` with a `--user`
//! account. The page (`static/tracker/`, compiled in, so the daemon needs no static root) polls
//! `GET /dashboard.json` every few seconds: peers with when they were last seen, channels with
//! their members, files with their holders and how much of each file the holders cover.
//!
//! Without a session `GET /` redirects to `/login`, and `/dashboard.json` answers 401; `POST
//! /login` and `POST /logout` are the API's. Nothing here changes the registry.

use std::collections::BTreeSet;

use http_core::{Response, Status};
use router::{App, HttpError, Json, Req};
use serde::Serialize;

use crate::api::Tracker;
use crate::console::every;
use tracker_core::paging::Page;
use tracker_core::{ChannelView, FileView, ListQuery, PeerView, Stats};

const INDEX: &str = include_str!("../../../static/tracker/index.html");
const LOGIN: &str = include_str!("../../../static/tracker/login.html");
const SCRIPT: &str = include_str!("../../../static/tracker/dashboard.js");
const STYLE: &str = include_str!("../../../static/tracker/dashboard.css");

/// Most files listed on the dashboard (each costs a lookup of its holders).
pub const MAX_FILES: usize = 200;

/// What the dashboard shows, as `GET /dashboard.json` answers it.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Registry counts.
    pub stats: Stats,
    /// Whole seconds since the tracker started.
    pub uptime_s: u64,
    /// Live peers, sorted by id.
    pub peers: Vec<PeerView>,
    /// Channels with their members.
    pub channels: Vec<ChannelView>,
    /// Files with their holders (at most [`MAX_FILES`]).
    pub files: Vec<FileRow>,
}

/// One file on the dashboard.
#[derive(Debug, Serialize)]
pub struct FileRow {
    /// Its id.
    pub file_id: String,
    /// Its name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Chunks at least one holder has: `chunks` when the file can be fetched whole.
    pub covered: u64,
    /// Who holds how much of it.
    pub holders: Vec<HolderRow>,
}

/// One holder of a file.
#[derive(Debug, Serialize)]
pub struct HolderRow {
    /// The holder's peer id.
    pub peer_id: String,
    /// Chunks it holds.
    pub have: u64,
    /// Whether it holds every chunk.
    pub complete: bool,
}

/// The dashboard's view of `tracker` now, read a page at a time (see [`crate::console`]'s
/// walk), so the loop is never held up for the whole registry.
pub fn snapshot(tracker: &Tracker) -> Snapshot {
    let uptime_s = tracker.uptime().as_secs();
    let peers = every(tracker, |reg, page, now| {
        reg.list(&ListQuery::default(), page, now)
    });
    let channels = every(tracker, |reg, page, now| reg.channels(page, now));
    let mut files = Vec::new();
    let mut page = Page::after(None, MAX_FILES);
    while files.len() < MAX_FILES {
        let got = tracker.with(|reg, now| {
            let listed = reg.files(&page, now);
            let views: Vec<FileView> = listed
                .items
                .iter()
                .filter_map(|f| reg.file(&f.file_id, now).ok())
                .collect();
            (views, listed.next)
        });
        files.extend(got.0.into_iter().map(file_row));
        match got.1 {
            Some(next) => page = Page::after(Some(&next), MAX_FILES - files.len()),
            None => break,
        }
    }
    files.truncate(MAX_FILES);
    Snapshot {
        stats: tracker.with(|reg, now| reg.stats(now)),
        uptime_s,
        peers,
        channels,
        files,
    }
}

/// A file as the dashboard shows it: who holds how much, and how much they cover together.
fn file_row(f: FileView) -> FileRow {
    let mut covered = BTreeSet::new();
    let holders = f
        .holders
        .iter()
        .map(|h| {
            covered.extend(h.chunks.iter().copied());
            HolderRow {
                peer_id: h.peer_id.clone(),
                have: if h.complete {
                    f.chunks
                } else {
                    h.chunks.len() as u64
                },
                complete: h.complete,
            }
        })
        .collect();
    let complete = f.holders.iter().any(|h| h.complete);
    FileRow {
        covered: if complete {
            f.chunks
        } else {
            covered.len() as u64
        },
        file_id: f.file_id,
        name: f.name,
        size: f.size,
        chunks: f.chunks,
        holders,
    }
}

fn page(body: &'static str, kind: &'static str) -> Response {
    Response::with_body(Status::OK, kind, body).header("Cache-Control", "no-store")
}

/// Adds the dashboard's routes to the tracker's app.
pub fn routes(app: &mut App<Tracker>) {
    app.get("/", |_, req: &Req| {
        if req.session().is_some() {
            page(INDEX, "text/html; charset=utf-8")
        } else {
            Response::new(Status::SEE_OTHER)
                .header("Location", "/login")
                .header("Cache-Control", "no-store")
        }
    });
    app.get("/login", |_, _req: &Req| {
        page(LOGIN, "text/html; charset=utf-8")
    });
    app.get("/dashboard.js", |_, _req: &Req| {
        page(SCRIPT, "text/javascript; charset=utf-8")
    });
    app.get("/dashboard.css", |_, _req: &Req| {
        page(STYLE, "text/css; charset=utf-8")
    });
    app.get("/dashboard.json", |t: &Tracker, req: &Req| {
        if req.session().is_none() {
            return Err(HttpError::unauthorized("sign in at /login first"));
        }
        Ok(Json(snapshot(t)))
    });
    app.post("/logout", |_, req: &Req| {
        req.end_session();
        Response::new(Status::SEE_OTHER)
            .header("Location", "/login?out=1")
            .header("Set-Cookie", req.sessions().expired_cookie().to_string())
    });
}
