//! Provider rate limits, so bulk sends run at a provider's cap without being answered 429.
//!
//! Each provider account (a Telegram bot, a Messenger page, a Twilio sender) gets an
//! [`AccountRateLimiter`]: a token bucket (governor's GCRA) for the account as a whole and,
//! optionally, one per recipient (Telegram allows about one message a second per chat). The
//! limiter lives in the process; with several worker processes, each takes an equal share of
//! the account's rate: [`RateLimiterRegistry::share_with`] is told how many processes are
//! sending (the server counts them through the database) and divides every account's rate.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, ReasonablyRealtime};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use loyalcast_dto::Channel;
use serde::{Deserialize, Serialize};

/// `count` sends per `period_ms` milliseconds, in bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period_ms: NonZeroU64,
}

impl Rate {
    pub const fn new(count: NonZeroU32, period_ms: NonZeroU64) -> Self {
        Rate { count, period_ms }
    }

    /// `count` sends a second.
    pub const fn per_second(count: NonZeroU32) -> Self {
        Rate {
            count,
            period_ms: NonZeroU64::MIN.saturating_add(999),
        }
    }

    /// This rate split evenly between `processes`: each gets `count / processes` (at least
    /// one) as its burst, over a period stretched so that the shares add up to this rate.
    pub fn shared_by(self, processes: NonZeroU32) -> Rate {
        let n = u64::from(processes.get());
        if n == 1 {
            return self;
        }
        let count = (self.count.get() / processes.get()).max(1);
        let period_ms = self
            .period_ms
            .get()
            .saturating_mul(u64::from(count))
            .saturating_mul(n)
            / u64::from(self.count.get());
        Rate {
            count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
            period_ms: NonZeroU64::new(period_ms).unwrap_or(NonZeroU64::MIN),
        }
    }

    fn quota(self) -> Quota {
        let period = Duration::from_millis(self.period_ms.get());
        // One token every period/count, at most `count` saved up.
        let interval = (period / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// The limits of one provider account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitConfig {
    /// All sends of the account together; `None` for no limit.
    pub overall: Option<Rate>,
    /// Sends to any one recipient; `None` for no limit.
    pub per_recipient: Option<Rate>,
}

impl RateLimitConfig {
    /// No limit at all (the sandbox, benchmarks).
    pub const UNLIMITED: RateLimitConfig = RateLimitConfig {
        overall: None,
        per_recipient: None,
    };

    /// Telegram's documented bulk limits: 30 messages a second per bot, 1 a second per chat.
    pub const fn telegram() -> Self {
        RateLimitConfig {
            overall: Some(Rate::per_second(nz(30))),
            per_recipient: Some(Rate::per_second(nz(1))),
        }
    }

    /// A Twilio sender's MPS (messages per second): 1 for a long code, 3 for toll-free,
    /// 100 for a short code, more for a messaging service, as the account was granted.
    pub const fn twilio(mps: NonZeroU32) -> Self {
        RateLimitConfig {
            overall: Some(Rate::per_second(mps)),
            per_recipient: None,
        }
    }

    /// A Messenger page: Meta throttles per page; 250 a second stays clear of it, and one a
    /// second per person keeps a burst of updates from looking abusive.
    pub const fn messenger() -> Self {
        RateLimitConfig {
            overall: Some(Rate::per_second(nz(250))),
            per_recipient: Some(Rate::per_second(nz(1))),
        }
    }

    /// The default for a channel, used when the configuration names none.
    pub const fn default_for(channel: Channel) -> Self {
        match channel {
            Channel::Sms => RateLimitConfig::twilio(nz(1)),
            Channel::Telegram => RateLimitConfig::telegram(),
            Channel::Messenger => RateLimitConfig::messenger(),
            // SMTP relays take bursts; their limits are per hour or day and sit in the relay.
            Channel::Email => RateLimitConfig {
                overall: Some(Rate::per_second(nz(50))),
                per_recipient: None,
            },
        }
    }
}

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;
type Keyed<C> =
    RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-recipient checks between two sweeps of idle per-recipient state.
const SWEEP_EVERY: u64 = 10_000;

/// The rate limits of one provider account.
///
/// Generic over governor's clock so that tests can drive a
/// [`governor::clock::FakeRelativeClock`]; production uses the default monotonic clock.
pub struct AccountRateLimiter<C: Clock = DefaultClock> {
    config: RateLimitConfig,
    /// The account limit for this process's share; replaced when the share changes.
    overall: RwLock<Option<Arc<Direct<C>>>>,
    /// How many processes the account's rate is split between.
    processes: AtomicU32,
    /// Per recipient, per process: a recipient rarely gets messages from two processes at once.
    per_recipient: Option<Keyed<C>>,
    clock: C,
    checks: AtomicU64,
}

impl AccountRateLimiter<DefaultClock> {
    pub fn new(config: RateLimitConfig) -> Self {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> AccountRateLimiter<C> {
    /// A limiter reading time from `clock`.
    pub fn with_clock(config: RateLimitConfig, clock: C) -> Self {
        AccountRateLimiter {
            config,
            overall: RwLock::new(Self::overall_for(config, NonZeroU32::MIN, &clock)),
            processes: AtomicU32::new(1),
            per_recipient: config
                .per_recipient
                .map(|r| RateLimiter::dashmap_with_clock(r.quota(), clock.clone())),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    fn overall_for(
        config: RateLimitConfig,
        processes: NonZeroU32,
        clock: &C,
    ) -> Option<Arc<Direct<C>>> {
        config.overall.map(|r| {
            Arc::new(RateLimiter::direct_with_clock(
                r.shared_by(processes).quota(),
                clock.clone(),
            ))
        })
    }

    /// Takes this process's share of the account rate when `processes` send for it. A change
    /// starts a fresh bucket at the new rate; the same share again changes nothing.
    pub fn share_with(&self, processes: NonZeroU32) {
        if self.processes.swap(processes.get(), Ordering::Relaxed) == processes.get() {
            return;
        }
        let fresh = Self::overall_for(self.config, processes, &self.clock);
        *self
            .overall
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    /// The account rate this process keeps to now, if it has one.
    pub fn current_rate(&self) -> Option<Rate> {
        let processes =
            NonZeroU32::new(self.processes.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN);
        self.config.overall.map(|r| r.shared_by(processes))
    }

    fn overall(&self) -> Option<Arc<Direct<C>>> {
        self.overall
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Takes a send for `recipient` now if both limits allow it, or says how long to wait.
    ///
    /// The account limit is checked first, so a refusal there leaves the recipient's budget
    /// untouched; when the account allows but the recipient does not, the account's token is
    /// spent unused, which errs on the slow side, never the fast one.
    pub fn check(&self, recipient: &str) -> Result<(), Duration> {
        if let Some(overall) = self.overall() {
            overall
                .check()
                .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        }
        if let Some(per_recipient) = &self.per_recipient {
            self.sweep_idle_recipients(per_recipient);
            per_recipient
                .check_key(&recipient.to_owned())
                .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        }
        Ok(())
    }

    /// Recipients with per-recipient state held right now.
    pub fn tracked_recipients(&self) -> usize {
        self.per_recipient
            .as_ref()
            .map_or(0, |limiter| limiter.len())
    }

    /// Per-recipient state grows with every new recipient; drop the entries whose bucket is
    /// full again (indistinguishable from a fresh one) every so often.
    fn sweep_idle_recipients(&self, limiter: &Keyed<C>) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl<C: ReasonablyRealtime + Clone> AccountRateLimiter<C> {
    /// Waits until a send to `recipient` is allowed, and takes it.
    ///
    /// The account's turn is taken first, then the recipient's: the send follows right after
    /// the recipient's token, so two sends to one recipient are never closer than its rate,
    /// even while many tasks queue for the account.
    pub async fn until_ready(&self, recipient: &str) {
        if let Some(overall) = self.overall() {
            overall.until_ready().await;
        }
        if let Some(per_recipient) = &self.per_recipient {
            self.sweep_idle_recipients(per_recipient);
            per_recipient.until_key_ready(&recipient.to_owned()).await;
        }
    }
}

impl<C: Clock + Clone> std::fmt::Debug for AccountRateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRateLimiter")
            .field("overall", &self.current_rate())
            .field("per_recipient", &self.per_recipient.is_some())
            .field("tracked_recipients", &self.tracked_recipients())
            .finish()
    }
}

/// The limiters of every provider account in use, created on first use from per-channel
/// configuration. Share one registry (in an `Arc`) between all workers of a process.
#[derive(Debug)]
pub struct RateLimiterRegistry {
    configs: HashMap<Channel, RateLimitConfig>,
    limiters: Mutex<HashMap<(Channel, String), Arc<AccountRateLimiter>>>,
    processes: AtomicU32,
}

impl RateLimiterRegistry {
    /// A registry using `configs` per channel, and [`RateLimitConfig::default_for`] for the
    /// channels it does not name.
    pub fn new(configs: HashMap<Channel, RateLimitConfig>) -> Self {
        RateLimiterRegistry {
            configs,
            limiters: Mutex::new(HashMap::new()),
            processes: AtomicU32::new(1),
        }
    }

    /// Splits every account's rate between `processes` sending processes, for the limiters
    /// made so far and those made later.
    pub fn share_with(&self, processes: NonZeroU32) {
        self.processes.store(processes.get(), Ordering::Relaxed);
        for limiter in self.lock().values() {
            limiter.share_with(processes);
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(Channel, String), Arc<AccountRateLimiter>>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is intact.
        self.limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The limiter of one provider account (see [`crate::ChannelSender::account`]).
    pub fn limiter(&self, channel: Channel, account: &str) -> Arc<AccountRateLimiter> {
        let processes =
            NonZeroU32::new(self.processes.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN);
        self.lock()
            .entry((channel, account.to_owned()))
            .or_insert_with(|| {
                let config = self
                    .configs
                    .get(&channel)
                    .copied()
                    .unwrap_or_else(|| RateLimitConfig::default_for(channel));
                let limiter = AccountRateLimiter::new(config);
                limiter.share_with(processes);
                Arc::new(limiter)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(
        config: RateLimitConfig,
    ) -> (AccountRateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (AccountRateLimiter::with_clock(config, clock.clone()), clock)
    }

    fn allowed_now(
        limiter: &AccountRateLimiter<FakeRelativeClock>,
        recipients: impl IntoIterator<Item = String>,
    ) -> usize {
        recipients
            .into_iter()
            .filter(|r| limiter.check(r).is_ok())
            .count()
    }

    #[test]
    fn telegram_allows_a_burst_of_30_then_one_every_33_ms() {
        let (limiter, clock) = limiter(RateLimitConfig::telegram());
        let distinct = |from: usize| (from..from + 100).map(|i| format!("chat-{i}"));
        assert_eq!(allowed_now(&limiter, distinct(0)), 30);

        let wait = limiter.check("chat-new").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(34),
            "{wait:?}"
        );

        clock.advance(Duration::from_millis(34));
        assert_eq!(allowed_now(&limiter, distinct(1_000)), 1);

        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, distinct(2_000)), 30);
    }

    #[test]
    fn one_message_a_second_per_chat() {
        let (limiter, clock) = limiter(RateLimitConfig::telegram());
        assert!(limiter.check("42").is_ok());
        let wait = limiter.check("42").unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Another chat is not held back by chat 42.
        assert!(limiter.check("43").is_ok());

        clock.advance(Duration::from_millis(500));
        assert!(limiter.check("42").is_err());
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check("42").is_ok());
    }

    #[test]
    fn a_refusal_by_the_account_limit_leaves_the_recipient_budget_alone() {
        let config = RateLimitConfig {
            overall: Some(Rate::per_second(NonZeroU32::new(1).unwrap())),
            per_recipient: Some(Rate::per_second(NonZeroU32::new(1).unwrap())),
        };
        let (limiter, clock) = limiter(config);
        assert!(limiter.check("a").is_ok());
        assert!(
            limiter.check("b").is_err(),
            "the account allows one a second"
        );
        clock.advance(Duration::from_secs(1));
        assert!(
            limiter.check("b").is_ok(),
            "b's budget was not spent by the refusal"
        );
    }

    #[test]
    fn twilio_mps_limits_the_sender_not_the_recipient() {
        let (limiter, clock) = limiter(RateLimitConfig::twilio(NonZeroU32::new(3).unwrap()));
        assert_eq!(
            allowed_now(&limiter, std::iter::repeat_n("+15550001".to_owned(), 10)),
            3
        );
        clock.advance(Duration::from_millis(334));
        assert_eq!(
            allowed_now(&limiter, std::iter::repeat_n("+15550001".to_owned(), 10)),
            1
        );
        assert_eq!(limiter.tracked_recipients(), 0);
    }

    #[test]
    fn rates_over_longer_periods_spread_evenly() {
        let config = RateLimitConfig {
            overall: Some(Rate::new(
                NonZeroU32::new(60).unwrap(),
                NonZeroU64::new(60_000).unwrap(),
            )),
            per_recipient: None,
        };
        let (limiter, clock) = limiter(config);
        assert_eq!(allowed_now(&limiter, (0..100).map(|i| i.to_string())), 60);
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, (0..100).map(|i| i.to_string())), 1);
    }

    #[test]
    fn unlimited_always_allows() {
        let (limiter, _clock) = limiter(RateLimitConfig::UNLIMITED);
        assert_eq!(
            allowed_now(&limiter, std::iter::repeat_n("x".to_owned(), 10_000)),
            10_000
        );
    }

    #[test]
    fn idle_recipient_state_is_swept() {
        let config = RateLimitConfig {
            overall: None,
            per_recipient: Some(Rate::per_second(NonZeroU32::new(1).unwrap())),
        };
        let (limiter, clock) = limiter(config);
        for i in 0..SWEEP_EVERY - 1 {
            limiter.check(&format!("r{i}")).unwrap();
        }
        assert_eq!(
            limiter.tracked_recipients(),
            usize::try_from(SWEEP_EVERY - 1).unwrap()
        );
        clock.advance(Duration::from_secs(2));
        limiter.check("last").unwrap();
        assert!(
            limiter.tracked_recipients() <= 1,
            "{}",
            limiter.tracked_recipients()
        );
    }

    #[test]
    fn the_config_reads_from_json() {
        let config: RateLimitConfig = serde_json::from_str(
            r#"{"overall": {"count": 30, "period_ms": 1000}, "per_recipient": null}"#,
        )
        .unwrap();
        assert_eq!(
            config.overall,
            Some(Rate::per_second(NonZeroU32::new(30).unwrap()))
        );
        assert!(serde_json::from_str::<Rate>(r#"{"count": 0, "period_ms": 1000}"#).is_err());
    }

    #[test]
    fn a_rate_shared_by_processes_adds_up_to_the_rate() {
        let nz32 = |n| NonZeroU32::new(n).unwrap();
        let telegram = Rate::per_second(nz32(30));
        assert_eq!(telegram.shared_by(nz32(1)), telegram);
        let half = telegram.shared_by(nz32(2));
        assert_eq!((half.count.get(), half.period_ms.get()), (15, 1_000));
        // A long code's one message a second, between two processes: one every two seconds each.
        let one = Rate::per_second(nz32(1)).shared_by(nz32(2));
        assert_eq!((one.count.get(), one.period_ms.get()), (1, 2_000));
        // 250/s between three: 83 per 996 ms each, 250.0/s together (to the millisecond).
        let third = Rate::per_second(nz32(250)).shared_by(nz32(3));
        assert_eq!((third.count.get(), third.period_ms.get()), (83, 996));
    }

    #[test]
    fn sharing_the_account_with_another_process_halves_its_pace() {
        let (limiter, clock) = limiter(RateLimitConfig::telegram());
        limiter.share_with(NonZeroU32::new(2).unwrap());
        let distinct = |from: usize| (from..from + 100).map(|i| format!("chat-{i}"));
        assert_eq!(allowed_now(&limiter, distinct(0)), 15);
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, distinct(1_000)), 15);
        // Alone again: the whole rate.
        limiter.share_with(NonZeroU32::MIN);
        assert_eq!(allowed_now(&limiter, distinct(2_000)), 30);
        assert_eq!(
            limiter.current_rate(),
            Some(Rate::per_second(NonZeroU32::new(30).unwrap()))
        );
    }

    #[test]
    fn the_registry_applies_the_share_to_old_and_new_limiters() {
        let registry = RateLimiterRegistry::new(HashMap::new());
        let before = registry.limiter(Channel::Telegram, "bot-1");
        registry.share_with(NonZeroU32::new(3).unwrap());
        let after = registry.limiter(Channel::Messenger, "page-1");
        assert_eq!(
            before.current_rate(),
            Some(
                Rate::per_second(NonZeroU32::new(30).unwrap())
                    .shared_by(NonZeroU32::new(3).unwrap())
            )
        );
        assert_eq!(
            after.current_rate().map(|r| r.count.get()),
            Some(83),
            "250/s between three"
        );
    }

    #[test]
    fn the_registry_shares_one_limiter_per_account() {
        let registry = RateLimiterRegistry::new(HashMap::new());
        let a = registry.limiter(Channel::Telegram, "bot-1");
        let b = registry.limiter(Channel::Telegram, "bot-1");
        let c = registry.limiter(Channel::Telegram, "bot-2");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[tokio::test]
    async fn until_ready_returns_once_allowed_and_takes_the_token() {
        let limiter = AccountRateLimiter::new(RateLimitConfig {
            overall: Some(Rate::per_second(NonZeroU32::new(1000).unwrap())),
            per_recipient: Some(Rate::new(
                NonZeroU32::new(1).unwrap(),
                NonZeroU64::new(60_000).unwrap(),
            )),
        });
        limiter.until_ready("42").await;
        // The wait took the recipient's one token of the minute.
        assert!(limiter.check("42").is_err());
        assert!(limiter.check("43").is_ok());
    }
}
