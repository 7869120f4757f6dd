//! Throttling failed sign-ins, per account and per client address.
//!
//! A failure is remembered for a window; once an account (or address) has as many recent
//! failures as allowed, further attempts are refused until the oldest one ages out. A
//! successful sign-in forgives the account's failures. This is a small sliding window rather
//! than `governor`: a token bucket can neither be peeked at before verifying the password
//! nor reset on success. It lives in the process, so with several `serve` processes the
//! limits apply per process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    per_account: usize,
    per_address: usize,
    window: Duration,
}

/// Bounds the memory an attacker can make us spend: past this many keys, stale ones go.
const MAX_KEYS: usize = 100_000;

impl LoginThrottle {
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        LoginThrottle {
            failures: Mutex::new(HashMap::new()),
            per_account: per_account.max(1) as usize,
            per_address: per_address.max(1) as usize,
            window,
        }
    }

    /// `Err(wait)` when the account or the address must wait before trying again.
    pub fn check(&self, account: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let mut failures = self.lock();
        let waits = [
            (account_key(account), self.per_account),
            (address_key(address), self.per_address),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            let recent = failures.get_mut(&key)?;
            prune(recent, now, self.window);
            if recent.len() >= limit {
                recent
                    .front()
                    .map(|oldest| (*oldest + self.window).saturating_duration_since(now))
            } else {
                None
            }
        })
        .max();
        match waits {
            Some(wait) => Err(wait.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str, address: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= MAX_KEYS {
            let window = self.window;
            failures.retain(|_, recent| {
                prune(recent, now, window);
                !recent.is_empty()
            });
        }
        for key in [account_key(account), address_key(address)] {
            let recent = failures.entry(key).or_default();
            prune(recent, now, self.window);
            recent.push_back(now);
        }
    }

    pub fn record_success(&self, account: &str) {
        self.lock().remove(&account_key(account));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A panic while holding the lock cannot leave the map inconsistent; keep going.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn account_key(account: &str) -> String {
    format!("account:{}", account.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

fn prune(recent: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while recent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(900);

    #[test]
    fn an_account_is_throttled_after_its_allowance_and_freed_by_time() {
        let throttle = LoginThrottle::new(3, 100, WINDOW);
        let start = Instant::now();
        for i in 0..3 {
            assert!(
                throttle.check("ann@x.io", "1.1.1.1", start).is_ok(),
                "attempt {i}"
            );
            throttle.record_failure("ann@x.io", "1.1.1.1", start);
        }
        let wait = throttle.check("ANN@x.io", "2.2.2.2", start);
        assert_eq!(wait, Err(WINDOW));
        assert!(throttle.check("bob@x.io", "1.1.1.1", start).is_ok());
        assert!(
            throttle
                .check("ann@x.io", "1.1.1.1", start + WINDOW)
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let throttle = LoginThrottle::new(100, 2, WINDOW);
        let now = Instant::now();
        throttle.record_failure("a@x.io", "9.9.9.9", now);
        throttle.record_failure("b@x.io", "9.9.9.9", now);
        assert!(throttle.check("c@x.io", "9.9.9.9", now).is_err());
        assert!(throttle.check("c@x.io", "8.8.8.8", now).is_ok());
    }

    #[test]
    fn success_forgives_the_account() {
        let throttle = LoginThrottle::new(2, 100, WINDOW);
        let now = Instant::now();
        throttle.record_failure("a@x.io", "1.1.1.1", now);
        throttle.record_success("a@x.io");
        throttle.record_failure("a@x.io", "1.1.1.1", now);
        assert!(throttle.check("a@x.io", "1.1.1.1", now).is_ok());
    }
}
