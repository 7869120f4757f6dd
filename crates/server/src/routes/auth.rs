use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use loyalcast_domain::{Fields, validation};
use loyalcast_dto::{
    ChangePassword, LoginRequest, Me, Merchant, Problem, Session, SignUpRequest, UpdateMerchant,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::throttle::{Admission, Reservation};
use crate::auth::{Auth, password, sessions};
use crate::entity::{api_key, merchant, revoked_token, team_member};
use crate::error::{ApiError, Result};
use crate::merchants::{self, NewMerchant};
use crate::state::AppState;

/// Sign in with email and password.
///
/// Returns a short-lived session token. Attempts are counted per account and per client
/// address (behind the configured proxies, the address they forwarded) in the database,
/// shared by every server process; an attempt is counted before the password is checked, a
/// success forgives the account's. Past the limit: 429 with `Retry-After`. When the server
/// is busy checking other passwords: 503 with `Retry-After`.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts on this account or from this address (`Retry-After` says when to try again)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords are being checked at once (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: crate::json::Json<LoginRequest>,
) -> Result<web::Json<Session>> {
    let LoginRequest { email, password } = body.into_inner();
    // Lower-cased as stored, but not trimmed: the document declares the `email` format,
    // which allows no surrounding spaces, and an address with them names no account.
    let email = email.to_lowercase();
    let address = state.proxies.client(&req).map(|ip| ip.to_string());
    let reservation = reserve(&state, &email, address.as_deref()).await?;
    let member = team_member::Entity::find()
        .filter(team_member::Column::Email.eq(email))
        .one(&state.db)
        .await?;
    let stored = member.as_ref().map(|m| m.password_hash.clone());
    let valid = verify(&state, &reservation, stored, password).await?;
    let Some(member) = member.filter(|_| valid) else {
        failed_sign_in(address.as_deref());
        return Err(ApiError::Unauthorized("Wrong email or password."));
    };
    state.throttle.succeeded(&state.db, &reservation).await?;
    let merchant = merchants::find(&state.db, member.merchant_id).await?;
    Ok(web::Json(session(&state, &member, &merchant)?))
}

/// Logs a failed sign-in. Only the address: the email someone typed may be a password typed
/// into the wrong field, or someone else's address, and stays out of the log.
pub fn failed_sign_in(address: Option<&str>) {
    tracing::info!(address = address.unwrap_or("unknown"), "failed sign-in");
}

/// Reserves an attempt on the account (and the address), or the 429 to answer.
async fn reserve(state: &AppState, account: &str, address: Option<&str>) -> Result<Reservation> {
    match state
        .throttle
        .reserve(&state.db, account, address, state.clock.now())
        .await?
    {
        Admission::Admitted(reservation) => Ok(reservation),
        Admission::Wait(wait) => Err(ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1),
            detail: "Too many sign-in attempts. Try again later.".to_owned(),
        }),
    }
}

/// Verifies a password under a reservation; an attempt that could not be verified (the
/// server too busy) does not count.
async fn verify(
    state: &AppState,
    reservation: &Reservation,
    stored: Option<String>,
    password: String,
) -> Result<bool> {
    match state
        .passwords
        .verify(stored, SecretString::from(password))
        .await
    {
        Ok(valid) => Ok(valid),
        Err(err) => {
            state.throttle.release(&state.db, reservation).await?;
            Err(err)
        }
    }
}

pub(super) fn session(
    state: &AppState,
    member: &team_member::Model,
    merchant: &merchant::Model,
) -> Result<Session> {
    let now = state.clock.now();
    let (token, claims) = state.jwt.issue(
        member.id,
        member.merchant_id,
        member.session_generation,
        now,
    )?;
    Ok(Session {
        token,
        expires_at: chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        member: merchants::member_dto(member),
        merchant: merchants::to_dto(merchant),
    })
}

/// Change the signed-in member's password.
///
/// Needs the current password (a wrong one is a 422 on `current_password` and changes
/// nothing; the attempts count against the account as sign-ins do). Every other session of
/// the member ends; the answer is a new session token for this one. API keys are refused.
#[utoipa::path(
    tag = "auth",
    request_body = ChangePassword,
    responses(
        (status = 200, description = "Password changed; the member's other sessions have ended", body = Session),
        (status = 400, description = "The body could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An API key cannot change a password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The current password is wrong, or the new one too weak", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts on this account (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords are being checked at once (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<ChangePassword>,
) -> Result<web::Json<Session>> {
    let member_id = auth.member()?;
    let ChangePassword {
        current_password,
        new_password,
    } = body.into_inner();
    if let Err(message) = password::check_strength(&new_password) {
        return Err(ApiError::field("new_password", "too_weak", message));
    }
    let member = member(&state, member_id).await?;
    // A stolen session must not be a way round the sign-in throttle to guess the password.
    let reservation = reserve(&state, &member.email, None).await?;
    let stored = Some(member.password_hash.clone());
    if !verify(&state, &reservation, stored, current_password).await? {
        return Err(ApiError::field(
            "current_password",
            "wrong_password",
            "is not the password this member signs in with",
        ));
    }
    state.throttle.succeeded(&state.db, &reservation).await?;
    let hash = state
        .passwords
        .hash(SecretString::from(new_password))
        .await?;
    sessions::set_password(&state.db, member.id, hash).await?;
    let member = self::member(&state, member_id).await?;
    let merchant = merchants::find(&state.db, member.merchant_id).await?;
    Ok(web::Json(session(&state, &member, &merchant)?))
}

/// Sign out everywhere: every session of the signed-in member ends, this one too.
///
/// API keys are refused (revoke a key instead).
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 204, description = "Every session of the member has ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An API key cannot sign members out", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/sign-out-everywhere")]
pub async fn sign_out_everywhere(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse> {
    let member_id = auth.member()?;
    sessions::end_all(&state.db, member_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn member(state: &AppState, id: Uuid) -> Result<team_member::Model> {
    team_member::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::Unauthorized(
            "The session token is invalid or has expired.",
        ))
}

/// Sign out: the session token stops working at once.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse> {
    if let Some((jti, expires_at)) = auth.session {
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(jti),
            expires_at: Set(expires_at),
        })
        .on_conflict_do_nothing_on([revoked_token::Column::Jti])
        .exec_without_returning(&state.db)
        .await?;
        // Keep the list short: tokens past their expiry are refused anyway.
        revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lt(state.clock.now()))
            .exec(&state.db)
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Sign up a new merchant and its owner.
///
/// The operator can switch this off (`LOYALCAST_SIGNUP_ENABLED=false`); then it answers 403.
#[utoipa::path(
    tag = "auth",
    request_body = SignUpRequest,
    responses(
        (status = 409, description = "The email already signs in as a team member", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "Merchant created and signed in", body = Session),
        (status = 403, description = "Sign-up is switched off", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords are being hashed at once (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/signup")]
pub async fn sign_up(
    state: web::Data<AppState>,
    body: crate::json::Json<SignUpRequest>,
) -> Result<HttpResponse> {
    if !state.config.signup_enabled {
        return Err(ApiError::Forbidden(
            "Sign-up is switched off on this server.",
        ));
    }
    let body = body.into_inner();
    let (merchant, owner) = merchants::create(
        &state.db,
        &state.passwords,
        NewMerchant {
            name: body.merchant_name,
            time_zone: body.time_zone,
            default_country: body.default_country,
            owner_name: body.owner_name,
            owner_email: body.email,
            owner_password: SecretString::from(body.password),
            trial: crate::merchants::Trial::of(&state.config),
        },
        state.clock.now(),
    )
    .await?;
    let member = team_member::Entity::find_by_id(owner.id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let merchant = merchants::find(&state.db, merchant.id).await?;
    Ok(HttpResponse::Created().json(session(&state, &member, &merchant)?))
}

/// Who the credentials stand for.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Me>> {
    let merchant = merchants::find(&state.db, auth.merchant_id).await?;
    let member = match auth.member_id {
        Some(id) => team_member::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|m| merchants::member_dto(&m)),
        None => None,
    };
    let api_key = match auth.api_key_id {
        Some(id) => api_key::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|k| k.name),
        None => None,
    };
    Ok(web::Json(Me {
        merchant: merchants::to_dto(&merchant),
        member,
        api_key,
        role: auth.member_id.map(|_| auth.role),
        scopes: auth.scopes.map(|s| s.into_iter().collect()),
    }))
}

/// Change the merchant's name, time zone or default country (owner only).
#[utoipa::path(
    tag = "auth",
    request_body = UpdateMerchant,
    responses(
        (status = 200, body = Merchant),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/merchant")]
pub async fn update_merchant(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<UpdateMerchant>,
) -> Result<web::Json<Merchant>> {
    let body = body.into_inner();
    let mut fields = Fields::new();
    let name = body
        .name
        .as_deref()
        .and_then(|n| fields.text("name", n, 120));
    let time_zone = body
        .time_zone
        .as_deref()
        .and_then(|t| fields.check("time_zone", validation::time_zone(t)));
    let country = body
        .default_country
        .as_deref()
        .and_then(|c| fields.check("default_country", validation::country(c)));
    fields.finish()?;
    let mut active: merchant::ActiveModel =
        merchants::find(&state.db, auth.merchant_id).await?.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(tz) = time_zone {
        active.time_zone = Set(tz.name().to_owned());
    }
    if let Some(country) = country {
        active.default_country = Set(format!("{country:?}"));
    }
    let updated = active.update(&state.db).await?;
    Ok(web::Json(merchants::to_dto(&updated)))
}
