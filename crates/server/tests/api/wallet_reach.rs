//! Reaching holders beyond Apple devices: a browser subscribed on the enrolment page gets
//! each push through its push service, encrypted for it and signed with the server's VAPID
//! key (the fake push service decrypts it with the browser's key); a gone subscription is
//! removed and 429 waits; "Save to Google Wallet" creates the card's class once and
//! redirects to a save link signed by the issuer's service account, carrying the pass.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use loyalcast::clock::ManualClock;
use loyalcast::config::Config;
use loyalcast::engine::worker::{PassPushes, Worker, WorkerConfig};
use loyalcast::entity::{card, pass, web_push_subscription};
use loyalcast::wallet::webpush::{Vapid, VapidSender};
use loyalcast_dto::PushEstimate;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::helpers::{Backend, TestApp, json, problem};
use crate::mailings::Senders;
use crate::passkit::installed_pass;
use crate::pushes::{drain, fake_google, get_push, google_config, run_with, send_push};

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscribed_browser_gets_each_push_encrypted_for_it() {
        super::web_push(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn save_to_google_wallet_is_a_signed_link_to_the_holders_pass() {
        super::google_save(super::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscribed_browser_gets_each_push_encrypted_for_it() {
        super::web_push(super::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn save_to_google_wallet_is_a_signed_link_to_the_holders_pass() {
        super::google_save(super::Backend::Postgres).await;
    }
}

/// One request the fake push service received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A push service on 127.0.0.1: records every message and answers with the next of
/// `answers` (status and `Retry-After`), 201 when none is left.
#[derive(Default)]
struct FakePushService {
    received: Mutex<Vec<Received>>,
    answers: Mutex<VecDeque<(u16, Option<u64>)>>,
}

async fn fake_push_service() -> (String, Arc<FakePushService>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let state = Arc::new(FakePushService::default());
    let shared = state.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let state = shared.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let state = state.clone();
            async move {
                state.received.lock().unwrap().push(Received {
                    path: req.path().to_owned(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: body.to_vec(),
                });
                let (status, retry_after) = state
                    .answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((201, None));
                let mut answer =
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                if let Some(seconds) = retry_after {
                    answer.insert_header(("retry-after", seconds.to_string()));
                }
                if status == 201 {
                    answer.insert_header(("location", format!("http://127.0.0.1:{port}/m/1")));
                }
                answer.finish()
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), state)
}

/// A browser's side of a subscription: its P-256 key and authentication secret.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        loop {
            if let Ok(secret) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                return Browser {
                    secret,
                    auth: rand::random(),
                };
            }
        }
    }

    /// `PushSubscription.toJSON()` for `endpoint`.
    fn subscription(&self, endpoint: &str) -> serde_json::Value {
        let point = self.secret.public_key().to_encoded_point(false);
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    fn decrypt(&self, body: &[u8]) -> serde_json::Value {
        let plain = web_push_native::decrypt(
            body.to_vec(),
            &self.secret,
            web_push_native::Auth::from_slice(&self.auth),
        )
        .expect("the message decrypts with the browser's key");
        serde_json::from_slice(&plain).unwrap()
    }
}

/// Enrols a new holder on the card's public page; the welcome page's HTML.
async fn welcome_page(app: &TestApp, card: uuid::Uuid) -> String {
    let answer = app
        .client
        .post(app.url(&format!("/join/{card}")))
        .form(&[("first_name", "Wren"), ("email", "wren@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    answer.text().await.unwrap()
}

fn with_web_push(config: &mut Config) {
    config.web_push.vapid_private_key = Some(Vapid::generate_private_key().into());
    config.web_push.subject = "mailto:ops@example.com".to_owned();
    config.web_push.endpoint_hosts = vec!["127.0.0.1".to_owned()];
}

fn web_worker(app: &TestApp, clock: &ManualClock) -> Worker {
    let vapid = Vapid::from_config(&app.config.web_push).unwrap().unwrap();
    crate::mailings::worker(app, &Senders::new(None), WorkerConfig::default())
        .with_clock(clock.shared())
        .with_pass_pushes(PassPushes {
            web: Arc::new(VapidSender::new(Arc::new(vapid)).unwrap()),
            ..PassPushes::default()
        })
}

async fn web_push(backend: Backend) {
    run_with(backend, with_web_push, async |app: &TestApp, clock: &ManualClock| {
        let installed = installed_pass(app, "Web Cafe").await;
        let card = installed.pass.card_id;
        // The welcome page offers the browser's notifications, with the server's key, and
        // its service worker shows them.
        let vapid = Vapid::from_config(&app.config.web_push).unwrap().unwrap();
        let html = welcome_page(app, card).await;
        assert!(html.contains("Get messages in this browser"), "{html}");
        assert!(html.contains(vapid.public_key()));
        assert!(html.contains("/web-push?token="));
        let worker_script = app.client.get(app.url("/join/sw.js")).send().await.unwrap();
        assert_eq!(worker_script.status(), StatusCode::OK);
        assert!(
            worker_script.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(worker_script.text().await.unwrap().contains("showNotification"));
        let (base, service) = fake_push_service().await;
        let browser = Browser::new();
        let subscribe = format!(
            "/join/{card}/passes/{}/web-push?token={}",
            installed.pass.serial_number, installed.token
        );
        let post = |body: serde_json::Value| {
            let url = app.url(&subscribe);
            async move { app.client.post(url).json(&body).send().await.unwrap() }
        };

        // Refused: a push service the server does not post to, an address of its own
        // network, plain http elsewhere, a key a browser would not give, a wrong token.
        for endpoint in [
            "https://internal.example.com/push",
            "http://10.0.0.8/push",
            "https://127.0.0.1.example.com/push",
            "ftp://127.0.0.1/push",
        ] {
            let refused = post(browser.subscription(endpoint)).await;
            let p = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(p.errors[0].field, "endpoint");
        }
        let mut bad_key = browser.subscription(&format!("{base}/push/a"));
        bad_key["keys"]["p256dh"] = json!("bm90LWEta2V5");
        let refused = post(bad_key).await;
        assert_eq!(
            problem(refused, StatusCode::UNPROCESSABLE_ENTITY)
                .await
                .errors[0]
                .field,
            "keys.p256dh"
        );
        let wrong_token = app
            .client
            .post(app.url(&subscribe.replace(&installed.token, "not-the-token")))
            .json(&browser.subscription(&format!("{base}/push/a")))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong_token.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            web_push_subscription::Entity::find().count(&app.db).await.unwrap(),
            0,
            "nothing refused was kept"
        );

        // Subscribed; subscribing again renews it rather than adding one.
        let endpoint = format!("{base}/push/browser-1");
        assert_eq!(post(browser.subscription(&endpoint)).await.status(), StatusCode::CREATED);
        assert_eq!(post(browser.subscription(&endpoint)).await.status(), StatusCode::OK);
        let estimate: PushEstimate = json(
            app.post(
                "/api/v1/pushes/estimate",
                &installed.owner,
                &json!({"card_id": card, "audience": {"type": "all"}}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (estimate.passes, estimate.web_subscriptions),
            (2, 1),
            "two holders, one of them subscribed in a browser"
        );

        let push = send_push(
            app,
            &installed.owner,
            json!({"card_id": card, "audience": {"type": "all"}, "message": "Warm croissants at 8"}),
        )
        .await;
        assert_eq!((push.web.total, push.web.queued), (1, 1));
        let worker = web_worker(app, clock);
        drain(&worker).await;
        let received = service.received.lock().unwrap().clone();
        assert_eq!(received.len(), 1, "one message for the one subscription");
        let message = &received[0];
        assert_eq!(message.path, "/push/browser-1");
        assert_eq!(message.header("content-encoding"), Some("aes128gcm"));
        assert!(message.header("ttl").is_some_and(|t| t.parse::<u64>().unwrap() > 0));
        let authorization = message.header("authorization").unwrap();
        assert!(authorization.starts_with("vapid t="), "{authorization}");
        assert!(
            authorization.ends_with(&format!("k={}", vapid.public_key())),
            "signed with the key browsers subscribed with"
        );
        assert_eq!(
            browser.decrypt(&message.body),
            json!({"title": "Coffee points", "body": "Warm croissants at 8", "tag": format!("card-{card}")}),
            "what the browser decrypts and shows"
        );
        let sent = get_push(app, &installed.owner, push.id).await;
        assert_eq!((sent.web.accepted, sent.web.sandbox, sent.web.failed), (1, 0, 0));

        // 429: the push service's Retry-After is kept, longer than the backoff.
        service.answers.lock().unwrap().push_back((429, Some(600)));
        clock.advance(chrono::Duration::minutes(2));
        let slowed = send_push(
            app,
            &installed.owner,
            json!({"card_id": card, "audience": {"type": "all"}, "message": "Soup of the day"}),
        )
        .await;
        drain(&worker).await;
        assert_eq!(service.received.lock().unwrap().len(), 2);
        clock.advance(chrono::Duration::minutes(9));
        drain(&worker).await;
        assert_eq!(
            service.received.lock().unwrap().len(),
            2,
            "not again before the push service said"
        );
        clock.advance(chrono::Duration::minutes(2));
        drain(&worker).await;
        assert_eq!(service.received.lock().unwrap().len(), 3);
        let slowed = get_push(app, &installed.owner, slowed.id).await;
        assert_eq!((slowed.web.accepted, slowed.web.failed), (1, 0));

        // 410: the browser unsubscribed; the subscription goes, with a reason.
        service.answers.lock().unwrap().push_back((410, None));
        clock.advance(chrono::Duration::minutes(2));
        let gone = send_push(
            app,
            &installed.owner,
            json!({"card_id": card, "audience": {"type": "all"}, "message": "Last call"}),
        )
        .await;
        drain(&worker).await;
        let gone = get_push(app, &installed.owner, gone.id).await;
        assert_eq!(gone.web.failed, 1);
        assert!(
            gone.failures[0].reason.contains("subscription is gone"),
            "{:?}",
            gone.failures
        );
        assert_eq!(
            web_push_subscription::Entity::find().count(&app.db).await.unwrap(),
            0
        );
        clock.advance(chrono::Duration::minutes(2));
        let after = send_push(
            app,
            &installed.owner,
            json!({"card_id": card, "audience": {"type": "all"}, "message": "Nobody listens"}),
        )
        .await;
        assert_eq!(after.web.total, 0);
        drain(&worker).await;
        assert_eq!(service.received.lock().unwrap().len(), 4, "nothing more went out");
        assert_eq!(
            app.config.web_push.endpoint_hosts,
            vec!["127.0.0.1".to_owned()]
        );
    })
    .await;
}

async fn google_save(backend: Backend) {
    let (base, google) = fake_google().await;
    let (google_wallet, key) = google_config(&base);
    let public_key = {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
        let private =
            rsa::RsaPrivateKey::from_pkcs8_pem(secrecy::ExposeSecret::expose_secret(&key)).unwrap();
        private
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
    };
    run_with(
        backend,
        move |config| config.google_wallet = google_wallet,
        async move |app: &TestApp, _clock: &ManualClock| {
            let installed = installed_pass(app, "Save Cafe").await;
            let card_id = installed.pass.card_id;
            let html = welcome_page(app, card_id).await;
            assert!(
                html.contains("/google?token=") && html.contains("Save to Google Wallet"),
                "{html}"
            );
            assert!(
                html.contains("web push is not set up"),
                "no VAPID key: the page says so"
            );
            let link = format!(
                "/join/{card_id}/passes/{}/google?token={}",
                installed.pass.serial_number, installed.token
            );
            let no_redirects = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let mut saved = Vec::new();
            for _ in 0..2 {
                let answer = no_redirects.get(app.url(&link)).send().await.unwrap();
                assert_eq!(answer.status(), StatusCode::SEE_OTHER);
                saved.push(answer.headers()["location"].to_str().unwrap().to_owned());
            }
            let jwt = saved[0]
                .strip_prefix("https://pay.google.com/gp/v/save/")
                .expect("Google's save page");
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&["google"]);
            validation.set_required_spec_claims(&["aud", "iss"]);
            validation.validate_exp = false;
            let claims = jsonwebtoken::decode::<serde_json::Value>(
                jwt,
                &jsonwebtoken::DecodingKey::from_rsa_pem(public_key.as_bytes()).unwrap(),
                &validation,
            )
            .expect("signed with the service account's key")
            .claims;
            assert_eq!(claims["iss"], "loyalcast@issuer.iam.gserviceaccount.com");
            assert_eq!(claims["typ"], "savetowallet");
            assert_eq!(
                claims["origins"],
                json!([app.config.public_url.trim_end_matches('/')])
            );
            let object = &claims["payload"]["loyaltyObjects"][0];
            let class_id = format!("3388000000012345.card-{}", card_id.simple());
            assert_eq!(object["classId"], class_id);
            assert_eq!(object["state"], "ACTIVE");
            assert_eq!(object["accountId"], installed.customer.to_string());

            // One Google pass for the holder however often they click; it is the one pushes
            // reach (`{issuer}.{serial}`).
            let google_passes = pass::Entity::find()
                .filter(pass::Column::CardId.eq(card_id))
                .filter(pass::Column::Platform.eq("google"))
                .all(&app.db)
                .await
                .unwrap();
            assert_eq!(google_passes.len(), 1);
            assert_eq!(
                object["id"],
                format!("3388000000012345.{}", google_passes[0].serial_number)
            );
            assert_eq!(google_passes[0].customer_id, installed.customer);
            let classes = google.classes.lock().unwrap().clone();
            assert_eq!(classes.len(), 1, "the class is created once");
            assert_eq!(classes[0]["id"], class_id);
            assert_eq!(classes[0]["programName"], "Coffee points");
            assert_eq!(classes[0]["reviewStatus"], "UNDER_REVIEW");
            let logo = classes[0]["programLogo"]["sourceUri"]["uri"]
                .as_str()
                .unwrap();
            assert!(logo.ends_with(&format!("/join/{card_id}/logo.png")));
            let served = app
                .client
                .get(app.url(&format!("/join/{card_id}/logo.png")))
                .send()
                .await
                .unwrap();
            assert_eq!(served.status(), StatusCode::OK);
            assert_eq!(served.headers()["content-type"], "image/png");
            let noted = card::Entity::find_by_id(card_id)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            assert!(noted.google_class_at.is_some());

            let estimate: PushEstimate = json(
                app.post(
                    "/api/v1/pushes/estimate",
                    &installed.owner,
                    &json!({"card_id": card_id, "audience": {"type": "all"}}),
                )
                .await,
                StatusCode::OK,
            )
            .await;
            assert_eq!(
                (estimate.holders, estimate.passes, estimate.google_passes),
                (2, 3, 1),
                "the holder's Apple and Google passes, and the holder who enrolled on the page"
            );

            // A wrong token finds nothing.
            let wrong = no_redirects
                .get(app.url(&link.replace(&installed.token, "not-the-token")))
                .send()
                .await
                .unwrap();
            assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
        },
    )
    .await;
}
