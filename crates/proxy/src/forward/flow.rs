//! Credit-based flow control between the two entries of an exchange or tunnel.
//!
//! A producer (the side reading a socket and sending pieces by message) counts what it sent; the
//! consumer (the side writing them out) gives the credit back once a piece is in its output with
//! room to spare, or when its output drained. The producer stops reading itself the moment its
//! credit runs out, so at most [`OUTPUT_CAP`] plus one read is ever queued between the two,
//! however the loop orders messages and reads: a pause *message* could be overtaken by reads that
//! keep finding data.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::OUTPUT_CAP;

/// Whether a producer reads its socket or waits for credit to come back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Credit {
    /// Reading: the consumer has room.
    #[default]
    Flowing,
    /// Reading paused until the consumer sends a resume.
    Paused,
}

/// The shared counter of one direction.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    queued: AtomicUsize,
    producer_waiting: AtomicBool,
}

impl Flow {
    /// The producer sent `n` bytes; `true` means it is out of credit and must pause reading
    /// until the consumer sends a resume.
    pub fn sent(&self, n: usize) -> bool {
        let queued = self.queued.fetch_add(n, Ordering::Relaxed) + n;
        if queued > OUTPUT_CAP {
            self.producer_waiting.store(true, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// The consumer is done with `n` bytes; `true` means the producer is waiting and should now
    /// be resumed.
    pub fn consumed(&self, n: usize) -> bool {
        let before = self.queued.load(Ordering::Relaxed);
        let queued = before.saturating_sub(n);
        self.queued.store(queued, Ordering::Relaxed);
        queued <= OUTPUT_CAP / 2 && self.producer_waiting.swap(false, Ordering::Relaxed)
    }
}

/// The consumer's side of a flow: credit held back while its own output is over the cap.
#[derive(Debug, Default)]
pub(crate) struct Held {
    bytes: usize,
    drain_asked: bool,
}

impl Held {
    /// `n` bytes were just written to an output now `pending` long. Returns `true` when the
    /// producer should be resumed; asks for `on_drained` (through `notify`) when holding.
    pub fn written(
        &mut self,
        flow: &Flow,
        n: usize,
        pending: usize,
        notify: impl FnOnce(),
    ) -> bool {
        if pending > OUTPUT_CAP {
            self.bytes += n;
            if !self.drain_asked {
                self.drain_asked = true;
                notify();
            }
            false
        } else {
            flow.consumed(n)
        }
    }

    /// The output drained: give back what was held. `true` when the producer should resume.
    pub fn drained(&mut self, flow: &Flow) -> bool {
        self.drain_asked = false;
        flow.consumed(std::mem::take(&mut self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_pauses_past_the_cap_and_resumes_below_half() {
        let flow = Flow::default();
        let mut held = Held::default();
        let piece = 64 * 1024;
        let mut sent = 0;
        while !flow.sent(piece) {
            sent += 1;
        }
        assert_eq!(
            sent,
            OUTPUT_CAP / piece,
            "pauses on the piece crossing the cap"
        );
        // The consumer's output is full: credit is held, drain requested once.
        let mut notified = 0;
        assert!(!held.written(&flow, piece, OUTPUT_CAP + 1, || notified += 1));
        assert!(!held.written(&flow, piece, OUTPUT_CAP + 1, || notified += 1));
        assert_eq!(notified, 1);
        // Written out with room: credit comes back, the producer resumes once below half.
        assert!(!held.written(&flow, piece, 0, || ()));
        assert!(held.drained(&flow), "resume once below half the cap");
        assert!(!flow.consumed(piece), "only one resume per pause");
    }
}
