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
        (name = "mailings", description = "Mass campaigns over SMS, email, Telegram and Messenger"),
        (name = "balances", description = "SMS and email credits, and their ledger (read-only)"),
        (name = "operator", description = "The operator's API: merchants and their credits; authenticated with the operator's token"),
        (name = "changes", description = "The change feed: what changed, streamed as server-sent events"),
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

/// The methods each documented path answers, to tell a request with an undocumented method
/// on a known path (405 with `Allow`) from a request for an unknown path (404).
#[derive(Debug, Clone, Default)]
pub struct Methods {
    paths: Vec<(Vec<Segment>, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl Methods {
    pub fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        let paths = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let template = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(segment.to_owned())
                        }
                    })
                    .collect();
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(key, _)| {
                        matches!(
                            key.as_str(),
                            "get"
                                | "put"
                                | "post"
                                | "delete"
                                | "options"
                                | "head"
                                | "patch"
                                | "trace"
                        )
                    })
                    .map(|(key, _)| key.to_uppercase())
                    .collect();
                (template, methods)
            })
            .collect();
        Methods { paths }
    }

    /// `None` when the path is not documented or its template allows the method; otherwise
    /// the methods it allows, for `Allow`. As OpenAPI has it, a concrete path is matched before
    /// a templated one (`/segments/count` before `/segments/{id}`).
    pub fn refuses(&self, method: &str, path: &str) -> Option<Vec<String>> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let fitting = self.paths.iter().filter(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| match t {
                    Segment::Literal(l) => l == s,
                    Segment::Parameter => !s.is_empty(),
                })
        });
        // Literal segments earlier in the path win: compare their positions in order.
        let specificity = |template: &[Segment]| -> Vec<bool> {
            template
                .iter()
                .map(|t| matches!(t, Segment::Literal(_)))
                .collect()
        };
        let (_, methods) = fitting.max_by_key(|(template, _)| specificity(template))?;
        if methods.iter().any(|m| m == method) {
            return None;
        }
        let mut allowed = methods.clone();
        allowed.sort();
        Some(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undocumented_method_on_a_documented_path_is_refused_with_what_it_allows() {
        let methods = Methods::of(&document().unwrap_or_default());
        assert_eq!(
            methods.refuses("TRACE", "/api/v1/cards"),
            Some(vec!["GET".to_owned(), "POST".to_owned()])
        );
        assert_eq!(methods.refuses("GET", "/api/v1/cards"), None);
        assert_eq!(
            methods.refuses("PATCH", "/api/v1/cards/0192"),
            Some(vec![
                "DELETE".to_owned(),
                "GET".to_owned(),
                "PUT".to_owned()
            ])
        );
        // The concrete `/segments/count` (POST) wins over `/segments/{id}` (GET, PUT, DELETE).
        assert_eq!(
            methods.refuses("GET", "/api/v1/segments/count"),
            Some(vec!["POST".to_owned()])
        );
        assert_eq!(methods.refuses("POST", "/api/v1/segments/count"), None);
        assert_eq!(methods.refuses("GET", "/api/v1/segments/0192"), None);
        assert_eq!(methods.refuses("GET", "/api/v1/nothing"), None);
        assert_eq!(methods.refuses("DELETE", "/"), None);
    }
}
