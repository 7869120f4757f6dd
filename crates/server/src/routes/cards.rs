use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use loyalcast_domain::{Fields, validation};
use loyalcast_dto::{
    ApnsEnvironment, Card, CardDesign, CardInput, CardKind, MAX_STORE_LOCATIONS, Page, Problem,
    StoreLocation,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::PageParams;
use crate::auth::Auth;
use crate::entity::{card, pass};
use crate::error::{ApiError, Result, is_foreign_key_violation};
use crate::idempotency::{self, IdempotencyKey};
use crate::state::AppState;

pub fn parse_kind(value: &str) -> CardKind {
    CardKind::ALL
        .into_iter()
        .find(|k| k.as_str() == value)
        .unwrap_or(CardKind::Points)
}

fn to_dto(c: &card::Model, installed_passes: u64) -> Card {
    Card {
        id: c.id,
        name: c.name.clone(),
        kind: parse_kind(&c.kind),
        description: c.description.clone(),
        design: CardDesign {
            background_color: c.background_color.clone(),
            foreground_color: c.foreground_color.clone(),
            label_color: c.label_color.clone(),
            logo_text: c.logo_text.clone(),
        },
        apple_pass_type_id: c.apple_pass_type_id.clone(),
        apns_environment: c
            .apns_environment
            .as_deref()
            .and_then(ApnsEnvironment::parse),
        membership_period_days: c.membership_period_days,
        locations: serde_json::from_str(&c.locations).unwrap_or_default(),
        installed_passes,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A card's fields, checked.
struct CheckedCard {
    name: String,
    description: String,
    design: CardDesign,
    /// The store locations, as stored (JSON).
    locations: String,
    apple_pass_type_id: Option<String>,
}

fn check(input: &CardInput) -> Result<CheckedCard> {
    let mut fields = Fields::new();
    let name = fields.text("name", &input.name, 80);
    let description = fields.line("description", &input.description, 500);
    let background = fields.check(
        "design.background_color",
        validation::hex_colour(&input.design.background_color),
    );
    let foreground = fields.check(
        "design.foreground_color",
        validation::hex_colour(&input.design.foreground_color),
    );
    let label = fields.check(
        "design.label_color",
        validation::hex_colour(&input.design.label_color),
    );
    let logo_text = fields.line("design.logo_text", &input.design.logo_text, 40);
    let pass_type = input.apple_pass_type_id.clone();
    if let Some(id) = &pass_type
        && !is_pass_type_id(id)
    {
        fields.push(
            "apple_pass_type_id",
            "invalid_pass_type_id",
            "must look like pass.com.example.card (at most 120 characters)",
        );
    }
    if input.locations.len() > MAX_STORE_LOCATIONS {
        fields.push(
            "locations",
            "too_many",
            format!("at most {MAX_STORE_LOCATIONS} store locations (Apple Wallet reads no more)"),
        );
    }
    let mut locations = Vec::with_capacity(input.locations.len());
    for (i, l) in input.locations.iter().enumerate() {
        if !(l.latitude.is_finite() && (-90.0..=90.0).contains(&l.latitude)) {
            fields.push(
                format!("locations[{i}].latitude"),
                "out_of_range",
                "must be between -90 and 90",
            );
        }
        if !(l.longitude.is_finite() && (-180.0..=180.0).contains(&l.longitude)) {
            fields.push(
                format!("locations[{i}].longitude"),
                "out_of_range",
                "must be between -180 and 180",
            );
        }
        if let Some(text) = fields.line(
            &format!("locations[{i}].relevant_text"),
            &l.relevant_text,
            120,
        ) {
            locations.push(StoreLocation {
                relevant_text: text,
                ..l.clone()
            });
        }
    }
    match (input.kind, input.membership_period_days) {
        (CardKind::Membership, Some(days)) if !(1..=3660).contains(&days) => {
            fields.push(
                "membership_period_days",
                "out_of_range",
                "must be between 1 and 3660 days",
            );
        }
        (CardKind::Membership, _) => {}
        (_, Some(_)) => fields.push(
            "membership_period_days",
            "not_applicable",
            "only membership cards have a membership period",
        ),
        (_, None) => {}
    }
    fields.finish()?;
    match (name, description, background, foreground, label, logo_text) {
        (Some(name), Some(description), Some(bg), Some(fg), Some(lc), Some(logo_text)) => {
            Ok(CheckedCard {
                name,
                description,
                design: CardDesign {
                    background_color: bg,
                    foreground_color: fg,
                    label_color: lc,
                    logo_text,
                },
                locations: serde_json::to_string(&locations).map_err(anyhow::Error::from)?,
                apple_pass_type_id: pass_type,
            })
        }
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "parsed card fields missing"
        ))),
    }
}

/// `pass.` and letters, digits, `.`, `-` or `_`, at most 120 characters, taken as sent:
/// `loyalcast_dto::text::PASS_TYPE_ID` with maxLength 120. (`null` is how to say "none".)
fn is_pass_type_id(id: &str) -> bool {
    id.len() <= 120
        && id.len() > 5
        && id.starts_with("pass.")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

async fn installed_counts(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = pass::Entity::find()
        .select_only()
        .column(pass::Column::CardId)
        .column_as(Expr::col(pass::Column::Id).count(), "installed")
        .filter(pass::Column::CardId.is_in(ids.iter().copied()))
        .group_by(pass::Column::CardId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
        .collect())
}

pub async fn find(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<card::Model> {
    card::Entity::find_by_id(id)
        .filter(card::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The merchant's cards.
#[utoipa::path(
    tag = "cards",
    params(PageParams),
    responses((status = 200, body = Page<Card>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/cards")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<Card>>> {
    let (page, per_page) = paging.resolve()?;
    let query = card::Entity::find()
        .filter(card::Column::MerchantId.eq(auth.merchant_id))
        .order_by_asc(card::Column::Name)
        .order_by_asc(card::Column::Id);
    let total = query.clone().count(&state.db).await?;
    let cards = query
        .offset((page - 1).saturating_mul(per_page))
        .limit(per_page)
        .all(&state.db)
        .await?;
    let ids: Vec<Uuid> = cards.iter().map(|c| c.id).collect();
    let counts = installed_counts(&state.db, &ids).await?;
    Ok(web::Json(Page {
        items: cards
            .iter()
            .map(|c| to_dto(c, counts.get(&c.id).copied().unwrap_or(0)))
            .collect(),
        page,
        per_page,
        total,
    }))
}

/// Create a card program (owner or admin).
#[utoipa::path(
    tag = "cards",
    request_body = CardInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 201, body = Card),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/cards")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<CardInput>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    let checked = check(&input)?;
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &input,
        StatusCode::CREATED,
        async |txn| {
            let now = state.clock.now();
            let model = card::ActiveModel {
                id: Set(Uuid::now_v7()),
                merchant_id: Set(auth.merchant_id),
                name: Set(checked.name.clone()),
                kind: Set(input.kind.as_str().to_owned()),
                description: Set(checked.description.clone()),
                background_color: Set(checked.design.background_color.clone()),
                foreground_color: Set(checked.design.foreground_color.clone()),
                label_color: Set(checked.design.label_color.clone()),
                logo_text: Set(checked.design.logo_text.clone()),
                apple_pass_type_id: Set(checked.apple_pass_type_id.clone()),
                membership_period_days: Set(input.membership_period_days),
                locations: Set(checked.locations.clone()),
                apns_environment: Set(input.apns_environment.map(|e| e.as_str().to_owned())),
                google_class_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            Ok(to_dto(&model, 0))
        },
    )
    .await
}

/// One card.
#[utoipa::path(
    tag = "cards",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Card), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/cards/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Card>> {
    let card = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let installed = installed_counts(&state.db, &[card.id]).await?;
    Ok(web::Json(to_dto(
        &card,
        installed.get(&card.id).copied().unwrap_or(0),
    )))
}

/// Replace a card's settings (owner or admin).
#[utoipa::path(
    tag = "cards",
    params(("id" = Uuid, Path)),
    request_body = CardInput,
    responses(
        (status = 200, body = Card),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/cards/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: crate::json::Json<CardInput>,
) -> Result<web::Json<Card>> {
    let current = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let input = body.into_inner();
    let checked = check(&input)?;
    let mut active: card::ActiveModel = current.into();
    active.name = Set(checked.name);
    active.kind = Set(input.kind.as_str().to_owned());
    active.description = Set(checked.description);
    active.background_color = Set(checked.design.background_color);
    active.foreground_color = Set(checked.design.foreground_color);
    active.label_color = Set(checked.design.label_color);
    active.logo_text = Set(checked.design.logo_text);
    active.apple_pass_type_id = Set(checked.apple_pass_type_id);
    active.apns_environment = Set(input.apns_environment.map(|e| e.as_str().to_owned()));
    active.membership_period_days = Set(input.membership_period_days);
    active.locations = Set(checked.locations);
    let now = state.clock.now();
    active.updated_at = Set(now);
    let txn = state.db.begin().await?;
    let card = active.update(&txn).await?;
    // What every pass of the card shows may have changed (design, texts, stores): their
    // devices fetch them again.
    crate::wallet::apple::touch_card(&txn, card.id, now).await?;
    txn.commit().await?;
    let installed = installed_counts(&state.db, &[card.id]).await?;
    Ok(web::Json(to_dto(
        &card,
        installed.get(&card.id).copied().unwrap_or(0),
    )))
}

/// Delete a card that has no installed passes (owner or admin).
#[utoipa::path(
    tag = "cards",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Passes of this card are installed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/cards/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let card = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let conflict = || {
        ApiError::Conflict(
            "Customers hold passes of this card; remove the passes first.".to_owned(),
        )
    };
    let installed = pass::Entity::find()
        .filter(pass::Column::CardId.eq(card.id))
        .count(&state.db)
        .await?;
    if installed > 0 {
        return Err(conflict());
    }
    match card.delete(&state.db).await {
        Ok(_) => Ok(HttpResponse::NoContent().finish()),
        Err(err) if is_foreign_key_violation(&err) => Err(conflict()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::is_pass_type_id;

    #[test]
    fn the_documented_pass_type_id_pattern_is_the_check() {
        let pattern =
            regex::Regex::new(loyalcast_dto::text::PASS_TYPE_ID).unwrap_or_else(|e| panic!("{e}"));
        let long = format!("pass.{}", "a".repeat(115));
        for id in [
            "pass.com.example.coffee",
            "pass.a",
            "pass.",
            "pass",
            "pass.com example",
            " pass.com.example",
            "pass.com.example ",
            "Pass.com.example",
            "pass.com/example",
            "pass.é",
            "",
            long.as_str(),
        ] {
            let documented = pattern.is_match(id) && id.chars().count() <= 120;
            assert_eq!(documented, is_pass_type_id(id), "{id:?}");
        }
        assert!(is_pass_type_id(&long));
        assert!(!is_pass_type_id(&format!("{long}a")));
    }
}
