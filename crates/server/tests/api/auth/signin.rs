//! Sign-in that cannot be raced or flooded, and sessions a member can end.

use futures::future::join_all;
use loyalcast::config::Config;
use loyalcast_dto::{CreatedApiKey, NewApiKey, NewTeamMember, Role, Session, TeamMember};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, captured_logs, json, problem};

const NEW_PASSWORD: &str = "an entirely new passphrase";

fn five_per_account(config: &mut Config) {
    config.login_failures_per_account = 5;
}

mod raced {
    use super::*;
    crate::db_tests!(config = super::super::five_per_account;
        fifty_parallel_wrong_passwords_verify_at_most_the_limit,
        two_servers_on_one_database_share_the_limit,
    );
}

async fn fifty_parallel_wrong_passwords_verify_at_most_the_limit(app: &TestApp) {
    let tenant = app.tenant("Raced Cafe").await;
    let email = tenant.session.member.email.clone();
    let before = app.passwords.runs();
    let guesses: Vec<String> = (0..50).map(|i| format!("wrong password {i}")).collect();
    let answers = join_all(guesses.iter().map(|guess| app.login(&email, guess))).await;
    let mut statuses = Vec::new();
    for answer in answers {
        let status = answer.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
        }
        statuses.push(status);
    }
    let verified = app.passwords.runs() - before;
    assert!(verified <= 5, "{verified} passwords verified: {statuses:?}");
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(wrong, 5, "{statuses:?}");
    assert_eq!(wrong + throttled, 50, "{statuses:?}");
    // The right password waits too, and is not verified either.
    problem(
        app.login(&email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_eq!(app.passwords.runs() - before, verified);
}

async fn two_servers_on_one_database_share_the_limit(app: &TestApp) {
    let other = app.another_instance().await;
    let tenant = app.tenant("Shared Limit Cafe").await;
    let email = tenant.session.member.email.clone();
    let before = app.passwords.runs() + other.passwords.runs();
    let answers = join_all((0..20).map(|i| {
        let base = if i % 2 == 0 {
            &app.address
        } else {
            &other.address
        };
        app.client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": format!("wrong password {i}")}))
            .send()
    }))
    .await;
    let statuses: Vec<StatusCode> = answers.into_iter().map(|a| a.unwrap().status()).collect();
    let verified = app.passwords.runs() + other.passwords.runs() - before;
    assert!(verified <= 5, "{verified} verified: {statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        5,
        "{statuses:?}"
    );
    // Each server refuses the account now, whichever took the attempts.
    for base in [&app.address, &other.address] {
        let response = app
            .client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    }
}

fn two_per_address(config: &mut Config) {
    config.login_failures_per_address = 2;
}

fn two_per_address_behind_a_proxy(config: &mut Config) {
    config.login_failures_per_address = 2;
    config.trusted_proxies = vec!["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()];
}

mod untrusted_peer {
    use super::*;
    crate::db_tests!(config = super::super::two_per_address; forwarded_addresses_from_an_untrusted_peer_are_ignored);
}

mod trusted_proxy {
    use super::*;
    crate::db_tests!(config = super::super::two_per_address_behind_a_proxy; a_trusted_proxy_names_the_client);
}

async fn login_from(app: &TestApp, forwarded: &str, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": email, "password": "guess guess guess"}))
        .send()
        .await
        .unwrap()
}

async fn forwarded_addresses_from_an_untrusted_peer_are_ignored(app: &TestApp) {
    // Each guess claims another address; all of them come from 127.0.0.1, which counts.
    problem(
        login_from(app, "198.51.100.1", "a@spray.example.com").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        login_from(app, "198.51.100.2", "b@spray.example.com").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        login_from(app, "198.51.100.3", "c@spray.example.com").await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

async fn a_trusted_proxy_names_the_client(app: &TestApp) {
    // The client forged a first entry; our proxies (10.1.2.3, then the peer) added theirs.
    for email in ["a@spray.example.com", "b@spray.example.com"] {
        problem(
            login_from(app, "6.6.6.6, 198.51.100.7, 10.1.2.3", email).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    problem(
        login_from(app, "7.7.7.7, 198.51.100.7", "c@spray.example.com").await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    // Another client behind the same proxy is not locked out by the first.
    let tenant = app.tenant("Proxied Cafe").await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.8")
        .json(&json!({"email": tenant.session.member.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn one_hashing_slot(config: &mut Config) {
    config.password_hashing_concurrency = 1;
    config.password_hashing_wait_ms = 1;
}

mod bounded {
    use super::*;
    crate::db_tests!(config = super::super::one_hashing_slot; past_the_hashing_bound_sign_ups_are_refused_with_retry_after);
}

async fn past_the_hashing_bound_sign_ups_are_refused_with_retry_after(app: &TestApp) {
    let answers = join_all((0..12).map(|i| {
        app.client
            .post(app.url("/api/v1/signup"))
            .json(&json!({
                "merchant_name": format!("Flood {i}"),
                "owner_name": "Flood",
                "email": format!("flood-{i}-{}@flood.example.com", uuid::Uuid::new_v4().simple()),
                "password": PASSWORD,
            }))
            .send()
    }))
    .await;
    let (mut created, mut refused) = (0, 0);
    for answer in answers {
        let answer = answer.unwrap();
        match answer.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                let retry_after: u64 = answer.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry_after >= 1);
                problem(answer, StatusCode::SERVICE_UNAVAILABLE).await;
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text().await.unwrap()),
        }
    }
    assert!(created >= 1, "one slot still hashes");
    assert!(refused >= 1, "nothing was refused past the bound");
}

crate::db_tests!(
    a_password_change_needs_the_current_password_and_ends_the_other_sessions,
    removing_a_member_ends_their_sessions_even_when_they_are_added_again,
    signing_out_everywhere_ends_every_session,
    a_failed_sign_in_does_not_log_the_typed_email,
);

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.post(
        "/api/v1/auth/password",
        token,
        &json!({"current_password": current, "new_password": new}),
    )
    .await
}

async fn admin_key(app: &TestApp, token: &str) -> String {
    let key: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            token,
            &NewApiKey {
                name: "Back office".into(),
                scopes: loyalcast_dto::Scope::ALL.to_vec(),
                expires_at: None,
            },
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    key.secret
}

async fn a_password_change_needs_the_current_password_and_ends_the_other_sessions(app: &TestApp) {
    let tenant = app.tenant("Password Cafe").await;
    let email = tenant.session.member.email.clone();
    let other: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;

    let wrong = problem(
        change_password(app, &tenant.token, "not the password", NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(wrong.errors[0].field, "current_password");
    let weak = problem(
        change_password(app, &tenant.token, PASSWORD, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(weak.errors[0].field, "new_password");
    let unknown_field = app
        .post(
            "/api/v1/auth/password",
            &tenant.token,
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1}),
        )
        .await;
    problem(unknown_field, StatusCode::BAD_REQUEST).await;
    // Nothing changed: both sessions work and the old password signs in.
    assert_eq!(
        app.get("/api/v1/me", &other.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    // An API key cannot change anyone's password.
    let key = admin_key(app, &tenant.token).await;
    problem(
        change_password(app, &key, PASSWORD, NEW_PASSWORD).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let changed: Session = json(
        change_password(app, &tenant.token, PASSWORD, NEW_PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    for token in [&tenant.token, &other.token] {
        problem(app.get("/api/v1/me", token).await, StatusCode::UNAUTHORIZED).await;
    }
    assert_eq!(
        app.get("/api/v1/me", &changed.token).await.status(),
        StatusCode::OK,
        "this session goes on with its new token"
    );
    problem(app.login(&email, PASSWORD).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.login(&email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // API keys are credentials of the merchant, not of the member: they keep working.
    assert_eq!(app.get("/api/v1/me", &key).await.status(), StatusCode::OK);
}

async fn removing_a_member_ends_their_sessions_even_when_they_are_added_again(app: &TestApp) {
    let tenant = app.tenant("Rehire Cafe").await;
    let email = format!(
        "rehired-{}@rehire.example.com",
        uuid::Uuid::new_v4().simple()
    );
    let add = || async {
        let member: TeamMember = json(
            app.post(
                "/api/v1/team",
                &tenant.token,
                &NewTeamMember {
                    name: "Rehired".into(),
                    email: email.clone(),
                    password: PASSWORD.into(),
                    role: Role::Agent,
                },
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        member
    };
    let first = add().await;
    let old: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;
    let removed = app
        .delete(&format!("/api/v1/team/{}", first.id), &tenant.token)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    problem(
        app.get("/api/v1/me", &old.token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let second = add().await;
    assert_ne!(second.id, first.id);
    problem(
        app.get("/api/v1/me", &old.token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let new: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(
        app.get("/api/v1/me", &new.token).await.status(),
        StatusCode::OK
    );
}

async fn signing_out_everywhere_ends_every_session(app: &TestApp) {
    let tenant = app.tenant("Everywhere Cafe").await;
    let email = tenant.session.member.email.clone();
    let laptop: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;
    // Another member's session is not touched.
    let colleague = app.member(&tenant, "admin").await;
    let key = admin_key(app, &tenant.token).await;
    let by_key = app
        .request(Method::POST, "/api/v1/auth/sign-out-everywhere", Some(&key))
        .send()
        .await
        .unwrap();
    problem(by_key, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.get("/api/v1/me", &laptop.token).await.status(),
        StatusCode::OK
    );

    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/sign-out-everywhere",
            Some(&tenant.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in [&tenant.token, &laptop.token] {
        problem(app.get("/api/v1/me", token).await, StatusCode::UNAUTHORIZED).await;
    }
    assert_eq!(
        app.get("/api/v1/me", &colleague).await.status(),
        StatusCode::OK
    );
    let again: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(
        app.get("/api/v1/me", &again.token).await.status(),
        StatusCode::OK
    );
}

async fn a_failed_sign_in_does_not_log_the_typed_email(app: &TestApp) {
    let logs = captured_logs();
    let typed = format!(
        "typed-{}@private.example.com",
        uuid::Uuid::new_v4().simple()
    );
    let marker = format!("198.51.100.{}", rand_octet());
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", &marker)
        .json(&json!({"email": typed, "password": "the password typed"}))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNAUTHORIZED).await;
    let text = logs.text();
    assert!(text.contains("failed sign-in"), "the failure is logged");
    let local = typed.split('@').next().unwrap();
    assert!(!text.contains(local), "the typed email reached the log");
    assert!(
        !text.contains("the password typed"),
        "the password reached the log"
    );
}

fn rand_octet() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}
