//! Automations: the built-in kinds and custom rules of each card, their figures and
//! occurrences, and the merchant's rules for all of them.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use loyalcast_dto::{
    Automation, AutomationChanges, AutomationRun, AutomationSettings, NewAutomation, Page, Problem,
    RunStatus,
};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::PageParams;
use crate::auth::Auth;
use crate::automations;
use crate::error::Result;
use crate::state::AppState;

/// Which automations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// One card's automations only (another merchant's card lists none).
    pub card_id: Option<Uuid>,
}

/// The automations, with their figures: the built-in kinds first, then custom rules.
#[utoipa::path(
    tag = "automations",
    params(ListParams),
    responses(
        (status = 200, body = Vec<Automation>),
        (status = 400, description = "A card ID that is not a UUID", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/automations")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    params: web::Query<ListParams>,
) -> Result<web::Json<Vec<Automation>>> {
    Ok(web::Json(
        automations::list(&state.db, auth.merchant_id, params.card_id).await?,
    ))
}

/// Create an automation: one of the built-in kinds for a card, or a custom rule.
///
/// It reacts from now on: events recorded before it was created are not its occurrences,
/// and the calendar kinds plan from today.
#[utoipa::path(
    tag = "automations",
    request_body = NewAutomation,
    responses(
        (status = 201, body = Automation),
        (status = 409, description = "The card has this built-in kind already, or 50 custom rules", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields: another merchant's card, a message that does not fit or names an unknown variable, a time, delay or reward out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/automations")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<NewAutomation>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    let txn = state.db.begin().await?;
    let created = automations::create(&txn, auth.merchant_id, &input, state.clock.now()).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(created))
}

/// An automation with its figures.
#[utoipa::path(
    tag = "automations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Automation),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/automations/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Automation>> {
    Ok(web::Json(
        automations::get(&state.db, auth.merchant_id, id.into_inner()).await?,
    ))
}

/// Change an automation: what is left out stays.
///
/// Applies to what has not fired yet: disabling cancels what is due; a new time or delay
/// moves it; a new message or reward is what fires next.
#[utoipa::path(
    tag = "automations",
    params(("id" = Uuid, Path)),
    request_body = AutomationChanges,
    responses(
        (status = 200, body = Automation),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a trigger of another kind", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/automations/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: crate::json::Json<AutomationChanges>,
) -> Result<web::Json<Automation>> {
    let changes = body.into_inner();
    let txn = state.db.begin().await?;
    let updated = automations::update(
        &txn,
        auth.merchant_id,
        id.into_inner(),
        &changes,
        state.clock.now(),
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(updated))
}

/// Delete an automation and what it has due; the pushes it sent stay in the history.
#[utoipa::path(
    tag = "automations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/automations/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let txn = state.db.begin().await?;
    automations::delete(&txn, auth.merchant_id, id.into_inner(), state.clock.now()).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Which occurrences to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// Only occurrences with this status.
    pub status: Option<RunStatus>,
}

/// An automation's occurrences, one per customer and occurrence, latest due first.
#[utoipa::path(
    tag = "automations",
    params(("id" = Uuid, Path), RunParams, PageParams),
    responses(
        (status = 200, body = Page<AutomationRun>),
        (status = 400, description = "A page, page size or status out of range", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/automations/{id}/runs")]
pub async fn runs(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    filter: web::Query<RunParams>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<AutomationRun>>> {
    let (page, per_page) = paging.resolve()?;
    let a = automations::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let (items, total) = automations::runs(&state.db, &a, filter.status, page, per_page).await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// The merchant's rules for every automation: pause, quiet hours, frequency cap, staleness.
#[utoipa::path(
    tag = "automations",
    responses((status = 200, body = AutomationSettings)),
    security(("bearer" = []))
)]
#[get("/automation-settings")]
pub async fn settings(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<web::Json<AutomationSettings>> {
    Ok(web::Json(
        automations::settings(&state.db, auth.merchant_id).await?,
    ))
}

/// Set the merchant's rules for every automation; they apply to what fires next.
#[utoipa::path(
    tag = "automations",
    request_body = AutomationSettings,
    responses(
        (status = 200, body = AutomationSettings),
        (status = 422, description = "A time that is not HH:MM, or a figure out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/automation-settings")]
pub async fn set_settings(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<AutomationSettings>,
) -> Result<web::Json<AutomationSettings>> {
    let input = body.into_inner();
    Ok(web::Json(
        automations::set_settings(&state.db, auth.merchant_id, &input, state.clock.now()).await?,
    ))
}
