//! Typed addresses: each entry of protocol `P` owns a mailbox of `P::Message`; an [`Addr<P>`]
//! reaches it, so sending the wrong message type is a compile error.
//!
//! Sending pushes into the typed queue and wakes the loop with the untyped [`ConnId`]; the
//! loop's type-erased [`Driver`] (a [`Slot<P>`]) pops one message per wake and hands it to
//! [`Protocol::on_message`]. A protocol that takes over a connection ([`Cx::upgrade`]) comes
//! with a new mailbox, so addresses of the old protocol stop working instead of delivering to
//! a protocol that does not understand them.

use super::{CloseReason, ConnId, Cx, Protocol};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// The queue behind an [`Addr`], and the entry it belongs to once bound.
pub(crate) struct Mailbox<M> {
    state: Mutex<MailboxState<M>>,
}

struct MailboxState<M> {
    /// `None` until the entry is in the loop.
    id: Option<ConnId>,
    queue: VecDeque<M>,
}

impl<M> Mailbox<M> {
    fn new() -> Mailbox<M> {
        Mailbox {
            state: Mutex::new(MailboxState {
                id: None,
                queue: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState<M>> {
        // A queue is consistent after any panic: a push or pop either happened or did not.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `msg`; returns the entry to wake, or `None` before it is bound (binding wakes it
    /// for what is already queued).
    fn push(&self, msg: M) -> Option<ConnId> {
        let mut state = self.lock();
        state.queue.push_back(msg);
        state.id
    }

    fn pop(&self) -> Option<M> {
        self.lock().queue.pop_front()
    }

    /// Binds the mailbox to entry `id`; returns how many messages wait for a wake.
    fn bind(&self, id: ConnId) -> usize {
        let mut state = self.lock();
        state.id = Some(id);
        state.queue.len()
    }

    /// Unbinds the mailbox of a protocol being replaced and drops what it holds; returns how
    /// many wakes are still owed for it (one per queued message). Later sends wake no one.
    fn retire(&self) -> usize {
        let mut state = self.lock();
        state.id = None;
        let owed = state.queue.len();
        state.queue.clear();
        owed
    }
}

/// The address of an entry running protocol `P`: what [`Cx::send`] and
/// [`Handle::send`](crate::Handle::send) take. Cheap to clone, usable from any thread. Holds
/// only a weak reference: once the entry is gone (or has switched protocols), messages to it
/// are dropped.
///
/// ```
/// use reactor::{Addr, Cx, Handle, Protocol};
///
/// struct Counter(u32);
///
/// impl Protocol for Counter {
///     type Message = u32;
///     fn on_read(&mut self, _cx: &mut Cx<'_>) {}
///     fn on_message(&mut self, _cx: &mut Cx<'_>, n: u32) {
///         self.0 += n;
///     }
/// }
///
/// fn poke(handle: &Handle, to: &Addr<Counter>) {
///     handle.send(to, 1);
/// }
/// ```
///
/// A message of another type does not compile:
///
/// ```compile_fail
/// # use reactor::{Addr, Cx, Handle, Protocol};
/// # struct Counter(u32);
/// # impl Protocol for Counter {
/// #     type Message = u32;
/// #     fn on_read(&mut self, _cx: &mut Cx<'_>) {}
/// # }
/// fn poke(handle: &Handle, to: &Addr<Counter>) {
///     handle.send(to, "one");
/// }
/// ```
pub struct Addr<P: Protocol> {
    mailbox: Weak<Mailbox<P::Message>>,
}

impl<P: Protocol> Addr<P> {
    /// The entry's id, once it runs in a loop and while it lives.
    pub fn id(&self) -> Option<ConnId> {
        self.mailbox.upgrade().and_then(|m| m.lock().id)
    }

    /// Queues `msg`; returns the entry to wake, if there is one to wake now.
    pub(crate) fn push(&self, msg: P::Message) -> Option<ConnId> {
        self.mailbox.upgrade()?.push(msg)
    }
}

impl<P: Protocol> Clone for Addr<P> {
    fn clone(&self) -> Self {
        Addr {
            mailbox: self.mailbox.clone(),
        }
    }
}

/// Two addresses are equal when they reach the same mailbox.
impl<P: Protocol> PartialEq for Addr<P> {
    fn eq(&self, other: &Self) -> bool {
        Weak::ptr_eq(&self.mailbox, &other.mailbox)
    }
}

impl<P: Protocol> Eq for Addr<P> {}

impl<P: Protocol> std::hash::Hash for Addr<P> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.mailbox.as_ptr().hash(state);
    }
}

impl<P: Protocol> fmt::Debug for Addr<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            Some(id) => write!(f, "Addr({id})"),
            None => f.write_str("Addr(unbound)"),
        }
    }
}

/// The mailbox of an entry not yet in the loop: take its [`addr`](Inbox::addr) first (to hand
/// to others, or to the protocol itself), then [`bind`](Inbox::bind) the protocol to it.
/// Messages sent before the entry starts wait for it.
pub struct Inbox<P: Protocol> {
    mailbox: Arc<Mailbox<P::Message>>,
}

impl<P: Protocol> Default for Inbox<P> {
    fn default() -> Self {
        Inbox {
            mailbox: Arc::new(Mailbox::new()),
        }
    }
}

impl<P: Protocol> Inbox<P> {
    /// The address messages for this mailbox go to.
    pub fn addr(&self) -> Addr<P> {
        Addr {
            mailbox: Arc::downgrade(&self.mailbox),
        }
    }

    /// The protocol that reads this mailbox, ready to be added to a loop.
    pub fn bind(self, proto: P) -> Session {
        Session {
            driver: Box::new(Slot {
                proto,
                mailbox: self.mailbox,
                stale_wakes: 0,
            }),
        }
    }
}

/// A protocol with its mailbox, type-erased, ready for the loop: what [`EventLoop::spawn`],
/// [`EventLoop::connect`], [`Cx::upgrade`] and acceptors take. Any protocol converts into one
/// (`proto.into()`); build it with [`Session::with_addr`] or an [`Inbox`] when someone needs
/// its address.
///
/// [`EventLoop::spawn`]: super::EventLoop::spawn
/// [`EventLoop::connect`]: super::EventLoop::connect
pub struct Session {
    pub(crate) driver: Box<dyn Driver>,
}

impl Session {
    /// A session for `proto`, which no one addresses.
    pub fn new<P: Protocol>(proto: P) -> Session {
        Inbox::default().bind(proto)
    }

    /// A session for the protocol `make` builds, given its own address.
    pub fn with_addr<P: Protocol>(make: impl FnOnce(Addr<P>) -> P) -> Session {
        let inbox = Inbox::default();
        let proto = make(inbox.addr());
        inbox.bind(proto)
    }
}

impl<P: Protocol> From<P> for Session {
    fn from(proto: P) -> Session {
        Session::new(proto)
    }
}

/// One callback the loop asks of an entry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Callback {
    Open,
    Read,
    Eof,
    Drained,
    Timeout,
    /// Deliver the next queued message.
    Message,
    Shutdown,
}

/// A protocol as the loop drives it, without its message type.
pub(crate) trait Driver: Send {
    fn call(&mut self, cx: &mut Cx<'_>, callback: Callback);
    /// See [`Mailbox::bind`].
    fn bind(&self, id: ConnId) -> usize;
    /// See [`Mailbox::retire`].
    fn retire(&self) -> usize;
    /// Takes over from a protocol whose mailbox still had `owed` wakes on their way: that many
    /// message wakes are skipped, so a message never runs ahead of this protocol's `on_open`.
    fn skip_wakes(&mut self, owed: usize);
    fn close(&mut self, reason: CloseReason);
}

/// A protocol and the mailbox it reads.
struct Slot<P: Protocol> {
    proto: P,
    mailbox: Arc<Mailbox<P::Message>>,
    /// Wakes meant for the mailbox of the protocol this one replaced.
    stale_wakes: usize,
}

impl<P: Protocol> Driver for Slot<P> {
    fn call(&mut self, cx: &mut Cx<'_>, callback: Callback) {
        let proto = &mut self.proto;
        match callback {
            Callback::Open => proto.on_open(cx),
            Callback::Read => proto.on_read(cx),
            Callback::Eof => proto.on_eof(cx),
            Callback::Drained => proto.on_drained(cx),
            Callback::Timeout => proto.on_timeout(cx),
            Callback::Message if self.stale_wakes > 0 => self.stale_wakes -= 1,
            Callback::Message => {
                if let Some(msg) = self.mailbox.pop() {
                    proto.on_message(cx, msg);
                }
            }
            Callback::Shutdown => proto.on_shutdown(cx),
        }
    }

    fn bind(&self, id: ConnId) -> usize {
        self.mailbox.bind(id)
    }

    fn retire(&self) -> usize {
        self.mailbox.retire()
    }

    fn skip_wakes(&mut self, owed: usize) {
        self.stale_wakes += owed;
    }

    fn close(&mut self, reason: CloseReason) {
        self.proto.on_close(reason);
    }
}
