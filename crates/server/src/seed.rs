//! The demo merchant: a coffee shop with a team, three cards, about 5,000 customers with
//! realistic contact data, passes on both wallets, a few segments and some credits. A fixed
//! seed makes every run produce the same people, so screenshots and tests are stable.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use loyalcast_domain::Phone;
use loyalcast_dto::{Channel, Comparison, Consent, ConsentSource, Role, SegmentRule};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::password;
use crate::balances;
use crate::customers::{self, CustomerRecord};
use crate::engine::consent::{self, Actor};
use crate::entity::{card, customer, pass, segment, team_member};
use crate::merchants::{self, NewMerchant};
use crate::routes::passes::authentication_token;

pub const OWNER_EMAIL: &str = "owner@demo.loyalcast.dev";
pub const ADMIN_EMAIL: &str = "admin@demo.loyalcast.dev";
pub const AGENT_EMAIL: &str = "agent@demo.loyalcast.dev";
pub const PASSWORD: &str = "loyalcast-demo";
pub const CUSTOMERS: usize = 5_000;

const FIRST_NAMES: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Benjamin",
    "Harper",
    "Theo",
    "Evelyn",
    "Henry",
    "Luna",
    "Levi",
    "Camila",
    "Sebastian",
    "Gianna",
    "Jack",
    "Aria",
    "Daniel",
    "Ella",
    "Ezra",
    "Nora",
    "Samuel",
    "Zoe",
    "Leo",
    "Hazel",
    "Oliver",
    "Chloe",
    "Wei",
    "Priya",
    "Omar",
    "Fatima",
    "Hiroshi",
    "Yuki",
    "Carlos",
    "Lucia",
    "Anders",
    "Ingrid",
    "Kwame",
    "Amara",
    "Dmitri",
    "Sofia",
    "Rafael",
    "Ana",
    "Jonas",
    "Lea",
    "Mohammed",
    "Aisha",
    "Ravi",
    "Ananya",
    "Diego",
    "Valentina",
    "Finn",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Kim",
    "Patel",
    "Chen",
    "Nakamura",
    "Okafor",
    "Larsen",
    "Novak",
    "Silva",
    "Rossi",
    "Müller",
];

const TAGS: &[&str] = &[
    "vip",
    "coffee-lover",
    "tea-lover",
    "student",
    "office",
    "weekend",
    "pastry",
    "oat-milk",
];
const AREA_CODES: &[&str] = &["415", "212", "312", "206", "617", "512", "303", "404"];
const MAIL_DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

/// Seeds the demo merchant unless it exists. Returns whether it seeded.
pub async fn demo(db: &DatabaseConnection, public_url: &str) -> anyhow::Result<bool> {
    let exists = team_member::Entity::find()
        .filter(team_member::Column::Email.eq(OWNER_EMAIL))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    // One transaction: a seed that fails half-way leaves nothing behind.
    let txn = db.begin().await?;
    let now = Utc::now();
    let (merchant, _) = merchants::create(
        &txn,
        &crate::auth::password::Passwords::new(1, std::time::Duration::from_secs(60)),
        NewMerchant {
            name: "Bean & Leaf Coffee".to_owned(),
            time_zone: Some("America/Los_Angeles".to_owned()),
            default_country: Some("US".to_owned()),
            owner_name: "Olivia Bean".to_owned(),
            owner_email: OWNER_EMAIL.to_owned(),
            owner_password: SecretString::from(PASSWORD),
            trial: Default::default(),
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the demo merchant: {e}"))?;

    let mut rng = ChaCha8Rng::seed_from_u64(20_261_129);
    let hash = password::hash(SecretString::from(PASSWORD)).await?;
    for (name, email, role) in [
        ("Marcus Leaf", ADMIN_EMAIL, Role::Admin),
        ("Jade Barista", AGENT_EMAIL, Role::Agent),
    ] {
        team_member::ActiveModel {
            id: Set(seeded_id(&mut rng)),
            merchant_id: Set(merchant.id),
            name: Set(name.to_owned()),
            email: Set(email.to_owned()),
            password_hash: Set(hash.clone()),
            role: Set(role.as_str().to_owned()),
            created_at: Set(now),
            session_generation: Set(0),
        }
        .insert(&txn)
        .await?;
    }

    let cards = [
        (
            "Coffee Stamp Card",
            "stamp",
            "Buy 9 coffees, the 10th is on us.",
            "#4a2c2a",
            "#ffffff",
            "#f3d9b1",
            "Bean & Leaf",
            None,
        ),
        (
            "Bean Points",
            "points",
            "1 point per dollar; 100 points = a free drink.",
            "#1f4e3d",
            "#ffffff",
            "#b8e0c8",
            "Bean Points",
            None,
        ),
        (
            "Leaf Club",
            "membership",
            "Members get 10% off every order.",
            "#2d2a4a",
            "#ffffff",
            "#d6c9ff",
            "Leaf Club",
            Some(365),
        ),
    ];
    let mut card_ids = Vec::new();
    for (name, kind, description, bg, fg, label, logo, period) in cards {
        let id = seeded_id(&mut rng);
        card_ids.push((id, period));
        card::ActiveModel {
            id: Set(id),
            merchant_id: Set(merchant.id),
            name: Set(name.to_owned()),
            kind: Set(kind.to_owned()),
            description: Set(description.to_owned()),
            background_color: Set(bg.to_owned()),
            foreground_color: Set(fg.to_owned()),
            label_color: Set(label.to_owned()),
            logo_text: Set(logo.to_owned()),
            apple_pass_type_id: Set(Some(format!("pass.dev.loyalcast.demo.{}", kind))),
            membership_period_days: Set(period),
            locations: Set("[]".to_owned()),
            apns_environment: Set(None),
            google_class_at: Set(None),
            created_at: Set(now - Duration::days(800)),
            updated_at: Set(now - Duration::days(30)),
        }
        .insert(&txn)
        .await?;
    }

    let mut rows = Vec::with_capacity(CUSTOMERS);
    let mut tags = Vec::with_capacity(CUSTOMERS);
    let mut passes = Vec::new();
    let mut consent_changes = Vec::new();
    let mut used_phones = std::collections::HashSet::new();
    let mut unreachable_mail = 0;
    for n in 0..CUSTOMERS {
        let id = seeded_id(&mut rng);
        let (mut record, created_at) = person(&mut rng, n, now, &mut used_phones);
        // A few regulars whose mail the sandbox refuses (for good) or defers (for a while):
        // the demo's weekend mailing then shows who was not reached, and why.
        if record.tags.iter().any(|t| t == "vip") && record.visits >= 10 && record.consent.email {
            let local = match unreachable_mail {
                0 | 1 => Some("bounce"),
                2 => Some("tempfail"),
                _ => None,
            };
            if let Some(local) = local {
                record.email = Some(format!("{local}@customer{n}.example.com"));
                unreachable_mail += 1;
            }
        }
        tags.push((id, record.tags.clone()));
        // Most customers installed one card, some two; wallets split about 60/40.
        let holds = match rng.gen_range(0..100) {
            0..=69 => 1,
            70..=84 => 2,
            _ => 0,
        };
        let mut chosen = card_ids.clone();
        chosen.shuffle(&mut rng);
        for (card_id, period) in chosen.into_iter().take(holds) {
            let installed_at = created_at + Duration::minutes(rng.gen_range(1..60 * 24 * 30));
            let installed_at = installed_at.min(now);
            passes.push(pass::ActiveModel {
                id: Set(seeded_id(&mut rng)),
                merchant_id: Set(merchant.id),
                card_id: Set(card_id),
                customer_id: Set(id),
                serial_number: Set(seeded_id(&mut rng).simple().to_string()),
                authentication_token: Set(authentication_token()),
                platform: Set(if rng.gen_bool(0.6) { "apple" } else { "google" }.to_owned()),
                installed_at: Set(installed_at),
                expires_at: Set(period.map(|days| installed_at + Duration::days(i64::from(days)))),
                updated_at: Set(installed_at),
                update_tag: Set(crate::wallet::apple::next_tag(0, installed_at)),
                message: Set(None),
                fetched_tag: Set(None),
            });
        }
        rows.push(customers::active_model(
            merchant.id,
            id,
            &record,
            created_at,
            created_at,
        ));
        // Nothing is on unless given: the demo's consent is given explicitly, and kept in
        // the history as an import with its legal basis.
        consent_changes.extend(customers::consent_changes(
            merchant.id,
            id,
            Consent::default(),
            record.consent,
            ConsentSource::Import,
            Actor::default(),
            Some("demo data: every demo customer agreed at sign-up"),
        ));
    }
    for chunk in rows.chunks(200) {
        customer::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    customers::add_tags(&txn, merchant.id, &tags).await?;
    consent::record(&txn, &consent_changes, now).await?;
    for chunk in passes.chunks(200) {
        pass::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }

    let segments = [
        (
            "VIP regulars",
            SegmentRule::And {
                rules: vec![
                    SegmentRule::HasTag { tag: "vip".into() },
                    SegmentRule::Visits {
                        cmp: Comparison::Gte,
                        value: 10,
                    },
                ],
            },
        ),
        (
            "Birthdays in the next 30 days",
            SegmentRule::BirthdayWithinDays { days: 30 },
        ),
        (
            "Lapsed for 60+ days",
            SegmentRule::NoVisitForDays { days: 60 },
        ),
        (
            "Reachable by SMS",
            SegmentRule::OptedIn {
                channel: Channel::Sms,
            },
        ),
        (
            "Leaf Club members",
            SegmentRule::HoldsCard {
                card_id: card_ids.get(2).map(|c| c.0).unwrap_or_default(),
            },
        ),
    ];
    let mut segment_ids = std::collections::HashMap::new();
    for (name, rule) in segments {
        let id = seeded_id(&mut rng);
        segment_ids.insert(name, id);
        segment::ActiveModel {
            id: Set(id),
            merchant_id: Set(merchant.id),
            name: Set(name.to_owned()),
            rule: Set(serde_json::to_string(&rule)?),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
    }
    // The demo's credits, as an operator would grant them (seeding is an operator's act).
    balances::add(
        &txn,
        merchant.id,
        balances::Kind::Sms,
        10_000,
        Some("demo seed"),
        now,
    )
    .await?;
    balances::add(
        &txn,
        merchant.id,
        balances::Kind::Email,
        25_000,
        Some("demo seed"),
        now,
    )
    .await?;
    demo_mailings(&txn, merchant.id, &segment_ids, public_url, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// A few mailings, so that a newcomer sees reports at once: two sent now through the engine
/// (the sandbox delivers them once the server runs; one reaches a few addresses that fail),
/// one scheduled, one draft. Each is made as the API makes it: checked, fanned out and its
/// credits reserved.
async fn demo_mailings(
    txn: &impl sea_orm::ConnectionTrait,
    merchant_id: Uuid,
    segment_ids: &std::collections::HashMap<&'static str, Uuid>,
    public_url: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    use loyalcast_dto::{Audience, EmailContent, MailingContent, NewMailing, SmsContent};
    let segment = |name: &str| Audience::Segment {
        segment_id: segment_ids.get(name).copied().unwrap_or_default(),
    };
    let sms = |body: &str| SmsContent {
        body: body.to_owned(),
    };
    let email = |subject: &str, body: &str| EmailContent {
        subject: subject.to_owned(),
        body: body.to_owned(),
    };
    let mailings = [
        NewMailing {
            name: "Welcome to the Leaf Club".to_owned(),
            audience: segment("Leaf Club members"),
            channels: vec![Channel::Email],
            content: MailingContent {
                email: Some(email(
                    "Welcome to the Leaf Club, {first_name}",
                    "Hello {first_name},\n\nYour Leaf Club card is in your wallet: every tea you buy fills it up.\n\nSee you soon,\n{merchant_name}\n\nUnsubscribe: {unsubscribe_url}",
                )),
                ..Default::default()
            },
            send_at: None,
            draft: false,
        },
        NewMailing {
            name: "Double points weekend".to_owned(),
            audience: segment("VIP regulars"),
            channels: vec![Channel::Sms, Channel::Email],
            content: MailingContent {
                sms: Some(sms(
                    "Hi {first_name}, double points at {merchant_name} this weekend! Reply STOP to opt out",
                )),
                email: Some(email(
                    "Double points this weekend, {first_name}",
                    "Hello {first_name},\n\nYou have {points} points. This weekend every visit counts twice.\n\n{merchant_name}\n\nUnsubscribe: {unsubscribe_url}",
                )),
                ..Default::default()
            },
            send_at: None,
            draft: false,
        },
        NewMailing {
            name: "Birthday treat".to_owned(),
            audience: segment("Birthdays in the next 30 days"),
            channels: vec![Channel::Sms],
            content: MailingContent {
                sms: Some(sms(
                    "Happy birthday month, {first_name}! Your next coffee at {merchant_name} is on us. Reply STOP to opt out",
                )),
                ..Default::default()
            },
            send_at: Some(now + Duration::days(5)),
            draft: false,
        },
        NewMailing {
            name: "Summer menu (draft)".to_owned(),
            audience: Audience::All,
            channels: vec![Channel::Email],
            content: MailingContent {
                email: Some(email(
                    "Our summer menu, {first_name}",
                    "Hello {first_name},\n\nCold brew is back.\n\n{merchant_name}\n\nUnsubscribe: {unsubscribe_url}",
                )),
                ..Default::default()
            },
            send_at: None,
            draft: true,
        },
    ];
    let env = crate::mailings::Env { now, public_url };
    for input in mailings {
        let checked = crate::mailings::check(
            txn,
            merchant_id,
            &input.name,
            &input.audience,
            &input.channels,
            &input.content,
            input.send_at,
            now,
        )
        .await
        .map_err(|e| anyhow::anyhow!("checking the demo mailing {}: {e}", input.name))?;
        crate::mailings::create(txn, env, merchant_id, None, &input, &checked, None)
            .await
            .map_err(|e| anyhow::anyhow!("creating the demo mailing {}: {e}", input.name))?;
    }
    Ok(())
}

/// A random (version 4) id drawn from the seeded generator.
fn seeded_id(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()
}

fn person(
    rng: &mut ChaCha8Rng,
    n: usize,
    now: DateTime<Utc>,
    used_phones: &mut std::collections::HashSet<String>,
) -> (CustomerRecord, DateTime<Utc>) {
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Alex");
    let last = LAST_NAMES.choose(rng).copied().unwrap_or("Doe");
    let phone = rng.gen_bool(0.85).then(|| {
        loop {
            let area = AREA_CODES.choose(rng).copied().unwrap_or("415");
            let candidate = format!(
                "+1{area}{}{:04}",
                rng.gen_range(201..=989),
                rng.gen_range(0..10_000)
            );
            if let Ok(phone) = Phone::parse(&candidate, phonenumber::country::Id::US)
                && used_phones.insert(phone.as_str().to_owned())
            {
                break phone.into_inner();
            }
        }
    });
    let email = rng.gen_bool(0.75).then(|| {
        let domain = MAIL_DOMAINS.choose(rng).copied().unwrap_or("example.com");
        let local: String = format!("{}.{}{}", first, last, n)
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        format!("{local}@{domain}")
    });
    let birthday = rng.gen_bool(0.85).then(|| {
        let year = rng.gen_range(1960..=2006);
        let day_of_year = rng.gen_range(0..365);
        NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default() + Duration::days(day_of_year)
    });
    let tag_count = rng.gen_range(0..=3);
    let mut tags: Vec<String> = TAGS
        .choose_multiple(rng, tag_count)
        .map(|t| (*t).to_owned())
        .collect();
    tags.sort();
    let created_at = now - Duration::minutes(rng.gen_range(60..60 * 24 * 730));
    // Visits skew low: many come a few times, a few come very often.
    let visits: i32 = if rng.gen_bool(0.1) {
        0
    } else {
        (rng.gen_range(0.0f64..1.0).powi(3) * 80.0) as i32 + 1
    };
    let last_visit_at = (visits > 0).then(|| {
        let since = (now - created_at).num_minutes().max(1);
        now - Duration::minutes(rng.gen_range(0..since))
    });
    let points = i64::from(visits) * 10 + rng.gen_range(0..10);
    let consent = Consent {
        sms: !rng.gen_bool(0.08),
        email: !rng.gen_bool(0.05),
        telegram: true,
        messenger: true,
    };
    let record = CustomerRecord {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        phone,
        email,
        birthday,
        tags,
        telegram_chat_id: rng
            .gen_bool(0.2)
            .then(|| rng.gen_range(100_000_000u64..9_999_999_999).to_string()),
        messenger_psid: rng.gen_bool(0.1).then(|| {
            rng.gen_range(1_000_000_000_000_000u64..9_999_999_999_999_999)
                .to_string()
        }),
        time_zone: None,
        consent,
        visits,
        last_visit_at,
        points,
    };
    (record, created_at)
}
