//! Our own messages: stored first, then sent on every link that should carry them and handed
//! to the courier for each course peer that should get them; [`Sent`] says whom they reached,
//! so no caller answers "sent" for a message that went nowhere.

use serde::Serialize;

use super::{Core, Node, Out, lock};
use crate::error::Result;
use crate::message::Message;
use crate::node::{Action, Outgoing};

/// How far one of our messages got when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Written to at least one linked peer's connection.
    Sent,
    /// No link carries it, but it waits for course peers (failures come as `undelivered`).
    Queued,
    /// Stored, and no peer was there to send it to: no link, no course peer.
    Stored,
}

/// A course peer our message waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CourseRecipient {
    /// Its peer id.
    pub peer_id: String,
    /// Always `queued`: the courier's outcome comes later, as an `undelivered` event if it fails.
    pub status: &'static str,
}

/// One of our messages and whom it reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// The message, as stored.
    pub message: Message,
    /// The overall outcome.
    pub status: Delivery,
    /// Linked peers it was written to.
    pub linked: Vec<String>,
    /// Course peers it waits for.
    pub course: Vec<CourseRecipient>,
}

impl Sent {
    /// One line for people: what happened to the message.
    pub fn note(&self) -> String {
        match self.status {
            Delivery::Sent => format!("sent to {} linked peer(s)", self.linked.len()),
            Delivery::Queued => format!(
                "queued for {} course peer(s); a failure will be reported",
                self.course.len()
            ),
            Delivery::Stored => "stored, but no peer is reachable: no links and no course \
                                 peers to deliver to"
                .to_owned(),
        }
    }
}

impl Node {
    /// Posts to a joined channel: stored, then sent to every linked member and queued for
    /// every course peer among its members.
    pub fn post(&self, channel: &str, text: &str) -> Result<Sent> {
        let mut core = lock(&self.shared);
        let ts = core.wall_clock.now_ms();
        let out = core.state.post(channel, text, ts)?;
        self.send_own(&mut core, out)
    }

    /// Sends a direct message to `to`, a linked peer's id or name (see
    /// [`NodeState::resolve_peer`](crate::node::NodeState::resolve_peer)) or a course peer's
    /// id: stored, then sent on its link (or by the courier). A target that names nobody,
    /// several peers, or a peer with no open link is an error and nothing is stored.
    pub fn direct(&self, to: &str, text: &str) -> Result<Sent> {
        let mut core = lock(&self.shared);
        let to = match core.state.resolve_peer(to) {
            Ok(id) => id,
            // A course peer has no link: the courier takes our message over its HTTP.
            Err(_) if core.course_peers.contains_key(to) => to.to_owned(),
            Err(e) => return Err(e),
        };
        let ts = core.wall_clock.now_ms();
        let out = core.state.direct(&to, text, ts)?;
        self.send_own(&mut core, out)
    }

    /// Stored before acknowledged (SPEC §6): a message the store refuses is dropped whole (not
    /// kept, not sent, its seq free again) and the failure is the user's answer.
    fn send_own(&self, core: &mut Core, out: Outgoing) -> Result<Sent> {
        if let Err(e) = core.store.append(&out.msg) {
            log::error!("cannot store {}: {e}", out.msg.id);
            return Err(e);
        }
        let message = out.msg.clone();
        let frames = core.state.commit(out);
        let links: Vec<_> = frames.iter().map(|(link, _)| *link).collect();
        let linked = core
            .state
            .peers()
            .into_iter()
            .filter(|p| links.contains(&p.link))
            .map(|p| p.peer_id)
            .collect::<Vec<_>>();
        let actions = frames
            .into_iter()
            .map(|(link, frame)| Action::Send(link, frame))
            .collect();
        core.apply(actions, &mut Out::Handle(&self.handle));
        let course: Vec<CourseRecipient> = core
            .deliver_to_course_peers(&message)
            .into_iter()
            .map(|peer_id| CourseRecipient {
                peer_id,
                status: "queued",
            })
            .collect();
        let status = match (links.is_empty(), course.is_empty()) {
            (false, _) => Delivery::Sent,
            (true, false) => Delivery::Queued,
            (true, true) => Delivery::Stored,
        };
        if status == Delivery::Stored {
            log::info!("{} is stored, but no peer is reachable", message.id);
        }
        Ok(Sent {
            message,
            status,
            linked,
            course,
        })
    }
}
