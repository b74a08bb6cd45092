//! Delivery to course peers, against a course-style peer that honours keep-alive: a burst of
//! our messages reaches it in order over fewer connections than messages; while it is down
//! our messages wait and reach it, in order, once it is back; and a send that reaches nobody
//! says so instead of "sent".

use crate::{call, peer, tempdir, tracker, wait_for};
use http_core::Method;
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the course peer's threads run at most.
const LIFETIME: Duration = Duration::from_secs(60);
/// How often its threads look at their mode while waiting.
const POLL: Duration = Duration::from_millis(5);

/// What the course peer does.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// Answers every POST 200 and keeps the connection open.
    Up,
    /// Listens no more and closes every connection.
    Down,
    /// Listens, and answers every POST 503 (counted as rejected).
    Busy,
}

/// A POST the course peer accepted: the connection's number, the path and the JSON body.
type Got = (usize, String, Value);

/// A course-style peer: a small blocking HTTP/1.1 server that refuses the link upgrade with
/// 404 (and closes), records each POST it accepts, and keeps connections alive between them.
/// Its threads end with the test or after [`LIFETIME`].
struct CoursePeer(Shared);

impl Drop for CoursePeer {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::SeqCst);
    }
}

impl CoursePeer {
    fn start() -> CoursePeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shared = Shared {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(AtomicU8::new(Mode::Up as u8)),
            got: Arc::default(),
            link_tries: Arc::default(),
            rejected: Arc::default(),
            open: Arc::default(),
            listening: Arc::new(AtomicBool::new(true)),
            done: Arc::default(),
            connections: Arc::default(),
        };
        let serving = shared.clone();
        thread::spawn(move || serving.accept_loop(listener));
        CoursePeer(shared)
    }

    fn set(&self, mode: Mode) {
        self.0.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// The texts of the broadcasts it accepted, with the connection each came on.
    fn broadcasts(&self) -> Vec<(usize, String)> {
        self.0
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, path, _)| path.starts_with("/broadcast-peer"))
            .map(|(conn, _, body)| (*conn, body["msg"].as_str().unwrap_or("").to_owned()))
            .collect()
    }
}

/// The course peer's state, shared by its threads.
#[derive(Clone)]
struct Shared {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<Got>>>,
    link_tries: Arc<AtomicUsize>,
    rejected: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    listening: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl Shared {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            0 => Mode::Up,
            1 => Mode::Down,
            _ => Mode::Busy,
        }
    }

    fn live(&self, deadline: Instant) -> bool {
        !self.done.load(Ordering::SeqCst) && Instant::now() < deadline
    }

    fn accept_loop(self, listener: TcpListener) {
        let deadline = Instant::now() + LIFETIME;
        let mut listener = Some(listener);
        while self.live(deadline) {
            if self.mode() == Mode::Down {
                listener = None;
                self.listening.store(false, Ordering::SeqCst);
                thread::sleep(POLL);
                continue;
            }
            // Back at the same address (std sets SO_REUSEADDR, so lingering sockets of the old
            // listener do not stand in the way).
            let l = listener.get_or_insert_with(|| {
                let l = TcpListener::bind(self.addr).unwrap();
                l.set_nonblocking(true).unwrap();
                l
            });
            l.set_nonblocking(true).unwrap();
            self.listening.store(true, Ordering::SeqCst);
            match l.accept() {
                Ok((stream, _)) => {
                    let number = self.connections.fetch_add(1, Ordering::SeqCst);
                    self.open.fetch_add(1, Ordering::SeqCst);
                    let conn = self.clone();
                    thread::spawn(move || {
                        conn.serve(stream, number, deadline);
                        conn.open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                Err(_) => return,
            }
        }
    }

    /// Serves requests on one connection until the client closes it, the peer goes down, or
    /// the answer was `Connection: close`.
    fn serve(&self, mut stream: TcpStream, number: usize, deadline: Instant) {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(POLL * 4)).unwrap();
        let mut input = Vec::new();
        let mut buf = [0u8; 4096];
        while self.live(deadline) && self.mode() != Mode::Down {
            if let Some((method, path, body, used)) = parse(&input) {
                input.drain(..used);
                if !self.answer(&mut stream, number, &method, path, body) {
                    return;
                }
                continue;
            }
            match stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => input.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }

    /// Answers one request; whether the connection stays open.
    fn answer(
        &self,
        stream: &mut TcpStream,
        number: usize,
        method: &str,
        path: String,
        body: Value,
    ) -> bool {
        let (status, keep) = match (method, self.mode()) {
            ("POST", Mode::Busy) => {
                self.rejected.fetch_add(1, Ordering::SeqCst);
                ("503 Service Unavailable", true)
            }
            ("POST", _) => {
                self.got.lock().unwrap().push((number, path, body));
                ("200 OK", true)
            }
            _ => {
                self.link_tries.fetch_add(1, Ordering::SeqCst);
                ("404 Not Found", false)
            }
        };
        let text = r#"{"status":"received"}"#;
        let connection = if keep { "keep-alive" } else { "close" };
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: {connection}\r\n\r\n{text}",
            text.len()
        );
        stream.write_all(answer.as_bytes()).is_ok() && keep
    }
}

/// One complete request at the start of `input`: method, path, JSON body, bytes used.
fn parse(input: &[u8]) -> Option<(String, String, Value, usize)> {
    let end = input.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&input[..end]);
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let body = input.get(end..end + length)?;
    let json = serde_json::from_slice(body).unwrap_or(Value::Null);
    Some((method, path, json, end + length))
}

/// Posts `text` to general through the API and answers the `delivery` it reports.
fn post(us: SocketAddr, text: &str) -> Value {
    let (status, body) = call(
        us,
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({ "text": text })),
    );
    assert_eq!(status, 201, "{body}");
    body["delivery"].clone()
}

/// A tracker, our peer alice, and a course peer dave in general that alice has filed as a
/// course peer (a broadcast of hers reached him).
fn alice_and_dave(name: &str) -> (Setup, p2p::Running, CoursePeer, String) {
    let dir = tempdir(name);
    let tracker = tracker(3);
    let dave = CoursePeer::start();
    let course = json!({"ip": "127.0.0.1", "port": dave.0.addr.port(), "username": "dave"});
    let reg = test_support::send(
        tracker.addr,
        Method::Post,
        "/submit-info",
        &[],
        course.to_string().as_bytes(),
    );
    assert_eq!(reg.status.code(), 200);
    let dave_id = serde_json::from_slice::<Value>(&reg.body).unwrap()["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let join = json!({"username": "dave", "room": "general"}).to_string();
    let joined = test_support::send(
        tracker.addr,
        Method::Post,
        "/add-list",
        &[],
        join.as_bytes(),
    );
    assert_eq!(joined.status.code(), 200);

    let alice = peer("alice", Some(tracker.addr), dir.path());
    wait_for(
        "alice to try a link to dave",
        Duration::from_secs(10),
        || dave.0.link_tries.load(Ordering::SeqCst) > 0,
    );
    let mut posts = 0;
    wait_for(
        "alice to file dave as a course peer",
        Duration::from_secs(10),
        || {
            if posts < 20 {
                posts += 1;
                post(alice.addr(), &format!("hello dave {posts}"));
            }
            !dave.broadcasts().is_empty()
        },
    );
    (Setup(tracker, dir), alice, dave, dave_id)
}

/// What must outlive a test's peers: the tracker and alice's directory.
struct Setup(
    #[allow(dead_code, reason = "kept alive for the test")] tracker::server::Running,
    #[allow(dead_code, reason = "kept alive for the test")] test_support::TempDir,
);

#[test]
fn a_course_peer_gets_a_burst_in_order_over_fewer_connections_than_messages() {
    let (_tracker, alice, dave, dave_id) = alice_and_dave("course-burst");
    const N: usize = 12;
    for k in 0..N {
        let delivery = post(alice.addr(), &format!("in order {k}"));
        assert_eq!(delivery["status"], "queued", "{delivery}");
        assert_eq!(delivery["course"][0]["peer_id"], json!(dave_id));
    }
    let burst = || {
        dave.broadcasts()
            .into_iter()
            .filter(|(_, text)| text.starts_with("in order"))
            .collect::<Vec<_>>()
    };
    wait_for("the burst to reach dave", Duration::from_secs(20), || {
        burst().len() >= N
    });
    let got = burst();
    let texts: Vec<_> = got.iter().map(|(_, t)| t.clone()).collect();
    let sent: Vec<_> = (0..N).map(|k| format!("in order {k}")).collect();
    assert_eq!(texts, sent, "each once, in order");
    let mut connections: Vec<_> = got.iter().map(|(c, _)| *c).collect();
    connections.sort_unstable();
    connections.dedup();
    assert!(
        connections.len() < N,
        "{N} messages came over {} connections",
        connections.len()
    );
}

#[test]
fn a_course_peer_that_was_down_gets_the_waiting_messages_in_order_after_back_off() {
    let (_tracker, alice, dave, _) = alice_and_dave("course-down");
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    alice.node.subscribe(Box::new(move |event: &p2p::UiEvent| {
        if let p2p::UiEvent::Undelivered { error, .. } = event {
            sink.lock().unwrap().push(error.clone());
        }
        true
    }));

    dave.set(Mode::Down);
    wait_for("dave to go down", Duration::from_secs(10), || {
        !dave.0.listening.load(Ordering::SeqCst) && dave.0.open.load(Ordering::SeqCst) == 0
    });
    for k in 0..3 {
        post(alice.addr(), &format!("while away {k}"));
    }
    // Back, but refusing at first: a refused try proves the messages waited and were retried.
    dave.set(Mode::Busy);
    wait_for("a retry to reach dave", Duration::from_secs(10), || {
        dave.0.rejected.load(Ordering::SeqCst) > 0
    });
    dave.set(Mode::Up);
    let waited = || {
        dave.broadcasts()
            .into_iter()
            .map(|(_, text)| text)
            .filter(|text| text.starts_with("while away"))
            .collect::<Vec<_>>()
    };
    wait_for(
        "the waiting messages to reach dave",
        Duration::from_secs(20),
        || waited().len() >= 3,
    );
    assert_eq!(waited(), ["while away 0", "while away 1", "while away 2"]);
    assert_eq!(*reported.lock().unwrap(), Vec::<String>::new());
}

#[test]
fn a_send_that_reaches_nobody_says_so() {
    let dir = tempdir("course-nobody");
    let alone = peer("alice", None, dir.path());
    let (status, body) = call(
        alone.addr(),
        Method::Post,
        "/p2p/msg",
        Some(json!({"message": "anyone?"})),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "stored", "{body}");
    assert_eq!(body["message"]["text"], "anyone?");
    assert!(
        body["note"]
            .as_str()
            .unwrap()
            .contains("no peer is reachable"),
        "{body}"
    );
    let delivery = post(alone.addr(), "still nobody");
    assert_eq!(delivery["status"], "stored", "{delivery}");
    assert_eq!(delivery["linked"], json!([]));
    assert_eq!(delivery["course"], json!([]));
}

#[test]
fn a_full_queue_drops_the_oldest_and_reports_it_and_nothing_is_lost_silently() {
    let (_setup, alice, dave, _) = alice_and_dave("course-full");
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    alice.node.subscribe(Box::new(move |event: &p2p::UiEvent| {
        if let p2p::UiEvent::Undelivered {
            message_id, error, ..
        } = event
        {
            sink.lock()
                .unwrap()
                .push((message_id.clone(), error.clone()));
        }
        true
    }));
    dave.set(Mode::Busy);
    let total = p2p::COURSE_QUEUE_PER_PEER + 4;
    // Only these count: the setup's greetings may still be on their way.
    let ids: Vec<String> = (0..total)
        .map(|k| {
            let (status, body) = call(
                alice.addr(),
                Method::Post,
                "/api/channels/general/messages",
                Some(json!({ "text": format!("full {k}") })),
            );
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let ours = |reported: &[(String, String)]| -> Vec<String> {
        reported
            .iter()
            .filter(|(id, _)| ids.contains(id))
            .map(|(_, error)| error.clone())
            .collect()
    };
    wait_for(
        "the oldest to be pushed out",
        Duration::from_secs(10),
        || !ours(&reported.lock().unwrap()).is_empty(),
    );
    dave.set(Mode::Up);
    let got = || {
        dave.broadcasts()
            .into_iter()
            .map(|(_, text)| text)
            .filter(|text| text.starts_with("full "))
            .collect::<Vec<_>>()
    };
    wait_for(
        "every message to be delivered or reported",
        Duration::from_secs(30),
        || got().len() + ours(&reported.lock().unwrap()).len() >= total,
    );
    let got = got();
    let reported = ours(&reported.lock().unwrap());
    let numbers: Vec<usize> = got
        .iter()
        .map(|t| t["full ".len()..].parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order, each once: {numbers:?}"
    );
    assert_eq!(
        got.len() + reported.len(),
        total,
        "each message is delivered or reported, once: {reported:?}"
    );
    let pushed_out = reported
        .iter()
        .filter(|e| e.contains("too many messages waiting"))
        .count();
    assert!(pushed_out >= 1, "{reported:?}");
}
