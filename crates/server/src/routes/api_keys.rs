use actix_web::{HttpResponse, delete, get, post, web};
use loyalcast_domain::Fields;
use loyalcast_dto::{ApiKey, CreatedApiKey, NewApiKey, Problem};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::auth::{Auth, api_keys};
use crate::entity::api_key;
use crate::error::{ApiError, Result};
use crate::state::AppState;

fn to_dto(k: &api_key::Model) -> ApiKey {
    ApiKey {
        id: k.id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: api_keys::parse_scopes(&k.scopes).into_iter().collect(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
    }
}

/// The longest an expiring key may be made for.
const MAX_LIFETIME_DAYS: i64 = 3653;

/// The merchant's API keys (never their secrets), newest first.
#[utoipa::path(
    tag = "api-keys",
    responses((status = 200, body = Vec<ApiKey>), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/api-keys")]
pub async fn list(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Vec<ApiKey>>> {
    let keys = api_key::Entity::find()
        .filter(api_key::Column::MerchantId.eq(auth.merchant_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(web::Json(keys.iter().map(to_dto).collect()))
}

/// Create an API key for an integration, with the scopes it needs and, if wanted, an
/// expiry. The secret is in this answer only. API keys cannot create keys.
///
/// Unlike other create endpoints this one takes no `Idempotency-Key`: the secret is never
/// stored, so a replay could not return it.
#[utoipa::path(
    tag = "api-keys",
    request_body = NewApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/api-keys")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<NewApiKey>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let mut fields = Fields::new();
    let name = fields.text("name", &body.name, 120);
    let scopes: std::collections::BTreeSet<_> = body.scopes.iter().copied().collect();
    if scopes.is_empty() {
        fields.push("scopes", "required", "choose at least one scope");
    } else if scopes.len() < body.scopes.len() {
        fields.push("scopes", "duplicate", "name each scope once");
    }
    let now = state.clock.now();
    if let Some(at) = body.expires_at {
        if at <= now {
            fields.push("expires_at", "in_past", "the expiry must be in the future");
        } else if at > now + chrono::Duration::days(MAX_LIFETIME_DAYS) {
            fields.push(
                "expires_at",
                "too_far",
                "the expiry must be within 10 years from now",
            );
        }
    }
    fields.finish()?;
    let name = name.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("parsed name missing")))?;
    let (prefix, secret, hash) = api_keys::generate();
    let model = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(auth.merchant_id),
        name: Set(name.clone()),
        prefix: Set(prefix),
        secret_hash: Set(hash),
        scopes: Set(api_keys::write_scopes(&scopes)),
        created_by: Set(auth.member_id),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
        expires_at: Set(body.expires_at),
    }
    .insert(&state.db)
    .await?;
    Ok(HttpResponse::Created().json(CreatedApiKey {
        key: to_dto(&model),
        secret,
    }))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[delete("/api-keys/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let key = api_key::Entity::find_by_id(id.into_inner())
        .filter(api_key::Column::MerchantId.eq(auth.merchant_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    if key.revoked_at.is_none() {
        let mut active: api_key::ActiveModel = key.into();
        active.revoked_at = Set(Some(state.clock.now()));
        active.update(&state.db).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}
