use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use loyalcast_domain::{Email, Fields};
use loyalcast_dto::{NewTeamMember, Problem, TeamMember};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, Set,
};
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::{Auth, parse_role, password};
use crate::entity::team_member;
use crate::error::{ApiError, Result};
use crate::idempotency::{self, IdempotencyKey};
use crate::merchants;
use crate::state::AppState;

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
    if body.role > auth.role {
        return Err(ApiError::field(
            "role",
            "not_allowed",
            "you cannot grant a role above your own",
        ));
    }
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
