use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use loyalcast_domain::{Fields, rules};
use loyalcast_dto::{
    CountRequest, Page, Problem, Segment, SegmentCount, SegmentInput, SegmentRule,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::PageParams;
use crate::auth::Auth;
use crate::entity::{card, segment};
use crate::error::{ApiError, Result, is_unique_violation};
use crate::idempotency::{self, IdempotencyKey};
use crate::merchants;
use crate::segments::{self, Context};
use crate::state::AppState;

async fn context(state: &AppState, merchant_id: Uuid) -> Result<Context> {
    let merchant = merchants::find(&state.db, merchant_id).await?;
    Ok(Context {
        merchant_id,
        now: state.clock.now(),
        time_zone: merchants::time_zone(&merchant),
    })
}

/// Checks a rule, including that every card it names is the merchant's.
async fn check_rule(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    rule: &SegmentRule,
    fields: &mut Fields,
) -> Result<SegmentRule> {
    let checked = rules::check(rule, "rule", fields);
    if fields.has_errors() {
        return Ok(checked);
    }
    let mut cards = Vec::new();
    collect_cards(&checked, "rule", &mut cards);
    if cards.is_empty() {
        return Ok(checked);
    }
    // One look-up for every card the rule names.
    let known: HashSet<Uuid> = card::Entity::find()
        .select_only()
        .column(card::Column::Id)
        .filter(card::Column::MerchantId.eq(merchant_id))
        .filter(card::Column::Id.is_in(cards.iter().map(|(_, id)| *id)))
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    for (path, card_id) in cards {
        if !known.contains(&card_id) {
            fields.push(format!("{path}.card_id"), "not_found", "no such card");
        }
    }
    Ok(checked)
}

fn collect_cards(rule: &SegmentRule, path: &str, out: &mut Vec<(String, Uuid)>) {
    match rule {
        SegmentRule::And { rules } | SegmentRule::Or { rules } => {
            for (i, r) in rules.iter().enumerate() {
                collect_cards(r, &format!("{path}.rules[{i}]"), out);
            }
        }
        SegmentRule::HoldsCard { card_id } => out.push((path.to_owned(), *card_id)),
        _ => {}
    }
}

fn parse_rule(stored: &str) -> Result<SegmentRule> {
    serde_json::from_str(stored)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored segment rule: {e}")))
}

async fn to_dto(
    db: &impl ConnectionTrait,
    model: &segment::Model,
    ctx: &Context,
) -> Result<Segment> {
    let rule = parse_rule(&model.rule)?;
    let customers = segments::count(db, &rule, ctx).await?;
    Ok(dto(model.clone(), rule, customers))
}

fn dto(model: segment::Model, rule: SegmentRule, customers: u64) -> Segment {
    Segment {
        id: model.id,
        name: model.name,
        rule,
        customers,
        created_at: model.created_at,
        updated_at: model.updated_at,
    }
}

async fn find(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<segment::Model> {
    segment::Entity::find_by_id(id)
        .filter(segment::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

fn name_taken(err: ApiError) -> ApiError {
    match err {
        ApiError::Internal(cause)
            if cause
                .downcast_ref::<sea_orm::DbErr>()
                .is_some_and(is_unique_violation) =>
        {
            ApiError::taken("name", "another segment has this name")
        }
        other => other,
    }
}

/// Count the customers an unsaved rule matches: the live count of the rule builder.
#[utoipa::path(
    tag = "segments",
    request_body = CountRequest,
    responses(
        (status = 200, body = SegmentCount),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/segments/count")]
pub async fn count(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<CountRequest>,
) -> Result<web::Json<SegmentCount>> {
    let mut fields = Fields::new();
    let rule = check_rule(&state.db, auth.merchant_id, &body.rule, &mut fields).await?;
    fields.finish()?;
    let ctx = context(&state, auth.merchant_id).await?;
    Ok(web::Json(SegmentCount {
        customers: segments::count(&state.db, &rule, &ctx).await?,
    }))
}

/// Saved segments with their current counts.
#[utoipa::path(
    tag = "segments",
    params(PageParams),
    responses((status = 200, body = Page<Segment>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/segments")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<Segment>>> {
    let (page, per_page) = paging.resolve()?;
    let query = segment::Entity::find()
        .filter(segment::Column::MerchantId.eq(auth.merchant_id))
        .order_by_asc(segment::Column::Name);
    let total = query.clone().count(&state.db).await?;
    let models = query
        .offset((page - 1).saturating_mul(per_page))
        .limit(per_page)
        .all(&state.db)
        .await?;
    let ctx = context(&state, auth.merchant_id).await?;
    let rules = models
        .iter()
        .map(|m| parse_rule(&m.rule))
        .collect::<Result<Vec<_>>>()?;
    let counts = segments::count_many(&state.db, &rules, &ctx).await?;
    let items = models
        .into_iter()
        .zip(rules)
        .zip(counts)
        .map(|((model, rule), customers)| dto(model, rule, customers))
        .collect();
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Save a segment (owner or admin).
#[utoipa::path(
    tag = "segments",
    request_body = SegmentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 409, description = "Another segment has this name", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = Segment),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/segments")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<SegmentInput>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    let mut fields = Fields::new();
    let name = fields.text("name", &input.name, 80);
    let rule = check_rule(&state.db, auth.merchant_id, &input.rule, &mut fields).await?;
    fields.finish()?;
    let name = name.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("parsed name missing")))?;
    let ctx = context(&state, auth.merchant_id).await?;
    let stored = serde_json::to_string(&rule).map_err(anyhow::Error::from)?;
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &input,
        StatusCode::CREATED,
        async |txn| {
            let now = state.clock.now();
            let model = segment::ActiveModel {
                id: Set(Uuid::now_v7()),
                merchant_id: Set(auth.merchant_id),
                name: Set(name.clone()),
                rule: Set(stored.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await
            .map_err(ApiError::from)
            .map_err(name_taken)?;
            to_dto(txn, &model, &ctx).await
        },
    )
    .await
}

/// A saved segment with its current count.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Segment), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/segments/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Segment>> {
    let model = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let ctx = context(&state, auth.merchant_id).await?;
    Ok(web::Json(to_dto(&state.db, &model, &ctx).await?))
}

/// How many customers a saved segment matches now.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SegmentCount), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/segments/{id}/count")]
pub async fn count_saved(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<SegmentCount>> {
    let model = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let ctx = context(&state, auth.merchant_id).await?;
    let rule = parse_rule(&model.rule)?;
    Ok(web::Json(SegmentCount {
        customers: segments::count(&state.db, &rule, &ctx).await?,
    }))
}

/// Replace a segment's name and rule (owner or admin).
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path)),
    request_body = SegmentInput,
    responses(
        (status = 409, description = "Another segment has this name", body = Problem, content_type = "application/problem+json"),
        (status = 200, body = Segment),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/segments/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: crate::json::Json<SegmentInput>,
) -> Result<web::Json<Segment>> {
    let model = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let input = body.into_inner();
    let mut fields = Fields::new();
    let name = fields.text("name", &input.name, 80);
    let rule = check_rule(&state.db, auth.merchant_id, &input.rule, &mut fields).await?;
    fields.finish()?;
    let name = name.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("parsed name missing")))?;
    let mut active: segment::ActiveModel = model.into();
    active.name = Set(name);
    active.rule = Set(serde_json::to_string(&rule).map_err(anyhow::Error::from)?);
    active.updated_at = Set(state.clock.now());
    let model = active
        .update(&state.db)
        .await
        .map_err(ApiError::from)
        .map_err(name_taken)?;
    let ctx = context(&state, auth.merchant_id).await?;
    Ok(web::Json(to_dto(&state.db, &model, &ctx).await?))
}

/// Delete a segment (owner or admin).
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[delete("/segments/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let model = find(&state.db, auth.merchant_id, id.into_inner()).await?;
    model.delete(&state.db).await?;
    Ok(HttpResponse::NoContent().finish())
}
