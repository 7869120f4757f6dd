//! Ending a member's sessions: every session token carries the member's session generation
//! ([`super::jwt::Claims::generation`]), and each request reads the member again, so counting
//! the generation up ends every session issued before in one statement, on every process.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::team_member;

/// Ends all of the member's sessions.
pub async fn end_all(db: &impl ConnectionTrait, member: Uuid) -> Result<(), DbErr> {
    team_member::Entity::update_many()
        .col_expr(
            team_member::Column::SessionGeneration,
            Expr::col(team_member::Column::SessionGeneration).add(1),
        )
        .filter(team_member::Column::Id.eq(member))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the member's password hash and ends all of their sessions, in one statement.
pub async fn set_password(
    db: &impl ConnectionTrait,
    member: Uuid,
    password_hash: String,
) -> Result<(), DbErr> {
    team_member::Entity::update_many()
        .col_expr(
            team_member::Column::PasswordHash,
            Expr::value(password_hash),
        )
        .col_expr(
            team_member::Column::SessionGeneration,
            Expr::col(team_member::Column::SessionGeneration).add(1),
        )
        .filter(team_member::Column::Id.eq(member))
        .exec(db)
        .await?;
    Ok(())
}
