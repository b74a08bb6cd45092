//! A redis-server of a test's own: on a free port of 127.0.0.1, with a temporary directory and no
//! persistence, stopped and removed on drop. Without redis-server on the machine, starting one
//! fails the test with how to install it — such tests are never skipped in silence.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use resp::{Status, Value};

/// How long redis-server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running redis-server.
pub struct RedisServer {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "redis-test-{}-{:x}",
            std::process::id(),
            rand_tag()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory for redis-server");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut server = RedisServer {
                child: None,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir: dir.clone(),
            };
            if server.launch() {
                return server;
            }
            // Another process took the port between our probe and redis-server's bind.
        }
        panic!("redis-server did not start on any of 5 free ports; see its log in {dir:?}");
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    /// Stops it (an outage); [`RedisServer::restart`] brings it back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.launch() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on {}",
                self.addr
            );
        }
    }

    fn launch(&mut self) -> bool {
        let log = std::fs::File::create(self.dir.join("redis.log")).expect("redis.log");
        let spawned = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.addr.port().to_string(),
            ])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "these tests need redis-server, which is not installed: \
                 `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis`"
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            if self.try_cmd(&["PING"]).is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Runs one command with a blocking connection, for a test's own checks.
    pub fn cmd(&self, args: &[&str]) -> Value {
        self.try_cmd(args)
            .unwrap_or_else(|| panic!("redis at {} did not answer {args:?}", self.addr))
    }

    fn try_cmd(&self, args: &[&str]) -> Option<Value> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut out = BytesMut::new();
        resp::encode(args, &mut out);
        stream.write_all(&out).ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Ok(Status::Complete(value, _)) = resp::parse(&buf) {
                return Some(value);
            }
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
