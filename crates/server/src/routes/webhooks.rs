//! Provider webhooks. Each checks the provider's signature before it touches anything.
//!
//! These routes are public and read their bodies themselves: a missing signature is refused
//! before the body is read, the body is limited to what a provider ever sends, and nothing
//! in the form or the query string is acted on until the signature over them is checked.

use actix_web::{HttpRequest, HttpResponse, post, web};
use loyalcast_delivery::opt_out::SmsKeyword;
use loyalcast_delivery::twilio::webhook::{
    InboundSms, ReportedStatus, SIGNATURE_HEADER, StatusCallback, parse_form,
};

use crate::body;
use crate::engine::{consent, events};
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// The largest webhook body accepted. Twilio's are a few hundred bytes, an inbound SMS of
/// 1,600 characters with its media parameters a few KiB.
const MAX_WEBHOOK_BYTES: usize = 64 * 1024;

const FORM: &str = "application/x-www-form-urlencoded";

/// The form of a genuine Twilio request: the signature header is there, the body is a form
/// of at most [`MAX_WEBHOOK_BYTES`], and the signature over the configured URL (the one
/// Twilio was given, with this request's path and query) and the form matches.
async fn verified_form(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<(String, String)>> {
    let verifier = state.twilio.as_ref().ok_or(ApiError::NotFound)?;
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .ok_or(ApiError::Forbidden("Missing X-Twilio-Signature."))?
        .to_str()
        // Bytes that are not visible ASCII are no base64, so no signature.
        .map_err(|_| ApiError::Forbidden("The X-Twilio-Signature does not match."))?;
    match body::media_type(req) {
        Some((essence, charset))
            if essence == FORM && charset.as_deref().is_none_or(|c| c == "utf-8") => {}
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Send the webhook as {FORM} in UTF-8, as Twilio does."
            )));
        }
    }
    let body = body::read(req, payload, MAX_WEBHOOK_BYTES, || {
        format!(
            "A Twilio webhook body is at most {}.",
            body::size(MAX_WEBHOOK_BYTES)
        )
    })
    .await?;
    // The signature covers the decoded parameters, so they are decoded first; a body that
    // does not decode could not have been signed by Twilio either.
    let form = parse_form(&body)
        .map_err(|e| ApiError::BadRequest(format!("The form could not be read: {e}.")))?;
    // The path and query as sent, not `uri()` whole: a request line in absolute form
    // ("POST http://host/...") would otherwise repeat the scheme and host.
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", state.config.public_url.trim_end_matches('/'));
    if !verifier.verify(&url, &form, signature) {
        tracing::warn!(path = %req.uri().path(), "rejected a Twilio webhook with a bad signature");
        return Err(ApiError::Forbidden(
            "The X-Twilio-Signature does not match.",
        ));
    }
    Ok(form)
}

fn twiml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml")
        .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")
}

/// The `delivery_id` of the status callback URL: absent (`None`), or one whole number.
fn delivery_id(query: &str) -> Result<Option<i64>> {
    let params = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|e| ApiError::BadRequest(format!("The query string does not fit: {e}")))?;
    let ids: Vec<&str> = params
        .iter()
        .filter(|(name, _)| name == "delivery_id")
        .map(|(_, value)| value.as_str())
        .collect();
    match ids.as_slice() {
        [] => Ok(None),
        [id] => id.parse().map(Some).map_err(|_| {
            ApiError::BadRequest("The query string's delivery_id is not a whole number.".to_owned())
        }),
        _ => Err(ApiError::BadRequest(
            "The query string names delivery_id more than once.".to_owned(),
        )),
    }
}

/// Twilio's status callback: delivered, or failed after sending. A report without a
/// `delivery_id`, or for a delivery that is not (or no longer) there, is acknowledged and
/// changes nothing: Twilio would only retry it.
#[utoipa::path(
    tag = "webhooks",
    params(("delivery_id" = i64, Query)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML"),
        (status = 400, description = "The form or the query string cannot be read, or a field is missing or repeated", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The X-Twilio-Signature is missing or does not match", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Twilio is not configured", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not a UTF-8 form", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/twilio/status")]
pub async fn twilio_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let form = verified_form(&state, &req, payload).await?;
    let id = delivery_id(req.query_string())?;
    let callback =
        StatusCallback::from_form(&form).map_err(|e| ApiError::BadRequest(format!("{e}.")))?;
    let Some(id) = id else {
        return Ok(twiml());
    };
    match callback.status() {
        ReportedStatus::Delivered => {
            events::delivered(&state.db, id, state.clock.now()).await?;
        }
        ReportedStatus::Failed(error) => {
            events::failed_after_send(&state.db, id, &error.to_string(), state.clock.now()).await?;
        }
        // Twilio has the message: this settles one whose outcome was uncertain.
        ReportedStatus::Pending | ReportedStatus::Sent => {
            events::provider_report(&state.db, id, &events::Report::Accepted, state.clock.now())
                .await?;
        }
    }
    Ok(twiml())
}

/// Twilio's inbound SMS. A STOP-family reply turns SMS off at once for the customers with
/// that phone whom an SMS was sent (queued) to, at every merchant that did; START turns on
/// again exactly what a STOP to the same number (`To`) turned off, and no other opt-out. A
/// MessageSid acted on before changes nothing again.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML"),
        (status = 400, description = "The form cannot be read, or a field is missing or repeated", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The X-Twilio-Signature is missing or does not match", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Twilio is not configured", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not a UTF-8 form", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/twilio/inbound")]
pub async fn twilio_inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let form = verified_form(&state, &req, payload).await?;
    let inbound =
        InboundSms::from_form(&form).map_err(|e| ApiError::BadRequest(format!("{e}.")))?;
    if inbound.message_sid.len() > 64 || inbound.to.len() > 64 {
        return Err(ApiError::BadRequest(
            "MessageSid and To are at most 64 characters.".to_owned(),
        ));
    }
    let stop = match inbound.keyword() {
        Some(SmsKeyword::OptOut) => true,
        Some(SmsKeyword::OptIn) => false,
        _ => return Ok(twiml()),
    };
    let outcome = consent::sms_keyword(
        &state.db,
        &inbound.message_sid,
        inbound.from.as_str(),
        inbound.to.trim(),
        stop,
        state.clock.now(),
    )
    .await?;
    // Counts only: never the customer's number.
    match outcome {
        consent::Keyword::Replayed => tracing::info!(stop, "SMS keyword replayed; nothing changed"),
        consent::Keyword::Applied(customers) => {
            tracing::info!(stop, customers, "SMS keyword received");
        }
    }
    Ok(twiml())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::delivery_id;

    #[test]
    fn the_delivery_id_is_one_whole_number_or_absent() {
        assert_eq!(delivery_id("").unwrap(), None);
        assert_eq!(delivery_id("other=1").unwrap(), None);
        assert_eq!(delivery_id("delivery_id=42").unwrap(), Some(42));
        assert_eq!(delivery_id("x=y&delivery_id=-3").unwrap(), Some(-3));
        for bad in [
            "delivery_id=",
            "delivery_id=abc",
            "delivery_id=1.5",
            "delivery_id=99999999999999999999",
            "delivery_id=%FF",
            "delivery_id=1&delivery_id=2",
            "delivery_id=1&delivery_id=1",
        ] {
            assert!(delivery_id(bad).is_err(), "{bad}");
        }
    }
}
