//! Links inside messages: the unsubscribe page (with RFC 8058 one-click POST) and the email
//! open pixel. Tokens are signed; an unknown or forged one is a 404.
//!
//! The routes take any rest of the path as the token (`{token:.*}`), so that `/u/`, or a
//! token with a slash, is this 404 too rather than the single-page app's index.

use actix_web::{HttpResponse, get, post, web};

use crate::engine::events;
use crate::engine::links::Purpose;
use crate::error::{ApiError, Result};
use crate::state::AppState;

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title><body style=\"font-family:-apple-system,Segoe UI,Roboto,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933\">\
         <h1 style=\"font-size:1.4rem\">{title}</h1>{body}</body></html>"
    ))
}

/// The unsubscribe page: asks to confirm (a GET changes nothing, so link scanners cannot
/// unsubscribe anyone).
#[utoipa::path(
    tag = "links",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 200, description = "An HTML page with a confirm button", content_type = "text/html"), (status = 404, body = loyalcast_dto::Problem, content_type = "application/problem+json"))
)]
#[get("/u/{token:.*}")]
pub async fn unsubscribe_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse> {
    let id = state
        .verify_link(Purpose::Unsubscribe, &token)
        .await
        .ok_or(ApiError::NotFound)?;
    // A genuine token of a delivery since deleted has nothing to unsubscribe from: the
    // confirm button would only lead to a 404.
    let channel = events::unsubscribe_channel(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(page(
        "Unsubscribe",
        &format!(
            "<p>Stop receiving these messages by {}?</p><form method=\"post\" action=\"/u/{}\">\
             <button type=\"submit\" style=\"font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:0;background:#1f4e8c;color:#fff\">Unsubscribe</button></form>",
            channel.label(),
            // Verified, so only digits, a dash and hex: nothing to escape.
            token.as_str()
        ),
    ))
}

/// Unsubscribe: the confirm button, and the one-click `List-Unsubscribe-Post` of mail apps.
#[utoipa::path(
    tag = "links",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 200, description = "Unsubscribed; an HTML page", content_type = "text/html"), (status = 404, body = loyalcast_dto::Problem, content_type = "application/problem+json"))
)]
#[post("/u/{token:.*}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse> {
    let id = state
        .verify_link(Purpose::Unsubscribe, &token)
        .await
        .ok_or(ApiError::NotFound)?;
    let channel = events::unsubscribe(&state.db, id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(page(
        "You are unsubscribed",
        &format!(
            "<p>You will not get these messages by {} any more.</p>\
             <form method=\"post\" action=\"/r/{}\"><p>Changed your mind?</p>\
             <button type=\"submit\" style=\"font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1f4e8c;background:#fff;color:#1f4e8c\">Subscribe again</button></form>",
            channel.label(),
            // Verified, so only digits, a dash and hex: nothing to escape.
            token.as_str()
        ),
    ))
}

/// Subscribe again: the button on the page after unsubscribing, reached only through the
/// signed link of a message to the customer, so it is the customer's own act. Their opt-out
/// of that channel (however it came) ends, and the channel is on again.
#[utoipa::path(
    tag = "links",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 200, description = "Subscribed again; an HTML page", content_type = "text/html"), (status = 404, body = loyalcast_dto::Problem, content_type = "application/problem+json"))
)]
#[post("/r/{token:.*}")]
pub async fn resubscribe(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse> {
    let id = state
        .links
        .verify(Purpose::Unsubscribe, &token)
        .ok_or(ApiError::NotFound)?;
    let channel = events::resubscribe(&state.db, id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(page(
        "You are subscribed again",
        &format!(
            "<p>You will get these messages by {} again.</p>",
            channel.label()
        ),
    ))
}

/// 1×1 transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The open-tracking pixel of an email: marks the delivery opened.
#[utoipa::path(
    tag = "links",
    params(("token" = String, Path)),
    responses((status = 200, description = "A 1×1 GIF", content_type = "image/gif"))
)]
#[get("/o/{token:.*}")]
pub async fn open_pixel(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    // Always the image, whatever the token and even when the open cannot be recorded: a
    // broken image in a mail app helps nobody, and a failure is logged for us instead.
    if let Some(id) = state.verify_link(Purpose::Open, &token).await
        && let Err(err) = events::opened(&state.db, id, state.clock.now()).await
    {
        tracing::error!(error = %crate::error::loggable(&err), delivery = id, "could not record an email open");
    }
    HttpResponse::Ok()
        .content_type("image/gif")
        .insert_header(("Cache-Control", "no-store"))
        .body(PIXEL)
}
