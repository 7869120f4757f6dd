use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use loyalcast_domain::Fields;
use loyalcast_dto::{
    Channel, Consent, ConsentHistory, Customer, CustomerDetail, CustomerMessage, CustomerPatch,
    CustomerSort, ImportReport, NewCustomer, Page, Problem, SortOrder,
};
use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::PageParams;
use super::passes::to_dto as pass_dto;
use crate::auth::Auth;
use crate::customers::{self, ListQuery};
use crate::entity::{customer, customer_tag, pass};
use crate::error::{ApiError, Result};
use crate::idempotency::{self, IdempotencyKey};
use crate::import;
use crate::merchants;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Words to find in name, phone or email.
    pub q: Option<String>,
    /// Only customers with this tag.
    pub tag: Option<String>,
    pub sort: Option<CustomerSort>,
    pub order: Option<SortOrder>,
}

/// Customers, searchable, sortable and paged.
#[utoipa::path(
    tag = "customers",
    params(ListParams, PageParams),
    responses((status = 200, body = Page<Customer>), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/customers")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    params: web::Query<ListParams>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<Customer>>> {
    let params = params.into_inner();
    if params.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::field(
            "q",
            "too_long",
            "a search is at most 100 characters",
        ));
    }
    let (page, per_page) = paging.resolve()?;
    let query = ListQuery {
        search: params.q,
        tag: params.tag,
        sort: params.sort.unwrap_or_default(),
        order: params.order.unwrap_or_default(),
        page,
        per_page,
    };
    let (items, total) = customers::list(&state.db, auth.merchant_id, &query).await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Add a customer. `phone` may be national (read in the merchant's country).
#[utoipa::path(
    tag = "customers",
    request_body = NewCustomer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 409, description = "Another customer has this phone or email (`errors` names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = Customer),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<NewCustomer>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    if input.consent.is_some_and(|c| c != Consent::default()) {
        auth.require_consent_right()?;
    }
    let merchant = merchants::find(&state.db, auth.merchant_id).await?;
    let now = state.clock.now();
    let today = now
        .with_timezone(&merchants::time_zone(&merchant))
        .date_naive();
    let mut fields = Fields::new();
    let record = customers::parse(
        &input,
        merchants::country(&merchant),
        now,
        today,
        &mut fields,
    );
    fields.finish()?;
    let record =
        record.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("parsed customer missing")))?;
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &input,
        StatusCode::CREATED,
        async |txn| {
            customers::ensure_contact_free(txn, auth.merchant_id, &record, None).await?;
            customers::insert(txn, auth.merchant_id, &record, auth.actor(), now).await
        },
    )
    .await
}

/// A customer with their installed passes.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/customers/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<CustomerDetail>> {
    let customer = customers::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let passes = pass::Entity::find()
        .filter(pass::Column::MerchantId.eq(auth.merchant_id))
        .filter(pass::Column::CustomerId.eq(customer.id))
        .order_by_asc(pass::Column::InstalledAt)
        .all(&state.db)
        .await?;
    Ok(web::Json(CustomerDetail {
        customer,
        passes: passes.iter().map(pass_dto).collect(),
    }))
}

/// Change some of a customer's fields; `null` clears an optional one.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path)),
    request_body = CustomerPatch,
    responses(
        (status = 409, description = "Another customer has this phone or email (`taken`), or the patch turns on a channel the customer opted out of themselves (`opted_out`, field `consent.<channel>`); nothing changes", body = Problem, content_type = "application/problem+json"),
        (status = 200, body = Customer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/customers/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    body: crate::json::Json<CustomerPatch>,
) -> Result<web::Json<Customer>> {
    let id = id.into_inner();
    let current = customers::find(&state.db, auth.merchant_id, id).await?;
    let merchant = merchants::find(&state.db, auth.merchant_id).await?;
    let now = state.clock.now();
    let today = now
        .with_timezone(&merchants::time_zone(&merchant))
        .date_naive();
    let patch = body.into_inner();
    if patch.consent.is_some_and(|c| c != current.consent) {
        auth.require_consent_right()?;
    }
    let input = customers::patched(&current, patch);
    let mut fields = Fields::new();
    let record = customers::parse(
        &input,
        merchants::country(&merchant),
        now,
        today,
        &mut fields,
    );
    fields.finish()?;
    let record =
        record.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("parsed customer missing")))?;
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    customers::ensure_contact_free(&txn, auth.merchant_id, &record, Some(id)).await?;
    let updated = customers::update(
        &txn,
        auth.merchant_id,
        id,
        &current,
        &record,
        auth.actor(),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(updated))
}

/// A customer's consent: per channel now, the channels they opted out of themselves, and
/// the latest 200 changes (newest first) with their source, who made them and when.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ConsentHistory), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/customers/{id}/consent")]
pub async fn consent(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<ConsentHistory>> {
    let customer = customers::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    Ok(web::Json(
        customers::consent_history(&state.db, &customer).await?,
    ))
}

/// Every message the customer was sent (mailings on their channels, wallet pushes to their
/// passes), newest first, with its status and, when it failed, why.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Page<CustomerMessage>),
        (status = 400, description = "A page or page size out of range", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<CustomerMessage>>> {
    let (page, per_page) = paging.resolve()?;
    let customer = customers::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let (items, total) = customers::messages(&state.db, customer.id, page, per_page).await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// The events recorded for the customer (by integrations, and the cards they installed),
/// latest first.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Page<loyalcast_dto::CustomerEvent>),
        (status = 400, description = "A page or page size out of range", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/events")]
pub async fn events(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<loyalcast_dto::CustomerEvent>>> {
    let (page, per_page) = paging.resolve()?;
    let customer = customers::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let (items, total) =
        crate::customer_events::of_customer(&state.db, customer.id, page, per_page).await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Delete a customer, with their passes and tags.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[delete("/customers/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let model = customer::Entity::find_by_id(id.into_inner())
        .filter(customer::Column::MerchantId.eq(auth.merchant_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    model.delete(&state.db).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The consent an import declares for its rows (see [`import_csv`]).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Channels every row consents to where its own consent column is absent or empty,
    /// separated by commas (`sms,email`). Requires `legal_basis`.
    #[param(
        pattern = r"^(sms|email|telegram|messenger)(,(sms|email|telegram|messenger))*$",
        example = "sms,email"
    )]
    pub consent: Option<String>,
    /// Why the merchant may message these customers (e.g. "signed up in store, paper form
    /// 2026"), 1 to 500 characters on one line; recorded with every consent the import
    /// changes. Required with `consent`.
    #[param(
        min_length = 1,
        max_length = 500,
        pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub legal_basis: Option<String>,
}

impl ImportParams {
    fn declaration(&self) -> Result<import::Declaration> {
        let mut fields = Fields::new();
        let mut channels = Vec::new();
        if let Some(names) = &self.consent {
            for name in names.split(',') {
                match Channel::ALL.into_iter().find(|c| c.as_str() == name) {
                    Some(c) if !channels.contains(&c) => channels.push(c),
                    Some(_) => {}
                    None => {
                        fields.push(
                            "consent",
                            "invalid_channel",
                            "must list channels: sms, email, telegram, messenger",
                        );
                        break;
                    }
                }
            }
        }
        let legal_basis = match &self.legal_basis {
            Some(text) => fields.text("legal_basis", text, 500),
            None if self.consent.is_some() => {
                fields.push(
                    "legal_basis",
                    "required",
                    "say why the merchant may message these customers",
                );
                None
            }
            None => None,
        };
        fields.finish()?;
        Ok(import::Declaration {
            channels,
            legal_basis,
        })
    }
}

/// Import customers from CSV (`Content-Type: text/csv`).
///
/// The header names the columns: `first_name` (or `name`), `last_name`, `phone`, `email`,
/// `birthday` (YYYY-MM-DD), `tags` (separated by `;`), `points`, `visits`, `last_visit`,
/// `telegram_chat_id`, `messenger_psid`, `sms_opt_in`, `email_opt_in` (yes/no). Invalid rows
/// are reported by line and not written; a row with the phone or email of an existing
/// customer (or of an earlier row) is merged into that customer.
///
/// Consent is only what the file or the import gives: a new customer has a channel on when
/// its row's consent column says yes, or the column is absent or empty and the import
/// declares consent on that channel (`consent=sms,email` with `legal_basis`); every other
/// channel is off. A merged customer keeps what the row says nothing about; a `no` turns a
/// channel off. A `yes` on a channel the customer opted out of themselves (STOP, an
/// unsubscribe link) leaves it off, and the row is listed in `notices` (`opted_out`). Each
/// change is recorded in the customer's consent history (source `import`).
///
/// The file is UTF-8 text (Excel's "CSV UTF-8": its byte order mark is fine), with lines
/// ended by LF, CR LF or CR. A file that cannot be read as such text is refused whole, with
/// the line that shows it, and nothing of it is written.
#[utoipa::path(
    tag = "customers",
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = ImportReport),
        (status = 400, description = "The file cannot be read as CSV text (not UTF-8, a NUL byte, a quote never closed); the detail names the line", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is over the import limit, or holds more than 100,000 rows", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The header names no first_name column, names one field twice, or has more than 1,000 columns; or `consent` names an unknown channel, or comes without `legal_basis`", body = Problem, content_type = "application/problem+json"),
    ),
    params(ImportParams),
    security(("bearer" = []))
)]
#[post("/customers/import")]
pub async fn import_csv(
    state: web::Data<AppState>,
    auth: Auth,
    params: web::Query<ImportParams>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<ImportReport>> {
    let declaration = params.declaration()?;
    // Consent columns or a declared legal basis record consent: a key without
    // `consent:write` may import contact data only.
    let consent_right = auth.require_consent_right();
    let may_record_consent = consent_right.is_ok();
    if !declaration.channels.is_empty() {
        consent_right?;
    }
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !(content_type.starts_with("text/csv") || content_type.starts_with("application/csv")) {
        return Err(ApiError::UnsupportedMediaType(
            "Send the file as text/csv.".to_owned(),
        ));
    }
    // Read here rather than by the `Bytes` extractor, whose refusal of a file over the limit
    // is plain text; checked before a byte is read when the length is declared.
    let limit = state.config.max_import_bytes;
    let body = crate::body::read(&req, payload, limit, || {
        format!(
            "The file is larger than the import limit of {limit} bytes ({}); split it into \
             smaller files. Nothing was imported.",
            crate::body::size(limit)
        )
    })
    .await?;
    if body.is_empty() {
        return Err(ApiError::field("file", "required", "the file is empty"));
    }
    let merchant = merchants::find(&state.db, auth.merchant_id).await?;
    let now = state.clock.now();
    let today = now
        .with_timezone(&merchants::time_zone(&merchant))
        .date_naive();
    let report = import::run(
        &state.db,
        auth.merchant_id,
        merchants::country(&merchant),
        declaration,
        may_record_consent,
        auth.actor(),
        now,
        today,
        body,
    )
    .await?;
    Ok(web::Json(report))
}

/// Every tag in use, alphabetically.
#[utoipa::path(
    tag = "customers",
    responses((status = 200, body = Vec<String>), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/tags")]
pub async fn tags(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Vec<String>>> {
    let tags: Vec<String> = customer_tag::Entity::find()
        .select_only()
        .column(customer_tag::Column::Tag)
        .distinct()
        .filter(customer_tag::Column::MerchantId.eq(auth.merchant_id))
        .order_by_asc(customer_tag::Column::Tag)
        .limit(1000)
        .into_tuple()
        .all(&state.db)
        .await?;
    Ok(web::Json(tags))
}

#[cfg(test)]
mod tests {
    use super::ImportParams;

    #[test]
    fn the_documented_channel_list_is_the_check() {
        let pattern =
            regex::Regex::new(loyalcast_dto::text::CHANNEL_LIST).unwrap_or_else(|e| panic!("{e}"));
        for sample in [
            "",
            "sms",
            "sms,email",
            "sms,sms",
            "email,telegram,messenger",
            "sms,",
            ",sms",
            "sms, email",
            "SMS",
            "fax",
            "sms,,email",
        ] {
            let params = ImportParams {
                consent: Some(sample.to_owned()),
                legal_basis: Some("signed up in store".to_owned()),
            };
            assert_eq!(
                pattern.is_match(sample),
                params.declaration().is_ok(),
                "{sample:?}"
            );
        }
    }
}
