//! Provider rate limits, so bulk sends run at a provider's cap without being answered 429.
//!
//! Each provider account (a Telegram bot, a Messenger page, a Twilio sender) gets an
//! [`AccountRateLimiter`]: a token bucket (governor's GCRA) for the account as a whole and,
//! optionally, one per recipient (Telegram allows about one message a second per chat). The
//! limiter lives in the process; with several worker processes, each takes an equal share of
//! the account's rate: [`RateLimiterRegistry::share_with`] is told how many processes are
//! sending (the server counts them through the database) and divides every account's rate.
//!
//! An account limiter starts **empty**: its first send waits one interval of its share, and
//! it saves up a burst only while it is idle. A token bucket that started full would let
//! every process that starts (or restarts) spend a whole burst at once, and processes
//! started together would send several bursts past the account's rate before pacing began.
//! Changing the share starts an empty bucket at the new rate, for the same reason.
//! [`RateLimiterRegistry::rate_per_second`] and [`AccountRateLimiter::rate_per_second`] say
//! what a process can send, so that the worker claims no more than it can send in its lease.

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

    /// Messages a second at this rate.
    pub fn messages_per_second(self) -> f64 {
        f64::from(self.count.get()) * 1000.0 / self.period_ms.get() as f64
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
    /// A limiter reading time from `clock`, for a process sending alone.
    pub fn with_clock(config: RateLimitConfig, clock: C) -> Self {
        Self::shared_with_clock(config, NonZeroU32::MIN, clock)
    }

    /// A limiter reading time from `clock` that starts with its share of `processes`.
    fn shared_with_clock(config: RateLimitConfig, processes: NonZeroU32, clock: C) -> Self {
        AccountRateLimiter {
            config,
            overall: RwLock::new(Self::overall_for(config, processes, &clock)),
            processes: AtomicU32::new(processes.get()),
            per_recipient: config
                .per_recipient
                .map(|r| RateLimiter::dashmap_with_clock(r.quota(), clock.clone())),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// The account limiter for this process's share, with its bucket empty (see the
    /// [module docs](self)).
    fn overall_for(
        config: RateLimitConfig,
        processes: NonZeroU32,
        clock: &C,
    ) -> Option<Arc<Direct<C>>> {
        config.overall.map(|rate| {
            let share = rate.shared_by(processes);
            let limiter = RateLimiter::direct_with_clock(share.quota(), clock.clone());
            // A new bucket is full: spend all of it, so that the first send waits one
            // interval. The burst is the quota's own, so there is capacity for it, and
            // nothing else has touched this limiter yet, so the check passes; if either
            // ever failed the bucket would be partly empty, which errs on the slow side.
            let _ = limiter.check_n(share.count);
            Arc::new(limiter)
        })
    }

    /// Takes this process's share of the account rate when `processes` send for it. A change
    /// starts an empty bucket at the new rate, so a re-share never hands out a burst; the
    /// same share again changes nothing. Sends already waiting ask the new bucket when they
    /// next wake.
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

    /// Messages a second this process may send on the account now (its share of the
    /// account rate), or `None` when the account has no overall limit.
    pub fn rate_per_second(&self) -> Option<f64> {
        self.current_rate().map(Rate::messages_per_second)
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
        // Not governor's `until_ready`, which would keep waiting on the bucket it started
        // with: after a re-share, a send that was waiting on the old bucket would still be
        // paced by the old rate, alongside new sends paced by the new one. Each wake-up
        // asks the current bucket.
        while let Some(overall) = self.overall() {
            match overall.check() {
                Ok(()) => break,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
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

    /// Messages a second this process may send on any one account of `channel` now: the
    /// channel's configured overall rate divided by the processes last given to
    /// [`RateLimiterRegistry::share_with`]. `None` when the configuration sets no overall
    /// limit. This says nothing of whether the channel's sender is rate limited at all (the
    /// sandbox is not); [`crate::ChannelRouter::rate_per_second`] knows that.
    pub fn rate_per_second(&self, channel: Channel) -> Option<f64> {
        let processes =
            NonZeroU32::new(self.processes.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN);
        self.config_for(channel)
            .overall
            .map(|rate| rate.shared_by(processes).messages_per_second())
    }

    fn config_for(&self, channel: Channel) -> RateLimitConfig {
        self.configs
            .get(&channel)
            .copied()
            .unwrap_or_else(|| RateLimitConfig::default_for(channel))
    }

    /// The limiter of one provider account (see [`crate::ChannelSender::account`]).
    pub fn limiter(&self, channel: Channel, account: &str) -> Arc<AccountRateLimiter> {
        let processes =
            NonZeroU32::new(self.processes.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN);
        self.lock()
            .entry((channel, account.to_owned()))
            .or_insert_with(|| {
                // Born with its share, so that it never paces a moment at the whole rate.
                Arc::new(AccountRateLimiter::shared_with_clock(
                    self.config_for(channel),
                    processes,
                    DefaultClock::default(),
                ))
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

    fn nz32(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn telegram_starts_empty_saves_a_burst_of_30_when_idle_then_one_every_33_ms() {
        let (limiter, clock) = limiter(RateLimitConfig::telegram());
        let distinct = |from: usize| (from..from + 100).map(|i| format!("chat-{i}"));
        assert_eq!(
            allowed_now(&limiter, distinct(0)),
            0,
            "a new limiter has no burst"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, distinct(100)), 30);

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
        clock.advance(Duration::from_secs(1));
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
        clock.advance(Duration::from_secs(1));
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
        clock.advance(Duration::from_secs(1));
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
        assert_eq!(allowed_now(&limiter, (0..100).map(|i| i.to_string())), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, (0..100).map(|i| i.to_string())), 1);
        clock.advance(Duration::from_secs(60));
        assert_eq!(allowed_now(&limiter, (0..100).map(|i| i.to_string())), 60);
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
        assert_eq!(allowed_now(&limiter, distinct(0)), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, distinct(1_000)), 15);
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, distinct(2_000)), 15);
        // Alone again: the whole rate, from an empty bucket.
        limiter.share_with(NonZeroU32::MIN);
        assert_eq!(allowed_now(&limiter, distinct(3_000)), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(allowed_now(&limiter, distinct(4_000)), 30);
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
            overall: None,
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

    /// Sends every process makes in each second, each trying as often as its limiter lets
    /// it, every millisecond, for `seconds`.
    fn sends_per_second(
        limiters: &[AccountRateLimiter<FakeRelativeClock>],
        clock: &FakeRelativeClock,
        seconds: usize,
    ) -> Vec<usize> {
        let mut per_second = vec![0; seconds];
        for ms in 0..seconds * 1_000 {
            for limiter in limiters {
                while limiter.check("anyone").is_ok() {
                    per_second[ms / 1_000] += 1;
                }
            }
            clock.advance(Duration::from_millis(1));
        }
        per_second
    }

    fn account_150_per_second() -> RateLimitConfig {
        RateLimitConfig {
            overall: Some(Rate::per_second(nz32(150))),
            per_recipient: None,
        }
    }

    #[test]
    fn processes_started_together_keep_to_the_shared_rate_from_the_first_second() {
        let clock = FakeRelativeClock::default();
        let processes: Vec<_> = (0..3)
            .map(|_| {
                let limiter =
                    AccountRateLimiter::with_clock(account_150_per_second(), clock.clone());
                limiter.share_with(nz32(3));
                limiter
            })
            .collect();
        let per_second = sends_per_second(&processes, &clock, 5);
        assert!(per_second[0] <= 150, "first second: {per_second:?}");
        for sent in &per_second[1..] {
            assert!((148..=152).contains(sent), "{per_second:?}");
        }
    }

    #[test]
    fn processes_born_with_their_share_keep_to_the_shared_rate_too() {
        let clock = FakeRelativeClock::default();
        let processes: Vec<_> = (0..3)
            .map(|_| {
                AccountRateLimiter::shared_with_clock(
                    account_150_per_second(),
                    nz32(3),
                    clock.clone(),
                )
            })
            .collect();
        let per_second = sends_per_second(&processes, &clock, 3);
        assert!(per_second.iter().all(|sent| *sent <= 150), "{per_second:?}");
        assert!(per_second[1] >= 148, "{per_second:?}");
    }

    #[test]
    fn a_re_share_does_not_refill_the_bucket() {
        let clock = FakeRelativeClock::default();
        let limiter = AccountRateLimiter::with_clock(account_150_per_second(), clock.clone());
        // Idle for two seconds: a full burst of 150 saved up...
        clock.advance(Duration::from_secs(2));
        // ...which a re-share must not hand out, nor a bucket of the new size.
        limiter.share_with(nz32(3));
        assert!(limiter.check("anyone").is_err());
        let per_second = sends_per_second(std::slice::from_ref(&limiter), &clock, 2);
        assert!(per_second.iter().all(|sent| *sent <= 50), "{per_second:?}");

        // Back to a whole share: an empty bucket again, then the whole rate.
        limiter.share_with(nz32(1));
        assert!(limiter.check("anyone").is_err());
        let per_second = sends_per_second(std::slice::from_ref(&limiter), &clock, 2);
        assert!(per_second.iter().all(|sent| *sent <= 150), "{per_second:?}");
        assert!(per_second[1] >= 148, "{per_second:?}");
    }

    #[test]
    fn the_first_send_waits_one_interval_of_the_share() {
        let (limiter, clock) = limiter(RateLimitConfig::twilio(nz32(1)));
        limiter.share_with(nz32(2));
        let wait = limiter.check("+15550001").unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
        clock.advance(wait);
        assert!(limiter.check("+15550001").is_ok());
    }

    #[test]
    fn rates_per_second_follow_the_share() {
        let (account, _clock) = limiter(account_150_per_second());
        assert_eq!(account.rate_per_second(), Some(150.0));
        account.share_with(nz32(3));
        assert_eq!(account.rate_per_second(), Some(50.0));
        let (unlimited, _clock) = limiter(RateLimitConfig::UNLIMITED);
        assert_eq!(unlimited.rate_per_second(), None);
        // 250/s between three: 83 per 996 ms, 83.33/s.
        let third = Rate::per_second(nz32(250)).shared_by(nz32(3));
        assert!((third.messages_per_second() - 83.333).abs() < 0.001);
    }

    #[test]
    fn the_registry_gives_each_channels_rate_per_process() {
        let mut configs = HashMap::new();
        configs.insert(Channel::Sms, account_150_per_second());
        configs.insert(Channel::Email, RateLimitConfig::UNLIMITED);
        let registry = RateLimiterRegistry::new(configs);
        assert_eq!(registry.rate_per_second(Channel::Sms), Some(150.0));
        assert_eq!(registry.rate_per_second(Channel::Email), None);
        assert_eq!(registry.rate_per_second(Channel::Telegram), Some(30.0));
        registry.share_with(nz32(3));
        assert_eq!(registry.rate_per_second(Channel::Sms), Some(50.0));
        assert_eq!(registry.rate_per_second(Channel::Telegram), Some(10.0));
        assert_eq!(
            registry
                .limiter(Channel::Sms, "AC1/+15550006")
                .rate_per_second(),
            Some(50.0)
        );
    }

    #[tokio::test]
    async fn sends_waiting_on_the_old_bucket_are_paced_by_the_new_one() {
        // Ten a second, and five sends waiting: on the old bucket they would all be through
        // within about half a second. The share then drops to one a minute.
        let config = RateLimitConfig {
            overall: Some(Rate::new(nz32(600), NonZeroU64::new(60_000).unwrap())),
            per_recipient: None,
        };
        let limiter = Arc::new(AccountRateLimiter::new(config));
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.until_ready("anyone").await })
            })
            .collect();
        tokio::task::yield_now().await;
        limiter.share_with(nz32(600));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let through = waiters.iter().filter(|w| w.is_finished()).count();
        assert_eq!(through, 0, "the new bucket is empty and gives one a minute");
        for waiter in waiters {
            waiter.abort();
        }
    }
}
