//! The card holder's way in: a public enrolment page per card (`/join/{card_id}`). The holder
//! gives a name, a phone or an email, a birthday if they like, and ticks the channels they
//! agree to be messaged on (recorded as their own consent, source `enrolment`); they get
//! their pass, with "Add to Apple Wallet" downloading it signed, "Save to Google Wallet"
//! (a save link signed with the issuer's service account) and, where the browser can,
//! "Get messages in this browser" (web push). What the server is not set up for is shown
//! unavailable, with the reason, as is Apple Wallet when passes are signed with development
//! material an iPhone refuses.
//!
//! Plain HTML forms: the page works on any phone without script; only the web push button
//! needs it. Enrolments are limited per
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
use crate::entity::{card, customer, merchant, pass};
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
    crate::customer_events::installed(
        &txn,
        issued.merchant_id,
        issued.customer_id,
        Some(issued.id),
        &issued.serial_number,
        now,
        now,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(card = %card.id, customer = %customer.id, "a card holder enrolled");

    let signer = state.pass_signer().await.map_err(ApiError::Internal)?;
    let base = format!("/join/{}/passes/{}", card.id, issued.serial_number);
    let token = issued.authentication_token.as_str();
    let apple = if signer.is_development() {
        format!(
            "<span class=\"btn off\" aria-disabled=\"true\">Add to Apple Wallet</span>\
             <p class=\"note\">Apple Wallet is not available yet: this server signs passes with a development certificate, which iPhones refuse. The merchant needs an Apple Pass Type ID certificate. \
             <a href=\"{base}?token={token}\">Download the development pass</a> (for testing).</p>"
        )
    } else {
        format!("<a class=\"btn\" href=\"{base}?token={token}\">Add to Apple Wallet</a>")
    };
    let google_button = if state.google_wallet.is_sandbox() {
        "<span class=\"btn off\" aria-disabled=\"true\">Save to Google Wallet</span>\
         <p class=\"note\">Google Wallet is not available yet: it is not connected on this server (the merchant's Google Wallet issuer account is needed).</p>"
            .to_owned()
    } else {
        format!("<a class=\"btn\" href=\"{base}/google?token={token}\">Save to Google Wallet</a>")
    };
    let web_button = match &state.vapid {
        Some(vapid) => web_push_offer(&format!("{base}/web-push?token={token}"), vapid.public_key()),
        None => "<p class=\"note\">Notifications in this browser are not available: web push is not set up on this server.</p>".to_owned(),
    };
    Ok(page(
        actix_web::http::StatusCode::CREATED,
        &format!("Welcome, {}!", escape(&customer.first_name)),
        &colour,
        &format!(
            "<p>Your {card} card is ready. Add it to your phone's wallet:</p>{apple}{google_button}{web_button}",
            card = escape(&card.name),
        ),
    ))
}

/// The "Get messages in this browser" button: shown only where the browser can subscribe
/// (a service worker and the Push API); it asks for permission, subscribes with the
/// server's VAPID key and hands the subscription to `subscribe_link`. Without script the
/// page works as before.
fn web_push_offer(subscribe_link: &str, public_key: &str) -> String {
    format!(
        "<div id=\"web-push\" hidden><button class=\"btn\" type=\"button\" id=\"web-push-button\">Get messages in this browser</button>\
         <p class=\"note\" id=\"web-push-status\" role=\"status\"></p></div>\
         <script>(function(){{\
         if(!('serviceWorker' in navigator)||!('PushManager' in window))return;\
         var box=document.getElementById('web-push'),status=document.getElementById('web-push-status');box.hidden=false;\
         function key(b){{var s=atob((b+'==='.slice((b.length+3)%4)).replace(/-/g,'+').replace(/_/g,'/'));return Uint8Array.from(s,function(c){{return c.charCodeAt(0)}})}}\
         document.getElementById('web-push-button').addEventListener('click',async function(){{\
         try{{status.textContent='Asking your browser…';\
         if(await Notification.requestPermission()!=='granted'){{status.textContent='Your browser did not allow notifications.';return}}\
         var reg=await navigator.serviceWorker.register('/join/sw.js',{{scope:'/join/'}});await navigator.serviceWorker.ready;\
         var sub=await reg.pushManager.subscribe({{userVisibleOnly:true,applicationServerKey:key('{public_key}')}});\
         var answer=await fetch('{subscribe_link}',{{method:'POST',headers:{{'content-type':'application/json'}},body:JSON.stringify(sub)}});\
         status.textContent=answer.ok?'Done: messages from this card will show in this browser.':'That did not work; try again later.'}}\
         catch(e){{status.textContent='Your browser could not subscribe: '+e.message}}}})}})();</script>"
    )
}

/// The pass an enrolment issued, as its links name it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnrolledPassPath {
    /// The card.
    pub card_id: Uuid,
    /// The serial number of the pass the enrolment issued.
    #[param(max_length = 64)]
    pub serial: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PassToken {
    /// The pass's authentication token, as the enrolment page linked it.
    #[param(max_length = 64)]
    pub token: String,
}

/// The pass an enrolment issued (its Apple pass), found by its serial number and the token
/// the enrolment page linked it with, compared in constant time; with its card.
async fn enrolled_pass(
    state: &AppState,
    path: &EnrolledPassPath,
    token: &str,
) -> Result<(pass::Model, card::Model)> {
    if path.serial.len() > 64 || token.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let candidates = pass::Entity::find()
        .filter(pass::Column::CardId.eq(path.card_id))
        .filter(pass::Column::SerialNumber.eq(path.serial.as_str()))
        .filter(pass::Column::Platform.eq("apple"))
        .all(&state.db)
        .await?;
    let found = candidates
        .into_iter()
        .find(|p| bool::from(token.as_bytes().ct_eq(p.authentication_token.as_bytes())));
    let pass = found.ok_or(ApiError::NotFound)?;
    let card = card::Entity::find_by_id(pass.card_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((pass, card))
}

/// The pass an enrolment issued, signed, as a download (`application/vnd.apple.pkpass`).
#[utoipa::path(
    tag = "enrolment",
    params(EnrolledPassPath, PassToken),
    responses(
        (status = 200, description = "The signed pass", content_type = "application/vnd.apple.pkpass"),
        (status = 404, description = "No such pass, or a wrong token", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/join/{card_id}/passes/{serial}")]
pub async fn download(
    state: web::Data<AppState>,
    path: web::Path<EnrolledPassPath>,
    query: web::Query<PassToken>,
) -> Result<HttpResponse> {
    let path = path.into_inner();
    let (pass, card) = enrolled_pass(&state, &path, &query.token).await?;
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

/// "Save to Google Wallet": the holder's Google pass of the card (made on the first click,
/// the same one after), and a redirect to Google's save page with a link signed by the
/// issuer's service account that carries the pass. The card's loyalty class is created at
/// Google before its first link.
#[utoipa::path(
    tag = "enrolment",
    params(EnrolledPassPath, PassToken),
    responses(
        (status = 303, description = "To Google Wallet, with the signed save link",
            headers(("Location" = String, description = "`https://pay.google.com/gp/v/save/` and the signed JWT"))),
        (status = 404, description = "No such pass, or a wrong token", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Google Wallet is not connected on this server, or Google could not be reached: a page that says so", content_type = "text/html"),
    )
)]
#[get("/join/{card_id}/passes/{serial}/google")]
pub async fn google(
    state: web::Data<AppState>,
    path: web::Path<EnrolledPassPath>,
    query: web::Query<PassToken>,
) -> Result<HttpResponse> {
    use crate::wallet::google::{
        Barcode, Image, ImageUri, LoyaltyClass, LoyaltyObject, Points, PointsBalance,
    };
    let path = path.into_inner();
    let (enrolled, card) = enrolled_pass(&state, &path, &query.token).await?;
    let colour = colour_of(&card);
    let unavailable = |why: &str| {
        page(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "Google Wallet is not available",
            &colour,
            &format!("<p>{why}</p>"),
        )
    };
    let wallet = &state.google_wallet;
    if wallet.is_sandbox() {
        return Ok(unavailable(
            "Google Wallet is not connected on this server: the merchant's Google Wallet issuer account is needed.",
        ));
    }
    let merchant = merchant::Entity::find_by_id(card.merchant_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let holder = customer::Entity::find_by_id(enrolled.customer_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let public_url = state.config.public_url.trim_end_matches('/');
    let class_id = wallet.class_id(card.id);
    if card.google_class_at.is_none() {
        let class = LoyaltyClass {
            id: class_id.clone(),
            issuer_name: merchant.name.clone(),
            program_name: card.name.clone(),
            program_logo: Image {
                source_uri: ImageUri {
                    uri: format!("{public_url}/join/{}/logo.png", card.id),
                },
            },
            hex_background_color: card.background_color.clone(),
            review_status: "UNDER_REVIEW",
        };
        if let Err(error) = wallet.create_class(&class).await {
            tracing::warn!(card = %card.id, %error, "could not create the card's Google Wallet class");
            return Ok(unavailable(
                "Google Wallet could not be reached just now. Please try again in a minute.",
            ));
        }
        card::Entity::update_many()
            .col_expr(
                card::Column::GoogleClassAt,
                sea_orm::sea_query::Expr::value(Some(now)),
            )
            .filter(card::Column::Id.eq(card.id))
            .filter(card::Column::GoogleClassAt.is_null())
            .exec(&state.db)
            .await?;
    }
    // One Google pass per enrolment: its serial follows from the Apple pass's, so a second
    // click (or two at once) finds the first instead of making another.
    let google_serial = format!("{}-g", enrolled.serial_number);
    let row = super::passes::NewPassRow {
        merchant_id: card.merchant_id,
        card_id: card.id,
        customer_id: holder.id,
        serial_number: google_serial.clone(),
        platform: loyalcast_dto::WalletPlatform::Google,
        installed_at: now,
        expires_at: enrolled.expires_at,
    }
    .active_model(now);
    pass::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                pass::Column::MerchantId,
                pass::Column::SerialNumber,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await?;
    crate::customer_events::installed(
        &state.db,
        card.merchant_id,
        holder.id,
        None,
        &google_serial,
        now,
        now,
    )
    .await?;
    let object = LoyaltyObject {
        id: wallet.object_id(&google_serial),
        class_id,
        state: "ACTIVE",
        account_id: holder.id.to_string(),
        account_name: format!("{} {}", holder.first_name, holder.last_name)
            .trim()
            .to_owned(),
        barcode: Barcode {
            kind: "QR_CODE",
            value: google_serial,
        },
        loyalty_points: Points {
            label: "Points".to_owned(),
            balance: PointsBalance { int: holder.points },
        },
    };
    let link = match wallet.save_link(&object, &[public_url.to_owned()]) {
        Ok(link) => link,
        Err(error) => {
            tracing::warn!(card = %card.id, %error, "could not sign a Google Wallet save link");
            return Ok(unavailable(
                "Google Wallet is not available from this page just now.",
            ));
        }
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, link))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct WebPushSubscription {
    /// The push service's URL for this subscription: `https`, at a push service the
    /// server posts to (`web_push.endpoint_hosts`).
    #[schema(max_length = 1024)]
    pub endpoint: String,
    /// When the subscription expires, if the browser says (not used).
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<f64>,
    pub keys: WebPushKeys,
}

/// The keys a subscription's messages are encrypted for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct WebPushKeys {
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    #[schema(max_length = 128)]
    pub p256dh: String,
    /// The authentication secret, base64url (16 bytes).
    #[schema(max_length = 64)]
    pub auth: String,
}

/// Subscriptions one pass keeps: a new one past this replaces the oldest.
const SUBSCRIPTIONS_PER_PASS: u64 = 10;

/// Subscribes a browser to the messages of the pass an enrolment issued: every push to the
/// pass then goes to the browser too, encrypted for it. Subscribing again (same endpoint)
/// renews the keys.
#[utoipa::path(
    tag = "enrolment",
    params(EnrolledPassPath, PassToken),
    request_body = WebPushSubscription,
    responses(
        (status = 201, description = "Subscribed"),
        (status = 200, description = "Already subscribed: the keys were renewed"),
        (status = 400, description = "Not a subscription of this shape", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pass, or a wrong token", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The endpoint is not a push service the server posts to, or a key is not what browsers give", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Web push is not set up on this server", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/join/{card_id}/passes/{serial}/web-push")]
pub async fn web_push(
    state: web::Data<AppState>,
    path: web::Path<EnrolledPassPath>,
    query: web::Query<PassToken>,
    body: crate::json::Json<WebPushSubscription>,
) -> Result<HttpResponse> {
    use crate::entity::web_push_subscription as subscription;
    use sea_orm::{PaginatorTrait, QueryOrder, Set};
    let path = path.into_inner();
    let (enrolled, _) = enrolled_pass(&state, &path, &query.token).await?;
    if state.vapid.is_none() {
        return Err(ApiError::Unavailable(
            "Web push is not set up on this server.".to_owned(),
        ));
    }
    let input = body.into_inner();
    let mut fields = Fields::new();
    let endpoint = input.endpoint.trim().to_owned();
    if endpoint.len() > 1024 || !state.config.web_push.allows(&endpoint) {
        fields.push(
            "endpoint",
            "not_a_push_service",
            "must be the https URL of a browser's push service",
        );
    }
    if input.keys.p256dh.len() > 128 || input.keys.auth.len() > 64 {
        fields.push(
            "keys",
            "invalid_key",
            "the keys are longer than browsers give",
        );
    } else if let Err(which) =
        crate::wallet::webpush::check_keys(&input.keys.p256dh, &input.keys.auth)
    {
        fields.push(
            format!("keys.{which}"),
            "invalid_key",
            "not a key a browser gives (base64url)",
        );
    }
    fields.finish()?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let existing = subscription::Entity::find()
        .filter(subscription::Column::PassId.eq(enrolled.id))
        .filter(subscription::Column::Endpoint.eq(endpoint.clone()))
        .one(&txn)
        .await?;
    let status = if let Some(found) = existing {
        let mut active: subscription::ActiveModel = found.into();
        active.p256dh = Set(input.keys.p256dh.clone());
        active.auth = Set(input.keys.auth.clone());
        active.updated_at = Set(now);
        active.update(&txn).await?;
        actix_web::http::StatusCode::OK
    } else {
        let held = subscription::Entity::find()
            .filter(subscription::Column::PassId.eq(enrolled.id))
            .count(&txn)
            .await?;
        if held >= SUBSCRIPTIONS_PER_PASS
            && let Some(oldest) = subscription::Entity::find()
                .filter(subscription::Column::PassId.eq(enrolled.id))
                .order_by_asc(subscription::Column::UpdatedAt)
                .one(&txn)
                .await?
        {
            subscription::Entity::delete_by_id(oldest.id)
                .exec(&txn)
                .await?;
        }
        let inserted = subscription::Entity::insert(subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            pass_id: Set(enrolled.id),
            endpoint: Set(endpoint),
            p256dh: Set(input.keys.p256dh.clone()),
            auth: Set(input.keys.auth.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                subscription::Column::PassId,
                subscription::Column::Endpoint,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            actix_web::http::StatusCode::OK
        } else {
            actix_web::http::StatusCode::CREATED
        }
    };
    txn.commit().await?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The enrolment page's service worker: it shows each web push message as a notification
/// (the card's name, the message), and opens the page when the notification is clicked.
#[utoipa::path(
    tag = "enrolment",
    responses((status = 200, description = "The service worker", content_type = "text/javascript")),
)]
#[get("/join/sw.js")]
pub async fn service_worker() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(SERVICE_WORKER)
}

const SERVICE_WORKER: &str = "self.addEventListener('push',function(event){\
var data={};try{data=event.data?event.data.json():{}}catch(e){data={body:event.data?event.data.text():''}}\
event.waitUntil(self.registration.showNotification(data.title||'',{body:data.body||'',tag:data.tag}))});\
self.addEventListener('notificationclick',function(event){event.notification.close();\
event.waitUntil(clients.matchAll({type:'window'}).then(function(list){return list.length?list[0].focus():undefined}))});\n";

/// The card's logo, for the wallets that fetch it by URL (Google Wallet's loyalty class).
#[utoipa::path(
    tag = "enrolment",
    params(("card_id" = Uuid, Path, description = "The card")),
    responses(
        (status = 200, description = "The logo", content_type = "image/png"),
        (status = 404, description = "No such card", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/join/{card_id}/logo.png")]
pub async fn logo(state: web::Data<AppState>, card_id: web::Path<Uuid>) -> Result<HttpResponse> {
    card_of(&state, card_id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(crate::wallet::apple::logo_png()))
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
