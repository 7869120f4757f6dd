//! The change feed over HTTP: a ticket, then a server-sent-events stream of what changed.

use actix_web::http::header::{self, ContentEncoding, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use futures::StreamExt;
use loyalcast_dto::{Problem, StreamTicket};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::feed::stream::{Frame, Start, frames};
use crate::feed::tickets::{self, Grant};
use crate::state::AppState;

/// A ticket that opens one change stream within 60 seconds.
///
/// Browsers' `EventSource` cannot send an `Authorization` header, and credentials in a URL
/// end up in logs: trade them for a ticket here, and open
/// `GET /api/v1/changes/stream?ticket=...` with it. A ticket works once; the stream it opens
/// belongs to the same member or API key and merchant, and ends when those credentials stop
/// working (sign-out, removal, revocation, expiry).
#[utoipa::path(
    tag = "changes",
    responses(
        (status = 201, description = "The ticket", body = StreamTicket),
    ),
    security(("bearer" = []))
)]
#[post("/changes/tickets")]
pub async fn create_ticket(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse> {
    let grant = Grant {
        merchant_id: auth.merchant_id,
        member_id: auth.member_id,
        session: auth.session.clone(),
        session_generation: auth.session_generation,
        api_key_id: auth.api_key_id,
    };
    let (ticket, expires_at) = tickets::issue(&state.db, &grant, state.clock.now()).await?;
    Ok(HttpResponse::Created()
        // A ticket must never be replayed from a cache.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(StreamTicket { ticket, expires_at }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// A ticket from `POST /api/v1/changes/tickets`; it works once, within 60 seconds.
    #[param(required = true, pattern = r"^st_[A-Za-z0-9_-]{43}$")]
    #[serde(default)]
    pub ticket: Option<String>,
    /// Resume after this entry, as the `Last-Event-ID` header does (for clients that cannot
    /// set it); the header wins when both are sent.
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
}

/// The stream's header, for the document (the handler reads it itself, to answer a 400 problem
/// for a malformed one).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct StreamHeaders {
    /// Resume after this entry: the id of the last event seen. Browsers' `EventSource` sends
    /// it by itself when it reconnects.
    #[param(rename = "Last-Event-ID", minimum = 0, nullable = false)]
    last_event_id: Option<i64>,
}

/// What changed, as it happens: a server-sent-events stream of the merchant's change feed.
///
/// Each event has `id:` (the entry's position in the feed), `event:` (its topic: `mailing`,
/// `balances`, `conversation`, `push`) and `data:` (a `ChangeEvent` as JSON). A comment is
/// sent every 15 seconds when nothing happens. Resume after a disconnection with the last id
/// seen as `Last-Event-ID` (or `last_event_id`): the entries after it are sent first, from
/// the feed, which keeps 24 hours. An entry that commits later than one with a larger id
/// comes without an `id:` line, so that the id to resume from stays the largest one seen.
/// A stream opened without a last id starts where this server's feed reader is, so an entry
/// committed a moment before it opened may still be sent: read the current state after the
/// stream is open and every later change arrives at least once.
///
/// Authenticate with a `ticket` (see `POST /api/v1/changes/tickets`), not with headers.
#[utoipa::path(
    tag = "changes",
    params(StreamParams, StreamHeaders),
    responses(
        (status = 200, description = "The stream; each event's `data` is a `ChangeEvent`", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "`Last-Event-ID` or a query parameter is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No ticket, or one that is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The change feed is not available (the database does not answer)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/changes/stream")]
pub async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<StreamParams>,
) -> Result<HttpResponse> {
    // The ticket was taken out of the URL before it was logged (see
    // `startup::hide_stream_tickets`); one left in the query means there was none.
    let ticket = req
        .extensions()
        .get::<crate::startup::StreamTicket>()
        .map(|t| t.0.clone());
    let last = last_event_id(&req, params.last_event_id)?;
    const REFUSED: ApiError = ApiError::Unauthorized(
        "Open the stream with a ticket from POST /api/v1/changes/tickets (each works once, within 60 seconds).",
    );
    let ticket = ticket.ok_or(REFUSED)?;
    let grant = tickets::redeem(&state.db, &ticket, state.clock.now())
        .await?
        .ok_or(REFUSED)?;
    let start = match last {
        None => Start::Now,
        // An id the feed never reached (another database's, a typo) would mute the stream
        // until the feed caught up with it: start from now instead.
        Some(last) if last > crate::feed::last_id(&state.db).await? => Start::Now,
        Some(last) => Start::After(last),
    };
    let subscription = state
        .feed
        .subscribe(grant.merchant_id)
        .await
        .ok_or_else(|| {
            ApiError::Unavailable("The change feed is not available right now.".to_owned())
        })?;
    let frames = frames(
        state.db.clone(),
        state.clock.clone(),
        grant,
        subscription,
        start,
    );
    let body = frames.map(|frame| Ok::<_, std::convert::Infallible>(web::Bytes::from(sse(&frame))));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression buffers: an event could sit in the encoder until more arrive.
        .insert_header(ContentEncoding::Identity)
        // Nginx and the like would buffer the stream too.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// The `Last-Event-ID` header, or the query parameter; a value that is not a whole number
/// from 0 is a 400.
fn last_event_id(req: &HttpRequest, query: Option<i64>) -> Result<Option<i64>> {
    let header = req.headers().get("last-event-id").map(HeaderValue::to_str);
    let value = match header {
        None => return query.map(check_id).transpose(),
        Some(Ok(text)) if text.trim().is_empty() => return query.map(check_id).transpose(),
        Some(Ok(text)) => text.trim().parse::<i64>().map_err(|_| ()),
        Some(Err(_)) => Err(()),
    };
    value
        .map_err(|_| ApiError::BadRequest("Last-Event-ID must be a whole number.".to_owned()))
        .and_then(check_id)
        .map(Some)
}

fn check_id(id: i64) -> Result<i64> {
    if id < 0 {
        return Err(ApiError::BadRequest(
            "Last-Event-ID must be a whole number from 0.".to_owned(),
        ));
    }
    Ok(id)
}

/// One server-sent event of the stream, as a client's event source reads it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamEvent {
    /// The change's id (send it back as `Last-Event-ID`); absent on an event that is not a
    /// change of the feed.
    pub id: Option<String>,
    /// The topic of the change: `mailing`, `balances`, `conversation` or `push`.
    pub event: Option<String>,
    /// The change, a `ChangeEvent` as JSON.
    pub data: String,
}

/// A frame in the `text/event-stream` format.
fn sse(frame: &Frame) -> String {
    match frame {
        // A first line gets proxies to pass the response on at once.
        Frame::Open => ": connected\n\n".to_owned(),
        Frame::KeepAlive => ": keep-alive\n\n".to_owned(),
        Frame::Event { id, event } => {
            let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
            match id {
                Some(id) => format!(
                    "id: {id}\nevent: {}\ndata: {data}\n\n",
                    event.topic.as_str()
                ),
                None => format!("event: {}\ndata: {data}\n\n", event.topic.as_str()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalcast_dto::{ChangeEvent, ChangeTopic};

    #[test]
    fn frames_are_written_as_server_sent_events() {
        let event = ChangeEvent {
            id: 7,
            topic: ChangeTopic::Mailing,
            subject: None,
            body: serde_json::json!({"text": "two\nlines"}),
            at: chrono::DateTime::UNIX_EPOCH,
        };
        let text = sse(&Frame::Event {
            id: Some(7),
            event: event.clone(),
        });
        assert!(text.starts_with("id: 7\nevent: mailing\ndata: {"));
        assert!(text.ends_with("}\n\n"));
        // A newline inside a value stays escaped: the data is one line.
        assert_eq!(text.lines().filter(|l| !l.is_empty()).count(), 3);
        let late = sse(&Frame::Event { id: None, event });
        assert!(late.starts_with("event: mailing\n"));
        assert!(sse(&Frame::KeepAlive).starts_with(':'));
    }
}
