//! The Apple Wallet web service, as devices speak it, under each pass's `webServiceURL`
//! (`{public_url}/passkit`). Devices authenticate per pass with
//! `Authorization: ApplePass <authenticationToken>`, compared in constant time; a wrong or
//! missing token and an unknown pass are the same 401, so serial numbers cannot be probed.
//!
//! What implementations commonly get wrong, and this one does not: `lastUpdated` is an
//! opaque string; no `passesUpdatedSince` means every pass of the device; devices send HEAD
//! for a pass and may send a numeric `If-Modified-Since`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, head, post, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::entity::{card, customer, merchant, pass, pass_registration};
use crate::error::{ApiError, Result, is_unique_violation};
use crate::state::AppState;
use crate::wallet::apple::{PassContent, pass_type_id as pass_type_id_of};

const UNAUTHORIZED: ApiError = ApiError::Unauthorized(
    "Send the pass's authentication token as `Authorization: ApplePass <token>`.",
);

/// The device's push token for a pass. Unknown fields are ignored, as Apple may add some.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"pushToken": "6bd3c2f1a0e94b7d8c5f2e1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"}))]
pub struct Registration {
    /// The token APNs wakes the device with for this pass: 1 to 256 visible characters.
    #[serde(rename = "pushToken")]
    #[schema(min_length = 1, max_length = 256)]
    pub push_token: String,
}

/// The serial numbers of a device's passes updated since a tag.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SerialNumbers {
    /// The passes to fetch again.
    #[serde(rename = "serialNumbers")]
    pub serial_numbers: Vec<String>,
    /// An opaque tag: send it back as `passesUpdatedSince` next time. A string, always.
    #[serde(rename = "lastUpdated")]
    pub last_updated: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdatedSince {
    /// The `lastUpdated` tag of an earlier answer; every pass of the device without it.
    #[serde(rename = "passesUpdatedSince")]
    #[param(rename = "passesUpdatedSince", max_length = 64)]
    pub passes_updated_since: Option<String>,
}

/// Log messages from a device about this web service.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"logs": ["Web service error for pass.dev.loyalcast.card (https://example.com/passkit): Response to 'What changed?' request included 1 serial numbers but the lastUpdated tag (1) remained the same."]}))]
pub struct DeviceLogs {
    /// The messages, at most 100 read.
    pub logs: Vec<String>,
}

/// The pass of `(pass_type_id, serial)` whose authentication token the request carries:
/// 401 for a wrong or missing token or an unknown pass alike.
async fn authenticated_pass(
    state: &AppState,
    req: &HttpRequest,
    pass_type_id: &str,
    serial: &str,
) -> Result<(pass::Model, card::Model)> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("ApplePass "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(UNAUTHORIZED)?;
    if serial.len() > 128 || pass_type_id.len() > 255 {
        return Err(UNAUTHORIZED);
    }
    let default_type = &state.config.apple_wallet.pass_type_id;
    // Serial numbers are unique per merchant: the token tells the merchants' passes apart.
    let candidates = pass::Entity::find()
        .filter(pass::Column::SerialNumber.eq(serial))
        .filter(pass::Column::Platform.eq("apple"))
        .all(&state.db)
        .await?;
    for candidate in candidates {
        let same: bool = presented
            .as_bytes()
            .ct_eq(candidate.authentication_token.as_bytes())
            .into();
        if !same {
            continue;
        }
        let Some(card) = card::Entity::find_by_id(candidate.card_id)
            .one(&state.db)
            .await?
        else {
            continue;
        };
        if pass_type_id_of(&card, default_type) == pass_type_id {
            return Ok((candidate, card));
        }
    }
    Err(UNAUTHORIZED)
}

/// Register a device for a pass, with the push token that wakes it when the pass changes.
#[utoipa::path(
    tag = "passkit",
    params(
        ("device" = String, Path, description = "The device library identifier", max_length = 128),
        ("pass_type_id" = String, Path, description = "The pass type identifier"),
        ("serial" = String, Path, description = "The pass's serial number"),
        ("Authorization" = String, Header, description = "`ApplePass <authenticationToken>`"),
    ),
    request_body = Registration,
    responses(
        (status = 201, description = "Registered"),
        (status = 200, description = "Already registered; the push token is updated"),
        (status = 401, description = "Wrong or missing token, or no such pass", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The push token is empty or too long", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/passkit/v1/devices/{device}/registrations/{pass_type_id}/{serial}")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: crate::json::Json<Registration>,
) -> Result<HttpResponse> {
    let (device, pass_type_id, serial) = path.into_inner();
    let (pass, _) = authenticated_pass(&state, &req, &pass_type_id, &serial).await?;
    let push_token = body.into_inner().push_token;
    if push_token.is_empty()
        || push_token.len() > 256
        || !push_token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::field(
            "pushToken",
            "invalid",
            "1 to 256 visible characters",
        ));
    }
    if device.is_empty() || device.len() > 128 {
        return Err(ApiError::field("device", "invalid", "1 to 128 characters"));
    }
    let now = state.clock.now();
    let known = pass_registration::Entity::find_by_id((pass.id, device.clone()))
        .one(&state.db)
        .await?;
    if let Some(known) = known {
        if known.push_token != push_token {
            let mut active: pass_registration::ActiveModel = known.into();
            active.push_token = Set(push_token);
            active.updated_at = Set(now);
            active.update(&state.db).await?;
        }
        return Ok(HttpResponse::Ok().finish());
    }
    let inserted = pass_registration::ActiveModel {
        pass_id: Set(pass.id),
        device_library_id: Set(device),
        id: Set(Some(Uuid::now_v7())),
        push_token: Set(push_token),
        pushed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await;
    match inserted {
        Ok(_) => Ok(HttpResponse::Created().finish()),
        // The same device registering twice at once: the other request registered it.
        Err(e) if is_unique_violation(&e) => Ok(HttpResponse::Ok().finish()),
        Err(e) => Err(e.into()),
    }
}

/// Unregister a device from a pass: it gets no more pushes for it.
#[utoipa::path(
    tag = "passkit",
    params(
        ("device" = String, Path, description = "The device library identifier"),
        ("pass_type_id" = String, Path, description = "The pass type identifier"),
        ("serial" = String, Path, description = "The pass's serial number"),
        ("Authorization" = String, Header, description = "`ApplePass <authenticationToken>`"),
    ),
    responses(
        (status = 200, description = "Unregistered (also when it was not registered)"),
        (status = 401, description = "Wrong or missing token, or no such pass", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/passkit/v1/devices/{device}/registrations/{pass_type_id}/{serial}")]
pub async fn unregister(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (device, pass_type_id, serial) = path.into_inner();
    let (pass, _) = authenticated_pass(&state, &req, &pass_type_id, &serial).await?;
    pass_registration::Entity::delete_by_id((pass.id, device))
        .exec(&state.db)
        .await?;
    Ok(HttpResponse::Ok().finish())
}

/// The serial numbers of the device's passes of this type updated since a tag (all of them
/// without one). Devices send no token here: the answer names only serial numbers, which are
/// useless without each pass's token.
#[utoipa::path(
    tag = "passkit",
    params(
        ("device" = String, Path, description = "The device library identifier"),
        ("pass_type_id" = String, Path, description = "The pass type identifier"),
        UpdatedSince,
    ),
    responses(
        (status = 200, body = SerialNumbers),
        (status = 204, description = "Nothing updated since the tag (or no pass registered)"),
        (status = 400, description = "`passesUpdatedSince` is longer than 64 characters", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/passkit/v1/devices/{device}/registrations/{pass_type_id}")]
pub async fn updated(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<UpdatedSince>,
) -> Result<HttpResponse> {
    let (device, pass_type_id) = path.into_inner();
    if query
        .passes_updated_since
        .as_ref()
        .is_some_and(|t| t.len() > 64)
    {
        return Err(ApiError::BadRequest(
            "passesUpdatedSince is at most 64 characters: send back the lastUpdated given."
                .to_owned(),
        ));
    }
    // A tag this service did not give (or none) asks for everything.
    let since = query
        .passes_updated_since
        .as_deref()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(i64::MIN);
    let registered: Vec<Uuid> = pass_registration::Entity::find()
        .filter(pass_registration::Column::DeviceLibraryId.eq(device))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| r.pass_id)
        .collect();
    if registered.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    let default_type = &state.config.apple_wallet.pass_type_id;
    let mut serials = Vec::new();
    let mut last = since;
    for chunk in registered.chunks(500) {
        let passes = pass::Entity::find()
            .filter(pass::Column::Id.is_in(chunk.iter().copied()))
            .filter(pass::Column::UpdateTag.gt(since))
            .all(&state.db)
            .await?;
        let cards: Vec<Uuid> = passes.iter().map(|p| p.card_id).collect();
        let cards = card::Entity::find()
            .filter(card::Column::Id.is_in(cards))
            .all(&state.db)
            .await?;
        for p in passes {
            let of_type = cards
                .iter()
                .find(|c| c.id == p.card_id)
                .is_some_and(|c| pass_type_id_of(c, default_type) == pass_type_id);
            if of_type {
                last = last.max(p.update_tag);
                serials.push(p.serial_number);
            }
        }
    }
    if serials.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    serials.sort();
    Ok(HttpResponse::Ok().json(SerialNumbers {
        serial_numbers: serials,
        last_updated: last.to_string(),
    }))
}

/// The time `If-Modified-Since` names: an HTTP date, or (as some devices send) seconds since
/// the epoch.
fn if_modified_since(req: &HttpRequest) -> Option<i64> {
    let value = req
        .headers()
        .get(header::IF_MODIFIED_SINCE)?
        .to_str()
        .ok()?;
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds);
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.timestamp())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value, "%a, %d %b %Y %H:%M:%S GMT")
                .ok()
                .map(|t| t.and_utc().timestamp())
        })
}

/// A pass signed as it is now (from the cache when its tag has not moved).
pub async fn signed(
    state: &AppState,
    pass: &pass::Model,
    card: &card::Model,
) -> Result<std::sync::Arc<Vec<u8>>> {
    let customer = customer::Entity::find_by_id(pass.customer_id)
        .one(&state.db)
        .await?
        .ok_or(UNAUTHORIZED)?;
    let merchant = merchant::Entity::find_by_id(pass.merchant_id)
        .one(&state.db)
        .await?
        .ok_or(UNAUTHORIZED)?;
    let signer = state.pass_signer().await.map_err(ApiError::Internal)?;
    signer
        .package(&PassContent {
            pass,
            card,
            customer: &customer,
            merchant: &merchant,
        })
        .await
        .map_err(ApiError::Internal)
}

async fn latest(
    state: &AppState,
    req: &HttpRequest,
    pass_type_id: &str,
    serial: &str,
) -> Result<HttpResponse> {
    let (pass, card) = authenticated_pass(state, req, pass_type_id, serial).await?;
    // Update tags are a second apart at least (see `wallet::apple::next_tag`), so the second
    // of the tag tells every change apart.
    let modified = pass.update_tag.div_euclid(1_000_000);
    let last_modified = DateTime::<Utc>::from_timestamp(modified, 0)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default();
    if if_modified_since(req).is_some_and(|since| modified <= since) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::LAST_MODIFIED, last_modified))
            .finish());
    }
    if req.method() == actix_web::http::Method::GET {
        // The device has the pass as of this tag: the pushes it was woken for are delivered.
        crate::pushes::fetched(&state.db, &pass, state.clock.now()).await?;
    }
    let bytes = signed(state, &pass, &card).await?;
    let mut response = HttpResponse::Ok()
        .content_type("application/vnd.apple.pkpass")
        .insert_header((header::LAST_MODIFIED, last_modified))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(bytes.as_ref().clone());
    // Already compressed (a zip): the compression middleware leaves it as it is.
    response.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    Ok(response)
}

/// The latest version of a pass, signed: `application/vnd.apple.pkpass`, with
/// `Last-Modified`; 304 when not modified since `If-Modified-Since`.
#[utoipa::path(
    tag = "passkit",
    params(
        ("pass_type_id" = String, Path, description = "The pass type identifier"),
        ("serial" = String, Path, description = "The pass's serial number"),
        ("Authorization" = String, Header, description = "`ApplePass <authenticationToken>`"),
        ("If-Modified-Since" = Option<String>, Header, description = "An HTTP date or seconds since the epoch"),
    ),
    responses(
        (status = 200, description = "The signed pass (a zip)", content_type = "application/vnd.apple.pkpass"),
        (status = 304, description = "Not modified since the time given"),
        (status = 401, description = "Wrong or missing token, or no such pass", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/passkit/v1/passes/{pass_type_id}/{serial}")]
pub async fn pass_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pass_type_id, serial) = path.into_inner();
    latest(&state, &req, &pass_type_id, &serial).await
}

/// The headers of the latest version of a pass (devices ask before fetching).
#[utoipa::path(
    tag = "passkit",
    params(
        ("pass_type_id" = String, Path, description = "The pass type identifier"),
        ("serial" = String, Path, description = "The pass's serial number"),
        ("Authorization" = String, Header, description = "`ApplePass <authenticationToken>`"),
        ("If-Modified-Since" = Option<String>, Header, description = "An HTTP date or seconds since the epoch"),
    ),
    responses(
        (status = 200, description = "The pass's headers, no body"),
        (status = 304, description = "Not modified since the time given"),
        (status = 401, description = "Wrong or missing token, or no such pass", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[head("/passkit/v1/passes/{pass_type_id}/{serial}")]
pub async fn pass_head(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pass_type_id, serial) = path.into_inner();
    latest(&state, &req, &pass_type_id, &serial).await
}

/// Devices' log messages about this web service, logged as warnings (at most 100, each cut
/// to 500 characters).
#[utoipa::path(
    tag = "passkit",
    request_body = DeviceLogs,
    responses((status = 200, description = "Logged"))
)]
#[post("/passkit/v1/log")]
pub async fn log(body: crate::json::Json<DeviceLogs>) -> HttpResponse {
    for line in body.into_inner().logs.iter().take(100) {
        let line: String = line.chars().take(500).collect();
        tracing::warn!(target: "passkit", message = %line, "a device reports");
    }
    HttpResponse::Ok().finish()
}
