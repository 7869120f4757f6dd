//! The card holder's way in: a public enrolment page per card (`/join/{card_id}`). The holder
//! gives a name, a phone or an email, a birthday if they like, and ticks the channels they
//! agree to be messaged on (recorded as their own consent, source `enrolment`); they get
//! their pass, with "Add to Apple Wallet" downloading it signed. Google Wallet is not
//! connected yet, and the page says so, as it says when Apple Wallet passes are signed with
//! development material an iPhone refuses.
//!
//! Plain HTML forms, no script: the page works on any phone. Enrolments are limited per
//! client address (`auth::throttle::ENROLMENTS_PER_MINUTE`) in each process.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::NaiveDate;
use loyalcast_domain::Fields;
use loyalcast_dto::{Consent, ConsentSource, NewCustomer};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::engine::consent::Actor;
use crate::entity::{card, merchant, pass};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::{customers, merchants};

/// What the enrolment form sends (`application/x-www-form-urlencoded`). Empty fields are
/// left out; a ticked box sends `on`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct EnrolForm {
    /// Given name: 1 to 100 characters on one line.
    #[schema(max_length = 100)]
    pub first_name: String,
    /// Family name, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub last_name: String,
    /// A phone number (national for the merchant's country, or international with `+`).
    #[serde(default)]
    #[schema(max_length = 40)]
    pub phone: String,
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: String,
    /// `YYYY-MM-DD`, or empty.
    #[serde(default)]
    #[schema(max_length = 10)]
    pub birthday: String,
    /// `on`: the holder agrees to SMS messages.
    #[serde(default)]
    pub consent_sms: Option<String>,
    /// `on`: the holder agrees to email messages.
    #[serde(default)]
    pub consent_email: Option<String>,
}

use loyalcast_delivery::template::escape_html as escape;

fn page(
    status: actix_web::http::StatusCode,
    title: &str,
    colour: &str,
    body: &str,
) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{title}</title><body style=\"font-family:-apple-system,Segoe UI,Roboto,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem;color:#1f2933\">\
             <div style=\"height:.5rem;border-radius:4px;background:{colour}\"></div>\
             <h1 style=\"font-size:1.4rem\">{title}</h1>{body}\
             <style>label{{display:block;margin:.8rem 0 .2rem;font-weight:600}}input[type=text],input[type=tel],input[type=email],input[type=date]{{width:100%;box-sizing:border-box;font:inherit;padding:.5rem;border:1px solid #9aa5b1;border-radius:6px}}\
             .check{{font-weight:400;display:flex;gap:.5rem;align-items:flex-start}}.error{{color:#b42318;margin:.2rem 0}}\
             .btn{{display:inline-block;font:inherit;padding:.7rem 1.2rem;border-radius:8px;border:0;background:#111;color:#fff;text-decoration:none;margin:.4rem 0}}\
             .off{{background:#d9dde3;color:#52606d}}.note{{color:#52606d;font-size:.9rem}}</style></body></html>"
        ))
}

async fn card_of(state: &AppState, card_id: Uuid) -> Result<(card::Model, merchant::Model)> {
    let card = card::Entity::find_by_id(card_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let merchant = merchant::Entity::find_by_id(card.merchant_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((card, merchant))
}

fn colour_of(card: &card::Model) -> String {
    // Stored as checked `#rrggbb`: nothing to escape.
    card.background_color.clone()
}

fn form_html(
    card: &card::Model,
    merchant: &merchant::Model,
    form: &EnrolForm,
    errors: &Fields,
) -> String {
    let errors = errors.errors();
    let error = |field: &str| {
        errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| {
                format!(
                    "<p class=\"error\" id=\"{field}-error\">{}</p>",
                    escape(&e.message)
                )
            })
            .collect::<String>()
    };
    let checked = |v: &Option<String>| if v.is_some() { " checked" } else { "" };
    format!(
        "<p>Join <strong>{merchant}</strong>'s {card} and keep it in your phone's wallet.</p>\
         <form method=\"post\" action=\"/join/{id}\">\
         <label for=\"first_name\">First name</label><input id=\"first_name\" name=\"first_name\" type=\"text\" maxlength=\"100\" required autocomplete=\"given-name\" value=\"{first}\">{e_first}\
         <label for=\"last_name\">Last name</label><input id=\"last_name\" name=\"last_name\" type=\"text\" maxlength=\"100\" autocomplete=\"family-name\" value=\"{last}\">{e_last}\
         <label for=\"phone\">Phone</label><input id=\"phone\" name=\"phone\" type=\"tel\" maxlength=\"40\" autocomplete=\"tel\" value=\"{phone}\">{e_phone}\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" maxlength=\"254\" autocomplete=\"email\" value=\"{email}\">{e_email}\
         <label for=\"birthday\">Birthday <span class=\"note\">(optional)</span></label><input id=\"birthday\" name=\"birthday\" type=\"date\" value=\"{birthday}\">{e_birthday}\
         <p style=\"margin-top:1rem;font-weight:600\">May {merchant} send you offers?</p>\
         <label class=\"check\"><input type=\"checkbox\" name=\"consent_sms\" id=\"consent_sms\"{sms}> By SMS to the phone above</label>\
         <label class=\"check\"><input type=\"checkbox\" name=\"consent_email\" id=\"consent_email\"{mail}> By email to the address above</label>\
         <p class=\"note\">Leave them unticked and you still get your card. You can stop messages at any time (reply STOP, or use the link in an email).</p>\
         <button class=\"btn\" type=\"submit\">Get my card</button></form>",
        merchant = escape(&merchant.name),
        card = escape(&card.name),
        id = card.id,
        first = escape(&form.first_name),
        last = escape(&form.last_name),
        phone = escape(&form.phone),
        email = escape(&form.email),
        birthday = escape(&form.birthday),
        e_first = error("first_name"),
        e_last = error("last_name"),
        e_phone = error("phone"),
        e_email = error("email"),
        e_birthday = error("birthday"),
        sms = checked(&form.consent_sms),
        mail = checked(&form.consent_email),
    )
}

/// The enrolment page of a card: an HTML form.
#[utoipa::path(
    tag = "enrolment",
    params(("card_id" = Uuid, Path, description = "The card")),
    responses(
        (status = 200, description = "The enrolment form", content_type = "text/html"),
        (status = 404, description = "No such card", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/join/{card_id}")]
pub async fn page_form(
    state: web::Data<AppState>,
    card_id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let (card, merchant) = card_of(&state, card_id.into_inner()).await?;
    Ok(page(
        actix_web::http::StatusCode::OK,
        &escape(&card.name),
        &colour_of(&card),
        &form_html(&card, &merchant, &EnrolForm::default(), &Fields::new()),
    ))
}

fn blank_to_none(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Enrol: the customer is created with the consent they ticked (their own), their Apple pass
/// is issued, and the page offers it.
#[utoipa::path(
    tag = "enrolment",
    params(("card_id" = Uuid, Path, description = "The card")),
    request_body(content = EnrolForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Enrolled: a page with the wallet buttons", content_type = "text/html"),
        (status = 400, description = "Not a form of this shape", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such card", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The form again, with what to fix at each field", content_type = "text/html"),
        (status = 429, description = "Too many enrolments from this address; try again in a minute", content_type = "text/html"),
    )
)]
#[post("/join/{card_id}")]
pub async fn enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    card_id: web::Path<Uuid>,
    body: web::Form<EnrolForm>,
) -> Result<HttpResponse> {
    let (card, merchant) = card_of(&state, card_id.into_inner()).await?;
    let form = body.into_inner();
    let colour = colour_of(&card);
    if let Some(ip) = state.proxies.client(&req)
        && state.enrolments.check_key(&ip).is_err()
    {
        return Ok(page(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "Please wait a minute",
            &colour,
            "<p>Too many cards were requested from this connection. Try again in a minute.</p>",
        ));
    }
    let now = state.clock.now();
    let today = now
        .with_timezone(&merchants::time_zone(&merchant))
        .date_naive();
    let mut fields = Fields::new();
    let birthday = match blank_to_none(&form.birthday) {
        None => None,
        Some(b) => match NaiveDate::parse_from_str(&b, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                fields.push("birthday", "invalid_date", "enter the date as YYYY-MM-DD");
                None
            }
        },
    };
    let phone = blank_to_none(&form.phone);
    let email = blank_to_none(&form.email);
    if phone.is_none() && email.is_none() {
        fields.push(
            "phone",
            "required",
            "give a phone number or an email address",
        );
    }
    if form.consent_sms.is_some() && phone.is_none() {
        fields.push("phone", "required", "SMS needs a phone number");
    }
    if form.consent_email.is_some() && email.is_none() {
        fields.push("email", "required", "email needs an address");
    }
    let consent = Consent {
        sms: form.consent_sms.is_some(),
        email: form.consent_email.is_some(),
        ..Consent::default()
    };
    let input = NewCustomer {
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        phone,
        email,
        birthday,
        consent: None,
        ..NewCustomer::default()
    };
    let record = customers::parse(
        &input,
        merchants::country(&merchant),
        now,
        today,
        &mut fields,
    );
    let invalid = |fields: &Fields| {
        page(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            &escape(&card.name),
            &colour,
            &format!(
                "<p class=\"error\" role=\"alert\">Please check the fields below.</p>{}",
                form_html(&card, &merchant, &form, fields)
            ),
        )
    };
    let Some(record) = record.filter(|_| !fields.has_errors()) else {
        return Ok(invalid(&fields));
    };
    let txn = state.db.begin().await?;
    match customers::ensure_contact_free(&txn, merchant.id, &record, None).await {
        Ok(()) => {}
        Err(ApiError::Taken(taken)) => {
            let mut fields = Fields::new();
            for e in taken {
                fields.push(
                    e.field,
                    "taken",
                    "this is already registered for the card: ask in store to get your card again",
                );
            }
            return Ok(invalid(&fields));
        }
        Err(other) => return Err(other),
    }
    let mut record = record;
    record.consent = consent;
    // The consent is the customer's own act, recorded as theirs (not the merchant's).
    let customer = customers::insert_as(
        &txn,
        merchant.id,
        &record,
        ConsentSource::Enrolment,
        Actor::default(),
        now,
    )
    .await?;
    let issued = super::passes::NewPassRow {
        merchant_id: merchant.id,
        card_id: card.id,
        customer_id: customer.id,
        serial_number: Uuid::new_v4().simple().to_string(),
        platform: loyalcast_dto::WalletPlatform::Apple,
        installed_at: now,
        expires_at: super::passes::membership_expiry(&card, now),
    }
    .active_model(now)
    .insert(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(card = %card.id, customer = %customer.id, "a card holder enrolled");

    let signer = state.pass_signer().await.map_err(ApiError::Internal)?;
    let link = format!(
        "/join/{}/passes/{}?token={}",
        card.id, issued.serial_number, issued.authentication_token
    );
    let apple = if signer.is_development() {
        format!(
            "<span class=\"btn off\" aria-disabled=\"true\">Add to Apple Wallet</span>\
             <p class=\"note\">Apple Wallet is not available yet: this server signs passes with a development certificate, which iPhones refuse. The merchant needs an Apple Pass Type ID certificate. \
             <a href=\"{link}\">Download the development pass</a> (for testing).</p>"
        )
    } else {
        format!("<a class=\"btn\" href=\"{link}\">Add to Apple Wallet</a>")
    };
    Ok(page(
        actix_web::http::StatusCode::CREATED,
        &format!("Welcome, {}!", escape(&customer.first_name)),
        &colour,
        &format!(
            "<p>Your {card} card is ready. Add it to your phone's wallet:</p>{apple}\
             <span class=\"btn off\" aria-disabled=\"true\">Save to Google Wallet</span>\
             <p class=\"note\">{google}</p>",
            card = escape(&card.name),
            google = if state.config.google_wallet.issuer_id.is_some() {
                "Google Wallet is not available from this page yet: ask in store."
            } else {
                "Google Wallet is not available yet: it is not connected on this server."
            },
        ),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PassToken {
    /// The pass's authentication token, as the enrolment page linked it.
    #[param(max_length = 64)]
    pub token: String,
}

/// The pass an enrolment issued, signed, as a download (`application/vnd.apple.pkpass`).
#[utoipa::path(
    tag = "enrolment",
    params(
        ("card_id" = Uuid, Path, description = "The card"),
        ("serial" = String, Path, description = "The pass's serial number", max_length = 64),
        PassToken,
    ),
    responses(
        (status = 200, description = "The signed pass", content_type = "application/vnd.apple.pkpass"),
        (status = 404, description = "No such pass, or a wrong token", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/join/{card_id}/passes/{serial}")]
pub async fn download(
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    query: web::Query<PassToken>,
) -> Result<HttpResponse> {
    let (card_id, serial) = path.into_inner();
    if serial.len() > 64 || query.token.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let candidates = pass::Entity::find()
        .filter(pass::Column::CardId.eq(card_id))
        .filter(pass::Column::SerialNumber.eq(serial))
        .filter(pass::Column::Platform.eq("apple"))
        .all(&state.db)
        .await?;
    let found = candidates.into_iter().find(|p| {
        bool::from(
            query
                .token
                .as_bytes()
                .ct_eq(p.authentication_token.as_bytes()),
        )
    });
    let pass = found.ok_or(ApiError::NotFound)?;
    let card = card::Entity::find_by_id(pass.card_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let bytes = super::passkit::signed(&state, &pass, &card).await?;
    let mut response = HttpResponse::Ok()
        .content_type("application/vnd.apple.pkpass")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.pkpass\"", pass.serial_number),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes.as_ref().clone());
    response.headers_mut().insert(
        header::CONTENT_ENCODING,
        header::HeaderValue::from_static("identity"),
    );
    Ok(response)
}

/// A QR code of the card's enrolment link, as SVG (for the counter, a poster or a receipt).
#[utoipa::path(
    tag = "enrolment",
    params(("card_id" = Uuid, Path, description = "The card")),
    responses(
        (status = 200, description = "The QR code", content_type = "image/svg+xml"),
        (status = 404, description = "No such card", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/join/{card_id}/qr.svg")]
pub async fn qr(state: web::Data<AppState>, card_id: web::Path<Uuid>) -> Result<HttpResponse> {
    let (card, _) = card_of(&state, card_id.into_inner()).await?;
    let link = enrolment_url(&state.config.public_url, card.id);
    let code = qrcode::QrCode::new(link.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(svg))
}

/// A card's enrolment link.
pub fn enrolment_url(public_url: &str, card_id: Uuid) -> String {
    format!("{}/join/{card_id}", public_url.trim_end_matches('/'))
}
