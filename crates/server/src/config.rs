//! Configuration: an optional TOML file (`loyalcast.toml`, or the path in
//! `LOYALCAST_CONFIG`) overridden by `LOYALCAST_*` environment variables; `DATABASE_URL`
//! is honoured as usual. Secrets are wrapped so that they never print.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `sqlite://data/loyalcast.db?mode=rwc` (embedded) or `postgres://...`.
    #[serde(default = "defaults::database_url")]
    pub database_url: String,
    /// Address the HTTP server listens on.
    #[serde(default = "defaults::bind")]
    pub bind: String,
    /// The URL merchants and providers reach this server at (links, webhooks).
    #[serde(default = "defaults::public_url")]
    pub public_url: String,
    /// Where the embedded database and generated secrets live.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// The built single-page app (Trunk's `dist`), served at `/`.
    #[serde(default = "defaults::spa_dir")]
    pub spa_dir: PathBuf,
    /// HMAC key for session tokens. Generated into the data directory when absent.
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of a session token.
    #[serde(default = "defaults::jwt_ttl_minutes")]
    pub jwt_ttl_minutes: i64,
    /// Whether anyone may sign up a new merchant through the API.
    #[serde(default = "defaults::yes")]
    pub signup_enabled: bool,
    /// Seed the demo merchant on start when the database has no merchant yet.
    #[serde(default)]
    pub seed_demo: bool,
    /// Log as JSON lines instead of text.
    #[serde(default)]
    pub log_json: bool,
    /// Sign-in attempts allowed per account in a window (a success forgives them).
    #[serde(default = "defaults::login_failures_per_account")]
    pub login_failures_per_account: u32,
    /// Failed sign-ins allowed per client address in a window.
    #[serde(default = "defaults::login_failures_per_address")]
    pub login_failures_per_address: u32,
    /// The window sign-in attempts are counted in, in minutes (at most a day).
    #[serde(default = "defaults::login_failure_window_minutes")]
    pub login_failure_window_minutes: u32,
    /// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks. The client is
    /// the right-most address in the header that is not one of them; from any other peer
    /// the header is ignored. Empty (the default): the peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Argon2 hashes (19 MiB each) run at once, across sign-in, sign-up, password changes
    /// and new team members.
    #[serde(default = "defaults::password_hashing_concurrency")]
    pub password_hashing_concurrency: usize,
    /// How long a request waits for a hashing slot before it is refused (503).
    #[serde(default = "defaults::password_hashing_wait_ms")]
    pub password_hashing_wait_ms: u64,
    /// Largest accepted JSON body.
    #[serde(default = "defaults::max_json_bytes")]
    pub max_json_bytes: usize,
    /// Largest accepted CSV import.
    #[serde(default = "defaults::max_import_bytes")]
    pub max_import_bytes: usize,
    /// Channel providers and their rate limits; every channel is a labelled sandbox unless
    /// configured (`[delivery.sms] provider = "twilio"` ...).
    #[serde(default)]
    pub delivery: loyalcast_delivery::config::DeliveryConfig,
    /// Deliveries a worker claims at once.
    #[serde(default = "defaults::worker_batch")]
    pub worker_batch: u64,
    /// Sends a worker keeps in flight.
    #[serde(default = "defaults::worker_concurrency")]
    pub worker_concurrency: usize,
    /// How long a claimed batch is held before other workers may take it back (a worker
    /// that died); longer than the slowest batch takes to send.
    #[serde(default = "defaults::worker_lease_seconds")]
    pub worker_lease_seconds: u64,
}

mod defaults {
    use std::path::PathBuf;

    pub fn database_url() -> String {
        "sqlite://data/loyalcast.db?mode=rwc".to_owned()
    }
    pub fn bind() -> String {
        "127.0.0.1:8080".to_owned()
    }
    pub fn public_url() -> String {
        "http://127.0.0.1:8080".to_owned()
    }
    pub fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub fn spa_dir() -> PathBuf {
        PathBuf::from("frontend/dist")
    }
    pub fn jwt_ttl_minutes() -> i64 {
        60
    }
    pub fn yes() -> bool {
        true
    }
    pub fn login_failures_per_account() -> u32 {
        5
    }
    pub fn login_failures_per_address() -> u32 {
        20
    }
    pub fn login_failure_window_minutes() -> u32 {
        15
    }
    pub fn password_hashing_concurrency() -> usize {
        4
    }
    pub fn password_hashing_wait_ms() -> u64 {
        1_000
    }
    pub fn max_json_bytes() -> usize {
        256 * 1024
    }
    pub fn max_import_bytes() -> usize {
        20 * 1024 * 1024
    }
    pub fn worker_batch() -> u64 {
        1_000
    }
    pub fn worker_concurrency() -> usize {
        64
    }
    pub fn worker_lease_seconds() -> u64 {
        120
    }
}

impl Config {
    /// Reads the file (when present) and the environment.
    pub fn load() -> anyhow::Result<Self> {
        let file =
            std::env::var("LOYALCAST_CONFIG").unwrap_or_else(|_| "loyalcast.toml".to_owned());
        let mut figment = Figment::new().merge(Toml::file(file));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(("database_url", url));
        }
        let config: Config = figment
            .merge(Env::prefixed("LOYALCAST_").ignore(&["config"]).split("__"))
            .extract()?;
        Ok(config)
    }

    /// The configuration with every default, for tests and tools.
    pub fn defaults() -> anyhow::Result<Self> {
        Ok(Figment::new().extract()?)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}
