use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use loyalcast_domain::{Fields, validation};
use loyalcast_dto::{
    LoginRequest, Me, Merchant, Problem, Role, Session, SignUpRequest, UpdateMerchant,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use secrecy::SecretString;

use crate::auth::{Auth, password};
use crate::entity::{api_key, merchant, revoked_token, team_member};
use crate::error::{ApiError, Result};
use crate::merchants::{self, NewMerchant};
use crate::state::AppState;

/// Sign in with email and password.
///
/// Returns a short-lived session token. Failed attempts are throttled per account and per
/// client address (429 with `Retry-After`).
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json"),
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
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if let Err(wait) = state.throttle.check(&email, &address, Instant::now()) {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1),
            detail: "Too many failed sign-in attempts. Try again later.".to_owned(),
        });
    }
    let member = team_member::Entity::find()
        .filter(team_member::Column::Email.eq(email.clone()))
        .one(&state.db)
        .await?;
    let stored = member.as_ref().map(|m| m.password_hash.clone());
    let valid = password::verify(stored, SecretString::from(password)).await?;
    let Some(member) = member.filter(|_| valid) else {
        state
            .throttle
            .record_failure(&email, &address, Instant::now());
        tracing::info!(account = %email, %address, "failed sign-in");
        return Err(ApiError::Unauthorized("Wrong email or password."));
    };
    state.throttle.record_success(&email);
    let merchant = merchants::find(&state.db, member.merchant_id).await?;
    Ok(web::Json(session(&state, &member, &merchant)?))
}

fn session(
    state: &AppState,
    member: &team_member::Model,
    merchant: &merchant::Model,
) -> Result<Session> {
    let now = state.clock.now();
    let (token, claims) = state.jwt.issue(member.id, member.merchant_id, now)?;
    Ok(Session {
        token,
        expires_at: chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        member: merchants::member_dto(member),
        merchant: merchants::to_dto(merchant),
    })
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
        role: auth.role,
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
    auth.require(Role::Owner)?;
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
