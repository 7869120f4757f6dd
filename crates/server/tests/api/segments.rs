use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use loyalcast_dto::{Card, Channel, Comparison, Customer, Segment, SegmentCount, SegmentRule};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, json};
use crate::tenancy::card_body;

crate::db_tests!(segment_counts_match_a_direct_computation);

/// A customer as the test made them, with the cards they hold.
struct Made {
    customer: Customer,
    cards: HashSet<Uuid>,
}

/// The reference: what a rule means, computed in Rust over the customers the test made.
fn matches(rule: &SegmentRule, m: &Made, now: DateTime<Utc>, tz: Tz) -> bool {
    let c = &m.customer;
    let start_of = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    };
    let today = now.with_timezone(&tz).date_naive();
    let cmp = |value: i64, cmp: Comparison, against: i64| match cmp {
        Comparison::Eq => value == against,
        Comparison::Ne => value != against,
        Comparison::Gt => value > against,
        Comparison::Gte => value >= against,
        Comparison::Lt => value < against,
        Comparison::Lte => value <= against,
    };
    let birthday_in = |days: u32| {
        c.birthday.is_some_and(|b| {
            (0..i64::from(days)).any(|o| {
                let d = today + Duration::days(o);
                (d.month(), d.day()) == (b.month(), b.day())
            })
        })
    };
    match rule {
        SegmentRule::And { rules } => rules.iter().all(|r| matches(r, m, now, tz)),
        SegmentRule::Or { rules } => rules.iter().any(|r| matches(r, m, now, tz)),
        SegmentRule::Visits { cmp: op, value } => cmp(i64::from(c.visits), *op, *value),
        SegmentRule::Points { cmp: op, value } => cmp(c.points, *op, *value),
        SegmentRule::LastVisitBefore { date } => {
            c.last_visit_at.is_some_and(|t| t < start_of(*date))
        }
        SegmentRule::LastVisitAfter { date } => {
            c.last_visit_at.is_some_and(|t| t >= start_of(*date))
        }
        SegmentRule::LastVisitWithinDays { days } => c
            .last_visit_at
            .is_some_and(|t| t >= now - Duration::days(i64::from(*days))),
        SegmentRule::NoVisitForDays { days } => c
            .last_visit_at
            .is_none_or(|t| t < now - Duration::days(i64::from(*days))),
        SegmentRule::BirthdayMonth { month } => c.birthday.is_some_and(|b| b.month() == *month),
        SegmentRule::BirthdayToday => birthday_in(1),
        SegmentRule::BirthdayWithinDays { days } => birthday_in(*days),
        SegmentRule::HasTag { tag } => c.tags.contains(tag),
        SegmentRule::HoldsCard { card_id } => m.cards.contains(card_id),
        SegmentRule::HasPhone { value } => c.phone.is_some() == *value,
        SegmentRule::HasEmail { value } => c.email.is_some() == *value,
        SegmentRule::OptedIn { channel } => match channel {
            Channel::Sms => c.phone.is_some() && c.consent.sms,
            Channel::Email => c.email.is_some() && c.consent.email,
            Channel::Telegram => c.telegram_chat_id.is_some() && c.consent.telegram,
            Channel::Messenger => c.messenger_psid.is_some() && c.consent.messenger,
        },
        SegmentRule::CreatedBefore { date } => c.created_at < start_of(*date),
        SegmentRule::CreatedAfter { date } => c.created_at >= start_of(*date),
        SegmentRule::CreatedWithinDays { days } => {
            c.created_at >= now - Duration::days(i64::from(*days))
        }
    }
}

async fn segment_counts_match_a_direct_computation(app: &TestApp) {
    let t = app.tenant("Segment Cafe").await;
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let card_a: Card = json(
        app.post("/api/v1/cards", &t.token, &card_body("A")).await,
        StatusCode::CREATED,
    )
    .await;
    let card_b: Card = json(
        app.post("/api/v1/cards", &t.token, &card_body("B")).await,
        StatusCode::CREATED,
    )
    .await;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let mut made = Vec::new();
    for i in 0..120 {
        let birthday = match rng.gen_range(0..10) {
            0..=2 => Some(
                NaiveDate::from_ymd_opt(1990, today.month(), today.day())
                    .unwrap_or(NaiveDate::from_ymd_opt(1990, 2, 28).unwrap())
                    + Duration::days(rng.gen_range(0..10)),
            ),
            3..=7 => Some(
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                    + Duration::days(rng.gen_range(0..365 * 30)),
            ),
            _ => None,
        };
        let tags: Vec<&str> = ["vip", "student", "weekend"]
            .into_iter()
            .filter(|_| rng.gen_bool(0.35))
            .collect();
        let body = json!({
            "first_name": format!("C{i}"),
            "phone": rng.gen_bool(0.7).then(|| format!("+1415555{:04}", 1000 + i)),
            "email": rng.gen_bool(0.6).then(|| format!("c{i}@example.com")),
            "telegram_chat_id": rng.gen_bool(0.3).then(|| format!("{}", 100_000 + i)),
            "birthday": birthday,
            "tags": tags,
            "visits": rng.gen_range(0..30),
            "points": rng.gen_range(0..500),
            "last_visit_at": rng.gen_bool(0.8).then(|| now - Duration::seconds(rng.gen_range(60..400 * 86_400))),
            "consent": {"sms": rng.gen_bool(0.8), "email": rng.gen_bool(0.8), "telegram": rng.gen_bool(0.8), "messenger": true},
        });
        let customer: Customer = json(
            app.post("/api/v1/customers", &t.token, &body).await,
            StatusCode::CREATED,
        )
        .await;
        let mut cards = HashSet::new();
        for (card, p) in [(card_a.id, 0.5), (card_b.id, 0.3)] {
            if rng.gen_bool(p) {
                let r = app
                    .post(
                        "/api/v1/passes",
                        &t.token,
                        &json!({"card_id": card, "customer_id": customer.id, "platform": "apple"}),
                    )
                    .await;
                assert_eq!(r.status(), StatusCode::CREATED);
                cards.insert(card);
            }
        }
        made.push(Made { customer, cards });
    }
    // Another merchant's customers must never be counted.
    let other = app.tenant("Noise Cafe").await;
    for i in 0..5 {
        let r = app
            .post(
                "/api/v1/customers",
                &other.token,
                &json!({"first_name": format!("N{i}"), "visits": 50}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    use SegmentRule as R;
    let rules = vec![
        R::everyone(),
        R::Or { rules: vec![] },
        R::Visits {
            cmp: Comparison::Gte,
            value: 10,
        },
        R::Visits {
            cmp: Comparison::Eq,
            value: 3,
        },
        R::Points {
            cmp: Comparison::Lt,
            value: 100,
        },
        R::LastVisitWithinDays { days: 30 },
        R::NoVisitForDays { days: 90 },
        R::LastVisitBefore {
            date: today - Duration::days(60),
        },
        R::LastVisitAfter {
            date: today - Duration::days(20),
        },
        R::BirthdayMonth {
            month: today.month(),
        },
        R::BirthdayToday,
        R::BirthdayWithinDays { days: 7 },
        R::HasTag { tag: "vip".into() },
        R::HoldsCard { card_id: card_a.id },
        R::HasPhone { value: false },
        R::HasEmail { value: true },
        R::OptedIn {
            channel: Channel::Sms,
        },
        R::OptedIn {
            channel: Channel::Telegram,
        },
        R::CreatedWithinDays { days: 1 },
        R::CreatedBefore {
            date: today - Duration::days(1),
        },
        R::CreatedAfter {
            date: today - Duration::days(1),
        },
        R::Or {
            rules: vec![
                R::And {
                    rules: vec![
                        R::Visits {
                            cmp: Comparison::Gte,
                            value: 5,
                        },
                        R::HasTag { tag: "vip".into() },
                    ],
                },
                R::And {
                    rules: vec![
                        R::HoldsCard { card_id: card_b.id },
                        R::HasPhone { value: false },
                    ],
                },
                R::BirthdayWithinDays { days: 30 },
            ],
        },
        R::And {
            rules: vec![
                R::OptedIn {
                    channel: Channel::Email,
                },
                R::Or {
                    rules: vec![
                        R::Points {
                            cmp: Comparison::Gte,
                            value: 200,
                        },
                        R::NoVisitForDays { days: 30 },
                    ],
                },
            ],
        },
    ];
    let mut between = 0;
    for rule in &rules {
        let expected = made
            .iter()
            .filter(|m| matches(rule, m, Utc::now(), tz))
            .count() as u64;
        let got: SegmentCount = json(
            app.post("/api/v1/segments/count", &t.token, &json!({"rule": rule}))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            got.customers,
            expected,
            "rule {}",
            serde_json::to_string(rule).unwrap()
        );
        if expected > 0 && expected < made.len() as u64 {
            between += 1;
        }
    }
    assert!(
        between >= 15,
        "the sample must tell rules apart ({between} did)"
    );

    let saved: Segment = json(
        app.post(
            "/api/v1/segments",
            &t.token,
            &json!({"name": "Mixed", "rule": rules[21]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let expected = made
        .iter()
        .filter(|m| matches(&rules[21], m, Utc::now(), tz))
        .count() as u64;
    assert_eq!(saved.customers, expected);
    let count: SegmentCount = json(
        app.get(&format!("/api/v1/segments/{}/count", saved.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count.customers, expected);
}
