//! Who is calling: a team member with a session token, or an integrator with an API key.
//! The tenant comes only from these credentials.

pub mod access;
pub mod api_keys;
pub mod client_address;
pub mod jwt;
pub mod password;
pub mod sessions;
pub mod throttle;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Utc};
use loyalcast_dto::Role;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::{revoked_token, team_member};
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller, extracted from `Authorization: Bearer ...` (a session token
/// or an API key) or `X-Api-Key`.
#[derive(Debug, Clone)]
pub struct Auth {
    pub merchant_id: Uuid,
    pub role: Role,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    /// What an API key may do; `None` for a team member, who acts with `role`. (A key's
    /// `role` is `agent`, the least, and is not what decides: see [`access`].)
    pub scopes: Option<std::collections::BTreeSet<loyalcast_dto::Scope>>,
    /// The session token's id and expiry, for sign-out.
    pub session: Option<(String, DateTime<Utc>)>,
    /// The member's session generation the token carries (see [`sessions`]).
    pub session_generation: Option<i32>,
}

/// The team member behind a session, as read for this request.
impl Auth {
    /// The member, for what only a signed-in person may do (change their password, sign
    /// out everywhere); API keys are refused.
    pub fn member(&self) -> Result<Uuid, ApiError> {
        self.member_id.ok_or(ApiError::Forbidden(
            "API keys cannot do this; sign in as a team member.",
        ))
    }
}

impl Auth {
    /// Who the caller is, for the records that keep it (the consent history).
    pub fn actor(&self) -> crate::engine::consent::Actor {
        crate::engine::consent::Actor {
            member_id: self.member_id,
            api_key_id: self.api_key_id,
        }
    }

    /// Refuses the caller unless they may record a customer's consent (see
    /// [`access::RECORD_CONSENT`]).
    pub fn require_consent_right(&self) -> Result<(), ApiError> {
        self.allow(access::RECORD_CONSENT)
    }
}

/// Whether the request's `Authorization: Bearer` token is `expected` (the operator's or the
/// metrics token). Compared as digests in constant time, so neither a prefix nor the length
/// of the token shows in the timing.
pub fn bearer_is(req: &HttpRequest, expected: &secrecy::SecretString) -> bool {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let given = bearer(req).unwrap_or_default();
    let same = Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.expose_secret().as_bytes()));
    !given.is_empty() && bool::from(same)
}

/// The token of `Authorization: Bearer <token>`, trimmed; `None` without one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    Some(token.trim()).filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
}

pub fn parse_role(value: &str) -> Role {
    match value {
        "owner" => Role::Owner,
        "admin" => Role::Admin,
        _ => Role::Agent,
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The access guard has authenticated the caller of every documented operation.
        if let Some(auth) = req.extensions().get::<Auth>().cloned() {
            return Box::pin(async move { Ok(auth) });
        }
        // Otherwise (a path the guard did not recognise as a documented operation) the
        // route's own rule is applied here, and a route without one admits no one.
        let rule = req
            .app_data::<web::Data<access::Access>>()
            .and_then(|a| a.rule_of_routed(req));
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let auth = authenticate(&state, &req).await?;
            auth.allow(rule.ok_or(ApiError::Forbidden(
                "This route has no access rule; nobody may call it.",
            ))?)?;
            Ok(auth)
        })
    }
}

/// The caller of a request, from its session token or API key: 401 without valid ones.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Auth, ApiError> {
    let credential = credential(req).ok_or(ApiError::Unauthorized(
        "Send a session token or an API key in the Authorization header.",
    ))?;
    if credential.starts_with(api_keys::PREFIX) {
        return api_keys::authenticate(&state.db, &credential, state.clock.now()).await;
    }
    authenticate_session(state, &credential).await
}

fn credential(req: &HttpRequest) -> Option<String> {
    // An Authorization header decides, even when it is not a bearer token.
    if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        return bearer(req).map(str::to_owned);
    }
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

async fn authenticate_session(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    const INVALID: ApiError =
        ApiError::Unauthorized("The session token is invalid or has expired.");
    let claims = state.verify_session(token).await.ok_or(INVALID)?;
    let revoked = revoked_token::Entity::find_by_id(claims.jti.clone())
        .one(&state.db)
        .await?;
    if revoked.is_some() {
        return Err(INVALID);
    }
    // The member is read each time, so a removed member or a changed role counts at once.
    let member = team_member::Entity::find_by_id(claims.sub)
        .filter(team_member::Column::MerchantId.eq(claims.mid))
        .one(&state.db)
        .await?
        .ok_or(INVALID)?;
    // A member whose sessions were ended (a password change, signing out everywhere) has a
    // later generation than the tokens issued before. A member removed and added again is
    // a new member (a new id), so the old tokens name no one.
    if member.session_generation != claims.generation {
        return Err(INVALID);
    }
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    Ok(Auth {
        merchant_id: member.merchant_id,
        role: parse_role(&member.role),
        member_id: Some(member.id),
        api_key_id: None,
        scopes: None,
        session: Some((claims.jti, expires_at)),
        session_generation: Some(member.session_generation),
    })
}
