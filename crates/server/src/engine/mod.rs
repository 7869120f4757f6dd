//! The delivery engine's database side: the queue of deliveries (one row per recipient and
//! channel), fanned out set-based when a mailing is accepted, claimed in batches by workers
//! under a lease, sent through `loyalcast-delivery`'s channel router, and settled in batches
//! (status, provider id, counters, credits).
//!
//! [`worker::Worker::step`] is one claim-send-settle round: the worker loop calls it, tests
//! drive it directly.

pub mod content;
pub mod events;
pub mod fanout;
pub mod links;
pub mod worker;

use loyalcast_dto::Channel;

/// Delivery states, stored as small integers to keep the hot table narrow.
pub mod status {
    pub const QUEUED: i16 = 0;
    pub const SENDING: i16 = 1;
    pub const SENT: i16 = 2;
    pub const DELIVERED: i16 = 3;
    pub const OPENED: i16 = 4;
    pub const FAILED: i16 = 5;
    pub const UNSUBSCRIBED: i16 = 6;
    pub const CANCELLED: i16 = 7;
    /// Waiting for a scheduled time or for a paused mailing to resume.
    pub const HELD: i16 = 8;
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

/// The credit a channel spends, if any (Telegram and Messenger are free).
pub fn credit_kind(channel: Channel) -> Option<crate::balances::Kind> {
    match channel {
        Channel::Sms => Some(crate::balances::Kind::Sms),
        Channel::Email => Some(crate::balances::Kind::Email),
        Channel::Telegram | Channel::Messenger => None,
    }
}
