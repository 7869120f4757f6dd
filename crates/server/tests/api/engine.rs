//! The delivery engine's promises under the conditions production reaches: a claim sized by
//! the provider's rate, a lease that a slow batch keeps, writes that fail, outcomes nobody
//! knows, reports that overtake the worker, cancels that race it, reapers that race each
//! other, and links that make a text longer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use loyalcast::clock::ManualClock;
use loyalcast::engine::events::{self, Report};
use loyalcast::engine::worker::WorkerConfig;
use loyalcast::entity::delivery;
use loyalcast_delivery::{Channel, SendError};
use loyalcast_dto::{Mailing, MailingEstimate, MailingStatus};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use crate::helpers::{Backend, Tenant, TestApp, json, spawn};
use crate::mailings::{Senders, balances, customers, drain, mailing_body, top_up, worker};

crate::db_tests!(
    a_claim_takes_no_more_than_the_rate_can_send_in_half_the_lease,
    a_batch_slower_than_its_lease_keeps_it_and_sends_each_message_once,
    a_write_that_fails_is_tried_again_and_sends_nothing_twice,
    a_row_whose_worker_keeps_dying_ends_failed_after_the_most_attempts,
    an_ambiguous_paid_send_is_uncertain_until_the_provider_says,
    a_report_that_overtakes_the_worker_is_applied_when_the_outcome_is_written,
    a_link_that_crosses_160_characters_reserves_two_segments,
    two_sends_of_one_draft_at_once_send_it_once,
    a_mailings_problems_say_who_why_and_when_the_next_attempt_is,
);

async fn mailing(app: &TestApp, t: &Tenant, body: serde_json::Value) -> Mailing {
    json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn report(app: &TestApp, t: &Tenant, m: &Mailing) -> Mailing {
    json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await
}

async fn a_claim_takes_no_more_than_the_rate_can_send_in_half_the_lease(app: &TestApp) {
    let t = app.tenant("Slow Line Cafe").await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 100).await; // 86 reachable by SMS
    mailing(app, &t, mailing_body(&["sms"])).await;
    let senders = Senders::new(None);
    // A long code: one message a second, shared by two processes.
    let w = worker(
        app,
        &senders,
        WorkerConfig {
            batch: 1_000,
            lease: Duration::from_secs(20),
            ..WorkerConfig::default()
        },
    )
    .with_rates(Arc::new(|channel| (channel == Channel::Sms).then_some(0.5)));
    let first = w.claim_and_send(Channel::Sms).await.unwrap();
    assert_eq!(first.claimed, 5, "0.5 a second for half of 20 s");
    assert_eq!(first.sent, 5);
}

async fn a_batch_slower_than_its_lease_keeps_it_and_sends_each_message_once(app: &TestApp) {
    let t = app.tenant("Slow Provider Cafe").await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 35).await; // 30 reachable by SMS
    let m = mailing(app, &t, mailing_body(&["sms"])).await;
    // Thirty messages at one every 60 ms in a window of two take about a second: three
    // times a lease of 300 ms, which the worker keeps renewing. A second worker reaps all the
    // while; it must find nothing to take back.
    let slow = Senders::new(Some(Duration::from_millis(60)));
    let config = WorkerConfig {
        batch: 1_000,
        concurrency: 2,
        lease: Duration::from_millis(300),
        ..WorkerConfig::default()
    };
    let sending = worker(app, &slow, config.clone());
    let other = worker(app, &Senders::new(None), config);
    let reaping = async {
        let mut reaped = 0;
        for _ in 0..40 {
            reaped += other.upkeep().await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        reaped
    };
    let (step, reaped) = tokio::join!(sending.step(), reaping);
    let step = step.unwrap();
    assert_eq!((step.sent, step.lost, reaped), (30, 0, 0));
    let sent = slow.sent(Channel::Sms);
    let mut unique: Vec<&String> = sent.iter().map(|s| &s.1).collect();
    unique.sort();
    unique.dedup();
    assert_eq!((sent.len(), unique.len()), (30, 30));
    let done = report(app, &t, &m).await;
    assert_eq!(
        (done.status, done.counts.sent, done.counts.repeats),
        (MailingStatus::Completed, 30, 0)
    );
    let b = balances(app, &t).await;
    assert_eq!((b.sms.reserved, b.sms.available), (0, 970));
}

async fn a_write_that_fails_is_tried_again_and_sends_nothing_twice(app: &TestApp) {
    let t = app.tenant("Flaky Database Cafe").await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 35).await;
    let m = mailing(app, &t, mailing_body(&["sms"])).await;
    let senders = Senders::new(None);
    let config = WorkerConfig::default();
    // The first three writes of outcomes fail, as a lost connection would.
    config.faults.fail_writes(3);
    let w = worker(app, &senders, config);
    let step = w.step().await.unwrap();
    assert_eq!((step.claimed, step.sent, step.lost), (30, 30, 0));
    assert_eq!(drain(&w).await, 0, "nothing is left to send again");
    assert_eq!(senders.sent(Channel::Sms).len(), 30);
    let done = report(app, &t, &m).await;
    assert_eq!(
        (done.status, done.counts.sent),
        (MailingStatus::Completed, 30)
    );
    assert_eq!(balances(app, &t).await.sms.reserved, 0);
}

async fn a_row_whose_worker_keeps_dying_ends_failed_after_the_most_attempts(app: &TestApp) {
    let t = app.tenant("Cursed Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 1).await;
    let m = mailing(app, &t, mailing_body(&["sms"])).await;
    let clock = ManualClock::starting_at(Utc::now());
    let config = WorkerConfig {
        lease: Duration::from_secs(5),
        max_attempts: 3,
        ..WorkerConfig::default()
    };
    for _ in 0..3 {
        // Each worker takes the row and dies before it knows the outcome.
        let hanging = Senders::accepting_then_hanging();
        let doomed = worker(app, &hanging, config.clone()).with_clock(clock.shared());
        assert!(
            tokio::time::timeout(Duration::from_millis(300), doomed.step())
                .await
                .is_err()
        );
        clock.advance(chrono::Duration::seconds(6));
    }
    let senders = Senders::new(None);
    let w = worker(app, &senders, config).with_clock(clock.shared());
    let last = w.step().await.unwrap();
    assert_eq!(
        (last.reaped, last.claimed),
        (1, 0),
        "it is not claimed a fourth time"
    );
    let row = delivery::Entity::find()
        .filter(delivery::Column::SourceId.eq(m.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, loyalcast::engine::status::FAILED);
    assert!(row.error.unwrap().contains("gave up after 3 attempts"));
    let done = report(app, &t, &m).await;
    assert_eq!(
        (done.status, done.counts.failed, done.counts.sent),
        (MailingStatus::Completed, 1, 0)
    );
    let b = balances(app, &t).await;
    assert_eq!((b.sms.reserved, b.sms.available), (0, 100));
}

async fn an_ambiguous_paid_send_is_uncertain_until_the_provider_says(app: &TestApp) {
    let t = app.tenant("Timeout Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 3).await; // +14152000000..02
    let senders = Senders::new(None);
    {
        let mut script = senders.by_channel[&Channel::Sms].script.lock().unwrap();
        for phone in ["+14152000000", "+14152000001"] {
            script.insert(
                phone.into(),
                vec![SendError::ambiguous(
                    "timed out waiting for Twilio's answer",
                )],
            );
        }
    }
    let m = mailing(app, &t, mailing_body(&["sms"])).await;
    let w = worker(app, &senders, WorkerConfig::default());
    let step = w.step().await.unwrap();
    assert_eq!((step.sent, step.uncertain, step.retried), (1, 2, 0));
    assert_eq!(
        drain(&w).await,
        0,
        "an uncertain SMS is never sent again on its own"
    );
    let waiting = report(app, &t, &m).await;
    assert_eq!(
        (
            waiting.status,
            waiting.counts.sent,
            waiting.counts.uncertain,
            waiting.counts.failed
        ),
        (MailingStatus::Completed, 1, 2, 0)
    );
    assert_eq!(
        balances(app, &t).await.sms.reserved,
        2,
        "their credits wait"
    );
    // Twilio's status callbacks then say what happened to each.
    let rows = delivery::Entity::find()
        .filter(delivery::Column::SourceId.eq(m.id))
        .filter(delivery::Column::Status.eq(loyalcast::engine::status::UNCERTAIN))
        .all(&app.db)
        .await
        .unwrap();
    let now = Utc::now();
    events::provider_report(&app.db, rows[0].id, &Report::Delivered, now)
        .await
        .unwrap();
    events::provider_report(
        &app.db,
        rows[1].id,
        &Report::Failed("30003 unreachable".into()),
        now,
    )
    .await
    .unwrap();
    // A repeated report changes nothing.
    events::provider_report(&app.db, rows[0].id, &Report::Delivered, now)
        .await
        .unwrap();
    let settled = report(app, &t, &m).await;
    assert_eq!(
        (
            settled.counts.sent,
            settled.counts.delivered,
            settled.counts.failed,
            settled.counts.uncertain
        ),
        (2, 1, 1, 0)
    );
    let b = balances(app, &t).await;
    assert_eq!((b.sms.reserved, b.sms.available), (0, 98));
    assert_eq!(senders.sent(Channel::Sms).len(), 1);
}

async fn a_report_that_overtakes_the_worker_is_applied_when_the_outcome_is_written(app: &TestApp) {
    let t = app.tenant("Fast Callback Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 1).await;
    let m = mailing(app, &t, mailing_body(&["sms"])).await;
    let row = delivery::Entity::find()
        .filter(delivery::Column::SourceId.eq(m.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    // The provider's callback that the message was delivered comes while the worker is
    // still sending it: before its outcome is written.
    let db = app.db.clone();
    let senders = Senders::new(None);
    senders.by_channel[&Channel::Sms].on_send(Box::new(move || {
        let db = db.clone();
        Box::pin(async move {
            events::provider_report(&db, row.id, &Report::Delivered, Utc::now())
                .await
                .unwrap();
        })
    }));
    drain(&worker(app, &senders, WorkerConfig::default())).await;
    let done = report(app, &t, &m).await;
    assert_eq!(
        (done.counts.sent, done.counts.delivered),
        (1, 1),
        "the early report was kept, not lost"
    );
    let row = delivery::Entity::find_by_id(row.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, loyalcast::engine::status::DELIVERED);
}

async fn a_link_that_crosses_160_characters_reserves_two_segments(app: &TestApp) {
    let t = app.tenant("Link Cafe").await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 8).await; // 7 reachable by SMS
    // 130 characters of text and a link of about 70: two segments, not one.
    let text = format!("{} Stop: {{unsubscribe_url}}", "x".repeat(124));
    let content = json!({"sms": {"body": text}});
    let estimate: MailingEstimate = json(
        app.post(
            "/api/v1/mailings/estimate",
            &t.token,
            &json!({"audience": {"type": "all"}, "channels": ["sms"], "content": content}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(estimate.sms_credits, 14);
    let m = mailing(
        app,
        &t,
        json!({"name": "Links", "audience": {"type": "all"}, "channels": ["sms"], "content": content}),
    )
    .await;
    assert_eq!(balances(app, &t).await.sms.reserved, 14);
    let senders = Senders::new(None);
    drain(&worker(app, &senders, WorkerConfig::default())).await;
    for (_, _, body) in senders.sent(Channel::Sms) {
        assert!(body.contains("/u/"), "{body}");
        assert_eq!(
            loyalcast_delivery::sms::sms_length(&body).segments,
            2,
            "{body}"
        );
    }
    let done = report(app, &t, &m).await;
    assert_eq!(done.per_channel[0].credits_used, 14);
    let b = balances(app, &t).await;
    assert_eq!((b.sms.reserved, b.sms.available), (0, 1_000 - 14));
}

async fn two_sends_of_one_draft_at_once_send_it_once(app: &TestApp) {
    let t = app.tenant("Double Click Cafe").await;
    top_up(app, &t, "email", 100).await;
    customers(app, &t, 30).await; // 20 with email
    let mut body = mailing_body(&["email"]);
    body["draft"] = json!(true);
    let draft = mailing(app, &t, body).await;
    let send = format!("/api/v1/mailings/{}/send", draft.id);
    let (a, b) = tokio::join!(
        app.request(reqwest::Method::POST, &send, Some(&t.token))
            .send(),
        app.request(reqwest::Method::POST, &send, Some(&t.token))
            .send(),
    );
    let mut statuses = [a.unwrap().status(), b.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let sent = report(app, &t, &draft).await;
    assert_eq!(sent.counts.total, 20);
    assert_eq!(balances(app, &t).await.email.reserved, 20);
}

/// Cancelling while a worker sends, fifty times on PostgreSQL: every credit reserved is
/// either spent by a message that went out or given back, never both and never neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_racing_a_worker_keeps_every_credit_accounted_for() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let t = app.tenant("Racing Cafe").await;
    top_up(&app, &t, "sms", 100_000).await;
    customers(&app, &t, 60).await; // 52 reachable by SMS
    let senders = Senders::new(Some(Duration::from_millis(2)));
    for run in 0..50 {
        let m = mailing(&app, &t, mailing_body(&["sms"])).await;
        let w = worker(
            &app,
            &senders,
            WorkerConfig {
                batch: 10,
                concurrency: 4,
                ..WorkerConfig::default()
            },
        );
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(run % 10)).await;
            app.request(
                reqwest::Method::POST,
                &format!("/api/v1/mailings/{}/cancel", m.id),
                Some(&t.token),
            )
            .send()
            .await
            .unwrap()
            .status()
        };
        let (_, status) = tokio::join!(drain(&w), cancel);
        // Cancelled, or too late because every message went out; never a failure (a
        // deadlock between the cancel and the worker's settle was once a 500 here).
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "run {run}: the cancel answered {status}"
        );
        drain(&w).await;
        let done = report(&app, &t, &m).await;
        let c = done.counts;
        assert_eq!(c.queued, 0, "run {run}: {c:?}");
        assert_eq!(c.sent + c.cancelled, 52, "run {run}: {c:?} ({status})");
        let channel = &done.per_channel[0];
        assert_eq!(channel.credits_reserved, 0, "run {run}");
        assert_eq!(
            channel.credits_used,
            i64::try_from(c.sent).unwrap(),
            "run {run}"
        );
    }
    let b = balances(&app, &t).await;
    let sent = senders.sent(Channel::Sms).len() as i64;
    assert_eq!((b.sms.reserved, b.sms.available), (0, 100_000 - sent));
    app.cleanup().await;
}

/// A worker's settle that finds the mailing held by a cancel waits for it holding none of
/// the mailing's counters, which the cancel takes next: the two take a mailing's rows in the
/// same order, so neither is ended as a deadlock. Made to happen, not hoped for: the
/// cancel's first statement is held open until the settle waits on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_waiting_on_a_cancel_holds_none_of_what_the_cancel_takes_next() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let t = app.tenant("Lock Order Cafe").await;
    top_up(&app, &t, "sms", 1_000).await;
    customers(&app, &t, 6).await;
    let m = mailing(&app, &t, mailing_body(&["sms"])).await;
    let reachable = m.counts.total;
    assert!(reachable > 0);
    let w = worker(&app, &Senders::new(None), WorkerConfig::default());

    // What a cancel does first: it takes the mailing's row.
    let cancel = app.db.begin().await.unwrap();
    cancel
        .execute_unprepared(&format!(
            "UPDATE mailings SET updated_at = updated_at WHERE id = '{}'",
            m.id
        ))
        .await
        .unwrap();
    let settling = tokio::spawn(async move { w.step().await.map(|r| r.sent) });
    // Until the worker's settle waits for that row.
    let mut waits = 0;
    loop {
        let waiting = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE mailings SET pending%'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            !settling.is_finished(),
            "the settle did not wait for the cancel"
        );
        waits += 1;
        assert!(waits < 2_000, "the worker never reached its settle");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // What the cancel takes next: the mailing's counters, at once. Had the settle taken
    // them before it waited, each would now wait for the other; PostgreSQL would end one
    // of the two (the worker tries its write again, so only a failed cancel would show).
    // The lock timeout, shorter than the deadlock check, makes any wait fail here.
    cancel
        .execute_unprepared("SET LOCAL lock_timeout = '300ms'")
        .await
        .unwrap();
    cancel
        .execute_unprepared(&format!(
            "UPDATE mailing_stats SET cancelled = cancelled WHERE mailing_id = '{}'",
            m.id
        ))
        .await
        .expect("the cancel took the counters without waiting for the settle");
    assert!(
        !settling.is_finished(),
        "the settle did not wait for the cancel"
    );
    cancel.commit().await.unwrap();
    let sent = settling.await.unwrap().expect("the settle went through");
    assert_eq!(sent, reachable);
    let done = report(&app, &t, &m).await;
    assert_eq!(done.counts.sent, reachable);
    app.cleanup().await;
}

/// Two processes taking back expired claims at once, a thousand rounds: no deadlock, no
/// row taken back twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reapers_at_once_never_deadlock() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let t = app.tenant("Reaper Cafe").await;
    top_up(&app, &t, "sms", 100_000).await;
    customers(&app, &t, 60).await;
    mailing(&app, &t, mailing_body(&["sms"])).await;
    let clock = ManualClock::starting_at(Utc::now());
    let config = WorkerConfig {
        batch: 13,
        lease: Duration::from_secs(1),
        // Rows come back every round; none may run out of attempts.
        max_attempts: i16::MAX,
        ..WorkerConfig::default()
    };
    let hanging = Senders::accepting_then_hanging();
    let reapers = [
        worker(&app, &Senders::new(None), config.clone()).with_clock(clock.shared()),
        worker(&app, &Senders::new(None), config.clone()).with_clock(clock.shared()),
    ];
    let mut reaped = 0;
    for round in 0..1_000 {
        // Claims that die mid-send, then both reapers at once.
        for _ in 0..2 {
            let doomed = worker(&app, &hanging, config.clone()).with_clock(clock.shared());
            let _ = tokio::time::timeout(
                Duration::from_millis(20),
                doomed.claim_and_send(Channel::Sms),
            )
            .await;
        }
        clock.advance(chrono::Duration::seconds(2));
        let (a, b) = tokio::join!(reapers[0].upkeep(), reapers[1].upkeep());
        reaped += a.unwrap_or_else(|e| panic!("round {round}: {e}"));
        reaped += b.unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert!(reaped > 0);
    app.cleanup().await;
}

async fn a_mailings_problems_say_who_why_and_when_the_next_attempt_is(app: &TestApp) {
    use loyalcast_delivery::FailureCode;
    use loyalcast_dto::{MailingProblem, Page, ProblemState};
    let t = app.tenant("Problem Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 4).await; // Cust0..3 Tester, +14152000000..03
    let senders = Senders::new(None);
    {
        let mut script = senders.by_channel[&Channel::Sms].script.lock().unwrap();
        script.insert(
            "+14152000000".into(),
            vec![SendError::permanent(
                FailureCode::InvalidAddress,
                Some(21211),
                "not a valid phone number",
            )],
        );
        script.insert(
            "+14152000001".into(),
            vec![SendError::retryable(None, "the provider answered 503")],
        );
        script.insert(
            "+14152000002".into(),
            vec![SendError::ambiguous(
                "timed out after the request was written",
            )],
        );
    }
    let m = mailing(app, &t, mailing_body(&["sms"])).await;
    let clock = ManualClock::starting_at(Utc::now());
    let w = worker(app, &senders, WorkerConfig::default()).with_clock(clock.shared());
    let step = w.step().await.unwrap();
    assert_eq!((step.sent, step.retried, step.uncertain), (1, 1, 1));

    let url = |query: &str| format!("/api/v1/mailings/{}/problems{query}", m.id);
    let all: Page<MailingProblem> = json(app.get(&url(""), &t.token).await, StatusCode::OK).await;
    assert_eq!(all.total, 3, "{:?}", all.items);
    let by_name = |name: &str| {
        all.items
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} among {:?}", all.items))
            .clone()
    };
    let failed = by_name("Cust0 Tester");
    assert_eq!(
        (failed.state, failed.channel),
        (ProblemState::Failed, Channel::Sms)
    );
    assert!(
        failed
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("not a valid phone number")
    );
    assert_eq!(failed.next_attempt_at, None);
    let retrying = by_name("Cust1 Tester");
    assert_eq!(retrying.state, ProblemState::Retrying);
    assert!(
        retrying
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("503")
    );
    assert!(retrying.next_attempt_at.is_some(), "a retry says when");
    assert_eq!(retrying.attempts, 1);
    assert_eq!(by_name("Cust2 Tester").state, ProblemState::Uncertain);

    // Filters, paging, and what is refused.
    let only: Page<MailingProblem> = json(
        app.get(&url("?state=failed"), &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((only.total, only.items.len()), (1, 1));
    let none: Page<MailingProblem> = json(
        app.get(&url("?channel=email"), &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none.total, 0);
    let paged: Page<MailingProblem> = json(
        app.get(&url("?per_page=2&page=2"), &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((paged.total, paged.items.len()), (3, 1));
    for bad in ["?state=lost", "?channel=fax", "?per_page=101"] {
        let r = app.get(&url(bad), &t.token).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Another merchant's mailing is not found.
    let other = app.tenant("Other Cafe").await;
    let r = app.get(&url(""), &other.token).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Once the retry has gone out, it is no longer a problem.
    clock.advance(chrono::Duration::seconds(1));
    drain(&w).await;
    let after: Page<MailingProblem> = json(app.get(&url(""), &t.token).await, StatusCode::OK).await;
    assert_eq!(after.total, 2, "{:?}", after.items);
    assert!(
        after
            .items
            .iter()
            .all(|p| p.state != ProblemState::Retrying)
    );
}
