//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::SecretString;

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
}

impl AppState {
    /// The state of a server with the system clock; `feed` is the process's listener.
    pub fn new(
        db: DatabaseConnection,
        config: Arc<Config>,
        jwt_secret: &SecretString,
        clock: SharedClock,
        feed: Feed,
    ) -> anyhow::Result<Self> {
        let twilio = match &config.delivery.sms {
            SmsProvider::Twilio(twilio) => Some(SignatureVerifier::new(twilio.auth_token.clone())),
            SmsProvider::Sandbox => None,
        };
        Ok(AppState {
            jwt: JwtKeys::new(jwt_secret, config.jwt_ttl_minutes)?,
            links: LinkSigner::new(jwt_secret),
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
