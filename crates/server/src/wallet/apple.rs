//! Signed Apple Wallet passes (.pkpass): pass.json from the card's design and the customer's
//! pass, the icons, manifest.json with each file's SHA-1, and a detached PKCS#7 signature made
//! with the pass type certificate and the WWDR intermediate, zipped (by `pkpass`).
//!
//! Signing costs an RSA signature (and `pkpass` signs with `rsa` 0.9, whose timing advisory
//! RUSTSEC-2023-0071 is a reason not to sign on every request): signed passes are kept per
//! (pass, update tag), so the burst of fetches after a push signs each pass once, and signing
//! runs on blocking threads, a bounded number at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use loyalcast_dto::CardKind;
use pkpass::fields::{Content, ContentOptions, Type as Fields};
use pkpass::resource::{Type as Image, Version};
use pkpass::sign::{SignConfig, WWDR};
use pkpass::{
    Package, PassBuilder, PassConfig, barcode::Barcode, barcode::BarcodeFormat,
    visual_appearance::Color, visual_appearance::VisualAppearance, web_service::WebService,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::AppleWalletConfig;
use crate::entity::{card, customer, merchant, pass};

/// The key of the back field that holds the latest message; its `changeMessage` is `%@`, so
/// a new value shows on the lock screen.
pub const MESSAGE_FIELD: &str = "latest_message";

/// What the back field says before the first message.
pub const NO_MESSAGE: &str = "Messages from us appear here.";

const ICONS: [(Version, &[u8]); 3] = [
    (
        Version::Standard,
        include_bytes!("../../assets/pass/icon.png"),
    ),
    (
        Version::Size2X,
        include_bytes!("../../assets/pass/icon@2x.png"),
    ),
    (
        Version::Size3X,
        include_bytes!("../../assets/pass/icon@3x.png"),
    ),
];

/// The largest icon, as the program's logo where a wallet fetches one by URL (Google).
pub fn logo_png() -> &'static [u8] {
    ICONS[2].1
}

/// Signs passes with the configured certificate, or with development material made at start
/// (see [`super::dev_certs`]) when none is configured.
pub struct PassSigner {
    sign: SignConfig,
    /// The WWDR certificate passes are signed against, as PEM (for checks and the demo).
    wwdr_pem: String,
    development: bool,
    pass_type_id: String,
    team_id: String,
    web_service_url: String,
    permits: Semaphore,
    cache: Mutex<Cache>,
}

/// A bounded map of signed passes: the oldest entry goes when it is full.
struct Cache {
    capacity: usize,
    entries: HashMap<Uuid, (i64, Arc<Vec<u8>>)>,
    order: VecDeque<Uuid>,
}

impl Cache {
    fn get(&self, pass: Uuid, tag: i64) -> Option<Arc<Vec<u8>>> {
        self.entries
            .get(&pass)
            .filter(|(t, _)| *t == tag)
            .map(|(_, bytes)| bytes.clone())
    }

    fn put(&mut self, pass: Uuid, tag: i64, bytes: Arc<Vec<u8>>) {
        if self.entries.insert(pass, (tag, bytes)).is_none() {
            self.order.push_back(pass);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

/// Everything a pass shows, read from the database.
pub struct PassContent<'a> {
    pub pass: &'a pass::Model,
    pub card: &'a card::Model,
    pub customer: &'a customer::Model,
    pub merchant: &'a merchant::Model,
}

impl PassSigner {
    /// The signer for `config`; `public_url` is where devices reach the web service.
    pub fn new(config: &AppleWalletConfig, public_url: &str) -> anyhow::Result<PassSigner> {
        let (wwdr_pem, certificate_pem, key_pem, development) =
            match (&config.certificate_pem, &config.key_pem) {
                (Some(certificate), Some(key)) => (
                    config.wwdr_pem.clone().unwrap_or_default(),
                    certificate.clone(),
                    key.clone(),
                    false,
                ),
                (None, None) => {
                    let dev = super::dev_certs::generate(
                        &config.pass_type_id,
                        &config.team_id,
                        std::time::SystemTime::now(),
                    )?;
                    (dev.wwdr_pem, dev.certificate_pem, dev.key_pem, true)
                }
                _ => anyhow::bail!(
                    "apple_wallet: give both certificate_pem and key_pem, or neither (for \
                     development passes)"
                ),
            };
        // Apple's WWDR G4 intermediate when a real certificate comes without one.
        let wwdr = if wwdr_pem.is_empty() {
            WWDR::G4
        } else {
            WWDR::Custom(wwdr_pem.as_bytes())
        };
        let sign = SignConfig::new(&wwdr, certificate_pem.as_bytes(), key_pem.expose_secret())
            .map_err(|e| anyhow::anyhow!("apple_wallet: the certificate or key: {e}"))?;
        Ok(PassSigner {
            sign,
            wwdr_pem,
            development,
            pass_type_id: config.pass_type_id.clone(),
            team_id: config.team_id.clone(),
            web_service_url: format!("{}/passkit", public_url.trim_end_matches('/')),
            permits: Semaphore::new(config.signing_concurrency.max(1)),
            cache: Mutex::new(Cache {
                capacity: config.signed_pass_cache.max(1),
                entries: HashMap::new(),
                order: VecDeque::new(),
            }),
        })
    }

    /// Whether passes are signed with development material (they do not install on a real
    /// device).
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// The WWDR certificate (PEM) passes are signed against; empty for Apple's own G4.
    pub fn wwdr_pem(&self) -> &str {
        &self.wwdr_pem
    }

    /// The pass type identifier of a card's passes.
    pub fn pass_type_id<'a>(&'a self, card: &'a card::Model) -> &'a str {
        pass_type_id(card, &self.pass_type_id)
    }

    /// The signed .pkpass of a pass as it is now: from the cache when its update tag has not
    /// moved, signed otherwise.
    pub async fn package(&self, content: &PassContent<'_>) -> anyhow::Result<Arc<Vec<u8>>> {
        let (id, tag) = (content.pass.id, content.pass.update_tag);
        if let Some(bytes) = self.cached(id, tag) {
            return Ok(bytes);
        }
        let _permit = self.permits.acquire().await?;
        // Another request may have signed it while this one waited.
        if let Some(bytes) = self.cached(id, tag) {
            return Ok(bytes);
        }
        let package = self.build(content)?;
        let sign = self.sign.clone();
        let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
            let mut package = package;
            package.add_certificates(sign);
            let mut out = std::io::Cursor::new(Vec::new());
            package
                .write(&mut out)
                .map_err(|e| anyhow::anyhow!("signing a pass: {e}"))?;
            Ok(out.into_inner())
        })
        .await??;
        let bytes = Arc::new(bytes);
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(id, tag, bytes.clone());
        }
        Ok(bytes)
    }

    fn cached(&self, pass: Uuid, tag: i64) -> Option<Arc<Vec<u8>>> {
        self.cache.lock().ok().and_then(|c| c.get(pass, tag))
    }

    /// The package, unsigned: pass.json and the images.
    fn build(&self, content: &PassContent<'_>) -> anyhow::Result<Package> {
        let PassContent {
            pass,
            card,
            customer,
            merchant,
        } = content;
        let name = format!("{} {}", customer.first_name, customer.last_name)
            .trim()
            .to_owned();
        let kind = CardKind::ALL.into_iter().find(|k| k.as_str() == card.kind);
        let primary = match kind {
            Some(CardKind::Stamp) => Content::new(
                "stamps",
                &(i64::from(customer.visits) + i64::from(customer.bonus_stamps)).to_string(),
                ContentOptions {
                    label: Some("Stamps".to_owned()),
                    ..Default::default()
                },
            ),
            _ => Content::new(
                "points",
                &customer.points.to_string(),
                ContentOptions {
                    label: Some("Points".to_owned()),
                    change_message: Some("Your balance is now %@".to_owned()),
                    ..Default::default()
                },
            ),
        };
        let message = pass.message.as_deref().unwrap_or(NO_MESSAGE);
        let mut fields = Fields::StoreCard {
            pass_fields: Default::default(),
        }
        .add_primary_field(primary)
        .add_secondary_field(Content::new(
            "member",
            &name,
            ContentOptions {
                label: Some("Member".to_owned()),
                ..Default::default()
            },
        ))
        .add_back_field(Content::new(
            MESSAGE_FIELD,
            message,
            ContentOptions {
                label: Some("Latest message".to_owned()),
                change_message: Some("%@".to_owned()),
                ..Default::default()
            },
        ));
        if !card.description.trim().is_empty() {
            fields = fields.add_back_field(Content::new(
                "about",
                &card.description,
                ContentOptions {
                    label: Some("About".to_owned()),
                    ..Default::default()
                },
            ));
        }
        let mut builder = PassBuilder::new(PassConfig {
            organization_name: merchant.name.clone(),
            description: card.name.clone(),
            pass_type_identifier: self.pass_type_id(card).to_owned(),
            team_identifier: self.team_id.clone(),
            serial_number: pass.serial_number.clone(),
        })
        .logo_text(card.logo_text.clone())
        .appearance(VisualAppearance {
            label_color: color(&card.label_color),
            foreground_color: color(&card.foreground_color),
            background_color: color(&card.background_color),
        })
        .web_service(WebService {
            authentication_token: pass.authentication_token.clone(),
            web_service_url: self.web_service_url.clone(),
        })
        .add_barcode(Barcode {
            message: pass.serial_number.clone(),
            format: BarcodeFormat::QR,
            alt_text: Some(pass.serial_number.clone()),
            message_encoding: "iso-8859-1".to_owned(),
        })
        .fields(fields);
        if let Some(expires) = pass.expires_at {
            builder = builder.expiration_date(expires);
        }
        let locations: Vec<loyalcast_dto::StoreLocation> =
            serde_json::from_str(&card.locations).unwrap_or_default();
        for store in locations
            .into_iter()
            .take(loyalcast_dto::MAX_STORE_LOCATIONS)
        {
            builder = builder.add_location(pkpass::location::Location {
                latitude: store.latitude,
                longitude: store.longitude,
                altitude: None,
                relevant_text: Some(if store.relevant_text.is_empty() {
                    format!("{} is nearby", card.name)
                } else {
                    store.relevant_text
                }),
            });
        }
        let mut package = Package::new(builder.build());
        for (version, bytes) in ICONS {
            package
                .add_resource(Image::Icon(version), bytes)
                .map_err(|e| anyhow::anyhow!("adding the pass icon: {e}"))?;
        }
        Ok(package)
    }
}

/// The pass type identifier of a card's passes: its own, or the installation's `default`.
/// Needs no signer, so the web service's lookups do not make signing material.
pub fn pass_type_id<'a>(card: &'a card::Model, default: &'a str) -> &'a str {
    card.apple_pass_type_id.as_deref().unwrap_or(default)
}

/// `#rrggbb` as a pass colour; `None` for anything else (the system picks one).
fn color(hex: &str) -> Option<Color> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Color::new(byte(0)?, byte(2)?, byte(4)?)
}

/// The next update tag of a pass last tagged `previous`, at `now`: microseconds since the
/// epoch, and at least a second after the one before, so that both a device that saw
/// `previous` and `Last-Modified` (whole seconds) see the change.
pub fn next_tag(previous: i64, now: DateTime<Utc>) -> i64 {
    now.timestamp_micros()
        .max(previous.saturating_add(1_000_000))
}

/// [`next_tag`] as SQL over a pass's `update_tag`, for set-based updates.
pub fn next_tag_expr(now: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
    let micros = now.timestamp_micros();
    // An integer the server computed, not input: written into the statement, as both
    // databases then read the comparison as one between integers.
    Expr::cust(format!(
        "CASE WHEN update_tag + 1000000 > {micros} THEN update_tag + 1000000 ELSE {micros} END"
    ))
}

/// Moves the update tag of every pass of a card (see [`next_tag`]), in one statement: what
/// they all show has changed (the card's design, texts or stores).
pub async fn touch_card(
    db: &impl ConnectionTrait,
    card_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    pass::Entity::update_many()
        .col_expr(pass::Column::UpdateTag, next_tag_expr(now))
        .col_expr(pass::Column::UpdatedAt, Expr::value(now))
        .filter(pass::Column::CardId.eq(card_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves the update tag of every pass of `customers` (see [`next_tag`]), in one statement
/// per 500 customers: what their passes show has changed.
pub async fn touch(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    customers: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for chunk in customers.chunks(500) {
        pass::Entity::update_many()
            .col_expr(pass::Column::UpdateTag, next_tag_expr(now))
            .col_expr(pass::Column::UpdatedAt, Expr::value(now))
            .filter(pass::Column::MerchantId.eq(merchant_id))
            .filter(pass::Column::CustomerId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_certificate_passes_are_signed_with_development_material() {
        let config = AppleWalletConfig::default();
        let signer = PassSigner::new(&config, "https://loyalcast.example.com/");
        let signer = signer.unwrap_or_else(|e| panic!("{e}"));
        assert!(signer.is_development());
        assert!(signer.wwdr_pem().contains("BEGIN CERTIFICATE"));
        assert_eq!(
            signer.web_service_url,
            "https://loyalcast.example.com/passkit"
        );
        let half = AppleWalletConfig {
            certificate_pem: Some("not a certificate".to_owned()),
            ..AppleWalletConfig::default()
        };
        assert!(
            PassSigner::new(&half, "http://x").is_err(),
            "a key is needed"
        );
    }

    #[test]
    fn colours_and_tags() {
        assert!(color("#1a2B3c").is_some());
        assert!(color("1a2b3c").is_none());
        assert!(color("#1a2b3").is_none());
        assert!(color("#zz0000").is_none());
        let now = Utc::now();
        assert_eq!(next_tag(0, now), now.timestamp_micros());
        let just_now = now.timestamp_micros() - 5;
        assert_eq!(next_tag(just_now, now), just_now + 1_000_000, "a second on");
    }
}
