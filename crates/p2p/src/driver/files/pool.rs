//! [`Pool`]: a few worker threads for the file work that would stall the loop — hashing a
//! file, reading a chunk to serve, verifying and writing a fetched chunk. A job is a closure;
//! it hands its result back to the loop itself (a message to an entry, or a
//! [`Responder`](reactor::Responder)), so the loop never waits on a disk.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Worker threads: the machine this targets has two cores, and the loop keeps one busy.
pub const WORKERS: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads taking jobs from one queue. Dropping it lets the workers
/// finish the jobs already queued, then end.
pub struct Pool {
    jobs: Mutex<Option<Sender<Job>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `workers` threads named `name-N`.
    pub fn new(workers: usize, name: &str) -> std::io::Result<Pool> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..workers.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || work(&rx))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Pool {
            jobs: Mutex::new(Some(tx)),
            threads,
        })
    }

    /// Queues `job`; it runs on some worker, in queue order.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = jobs.as_ref() {
            let _ = tx.send(Box::new(job));
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_workers_and_drop_waits_for_them() {
        let (tx, rx) = channel();
        let pool = Pool::new(2, "test-pool").unwrap();
        for i in 0..10 {
            let tx = tx.clone();
            pool.run(move || {
                let name = std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string();
                tx.send((i, name)).unwrap();
            });
        }
        drop(pool);
        let mut got: Vec<(i32, String)> = rx.try_iter().collect();
        got.sort();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|(_, n)| n.starts_with("test-pool-")));
    }
}
