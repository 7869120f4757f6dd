//! `Idempotency-Key` for create endpoints: the first request claims the key, does its work
//! and saves its response in the same transaction; a replay gets the saved response. A key
//! reused with a different body is refused. Concurrent requests with one key are serialised
//! by the key's primary key: the second waits for the first to commit, then replays it.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, Set, TransactionTrait,
    TryInsertResult,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entity::idempotency_key;
use crate::error::{ApiError, Result};

pub const HEADER: &str = "Idempotency-Key";

/// The optional `Idempotency-Key` header: 1-255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req.headers().get(HEADER).map(|v| {
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|v| is_valid_key(v))
                .map(str::to_owned)
        });
        Box::pin(async move {
            match value {
                None => Ok(IdempotencyKey(None)),
                Some(Some(key)) => Ok(IdempotencyKey(Some(key))),
                Some(None) => Err(ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.".to_owned(),
                )),
            }
        })
    }
}

/// A key as `loyalcast_dto::text::IDEMPOTENCY_KEY` declares it: 1 to 255 visible ASCII
/// characters (an HTTP header value has no surrounding whitespace to speak of).
fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic())
}

/// Runs `work` in a transaction and answers with its value as JSON and `status`; with a
/// key, exactly once per (merchant, key).
pub async fn respond<T, F>(
    db: &DatabaseConnection,
    merchant_id: Uuid,
    key: IdempotencyKey,
    request: &impl Serialize,
    status: StatusCode,
    work: F,
) -> Result<HttpResponse>
where
    T: Serialize,
    F: AsyncFnOnce(&DatabaseTransaction) -> Result<T>,
{
    let txn = db.begin().await?;
    let claimed = match &key.0 {
        None => None,
        Some(key) => {
            let hash = hex::encode(Sha256::digest(
                serde_json::to_vec(request).map_err(anyhow::Error::from)?,
            ));
            let inserted = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
                merchant_id: Set(merchant_id),
                key: Set(key.clone()),
                request_hash: Set(hash.clone()),
                status: Set(None),
                body: Set(None),
                created_at: Set(Utc::now()),
            })
            .on_conflict_do_nothing_on([
                idempotency_key::Column::MerchantId,
                idempotency_key::Column::Key,
            ])
            .exec_without_returning(&txn)
            .await?;
            if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
                Some(key.clone())
            } else {
                txn.rollback().await?;
                return replay(db, merchant_id, key, &hash).await;
            }
        }
    };
    let value = work(&txn).await?;
    let body = serde_json::to_string(&value).map_err(anyhow::Error::from)?;
    if let Some(key) = claimed {
        idempotency_key::ActiveModel {
            merchant_id: Set(merchant_id),
            key: Set(key),
            status: Set(Some(status.as_u16() as i16)),
            body: Set(Some(body.clone())),
            ..Default::default()
        }
        .update(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(body))
}

async fn replay(
    db: &DatabaseConnection,
    merchant_id: Uuid,
    key: &str,
    hash: &str,
) -> Result<HttpResponse> {
    let saved = idempotency_key::Entity::find_by_id((merchant_id, key.to_owned()))
        .one(db)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(
                "A request with this Idempotency-Key is still in progress.".to_owned(),
            )
        })?;
    if saved.request_hash != hash {
        return Err(ApiError::field(
            HEADER,
            "key_reused",
            "was already used for a different request",
        ));
    }
    match (saved.status, saved.body) {
        (Some(status), Some(body)) => Ok(HttpResponse::build(
            StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
        )
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(body)),
        _ => Err(ApiError::Conflict(
            "A request with this Idempotency-Key is still in progress.".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_check_is_the_documented_pattern() {
        let pattern = regex::Regex::new(loyalcast_dto::text::IDEMPOTENCY_KEY)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cases: Vec<String> = (0u8..=255).map(|b| char::from(b).to_string()).collect();
        cases.extend([
            "".to_owned(),
            "a".repeat(255),
            "a".repeat(256),
            "key-1 2".to_owned(),
        ]);
        for case in cases {
            assert_eq!(
                super::is_valid_key(&case),
                pattern.is_match(&case),
                "{case:?}"
            );
        }
    }
}
