//! The client against a real redis-server of the test's own: pipelined calls, a database other
//! than 0, errors as values, an outage answered at once, and recovery without a restart.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use reactor::{EventLoop, LoopThread};
use redis_client::testing::RedisServer;
use redis_client::{Error, Pipeline, Redis, Replies, State, Url, Value};

const WAIT: Duration = Duration::from_secs(10);

/// A client on a loop of its own.
fn client(url: &str) -> (Redis, LoopThread) {
    let mut event_loop = EventLoop::new(64).unwrap();
    let redis = Redis::start(&mut event_loop, Url::parse(url).unwrap());
    let thread = event_loop.spawn_thread("redis-test").unwrap();
    (redis, thread)
}

/// One call, waited for.
fn call(redis: &Redis, pipeline: Pipeline) -> Replies {
    let (tx, rx) = mpsc::channel();
    redis.call(pipeline, move |replies| {
        let _ = tx.send(replies);
    });
    rx.recv_timeout(WAIT).expect("every call is answered")
}

fn wait_up(redis: &Redis) {
    let deadline = Instant::now() + WAIT;
    while redis.state() != State::Up {
        assert!(Instant::now() < deadline, "not up: {:?}", redis.state());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn pipelined_calls_get_their_own_replies_in_order() {
    let server = RedisServer::start();
    let (redis, _loop) = client(&server.url().replace("/0", "/3"));
    wait_up(&redis);
    let replies = call(
        &redis,
        Pipeline::new()
            .cmd(&["SET", "k", "v"])
            .cmd(&["GET", "k"])
            .cmd(&["INCR", "k"])
            .cmd(&["GET", "missing"]),
    )
    .unwrap();
    assert_eq!(replies[0], Value::Simple("OK".into()));
    assert_eq!(replies[1], Value::Bulk(b"v".to_vec()));
    assert!(matches!(&replies[2], Value::Error(e) if e.contains("not an integer")));
    assert_eq!(replies[3], Value::Nil);
    // The key went to database 3.
    assert_eq!(server.cmd(&["DBSIZE"]), Value::Int(0));

    // A reply far larger than one read: 3 MiB.
    let big = "x".repeat(3 * 1024 * 1024);
    let replies = call(
        &redis,
        Pipeline::new()
            .cmd(&["SET", "big", &big])
            .cmd(&["GET", "big"]),
    )
    .unwrap();
    assert_eq!(replies[1], Value::Bulk(big.into_bytes()));

    // Many calls at once from another thread: each hears its own answer.
    let (tx, rx) = mpsc::channel();
    const N: usize = 5_000;
    for i in 0..N {
        let tx = tx.clone();
        redis.call(
            Pipeline::new()
                .cmd(&["SET", &format!("n{i}"), &i.to_string()])
                .cmd(&["GET", &format!("n{i}")]),
            move |r| {
                let _ = tx.send((i, r));
            },
        );
    }
    for _ in 0..N {
        let (i, replies) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(replies.unwrap()[1], Value::Bulk(i.to_string().into_bytes()));
    }
}

/// A call built when the connection writes it.
fn call_built(redis: &Redis, build: impl FnOnce() -> Pipeline + Send + 'static) -> Replies {
    let (tx, rx) = mpsc::channel();
    redis.call_built(Box::new(move || {
        let answer = move |replies| {
            let _ = tx.send(replies);
        };
        (build(), Box::new(answer))
    }));
    rx.recv_timeout(WAIT).expect("every built call is answered")
}

#[test]
fn a_built_call_is_written_in_order_and_failed_while_redis_is_down() {
    let mut server = RedisServer::start();
    let (redis, _loop) = client(&server.url());
    wait_up(&redis);
    // Behind a plain call: Redis answers them in the order they were asked for.
    let (tx, rx) = mpsc::channel();
    redis.call(Pipeline::new().cmd(&["SET", "k", "1"]), move |r| {
        let _ = tx.send(r);
    });
    let replies = call_built(&redis, || {
        Pipeline::new().cmd(&["INCR", "k"]).cmd(&["GET", "k"])
    })
    .unwrap();
    assert_eq!(replies, [Value::Int(2), Value::Bulk(b"2".to_vec())]);
    assert_eq!(rx.recv_timeout(WAIT).unwrap().unwrap().len(), 1);
    // An empty pipeline is answered with no replies.
    assert_eq!(call_built(&redis, Pipeline::new), Ok(Vec::new()));

    server.stop();
    wait_for_down(&redis);
    // Built at once, and told why it was not sent.
    let outcome = call_built(&redis, || Pipeline::new().cmd(&["PING"]));
    assert!(
        matches!(outcome, Err(Error::Unavailable { .. })),
        "{outcome:?}"
    );
}

fn wait_for_down(redis: &Redis) {
    let deadline = Instant::now() + WAIT;
    while !matches!(redis.state(), State::Down { .. }) {
        assert!(Instant::now() < deadline, "still {:?}", redis.state());
        // Calls find out that the connection is gone.
        let _ = call(redis, Pipeline::new().cmd(&["PING"]));
    }
}

#[test]
fn an_outage_fails_calls_at_once_and_the_client_comes_back_by_itself() {
    let mut server = RedisServer::start();
    let (redis, _loop) = client(&server.url());
    wait_up(&redis);
    assert!(call(&redis, Pipeline::new().cmd(&["PING"])).is_ok());

    server.stop();
    let deadline = Instant::now() + WAIT;
    // Failed by the closed connection, not by a timer running out: the reasons the call and
    // connect timeouts give.
    let timed_out = [
        format!("no reply within {:?}", redis_client::CALL_TIMEOUT),
        format!("no connection within {:?}", redis_client::CONNECT_TIMEOUT),
    ];
    loop {
        let outcome = call(&redis, Pipeline::new().cmd(&["PING"]));
        if let Err(Error::Unavailable { reason, .. }) = &outcome {
            assert!(!reason.is_empty());
            assert!(!timed_out.contains(reason), "{outcome:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still answering: {outcome:?}");
    }
    assert!(matches!(redis.state(), State::Down { .. }));

    server.restart();
    wait_up(&redis);
    let replies = call(&redis, Pipeline::new().cmd(&["SET", "back", "1"])).unwrap();
    assert_eq!(replies, [Value::Simple("OK".into())]);
}

#[test]
fn a_server_that_is_not_there_is_unavailable_not_a_hang() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (redis, _loop) = client(&format!("redis://127.0.0.1:{port}"));
    let outcome = call(&redis, Pipeline::new().cmd(&["PING"]));
    assert!(
        matches!(outcome, Err(Error::Unavailable { .. })),
        "{outcome:?}"
    );
}

#[test]
fn urls() {
    assert_eq!(Url::parse("redis://127.0.0.1").unwrap().addr.port(), 6379);
    assert_eq!(Url::parse("redis://127.0.0.1:7000/5").unwrap().db, 5);
    assert!(Url::parse("redis://127.0.0.1/x").is_err());
    assert!(Url::parse("redis://u:p@127.0.0.1").is_err());
    assert_eq!(
        Url::parse("redis://[::1]:7000/1").unwrap().to_string(),
        "redis://[::1]:7000/1"
    );
}
