//! Consent only from the customer: nothing is on unless given, the customer's own opt-outs
//! can be undone only by them, STOP and START reach only the merchants that sent from the
//! number, a replayed webhook changes nothing, and every change is in the history.

use loyalcast::engine::links::{LinkSigner, Purpose};
use loyalcast::entity::delivery;
use loyalcast_delivery::twilio::webhook::SignatureVerifier;
use loyalcast_dto::{Channel, ConsentHistory, ConsentSource, Customer, ImportReport, Mailing};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, Tenant, TestApp, json, problem};
use crate::mailings::top_up;

// Every app here has Twilio configured, so that its webhooks answer.
crate::db_tests!(
    config = super::twilio;
    customers_created_or_imported_without_consent_are_not_reached_by_a_mailing,
    an_import_declares_its_consent_with_a_legal_basis_or_imports_nothing,
    patching_consent_back_on_after_stop_is_a_409_and_changes_nothing,
    an_import_cannot_opt_in_again_a_customer_who_opted_out,
    start_after_stop_at_one_merchant_leaves_other_opt_outs_alone,
    start_does_not_undo_an_unsubscribe_link_but_the_resubscribe_page_does,
    a_replayed_stop_or_start_changes_nothing_the_second_time,
);

const OUR_NUMBER: &str = "+15005550006";
const PHONE: &str = "+14155550123";

fn twilio(c: &mut loyalcast::config::Config) {
    c.public_url = "https://loyalcast.example.com".to_owned();
    c.delivery.sms = serde_json::from_value(json!({
        "provider": "twilio",
        "base_url": "http://127.0.0.1:9",
        "account_sid": "AC00000000000000000000000000000000",
        "auth_token": "twilio-test-token",
        "sender": {"from": OUR_NUMBER}
    }))
    .unwrap();
}

/// An inbound SMS as Twilio sends it, signed.
async fn inbound(app: &TestApp, sid: &str, from: &str, to: &str, body: &str) {
    let path = "/api/v1/webhooks/twilio/inbound";
    let form = vec![
        ("MessageSid", sid.to_owned()),
        ("From", from.to_owned()),
        ("To", to.to_owned()),
        ("Body", body.to_owned()),
    ];
    let verifier = SignatureVerifier::new(SecretString::from("twilio-test-token"));
    let signature = verifier.signature(&format!("https://loyalcast.example.com{path}"), &form);
    let r = app
        .client
        .post(app.url(path))
        .header("X-Twilio-Signature", signature)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn create(app: &TestApp, t: &Tenant, body: Value) -> Customer {
    json(
        app.post("/api/v1/customers", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn customer(app: &TestApp, t: &Tenant, id: uuid::Uuid) -> Customer {
    json(
        app.get(&format!("/api/v1/customers/{id}"), &t.token).await,
        StatusCode::OK,
    )
    .await
}

async fn history(app: &TestApp, t: &Tenant, id: uuid::Uuid) -> ConsentHistory {
    json(
        app.get(&format!("/api/v1/customers/{id}/consent"), &t.token)
            .await,
        StatusCode::OK,
    )
    .await
}

/// (channel, granted, source) of each change, oldest first.
fn changes(h: &ConsentHistory) -> Vec<(Channel, bool, ConsentSource)> {
    h.changes
        .iter()
        .rev()
        .map(|c| (c.channel, c.granted, c.source))
        .collect()
}

/// An SMS mailing to everyone of the tenant who can get it (queued, not sent).
async fn sms_mailing(app: &TestApp, t: &Tenant) -> Mailing {
    top_up(app, t, "sms", 100).await;
    let body = json!({"name": "S", "audience": {"type": "all"}, "channels": ["sms"], "content": {"sms": {"body": "Hello"}}});
    json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

/// A customer at `PHONE` with SMS consent, whom the tenant sent an SMS mailing.
async fn texted(app: &TestApp, t: &Tenant, name: &str) -> Customer {
    let c = create(
        app,
        t,
        json!({"first_name": name, "phone": PHONE, "consent": {"sms": true, "email": false, "telegram": false, "messenger": false}}),
    )
    .await;
    assert_eq!(sms_mailing(app, t).await.counts.total, 1);
    c
}

async fn customers_created_or_imported_without_consent_are_not_reached_by_a_mailing(app: &TestApp) {
    let t = app.tenant("Quiet Cafe").await;
    let started = chrono::Utc::now();
    let silent = create(
        app,
        &t,
        json!({"first_name": "Ann", "phone": "+14155550001", "email": "ann@example.com", "telegram_chat_id": "11"}),
    )
    .await;
    assert_eq!(silent.consent, loyalcast_dto::Consent::default());
    assert!(history(app, &t, silent.id).await.changes.is_empty());
    let report: ImportReport = json(
        app.import_csv(
            &t.token,
            "first_name,phone,email,telegram_chat_id\nBob,+14155550002,bob@example.com,12\n",
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report.created, 1);
    let willing = create(
        app,
        &t,
        json!({"first_name": "Cara", "phone": "+14155550003", "email": "cara@example.com",
               "consent": {"sms": true, "email": true, "telegram": false, "messenger": false}}),
    )
    .await;
    top_up(app, &t, "sms", 100).await;
    top_up(app, &t, "email", 100).await;
    let body = json!({
        "name": "Everyone", "audience": {"type": "all"}, "channels": ["sms", "email", "telegram"],
        "content": {"sms": {"body": "Hi"}, "email": {"subject": "Hi", "body": "Hello {unsubscribe_url}"}, "telegram": {"text": "Hi"}}
    });
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(m.counts.total, 2, "only Cara, on SMS and email");
    let queued = delivery::Entity::find()
        .filter(delivery::Column::SourceId.eq(m.id))
        .all(&app.db)
        .await
        .unwrap();
    assert!(queued.iter().all(|d| d.customer_id == willing.id));
    assert_eq!(queued.len(), 2);

    // The consent given is in the history: by whom, from where, when.
    let h = history(app, &t, willing.id).await;
    assert_eq!(
        changes(&h),
        [
            (Channel::Sms, true, ConsentSource::Api),
            (Channel::Email, true, ConsentSource::Api)
        ]
    );
    assert!(
        h.changes
            .iter()
            .all(|c| c.actor_member_id == Some(t.session.member.id)
                && c.at >= started - chrono::Duration::seconds(1)
                && c.at <= chrono::Utc::now())
    );
    assert!(h.opted_out.is_empty());
}

async fn an_import_declares_its_consent_with_a_legal_basis_or_imports_nothing(app: &TestApp) {
    let t = app.tenant("Declared Cafe").await;
    let csv = "first_name,phone,email,sms_opt_in\nAnn,+14155550001,ann@example.com,\nBob,+14155550002,bob@example.com,no\n";
    for (query, field) in [
        ("consent=sms,email", "legal_basis"),
        ("consent=sms,fax&legal_basis=paper%20form", "consent"),
        ("consent=sms&legal_basis=%20", "legal_basis"),
    ] {
        let p = problem(
            app.import_csv_with(&t.token, query, csv).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(crate::helpers::fields(&p), [field], "{query}");
    }
    let none: loyalcast_dto::Page<Customer> =
        json(app.get("/api/v1/customers", &t.token).await, StatusCode::OK).await;
    assert_eq!(none.total, 0, "a refused import writes nothing");

    let report: ImportReport = json(
        app.import_csv_with(
            &t.token,
            "consent=sms,email&legal_basis=signed%20up%20in%20store",
            csv,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report.created, 2);
    let all: loyalcast_dto::Page<Customer> =
        json(app.get("/api/v1/customers", &t.token).await, StatusCode::OK).await;
    let ann = all.items.iter().find(|c| c.first_name == "Ann").unwrap();
    let bob = all.items.iter().find(|c| c.first_name == "Bob").unwrap();
    assert!(ann.consent.sms && ann.consent.email && !ann.consent.telegram);
    assert!(
        !bob.consent.sms && bob.consent.email,
        "the row's own no wins"
    );
    let h = history(app, &t, ann.id).await;
    assert_eq!(
        changes(&h),
        [
            (Channel::Sms, true, ConsentSource::Import),
            (Channel::Email, true, ConsentSource::Import)
        ]
    );
    assert!(
        h.changes
            .iter()
            .all(|c| c.legal_basis.as_deref() == Some("signed up in store")
                && c.actor_member_id == Some(t.session.member.id))
    );
}

async fn patching_consent_back_on_after_stop_is_a_409_and_changes_nothing(app: &TestApp) {
    let t = app.tenant("Stop Cafe").await;
    let c = texted(app, &t, "Ann").await;
    inbound(app, "SM-stop-1", PHONE, OUR_NUMBER, "STOP").await;
    let stopped = customer(app, &t, c.id).await;
    assert!(!stopped.consent.sms, "STOP turns SMS off at once");

    let p = problem(
        app.patch(
            &format!("/api/v1/customers/{}", c.id),
            &t.token,
            &json!({"last_name": "Changed", "consent": {"sms": true, "email": true, "telegram": false, "messenger": false}}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(crate::helpers::fields(&p), ["consent.sms"]);
    assert_eq!(p.errors[0].code, "opted_out");
    assert_eq!(customer(app, &t, c.id).await, stopped, "nothing changed");
    let h = history(app, &t, c.id).await;
    assert_eq!(
        changes(&h),
        [
            (Channel::Sms, true, ConsentSource::Api),
            (Channel::Sms, false, ConsentSource::Stop)
        ]
    );
    assert_eq!(h.opted_out, [Channel::Sms]);
    assert_eq!(h.changes[0].actor_member_id, None, "the customer did it");

    // Other channels are still the team's to change.
    let patched: Customer = json(
        app.patch(
            &format!("/api/v1/customers/{}", c.id),
            &t.token,
            &json!({"consent": {"sms": false, "email": true, "telegram": false, "messenger": false}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(patched.consent.email && !patched.consent.sms);
    assert_eq!(history(app, &t, c.id).await.changes.len(), 3);
}

async fn an_import_cannot_opt_in_again_a_customer_who_opted_out(app: &TestApp) {
    let t = app.tenant("Import Cafe").await;
    let c = texted(app, &t, "Ann").await;
    inbound(app, "SM-stop-2", PHONE, OUR_NUMBER, "stop").await;
    let before = history(app, &t, c.id).await.changes.len();
    let csv = format!("first_name,phone,sms_opt_in,points\nAnn,{PHONE},yes,40\n");
    let report: ImportReport =
        json(app.import_csv(&t.token, csv.clone()).await, StatusCode::OK).await;
    assert_eq!((report.merged, report.errors.len()), (1, 0));
    assert_eq!(report.notices.len(), 1);
    assert_eq!(report.notices[0].line, 2);
    assert_eq!(report.notices[0].errors[0].field, "consent.sms");
    assert_eq!(report.notices[0].errors[0].code, "opted_out");
    let after = customer(app, &t, c.id).await;
    assert!(!after.consent.sms, "still opted out");
    assert_eq!(after.points, 40, "the rest of the row is merged");
    // A declaration cannot either.
    let report: ImportReport = json(
        app.import_csv_with(
            &t.token,
            "consent=sms&legal_basis=loyalty%20sign-up",
            format!("first_name,phone\nAnn,{PHONE}\n"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report.notices.len(), 1);
    assert!(!customer(app, &t, c.id).await.consent.sms);
    assert_eq!(history(app, &t, c.id).await.changes.len(), before);
}

async fn start_after_stop_at_one_merchant_leaves_other_opt_outs_alone(app: &TestApp) {
    let a = app.tenant("Cafe A").await;
    let b = app.tenant("Cafe B").await;
    let c = app.tenant("Cafe C").await;
    let at_a = texted(app, &a, "Ann").await;
    let at_b = texted(app, &b, "Ann").await;
    // C has the customer, with consent, but never texted them.
    let at_c = create(
        app,
        &c,
        json!({"first_name": "Ann", "phone": PHONE, "consent": {"sms": true, "email": false, "telegram": false, "messenger": false}}),
    )
    .await;
    // At B, the customer used the unsubscribe link of B's message.
    let b_delivery = delivery::Entity::find()
        .filter(delivery::Column::CustomerId.eq(at_b.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let token =
        LinkSigner::new(&SecretString::from(JWT_SECRET)).token(Purpose::Unsubscribe, b_delivery.id);
    let r = app
        .client
        .post(app.url(&format!("/u/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    inbound(app, "SM-stop-3", PHONE, OUR_NUMBER, "STOP").await;
    assert!(!customer(app, &a, at_a.id).await.consent.sms);
    assert!(!customer(app, &b, at_b.id).await.consent.sms);
    assert!(
        customer(app, &c, at_c.id).await.consent.sms,
        "C never sent from the number"
    );

    inbound(app, "SM-start-3", PHONE, OUR_NUMBER, "START").await;
    assert!(
        customer(app, &a, at_a.id).await.consent.sms,
        "A's STOP is undone"
    );
    assert!(
        !customer(app, &b, at_b.id).await.consent.sms,
        "B's unsubscribe-link opt-out stays"
    );
    assert_eq!(
        changes(&history(app, &a, at_a.id).await),
        [
            (Channel::Sms, true, ConsentSource::Api),
            (Channel::Sms, false, ConsentSource::Stop),
            (Channel::Sms, true, ConsentSource::Start)
        ]
    );
    assert_eq!(
        changes(&history(app, &b, at_b.id).await),
        [
            (Channel::Sms, true, ConsentSource::Api),
            (Channel::Sms, false, ConsentSource::UnsubscribeLink)
        ]
    );
    assert_eq!(history(app, &c, at_c.id).await.changes.len(), 1);

    // A START to another of our numbers undoes nothing this STOP did.
    inbound(app, "SM-stop-4", PHONE, OUR_NUMBER, "STOP").await;
    inbound(app, "SM-start-4", PHONE, "+15005550007", "START").await;
    assert!(!customer(app, &a, at_a.id).await.consent.sms);
}

async fn start_does_not_undo_an_unsubscribe_link_but_the_resubscribe_page_does(app: &TestApp) {
    let t = app.tenant("Link Cafe").await;
    let c = texted(app, &t, "Ann").await;
    let d = delivery::Entity::find()
        .filter(delivery::Column::CustomerId.eq(c.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let token = LinkSigner::new(&SecretString::from(JWT_SECRET)).token(Purpose::Unsubscribe, d.id);
    let page = app
        .client
        .post(app.url(&format!("/u/{token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("action=\"/r/{token}\"")), "{page}");
    inbound(app, "SM-stop-5", PHONE, OUR_NUMBER, "STOP").await;
    inbound(app, "SM-start-5", PHONE, OUR_NUMBER, "START").await;
    assert!(!customer(app, &t, c.id).await.consent.sms);
    assert_eq!(
        changes(&history(app, &t, c.id).await),
        [
            (Channel::Sms, true, ConsentSource::Api),
            (Channel::Sms, false, ConsentSource::UnsubscribeLink)
        ],
        "the STOP found them opted out already, and START had nothing of its own to undo"
    );
    // The customer's own act on the page the link leads to opts them in again.
    let forged = app
        .client
        .post(app.url(&format!("/r/{}-000000000000000000000000", d.id)))
        .send()
        .await
        .unwrap();
    problem(forged, StatusCode::NOT_FOUND).await;
    let r = app
        .client
        .post(app.url(&format!("/r/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = history(app, &t, c.id).await;
    assert!(h.consent.sms && h.opted_out.is_empty());
    assert_eq!(
        changes(&h).last(),
        Some(&(Channel::Sms, true, ConsentSource::ResubscribePage))
    );
}

async fn a_replayed_stop_or_start_changes_nothing_the_second_time(app: &TestApp) {
    let t = app.tenant("Replay Cafe").await;
    let c = texted(app, &t, "Ann").await;
    inbound(app, "SM-a", PHONE, OUR_NUMBER, "STOP").await;
    inbound(app, "SM-b", PHONE, OUR_NUMBER, "START").await;
    let after_start = customer(app, &t, c.id).await;
    assert!(after_start.consent.sms);
    // Twilio retries the STOP: it was acted on already.
    inbound(app, "SM-a", PHONE, OUR_NUMBER, "STOP").await;
    assert_eq!(customer(app, &t, c.id).await, after_start);
    assert_eq!(history(app, &t, c.id).await.changes.len(), 3);
    // A new STOP counts; a replayed START does not undo it.
    inbound(app, "SM-c", PHONE, OUR_NUMBER, "STOP").await;
    let after_stop = customer(app, &t, c.id).await;
    assert!(!after_stop.consent.sms);
    inbound(app, "SM-b", PHONE, OUR_NUMBER, "START").await;
    assert_eq!(customer(app, &t, c.id).await, after_stop);
    assert_eq!(history(app, &t, c.id).await.changes.len(), 4);
}
