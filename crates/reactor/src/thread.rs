//! [`LoopThread`]: an event loop running on a thread of its own, for tests and embedding, and
//! [`Running`], such a loop serving one listener.

use crate::event_loop::EventLoop;
use crate::handle::Handle;
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

/// A loop running on its own thread. Dropping it stops the loop at once and joins the thread;
/// [`shutdown`](LoopThread::shutdown) stops it gracefully instead.
pub struct LoopThread {
    handle: Handle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl EventLoop {
    /// Runs this loop on a new thread called `name`.
    pub fn spawn_thread(self, name: &str) -> io::Result<LoopThread> {
        let handle = self.handle();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || self.run())?;
        Ok(LoopThread {
            handle,
            thread: Some(thread),
        })
    }
}

impl LoopThread {
    /// A handle to the running loop.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Graceful shutdown (as SIGTERM), waiting for the loop to finish.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.handle.shutdown();
        self.join()
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("event loop thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for LoopThread {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.stop();
            let _ = self.join();
        }
    }
}

/// A server on a loop of its own thread: what `spawn` of the router, the proxy and the tracker
/// answer (the tracker and the peer add their state beside it). Dropping it stops the loop at
/// once; [`shutdown`](Running::shutdown) stops it gracefully.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// A handle to its loop.
    pub handle: Handle,
    thread: LoopThread,
}

impl Running {
    /// Runs `event_loop`, already serving on `addr`, on a new thread named `NAME-ADDR`.
    pub fn start(event_loop: EventLoop, name: &str, addr: SocketAddr) -> io::Result<Running> {
        let thread = event_loop.spawn_thread(&format!("{name}-{addr}"))?;
        Ok(Running {
            addr,
            handle: thread.handle().clone(),
            thread,
        })
    }

    /// Graceful shutdown (as SIGTERM), waiting for the loop to finish.
    pub fn shutdown(self) -> io::Result<()> {
        self.thread.shutdown()
    }
}
