//! A built daemon run by a test as a child process: its output as lines on a channel, the
//! address it logs, its exit status waited for with a deadline, and no orphan when the test
//! fails (the child is killed and reaped when dropped).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::wait_for;

/// What a daemon logs once it accepts connections, followed by its address.
pub const LISTENING: &str = "listening on http://";

/// A child process that is killed and reaped when dropped, however the test ends.
#[derive(Debug)]
pub struct Daemon {
    /// The process; its pipes are taken by [`Daemon::stdout`] and [`Daemon::stderr`].
    pub child: Child,
}

impl Daemon {
    /// Starts `command`, failing the test if it cannot.
    pub fn spawn(command: &mut Command) -> Daemon {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
        Daemon { child }
    }

    /// The child's stdout as [`Lines`]; the command must have piped it. Once only.
    pub fn stdout(&mut self) -> Lines {
        Lines::new(
            self.child
                .stdout
                .take()
                .expect("stdout piped and not taken yet"),
        )
    }

    /// The child's stderr (the log) as [`Lines`]; the command must have piped it. Once only.
    pub fn stderr(&mut self) -> Lines {
        Lines::new(
            self.child
                .stderr
                .take()
                .expect("stderr piped and not taken yet"),
        )
    }

    /// The process id, for `kill -s SIGNAL`.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...) with kill(1), failing the test if it cannot.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits up to `timeout` for the process to exit (failing the test after) and answers how.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        wait_for("the daemon to exit", timeout, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.expect("waited until it exited")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // An exited child is only reaped: there is nothing left to kill.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The lines of a child's output, read on a thread of their own as they come, so that a test
/// can wait for one with a deadline.
#[derive(Debug)]
pub struct Lines(Receiver<String>);

impl Lines {
    /// Reads `from` line by line until it ends. Reading goes on when the `Lines` are dropped,
    /// so a child that keeps logging never blocks on a full pipe.
    pub fn new(from: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Lines(rx)
    }

    /// The next line, if one comes within `wait`.
    pub fn next(&self, wait: Duration) -> Option<String> {
        self.0.recv_timeout(wait).ok()
    }

    /// The next line containing `needle` and the lines skipped before it; fails the test if
    /// none comes within `wait`.
    pub fn until(&self, needle: &str, wait: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + wait;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return (line, skipped),
                Ok(line) => skipped.push(line),
                Err(_) => panic!("no line with {needle:?} within {wait:?}; before: {skipped:?}"),
            }
        }
    }

    /// The address of the next [`LISTENING`] line and the lines before it; fails the test if
    /// the daemon does not say within `wait`.
    pub fn listening(&self, wait: Duration) -> (SocketAddr, Vec<String>) {
        let (line, before) = self.until(LISTENING, wait);
        let addr = line
            .split(LISTENING)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        (addr, before)
    }

    /// Every line read so far and not taken yet, without waiting.
    pub fn rest(&self) -> Vec<String> {
        self.0.try_iter().collect()
    }
}
