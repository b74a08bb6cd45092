//! Channels: open or key-protected groups of peers, created on first join, dropped when empty.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrackerError};
use crate::limits::{self, bad};
use crate::paging::{self, Page, Paged};
use crate::registry::{Registry, not_registered};
use crate::secret::KeyHash;

/// One channel. Members are the registry's own id `Arc`s, so a membership costs one pointer.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) policy: Policy,
    pub(crate) members: BTreeSet<Arc<str>>,
}

/// Who may join; a key channel stores only the SHA-256 of its key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Policy {
    Open,
    Key(KeyHash),
}

/// A channel's policy as shown to clients: `"open"` or `"key"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// Anyone may join.
    Open,
    /// Joining needs the key given by the peer that created the channel.
    Key,
}

/// One entry of `GET /channels`: `{name, policy, members}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelView {
    /// The channel's name.
    pub name: String,
    /// `"open"` or `"key"`.
    pub policy: PolicyKind,
    /// Ids of the live members, sorted.
    pub members: Vec<String>,
}

/// Body of `POST /add-list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct JoinParams {
    /// The joining peer.
    pub peer_id: String,
    /// Its token.
    pub token: Option<String>,
    /// The channel, created if absent.
    pub channel: String,
    /// The channel's key; creates a key channel when the channel is new. Empty means none.
    pub key: Option<String>,
}

/// Answer to a join: `{channel, members}` (live member ids, sorted, including the joiner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Joined {
    /// The channel joined.
    pub channel: String,
    /// Its members.
    pub members: Vec<String>,
}

/// Body of `POST /tracker/channels/leave`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LeaveParams {
    /// The leaving peer.
    pub peer_id: String,
    /// Its token.
    pub token: Option<String>,
    /// The channel; leaving one the peer is not in is a no-op.
    pub channel: String,
}

impl Registry {
    /// Joins a channel, creating it (key-protected when `key` is given, open otherwise) if it
    /// does not exist. Joining a key channel needs its key, even for a member re-joining.
    pub fn join(&mut self, params: JoinParams, now: u64) -> Result<Joined> {
        self.expire(now);
        self.authed(&params.peer_id, params.token.as_deref())?;
        limits::channel(&params.channel)?;
        let key = limits::key(params.key.as_deref())?;
        let id = self
            .key_of(&params.peer_id)
            .ok_or_else(|| not_registered(&params.peer_id))?;
        self.add_member(&id, &params.channel, key)?;
        self.touch(&id, now);
        let members = self.live_members(&params.channel, now);
        Ok(Joined {
            channel: params.channel,
            members,
        })
    }

    /// Leaves a channel; the channel is dropped when its last member leaves.
    pub fn leave(&mut self, params: LeaveParams, now: u64) -> Result<()> {
        self.expire(now);
        let peer = self.authed(&params.peer_id, params.token.as_deref())?;
        limits::channel(&params.channel)?;
        if peer.channels.iter().any(|c| **c == *params.channel) {
            peer.channels = peer
                .channels
                .iter()
                .filter(|c| ***c != *params.channel)
                .cloned()
                .collect();
            self.remove_member(&params.peer_id, &params.channel);
        }
        self.touch(&params.peer_id, now);
        Ok(())
    }

    /// One page of the channels with at least one live member, by name (see [`paging`]);
    /// every member listed counts towards the page's work, so big channels make a shorter page.
    pub fn channels(&self, page: &Page, now: u64) -> Paged<ChannelView> {
        let entries = self
            .channels
            .range::<str, _>(page.keys())
            .map(|(name, c)| (&**name, c));
        let view = |name: &str, c: &Channel| {
            let members = self.live_members(name, now);
            (!members.is_empty()).then(|| ChannelView {
                name: name.to_string(),
                policy: match c.policy {
                    Policy::Open => PolicyKind::Open,
                    Policy::Key(_) => PolicyKind::Key,
                },
                members,
            })
        };
        paging::collect_weighted(page, entries, view, |c| c.members.len())
    }

    /// Validates the channel list of a registration: names, the per-peer cap, and no key
    /// channel (those need [`Registry::join`] with the key). Returns the names without repeats.
    pub(crate) fn check_open_channels(&self, names: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            limits::channel(name)?;
            if let Some(Channel {
                policy: Policy::Key(_),
                ..
            }) = self.channels.get(name.as_str())
            {
                return Err(TrackerError::Forbidden(format!(
                    "channel {name} needs a key; join it with its key"
                )));
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
            // Checked inside the loop so a huge list costs O(n), not O(n²) through `contains`.
            if out.len() > limits::MAX_CHANNELS_PER_PEER {
                return Err(too_many_channels());
            }
        }
        Ok(out)
    }

    /// Puts `id` into `channel`, checking the key and the per-peer cap.
    pub(crate) fn add_member(
        &mut self,
        id: &Arc<str>,
        channel: &str,
        key: Option<&str>,
    ) -> Result<()> {
        let existing = self.channels.get_key_value(channel);
        if let Some((
            _,
            Channel {
                policy: Policy::Key(hash),
                ..
            },
        )) = existing
        {
            match key {
                Some(k) if hash.matches(k) => {}
                Some(_) => {
                    return Err(TrackerError::Forbidden(format!(
                        "wrong key for channel {channel}"
                    )));
                }
                None => {
                    return Err(TrackerError::Forbidden(format!(
                        "channel {channel} needs a key"
                    )));
                }
            }
        }
        let name: Arc<str> = existing.map_or_else(|| channel.into(), |(n, _)| n.clone());
        let peer = self.peers.get_mut(id).ok_or_else(|| not_registered(id))?;
        if peer.channels.contains(&name) {
            return Ok(());
        }
        if peer.channels.len() >= limits::MAX_CHANNELS_PER_PEER {
            return Err(too_many_channels());
        }
        let mut chans = std::mem::take(&mut peer.channels).into_vec();
        let at = chans.binary_search(&name).unwrap_or_else(|i| i);
        chans.insert(at, name.clone());
        peer.channels = chans.into_boxed_slice();
        self.channels
            .entry(name)
            .or_insert_with(|| Channel {
                policy: key.map_or(Policy::Open, |k| Policy::Key(KeyHash::of(k))),
                members: BTreeSet::new(),
            })
            .members
            .insert(id.clone());
        Ok(())
    }

    /// Takes `peer_id` out of the channel's member set (not out of the peer's own list) and
    /// drops the channel once empty.
    pub(crate) fn remove_member(&mut self, peer_id: &str, channel: &str) {
        if let Some(c) = self.channels.get_mut(channel) {
            c.members.remove(peer_id);
            if c.members.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    fn live_members(&self, channel: &str, now: u64) -> Vec<String> {
        let Some(c) = self.channels.get(channel) else {
            return Vec::new();
        };
        c.members
            .iter()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.is_live(now)))
            .map(|id| id.to_string())
            .collect()
    }
}

fn too_many_channels() -> TrackerError {
    bad(format!(
        "a peer may be in at most {} channels",
        limits::MAX_CHANNELS_PER_PEER
    ))
}
