use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use loyalcast_dto::{CardKind, NewPass, Page, Pass, Problem, WalletPlatform};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::Auth;
use crate::entity::{card, customer, pass};
use crate::error::{ApiError, Result, is_unique_violation};
use crate::idempotency::{self, IdempotencyKey};
use crate::routes::{PageParams, cards};
use crate::state::AppState;

pub fn to_dto(p: &pass::Model) -> Pass {
    Pass {
        id: p.id,
        card_id: p.card_id,
        customer_id: p.customer_id,
        serial_number: p.serial_number.clone(),
        platform: if p.platform == "google" {
            WalletPlatform::Google
        } else {
            WalletPlatform::Apple
        },
        installed_at: p.installed_at,
        expires_at: p.expires_at,
    }
}

/// 1 to 64 letters, digits, `-`, `_` or `.`.
fn is_serial_number(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A random token the wallet sends back with every web-service call for this pass.
pub fn authentication_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// When a pass of `card` installed at `at` expires: after the membership period for a
/// membership card that has one, never otherwise.
pub fn membership_expiry(card: &card::Model, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (cards::parse_kind(&card.kind) == CardKind::Membership)
        .then_some(card.membership_period_days)
        .flatten()
        .map(|days| at + Duration::days(i64::from(days)))
}

/// A pass to issue.
pub struct NewPassRow {
    pub merchant_id: Uuid,
    pub card_id: Uuid,
    pub customer_id: Uuid,
    pub serial_number: String,
    pub platform: WalletPlatform,
    pub installed_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewPassRow {
    /// The row to insert: a new id and authentication token, the first update tag at `now`,
    /// no message yet.
    pub fn active_model(self, now: DateTime<Utc>) -> pass::ActiveModel {
        pass::ActiveModel {
            id: Set(Uuid::now_v7()),
            merchant_id: Set(self.merchant_id),
            card_id: Set(self.card_id),
            customer_id: Set(self.customer_id),
            serial_number: Set(self.serial_number),
            authentication_token: Set(authentication_token()),
            platform: Set(self.platform.as_str().to_owned()),
            installed_at: Set(self.installed_at),
            expires_at: Set(self.expires_at),
            updated_at: Set(now),
            update_tag: Set(crate::wallet::apple::next_tag(0, now)),
            message: Set(None),
            fetched_tag: Set(None),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this customer's passes.
    pub customer_id: Option<Uuid>,
    /// Only passes of this card.
    pub card_id: Option<Uuid>,
}

/// Installed passes, newest first.
#[utoipa::path(
    tag = "passes",
    params(ListParams, PageParams),
    responses((status = 200, body = Page<Pass>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/passes")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    params: web::Query<ListParams>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<Pass>>> {
    let (page, per_page) = paging.resolve()?;
    let mut query = pass::Entity::find().filter(pass::Column::MerchantId.eq(auth.merchant_id));
    if let Some(id) = params.customer_id {
        query = query.filter(pass::Column::CustomerId.eq(id));
    }
    if let Some(id) = params.card_id {
        query = query.filter(pass::Column::CardId.eq(id));
    }
    let total = query.clone().count(&state.db).await?;
    let passes = query
        .order_by_desc(pass::Column::InstalledAt)
        .order_by_desc(pass::Column::Id)
        .offset((page - 1).saturating_mul(per_page))
        .limit(per_page)
        .all(&state.db)
        .await?;
    Ok(web::Json(Page {
        items: passes.iter().map(to_dto).collect(),
        page,
        per_page,
        total,
    }))
}

/// Record a pass a customer installed. Membership passes expire after the card's period.
#[utoipa::path(
    tag = "passes",
    request_body = NewPass,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 409, description = "Another pass has this serial number", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = Pass),
        (status = 422, description = "Unknown card or customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/passes")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<NewPass>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    let card = match cards::find(&state.db, auth.merchant_id, input.card_id).await {
        Ok(card) => card,
        Err(ApiError::NotFound) => {
            return Err(ApiError::field("card_id", "not_found", "no such card"));
        }
        Err(err) => return Err(err),
    };
    let customer_exists = customer::Entity::find_by_id(input.customer_id)
        .filter(customer::Column::MerchantId.eq(auth.merchant_id))
        .count(&state.db)
        .await?
        > 0;
    if !customer_exists {
        return Err(ApiError::field(
            "customer_id",
            "not_found",
            "no such customer",
        ));
    }
    // Taken as sent: blank or padded values are refused, as the document's pattern
    // (`loyalcast_dto::text::SERIAL_NUMBER`) says; leaving the field out generates one.
    let serial = match input.serial_number.as_deref() {
        None => Uuid::new_v4().simple().to_string(),
        Some(s) if is_serial_number(s) => s.to_owned(),
        Some(_) => {
            return Err(ApiError::field(
                "serial_number",
                "invalid_serial_number",
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
    };
    let installed_at = input.installed_at.unwrap_or_else(Utc::now);
    let expires_at = input
        .expires_at
        .or_else(|| membership_expiry(&card, installed_at));
    if expires_at.is_some_and(|e| e <= installed_at) {
        return Err(ApiError::field(
            "expires_at",
            "out_of_range",
            "must be after installed_at",
        ));
    }
    let result = idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &input,
        StatusCode::CREATED,
        async |txn| {
            let model = NewPassRow {
                merchant_id: auth.merchant_id,
                card_id: card.id,
                customer_id: input.customer_id,
                serial_number: serial.clone(),
                platform: input.platform,
                installed_at,
                expires_at,
            }
            .active_model(state.clock.now())
            .insert(txn)
            .await?;
            crate::customer_events::installed(
                txn,
                model.merchant_id,
                model.customer_id,
                Some(model.id),
                &model.serial_number,
                model.installed_at,
                state.clock.now(),
            )
            .await?;
            Ok(to_dto(&model))
        },
    )
    .await;
    match result {
        Err(ApiError::Internal(err))
            if err
                .downcast_ref::<sea_orm::DbErr>()
                .is_some_and(is_unique_violation) =>
        {
            Err(ApiError::taken(
                "serial_number",
                "another pass has this serial number",
            ))
        }
        other => other,
    }
}

/// One pass.
#[utoipa::path(
    tag = "passes",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Pass), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/passes/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Pass>> {
    let model = find(&state, &auth, id.into_inner()).await?;
    Ok(web::Json(to_dto(&model)))
}

async fn find(state: &AppState, auth: &Auth, id: Uuid) -> Result<pass::Model> {
    pass::Entity::find_by_id(id)
        .filter(pass::Column::MerchantId.eq(auth.merchant_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Remove a pass (the customer deleted it from their wallet).
#[utoipa::path(
    tag = "passes",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[delete("/passes/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let model = find(&state, &auth, id.into_inner()).await?;
    model.delete(&state.db).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::is_serial_number;

    #[test]
    fn the_documented_serial_number_pattern_is_the_check() {
        let pattern =
            regex::Regex::new(loyalcast_dto::text::SERIAL_NUMBER).unwrap_or_else(|e| panic!("{e}"));
        let longest = "a".repeat(64);
        let too_long = "a".repeat(65);
        for serial in [
            "CC-000123",
            "a.b_c-d",
            "",
            " ",
            " CC-1",
            "CC-1 ",
            "CC 1",
            "CC/1",
            "é",
            longest.as_str(),
            too_long.as_str(),
        ] {
            assert_eq!(
                pattern.is_match(serial),
                is_serial_number(serial),
                "{serial:?}"
            );
        }
    }
}
