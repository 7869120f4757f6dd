//! Counters the process keeps for `/metrics`: HTTP responses, provider sends and where the
//! workers' time goes. A leaf: anything may write to it; only the metrics route reads it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Wall time of a step's phases, for the benchmark and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Lease reaping and starting due scheduled mailings.
    pub upkeep: Duration,
    /// The claiming `UPDATE ... RETURNING`.
    pub claim: Duration,
    /// Reading mailing states, customers and card names, and rendering the messages.
    pub prepare: Duration,
    /// Waiting on the providers.
    pub send: Duration,
    /// Writing outcomes, counters and credits.
    pub settle: Duration,
}

impl Phases {
    /// The phases' names, in the order of [`Phases::durations`].
    pub const NAMES: [&'static str; 5] = ["upkeep", "claim", "prepare", "send", "settle"];

    pub fn durations(&self) -> [Duration; 5] {
        [
            self.upkeep,
            self.claim,
            self.prepare,
            self.send,
            self.settle,
        ]
    }

    pub fn add(&mut self, other: &Phases) {
        self.upkeep += other.upkeep;
        self.claim += other.claim;
        self.prepare += other.prepare;
        self.send += other.send;
        self.settle += other.settle;
    }
}

/// HTTP responses by status class (1xx … 5xx).
pub static RESPONSES: [AtomicU64; crate::engine::Lane::ALL.len()] =
    [const { AtomicU64::new(0) }; crate::engine::Lane::ALL.len()];

/// Provider sends by lane code (`engine::Lane`): count, failures and total seconds (as
/// microseconds).
pub static SENDS: [AtomicU64; crate::engine::Lane::ALL.len()] =
    [const { AtomicU64::new(0) }; crate::engine::Lane::ALL.len()];
pub static SEND_FAILURES: [AtomicU64; crate::engine::Lane::ALL.len()] =
    [const { AtomicU64::new(0) }; crate::engine::Lane::ALL.len()];
pub static SEND_MICROS: [AtomicU64; crate::engine::Lane::ALL.len()] =
    [const { AtomicU64::new(0) }; crate::engine::Lane::ALL.len()];

/// Argon2 runs started (hashes and verifications of passwords), and requests refused
/// because every hashing slot stayed taken.
pub static PASSWORD_RUNS: AtomicU64 = AtomicU64::new(0);
pub static PASSWORD_REFUSALS: AtomicU64 = AtomicU64::new(0);

/// Worker step phases ([`Phases::NAMES`]): total microseconds.
pub static PHASE_MICROS: [AtomicU64; crate::engine::Lane::ALL.len()] =
    [const { AtomicU64::new(0) }; crate::engine::Lane::ALL.len()];

pub fn record_phases(phases: &Phases) {
    for (counter, spent) in PHASE_MICROS.iter().zip(phases.durations()) {
        counter.fetch_add(
            u64::try_from(spent.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

pub fn record_response(status: u16) {
    let class = usize::from(status / 100).clamp(1, 5) - 1;
    RESPONSES[class].fetch_add(1, Ordering::Relaxed);
}

pub fn record_send(channel: i16, micros: u64, ok: bool) {
    let Ok(i) = usize::try_from(channel) else {
        return;
    };
    if i < SENDS.len() {
        SENDS[i].fetch_add(1, Ordering::Relaxed);
        SEND_MICROS[i].fetch_add(micros, Ordering::Relaxed);
        if !ok {
            SEND_FAILURES[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}
