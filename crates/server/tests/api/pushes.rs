//! Wallet pushes end to end: the merchant sends through the API, the engine wakes every
//! registered device through a recording APNs notifier, and the simulated iPhone of
//! `passkit.rs` lists, fetches and verifies the updated pass with the message on its back.
//! Scheduling fires once across restarts and two workers; APNs' answers (410, 429) are
//! acted on; pushes never touch the balances.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use loyalcast::clock::{ManualClock, SharedClock};
use loyalcast::config::Config;
use loyalcast::engine::worker::{PassPushes, Worker, WorkerConfig};
use loyalcast::entity::pass_registration;
use loyalcast::wallet::apns::{Accepted, NotifyError, PassNotifier};
use loyalcast_dto::{ApnsEnvironment, Push, PushEstimate, PushStatus};
use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::{self, Backend, TestApp, json, problem};
use crate::mailings::Senders;
use crate::passkit::{
    DEVICE, PASS_TYPE, Phone, back_field, installed_pass, open_and_verify, with_pass_certificate,
};

/// Declares each test on SQLite and on PostgreSQL, with a manual clock shared by the app
/// and the test's workers.
macro_rules! clocked_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Backend::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}

clocked_tests!(
    a_push_reaches_the_phone_and_stays_on_the_back_of_the_card,
    apns_answers_remove_gone_devices_and_back_off,
    a_scheduled_push_fires_once_across_restarts_and_two_workers,
    pushes_are_checked_tenant_scoped_and_free,
    pushes_to_one_device_within_the_gap_are_coalesced,
    google_passes_get_three_notifying_messages_a_day_then_text,
);

async fn run<F>(backend: Backend, test: F)
where
    F: AsyncFnOnce(&TestApp, &ManualClock),
{
    run_with(backend, |_| {}, test).await;
}

/// [`run`], with the configuration adjusted further by `adjust`.
pub(crate) async fn run_with<F>(backend: Backend, adjust: impl FnOnce(&mut Config), test: F)
where
    F: AsyncFnOnce(&TestApp, &ManualClock),
{
    let clock = ManualClock::starting_at(Utc::now());
    let Some(app) = helpers::spawn_full(
        backend,
        |config| {
            with_pass_certificate(config);
            adjust(config);
        },
        clock.shared(),
    )
    .await
    else {
        return;
    };
    test(&app, &clock).await;
    app.cleanup().await;
}

/// APNs as the tests see it: every notification is recorded (topic, token, and that the
/// payload was empty, which the trait's shape guarantees); tokens listed in `answers` get
/// that answer instead.
#[derive(Default)]
struct RecordingApns {
    sent: Mutex<Vec<(String, String)>>,
    /// The APNs environment of each notification in `sent`.
    environments: Mutex<Vec<Option<ApnsEnvironment>>>,
    answers: Mutex<Vec<(String, NotifyError)>>,
}

impl RecordingApns {
    fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().unwrap().clone()
    }

    fn answer(&self, token: &str, error: NotifyError) {
        self.answers.lock().unwrap().push((token.to_owned(), error));
    }
}

#[async_trait]
impl PassNotifier for RecordingApns {
    async fn notify(
        &self,
        topic: &str,
        push_token: &str,
        environment: Option<ApnsEnvironment>,
    ) -> Result<Accepted, NotifyError> {
        if let Some((_, error)) = self
            .answers
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| t == push_token)
        {
            return Err(error.clone());
        }
        self.sent
            .lock()
            .unwrap()
            .push((topic.to_owned(), push_token.to_owned()));
        self.environments.lock().unwrap().push(environment);
        Ok(Accepted {
            apns_id: Some(uuid::Uuid::new_v4().to_string()),
            sandbox: false,
        })
    }
}

fn worker(app: &TestApp, clock: SharedClock, apns: &Arc<RecordingApns>) -> Worker {
    crate::mailings::worker(app, &Senders::new(None), WorkerConfig::default())
        .with_clock(clock)
        .with_pass_pushes(PassPushes {
            notifier: apns.clone(),
            default_topic: PASS_TYPE.to_owned(),
            gap: Duration::from_secs(60),
            ..PassPushes::default()
        })
}

/// Steps the worker until a round claims nothing.
pub(crate) async fn drain(worker: &Worker) {
    for _ in 0..20 {
        if worker.step().await.unwrap().claimed == 0 {
            return;
        }
    }
    panic!("the queue did not drain");
}

pub(crate) async fn send_push(app: &TestApp, token: &str, body: serde_json::Value) -> Push {
    json(
        app.post("/api/v1/pushes", token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) async fn get_push(app: &TestApp, token: &str, id: uuid::Uuid) -> Push {
    json(
        app.get(&format!("/api/v1/pushes/{id}"), token).await,
        StatusCode::OK,
    )
    .await
}

async fn a_push_reaches_the_phone_and_stays_on_the_back_of_the_card(
    app: &TestApp,
    clock: &ManualClock,
) {
    let installed = installed_pass(app, "Push Cafe").await;
    let serial = installed.pass.serial_number.clone();
    let phone = Phone {
        app,
        device: DEVICE.to_owned(),
    };
    assert_eq!(
        phone.register(&serial, &installed.token, "token-ada").await,
        StatusCode::CREATED
    );
    let (_, listed) = phone.updated_since(None).await;
    let tag = listed.unwrap()["lastUpdated"].as_str().unwrap().to_owned();

    // The tab's estimate: one holder, one pass, one Apple device.
    let estimate: PushEstimate = json(
        app.post(
            "/api/v1/pushes/estimate",
            &installed.owner,
            &json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "Double stamps all weekend!"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            estimate.holders,
            estimate.passes,
            estimate.apple_passes,
            estimate.apple_devices,
            estimate.same_message
        ),
        (1, 1, 1, 1, 0)
    );

    clock.advance(chrono::Duration::seconds(2));
    let push = send_push(
        app,
        &installed.owner,
        json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "  Double stamps all weekend!  "}),
    )
    .await;
    assert_eq!(push.status, PushStatus::Sending);
    assert_eq!(push.message, "Double stamps all weekend!", "trimmed");
    assert_eq!(
        (push.passes, push.apple.total, push.apple.queued),
        (1, 1, 1)
    );

    let apns = Arc::new(RecordingApns::default());
    let w = worker(app, clock.shared(), &apns);
    drain(&w).await;
    assert_eq!(
        apns.sent(),
        vec![(PASS_TYPE.to_owned(), "token-ada".to_owned())],
        "one notification, for the device's token, with the pass type as topic"
    );
    let after = get_push(app, &installed.owner, push.id).await;
    assert_eq!(after.status, PushStatus::Completed);
    assert_eq!((after.apple.accepted, after.apple.delivered), (1, 0));

    // The phone wakes: the serial changed since its tag, and not since the new one.
    let (status, listed) = phone.updated_since(Some(&tag)).await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed.unwrap();
    assert_eq!(listed["serialNumbers"], json!([serial]));
    let new_tag = listed["lastUpdated"].as_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(
        phone.updated_since(Some(&new_tag)).await.0,
        StatusCode::NO_CONTENT
    );

    // It fetches the pass: signed, with the message on the back, announced as it changes.
    let fetched = phone
        .fetch(Method::GET, &serial, &installed.token, None)
        .await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let last_modified = fetched.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = fetched.bytes().await.unwrap();
    let wwdr = app.config.apple_wallet.wwdr_pem.clone().unwrap();
    let pass_json = open_and_verify(&bytes, &wwdr);
    let message = back_field(&pass_json, "latest_message");
    assert_eq!(message["value"], "Double stamps all weekend!");
    assert_eq!(message["changeMessage"], "%@");
    assert_eq!(
        phone
            .fetch(Method::GET, &serial, &installed.token, Some(&last_modified))
            .await
            .status(),
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        phone
            .fetch(Method::HEAD, &serial, &installed.token, None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        phone
            .fetch(Method::GET, &serial, "not-the-token", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The fetch is the honest "delivered"; fetching again does not count twice.
    phone
        .fetch(Method::GET, &serial, &installed.token, None)
        .await;
    let delivered = get_push(app, &installed.owner, push.id).await;
    assert_eq!(
        (delivered.apple.accepted, delivered.apple.delivered),
        (1, 1)
    );

    // The same text again would change nothing on the phone: the estimate says so.
    let again: PushEstimate = json(
        app.post(
            "/api/v1/pushes/estimate",
            &installed.owner,
            &json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "Double stamps all weekend!"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again.same_message, 1);

    // A card whose pass type is tried on development devices is pushed through the APNs
    // sandbox; the others through the server's default.
    let card_path = format!("/api/v1/cards/{}", installed.pass.card_id);
    let mut card: serde_json::Value =
        json(app.get(&card_path, &installed.owner).await, StatusCode::OK).await;
    assert_eq!(card["apns_environment"], serde_json::Value::Null);
    for read_only in ["id", "installed_passes", "created_at", "updated_at"] {
        card.as_object_mut().unwrap().remove(read_only);
    }
    card["apns_environment"] = json!("sandbox");
    let changed: serde_json::Value = json(
        app.put(&card_path, &installed.owner, &card).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["apns_environment"], "sandbox");
    card["apns_environment"] = json!("staging");
    assert_eq!(
        app.put(&card_path, &installed.owner, &card).await.status(),
        StatusCode::BAD_REQUEST,
        "an environment APNs does not have"
    );
    clock.advance(chrono::Duration::minutes(5));
    send_push(
        app,
        &installed.owner,
        json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "Tried in the sandbox"}),
    )
    .await;
    drain(&w).await;
    assert_eq!(
        apns.environments.lock().unwrap().clone(),
        vec![None, Some(ApnsEnvironment::Sandbox)]
    );

    // Unregistered, the device gets no more notifications; the pass still gets the message.
    assert_eq!(
        phone.unregister(&serial, &installed.token).await,
        StatusCode::OK
    );
    clock.advance(chrono::Duration::minutes(5));
    let second = send_push(
        app,
        &installed.owner,
        json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "See you soon"}),
    )
    .await;
    assert_eq!((second.passes, second.apple.total), (1, 0));
    assert_eq!(second.status, PushStatus::Completed, "no device to wake");
    drain(&w).await;
    assert_eq!(apns.sent().len(), 2, "nothing more went out");

    let history: loyalcast_dto::Page<Push> = json(
        app.get("/api/v1/pushes", &installed.owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.total, 3);
    assert_eq!(history.items[0].id, second.id, "newest first");
    assert_eq!(history.items[2].card_name, "Coffee points");
}

async fn apns_answers_remove_gone_devices_and_back_off(app: &TestApp, clock: &ManualClock) {
    let installed = installed_pass(app, "Gone Cafe").await;
    let serial = installed.pass.serial_number.clone();
    let gone = Phone {
        app,
        device: "device-gone-0000000000000000000001".to_owned(),
    };
    let busy = Phone {
        app,
        device: "device-busy-0000000000000000000002".to_owned(),
    };
    gone.register(&serial, &installed.token, "token-gone").await;
    busy.register(&serial, &installed.token, "token-busy").await;
    let apns = Arc::new(RecordingApns::default());
    apns.answer(
        "token-gone",
        NotifyError::Gone {
            reason: "Unregistered".to_owned(),
            since: Some(clock.shared().now() + chrono::Duration::seconds(1)),
        },
    );
    apns.answer("token-busy", NotifyError::TooMany);
    clock.advance(chrono::Duration::seconds(2));
    let push = send_push(
        app,
        &installed.owner,
        json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "Happy hour"}),
    )
    .await;
    assert_eq!(push.apple.total, 2);
    let w = worker(app, clock.shared(), &apns);
    drain(&w).await;

    let after = get_push(app, &installed.owner, push.id).await;
    assert_eq!(after.apple.failed, 1);
    assert!(
        after.failures[0].reason.contains("Unregistered"),
        "{:?}",
        after.failures
    );
    assert_eq!(after.apple.queued, 1, "the busy device waits for its retry");
    assert_eq!(after.status, PushStatus::Sending);
    let left = pass_registration::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the gone device's registration was removed");
    assert_eq!(left[0].push_token, "token-busy");

    // APNs lets the busy device through again; after the backoff it gets its notification.
    apns.answers.lock().unwrap().clear();
    drain(&w).await;
    assert!(apns.sent().is_empty(), "not before the backoff");
    clock.advance(chrono::Duration::minutes(2));
    drain(&w).await;
    assert_eq!(
        apns.sent(),
        vec![(PASS_TYPE.to_owned(), "token-busy".to_owned())]
    );
    let done = get_push(app, &installed.owner, push.id).await;
    assert_eq!(done.status, PushStatus::Completed);
    assert_eq!((done.apple.accepted, done.apple.failed), (1, 1));
}

async fn a_scheduled_push_fires_once_across_restarts_and_two_workers(
    app: &TestApp,
    clock: &ManualClock,
) {
    let installed = installed_pass(app, "Later Cafe").await;
    let serial = installed.pass.serial_number.clone();
    let phone = Phone {
        app,
        device: DEVICE.to_owned(),
    };
    phone
        .register(&serial, &installed.token, "token-later")
        .await;
    let at = clock.shared().now() + chrono::Duration::hours(1);
    let push = send_push(
        app,
        &installed.owner,
        json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "Opening at 9 tomorrow", "send_at": at}),
    )
    .await;
    assert_eq!(push.status, PushStatus::Scheduled);
    assert_eq!(push.scheduled_at, Some(at));
    assert_eq!(push.passes, 0, "nothing changed on the passes yet");

    let apns = Arc::new(RecordingApns::default());
    let before = worker(app, clock.shared(), &apns);
    drain(&before).await;
    assert!(apns.sent().is_empty(), "not before its time");
    drop(before);

    // A restart: two new processes' workers find it due at once.
    clock.advance(chrono::Duration::hours(1));
    let first = worker(app, clock.shared(), &apns);
    let second = worker(app, clock.shared(), &apns);
    let (a, b) = tokio::join!(first.step(), second.step());
    a.unwrap();
    b.unwrap();
    drain(&first).await;
    drain(&second).await;
    assert_eq!(
        apns.sent(),
        vec![(PASS_TYPE.to_owned(), "token-later".to_owned())],
        "one notification"
    );
    let fired = get_push(app, &installed.owner, push.id).await;
    assert_eq!(fired.status, PushStatus::Completed);
    assert_eq!(
        (fired.passes, fired.apple.total, fired.apple.accepted),
        (1, 1, 1)
    );
    let deliveries = loyalcast::entity::delivery::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(deliveries, 1, "fanned out once");

    // A cancelled scheduled push never fires.
    let cancelled_at = clock.shared().now() + chrono::Duration::minutes(30);
    let doomed = send_push(
        app,
        &installed.owner,
        json!({"card_id": installed.pass.card_id, "audience": {"type": "all"}, "message": "Never mind", "send_at": cancelled_at}),
    )
    .await;
    let cancelled: Push = json(
        app.post(
            &format!("/api/v1/pushes/{}/cancel", doomed.id),
            &installed.owner,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled.status, PushStatus::Cancelled);
    clock.advance(chrono::Duration::hours(1));
    drain(&first).await;
    assert_eq!(apns.sent().len(), 1);
    let (status, _) = phone.updated_since(None).await;
    assert_eq!(status, StatusCode::OK);
    let fetched = phone
        .fetch(Method::GET, &serial, &installed.token, None)
        .await
        .bytes()
        .await
        .unwrap();
    let wwdr = app.config.apple_wallet.wwdr_pem.clone().unwrap();
    let pass_json = open_and_verify(&fetched, &wwdr);
    assert_eq!(
        back_field(&pass_json, "latest_message")["value"],
        "Opening at 9 tomorrow",
        "the cancelled push's text never reached the pass"
    );
    let again = problem(
        app.post(
            &format!("/api/v1/pushes/{}/cancel", doomed.id),
            &installed.owner,
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(again.detail.unwrap_or_default().contains("cancelled"));
}

async fn pushes_are_checked_tenant_scoped_and_free(app: &TestApp, _clock: &ManualClock) {
    let installed = installed_pass(app, "Strict Cafe").await;
    let other = app.tenant("Other Cafe").await;
    let card = installed.pass.card_id;
    let before = app.snapshot().await;
    let balances_before: serde_json::Value = json(
        app.get("/api/v1/balances", &installed.owner).await,
        StatusCode::OK,
    )
    .await;

    let long = "x".repeat(261);
    for (body, field) in [
        (
            json!({"card_id": card, "audience": {"type": "all"}, "message": ""}),
            "message",
        ),
        (
            json!({"card_id": card, "audience": {"type": "all"}, "message": "   "}),
            "message",
        ),
        (
            json!({"card_id": card, "audience": {"type": "all"}, "message": long}),
            "message",
        ),
        (
            json!({"card_id": card, "audience": {"type": "all"}, "message": "two\nlines"}),
            "message",
        ),
        (
            json!({"card_id": uuid::Uuid::now_v7(), "audience": {"type": "all"}, "message": "hi"}),
            "card_id",
        ),
        (
            json!({"card_id": card, "audience": {"type": "segment", "segment_id": uuid::Uuid::now_v7()}, "message": "hi"}),
            "audience.segment_id",
        ),
        (
            json!({"card_id": card, "audience": {"type": "all"}, "message": "hi", "send_at": "2020-01-01T00:00:00Z"}),
            "send_at",
        ),
    ] {
        let p = problem(
            app.post("/api/v1/pushes", &installed.owner, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            helpers::fields(&p).contains(&field.to_owned()),
            "{body}: {:?}",
            helpers::fields(&p)
        );
    }
    // Exactly 260 characters is accepted.
    let longest = "y".repeat(260);
    let ok = send_push(
        app,
        &installed.owner,
        json!({"card_id": card, "audience": {"type": "all"}, "message": longest}),
    )
    .await;
    assert_eq!(ok.message.chars().count(), 260);
    // Unknown fields and a wrong shape are a 400.
    problem(
        app.post(
            "/api/v1/pushes",
            &installed.owner,
            &json!({"card_id": card, "audience": {"type": "all"}, "message": "hi", "channels": ["sms"]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Another merchant sees none of it: its own card id is unknown here and ours there.
    problem(
        app.post(
            "/api/v1/pushes",
            &other.token,
            &json!({"card_id": card, "audience": {"type": "all"}, "message": "hi"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for path in [
        format!("/api/v1/pushes/{}", ok.id),
        format!("/api/v1/pushes/{}/cancel", ok.id),
    ] {
        let response = if path.ends_with("cancel") {
            app.post(&path, &other.token, &json!({})).await
        } else {
            app.get(&path, &other.token).await
        };
        problem(response, StatusCode::NOT_FOUND).await;
    }
    let theirs: loyalcast_dto::Page<Push> = json(
        app.get("/api/v1/pushes", &other.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs.total, 0);

    // An agent reads the history but does not send.
    let agent = app.member(&other, "agent").await;
    problem(
        app.post(
            "/api/v1/pushes",
            &agent,
            &json!({"card_id": card, "audience": {"type": "all"}, "message": "hi"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A replayed request sends once.
    let key = uuid::Uuid::new_v4().to_string();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .request(Method::POST, "/api/v1/pushes", Some(&installed.owner))
            .header("idempotency-key", &key)
            .json(&json!({"card_id": card, "audience": {"type": "all"}, "message": "Once"}))
            .send()
            .await
            .unwrap();
        let p: Push = json(response, StatusCode::CREATED).await;
        ids.push(p.id);
    }
    assert_eq!(ids[0], ids[1]);

    // Pushes are free.
    let balances_after: serde_json::Value = json(
        app.get("/api/v1/balances", &installed.owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(balances_before, balances_after);
    let after = app.snapshot().await;
    assert_eq!(before.customers, after.customers);
}

async fn pushes_to_one_device_within_the_gap_are_coalesced(app: &TestApp, clock: &ManualClock) {
    let installed = installed_pass(app, "Busy Cafe").await;
    let serial = installed.pass.serial_number.clone();
    let phone = Phone {
        app,
        device: DEVICE.to_owned(),
    };
    phone
        .register(&serial, &installed.token, "token-often")
        .await;
    let apns = Arc::new(RecordingApns::default());
    let w = worker(app, clock.shared(), &apns);
    let card = installed.pass.card_id;

    clock.advance(chrono::Duration::seconds(2));
    let first = send_push(
        app,
        &installed.owner,
        json!({"card_id": card, "audience": {"type": "all"}, "message": "One"}),
    )
    .await;
    drain(&w).await;
    assert_eq!(apns.sent().len(), 1);

    // Ten seconds later, two more: they wait out the gap, then one notification serves both.
    clock.advance(chrono::Duration::seconds(10));
    let second = send_push(
        app,
        &installed.owner,
        json!({"card_id": card, "audience": {"type": "all"}, "message": "Two"}),
    )
    .await;
    let third = send_push(
        app,
        &installed.owner,
        json!({"card_id": card, "audience": {"type": "all"}, "message": "Three"}),
    )
    .await;
    drain(&w).await;
    assert_eq!(apns.sent().len(), 1, "inside the gap nothing goes out");
    clock.advance(chrono::Duration::seconds(60));
    drain(&w).await;
    assert_eq!(apns.sent().len(), 2, "one notification for both");
    let counts: Vec<_> = [first.id, second.id, third.id]
        .iter()
        .map(|id| (*id, 0))
        .collect();
    let mut coalesced = 0;
    for (id, _) in counts {
        let p = get_push(app, &installed.owner, id).await;
        assert_eq!(p.status, PushStatus::Completed);
        assert_eq!(p.apple.accepted, 1);
        coalesced += p.apple.coalesced;
    }
    assert_eq!(coalesced, 1);
    let fetched = phone
        .fetch(Method::GET, &serial, &installed.token, None)
        .await
        .bytes()
        .await
        .unwrap();
    let wwdr = app.config.apple_wallet.wwdr_pem.clone().unwrap();
    assert_eq!(
        back_field(&open_and_verify(&fetched, &wwdr), "latest_message")["value"],
        "Three",
        "the device fetches the latest message"
    );
}

/// Google Wallet's token endpoint and `addMessage`, on 127.0.0.1: records each message's
/// object, type and body, and the bearer it came with; `refuse_notify` makes it answer the
/// next notifying message with Google's quota error.
#[derive(Default)]
pub(crate) struct FakeGoogle {
    messages: Mutex<Vec<(String, String, String)>>,
    /// The loyalty classes created, as posted.
    pub(crate) classes: Mutex<Vec<serde_json::Value>>,
    tokens: std::sync::atomic::AtomicU32,
    refuse_notify: std::sync::atomic::AtomicBool,
    wrong_bearer: std::sync::atomic::AtomicU32,
}

pub(crate) async fn fake_google() -> (String, Arc<FakeGoogle>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let state = Arc::new(FakeGoogle::default());
    let shared = state.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let token_state = shared.clone();
        let message_state = shared.clone();
        let class_state = shared.clone();
        App::new()
            .route(
                "/walletobjects/v1/loyaltyClass",
                web::post().to(move |req: HttpRequest, body: web::Json<serde_json::Value>| {
                    let state = class_state.clone();
                    async move {
                        if req.headers().get("authorization").and_then(|v| v.to_str().ok())
                            != Some("Bearer fake-access-token")
                        {
                            return HttpResponse::Unauthorized().finish();
                        }
                        let mut classes = state.classes.lock().unwrap();
                        if classes.iter().any(|c| c["id"] == body["id"]) {
                            return HttpResponse::Conflict().json(json!({"error": {"code": 409, "message": "already exists"}}));
                        }
                        classes.push(body.into_inner());
                        HttpResponse::Ok().json(json!({}))
                    }
                }),
            )
            .route(
                "/token",
                web::post().to(move |form: web::Form<std::collections::HashMap<String, String>>| {
                    let state = token_state.clone();
                    async move {
                        let assertion = form.get("assertion").cloned().unwrap_or_default();
                        let header = assertion.split('.').next().unwrap_or_default();
                        let ok = form.get("grant_type").map(String::as_str)
                            == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                            && assertion.split('.').count() == 3
                            && base64_header_is_rs256(header);
                        if !ok {
                            return HttpResponse::BadRequest().finish();
                        }
                        state.tokens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        HttpResponse::Ok().json(json!({"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"}))
                    }
                }),
            )
            .route(
                "/walletobjects/v1/loyaltyObject/{id}/addMessage",
                web::post().to(move |req: HttpRequest, path: web::Path<String>, body: web::Json<serde_json::Value>| {
                    let state = message_state.clone();
                    async move {
                        if req.headers().get("authorization").and_then(|v| v.to_str().ok())
                            != Some("Bearer fake-access-token")
                        {
                            state.wrong_bearer.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            return HttpResponse::Unauthorized().finish();
                        }
                        let kind = body["message"]["messageType"].as_str().unwrap_or_default().to_owned();
                        if kind == "TEXT_AND_NOTIFY"
                            && state.refuse_notify.swap(false, std::sync::atomic::Ordering::SeqCst)
                        {
                            return HttpResponse::TooManyRequests().json(json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "QUOTA_EXCEEDED: too many notifications for this object"}}));
                        }
                        state.messages.lock().unwrap().push((
                            path.into_inner(),
                            kind,
                            body["message"]["body"].as_str().unwrap_or_default().to_owned(),
                        ));
                        HttpResponse::Ok().json(json!({"resource": {}}))
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), state)
}

/// An issuer whose service account speaks to the fake at `base`; with the account's private
/// key (PEM), to check what it signed.
pub(crate) fn google_config(
    base: &str,
) -> (loyalcast::config::GoogleWalletConfig, secrecy::SecretString) {
    let key =
        loyalcast::wallet::dev_certs::generate("pass.g", "TEAM", std::time::SystemTime::now())
            .unwrap()
            .key_pem;
    let account = json!({
        "type": "service_account",
        "client_email": "loyalcast@issuer.iam.gserviceaccount.com",
        "private_key": secrecy::ExposeSecret::expose_secret(&key),
        "token_uri": format!("{base}/token"),
    });
    (
        loyalcast::config::GoogleWalletConfig {
            issuer_id: Some("3388000000012345".to_owned()),
            service_account_json: Some(secrecy::SecretString::from(account.to_string())),
            base_url: base.to_owned(),
            requests_per_second: 20,
        },
        key,
    )
}

fn base64_header_is_rs256(segment: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|h| h["alg"] == "RS256")
}

async fn google_passes_get_three_notifying_messages_a_day_then_text(
    app: &TestApp,
    clock: &ManualClock,
) {
    let t = app.tenant("Google Cafe").await;
    let card: loyalcast_dto::Card = json(
        app.post(
            "/api/v1/cards",
            &t.token,
            &json!({"name": "Bean points", "kind": "points",
                    "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": "G"}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let customer: loyalcast_dto::Customer = json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Gia", "phone": "+14155550177"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let google_pass: loyalcast_dto::Pass = json(
        app.post(
            "/api/v1/passes",
            &t.token,
            &json!({"card_id": card.id, "customer_id": customer.id, "platform": "google"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let estimate: PushEstimate = json(
        app.post(
            "/api/v1/pushes/estimate",
            &t.token,
            &json!({"card_id": card.id, "audience": {"type": "all"}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            estimate.passes,
            estimate.google_passes,
            estimate.apple_devices
        ),
        (1, 1, 0)
    );

    let (base, google) = fake_google().await;
    let (config, _) = google_config(&base);
    let client =
        loyalcast::wallet::google::GoogleWalletClient::from_config(&config, clock.shared())
            .unwrap()
            .unwrap();
    let apns = Arc::new(RecordingApns::default());
    let w = crate::mailings::worker(app, &Senders::new(None), WorkerConfig::default())
        .with_clock(clock.shared())
        .with_pass_pushes(PassPushes {
            notifier: apns.clone(),
            default_topic: PASS_TYPE.to_owned(),
            gap: Duration::from_secs(60),
            google: Arc::new(client),
            google_rate: Some(20.0),
            ..PassPushes::default()
        });

    let mut pushes = Vec::new();
    for i in 1..=4 {
        clock.advance(chrono::Duration::hours(1));
        let push = send_push(
            app,
            &t.token,
            json!({"card_id": card.id, "audience": {"type": "all"}, "message": format!("Offer number {i}")}),
        )
        .await;
        assert_eq!(push.google.total, 1);
        drain(&w).await;
        pushes.push(push.id);
    }
    let object = format!("3388000000012345.{}", google_pass.serial_number);
    let kinds: Vec<(String, String, String)> = google.messages.lock().unwrap().clone();
    assert_eq!(
        kinds,
        (1..=4)
            .map(|i| (
                object.clone(),
                if i < 4 { "TEXT_AND_NOTIFY" } else { "TEXT" }.to_owned(),
                format!("Offer number {i}")
            ))
            .collect::<Vec<_>>(),
        "three notifying messages in 24 hours, then text only"
    );
    let fourth = get_push(app, &t.token, pushes[3]).await;
    assert_eq!((fourth.google.accepted, fourth.google.quiet), (1, 1));
    assert_eq!(fourth.status, PushStatus::Completed);
    assert!(apns.sent().is_empty(), "no Apple device to wake");

    // A day after the first, a notifying message again; Google's own quota error falls back
    // to text at once.
    clock.advance(chrono::Duration::hours(22));
    google
        .refuse_notify
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = send_push(
        app,
        &t.token,
        json!({"card_id": card.id, "audience": {"type": "all"}, "message": "Offer number 5"}),
    )
    .await;
    drain(&w).await;
    let sixth = send_push(
        app,
        &t.token,
        json!({"card_id": card.id, "audience": {"type": "all"}, "message": "Offer number 6"}),
    )
    .await;
    drain(&w).await;
    let messages = google.messages.lock().unwrap().clone();
    assert_eq!(
        messages[4].1, "TEXT",
        "Google refused the notification: sent as text"
    );
    assert_eq!(
        messages[5].1, "TEXT_AND_NOTIFY",
        "the first of the day has aged out"
    );
    assert_eq!(get_push(app, &t.token, refused.id).await.google.quiet, 1);
    assert_eq!(get_push(app, &t.token, sixth.id).await.google.quiet, 0);
    assert_eq!(
        google
            .wrong_bearer
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let tokens = google.tokens.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=6).contains(&tokens),
        "tokens are cached for their hour: {tokens}"
    );
}
