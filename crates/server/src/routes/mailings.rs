use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use loyalcast_domain::Fields;
use loyalcast_dto::{
    Audience, Channel, Mailing, MailingChanges, MailingEstimate, MailingEstimateRequest,
    MailingProblem, MailingStatus, MailingSummary, NewMailing, Page, Problem, ProblemState,
    SendMailing,
};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use super::PageParams;
use crate::auth::Auth;
use crate::engine::content;
use crate::error::{ApiError, Result};
use crate::feed::{self, Change};
use crate::idempotency::{self, IdempotencyKey};
use crate::mailings;
use crate::state::AppState;

/// The time and the server's public URL, as mailings are accepted and estimated with.
fn env(state: &AppState) -> mailings::Env<'_> {
    mailings::Env {
        now: state.clock.now(),
        public_url: &state.config.public_url,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Words to find in the name.
    pub q: Option<String>,
}

/// The mailings history, newest first.
#[utoipa::path(
    tag = "mailings",
    params(ListParams, PageParams),
    responses((status = 200, body = Page<MailingSummary>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/mailings")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    params: web::Query<ListParams>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<MailingSummary>>> {
    let (page, per_page) = paging.resolve()?;
    let (items, total) = mailings::list(
        &state.db,
        auth.merchant_id,
        params.q.as_deref(),
        page,
        per_page,
    )
    .await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Create a mailing: send now, schedule it, or save a draft.
///
/// The audience is expanded and the credits reserved in the same transaction; a send that
/// does not fit the balance is refused (402) before anything is queued.
#[utoipa::path(
    tag = "mailings",
    request_body = NewMailing,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 201, body = Mailing),
        (status = 402, description = "Not enough SMS or email credits", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, e.g. an unknown template variable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/mailings")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<NewMailing>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    let checked = mailings::check(
        &state.db,
        auth.merchant_id,
        &input.name,
        &input.audience,
        &input.channels,
        &input.content,
        input.send_at,
        state.clock.now(),
    )
    .await?;
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &input,
        StatusCode::CREATED,
        async |txn| {
            mailings::create(
                txn,
                env(&state),
                auth.merchant_id,
                auth.member_id,
                &input,
                &checked,
                None,
            )
            .await
        },
    )
    .await
}

/// A mailing with its progress and per-channel report.
#[utoipa::path(
    tag = "mailings",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Mailing), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/mailings/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Mailing>> {
    Ok(web::Json(
        mailings::get(&state.db, auth.merchant_id, id.into_inner()).await?,
    ))
}

/// Change a draft: its name, audience, channels or content, until it is sent.
///
/// The draft as changed is checked as a new mailing is (422 with the fields at fault);
/// nothing is reserved or queued. A mailing that is no longer a draft is a 409.
#[utoipa::path(
    tag = "mailings",
    params(("id" = Uuid, Path)),
    request_body = MailingChanges,
    responses(
        (status = 200, body = Mailing),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (sent, scheduled or cancelled meanwhile)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, e.g. a channel without its content", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/mailings/{id}")]
pub async fn edit(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: crate::json::Json<MailingChanges>,
) -> Result<web::Json<Mailing>> {
    let changes = body.into_inner();
    let m = mailings::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let draft = mailings::Draft::of(&m).changed(changes);
    let checked = mailings::check(
        &state.db,
        auth.merchant_id,
        &draft.name,
        &draft.audience,
        &draft.channels,
        &draft.content,
        None,
        state.clock.now(),
    )
    .await?;
    let txn = state.db.begin().await?;
    mailings::edit_draft(&txn, &m, &draft, &checked, state.clock.now()).await?;
    feed::record(
        &txn,
        &Change::mailing(
            auth.merchant_id,
            m.id,
            json!({"change": "edited", "status": MailingStatus::Draft}),
            state.clock.now(),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(
        mailings::get(&state.db, auth.merchant_id, m.id).await?,
    ))
}

/// Send a draft now, or schedule it. An empty body sends it now.
#[utoipa::path(
    tag = "mailings",
    params(("id" = Uuid, Path)),
    request_body(content = Option<SendMailing>, description = "`send_at` to schedule; no body (or `{}`) sends now", content_type = "application/json"),
    responses(
        (status = 200, body = Mailing),
        (status = 402, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the JSON limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/mailings/{id}/send")]
pub async fn send(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<Mailing>> {
    // Read here, not by the `Bytes` extractor: that one is bounded by the CSV import's limit
    // and refuses in plain text. This is JSON, with the JSON limit.
    let limit = state.config.max_json_bytes;
    let body = crate::body::read(&req, payload, limit, || {
        format!(
            "The JSON body is too large (at most {}).",
            crate::body::size(limit)
        )
    })
    .await?;
    // The body is optional, as integrators call it: none sends now.
    let body: SendMailing = if body.iter().all(u8::is_ascii_whitespace) {
        SendMailing::default()
    } else {
        let json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "Send the body as application/json.".to_owned(),
            ));
        }
        crate::json::parse::<SendMailing>(&body)?
    };
    let m = mailings::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    if m.status != MailingStatus::Draft.as_str() {
        return Err(ApiError::Conflict(
            "Only a draft can be sent this way.".to_owned(),
        ));
    }
    let draft = mailings::Draft::of(&m);
    let checked = mailings::check(
        &state.db,
        auth.merchant_id,
        &draft.name,
        &draft.audience,
        &draft.channels,
        &draft.content,
        body.send_at,
        state.clock.now(),
    )
    .await?;
    let txn = state.db.begin().await?;
    // Taken in the transaction: of two sends at once, the second finds no draft (a 409).
    mailings::take_draft(&txn, &m, state.clock.now()).await?;
    mailings::launch(
        &txn,
        env(&state),
        auth.merchant_id,
        m.id,
        &checked,
        body.send_at,
        m.resend_of,
    )
    .await?;
    let sent = mailings::get(&txn, auth.merchant_id, m.id).await?;
    feed::record(
        &txn,
        &Change::mailing(
            auth.merchant_id,
            m.id,
            json!({"change": "sent", "status": sent.status}),
            state.clock.now(),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(sent))
}

macro_rules! lifecycle {
    ($name:ident, $path:literal, $doc:literal, $action:path, $change:literal, $status:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "mailings",
            params(("id" = Uuid, Path)),
            responses(
                (status = 200, body = Mailing),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not possible in the mailing's state", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(state: web::Data<AppState>, auth: Auth, id: web::Path<Uuid>) -> Result<web::Json<Mailing>> {
            let m = mailings::find(&state.db, auth.merchant_id, id.into_inner()).await?;
            let txn = state.db.begin().await?;
            $action(&txn, &m, state.clock.now()).await?;
            feed::record(&txn, &Change::mailing(m.merchant_id, m.id, json!({"change": $change, "status": $status}), state.clock.now())).await?;
            txn.commit().await?;
            Ok(web::Json(mailings::get(&state.db, auth.merchant_id, m.id).await?))
        }
    };
}

lifecycle!(
    pause,
    "/mailings/{id}/pause",
    "Pause a sending mailing; resume continues where it stopped.",
    mailings::pause,
    "paused",
    MailingStatus::Paused
);
lifecycle!(
    resume,
    "/mailings/{id}/resume",
    "Resume a paused mailing.",
    mailings::resume,
    "resumed",
    MailingStatus::Sending
);
lifecycle!(
    cancel,
    "/mailings/{id}/cancel",
    "Cancel a draft, scheduled, sending or paused mailing: what is not sent yet is dropped and its credits released.",
    mailings::cancel,
    "cancelled",
    MailingStatus::Cancelled
);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProblemParams {
    /// Only messages in this state; all three when absent.
    pub state: Option<ProblemState>,
    /// Only messages on this channel.
    pub channel: Option<Channel>,
}

/// The messages of a mailing that failed, are being retried or are uncertain: to whom, on
/// which channel, why, and (while retrying) when the next attempt is. Oldest first, paged.
#[utoipa::path(
    tag = "mailings",
    params(("id" = Uuid, Path), ProblemParams, PageParams),
    responses(
        (status = 200, body = Page<MailingProblem>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/mailings/{id}/problems")]
pub async fn problems(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    params: web::Query<ProblemParams>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<MailingProblem>>> {
    let (page, per_page) = paging.resolve()?;
    let m = mailings::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let (items, total) = mailings::problems(
        &state.db,
        m.id,
        params.state,
        params.channel,
        page,
        per_page,
    )
    .await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Send the same content again to the recipients whose message failed, as a new mailing.
#[utoipa::path(
    tag = "mailings",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 201, body = Mailing),
        (status = 402, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing failed, or still sending", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/mailings/{id}/resend-failed")]
pub async fn resend_failed(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let m = mailings::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let status = MailingStatus::parse(&m.status).unwrap_or(MailingStatus::Failed);
    if !matches!(
        status,
        MailingStatus::Completed | MailingStatus::Cancelled | MailingStatus::Failed
    ) {
        return Err(ApiError::Conflict(
            "Wait until the mailing has finished sending.".to_owned(),
        ));
    }
    if mailings::resendable_count(&state.db, m.id).await? == 0 {
        return Err(ApiError::Conflict(
            "No message of this mailing failed in a way a resend could fix: those that failed, failed for good (an invalid number or address, missing contact details)."
                .to_owned(),
        ));
    }
    let input = NewMailing {
        name: format!("{} (resend to failed)", m.name)
            .chars()
            .take(120)
            .collect(),
        audience: serde_json::from_str(&m.audience).unwrap_or(Audience::All),
        channels: serde_json::from_str(&m.channels).unwrap_or_default(),
        content: serde_json::from_str(&m.content).unwrap_or_default(),
        send_at: None,
        draft: false,
    };
    let mut checked = mailings::check(
        &state.db,
        auth.merchant_id,
        &input.name,
        &Audience::All,
        &input.channels,
        &input.content,
        None,
        state.clock.now(),
    )
    .await?;
    // The original audience may have changed since; the failed recipients are who counts.
    checked.rule = loyalcast_dto::SegmentRule::everyone();
    let source = m.id;
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &(source, "resend-failed"),
        StatusCode::CREATED,
        async |txn| {
            mailings::create(
                txn,
                env(&state),
                auth.merchant_id,
                auth.member_id,
                &input,
                &checked,
                Some(source),
            )
            .await
        },
    )
    .await
}

/// What a mailing would reach and cost: recipients per channel and the credits it reserves.
#[utoipa::path(
    tag = "mailings",
    request_body = MailingEstimateRequest,
    responses((status = 200, body = MailingEstimate), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/mailings/estimate")]
pub async fn estimate(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<MailingEstimateRequest>,
) -> Result<web::Json<MailingEstimate>> {
    let input = body.into_inner();
    let mut fields = Fields::new();
    let prepared = content::prepare(&input.channels, &input.content, &mut fields);
    let rule =
        mailings::audience_rule(&state.db, auth.merchant_id, &input.audience, &mut fields).await?;
    fields.finish()?;
    Ok(web::Json(
        mailings::estimate(
            &state.db,
            env(&state),
            auth.merchant_id,
            &rule,
            &input.channels,
            &prepared,
        )
        .await?,
    ))
}
