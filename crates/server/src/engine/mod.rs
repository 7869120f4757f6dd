//! The delivery engine: one queue of deliveries (one row per recipient and channel) for every
//! kind of send, each row belonging to a source (see [`source`]). Sources fan out set-based
//! when they are accepted ([`fanout`]); workers take ready rows under fenced, renewed claims,
//! render them ([`compose`]), send them through `loyalcast-delivery`'s channel router and
//! write their outcomes in small groups as they come ([`worker`], [`settle`]); providers and
//! recipients report what happened next ([`events`]). Every statement on the queue is in
//! [`queue`]; credits move in [`credits`].
//!
//! Layering: the engine reads entities, the clock and the counters, and nothing above it
//! (no route, no service); it has its own error type.
//!
//! [`worker::Worker::step`] is one round of claims: the worker loop calls it, tests drive it
//! directly.

pub mod automate;
pub mod compose;
pub mod consent;
pub mod content;
pub mod credits;
pub mod error;
pub mod events;
pub mod fanout;
pub mod links;
pub mod queue;
pub mod settle;
pub mod source;
pub mod worker;

use loyalcast_dto::Channel;

pub use queue::status;

/// What a delivery goes out on, stored as `deliveries.channel`: one of the customer's own
/// channels (consent and credits apply), or a device registered for one of their wallet
/// passes (free; the pass itself carries the message). Each lane is claimed and sent on its
/// own, so a slow one never holds up another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Message(Channel),
    /// An Apple device registered for a pass: an empty APNs notification wakes it to fetch
    /// the updated pass.
    ApplePass,
    /// A Google Wallet pass: a message is added to its loyalty object.
    GooglePass,
    /// A browser subscribed to a pass: an encrypted web push message.
    WebPush,
}

impl Lane {
    pub const ALL: [Lane; 7] = [
        Lane::Message(Channel::Sms),
        Lane::Message(Channel::Email),
        Lane::Message(Channel::Telegram),
        Lane::Message(Channel::Messenger),
        Lane::ApplePass,
        Lane::GooglePass,
        Lane::WebPush,
    ];

    pub fn code(self) -> i16 {
        match self {
            Lane::Message(channel) => channel_code(channel),
            Lane::ApplePass => 4,
            Lane::GooglePass => 5,
            Lane::WebPush => 6,
        }
    }

    pub fn of(code: i16) -> Option<Lane> {
        match code {
            4 => Some(Lane::ApplePass),
            5 => Some(Lane::GooglePass),
            6 => Some(Lane::WebPush),
            _ => channel_of(code).map(Lane::Message),
        }
    }

    /// The customer's channel this lane sends on, if it is one.
    pub fn channel(self) -> Option<Channel> {
        match self {
            Lane::Message(channel) => Some(channel),
            Lane::ApplePass | Lane::GooglePass | Lane::WebPush => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Message(channel) => channel.as_str(),
            Lane::ApplePass => "apple",
            Lane::GooglePass => "google",
            Lane::WebPush => "web",
        }
    }

    /// The lane's place in per-lane arrays.
    pub fn index(self) -> usize {
        usize::try_from(self.code()).unwrap_or(0)
    }
}

impl From<Channel> for Lane {
    fn from(channel: Channel) -> Self {
        Lane::Message(channel)
    }
}

pub fn channel_code(channel: Channel) -> i16 {
    match channel {
        Channel::Sms => 0,
        Channel::Email => 1,
        Channel::Telegram => 2,
        Channel::Messenger => 3,
    }
}

pub fn channel_of(code: i16) -> Option<Channel> {
    match code {
        0 => Some(Channel::Sms),
        1 => Some(Channel::Email),
        2 => Some(Channel::Telegram),
        3 => Some(Channel::Messenger),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Lane;

    #[test]
    fn lanes_are_numbered_from_zero_without_gaps() {
        for (i, lane) in Lane::ALL.into_iter().enumerate() {
            assert_eq!(lane.index(), i, "{lane:?}");
            assert_eq!(Lane::of(lane.code()), Some(lane));
        }
        assert_eq!(
            Lane::of(i16::try_from(Lane::ALL.len()).unwrap_or(i16::MAX)),
            None
        );
    }
}
