//! The change feed: what one process records reaches the streams of every other, resumes
//! from `Last-Event-ID`, stays within its merchant, and opens only with a fresh ticket.

use std::time::{Duration, Instant};

use chrono::Utc;
use loyalcast::clock::ManualClock;
use loyalcast::feed::{self, Change};
use loyalcast_dto::{ChangeEvent, ChangeTopic, Mailing, MailingStatus, StreamTicket};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Backend, Tenant, TestApp, json, problem};
use crate::mailings::{customers, top_up};

crate::db_tests!(
    an_entry_recorded_by_another_process_reaches_a_stream_within_a_second,
    a_change_made_through_one_server_reaches_the_streams_of_another,
    resuming_with_last_event_id_replays_exactly_what_was_missed,
    another_merchants_entries_never_arrive,
    a_mailings_life_and_its_credits_are_on_the_stream,
    a_ticket_opens_one_stream_once,
    the_stream_refuses_without_a_ticket_and_reads_its_parameters_strictly,
    a_ticket_of_a_session_signed_out_opens_nothing,
    a_ticket_of_a_member_signed_out_everywhere_opens_nothing,
);

/// One event as read off the wire.
#[derive(Debug)]
pub struct Event {
    pub id: Option<i64>,
    pub name: String,
    pub data: ChangeEvent,
}

/// A server-sent-events reader over a streaming response.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    /// The next event within `within`; comments (keep-alives) are skipped.
    pub async fn next(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        name = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    return Some(Event { id, name, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                // Ended, or nothing within the time.
                _ => return None,
            }
        }
    }
}

async fn ticket_at(address: &str, token: &str) -> StreamTicket {
    let response = reqwest::Client::new()
        .post(format!("{address}/api/v1/changes/tickets"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "a ticket is never cached"
    );
    json(response, StatusCode::CREATED).await
}

async fn ticket(app: &TestApp, t: &Tenant) -> StreamTicket {
    ticket_at(&app.address, &t.token).await
}

/// Opens a stream on the server at `address`, resuming after `last` when given.
async fn open_at(address: &str, ticket: &str, last: Option<i64>) -> Sse {
    let mut request = reqwest::Client::new()
        .get(format!("{address}/api/v1/changes/stream?ticket={ticket}"))
        .header("accept", "text/event-stream")
        // What a browser sends: the stream must not be compressed (and so held back).
        .header("accept-encoding", "gzip, br");
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(
        response
            .headers()
            .get("content-encoding")
            .is_none_or(|v| v == "identity")
    );
    let mut sse = Sse {
        response,
        buffer: String::new(),
    };
    // The first frame says the stream is open: from here on nothing is missed.
    let first = tokio::time::timeout(Duration::from_secs(10), sse.response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        std::str::from_utf8(&first)
            .unwrap()
            .starts_with(": connected")
    );
    sse.buffer.clear();
    sse
}

async fn open(app: &TestApp, t: &Tenant, last: Option<i64>) -> Sse {
    let ticket = ticket(app, t).await;
    open_at(&app.address, &ticket.ticket, last).await
}

fn merchant(t: &Tenant) -> Uuid {
    t.session.merchant.id
}

fn change(merchant_id: Uuid, n: i64) -> Change {
    Change::mailing(
        merchant_id,
        Uuid::now_v7(),
        json!({"change": "progress", "n": n}),
        Utc::now(),
    )
}

/// Records on `db` in a transaction of its own, as a worker's settle would.
async fn record_on(db: &sea_orm::DatabaseConnection, change: &Change) {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.unwrap();
    feed::record(&txn, change).await.unwrap();
    txn.commit().await.unwrap();
}

/// The worker stands for another process: its own connection (pool) to the database. What it
/// commits reaches a stream in well under a second, on PostgreSQL through LISTEN/NOTIFY, on
/// SQLite through the listener's polling.
async fn an_entry_recorded_by_another_process_reaches_a_stream_within_a_second(app: &TestApp) {
    let t = app.tenant("Feed Cafe").await;
    let worker = app.other_connection().await;
    let mut stream = open(app, &t, None).await;
    let mut latencies = Vec::new();
    for n in 0..5 {
        let sent = change(merchant(&t), n);
        let started = Instant::now();
        record_on(&worker, &sent).await;
        let event = stream
            .next(Duration::from_secs(1))
            .await
            .expect("within a second");
        latencies.push(started.elapsed());
        assert_eq!(event.name, "mailing");
        assert_eq!(event.data.topic, ChangeTopic::Mailing);
        assert_eq!(event.data.subject, sent.subject);
        assert_eq!(event.data.body, sent.body);
        assert_eq!(event.data.at, loyalcast::clock::micros(sent.at));
        assert_eq!(event.id, Some(event.data.id));
    }
    latencies.sort();
    eprintln!(
        "feed latency on {}: median {:?}, max {:?}",
        if loyalcast::db::is_postgres(&app.db) {
            "postgres"
        } else {
            "sqlite"
        },
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}

/// Two servers on one database, as behind a load balancer: a top-up through one is on the
/// stream of the other.
async fn a_change_made_through_one_server_reaches_the_streams_of_another(app: &TestApp) {
    let t = app.tenant("Two Servers").await;
    let other = app.another_instance().await;
    // The ticket comes from one server and opens the stream on the other.
    let ticket = ticket(app, &t).await;
    let mut stream = open_at(&other.address, &ticket.ticket, None).await;
    let started = Instant::now();
    top_up(app, &t, "sms", 500).await;
    let event = stream
        .next(Duration::from_secs(2))
        .await
        .expect("the top-up");
    eprintln!(
        "a top-up through one server to a stream of another: {:?}, the request included",
        started.elapsed()
    );
    assert_eq!(event.data.topic, ChangeTopic::Balances);
    assert_eq!(event.data.subject, None);
    assert_eq!(
        event.data.body,
        json!({"kind": "sms", "change": "top_up", "amount": 500})
    );
    other.db.close().await.ok();
}

async fn resuming_with_last_event_id_replays_exactly_what_was_missed(app: &TestApp) {
    let t = app.tenant("Resume Cafe").await;
    let worker = app.other_connection().await;
    let mut stream = open(app, &t, None).await;
    record_on(&worker, &change(merchant(&t), 1)).await;
    let seen = stream.next(Duration::from_secs(2)).await.unwrap();
    let last = seen.id.unwrap();
    drop(stream);
    // Another tab of the same merchant stays connected: once it has the entries, the
    // listener has published them, so the resumed stream must take them from the outbox.
    let mut observer = open(app, &t, None).await;
    // While disconnected: three entries of this merchant, one of another.
    let other = app.tenant("Someone Else").await;
    let mut missed = Vec::new();
    for n in 2..=4 {
        let c = change(merchant(&t), n);
        record_on(&worker, &c).await;
        missed.push(c.body);
        record_on(&worker, &change(merchant(&other), n)).await;
    }
    for body in &missed {
        let seen = observer.next(Duration::from_secs(2)).await.unwrap();
        assert_eq!(&seen.data.body, body);
    }
    // What follows the missed entries comes live, once.
    let mut resumed = open(app, &t, Some(last)).await;
    let mut got = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let e = resumed.next(Duration::from_secs(2)).await.unwrap();
        ids.push(e.id.unwrap());
        got.push(e.data.body);
    }
    assert_eq!(got, missed);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > last,
        "{ids:?} after {last}"
    );
    let live = change(merchant(&t), 5);
    record_on(&worker, &live).await;
    let e = resumed.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(e.data.body, live.body);
    // Nothing repeated.
    assert!(resumed.next(Duration::from_millis(600)).await.is_none());

    // The same through the query parameter (for clients that cannot set the header), from
    // the first missed one on.
    let ticket = ticket(app, &t).await;
    let response = app
        .client
        .get(app.url(&format!(
            "/api/v1/changes/stream?ticket={}&last_event_id={}",
            ticket.ticket, ids[1]
        )))
        .send()
        .await
        .unwrap();
    let mut by_query = Sse {
        response,
        buffer: String::new(),
    };
    let first = by_query.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.id, Some(ids[2]));

    // An id the feed never reached starts from now rather than muting the stream.
    let mut ahead = open(app, &t, Some(i64::MAX / 2)).await;
    let now = change(merchant(&t), 6);
    record_on(&worker, &now).await;
    assert_eq!(
        ahead.next(Duration::from_secs(2)).await.unwrap().data.body,
        now.body
    );
}

async fn another_merchants_entries_never_arrive(app: &TestApp) {
    let mine = app.tenant("Mine").await;
    let theirs = app.tenant("Theirs").await;
    let worker = app.other_connection().await;
    let mut stream = open(app, &mine, None).await;
    for n in 0..3 {
        record_on(&worker, &change(merchant(&theirs), n)).await;
    }
    top_up(app, &theirs, "email", 100).await;
    let marker = change(merchant(&mine), 99);
    record_on(&worker, &marker).await;
    // The only event is the marker, which came after all of theirs.
    let event = stream.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(event.data.body, marker.body);
    assert!(stream.next(Duration::from_millis(600)).await.is_none());
    // Nor are they replayed to a stream that resumes from before them.
    let mut resumed = open(app, &mine, Some(0)).await;
    let replayed = resumed.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(replayed.data.body, marker.body);
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());
}

/// Every state change the mailing page shows writes an entry naming the mailing, and every
/// credit movement one for the balances, in the transaction that makes the change.
async fn a_mailings_life_and_its_credits_are_on_the_stream(app: &TestApp) {
    let t = app.tenant("Lifecycle Cafe").await;
    // Opened first: a stream opened without Last-Event-ID starts from what this server's
    // listener has seen, so an entry committed just before it opened may still arrive.
    let mut stream = open(app, &t, None).await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 5).await;
    let body = json!({
        "name": "Feed news",
        "audience": {"type": "all"},
        "channels": ["sms"],
        "content": {"sms": {"body": "Hello {first_name}"}},
        "draft": true
    });
    let draft: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let path = |action: &str| format!("/api/v1/mailings/{}/{action}", draft.id);
    for action in ["send", "pause", "resume", "cancel"] {
        let r = app
            .request(Method::POST, &path(action), Some(&t.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{action}");
    }
    // A refused action records nothing.
    let r = app
        .request(Method::POST, &path("pause"), Some(&t.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let mut seen = Vec::new();
    while let Some(e) = stream.next(Duration::from_millis(1_500)).await {
        seen.push((e.data.topic, e.data.subject, e.data.body));
    }
    let m = Some(draft.id);
    assert_eq!(
        seen,
        vec![
            (
                ChangeTopic::Balances,
                None,
                json!({"kind": "sms", "change": "top_up", "amount": 1_000})
            ),
            (
                ChangeTopic::Mailing,
                m,
                json!({"change": "created", "status": "draft"})
            ),
            // Sending reserves the credits first, in the same transaction.
            (
                ChangeTopic::Balances,
                None,
                json!({"kind": "sms", "change": "reserve", "amount": 5})
            ),
            (
                ChangeTopic::Mailing,
                m,
                json!({"change": "sent", "status": "sending"})
            ),
            (
                ChangeTopic::Mailing,
                m,
                json!({"change": "paused", "status": "paused"})
            ),
            (
                ChangeTopic::Mailing,
                m,
                json!({"change": "resumed", "status": "sending"})
            ),
            // The cancelled rows are counted against the mailing, then their credits go back.
            (
                ChangeTopic::Mailing,
                m,
                json!({"change": "progress", "status": "cancelled", "sent": 0, "failed": 0,
                       "unsubscribed": 0, "cancelled": 5, "uncertain": 0})
            ),
            (
                ChangeTopic::Balances,
                None,
                json!({"kind": "sms", "change": "settle", "used": 0, "released": 5})
            ),
            (
                ChangeTopic::Mailing,
                m,
                json!({"change": "cancelled", "status": "cancelled"})
            ),
        ]
    );
    let now: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", draft.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(now.status, MailingStatus::Cancelled);
}

async fn a_ticket_opens_one_stream_once(app: &TestApp) {
    let t = app.tenant("Ticket Cafe").await;
    let ticket = ticket(app, &t).await;
    assert!(ticket.ticket.starts_with("st_"));
    let in_a_minute = (ticket.expires_at - Utc::now()).num_seconds();
    assert!((58..=60).contains(&in_a_minute), "{in_a_minute}");
    let _stream = open_at(&app.address, &ticket.ticket, None).await;
    let again = app
        .client
        .get(app.url(&format!("/api/v1/changes/stream?ticket={}", ticket.ticket)))
        .send()
        .await
        .unwrap();
    problem(again, StatusCode::UNAUTHORIZED).await;
    // An API key gets tickets too.
    let key: serde_json::Value = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "feed", "scopes": ["changes:read"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let key = key["secret"].as_str().unwrap().to_owned();
    let by_key = ticket_at(&app.address, &key).await;
    let _keyed = open_at(&app.address, &by_key.ticket, None).await;
    // Without credentials, no ticket.
    let r = app
        .request(Method::POST, "/api/v1/changes/tickets", None)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED).await;
}

async fn the_stream_refuses_without_a_ticket_and_reads_its_parameters_strictly(app: &TestApp) {
    let t = app.tenant("Strict Cafe").await;
    let get = |query: String| {
        app.client
            .get(app.url(&format!("/api/v1/changes/stream{query}")))
            .send()
    };
    problem(get(String::new()).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    problem(
        get("?ticket=".to_owned()).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        get(format!("?ticket=st_{}", "A".repeat(43))).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A session token is not a ticket.
    problem(
        get(format!("?ticket={}", t.token)).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Malformed resume points and unknown parameters are 400s, and do not use the ticket up.
    let ticket = ticket(app, &t).await;
    for (query, header) in [
        (format!("?ticket={}&last_event_id=abc", ticket.ticket), None),
        (format!("?ticket={}&last_event_id=-1", ticket.ticket), None),
        (format!("?ticket={}&since=3", ticket.ticket), None),
        (format!("?ticket={}", ticket.ticket), Some("abc")),
        (format!("?ticket={}", ticket.ticket), Some("-2")),
    ] {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/changes/stream{query}")));
        if let Some(header) = header {
            request = request.header("last-event-id", header);
        }
        problem(request.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    let _stream = open_at(&app.address, &ticket.ticket, None).await;
}

/// A ticket stands for the credentials that asked for it: once they are signed out, it opens
/// nothing (a running stream checks the same once a minute and ends).
async fn a_ticket_of_a_session_signed_out_opens_nothing(app: &TestApp) {
    let t = app.tenant("Signed Out").await;
    let session = app.member(&t, "agent").await;
    let ticket = ticket_at(&app.address, &session).await;
    let r = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&session))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = app
        .client
        .get(app.url(&format!("/api/v1/changes/stream?ticket={}", ticket.ticket)))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED).await;
}

async fn a_ticket_of_a_member_signed_out_everywhere_opens_nothing(app: &TestApp) {
    let t = app.tenant("Signed Out Everywhere").await;
    let session = app.member(&t, "agent").await;
    let ticket = ticket_at(&app.address, &session).await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/auth/sign-out-everywhere",
            Some(&session),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .client
        .get(app.url(&format!("/api/v1/changes/stream?ticket={}", ticket.ticket)))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED).await;
}

/// Tickets expire by the app's clock: a manual one is moved past the minute, no sleeping.
mod clocked {
    use super::*;

    async fn a_ticket_does_not_work_after_a_minute(backend: Backend) {
        let clock = ManualClock::starting_at(Utc::now());
        let Some(app) = crate::helpers::spawn_clocked(backend, clock.shared()).await else {
            return;
        };
        let t = app.tenant("Clock Cafe").await;
        let stale = ticket(&app, &t).await;
        let fresh = ticket(&app, &t).await;
        assert_eq!(
            stale.expires_at,
            clock.shared().now() + chrono::Duration::seconds(60)
        );
        clock.advance(chrono::Duration::seconds(59));
        let _open = open_at(&app.address, &fresh.ticket, None).await;
        clock.advance(chrono::Duration::seconds(1));
        let r = app
            .client
            .get(app.url(&format!("/api/v1/changes/stream?ticket={}", stale.ticket)))
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::UNAUTHORIZED).await;
        app.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_a_ticket_does_not_work_after_a_minute() {
        a_ticket_does_not_work_after_a_minute(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_ticket_does_not_work_after_a_minute() {
        a_ticket_does_not_work_after_a_minute(Backend::Postgres).await;
    }
}
