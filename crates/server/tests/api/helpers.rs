use std::path::PathBuf;
use std::sync::Arc;

use loyalcast::auth::password::Passwords;
use loyalcast::clock::SharedClock;
use loyalcast::config::Config;
use loyalcast::startup::Application;
use loyalcast_dto::{Problem, Session, SignUpRequest};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub const JWT_SECRET: &str = "integration-test-secret-with-enough-entropy";
pub const PASSWORD: &str = "a long enough password";
/// The operator's token in every test app (tops up credits through `/api/v1/operator`).
pub const OPERATOR_TOKEN: &str = "operator-token-of-the-test-suite-0123456789";
/// The token `/metrics` asks for in every test app.
pub const METRICS_TOKEN: &str = "metrics-token-of-the-test-suite-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// The server's password work: how many argon2 runs it started.
    pub passwords: Arc<Passwords>,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// Spawns the app on a fresh database; `None` when PostgreSQL is absent and not required.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    spawn_full(backend, adjust, loyalcast::clock::system()).await
}

/// Spawns the app going by `clock` (a manual one, to move time on without sleeping).
pub async fn spawn_clocked(backend: Backend, clock: SharedClock) -> Option<TestApp> {
    spawn_full(backend, |_| {}, clock).await
}

pub async fn spawn_full(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    clock: SharedClock,
) -> Option<TestApp> {
    let (url, cleanup) = match backend {
        Backend::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("loyalcast-test-{}", Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            (
                format!("sqlite://{}/test.db?mode=rwc", dir.display()),
                Cleanup::Dir(dir),
            )
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let admin = match Database::connect(&admin_url).await {
                Ok(db) => db,
                Err(err) if !postgres_required() => {
                    eprintln!(
                        "PostgreSQL not reachable ({err}); skipping (set REQUIRE_POSTGRES=1 to fail)"
                    );
                    return None;
                }
                Err(err) => panic!("PostgreSQL is required but not reachable: {err}"),
            };
            let name = format!("loyalcast_test_{}", Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url);
            (
                format!("{base}/{name}"),
                Cleanup::PgDatabase { admin_url, name },
            )
        }
    };
    let mut config = Config::defaults().unwrap();
    config.database_url = url.clone();
    config.bind = "127.0.0.1:0".to_owned();
    config.spa_dir = PathBuf::from("/nonexistent-loyalcast-spa");
    config.jwt_secret = Some(SecretString::from(JWT_SECRET));
    config.login_failures_per_address = 1000;
    // Sign-up is off by default; the suite signs its tenants up.
    config.signup_enabled = true;
    config.operator_token = Some(SecretString::from(OPERATOR_TOKEN));
    config.metrics_token = Some(SecretString::from(METRICS_TOKEN));
    adjust(&mut config);
    let config = Arc::new(config);
    let db = loyalcast::db::connect(&url).await.unwrap();
    loyalcast::db::migrate(&db).await.unwrap();
    // The keys as `serve` reads them: the configured session key, the link key made once in
    // the database.
    let keys = loyalcast::keys::load(&db, &config, clock.now())
        .await
        .unwrap();
    let app = Application::build_with_clock(config.clone(), db.clone(), &keys, clock).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let passwords = app.passwords();
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        address,
        client: reqwest::Client::builder().build().unwrap(),
        db,
        config,
        passwords,
        cleanup,
    })
}

/// Declares each listed test twice: once on SQLite, once on PostgreSQL. With
/// `config = path;` first, each app's configuration is adjusted by that function first.
#[macro_export]
macro_rules! db_tests {
    (config = $adjust:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_with($crate::helpers::Backend::Sqlite, $adjust).await.unwrap();
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::helpers::spawn_with($crate::helpers::Backend::Postgres, $adjust).await else { return };
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn($crate::helpers::Backend::Sqlite).await.unwrap();
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::helpers::spawn($crate::helpers::Backend::Postgres).await else { return };
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            )*
        }
    };
}

/// A merchant signed up through the API, with its owner's session.
pub struct Tenant {
    pub session: Session,
    pub token: String,
}

/// Another server on the same database, with its own connections and its own change-feed
/// listener: what a second `serve` process behind the load balancer is.
pub struct Instance {
    pub address: String,
    pub db: DatabaseConnection,
    pub passwords: Arc<Passwords>,
}

impl TestApp {
    /// Starts another server on this app's database (see [`Instance`]).
    pub async fn another_instance(&self) -> Instance {
        let db = loyalcast::db::connect(&self.config.database_url)
            .await
            .unwrap();
        let keys = loyalcast::keys::load(&db, &self.config, chrono::Utc::now())
            .await
            .unwrap();
        let app = Application::build(self.config.clone(), db.clone(), &keys).unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let passwords = app.passwords();
        tokio::spawn(app.run_until_stopped());
        Instance {
            address,
            db,
            passwords,
        }
    }

    /// A connection of its own to this app's database, as another process would have.
    pub async fn other_connection(&self) -> DatabaseConnection {
        loyalcast::db::connect(&self.config.database_url)
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn post<B: Serialize>(&self, path: &str, token: &str, body: &B) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put<B: Serialize>(&self, path: &str, token: &str, body: &B) -> Response {
        self.request(Method::PUT, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch<B: Serialize>(&self, path: &str, token: &str, body: &B) -> Response {
        self.request(Method::PATCH, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    /// Posts a CSV file to the customer import.
    pub async fn import_csv(&self, token: &str, csv: impl Into<reqwest::Body>) -> Response {
        self.request(Method::POST, "/api/v1/customers/import", Some(token))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
    }

    /// Posts a CSV file to the customer import with a query (a consent declaration).
    pub async fn import_csv_with(
        &self,
        token: &str,
        query: &str,
        csv: impl Into<reqwest::Body>,
    ) -> Response {
        let path = format!("/api/v1/customers/import?{query}");
        self.request(Method::POST, &path, Some(token))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Signs up a new merchant with a unique owner email.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let email = format!(
            "owner-{}@{}.example.com",
            Uuid::new_v4().simple(),
            name.to_lowercase().replace(' ', "-")
        );
        let response = self
            .client
            .post(self.url("/api/v1/signup"))
            .json(&SignUpRequest {
                merchant_name: name.to_owned(),
                owner_name: format!("{name} Owner"),
                email,
                password: PASSWORD.to_owned(),
                time_zone: Some("Europe/Berlin".to_owned()),
                default_country: Some("US".to_owned()),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let session: Session = response.json().await.unwrap();
        Tenant {
            token: session.token.clone(),
            session,
        }
    }

    /// Adds a team member with `role` to the tenant and returns their session token.
    pub async fn member(&self, tenant: &Tenant, role: &str) -> String {
        let email = format!("{role}-{}@team.example.com", Uuid::new_v4().simple());
        let response = self
            .post(
                "/api/v1/team",
                &tenant.token,
                &serde_json::json!({"name": role, "email": email, "password": PASSWORD, "role": role}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let session: Session = json(self.login(&email, PASSWORD).await, StatusCode::OK).await;
        session.token
    }

    /// Everything a public request could change: every customer (contacts, consent), every
    /// delivery (status, error) and every report counter, in a stable order.
    pub async fn snapshot(&self) -> Snapshot {
        use loyalcast::entity::{customer, delivery, mailing_stat};
        use sea_orm::{EntityTrait, QueryOrder};
        Snapshot {
            customers: customer::Entity::find()
                .order_by_asc(customer::Column::Id)
                .all(&self.db)
                .await
                .unwrap(),
            deliveries: delivery::Entity::find()
                .order_by_asc(delivery::Column::Id)
                .all(&self.db)
                .await
                .unwrap(),
            stats: mailing_stat::Entity::find()
                .order_by_asc(mailing_stat::Column::MailingId)
                .order_by_asc(mailing_stat::Column::Channel)
                .all(&self.db)
                .await
                .unwrap(),
        }
    }

    /// Asserts that the server still answers, after a request meant to upset it.
    pub async fn assert_healthy(&self) {
        let response = self.client.get(self.url("/healthz")).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "/healthz after the request"
        );
    }

    /// Writes `request` as it is on a new connection and reads the whole answer, for requests
    /// a client library will not build (a chunked body of our making, bytes that are not
    /// text). The request should say `Connection: close`. Returns the status and the answer.
    pub async fn raw(&self, request: Vec<u8>) -> (u16, String) {
        use std::io::{Read, Write};
        let address = self.address.trim_start_matches("http://").to_owned();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            // The server may answer and close before it has read everything (a body over
            // the limit): a write error then is not the test's concern; the answer is.
            let _ = stream.write_all(&request);
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            let answer = String::from_utf8_lossy(&answer).into_owned();
            let status = answer
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (status, answer)
        })
        .await
        .unwrap()
    }

    pub async fn cleanup(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                self.db.close().await.ok();
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::PgDatabase { admin_url, name } => {
                self.db.close().await.ok();
                if let Ok(admin) = Database::connect(&admin_url).await {
                    admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok();
                    admin.close().await.ok();
                }
            }
        }
    }
}

/// What [`TestApp::snapshot`] saw.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub customers: Vec<loyalcast::entity::customer::Model>,
    pub deliveries: Vec<loyalcast::entity::delivery::Model>,
    pub stats: Vec<loyalcast::entity::mailing_stat::Model>,
}

/// Reads a JSON body after checking the status.
pub async fn json<T: DeserializeOwned>(response: Response, expected: StatusCode) -> T {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Reads a problem document after checking the status and the media type.
pub async fn problem(response: Response, expected: StatusCode) -> Problem {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(
        content_type,
        "application/problem+json",
        "status {}",
        response.status()
    );
    let problem: Problem = json(response, expected).await;
    assert_eq!(problem.status, expected.as_u16());
    assert!(problem.kind.starts_with("https://loyalcast.dev/problems/"));
    problem
}

/// The field names of a validation problem.
pub fn fields(problem: &Problem) -> Vec<String> {
    problem.errors.iter().map(|e| e.field.clone()).collect()
}

/// Everything this test binary logs, from the first call on: a subscriber writing into
/// memory at DEBUG, installed once for the whole process (the servers log from their own
/// threads, so a thread's default subscriber would not see them).
pub fn captured_logs() -> &'static LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = LogCapture::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(capture.clone())
            .try_init()
            .expect("no other subscriber in the test binary");
        capture
    })
}

#[derive(Clone, Default)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
