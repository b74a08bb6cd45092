//! The two-way byte tunnel both sides of an upgraded exchange become after the `101`.

use std::sync::Arc;

use bytes::Bytes;
use reactor::{Addr, CloseReason, Cx, Handle, Protocol};

use super::READ_LIMIT;
use super::flow::{Flow, Held};

/// What one half of a tunnel tells the other.
pub(crate) enum TunnelMsg {
    /// Bytes read from this side's socket, for the other side's.
    Data(Bytes),
    /// This side closed: close after flushing.
    Eof,
    /// Credit came back: read again.
    Resume,
}

/// One side of a tunnel: what it reads goes to `peer`, what `peer` sends is written out.
pub(crate) struct Tunnel {
    peer: Addr<Tunnel>,
    handle: Handle,
    /// What this side reads and sends.
    outbound: Arc<Flow>,
    /// What the peer sends and this side writes.
    inbound: Arc<Flow>,
    held: Held,
    peer_told: bool,
}

impl Tunnel {
    pub fn new(
        peer: Addr<Tunnel>,
        handle: Handle,
        outbound: Arc<Flow>,
        inbound: Arc<Flow>,
    ) -> Tunnel {
        Tunnel {
            peer,
            handle,
            outbound,
            inbound,
            held: Held::default(),
            peer_told: false,
        }
    }
}

impl Protocol for Tunnel {
    type Message = TunnelMsg;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_read_limit(READ_LIMIT);
        cx.set_deadline(None);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        let was_full = cx.input().len() >= READ_LIMIT;
        let data = cx.input().split().freeze();
        if !data.is_empty() {
            if self.outbound.sent(data.len()) {
                cx.pause_reading();
            }
            cx.send(&self.peer, TunnelMsg::Data(data));
        }
        if was_full {
            // The loop stopped reading at the cap; nothing else would wake it.
            cx.reread();
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        self.peer_told = true;
        cx.send(&self.peer, TunnelMsg::Eof);
        cx.close();
    }

    fn on_drained(&mut self, cx: &mut Cx<'_>) {
        if self.held.drained(&self.inbound) {
            cx.send(&self.peer, TunnelMsg::Resume);
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: TunnelMsg) {
        match msg {
            TunnelMsg::Data(data) => {
                cx.write(&data);
                let pending = cx.pending_output();
                let mut drain = false;
                if self
                    .held
                    .written(&self.inbound, data.len(), pending, || drain = true)
                {
                    cx.send(&self.peer, TunnelMsg::Resume);
                }
                if drain {
                    cx.notify_drained();
                }
            }
            TunnelMsg::Eof => {
                self.peer_told = true;
                cx.close();
            }
            TunnelMsg::Resume => cx.resume_reading(),
        }
    }

    fn on_close(&mut self, _reason: CloseReason) {
        if !self.peer_told {
            self.handle.send(&self.peer, TunnelMsg::Eof);
        }
    }
}
