use loyalcast_dto::{Card, Customer, HeaderFigures, Page, Pass, Segment, Session, TeamMember};
use reqwest::StatusCode;

use crate::helpers::{TestApp, json};

crate::db_tests!(the_demo_seed_makes_a_complete_merchant_once);

async fn the_demo_seed_makes_a_complete_merchant_once(app: &TestApp) {
    assert!(
        loyalcast::seed::demo(&app.db, &app.config.public_url)
            .await
            .unwrap()
    );
    assert!(
        !loyalcast::seed::demo(&app.db, &app.config.public_url)
            .await
            .unwrap(),
        "a second seed does nothing"
    );
    let session: Session = json(
        app.login(loyalcast::seed::OWNER_EMAIL, loyalcast::seed::PASSWORD)
            .await,
        StatusCode::OK,
    )
    .await;
    let token = &session.token;
    for email in [loyalcast::seed::ADMIN_EMAIL, loyalcast::seed::AGENT_EMAIL] {
        assert_eq!(
            app.login(email, loyalcast::seed::PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    let team: Vec<TeamMember> = json(app.get("/api/v1/team", token).await, StatusCode::OK).await;
    assert_eq!(team.len(), 3);
    let cards: Page<Card> = json(app.get("/api/v1/cards", token).await, StatusCode::OK).await;
    assert_eq!(cards.total, 3);
    let kinds: std::collections::HashSet<_> = cards.items.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 3);
    let figures: HeaderFigures =
        json(app.get("/api/v1/figures", token).await, StatusCode::OK).await;
    assert_eq!(figures.customers, loyalcast::seed::CUSTOMERS as u64);
    assert!(figures.push_reachable > 3_000 && figures.push_reachable < 5_000);
    // The demo's mailings reserved what they send (the draft nothing): the rest is free.
    let balances: loyalcast_dto::Balances =
        json(app.get("/api/v1/balances", token).await, StatusCode::OK).await;
    assert_eq!(
        (
            balances.sms.available + balances.sms.reserved,
            balances.email.available + balances.email.reserved
        ),
        (10_000, 25_000)
    );
    assert!(balances.sms.reserved > 0 && balances.email.reserved > 0);
    assert_eq!(
        (figures.sms_balance, figures.email_balance),
        (balances.sms.available, balances.email.available)
    );
    let mailings: Page<loyalcast_dto::MailingSummary> =
        json(app.get("/api/v1/mailings", token).await, StatusCode::OK).await;
    let mut statuses: Vec<&str> = mailings.items.iter().map(|m| m.status.as_str()).collect();
    statuses.sort();
    assert_eq!(statuses, vec!["draft", "scheduled", "sending", "sending"]);
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?per_page=100", token).await,
        StatusCode::OK,
    )
    .await;
    let without_phone = page.items.iter().filter(|c| c.phone.is_none()).count();
    let without_email = page.items.iter().filter(|c| c.email.is_none()).count();
    let opted_out = page
        .items
        .iter()
        .filter(|c| !c.consent.sms || !c.consent.email)
        .count();
    assert!(without_phone > 0 && without_email > 0 && opted_out > 0);
    assert!(
        page.items
            .iter()
            .all(|c| c.phone.as_deref().is_none_or(|p| p.starts_with("+1")))
    );
    let apple: Page<Pass> = json(
        app.get("/api/v1/passes?per_page=100", token).await,
        StatusCode::OK,
    )
    .await;
    let platforms: std::collections::HashSet<_> = apple.items.iter().map(|p| p.platform).collect();
    assert_eq!(platforms.len(), 2, "passes on both wallets");
    let segments: Page<Segment> =
        json(app.get("/api/v1/segments", token).await, StatusCode::OK).await;
    assert!(segments.total >= 4);
    assert!(
        segments
            .items
            .iter()
            .all(|s| s.customers > 0 && s.customers < 5_000),
        "{:?}",
        segments
            .items
            .iter()
            .map(|s| (&s.name, s.customers))
            .collect::<Vec<_>>()
    );
}
