//! Configuration: an optional TOML file (`loyalcast.toml`, or the path in
//! `LOYALCAST_CONFIG`) overridden by `LOYALCAST_*` environment variables; `DATABASE_URL`
//! is honoured as usual. Secrets are wrapped so that they never print.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

/// The shortest key or token the server accepts.
pub const MIN_SECRET_BYTES: usize = 32;

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
    /// HMAC key for session tokens, at least 32 bytes. When absent, one is generated once in
    /// the database, so every process on it shares it.
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
    /// Earlier session keys, still accepted for verification after a rotation.
    #[serde(default)]
    pub jwt_previous_secrets: Vec<SecretString>,
    /// HMAC key for the signed links in messages (unsubscribe, opens), at least 32 bytes; its
    /// own key, so rotating the session key leaves every link sent working. Generated once in
    /// the database when absent.
    #[serde(default)]
    pub link_secret: Option<SecretString>,
    /// Earlier link keys, still accepted for verification: keep one for at least 60 days
    /// after it stopped signing, so that the links in messages sent with it keep working.
    #[serde(default)]
    pub link_previous_secrets: Vec<SecretString>,
    /// Lifetime of a session token.
    #[serde(default = "defaults::jwt_ttl_minutes")]
    pub jwt_ttl_minutes: i64,
    /// Whether anyone may sign up a new merchant through the API. Off unless the operator
    /// turns it on: merchants send on the operator's accounts.
    #[serde(default)]
    pub signup_enabled: bool,
    /// The operator's bearer token for `/api/v1/operator` (top-ups, merchants); at least 32
    /// bytes. Without it the operator API answers 401 and top-ups go through the command line.
    #[serde(default)]
    pub operator_token: Option<SecretString>,
    /// SMS credits a new merchant starts with (a trial), from the operator; 0 by default.
    #[serde(default)]
    pub trial_sms_credits: i64,
    /// Email credits a new merchant starts with (a trial), from the operator; 0 by default.
    #[serde(default)]
    pub trial_email_credits: i64,
    /// Where merchants buy credits (shown in the dashboard instead of a top-up form).
    #[serde(default)]
    pub credits_purchase_url: Option<String>,
    /// What merchants are told to do to get credits (e.g. whom to contact).
    #[serde(default)]
    pub credits_purchase_text: Option<String>,
    /// The bearer token `/metrics` asks for; at least 32 bytes. Without it `/metrics` is
    /// not served (404).
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
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
    /// Apple Wallet: the pass type certificate that signs passes (development material is
    /// made at start when none is given; real devices refuse it).
    #[serde(default)]
    pub apple_wallet: AppleWalletConfig,
    /// Google Wallet's issuer account (`[google_wallet]`, or `LOYALCAST_GOOGLE_WALLET__...`).
    #[serde(default)]
    pub google_wallet: GoogleWalletConfig,
    /// Web push to browsers that subscribed on the enrolment page (`[web_push]`, or
    /// `LOYALCAST_WEB_PUSH__...`).
    #[serde(default)]
    pub web_push: WebPushConfig,
}

/// The server's VAPID identity for web push, and which push services it posts to.
#[derive(Debug, Clone, Deserialize)]
pub struct WebPushConfig {
    /// The VAPID private key: a P-256 private key, 32 bytes in base64url
    /// (`loyalcast vapid-key` makes one). Without it, the enrolment page offers no browser
    /// notifications and pushes to existing subscriptions go to the sandbox.
    #[serde(default)]
    pub vapid_private_key: Option<SecretString>,
    /// Where push services can reach the operator: `mailto:` or `https:`.
    #[serde(default = "defaults::web_push_subject")]
    pub subject: String,
    /// The push services subscriptions may name, as host names or suffixes (`.push.apple.com`
    /// matches `web.push.apple.com`): the server posts to these and nowhere else, so a
    /// subscription cannot make it call an address of the operator's own network. Endpoints
    /// must be `https`, except on a loopback host listed here (for tests).
    #[serde(default = "defaults::web_push_hosts")]
    pub endpoint_hosts: Vec<String>,
}

impl Default for WebPushConfig {
    fn default() -> Self {
        WebPushConfig {
            vapid_private_key: None,
            subject: defaults::web_push_subject(),
            endpoint_hosts: defaults::web_push_hosts(),
        }
    }
}

impl WebPushConfig {
    /// Whether the server may post to `endpoint`.
    pub fn allows(&self, endpoint: &str) -> bool {
        let Ok(url) = endpoint.parse::<http::Uri>() else {
            return false;
        };
        let Some(host) = url.host().map(|h| h.to_ascii_lowercase()) else {
            return false;
        };
        let listed = self.endpoint_hosts.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            if allowed.starts_with('.') {
                host.ends_with(&allowed)
            } else {
                host == allowed
            }
        });
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        listed
            && match url.scheme_str() {
                Some("https") => true,
                Some("http") => loopback,
                _ => false,
            }
    }
}

/// How Apple Wallet passes are signed and named (`[apple_wallet]`, or
/// `LOYALCAST_APPLE_WALLET__...`).
#[derive(Debug, Clone, Deserialize)]
pub struct AppleWalletConfig {
    /// The pass type identifier of cards that do not name their own.
    #[serde(default = "defaults::pass_type_id")]
    pub pass_type_id: String,
    /// The Apple team that owns the pass type identifier.
    #[serde(default = "defaults::team_id")]
    pub team_id: String,
    /// The pass type certificate, PEM (from Apple's developer site, exported with its key).
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// Its private key, PKCS#8 PEM.
    #[serde(default)]
    pub key_pem: Option<SecretString>,
    /// The WWDR intermediate that issued the certificate, PEM; Apple's G4 when left out.
    #[serde(default)]
    pub wwdr_pem: Option<String>,
    /// Passes signed at once, each on a blocking thread.
    #[serde(default = "defaults::signing_concurrency")]
    pub signing_concurrency: usize,
    /// Signed passes kept in memory, one per pass at its current update tag.
    #[serde(default = "defaults::signed_pass_cache")]
    pub signed_pass_cache: usize,
    /// The APNs environment pass updates go to. Wallet passes signed with a production pass
    /// type certificate are woken through `production`.
    #[serde(default)]
    pub apns_endpoint: ApnsEndpoint,
    /// APNs token authentication instead of the pass type certificate: the `.p8` key (PEM)
    /// and its key id, with `team_id`. Without either, pass updates are sent with the
    /// certificate and key above; without those too, by the sandbox (nothing goes out).
    #[serde(default)]
    pub apns_key_pem: Option<SecretString>,
    #[serde(default)]
    pub apns_key_id: Option<String>,
    /// Notifications to one device for one pass at least this many seconds apart: a push
    /// within the gap waits for its end, and one whose change the device fetched meanwhile
    /// sends nothing more (Apple throttles repeated pass pushes without saying so).
    #[serde(default = "defaults::push_gap_seconds")]
    pub push_gap_seconds: u64,
}

/// The Google Wallet issuer that Google passes belong to.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleWalletConfig {
    /// The issuer id from the Google Pay & Wallet Console. Without it (and the service
    /// account), pushes to Google passes go to the sandbox (nothing goes out).
    #[serde(default)]
    pub issuer_id: Option<String>,
    /// The service account's JSON key file, as Google gives it (its `client_email`,
    /// `private_key` and `token_uri` are used).
    #[serde(default)]
    pub service_account_json: Option<SecretString>,
    /// Google Wallet's REST API.
    #[serde(default = "defaults::google_wallet_base_url")]
    pub base_url: String,
    /// Requests a second to Google from this process (Google's API rate is about 20).
    #[serde(default = "defaults::google_wallet_rate")]
    pub requests_per_second: u32,
}

impl Default for GoogleWalletConfig {
    fn default() -> Self {
        GoogleWalletConfig {
            issuer_id: None,
            service_account_json: None,
            base_url: defaults::google_wallet_base_url(),
            requests_per_second: defaults::google_wallet_rate(),
        }
    }
}

/// Apple's two APNs environments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApnsEndpoint {
    #[default]
    Production,
    Sandbox,
}

impl Default for AppleWalletConfig {
    fn default() -> Self {
        AppleWalletConfig {
            pass_type_id: defaults::pass_type_id(),
            team_id: defaults::team_id(),
            certificate_pem: None,
            key_pem: None,
            wwdr_pem: None,
            signing_concurrency: defaults::signing_concurrency(),
            signed_pass_cache: defaults::signed_pass_cache(),
            apns_endpoint: ApnsEndpoint::default(),
            apns_key_pem: None,
            apns_key_id: None,
            push_gap_seconds: defaults::push_gap_seconds(),
        }
    }
}

mod defaults {
    use std::path::PathBuf;

    pub fn database_url() -> String {
        "sqlite://data/loyalcast.db?mode=rwc".to_owned()
    }
    pub fn google_wallet_base_url() -> String {
        "https://walletobjects.googleapis.com".to_owned()
    }
    pub fn google_wallet_rate() -> u32 {
        20
    }
    pub fn web_push_subject() -> String {
        "mailto:ops@loyalcast.invalid".to_owned()
    }
    /// The push services of Chrome and Edge (FCM), Firefox, Safari and Windows.
    pub fn web_push_hosts() -> Vec<String> {
        [
            "fcm.googleapis.com",
            "updates.push.services.mozilla.com",
            ".push.apple.com",
            ".notify.windows.com",
        ]
        .map(str::to_owned)
        .to_vec()
    }
    pub fn push_gap_seconds() -> u64 {
        60
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
    pub fn pass_type_id() -> String {
        "pass.dev.loyalcast.card".to_owned()
    }
    pub fn team_id() -> String {
        "LOYALCASTDV".to_owned()
    }
    pub fn signing_concurrency() -> usize {
        2
    }
    pub fn signed_pass_cache() -> usize {
        20_000
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

    /// Refuses a configuration the server must not run with: a secret shorter than 32
    /// bytes, a negative trial.
    pub fn check(&self) -> anyhow::Result<()> {
        use secrecy::ExposeSecret;
        for (name, secret) in [
            ("jwt_secret", &self.jwt_secret),
            ("link_secret", &self.link_secret),
            ("operator_token", &self.operator_token),
            ("metrics_token", &self.metrics_token),
        ] {
            if let Some(secret) = secret
                && secret.expose_secret().len() < MIN_SECRET_BYTES
            {
                anyhow::bail!("{name} must be at least {MIN_SECRET_BYTES} bytes long");
            }
        }
        for (name, secrets) in [
            ("jwt_previous_secrets", &self.jwt_previous_secrets),
            ("link_previous_secrets", &self.link_previous_secrets),
        ] {
            if secrets
                .iter()
                .any(|s| s.expose_secret().len() < MIN_SECRET_BYTES)
            {
                anyhow::bail!("each of {name} must be at least {MIN_SECRET_BYTES} bytes long");
            }
        }
        if self.trial_sms_credits < 0 || self.trial_email_credits < 0 {
            anyhow::bail!("trial credits cannot be negative");
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}
