//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::auth::client_address::TrustedProxies;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Passwords;
use crate::auth::throttle::LoginThrottle;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::engine::links::LinkSigner;
use crate::feed::listener::Feed;
use loyalcast_delivery::config::SmsProvider;
use loyalcast_delivery::twilio::webhook::SignatureVerifier;

pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub jwt: JwtKeys,
    pub throttle: LoginThrottle,
    /// The argon2 work of this process, bounded.
    pub passwords: Arc<Passwords>,
    /// Whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    pub links: LinkSigner,
    /// Checks Twilio's webhook signatures; `None` when SMS is not on Twilio.
    pub twilio: Option<SignatureVerifier>,
    /// The time handlers and services go by.
    pub clock: SharedClock,
    /// This process's listener on the change feed, which the streams subscribe to.
    pub feed: Feed,
    /// Enrolments per client address on the public enrolment pages.
    pub enrolments: crate::auth::throttle::EnrolmentLimiter,
    /// Google Wallet: classes and save links for the enrolment page (the sandbox without
    /// an issuer).
    pub google_wallet: Arc<dyn crate::wallet::google::GoogleWallet>,
    /// The VAPID identity browsers subscribe with; `None` without a key.
    pub vapid: Option<Arc<crate::wallet::webpush::Vapid>>,
    /// When the signing keys were last read from the database on a miss.
    keys_read_at: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Signs Apple Wallet passes; made on first use (development material costs two RSA
    /// keys).
    pass_signer: tokio::sync::OnceCell<Arc<crate::wallet::apple::PassSigner>>,
}

/// The least time between two reads of the keys caused by a token that did not verify (a
/// flood of forged tokens costs one query per this much time).
const KEY_READ_PAUSE: chrono::Duration = chrono::Duration::seconds(5);

impl AppState {
    /// The state of a server with the system clock; `feed` is the process's listener.
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        keys: &crate::keys::Keys,
        clock: SharedClock,
        feed: Feed,
    ) -> anyhow::Result<Self> {
        let twilio = match &config.delivery.sms {
            SmsProvider::Twilio(twilio) => Some(SignatureVerifier::new(twilio.auth_token.clone())),
            SmsProvider::Sandbox => None,
        };
        let google_wallet: Arc<dyn crate::wallet::google::GoogleWallet> =
            match crate::wallet::google::GoogleWalletClient::from_config(
                &config.google_wallet,
                clock.clone(),
            )? {
                Some(client) => Arc::new(client),
                None => Arc::new(crate::wallet::google::SandboxGoogleWallet),
            };
        Ok(AppState {
            google_wallet,
            vapid: crate::wallet::webpush::Vapid::from_config(&config.web_push)?.map(Arc::new),
            jwt: keys.jwt(config.jwt_ttl_minutes)?,
            links: keys.link_signer(),
            keys_read_at: std::sync::Mutex::new(None),
            enrolments: crate::auth::throttle::enrolment_limiter(),
            pass_signer: tokio::sync::OnceCell::new(),
            twilio,
            throttle: LoginThrottle::new(
                config.login_failures_per_account,
                config.login_failures_per_address,
                chrono::Duration::minutes(i64::from(config.login_failure_window_minutes)),
            ),
            passwords: Arc::new(Passwords::new(
                config.password_hashing_concurrency,
                Duration::from_millis(config.password_hashing_wait_ms),
            )),
            proxies: TrustedProxies::parse(&config.trusted_proxies)?,
            feed,
            db,
            config,
            clock,
        })
    }
}

impl AppState {
    /// The signer of Apple Wallet passes, made on first use.
    pub async fn pass_signer(&self) -> anyhow::Result<Arc<crate::wallet::apple::PassSigner>> {
        self.pass_signer
            .get_or_try_init(|| async {
                let wallet = self.config.apple_wallet.clone();
                let public_url = self.config.public_url.clone();
                let signer = tokio::task::spawn_blocking(move || {
                    crate::wallet::apple::PassSigner::new(&wallet, &public_url)
                })
                .await??;
                Ok(Arc::new(signer))
            })
            .await
            .cloned()
    }

    /// The delivery a link's token names, if it is genuine; read with the keys as the
    /// database has them now when this process's keys do not verify it.
    pub async fn verify_link(
        &self,
        purpose: crate::engine::links::Purpose,
        token: &str,
    ) -> Option<i64> {
        match self.links.verify(purpose, token) {
            Some(id) => Some(id),
            None if token.len() <= crate::engine::links::MAX_TOKEN_LEN
                && self.read_keys_again().await =>
            {
                self.links.verify(purpose, token)
            }
            None => None,
        }
    }

    /// A session token's claims, read the same way.
    pub async fn verify_session(&self, token: &str) -> Option<crate::auth::jwt::Claims> {
        match self.jwt.verify(token) {
            Some(claims) => Some(claims),
            None if self.read_keys_again().await => self.jwt.verify(token),
            None => None,
        }
    }

    /// Reads the signing keys again when a token did not verify: another process may sign
    /// with a key this one has not seen yet (a rotation). At most once per [`KEY_READ_PAUSE`];
    /// whether the keys were read.
    pub async fn read_keys_again(&self) -> bool {
        let now = self.clock.now();
        {
            let mut last = self
                .keys_read_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| now < at + KEY_READ_PAUSE) {
                return false;
            }
            *last = Some(now);
        }
        match crate::keys::load(&self.db, &self.config, now).await {
            Ok(keys) => {
                keys.install(Some(&self.jwt), &self.links);
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "reading the signing keys failed");
                false
            }
        }
    }
}
