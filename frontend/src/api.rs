//! A typed client for the Loyalcast REST API, over the shared `loyalcast-dto` types.
//!
//! Every call goes to the same origin under `/api/v1`. Errors come back as RFC 9457
//! problem documents; they are parsed into the DTO [`Problem`] so that forms can show each
//! field error next to its field. A 401 on an authenticated call means the session is gone:
//! the client clears it, and the app shell sends the user to the sign-in page.

use gloo_net::http::{Request, RequestBuilder, Response};
use loyalcast_dto::{
    ApiKey, Balances, Card, CardInput, CountRequest, CreatedApiKey, CreditsPurchase, Customer,
    CustomerDetail, CustomerSort, HeaderFigures, LedgerEntry, LoginRequest, MailingSummary, Me,
    NewApiKey, Page, Problem, Segment, SegmentCount, SegmentInput, Session, SortOrder, TeamMember,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use leptos::prelude::{provide_context, use_context};

use crate::session::{Auth, use_auth};

const BASE: &str = "/api/v1";

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server answered with an error; its problem document (or one made up from the
    /// status line when the body was not a problem document).
    Problem(Problem),
    /// The request never got an answer: offline, server down, blocked.
    Network(String),
    /// The server answered 2xx but with a body this app cannot read.
    Decode(String),
}

impl ApiError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Problem(p) => Some(p.status),
            _ => None,
        }
    }

    /// One sentence for a person.
    pub fn message(&self) -> String {
        match self {
            ApiError::Problem(p) => match &p.detail {
                Some(detail) if !detail.is_empty() => detail.clone(),
                _ => p.title.clone(),
            },
            ApiError::Network(_) => {
                "Cannot reach Loyalcast. Check your connection and try again.".to_owned()
            }
            ApiError::Decode(_) => "The server sent an answer this page cannot read.".to_owned(),
        }
    }

    /// The message of the first error on `field` (or on a path under it), if any.
    pub fn field(&self, field: &str) -> Option<String> {
        match self {
            ApiError::Problem(p) => p
                .errors
                .iter()
                .find(|e| {
                    e.field == field
                        || e.field
                            .strip_prefix(field)
                            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                })
                .map(|e| e.message.clone()),
            _ => None,
        }
    }

    /// Field errors that `known` fields do not show, so that no error is ever hidden.
    pub fn other_field_errors(&self, known: &[&str]) -> Vec<String> {
        match self {
            ApiError::Problem(p) => p
                .errors
                .iter()
                .filter(|e| {
                    !known.iter().any(|k| {
                        e.field == *k
                            || e.field
                                .strip_prefix(k)
                                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
                    })
                })
                .map(|e| {
                    if e.field.is_empty() {
                        e.message.clone()
                    } else {
                        format!("{}: {}", e.field, e.message)
                    }
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl ApiError {
    /// The same error without the errors on `field` (or under it): what is left once that
    /// field is fixed. A validation problem left with no field errors is no error at all.
    pub fn without_field(&self, field: &str) -> Option<ApiError> {
        let ApiError::Problem(p) = self else {
            return Some(self.clone());
        };
        if p.errors.is_empty() {
            return Some(self.clone());
        }
        let errors: Vec<_> = p
            .errors
            .iter()
            .filter(|e| {
                !(e.field == field
                    || e.field
                        .strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
            })
            .cloned()
            .collect();
        if errors.is_empty() {
            return None;
        }
        Some(ApiError::Problem(Problem {
            errors,
            ..p.clone()
        }))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Query of the customer list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerQuery {
    pub q: String,
    pub page: u64,
    pub per_page: u64,
    pub sort: CustomerSort,
    pub order: SortOrder,
    pub tag: Option<String>,
}

pub fn sort_param(sort: CustomerSort) -> &'static str {
    match sort {
        CustomerSort::Name => "name",
        CustomerSort::CreatedAt => "created_at",
        CustomerSort::Visits => "visits",
        CustomerSort::LastVisitAt => "last_visit_at",
        CustomerSort::Points => "points",
    }
}

pub fn parse_sort(value: &str) -> Option<CustomerSort> {
    Some(match value {
        "name" => CustomerSort::Name,
        "created_at" => CustomerSort::CreatedAt,
        "visits" => CustomerSort::Visits,
        "last_visit_at" => CustomerSort::LastVisitAt,
        "points" => CustomerSort::Points,
        _ => return None,
    })
}

pub fn order_param(order: SortOrder) -> &'static str {
    match order {
        SortOrder::Asc => "asc",
        SortOrder::Desc => "desc",
    }
}

pub fn parse_order(value: &str) -> Option<SortOrder> {
    match value {
        "asc" => Some(SortOrder::Asc),
        "desc" => Some(SortOrder::Desc),
        _ => None,
    }
}

/// The API client. It is `Copy`: pages take it from the context and move it into futures.
#[derive(Clone, Copy)]
pub struct Api {
    auth: Auth,
}

impl Api {
    pub fn new(auth: Auth) -> Self {
        Api { auth }
    }

    fn url(path: &str) -> String {
        format!("{BASE}{path}")
    }

    /// Adds the bearer token of the current session, if any.
    fn authorize(&self, builder: RequestBuilder) -> (RequestBuilder, bool) {
        match self.auth.token() {
            Some(token) => (
                builder.header("Authorization", &format!("Bearer {token}")),
                true,
            ),
            None => (builder, false),
        }
    }

    /// Sends the request, with `body` (its text and content type) when given.
    async fn execute(
        &self,
        builder: RequestBuilder,
        body: Option<(String, &str)>,
    ) -> ApiResult<Response> {
        let (builder, authenticated) = self.authorize(builder.header("Accept", "application/json"));
        let request = match body {
            Some((text, content_type)) => builder
                .header("Content-Type", content_type)
                .body(text)
                .map_err(|e| ApiError::Network(e.to_string()))?,
            None => builder
                .build()
                .map_err(|e| ApiError::Network(e.to_string()))?,
        };
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        if response.ok() {
            return Ok(response);
        }
        let problem = read_problem(&response).await;
        if problem.status == 401 && authenticated {
            self.auth.expire();
        }
        Err(ApiError::Problem(problem))
    }

    async fn json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> ApiResult<T> {
        let response = self.execute(builder, None).await?;
        decode(response).await
    }

    async fn json_with<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        body: &B,
    ) -> ApiResult<T> {
        let json = serde_json::to_string(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        let response = self
            .execute(builder, Some((json, "application/json")))
            .await?;
        decode(response).await
    }

    async fn no_content(&self, builder: RequestBuilder) -> ApiResult<()> {
        self.execute(builder, None).await.map(|_| ())
    }

    // --- auth -----------------------------------------------------------------------------

    pub async fn login(&self, request: &LoginRequest) -> ApiResult<Session> {
        // Never sends a stale token: a 401 here means bad credentials, not an expired session.
        let json = serde_json::to_string(request).map_err(|e| ApiError::Decode(e.to_string()))?;
        let response = Request::post(&Self::url("/auth/login"))
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(json)
            .map_err(|e| ApiError::Network(e.to_string()))?
            .send()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        if !response.ok() {
            return Err(ApiError::Problem(read_problem(&response).await));
        }
        decode(response).await
    }

    pub async fn logout(&self) -> ApiResult<()> {
        self.no_content(Request::post(&Self::url("/auth/logout")))
            .await
    }

    pub async fn change_password(
        &self,
        input: &loyalcast_dto::ChangePassword,
    ) -> ApiResult<Session> {
        self.json_with(Request::post(&Self::url("/auth/password")), input)
            .await
    }

    pub async fn sign_out_everywhere(&self) -> ApiResult<()> {
        self.no_content(Request::post(&Self::url("/auth/sign-out-everywhere")))
            .await
    }

    pub async fn me(&self) -> ApiResult<Me> {
        self.json(Request::get(&Self::url("/me"))).await
    }

    pub async fn figures(&self) -> ApiResult<HeaderFigures> {
        self.json(Request::get(&Self::url("/figures"))).await
    }

    /// A single-use ticket that opens the change stream (see [`crate::live`]).
    pub async fn stream_ticket(&self) -> ApiResult<loyalcast_dto::StreamTicket> {
        self.json(Request::post(&Self::url("/changes/tickets")))
            .await
    }

    // --- customers ------------------------------------------------------------------------

    pub async fn customers(&self, query: &CustomerQuery) -> ApiResult<Page<Customer>> {
        let page = query.page.max(1).to_string();
        let per_page = query.per_page.clamp(1, 100).to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("page", &page),
            ("per_page", &per_page),
            ("sort", sort_param(query.sort)),
            ("order", order_param(query.order)),
        ];
        let q = query.q.trim();
        if !q.is_empty() {
            params.push(("q", q));
        }
        if let Some(tag) = query.tag.as_deref() {
            params.push(("tag", tag));
        }
        self.json(Request::get(&Self::url("/customers")).query(params))
            .await
    }

    pub async fn customer(&self, id: Uuid) -> ApiResult<CustomerDetail> {
        self.json(Request::get(&Self::url(&format!("/customers/{id}"))))
            .await
    }

    /// One page of the messages a customer was sent, newest first.
    pub async fn customer_messages(
        &self,
        id: Uuid,
        page: u64,
        per_page: u64,
    ) -> ApiResult<Page<loyalcast_dto::CustomerMessage>> {
        self.json(Request::get(&Self::url(&format!(
            "/customers/{id}/messages?page={page}&per_page={per_page}"
        ))))
        .await
    }

    pub async fn customer_consent(&self, id: Uuid) -> ApiResult<loyalcast_dto::ConsentHistory> {
        self.json(Request::get(&Self::url(&format!(
            "/customers/{id}/consent"
        ))))
        .await
    }

    pub async fn create_customer(&self, input: &loyalcast_dto::NewCustomer) -> ApiResult<Customer> {
        self.json_with(Request::post(&Self::url("/customers")), input)
            .await
    }

    pub async fn update_customer(
        &self,
        id: Uuid,
        patch: &loyalcast_dto::CustomerPatch,
    ) -> ApiResult<Customer> {
        self.json_with(
            Request::patch(&Self::url(&format!("/customers/{id}"))),
            patch,
        )
        .await
    }

    pub async fn delete_customer(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!("/customers/{id}"))))
            .await
    }

    /// Imports a CSV file; `consent` and `legal_basis` declare what every row without its
    /// own consent column agreed to.
    pub async fn import_customers(
        &self,
        csv: String,
        consent: &[loyalcast_dto::Channel],
        legal_basis: &str,
    ) -> ApiResult<loyalcast_dto::ImportReport> {
        let mut url = Self::url("/customers/import");
        if !consent.is_empty() {
            let channels: Vec<&str> = consent.iter().map(|c| c.as_str()).collect();
            url.push_str(&format!(
                "?consent={}&legal_basis={}",
                channels.join(","),
                js_sys::encode_uri_component(legal_basis.trim())
            ));
        }
        let response = self
            .execute(Request::post(&url), Some((csv, "text/csv; charset=utf-8")))
            .await?;
        decode(response).await
    }

    pub async fn tags(&self) -> ApiResult<Vec<String>> {
        self.json(Request::get(&Self::url("/tags"))).await
    }

    // --- cards ----------------------------------------------------------------------------

    pub async fn cards(&self, page: u64, per_page: u64) -> ApiResult<Page<Card>> {
        let page = page.max(1).to_string();
        let per_page = per_page.clamp(1, 100).to_string();
        self.json(
            Request::get(&Self::url("/cards"))
                .query([("page", page.as_str()), ("per_page", per_page.as_str())]),
        )
        .await
    }

    pub async fn create_card(&self, input: &CardInput) -> ApiResult<Card> {
        self.json_with(Request::post(&Self::url("/cards")), input)
            .await
    }

    pub async fn update_card(&self, id: Uuid, input: &CardInput) -> ApiResult<Card> {
        self.json_with(Request::put(&Self::url(&format!("/cards/{id}"))), input)
            .await
    }

    pub async fn delete_card(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!("/cards/{id}"))))
            .await
    }

    // --- segments -------------------------------------------------------------------------

    pub async fn segment(&self, id: Uuid) -> ApiResult<Segment> {
        self.json(Request::get(&Self::url(&format!("/segments/{id}"))))
            .await
    }

    pub async fn segments(&self, page: u64, per_page: u64) -> ApiResult<Page<Segment>> {
        let page = page.max(1).to_string();
        let per_page = per_page.clamp(1, 100).to_string();
        self.json(
            Request::get(&Self::url("/segments"))
                .query([("page", page.as_str()), ("per_page", per_page.as_str())]),
        )
        .await
    }

    pub async fn create_segment(&self, input: &SegmentInput) -> ApiResult<Segment> {
        self.json_with(Request::post(&Self::url("/segments")), input)
            .await
    }

    pub async fn update_segment(&self, id: Uuid, input: &SegmentInput) -> ApiResult<Segment> {
        self.json_with(Request::put(&Self::url(&format!("/segments/{id}"))), input)
            .await
    }

    pub async fn delete_segment(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!("/segments/{id}"))))
            .await
    }

    pub async fn count_segment(&self, request: &CountRequest) -> ApiResult<SegmentCount> {
        self.json_with(Request::post(&Self::url("/segments/count")), request)
            .await
    }

    // --- mailings and balances --------------------------------------------------------------

    /// The mailings history, newest first, optionally searched by name.
    pub async fn mailings(
        &self,
        q: &str,
        page: u64,
        per_page: u64,
    ) -> ApiResult<Page<MailingSummary>> {
        let page = page.max(1).to_string();
        let per_page = per_page.clamp(1, 100).to_string();
        let mut params: Vec<(&str, &str)> = vec![("page", &page), ("per_page", &per_page)];
        let q = q.trim();
        if !q.is_empty() {
            params.push(("q", q));
        }
        self.json(Request::get(&Self::url("/mailings")).query(params))
            .await
    }

    pub async fn balances(&self) -> ApiResult<Balances> {
        self.json(Request::get(&Self::url("/balances"))).await
    }

    pub async fn credits_purchase(&self) -> ApiResult<CreditsPurchase> {
        self.json(Request::get(&Self::url("/balances/purchase")))
            .await
    }

    pub async fn ledger(&self, page: u64, per_page: u64) -> ApiResult<Page<LedgerEntry>> {
        let page = page.max(1).to_string();
        let per_page = per_page.clamp(1, 100).to_string();
        self.json(
            Request::get(&Self::url("/balances/ledger"))
                .query([("page", page.as_str()), ("per_page", per_page.as_str())]),
        )
        .await
    }

    // --- settings -------------------------------------------------------------------------

    pub async fn team(&self) -> ApiResult<Vec<TeamMember>> {
        self.json(Request::get(&Self::url("/team"))).await
    }

    pub async fn change_team_role(
        &self,
        id: Uuid,
        role: loyalcast_dto::Role,
    ) -> ApiResult<TeamMember> {
        self.json_with(
            Request::patch(&Self::url(&format!("/team/{id}"))),
            &loyalcast_dto::TeamMemberChange { role },
        )
        .await
    }

    pub async fn invitations(&self) -> ApiResult<Vec<loyalcast_dto::Invitation>> {
        self.json(Request::get(&Self::url("/team/invitations")))
            .await
    }

    pub async fn invite(
        &self,
        input: &loyalcast_dto::NewInvitation,
    ) -> ApiResult<loyalcast_dto::Invitation> {
        self.json_with(Request::post(&Self::url("/team/invitations")), input)
            .await
    }

    pub async fn withdraw_invitation(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!(
            "/team/invitations/{id}"
        ))))
        .await
    }

    /// What an invitation link offers (no credentials).
    pub async fn invitation(&self, token: &str) -> ApiResult<loyalcast_dto::InvitationOffer> {
        self.json(Request::get(&Self::url(&format!(
            "/invitations/{}",
            js_sys::encode_uri_component(token)
        ))))
        .await
    }

    /// Joins the team through an invitation link; the answer is a session.
    pub async fn accept_invitation(
        &self,
        token: &str,
        input: &loyalcast_dto::AcceptInvitation,
    ) -> ApiResult<loyalcast_dto::Session> {
        self.json_with(
            Request::post(&Self::url(&format!(
                "/invitations/{}/accept",
                js_sys::encode_uri_component(token)
            ))),
            input,
        )
        .await
    }

    pub async fn remove_team_member(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!("/team/{id}"))))
            .await
    }

    pub async fn update_merchant(
        &self,
        change: &loyalcast_dto::UpdateMerchant,
    ) -> ApiResult<loyalcast_dto::Merchant> {
        self.json_with(Request::patch(&Self::url("/merchant")), change)
            .await
    }

    pub async fn api_keys(&self) -> ApiResult<Vec<ApiKey>> {
        self.json(Request::get(&Self::url("/api-keys"))).await
    }

    pub async fn create_api_key(&self, input: &NewApiKey) -> ApiResult<CreatedApiKey> {
        self.json_with(Request::post(&Self::url("/api-keys")), input)
            .await
    }

    pub async fn delete_api_key(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!("/api-keys/{id}"))))
            .await
    }
}

async fn decode<T: DeserializeOwned>(response: Response) -> ApiResult<T> {
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ApiError::Decode(e.to_string()))
}

/// Reads an error response as a problem document, or makes one from the status line.
async fn read_problem(response: &Response) -> Problem {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Problem>(&text) {
        Ok(problem) => problem,
        Err(_) => Problem {
            kind: "about:blank".to_owned(),
            title: fallback_title(status, &response.status_text()),
            status,
            detail: None,
            errors: Vec::new(),
        },
    }
}

fn fallback_title(status: u16, status_text: &str) -> String {
    match status {
        401 => "Your session has ended. Please sign in again.".to_owned(),
        403 => "Your role does not allow this.".to_owned(),
        404 => "Not found.".to_owned(),
        429 => "Too many attempts. Please wait a moment and try again.".to_owned(),
        500..=599 => format!("The server had a problem ({status}). Please try again."),
        _ if !status_text.is_empty() => format!("{status} {status_text}"),
        _ => format!("Request failed ({status})."),
    }
}

pub fn provide_api(auth: Auth) {
    provide_context(Api::new(auth));
}

/// The client from the context (provided by `App`).
pub fn use_api() -> Api {
    use_context::<Api>().unwrap_or_else(|| Api::new(use_auth()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalcast_dto::FieldError;

    fn validation() -> ApiError {
        ApiError::Problem(Problem {
            kind: "https://loyalcast.dev/problems/validation".to_owned(),
            title: "Invalid request".to_owned(),
            status: 422,
            detail: Some("Some fields are invalid.".to_owned()),
            errors: vec![
                FieldError {
                    field: "name".to_owned(),
                    code: "taken".to_owned(),
                    message: "Another segment has this name.".to_owned(),
                },
                FieldError {
                    field: "rule.rules[1].month".to_owned(),
                    code: "out_of_range".to_owned(),
                    message: "A month is 1 to 12.".to_owned(),
                },
                FieldError {
                    field: "design.label_color".to_owned(),
                    code: "invalid".to_owned(),
                    message: "Use #rrggbb.".to_owned(),
                },
            ],
        })
    }

    #[test]
    fn field_errors_are_found_by_field_and_by_prefix() {
        let e = validation();
        assert_eq!(
            e.field("name").as_deref(),
            Some("Another segment has this name.")
        );
        assert_eq!(e.field("rule").as_deref(), Some("A month is 1 to 12."));
        assert_eq!(
            e.field("design.label_color").as_deref(),
            Some("Use #rrggbb.")
        );
        assert_eq!(e.field("nam"), None);
        assert_eq!(e.field("design.label"), None);
        assert_eq!(e.message(), "Some fields are invalid.");
        assert_eq!(e.status(), Some(422));
    }

    #[test]
    fn errors_no_field_shows_are_listed_apart() {
        let e = validation();
        assert_eq!(
            e.other_field_errors(&["name", "design"]),
            vec!["rule.rules[1].month: A month is 1 to 12.".to_owned()]
        );
    }

    #[test]
    fn sort_and_order_parameters_round_trip() {
        for sort in [
            CustomerSort::Name,
            CustomerSort::CreatedAt,
            CustomerSort::Visits,
            CustomerSort::LastVisitAt,
            CustomerSort::Points,
        ] {
            assert_eq!(parse_sort(sort_param(sort)), Some(sort));
        }
        assert_eq!(parse_order("desc"), Some(SortOrder::Desc));
        assert_eq!(parse_order("sideways"), None);
    }
}

// --- mailings: estimate, create, report and actions ------------------------------------------

/// What can be done to a mailing once it exists (besides sending a draft).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailingAction {
    Pause,
    Resume,
    Cancel,
}

impl MailingAction {
    fn path(self) -> &'static str {
        match self {
            MailingAction::Pause => "pause",
            MailingAction::Resume => "resume",
            MailingAction::Cancel => "cancel",
        }
    }
}

impl Api {
    /// Who would receive a mailing and what it would cost, without creating it.
    pub async fn estimate_mailing(
        &self,
        request: &loyalcast_dto::MailingEstimateRequest,
    ) -> ApiResult<loyalcast_dto::MailingEstimate> {
        self.json_with(Request::post(&Self::url("/mailings/estimate")), request)
            .await
    }

    /// Creates a mailing (sent now, scheduled, or saved as a draft). The same
    /// `idempotency_key` for the same form submission makes a repeated request harmless.
    pub async fn create_mailing(
        &self,
        input: &loyalcast_dto::NewMailing,
        idempotency_key: &str,
    ) -> ApiResult<loyalcast_dto::Mailing> {
        self.json_with(
            Request::post(&Self::url("/mailings")).header("Idempotency-Key", idempotency_key),
            input,
        )
        .await
    }

    pub async fn mailing(&self, id: Uuid) -> ApiResult<loyalcast_dto::Mailing> {
        self.json(Request::get(&Self::url(&format!("/mailings/{id}"))))
            .await
    }

    /// Changes a draft (the fields given).
    pub async fn edit_mailing(
        &self,
        id: Uuid,
        changes: &loyalcast_dto::MailingChanges,
    ) -> ApiResult<loyalcast_dto::Mailing> {
        self.json_with(
            Request::patch(&Self::url(&format!("/mailings/{id}"))),
            changes,
        )
        .await
    }

    /// Sends a draft, now or at `send_at`.
    pub async fn send_mailing(
        &self,
        id: Uuid,
        input: &loyalcast_dto::SendMailing,
    ) -> ApiResult<loyalcast_dto::Mailing> {
        self.json_with(
            Request::post(&Self::url(&format!("/mailings/{id}/send"))),
            input,
        )
        .await
    }

    pub async fn mailing_action(
        &self,
        id: Uuid,
        action: MailingAction,
    ) -> ApiResult<loyalcast_dto::Mailing> {
        self.json(Request::post(&Self::url(&format!(
            "/mailings/{id}/{}",
            action.path()
        ))))
        .await
    }

    /// A new mailing to the recipients whose messages failed; returns the new mailing.
    /// One page of a mailing's messages that failed, are retried or are uncertain.
    pub async fn mailing_problems(
        &self,
        id: Uuid,
        state: Option<loyalcast_dto::ProblemState>,
        page: u64,
        per_page: u64,
    ) -> ApiResult<Page<loyalcast_dto::MailingProblem>> {
        let mut query = vec![
            ("page", page.to_string()),
            ("per_page", per_page.to_string()),
        ];
        if let Some(state) = state {
            query.push(("state", state.as_str().to_owned()));
        }
        self.json(
            Request::get(&Self::url(&format!("/mailings/{id}/problems")))
                .query(query.iter().map(|(k, v)| (*k, v.as_str()))),
        )
        .await
    }

    pub async fn resend_failed(
        &self,
        id: Uuid,
        idempotency_key: &str,
    ) -> ApiResult<loyalcast_dto::Mailing> {
        self.json(
            Request::post(&Self::url(&format!("/mailings/{id}/resend-failed")))
                .header("Idempotency-Key", idempotency_key),
        )
        .await
    }
}

impl Api {
    /// Who a push would reach, per platform.
    pub async fn estimate_push(
        &self,
        request: &loyalcast_dto::PushEstimateRequest,
    ) -> ApiResult<loyalcast_dto::PushEstimate> {
        self.json_with(Request::post(&Self::url("/pushes/estimate")), request)
            .await
    }

    /// Sends a push now or schedules it; one submission sends once (`idempotency_key`).
    pub async fn create_push(
        &self,
        input: &loyalcast_dto::NewPush,
        idempotency_key: &str,
    ) -> ApiResult<loyalcast_dto::Push> {
        self.json_with(
            Request::post(&Self::url("/pushes")).header("Idempotency-Key", idempotency_key),
            input,
        )
        .await
    }

    pub async fn pushes(&self, page: u64, per_page: u64) -> ApiResult<Page<loyalcast_dto::Push>> {
        self.json(Request::get(&Self::url(&format!(
            "/pushes?page={page}&per_page={per_page}"
        ))))
        .await
    }

    pub async fn cancel_push(&self, id: Uuid) -> ApiResult<loyalcast_dto::Push> {
        self.json(Request::post(&Self::url(&format!("/pushes/{id}/cancel"))))
            .await
    }

    // --- automations ----------------------------------------------------------------------

    pub async fn automations(&self, card_id: Uuid) -> ApiResult<Vec<loyalcast_dto::Automation>> {
        self.json(Request::get(&Self::url(&format!(
            "/automations?card_id={card_id}"
        ))))
        .await
    }

    pub async fn create_automation(
        &self,
        input: &loyalcast_dto::NewAutomation,
    ) -> ApiResult<loyalcast_dto::Automation> {
        self.json_with(Request::post(&Self::url("/automations")), input)
            .await
    }

    pub async fn update_automation(
        &self,
        id: Uuid,
        changes: &loyalcast_dto::AutomationChanges,
    ) -> ApiResult<loyalcast_dto::Automation> {
        self.json_with(
            Request::patch(&Self::url(&format!("/automations/{id}"))),
            changes,
        )
        .await
    }

    pub async fn delete_automation(&self, id: Uuid) -> ApiResult<()> {
        self.no_content(Request::delete(&Self::url(&format!("/automations/{id}"))))
            .await
    }

    pub async fn automation_settings(&self) -> ApiResult<loyalcast_dto::AutomationSettings> {
        self.json(Request::get(&Self::url("/automation-settings")))
            .await
    }

    pub async fn set_automation_settings(
        &self,
        input: &loyalcast_dto::AutomationSettings,
    ) -> ApiResult<loyalcast_dto::AutomationSettings> {
        self.json_with(Request::put(&Self::url("/automation-settings")), input)
            .await
    }
}

/// A random version-4 UUID as text, for an `Idempotency-Key` (from the browser's
/// `crypto.getRandomValues`, falling back to `Math.random` where it is unavailable).
pub fn idempotency_key() -> String {
    use wasm_bindgen::{JsCast, JsValue};
    let mut bytes = [0_u8; 16];
    let filled = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("crypto")).ok())
        .and_then(|crypto| {
            let get = js_sys::Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))
                .ok()?
                .dyn_into::<js_sys::Function>()
                .ok()?;
            let array = js_sys::Uint8Array::new_with_length(16);
            get.call1(&crypto, &array).ok()?;
            array.copy_to(&mut bytes);
            Some(())
        })
        .is_some();
    if !filled {
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
