use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::Duration;
use loyalcast_domain::{Email, Fields};
use loyalcast_dto::{
    AcceptInvitation, Invitation, InvitationOffer, NewInvitation, NewTeamMember, Problem, Session,
    TeamMember, TeamMemberChange,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::{Auth, parse_role, password};
use crate::entity::{team_invitation, team_member};
use crate::error::{ApiError, Result};
use crate::idempotency::{self, IdempotencyKey};
use crate::merchants;
use crate::state::AppState;

/// Nobody gives a role above their own (422 `not_allowed` on `role`).
fn may_grant(auth: &Auth, role: loyalcast_dto::Role) -> Result<()> {
    if role > auth.role {
        return Err(ApiError::field(
            "role",
            "not_allowed",
            "you cannot grant a role above your own",
        ));
    }
    Ok(())
}

/// The merchant's team.
#[utoipa::path(
    tag = "team",
    responses((status = 200, body = Vec<TeamMember>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/team")]
pub async fn list(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Vec<TeamMember>>> {
    let members = team_member::Entity::find()
        .filter(team_member::Column::MerchantId.eq(auth.merchant_id))
        .order_by_asc(team_member::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(web::Json(
        members.iter().map(merchants::member_dto).collect(),
    ))
}

/// Add a team member (owners add anyone; admins add admins and agents).
#[utoipa::path(
    tag = "team",
    request_body = NewTeamMember,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 409, description = "The email already signs in as a team member", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = TeamMember),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords are being hashed at once (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/team")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<NewTeamMember>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    may_grant(&auth, body.role)?;
    let mut fields = Fields::new();
    let name = fields.text("name", &body.name, 120);
    let email = fields.check("email", Email::parse(&body.email));
    if let Err(message) = password::check_strength(&body.password) {
        fields.push("password", "too_weak", message);
    }
    fields.finish()?;
    let (Some(name), Some(email)) = (name, email) else {
        return Err(ApiError::Internal(anyhow::anyhow!("parsed fields missing")));
    };
    let hash = state
        .passwords
        .hash(SecretString::from(body.password.clone()))
        .await?;
    // The fingerprint leaves the password out: it must not be stored, even hashed, twice.
    let fingerprint = (&name, email.as_str(), body.role);
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &fingerprint,
        StatusCode::CREATED,
        async |txn| {
            merchants::ensure_email_free(txn, email.as_str(), "email").await?;
            let member = team_member::ActiveModel {
                id: Set(Uuid::now_v7()),
                merchant_id: Set(auth.merchant_id),
                name: Set(name.clone()),
                email: Set(email.as_str().to_owned()),
                password_hash: Set(hash.clone()),
                role: Set(body.role.as_str().to_owned()),
                created_at: Set(state.clock.now()),
                session_generation: Set(0),
            }
            .insert(txn)
            .await?;
            Ok(merchants::member_dto(&member))
        },
    )
    .await
}

/// Remove a team member. The last owner cannot be removed, nor can you remove yourself.
#[utoipa::path(
    tag = "team",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/team/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let member = team_member::Entity::find_by_id(id.into_inner())
        .filter(team_member::Column::MerchantId.eq(auth.merchant_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    if Some(member.id) == auth.member_id {
        return Err(ApiError::Conflict("You cannot remove yourself.".to_owned()));
    }
    if parse_role(&member.role) > auth.role {
        return Err(ApiError::Forbidden("Only an owner may remove an owner."));
    }
    member.delete(&state.db).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change a team member's role (owners any role; admins between admin and agent).
#[utoipa::path(
    tag = "team",
    params(("id" = Uuid, Path)),
    request_body = TeamMemberChange,
    responses(
        (status = 200, body = TeamMember),
        (status = 403, description = "An admin changing an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Your own role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A role above your own (`not_allowed`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/team/{id}")]
pub async fn change_role(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: crate::json::Json<TeamMemberChange>,
) -> Result<web::Json<TeamMember>> {
    let change = body.into_inner();
    let member = team_member::Entity::find_by_id(id.into_inner())
        .filter(team_member::Column::MerchantId.eq(auth.merchant_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    if Some(member.id) == auth.member_id {
        return Err(ApiError::Conflict(
            "You cannot change your own role; another owner or admin can.".to_owned(),
        ));
    }
    if parse_role(&member.role) > auth.role {
        return Err(ApiError::Forbidden(
            "Only an owner may change an owner's role.",
        ));
    }
    may_grant(&auth, change.role)?;
    // An owner is never the last one this way: whoever demotes them is an owner too.
    let mut active: team_member::ActiveModel = member.into();
    active.role = Set(change.role.as_str().to_owned());
    let member = active.update(&state.db).await?;
    Ok(web::Json(merchants::member_dto(&member)))
}

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

fn invitation_dto(i: &team_invitation::Model, link: Option<String>) -> Invitation {
    Invitation {
        id: i.id,
        name: i.name.clone(),
        email: i.email.clone(),
        role: parse_role(&i.role),
        created_at: i.created_at,
        expires_at: i.expires_at,
        link,
    }
}

/// Invite someone to the team; the answer holds the link that lets them join (once).
#[utoipa::path(
    tag = "team",
    request_body = NewInvitation,
    responses(
        (status = 201, body = Invitation),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email already signs in as a team member", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/team/invitations")]
pub async fn invite(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<NewInvitation>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    may_grant(&auth, body.role)?;
    let mut fields = Fields::new();
    let name = fields.text("name", &body.name, 120);
    let email = fields.check("email", Email::parse(&body.email));
    fields.finish()?;
    let (Some(name), Some(email)) = (name, email) else {
        return Err(ApiError::Internal(anyhow::anyhow!("parsed fields missing")));
    };
    let now = state.clock.now();
    let token = crate::secrets::random_token(32);
    let txn = state.db.begin().await?;
    merchants::ensure_email_free(&txn, email.as_str(), "email").await?;
    // The pending invitation for this address, if any, is replaced: its link stops working.
    team_invitation::Entity::delete_many()
        .filter(team_invitation::Column::MerchantId.eq(auth.merchant_id))
        .filter(team_invitation::Column::Email.eq(email.as_str()))
        .filter(team_invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    let invitation = team_invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(auth.merchant_id),
        name: Set(name),
        email: Set(email.as_str().to_owned()),
        role: Set(body.role.as_str().to_owned()),
        token_hash: Set(crate::secrets::sha256_hex(&token)),
        invited_by: Set(auth.member_id),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(INVITATION_DAYS)),
        accepted_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let link = format!(
        "{}/invite/{token}",
        state.config.public_url.trim_end_matches('/')
    );
    Ok(HttpResponse::Created().json(invitation_dto(&invitation, Some(link))))
}

/// The invitations not accepted yet and still valid, oldest first.
#[utoipa::path(
    tag = "team",
    responses((status = 200, body = Vec<Invitation>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/team/invitations")]
pub async fn invitations(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<web::Json<Vec<Invitation>>> {
    let pending = team_invitation::Entity::find()
        .filter(team_invitation::Column::MerchantId.eq(auth.merchant_id))
        .filter(team_invitation::Column::AcceptedAt.is_null())
        .filter(team_invitation::Column::ExpiresAt.gt(state.clock.now()))
        .order_by_asc(team_invitation::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(web::Json(
        pending.iter().map(|i| invitation_dto(i, None)).collect(),
    ))
}

/// Withdraw an invitation: its link stops working.
#[utoipa::path(
    tag = "team",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 403, description = "An admin withdrawing an owner's invitation", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/team/invitations/{id}")]
pub async fn withdraw(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let invitation = team_invitation::Entity::find_by_id(id.into_inner())
        .filter(team_invitation::Column::MerchantId.eq(auth.merchant_id))
        .filter(team_invitation::Column::AcceptedAt.is_null())
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    if parse_role(&invitation.role) > auth.role {
        return Err(ApiError::Forbidden(
            "Only an owner may withdraw an owner's invitation.",
        ));
    }
    invitation.delete(&state.db).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The invitation a link holds, while it can be accepted.
async fn pending_by_token(
    db: &impl sea_orm::ConnectionTrait,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<team_invitation::Model> {
    team_invitation::Entity::find()
        .filter(team_invitation::Column::TokenHash.eq(crate::secrets::sha256_hex(token)))
        .filter(team_invitation::Column::AcceptedAt.is_null())
        .filter(team_invitation::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// What an invitation link offers (no credentials: the link is the credential). A link that
/// was used, withdrawn, replaced or has expired is a 404.
#[utoipa::path(
    tag = "team",
    params(("token" = String, Path, description = "The token of the invitation link")),
    responses(
        (status = 200, body = InvitationOffer),
        (status = 404, description = "No such invitation, or it was used, withdrawn or has expired", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/invitations/{token}")]
pub async fn offer(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<web::Json<InvitationOffer>> {
    let invitation = pending_by_token(&state.db, &token, state.clock.now()).await?;
    let merchant = merchants::find(&state.db, invitation.merchant_id).await?;
    Ok(web::Json(InvitationOffer {
        merchant_name: merchant.name,
        name: invitation.name,
        email: invitation.email,
        role: parse_role(&invitation.role),
        expires_at: invitation.expires_at,
    }))
}

/// Accept an invitation with a password of your own: you join the team and are signed in.
/// The link works once.
#[utoipa::path(
    tag = "team",
    params(("token" = String, Path, description = "The token of the invitation link")),
    request_body = AcceptInvitation,
    responses(
        (status = 201, description = "Joined and signed in", body = Session),
        (status = 404, description = "No such invitation, or it was used, withdrawn or has expired", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email signs in as a team member already", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords are being hashed at once (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/invitations/{token}/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: crate::json::Json<AcceptInvitation>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let now = state.clock.now();
    let invitation = pending_by_token(&state.db, &token, now).await?;
    let mut fields = Fields::new();
    let name = match &body.name {
        Some(name) => fields.text("name", name, 120),
        None => Some(invitation.name.clone()),
    };
    if let Err(message) = password::check_strength(&body.password) {
        fields.push("password", "too_weak", message);
    }
    fields.finish()?;
    let name = name.unwrap_or_else(|| invitation.name.clone());
    let hash = state
        .passwords
        .hash(SecretString::from(body.password.clone()))
        .await?;
    let txn = state.db.begin().await?;
    // Taken once: of two acceptances at once, the second finds it used (a 404).
    let taken = team_invitation::Entity::update_many()
        .col_expr(team_invitation::Column::AcceptedAt, Some(now).into())
        .filter(team_invitation::Column::Id.eq(invitation.id))
        .filter(team_invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if taken.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    merchants::ensure_email_free(&txn, &invitation.email, "email").await?;
    let member = team_member::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(invitation.merchant_id),
        name: Set(name),
        email: Set(invitation.email.clone()),
        password_hash: Set(hash),
        role: Set(invitation.role.clone()),
        created_at: Set(now),
        session_generation: Set(0),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let merchant = merchants::find(&state.db, member.merchant_id).await?;
    let session = super::auth::session(&state, &member, &merchant)?;
    Ok(HttpResponse::Created().json(session))
}
