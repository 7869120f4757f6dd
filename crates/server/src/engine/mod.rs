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
