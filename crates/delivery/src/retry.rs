//! When to try a failed delivery again.
//!
//! Capped exponential backoff with "full jitter": after the n-th failed attempt the next one
//! waits a random time in `[0, min(cap, base * 2^(n-1))]`. Spreading retries uniformly keeps
//! a provider outage from turning into synchronised waves of retries when it ends. A
//! provider's `Retry-After` is a floor: a retry is never scheduled sooner than it asks.
//!
//! ## Ambiguous outcomes
//!
//! A [`SendError::Ambiguous`] send may have reached the recipient. Whether to send it again
//! is a per-channel decision ([`RetryPolicy::resends_ambiguous`]):
//!
//! | channel | costs | after an ambiguous outcome |
//! | --- | --- | --- |
//! | SMS | SMS credits, and Twilio bills every message | [`RetryDecision::AwaitStatus`]: never resent automatically |
//! | email | email credits; a second copy in the inbox | [`RetryDecision::AwaitStatus`]: never resent automatically |
//! | Telegram | nothing | retried like a retryable error (the customer may see it twice) |
//! | Messenger | nothing | retried like a retryable error (the customer may see it twice) |
//!
//! On a free channel a duplicate is the lesser harm: nothing reports Telegram or Messenger
//! deliveries back to us by delivery id, so an unresolved outcome would stay unresolved.

use std::time::Duration;

use loyalcast_dto::Channel;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::SendError;

/// The retry schedule for deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The ceiling of the first retry's delay.
    #[serde(rename = "base_ms", with = "millis")]
    pub base: Duration,
    /// The largest ceiling any retry's delay can have (before `Retry-After`).
    #[serde(rename = "cap_ms", with = "millis")]
    pub cap: Duration,
    /// Attempts in all, the first one included; after that many failures a delivery fails.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 10 attempts; the 9 waits between them have ceilings of 5 s, 10 s, 20 s ... 1280 s
    /// (under the 30-minute cap), about 43 minutes in all and half that on average: long
    /// enough to ride out a provider's bad quarter of an hour, short enough that a mailing
    /// does not arrive the next day.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(30 * 60),
            max_attempts: 10,
        }
    }
}

/// What to do with a delivery whose attempt just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Stop: mark the delivery failed.
    GiveUp(GiveUpReason),
    /// The provider may have the message and resending it could deliver and bill it twice:
    /// record the delivery as uncertain (neither sent nor failed, credits still reserved),
    /// never send it again on its own, and let a later report settle it (Twilio's status
    /// callback names the delivery id).
    AwaitStatus,
}

/// Why a delivery is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    /// The provider said the message can never be delivered (unsubscribed, invalid address...).
    Permanent,
    /// The policy's attempts are used up.
    AttemptsExhausted,
}

impl RetryPolicy {
    /// The largest delay the jitter can draw after `failed_attempts` failures (at least 1):
    /// `min(cap, base * 2^(failed_attempts - 1))`, without overflow.
    pub fn ceiling(&self, failed_attempts: u32) -> Duration {
        let exponent = failed_attempts.saturating_sub(1).min(63);
        let factor = 1u64 << exponent;
        let nanos = u64::try_from(self.base.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.cap)
    }

    /// Decides what follows the `failed_attempts`-th failed attempt (1 for the first), given
    /// the provider's `Retry-After`, if any. `rng` draws the jitter; pass `rand::thread_rng()`
    /// in production and a seeded generator in tests.
    pub fn next_attempt<R: Rng + ?Sized>(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> RetryDecision {
        if failed_attempts >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        let ceiling = u64::try_from(self.ceiling(failed_attempts).as_nanos()).unwrap_or(u64::MAX);
        let jittered = Duration::from_nanos(rng.gen_range(0..=ceiling));
        RetryDecision::RetryAfter(retry_after.map_or(jittered, |floor| jittered.max(floor)))
    }

    /// Whether an ambiguous send on `channel` may be sent again, at the risk of a
    /// duplicate: only where a duplicate costs nothing (Telegram, Messenger). See the
    /// [module docs](self).
    pub fn resends_ambiguous(&self, channel: Channel) -> bool {
        match channel {
            Channel::Telegram | Channel::Messenger => true,
            Channel::Sms | Channel::Email => false,
        }
    }

    /// Decides what follows a failed send on `channel`, the `failed_attempts`-th failure (1
    /// for the first): permanent errors stop at once, retryable ones follow
    /// [`RetryPolicy::next_attempt`] with the error's `Retry-After`, and ambiguous ones wait
    /// for a status ([`RetryDecision::AwaitStatus`]) on a paid channel and are retried like
    /// retryable ones on a free one.
    pub fn after_error<R: Rng + ?Sized>(
        &self,
        channel: Channel,
        failed_attempts: u32,
        error: &SendError,
        rng: &mut R,
    ) -> RetryDecision {
        match error {
            SendError::Permanent { .. } => RetryDecision::GiveUp(GiveUpReason::Permanent),
            SendError::Retryable { retry_after, .. } => {
                self.next_attempt(failed_attempts, *retry_after, rng)
            }
            SendError::Ambiguous { .. } if self.resends_ambiguous(channel) => {
                self.next_attempt(failed_attempts, None, rng)
            }
            SendError::Ambiguous { .. } => RetryDecision::AwaitStatus,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand::rngs::mock::StepRng;

    use super::*;
    use crate::error::FailureCode;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            max_attempts: 10,
        }
    }

    fn delay(decision: RetryDecision) -> Duration {
        match decision {
            RetryDecision::RetryAfter(d) => d,
            other => panic!("not a retry: {other:?}"),
        }
    }

    #[test]
    fn the_ceiling_doubles_from_base_until_the_cap() {
        let p = policy();
        let ceilings: Vec<u128> = (1..=8).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
    }

    #[test]
    fn the_default_schedule_spans_about_43_minutes_of_ceilings() {
        let p = RetryPolicy::default();
        let total: Duration = (1..p.max_attempts).map(|n| p.ceiling(n)).sum();
        assert_eq!(total, Duration::from_secs(2555));
        assert!(p.ceiling(p.max_attempts - 1) < p.cap);
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = RetryPolicy {
            max_attempts: u32::MAX,
            ..policy()
        };
        assert_eq!(p.ceiling(u32::MAX), p.cap);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(delay(p.next_attempt(u32::MAX - 1, None, &mut rng)) <= p.cap);
    }

    #[test]
    fn jittered_delays_stay_within_zero_and_the_ceiling_and_spread_over_it() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(42);
        for attempt in 1..10 {
            let ceiling = p.ceiling(attempt);
            let draws: Vec<Duration> = (0..2_000)
                .map(|_| delay(p.next_attempt(attempt, None, &mut rng)))
                .collect();
            assert!(
                draws.iter().all(|d| *d <= ceiling),
                "attempt {attempt} exceeded {ceiling:?}"
            );
            // Full jitter: the draws cover the range, not just its top.
            let min = draws.iter().min().unwrap();
            let max = draws.iter().max().unwrap();
            assert!(
                *min < ceiling / 10,
                "attempt {attempt}: smallest draw {min:?}"
            );
            assert!(
                *max > ceiling * 9 / 10,
                "attempt {attempt}: largest draw {max:?}"
            );
        }
    }

    #[test]
    fn a_generator_at_its_lowest_gives_no_delay() {
        let mut zeros = StepRng::new(0, 0);
        assert_eq!(
            delay(policy().next_attempt(3, None, &mut zeros)),
            Duration::ZERO
        );
    }

    #[test]
    fn retry_after_is_a_floor_never_shortened() {
        let p = policy();
        let mut zeros = StepRng::new(0, 0);
        let floor = Duration::from_secs(30);
        assert_eq!(delay(p.next_attempt(1, Some(floor), &mut zeros)), floor);

        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1_000 {
            assert!(
                delay(p.next_attempt(6, Some(Duration::from_secs(2)), &mut rng))
                    >= Duration::from_secs(2)
            );
        }
        // Above the cap too: the provider knows best when it will take the message.
        assert_eq!(
            delay(p.next_attempt(1, Some(Duration::from_secs(3600)), &mut zeros)),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn attempts_run_out_at_max_attempts() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..policy()
        };
        let mut rng = StdRng::seed_from_u64(3);
        assert!(matches!(
            p.next_attempt(2, None, &mut rng),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(
            p.next_attempt(3, None, &mut rng),
            RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
        assert_eq!(
            p.next_attempt(3, Some(Duration::from_secs(1)), &mut rng),
            RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
    }

    #[test]
    fn permanent_errors_are_never_retried() {
        let mut rng = StdRng::seed_from_u64(3);
        let error = SendError::permanent(FailureCode::Unsubscribed, Some("21610"), "unsubscribed");
        assert_eq!(
            policy().after_error(Channel::Sms, 1, &error, &mut rng),
            RetryDecision::GiveUp(GiveUpReason::Permanent)
        );
    }

    #[test]
    fn retryable_errors_carry_their_retry_after_into_the_decision() {
        let mut zeros = StepRng::new(0, 0);
        let error = SendError::retryable(Some(Duration::from_secs(9)), "429");
        assert_eq!(
            delay(policy().after_error(Channel::Telegram, 1, &error, &mut zeros)),
            Duration::from_secs(9)
        );
    }

    #[test]
    fn an_ambiguous_send_on_a_paid_channel_is_never_resent() {
        let mut rng = StdRng::seed_from_u64(5);
        let error = SendError::ambiguous("no answer after the request was sent");
        for channel in [Channel::Sms, Channel::Email] {
            assert!(!policy().resends_ambiguous(channel));
            for attempt in 1..=policy().max_attempts + 1 {
                assert_eq!(
                    policy().after_error(channel, attempt, &error, &mut rng),
                    RetryDecision::AwaitStatus,
                    "{channel:?} after attempt {attempt}"
                );
            }
        }
    }

    #[test]
    fn an_ambiguous_send_on_a_free_channel_backs_off_like_a_retryable_one() {
        let p = policy();
        let error = SendError::ambiguous("no answer after the request was sent");
        for channel in [Channel::Telegram, Channel::Messenger] {
            assert!(p.resends_ambiguous(channel));
            let mut rng = StdRng::seed_from_u64(11);
            for attempt in 1..p.max_attempts {
                assert!(
                    delay(p.after_error(channel, attempt, &error, &mut rng)) <= p.ceiling(attempt),
                    "{channel:?} after attempt {attempt}"
                );
            }
            assert_eq!(
                p.after_error(channel, p.max_attempts, &error, &mut rng),
                RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted)
            );
        }
    }

    #[test]
    fn every_channel_has_a_decision_for_ambiguity() {
        let paid: Vec<Channel> = Channel::ALL
            .into_iter()
            .filter(|c| !policy().resends_ambiguous(*c))
            .collect();
        assert_eq!(paid, vec![Channel::Sms, Channel::Email]);
    }

    #[test]
    fn the_policy_reads_from_config_in_milliseconds() {
        let p: RetryPolicy =
            serde_json::from_str(r#"{"base_ms": 250, "cap_ms": 60000, "max_attempts": 5}"#)
                .unwrap();
        assert_eq!(p.base, Duration::from_millis(250));
        assert_eq!(p.cap, Duration::from_secs(60));
        assert_eq!(p.max_attempts, 5);
    }
}
