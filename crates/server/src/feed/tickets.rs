//! Stream tickets: a browser's `EventSource` cannot send an `Authorization` header, and a
//! session token or API key in a URL would end up in access logs and browser history. So a
//! caller trades its credentials (`POST /api/v1/changes/tickets`) for a ticket that opens one
//! stream, once, within [`TTL_SECONDS`]: what a log could show of it is worthless by then.
//!
//! Tickets live in the database, not in a process's memory, so that a ticket issued by one
//! `serve` process opens a stream on another behind the same load balancer; only a SHA-256 of
//! each is stored. The stream keeps the credentials' identity ([`Grant`]) and checks it again
//! while it runs ([`still_valid`]): signing out (here or everywhere), a password change,
//! removing the member or revoking the key ends it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entity::{api_key, revoked_token, stream_ticket, team_member};

/// How long a ticket may wait to be used.
pub const TTL_SECONDS: i64 = 60;

/// Tickets are `st_` and 256 random bits, base64url: 46 characters.
const PREFIX: &str = "st_";
const LENGTH: usize = 46;

/// Whose stream it is: the merchant, and the credentials that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub merchant_id: Uuid,
    /// A team member signed in with a session…
    pub member_id: Option<Uuid>,
    /// …whose token's id and expiry these are;
    pub session: Option<(String, DateTime<Utc>)>,
    /// …and the member's session generation then (ending the member's sessions ends it);
    pub session_generation: Option<i32>,
    /// or an integrator's API key.
    pub api_key_id: Option<Uuid>,
}

fn hash(ticket: &str) -> String {
    crate::secrets::sha256_hex(ticket)
}

/// Issues a ticket for `grant` at `now`; returns it and when it expires.
pub async fn issue(
    db: &impl ConnectionTrait,
    grant: &Grant,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), DbErr> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let ticket = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let expires_at = crate::clock::micros(now + Duration::seconds(TTL_SECONDS));
    stream_ticket::Entity::insert(stream_ticket::ActiveModel {
        ticket_hash: Set(hash(&ticket)),
        merchant_id: Set(grant.merchant_id),
        member_id: Set(grant.member_id),
        api_key_id: Set(grant.api_key_id),
        session_id: Set(grant.session.as_ref().map(|(id, _)| id.clone())),
        session_expires_at: Set(grant.session.as_ref().map(|(_, at)| *at)),
        session_generation: Set(grant.session_generation),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok((ticket, expires_at))
}

/// Uses up `ticket` at `now`: its grant, or `None` for a ticket that is unknown, used,
/// expired, or whose credentials no longer stand.
pub async fn redeem(
    db: &impl ConnectionTrait,
    ticket: &str,
    now: DateTime<Utc>,
) -> Result<Option<Grant>, DbErr> {
    // Anything else is not a ticket: no need to ask the database.
    if ticket.len() != LENGTH || !ticket.starts_with(PREFIX) {
        return Ok(None);
    }
    let hash = hash(ticket);
    let Some(found) = stream_ticket::Entity::find_by_id(hash.clone())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    // Whoever deletes the row has used the ticket: of two requests at once, one wins.
    let deleted = stream_ticket::Entity::delete_many()
        .filter(stream_ticket::Column::TicketHash.eq(hash))
        .exec(db)
        .await?;
    if deleted.rows_affected != 1 || found.expires_at <= now {
        return Ok(None);
    }
    let grant = Grant {
        merchant_id: found.merchant_id,
        member_id: found.member_id,
        session: found.session_id.zip(found.session_expires_at),
        session_generation: found.session_generation,
        api_key_id: found.api_key_id,
    };
    Ok(still_valid(db, &grant, now).await?.then_some(grant))
}

/// Whether the credentials behind `grant` still stand at `now`: the session has not expired
/// or been signed out and its member is still on the team, or the API key is not revoked.
pub async fn still_valid(
    db: &impl ConnectionTrait,
    grant: &Grant,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if let (Some(member_id), Some((jti, expires_at))) = (grant.member_id, &grant.session) {
        if *expires_at <= now {
            return Ok(false);
        }
        if revoked_token::Entity::find_by_id(jti.clone())
            .one(db)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        return Ok(team_member::Entity::find_by_id(member_id)
            .filter(team_member::Column::MerchantId.eq(grant.merchant_id))
            .one(db)
            .await?
            .is_some_and(|member| {
                grant
                    .session_generation
                    .is_none_or(|generation| generation == member.session_generation)
            }));
    }
    if let Some(key_id) = grant.api_key_id {
        return Ok(api_key::Entity::find_by_id(key_id)
            .filter(api_key::Column::MerchantId.eq(grant.merchant_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(db)
            .await?
            .is_some_and(|key| key.expires_at.is_none_or(|at| at > now)));
    }
    Ok(false)
}

/// Deletes tickets that expired unused before `now`; returns how many.
pub async fn forget_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(stream_ticket::Entity::delete_many()
        .filter(stream_ticket::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tickets_have_the_length_redeem_expects() {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 32]);
        assert_eq!(super::PREFIX.len() + encoded.len(), super::LENGTH);
        let pattern =
            regex::Regex::new(loyalcast_dto::text::STREAM_TICKET).unwrap_or_else(|e| panic!("{e}"));
        assert!(pattern.is_match(&format!("{}{encoded}", super::PREFIX)));
    }
}
