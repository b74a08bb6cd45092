//! The agent that keeps one connection to Redis: it dials, and after a failure dials again with
//! exponential back-off ([`MIN_BACKOFF`] doubling to [`MAX_BACKOFF`]).

use std::sync::Arc;
use std::time::Duration;

use reactor::{Addr, Cx, Inbox, Protocol};

use crate::link::{Link, LinkMsg};
use crate::{MAX_BACKOFF, MIN_BACKOFF, Shared};

/// What the connection tells the supervisor.
pub(crate) enum LinkEvent {
    /// Connected.
    Up,
    /// Gone (its calls have failed); dial again after the back-off.
    Down,
}

pub(crate) struct Supervisor {
    me: Addr<Supervisor>,
    shared: Arc<Shared>,
    backoff: Duration,
}

impl Supervisor {
    pub(crate) fn new(me: Addr<Supervisor>, shared: Arc<Shared>) -> Supervisor {
        Supervisor {
            me,
            shared,
            backoff: MIN_BACKOFF,
        }
    }

    fn dial(&mut self, cx: &mut Cx<'_>) {
        let inbox = Inbox::default();
        let addr = inbox.addr();
        let link = Link::new(self.shared.clone(), self.me.clone(), cx.now());
        cx.connect(self.shared.url.addr, inbox.bind(link));
        cx.send(&addr, LinkMsg::Arm);
        let mut conn = self.shared.lock();
        conn.link = Some(addr);
        conn.in_flight = 0;
    }
}

impl Protocol for Supervisor {
    type Message = LinkEvent;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        self.dial(cx);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, cx: &mut Cx<'_>, event: LinkEvent) {
        match event {
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
