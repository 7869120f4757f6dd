use actix_web::{get, web};
use loyalcast_dto::{HeaderFigures, Problem};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use crate::auth::Auth;
use crate::entity::{balance, customer, pass};
use crate::error::Result;
use crate::state::AppState;

/// The four figures at the top of every Mailings page.
#[utoipa::path(
    tag = "figures",
    responses((status = 200, body = HeaderFigures), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/figures")]
pub async fn header_figures(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<web::Json<HeaderFigures>> {
    let db = &state.db;
    let customers = customer::Entity::find()
        .filter(customer::Column::MerchantId.eq(auth.merchant_id))
        .count(db)
        .await?;
    let push_reachable: Option<i64> = pass::Entity::find()
        .select_only()
        .column_as(Expr::col(pass::Column::CustomerId).count_distinct(), "n")
        .filter(pass::Column::MerchantId.eq(auth.merchant_id))
        .into_tuple()
        .one(db)
        .await?;
    let balances = balance::Entity::find()
        .filter(balance::Column::MerchantId.eq(auth.merchant_id))
        .all(db)
        .await?;
    let available = |kind: &str| {
        balances
            .iter()
            .find(|b| b.kind == kind)
            .map(|b| b.available)
            .unwrap_or(0)
    };
    Ok(web::Json(HeaderFigures {
        customers,
        push_reachable: u64::try_from(push_reachable.unwrap_or(0)).unwrap_or(0),
        push_free: true,
        sms_balance: available("sms"),
        email_balance: available("email"),
    }))
}
