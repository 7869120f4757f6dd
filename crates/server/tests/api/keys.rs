//! Keys every process shares: made once in the database when the configuration gives none,
//! so a link signed by one process (a worker) verifies in another (serve), and a session
//! of one server works on the next; a rotation keeps what was signed before it working.

use chrono::Duration;
use loyalcast::clock::{Clock, ManualClock, SharedClock};
use loyalcast::engine::links::{LinkSigner, Purpose};
use loyalcast::keys::{self, ACTIVATION};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_full};
use crate::mailings::{customers, top_up};

fn without_keys(config: &mut loyalcast::config::Config) {
    config.jwt_secret = None;
    config.link_secret = None;
}

/// A delivery id of a mailing sent to a few customers (not drained: the link is what counts).
async fn a_delivery(app: &TestApp) -> (crate::helpers::Tenant, i64) {
    let t = app.tenant("Key Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 3).await;
    let r = app
        .post(
            "/api/v1/mailings",
            &t.token,
            &json!({"name": "Keys", "audience": {"type": "all"}, "channels": ["sms"],
                    "content": {"sms": {"body": "Hi"}}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT MIN(id) AS id FROM deliveries",
        ))
        .await
        .unwrap()
        .unwrap();
    (t, row.try_get::<i64>("", "id").unwrap())
}

async fn page_status(app: &TestApp, token: &str) -> StatusCode {
    app.client
        .get(app.url(&format!("/u/{token}")))
        .send()
        .await
        .unwrap()
        .status()
}

async fn keys_are_shared_through_the_database_and_survive_a_rotation(backend: Backend) {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let shared: SharedClock = clock.shared();
    let Some(app) = spawn_full(backend, without_keys, shared).await else {
        return;
    };
    let (t, delivery) = a_delivery(&app).await;
    // A worker on another host: its own connection, the same database, no key configured.
    let worker_db = app.other_connection().await;
    let worker = keys::load(&worker_db, &app.config, clock.now())
        .await
        .unwrap();
    let sent = worker.link_signer().token(Purpose::Unsubscribe, delivery);
    assert_eq!(
        page_status(&app, &sent).await,
        StatusCode::OK,
        "signed by the worker, read by serve"
    );
    // A key of its own would not do: verification is real.
    let stranger = LinkSigner::new(&SecretString::from("a key nobody else has, long enough"));
    let forged = stranger.token(Purpose::Unsubscribe, delivery);
    assert_eq!(page_status(&app, &forged).await, StatusCode::NOT_FOUND);
    // A second server on the database takes the first one's sessions.
    let other = app.another_instance().await;
    let me = app
        .client
        .get(format!("{}/api/v1/me", other.address))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Rotate both keys. The worker reads the keys after the activation and signs with the
    // new link key; serve, which has not read them since, learns it on the first miss.
    clock.advance(Duration::seconds(10));
    keys::rotate(&app.db, keys::Purpose::Links, clock.now())
        .await
        .unwrap();
    keys::rotate(&app.db, keys::Purpose::Sessions, clock.now())
        .await
        .unwrap();
    clock.advance(ACTIVATION + Duration::seconds(1));
    let rotated = keys::load(&worker_db, &app.config, clock.now())
        .await
        .unwrap();
    let fresh = rotated.link_signer().token(Purpose::Unsubscribe, delivery);
    assert_ne!(fresh, sent, "signed with the new key");
    assert_eq!(page_status(&app, &fresh).await, StatusCode::OK);
    // What was signed before the rotation still works: the session, and the link for the
    // retention (60 days at least).
    assert_eq!(
        app.get("/api/v1/me", &t.token).await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::days(60));
    assert_eq!(page_status(&app, &sent).await, StatusCode::OK);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keys_are_shared_through_the_database_and_survive_a_rotation() {
    keys_are_shared_through_the_database_and_survive_a_rotation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_are_shared_through_the_database_and_survive_a_rotation() {
    keys_are_shared_through_the_database_and_survive_a_rotation(Backend::Postgres).await;
}

/// A session signed before a rotation keeps working after it (on every server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_before_a_session_key_rotation_still_works() {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let shared: SharedClock = clock.shared();
    let app = spawn_full(Backend::Sqlite, without_keys, shared)
        .await
        .unwrap();
    let t = app.tenant("Rotation Cafe").await;
    keys::rotate(&app.db, keys::Purpose::Sessions, clock.now())
        .await
        .unwrap();
    clock.advance(ACTIVATION + Duration::seconds(10));
    // A server started after the rotation signs with the new key and takes the old token.
    let other = app.another_instance().await;
    let me = app
        .client
        .get(format!("{}/api/v1/me", other.address))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &t.token).await.status(),
        StatusCode::OK
    );
    app.cleanup().await;
}

/// A configured key shorter than 32 bytes stops the process before it does anything.
#[test]
fn a_short_key_stops_the_process() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loyalcast"))
        .arg("migrate")
        .env("LOYALCAST_DATABASE_URL", "sqlite::memory:")
        .env("LOYALCAST_LINK_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("link_secret must be at least 32 bytes"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("too-short"),
        "the key itself is never printed"
    );
}
