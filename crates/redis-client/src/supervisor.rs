//! The agent that keeps one connection to Redis: it dials, and after a failure dials again with
//! exponential back-off ([`MIN_BACKOFF`] doubling to [`MAX_BACKOFF`]).

use std::sync::Arc;
use std::time::Duration;

use reactor::{Cx, Message, Protocol};

use crate::link::{Arm, Link};
use crate::{MAX_BACKOFF, MIN_BACKOFF, Shared};

/// What the connection tells the supervisor.
pub(crate) enum LinkEvent {
    /// Connected.
    Up,
    /// Gone (its calls have failed); dial again after the back-off.
    Down,
}

pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    backoff: Duration,
}

impl Supervisor {
    pub(crate) fn new(shared: Arc<Shared>) -> Supervisor {
        Supervisor {
            shared,
            backoff: MIN_BACKOFF,
        }
    }

    fn dial(&mut self, cx: &mut Cx<'_>) {
        let link = Link::new(self.shared.clone(), cx.id(), cx.now());
        let id = cx.connect(self.shared.url.addr, Box::new(link));
        cx.send(id, Box::new(Arm));
        let mut conn = self.shared.lock();
        conn.link = Some(id);
        conn.in_flight = 0;
    }
}

impl Protocol for Supervisor {
    fn on_open(&mut self, cx: &mut Cx<'_>) {
        self.dial(cx);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: Message) {
        let Ok(event) = msg.downcast::<LinkEvent>() else {
            return;
        };
        match *event {
            LinkEvent::Up => self.backoff = MIN_BACKOFF,
            LinkEvent::Down if !cx.is_shutting_down() => {
                cx.set_timeout(self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
            LinkEvent::Down => {}
        }
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        cx.set_deadline(None);
        self.dial(cx);
    }
}
