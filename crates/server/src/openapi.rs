//! The OpenAPI document: collected from the route annotations by utoipa-actix-web, so it
//! cannot drift from the routes that are served.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod refine;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loyalcast API",
        description = "The messaging hub for digital loyalty cards: customers, cards, passes, segments and the merchant's messaging.\n\nErrors are RFC 9457 `application/problem+json`. Authenticate with `Authorization: Bearer <session token or API key>`. The tenant always comes from the credentials: another merchant's object is a 404.",
        license(name = "Proprietary")
    ),
    modifiers(&Security),
    // Query parameters refer to these by name; utoipa collects only body schemas by itself.
    // The change stream's events are not a JSON body, so their schema is named here too.
    components(schemas(
        loyalcast_dto::CustomerSort,
        loyalcast_dto::SortOrder,
        loyalcast_dto::ChangeEvent,
        loyalcast_dto::ChangeTopic
    )),
    tags(
        (name = "auth", description = "Sign-in, sign-up and the current merchant"),
        (name = "team", description = "The merchant's team members"),
        (name = "api-keys", description = "Keys for integrators"),
        (name = "figures", description = "Header figures of the Mailings dashboard"),
        (name = "cards", description = "Loyalty card programs"),
        (name = "customers", description = "Card holders and their contact data"),
        (name = "passes", description = "Cards installed in Apple Wallet or Google Wallet"),
        (name = "segments", description = "Saved audiences and live counts"),
        (name = "events", description = "Customer events from integrations: visits, purchases, reviews, referrals, points; recorded once per event ID"),
        (name = "mailings", description = "Mass campaigns over SMS, email, Telegram and Messenger"),
        (name = "pushes", description = "Wallet pushes: a message on the lock screen and the back of a card, to all its holders or a segment, now or scheduled; free"),
        (name = "automations", description = "Wallet pushes that send themselves: birthday, anniversary, feedback after a visit, win-back, and custom rules (an event, a delay, a message); once per customer and occurrence, in local time, outside quiet hours, under a frequency cap; free"),
        (name = "balances", description = "SMS and email credits, and their ledger (read-only)"),
        (name = "operator", description = "The operator's API: merchants and their credits; authenticated with the operator's token"),
        (name = "changes", description = "The change feed: what changed, streamed as server-sent events"),
        (name = "passkit", description = "Apple Wallet's web service, called by devices under each pass's webServiceURL; authenticated per pass (`ApplePass <token>`)"),
        (name = "enrolment", description = "The card holder's public enrolment page per card: HTML, no credentials"),
        (name = "links", description = "Links in messages: unsubscribe and open tracking"),
        (name = "webhooks", description = "Provider callbacks, signature-checked"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from /auth/login, or an API key (lc_...)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's token (`operator_token` in the configuration); no merchant credential works here",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The metrics token (`metrics_token` in the configuration)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// The whole document, as served at `/api/openapi.json`: collected from the routes, then
/// refined (see [`refine`]).
pub fn document() -> anyhow::Result<utoipa::openapi::OpenApi> {
    let collected = crate::routes::app(ApiDoc::openapi()).split_for_parts().1;
    let refined = refine::refine(serde_json::to_value(collected)?);
    Ok(serde_json::from_value(refined)?)
}

/// The document as pretty JSON with a final newline (the checked-in form).
pub fn to_json() -> anyhow::Result<String> {
    let mut text = document()?.to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
