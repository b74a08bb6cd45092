//! The Redis store against a redis-server of the test's own, driven from a loop as the tracker
//! drives it: heartbeats asked for in one loop turn go to Redis as one script call, and each
//! hears its own answer.

use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use reactor::{Cx, EventLoop, Protocol};
use redis_client::testing::RedisServer;
use redis_client::{Url, Value};
use tracker_core::registry::{Config, Credentials, HeartbeatAck, RegisterParams};
use tracker_core::{Result, Store};
use tracker_redis::RedisStore;

const WAIT: Duration = Duration::from_secs(10);

/// Asks for every heartbeat of `beats` in one callback, so in one loop turn.
struct Beats {
    store: Arc<RedisStore>,
    beats: Vec<Credentials>,
    answers: Sender<(usize, Result<HeartbeatAck>)>,
}

impl Protocol for Beats {
    type Message = ();

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        for (i, creds) in std::mem::take(&mut self.beats).into_iter().enumerate() {
            let answers = self.answers.clone();
            self.store.heartbeat(
                creds,
                0,
                Box::new(move |outcome| {
                    let _ = answers.send((i, outcome));
                }),
            );
        }
        cx.close();
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}
}

fn evalsha_calls(server: &RedisServer) -> u64 {
    let Value::Bulk(text) = server.cmd(&["INFO", "commandstats"]) else {
        panic!("INFO answers a bulk string");
    };
    String::from_utf8(text)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|l| l.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn heartbeats_of_one_loop_turn_are_one_script_call_each_answered_on_its_own() {
    let server = RedisServer::start();
    let mut event_loop = EventLoop::new(64).unwrap();
    let store = Arc::new(RedisStore::start(
        &mut event_loop,
        Url::parse(&server.url()).unwrap(),
        Config::default(),
    ));
    let running = event_loop.spawn_thread("store-test").unwrap();
    let deadline = Instant::now() + WAIT;
    while !store.health().ok {
        assert!(Instant::now() < deadline, "{:?}", store.health());
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut peers = Vec::new();
    for port in 5001..5004 {
        let (tx, rx) = channel();
        let params = RegisterParams {
            port,
            ..Default::default()
        };
        let source = "127.0.0.1".parse().unwrap();
        store.register(params, source, 0, Box::new(move |r| tx.send(r).unwrap()));
        peers.push(rx.recv_timeout(WAIT).unwrap().unwrap());
    }
    let creds = |i: usize, token: Option<&str>| Credentials {
        peer_id: peers[i].peer_id.clone(),
        token: token.map(str::to_owned),
    };
    let beats = vec![
        creds(0, Some(&peers[0].token)),
        creds(1, Some(&"0".repeat(32))),
        Credentials {
            peer_id: "nobody:1".to_owned(),
            token: Some(peers[2].token.clone()),
        },
        creds(2, None),
        creds(2, Some(&peers[2].token)),
        creds(1, Some(&peers[1].token)),
    ];
    let count = beats.len();
    let before = evalsha_calls(&server);
    let (tx, rx) = channel();
    running.handle().spawn(Beats {
        store: store.clone(),
        beats,
        answers: tx,
    });
    let mut statuses = vec![0; count];
    for _ in 0..count {
        let (i, outcome) = rx.recv_timeout(WAIT).unwrap();
        statuses[i] = match outcome {
            Ok(ack) => {
                assert_eq!(ack.ttl, peers[0].ttl);
                200
            }
            Err(e) => e.status(),
        };
    }
    assert_eq!(statuses, [200, 403, 404, 403, 200, 200]);
    assert_eq!(evalsha_calls(&server) - before, 1);
    let (tx, rx) = channel();
    store.stats(0, Box::new(move |s| tx.send(s).unwrap()));
    assert_eq!(rx.recv_timeout(WAIT).unwrap().unwrap().heartbeats, 3);
    running.shutdown().unwrap();
}
