//! Provider webhooks. Each checks the provider's signature before it touches anything.

use actix_web::{HttpRequest, HttpResponse, post, web};
use loyalcast_delivery::opt_out::SmsKeyword;
use loyalcast_delivery::twilio::webhook::{InboundSms, ReportedStatus, StatusCallback};

use crate::engine::events;
use crate::error::{ApiError, Result};
use crate::state::AppState;

fn verified(state: &AppState, req: &HttpRequest, form: &[(String, String)]) -> Result<()> {
    let verifier = state.twilio.as_ref().ok_or(ApiError::NotFound)?;
    let signature = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Forbidden("Missing X-Twilio-Signature."))?;
    let url = format!(
        "{}{}",
        state.config.public_url.trim_end_matches('/'),
        req.uri()
    );
    if !verifier.verify(&url, form, signature) {
        tracing::warn!(path = %req.uri().path(), "rejected a Twilio webhook with a bad signature");
        return Err(ApiError::Forbidden(
            "The X-Twilio-Signature does not match.",
        ));
    }
    Ok(())
}

fn twiml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml")
        .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")
}

#[derive(serde::Deserialize)]
pub struct DeliveryQuery {
    delivery_id: Option<i64>,
}

/// Twilio's status callback: delivered, or failed after sending.
#[utoipa::path(
    tag = "webhooks",
    params(("delivery_id" = i64, Query)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "TwiML"), (status = 403, body = loyalcast_dto::Problem, content_type = "application/problem+json"), (status = 404, description = "Twilio is not configured", body = loyalcast_dto::Problem, content_type = "application/problem+json"))
)]
#[post("/webhooks/twilio/status")]
pub async fn twilio_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<DeliveryQuery>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    verified(&state, &req, &form)?;
    let callback =
        StatusCallback::from_form(&form).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Some(id) = query.delivery_id else {
        return Ok(twiml());
    };
    match callback.status() {
        ReportedStatus::Delivered => {
            events::delivered(&state.db, id).await?;
        }
        ReportedStatus::Failed(error) => {
            events::failed_after_send(&state.db, id, &error.to_string()).await?;
        }
        ReportedStatus::Pending | ReportedStatus::Sent => {}
    }
    Ok(twiml())
}

/// Twilio's inbound SMS: STOP-family replies turn SMS off for that number at once; START
/// turns it on again.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "TwiML"), (status = 403, body = loyalcast_dto::Problem, content_type = "application/problem+json"), (status = 404, body = loyalcast_dto::Problem, content_type = "application/problem+json"))
)]
#[post("/webhooks/twilio/inbound")]
pub async fn twilio_inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    verified(&state, &req, &form)?;
    let inbound = InboundSms::from_form(&form).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match inbound.keyword() {
        Some(SmsKeyword::OptOut) => {
            let n = events::sms_consent_for_phone(&state.db, inbound.from.as_str(), false).await?;
            tracing::info!(customers = n, "SMS opt-out received");
        }
        Some(SmsKeyword::OptIn) => {
            events::sms_consent_for_phone(&state.db, inbound.from.as_str(), true).await?;
        }
        _ => {}
    }
    Ok(twiml())
}
