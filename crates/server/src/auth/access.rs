//! Who may call what: one rule per documented operation, checked before the handler runs
//! (before its body is read), so a denied caller gets the same 403 whatever it sends.
//!
//! Team members act with their role (agent < admin < owner); API keys with the scopes they
//! were created with, never a role. Some routes are for people only: no key can manage API
//! keys, team members, the merchant's settings or sessions, whatever its scopes. The server
//! refuses to start when an operation of its OpenAPI document has no rule here, so a new
//! route cannot be served unguarded. The README's "Roles and API-key scopes" is this table
//! in prose, and `tests/api/access.rs` holds every route against it for every role and key.

use std::collections::HashMap;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use loyalcast_dto::{Role, Scope};

use super::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::templates::Methods;

/// Who may call one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No merchant credentials: the route checks its own (a provider's signature, a stream
    /// ticket, a signed link) or needs none (sign-in, sign-up, health).
    Public,
    /// A configured token (the operator's, the metrics token), checked by the route; no
    /// merchant credential works.
    Token,
    /// Team members with at least this role; no API key.
    Members(Role),
    /// Team members with at least this role, and API keys holding the scope (`None`: any
    /// key of the merchant).
    Callers(Role, Option<Scope>),
}

use Role::{Admin, Agent, Owner};
use Rule::{Callers, Members, Public, Token};

const fn key(role: Role, scope: Scope) -> Rule {
    Callers(role, Some(scope))
}

/// Recording a customer's consent (consent fields on create or update, consent columns or a
/// declaration on import): admins and owners, and keys with `consent:write`. Agents serve
/// customers but do not decide what they agreed to.
pub const RECORD_CONSENT: Rule = key(Admin, Scope::ConsentWrite);

/// Every operation: (method, path as the OpenAPI document writes it, rule).
pub const RULES: &[(&str, &str, Rule)] = &[
    // Sessions and the merchant.
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/signup", Public),
    ("POST", "/api/v1/auth/logout", Members(Agent)),
    ("POST", "/api/v1/auth/password", Members(Agent)),
    ("POST", "/api/v1/auth/sign-out-everywhere", Members(Agent)),
    ("GET", "/api/v1/me", Callers(Agent, None)),
    ("PATCH", "/api/v1/merchant", Members(Owner)),
    // The team and API keys: people only.
    ("GET", "/api/v1/team", Members(Admin)),
    ("POST", "/api/v1/team", Members(Admin)),
    ("DELETE", "/api/v1/team/{id}", Members(Admin)),
    ("PATCH", "/api/v1/team/{id}", Members(Admin)),
    ("GET", "/api/v1/team/invitations", Members(Admin)),
    ("POST", "/api/v1/team/invitations", Members(Admin)),
    ("DELETE", "/api/v1/team/invitations/{id}", Members(Admin)),
    // Joining through an invitation: the link is the credential.
    ("GET", "/api/v1/invitations/{token}", Public),
    ("POST", "/api/v1/invitations/{token}/accept", Public),
    ("GET", "/api/v1/api-keys", Members(Admin)),
    ("POST", "/api/v1/api-keys", Members(Admin)),
    ("DELETE", "/api/v1/api-keys/{id}", Members(Admin)),
    // Figures and money (read-only: credits come from the operator).
    ("GET", "/api/v1/figures", key(Agent, Scope::BalancesRead)),
    ("GET", "/api/v1/balances", key(Agent, Scope::BalancesRead)),
    (
        "GET",
        "/api/v1/balances/ledger",
        key(Admin, Scope::BalancesRead),
    ),
    (
        "GET",
        "/api/v1/balances/purchase",
        key(Admin, Scope::BalancesRead),
    ),
    // Cards.
    ("GET", "/api/v1/cards", key(Agent, Scope::CardsRead)),
    ("GET", "/api/v1/cards/{id}", key(Agent, Scope::CardsRead)),
    ("POST", "/api/v1/cards", key(Admin, Scope::CardsWrite)),
    ("PUT", "/api/v1/cards/{id}", key(Admin, Scope::CardsWrite)),
    (
        "DELETE",
        "/api/v1/cards/{id}",
        key(Admin, Scope::CardsWrite),
    ),
    // Customers: agents serve them; deleting and importing are for admins.
    ("GET", "/api/v1/customers", key(Agent, Scope::CustomersRead)),
    (
        "GET",
        "/api/v1/customers/{id}",
        key(Agent, Scope::CustomersRead),
    ),
    (
        "GET",
        "/api/v1/customers/{id}/consent",
        key(Agent, Scope::CustomersRead),
    ),
    (
        "GET",
        "/api/v1/customers/{id}/messages",
        key(Agent, Scope::CustomersRead),
    ),
    ("GET", "/api/v1/tags", key(Agent, Scope::CustomersRead)),
    // Events from integrations (a visit at the counter is an agent's work too).
    ("POST", "/api/v1/events", key(Agent, Scope::EventsWrite)),
    (
        "GET",
        "/api/v1/customers/{id}/events",
        key(Agent, Scope::CustomersRead),
    ),
    (
        "POST",
        "/api/v1/customers",
        key(Agent, Scope::CustomersWrite),
    ),
    (
        "PATCH",
        "/api/v1/customers/{id}",
        key(Agent, Scope::CustomersWrite),
    ),
    (
        "DELETE",
        "/api/v1/customers/{id}",
        key(Admin, Scope::CustomersWrite),
    ),
    (
        "POST",
        "/api/v1/customers/import",
        key(Admin, Scope::CustomersWrite),
    ),
    // Passes.
    ("GET", "/api/v1/passes", key(Agent, Scope::PassesRead)),
    ("GET", "/api/v1/passes/{id}", key(Agent, Scope::PassesRead)),
    ("POST", "/api/v1/passes", key(Agent, Scope::PassesWrite)),
    (
        "DELETE",
        "/api/v1/passes/{id}",
        key(Admin, Scope::PassesWrite),
    ),
    // Segments: read by everyone, managed by admins.
    ("GET", "/api/v1/segments", key(Agent, Scope::SegmentsRead)),
    (
        "GET",
        "/api/v1/segments/{id}",
        key(Agent, Scope::SegmentsRead),
    ),
    (
        "GET",
        "/api/v1/segments/{id}/count",
        key(Agent, Scope::SegmentsRead),
    ),
    (
        "POST",
        "/api/v1/segments/count",
        key(Agent, Scope::SegmentsRead),
    ),
    ("POST", "/api/v1/segments", key(Admin, Scope::SegmentsWrite)),
    (
        "PUT",
        "/api/v1/segments/{id}",
        key(Admin, Scope::SegmentsWrite),
    ),
    (
        "DELETE",
        "/api/v1/segments/{id}",
        key(Admin, Scope::SegmentsWrite),
    ),
    // Mailings: reports for everyone; composing and sending campaigns for admins.
    ("GET", "/api/v1/mailings", key(Agent, Scope::MailingsRead)),
    (
        "GET",
        "/api/v1/mailings/{id}",
        key(Agent, Scope::MailingsRead),
    ),
    (
        "GET",
        "/api/v1/mailings/{id}/problems",
        key(Agent, Scope::MailingsRead),
    ),
    (
        "POST",
        "/api/v1/mailings/estimate",
        key(Admin, Scope::MailingsRead),
    ),
    ("POST", "/api/v1/mailings", key(Admin, Scope::MailingsSend)),
    (
        "PATCH",
        "/api/v1/mailings/{id}",
        key(Admin, Scope::MailingsSend),
    ),
    (
        "POST",
        "/api/v1/mailings/{id}/send",
        key(Admin, Scope::MailingsSend),
    ),
    (
        "POST",
        "/api/v1/mailings/{id}/pause",
        key(Admin, Scope::MailingsSend),
    ),
    (
        "POST",
        "/api/v1/mailings/{id}/resume",
        key(Admin, Scope::MailingsSend),
    ),
    (
        "POST",
        "/api/v1/mailings/{id}/cancel",
        key(Admin, Scope::MailingsSend),
    ),
    (
        "POST",
        "/api/v1/mailings/{id}/resend-failed",
        key(Admin, Scope::MailingsSend),
    ),
    // Wallet pushes: history for everyone; sending (free, but it reaches every holder's lock
    // screen) for admins.
    // Automations: figures for everyone; setting them up (they send pushes by themselves)
    // as for sending a push.
    ("GET", "/api/v1/automations", key(Agent, Scope::PushesRead)),
    (
        "GET",
        "/api/v1/automations/{id}",
        key(Agent, Scope::PushesRead),
    ),
    (
        "GET",
        "/api/v1/automations/{id}/runs",
        key(Agent, Scope::PushesRead),
    ),
    ("POST", "/api/v1/automations", key(Admin, Scope::PushesSend)),
    (
        "PATCH",
        "/api/v1/automations/{id}",
        key(Admin, Scope::PushesSend),
    ),
    (
        "DELETE",
        "/api/v1/automations/{id}",
        key(Admin, Scope::PushesSend),
    ),
    (
        "GET",
        "/api/v1/automation-settings",
        key(Agent, Scope::PushesRead),
    ),
    (
        "PUT",
        "/api/v1/automation-settings",
        key(Admin, Scope::PushesSend),
    ),
    ("GET", "/api/v1/pushes", key(Agent, Scope::PushesRead)),
    ("GET", "/api/v1/pushes/{id}", key(Agent, Scope::PushesRead)),
    (
        "POST",
        "/api/v1/pushes/estimate",
        key(Admin, Scope::PushesRead),
    ),
    ("POST", "/api/v1/pushes", key(Admin, Scope::PushesSend)),
    (
        "POST",
        "/api/v1/pushes/{id}/cancel",
        key(Admin, Scope::PushesSend),
    ),
    // The change stream: the ticket is the credential of the stream itself.
    (
        "POST",
        "/api/v1/changes/tickets",
        key(Agent, Scope::ChangesRead),
    ),
    ("GET", "/api/v1/changes/stream", Public),
    // The operator and operations.
    ("GET", "/api/v1/operator/merchants", Token),
    (
        "GET",
        "/api/v1/operator/merchants/{merchant_id}/balances",
        Token,
    ),
    (
        "POST",
        "/api/v1/operator/merchants/{merchant_id}/top-ups",
        Token,
    ),
    ("GET", "/metrics", Token),
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    // Providers' callbacks (signed) and the links in messages (signed).
    ("POST", "/api/v1/webhooks/twilio/inbound", Public),
    ("POST", "/api/v1/webhooks/twilio/status", Public),
    ("GET", "/u/{token}", Public),
    ("POST", "/u/{token}", Public),
    ("POST", "/r/{token}", Public),
    ("GET", "/o/{token}", Public),
    // Apple Wallet's web service: each pass's own token (`ApplePass`), checked by the route.
    (
        "POST",
        "/passkit/v1/devices/{device}/registrations/{pass_type_id}/{serial}",
        Public,
    ),
    (
        "DELETE",
        "/passkit/v1/devices/{device}/registrations/{pass_type_id}/{serial}",
        Public,
    ),
    (
        "GET",
        "/passkit/v1/devices/{device}/registrations/{pass_type_id}",
        Public,
    ),
    ("GET", "/passkit/v1/passes/{pass_type_id}/{serial}", Public),
    ("HEAD", "/passkit/v1/passes/{pass_type_id}/{serial}", Public),
    ("POST", "/passkit/v1/log", Public),
    // The card holder's enrolment page: public, limited per client address.
    ("GET", "/join/{card_id}", Public),
    ("POST", "/join/{card_id}", Public),
    ("GET", "/join/{card_id}/passes/{serial}", Public),
    ("GET", "/join/{card_id}/qr.svg", Public),
    ("GET", "/join/{card_id}/logo.png", Public),
    ("GET", "/join/{card_id}/passes/{serial}/google", Public),
    ("POST", "/join/{card_id}/passes/{serial}/web-push", Public),
    ("GET", "/join/sw.js", Public),
];

impl Rule {
    /// Who the rule lets in, in one sentence, for the OpenAPI document.
    pub fn describe(self) -> String {
        let roles = |role: Role| match role {
            Owner => "the owner",
            Admin => "owners and admins",
            Agent => "every team member",
        };
        match self {
            Public => {
                "No merchant credentials: see the description for how the request is checked."
                    .to_owned()
            }
            Token => "Only the configured token named by the security scheme.".to_owned(),
            Members(role) => format!("Who may call: {} (signed in); no API key.", roles(role)),
            Callers(role, None) => {
                format!(
                    "Who may call: {}, and any API key of the merchant.",
                    roles(role)
                )
            }
            Callers(role, Some(scope)) => format!(
                "Who may call: {}, and API keys with the `{scope}` scope.",
                roles(role)
            ),
        }
    }
}

impl Auth {
    /// Refuses the caller unless `rule` lets them in (403).
    pub fn allow(&self, rule: Rule) -> Result<(), ApiError> {
        let role_allows = |least: Role| {
            if self.role >= least {
                Ok(())
            } else {
                Err(ApiError::Forbidden(match least {
                    Owner => "Only the merchant's owner may do this.",
                    Admin => "Only an owner or admin may do this.",
                    Agent => "Not allowed.",
                }))
            }
        };
        match (rule, &self.scopes) {
            (Public | Token, _) => Ok(()),
            (Members(_), Some(_)) => Err(ApiError::Forbidden(
                "API keys cannot do this; sign in as a team member.",
            )),
            (Members(least) | Callers(least, _), None) => role_allows(least),
            (Callers(_, None), Some(_)) => Ok(()),
            (Callers(_, Some(scope)), Some(held)) if held.contains(&scope) => Ok(()),
            (Callers(_, Some(scope)), Some(_)) => Err(ApiError::MissingScope(scope)),
        }
    }
}

/// The rule of each documented operation, keyed by (method, path template).
#[derive(Debug, Clone)]
pub struct Access {
    rules: HashMap<(String, String), Rule>,
}

impl Access {
    /// The rules for the operations of `doc`. An operation without a rule, or a rule for an
    /// operation the document does not have, is an error: the server does not start.
    pub fn of(doc: &utoipa::openapi::OpenApi) -> anyhow::Result<Access> {
        let rules: HashMap<(String, String), Rule> = RULES
            .iter()
            .map(|(method, path, rule)| (((*method).to_owned(), (*path).to_owned()), *rule))
            .collect();
        anyhow::ensure!(
            rules.len() == RULES.len(),
            "an operation has two access rules"
        );
        let documented = crate::templates::operations(doc);
        let unruled: Vec<String> = documented
            .iter()
            .filter(|op| !rules.contains_key(*op))
            .map(|(m, p)| format!("{m} {p}"))
            .collect();
        anyhow::ensure!(
            unruled.is_empty(),
            "no access rule for {}",
            unruled.join(", ")
        );
        let stale: Vec<String> = rules
            .keys()
            .filter(|op| !documented.contains(*op))
            .map(|(m, p)| format!("{m} {p}"))
            .collect();
        anyhow::ensure!(
            stale.is_empty(),
            "access rules for undocumented operations: {}",
            stale.join(", ")
        );
        Ok(Access { rules })
    }

    /// The rule of the operation a routed request is for, by the route's pattern: what the
    /// `Auth` extractor checks when the guard has not (it fails closed: no rule, no entry).
    pub fn rule_of_routed(&self, req: &actix_web::HttpRequest) -> Option<Rule> {
        let pattern = req.match_pattern()?;
        self.rule(req.method().as_str(), &pattern)
    }

    /// The rule of a documented operation.
    pub fn rule(&self, method: &str, template: &str) -> Option<Rule> {
        self.rules
            .get(&(method.to_owned(), template.to_owned()))
            .copied()
    }
}

/// Middleware: authenticates the caller of every documented operation that takes merchant
/// credentials, applies the operation's rule, and leaves the caller in the request for the
/// `Auth` extractor. Refusals (401, 403) come before any extractor reads the request.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let rule = match (
        req.app_data::<web::Data<Methods>>(),
        req.app_data::<web::Data<Access>>(),
    ) {
        // The path as the router matches it (percent-encoded unreserved characters decoded:
        // `/api/v1/api%2Dkeys` is `/api/v1/api-keys`), not as it came.
        (Some(methods), Some(access)) => methods
            .route(req.method().as_str(), req.match_info().as_str())
            .and_then(|template| access.rule(req.method().as_str(), template)),
        // Without the tables (an app put together without them) nothing is let through
        // unchecked: the extractor authenticates, and the handler answers as before.
        _ => None,
    };
    let Some(rule @ (Members(_) | Callers(..))) = rule else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let error = ApiError::Internal(anyhow::anyhow!("no app state"));
        return Ok(req.error_response(error).map_into_right_body());
    };
    let checked = match super::authenticate(&state, req.request()).await {
        Ok(auth) => auth.allow(rule).map(|()| auth),
        Err(error) => Err(error),
    };
    match checked {
        Ok(auth) => {
            req.extensions_mut().insert(auth);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Auth {
        Auth {
            merchant_id: uuid::Uuid::nil(),
            role,
            member_id: Some(uuid::Uuid::nil()),
            api_key_id: None,
            scopes: None,
            session: None,
            session_generation: None,
        }
    }

    fn key_with(scopes: &[Scope]) -> Auth {
        Auth {
            member_id: None,
            api_key_id: Some(uuid::Uuid::nil()),
            scopes: Some(scopes.iter().copied().collect()),
            ..member(Agent)
        }
    }

    #[test]
    fn roles_are_ordered_and_keys_need_their_scope() {
        let send = key(Admin, Scope::MailingsSend);
        assert!(member(Agent).allow(send).is_err());
        assert!(member(Admin).allow(send).is_ok());
        assert!(member(Owner).allow(send).is_ok());
        assert!(key_with(&[Scope::MailingsRead]).allow(send).is_err());
        assert!(key_with(&[Scope::MailingsSend]).allow(send).is_ok());
        assert!(key_with(&Scope::ALL).allow(Members(Agent)).is_err());
        assert!(key_with(&[]).allow(Callers(Agent, None)).is_ok());
        assert!(member(Admin).allow(Members(Owner)).is_err());
    }

    #[test]
    fn every_documented_operation_has_exactly_one_rule() {
        let doc = crate::openapi::document().unwrap_or_default();
        assert!(Access::of(&doc).is_ok(), "{:?}", Access::of(&doc).err());
    }
}
