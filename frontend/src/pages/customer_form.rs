//! Adding and editing a customer, in the customer drawer.
//!
//! What the server would refuse is said at its field before anything is sent (name, email,
//! birthday, tags); the rest (a phone number in the merchant's country, an address another
//! customer has) comes back from the server and is shown at its field too. A field's error
//! goes as soon as the field changes. An edit sends only what changed.
//!
//! Consent is the customer's own: admins and owners record what the customer agreed to, and
//! a channel the customer opted out of themselves (STOP, an unsubscribe link) cannot be
//! ticked again here. Agents add and edit customers but do not decide their consent: the
//! form shows it and leaves it as it is.

use chrono::NaiveDate;
use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{Channel, Consent, Customer, CustomerPatch, NewCustomer};

use crate::api::{ApiError, use_api};
use crate::components::field::TextField;
use crate::components::icons::ChannelIcon;
use crate::components::states::{FieldError, FormError, local_problem};
use crate::components::tags::TagPicker;
use crate::session::use_auth;

const FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "phone",
    "email",
    "birthday",
    "tags",
    "consent",
];

fn consent_of(consent: &Consent, channel: Channel) -> bool {
    match channel {
        Channel::Sms => consent.sms,
        Channel::Email => consent.email,
        Channel::Telegram => consent.telegram,
        Channel::Messenger => consent.messenger,
    }
}

fn set_consent(consent: &mut Consent, channel: Channel, on: bool) {
    match channel {
        Channel::Sms => consent.sms = on,
        Channel::Email => consent.email = on,
        Channel::Telegram => consent.telegram = on,
        Channel::Messenger => consent.messenger = on,
    }
}

/// `None` for a blank field, else the text trimmed.
fn filled(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The first thing the server would refuse, as the problem it would answer.
fn check(
    first_name: &str,
    last_name: &str,
    email: &str,
    birthday: &str,
    today: NaiveDate,
) -> Result<Option<NaiveDate>, ApiError> {
    if first_name.trim().is_empty() {
        return Err(local_problem(
            "first_name",
            "Enter the customer's first name.",
        ));
    }
    if first_name.chars().count() > 100 {
        return Err(local_problem("first_name", "Use at most 100 characters."));
    }
    if last_name.chars().count() > 100 {
        return Err(local_problem("last_name", "Use at most 100 characters."));
    }
    if let Some(email) = filled(email)
        && !crate::format::looks_like_email(&email)
    {
        return Err(local_problem(
            "email",
            "Enter an email address like name@example.com, or leave it empty.",
        ));
    }
    let birthday = match filled(birthday) {
        None => None,
        Some(text) => {
            let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| local_problem("birthday", "Pick a date."))?;
            let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(date);
            if date > today || date < earliest {
                return Err(local_problem(
                    "birthday",
                    "Pick a date between 1900 and today.",
                ));
            }
            Some(date)
        }
    };
    Ok(birthday)
}

/// What changed between `before` and the form: the patch to send (empty when nothing did).
struct Edit<'a> {
    first_name: &'a str,
    last_name: &'a str,
    phone: &'a str,
    email: &'a str,
    birthday: Option<NaiveDate>,
    tags: &'a [String],
    consent: Option<Consent>,
}

fn patch_of(before: &Customer, edit: &Edit<'_>) -> (CustomerPatch, bool) {
    let mut patch = CustomerPatch::default();
    let mut changed = false;
    if edit.first_name.trim() != before.first_name {
        patch.first_name = Some(edit.first_name.trim().to_owned());
        changed = true;
    }
    if edit.last_name.trim() != before.last_name {
        patch.last_name = Some(edit.last_name.trim().to_owned());
        changed = true;
    }
    // A phone is compared as typed: the server keeps it in its international form, so a
    // number shown as +14155550100 and left alone is not sent again.
    if filled(edit.phone) != before.phone {
        patch.phone = Some(filled(edit.phone));
        changed = true;
    }
    if filled(edit.email).map(|e| e.to_lowercase()) != before.email {
        patch.email = Some(filled(edit.email));
        changed = true;
    }
    if edit.birthday != before.birthday {
        patch.birthday = Some(edit.birthday);
        changed = true;
    }
    let mut tags = edit.tags.to_vec();
    tags.sort();
    let mut old = before.tags.clone();
    old.sort();
    if tags != old {
        patch.tags = Some(tags);
        changed = true;
    }
    if let Some(consent) = edit.consent
        && consent != before.consent
    {
        patch.consent = Some(consent);
        changed = true;
    }
    (patch, changed)
}

#[component]
pub fn CustomerForm(
    /// The customer being edited; `None` adds a new one.
    existing: Option<Customer>,
    /// Channels the customer opted out of themselves (only they can opt in again).
    #[prop(into)]
    opted_out: Signal<Vec<Channel>>,
    /// The merchant's tags, suggested in the tag box.
    #[prop(into)]
    known_tags: Signal<Vec<String>>,
    on_saved: Callback<Customer>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    let records_consent = auth.can_manage();
    let before = existing.clone();
    let editing = existing.is_some();
    let start = existing.clone();
    let text = |f: fn(&Customer) -> Option<String>| {
        RwSignal::new(start.as_ref().and_then(f).unwrap_or_default())
    };
    let first_name = text(|c| Some(c.first_name.clone()));
    let last_name = text(|c| Some(c.last_name.clone()));
    let phone = text(|c| c.phone.clone());
    let email = text(|c| c.email.clone());
    let birthday = text(|c| c.birthday.map(|d| d.format("%Y-%m-%d").to_string()));
    let tags = RwSignal::new(start.as_ref().map(|c| c.tags.clone()).unwrap_or_default());
    let consent = RwSignal::new(start.as_ref().map(|c| c.consent).unwrap_or(Consent {
        sms: false,
        email: false,
        telegram: false,
        messenger: false,
    }));
    let tag_problem = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let saving = RwSignal::new(false);
    let unchanged = RwSignal::new(false);

    let on_edit = Callback::new(move |_| unchanged.set(false));
    // A field's error goes once the field changes.
    let edited = move |field: &'static str| {
        unchanged.set(false);
        if let Some(e) = error.get_untracked() {
            error.set(e.without_field(field));
        }
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        if let Some(message) = tag_problem.get_untracked() {
            error.set(Some(local_problem("tags", &message)));
            return;
        }
        let today = chrono::Local::now().date_naive();
        let (first, last, phone_text, email_text) = (
            first_name.get_untracked(),
            last_name.get_untracked(),
            phone.get_untracked(),
            email.get_untracked(),
        );
        let birthday = match check(&first, &last, &email_text, &birthday.get_untracked(), today) {
            Ok(date) => date,
            Err(problem) => {
                error.set(Some(problem));
                return;
            }
        };
        let chosen_tags = tags.get_untracked();
        let chosen_consent = records_consent.then(|| consent.get_untracked());
        error.set(None);
        match &before {
            Some(before) => {
                let (patch, changed) = patch_of(
                    before,
                    &Edit {
                        first_name: &first,
                        last_name: &last,
                        phone: &phone_text,
                        email: &email_text,
                        birthday,
                        tags: &chosen_tags,
                        consent: chosen_consent,
                    },
                );
                if !changed {
                    unchanged.set(true);
                    return;
                }
                let id = before.id;
                saving.set(true);
                spawn_local(async move {
                    match api.update_customer(id, &patch).await {
                        Ok(customer) => on_saved.run(customer),
                        Err(e) => {
                            error.try_set(Some(e));
                        }
                    }
                    saving.try_set(false);
                });
            }
            None => {
                let input = NewCustomer {
                    first_name: first.trim().to_owned(),
                    last_name: last.trim().to_owned(),
                    phone: filled(&phone_text),
                    email: filled(&email_text),
                    birthday,
                    tags: chosen_tags,
                    telegram_chat_id: None,
                    messenger_psid: None,
                    time_zone: None,
                    consent: chosen_consent,
                    visits: 0,
                    last_visit_at: None,
                    points: 0,
                };
                saving.set(true);
                spawn_local(async move {
                    match api.create_customer(&input).await {
                        Ok(customer) => on_saved.run(customer),
                        Err(e) => {
                            error.try_set(Some(e));
                        }
                    }
                    saving.try_set(false);
                });
            }
        }
    };

    let err = Signal::derive(move || error.get());
    let consent_box = move |channel: Channel| {
        let blocked = move || opted_out.with(|o| o.contains(&channel));
        let id = format!("customer-consent-{}", channel.as_str());
        view! {
            <label for=id.clone() class:muted=blocked>
                <input type="checkbox" id=id.clone() data-testid=id.clone()
                    prop:checked=move || consent.with(|c| consent_of(c, channel))
                    disabled=move || !records_consent || (blocked() && !consent.with(|c| consent_of(c, channel)))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        consent.update(|c| set_consent(c, channel, on));
                        edited("consent");
                    }/>
                <ChannelIcon channel=channel with_label=true/>
                {move || blocked().then(|| view! {
                    <span class="muted small">" · opted out themselves; only they can opt in again"</span>
                })}
            </label>
        }
    };

    view! {
        <form class="stack-form" novalidate=true on:submit=submit data-testid="customer-form">
            <TextField id="customer-first-name" label="First name" value=first_name field="first_name" error=error maxlength=100 on_edit=on_edit/>
            <TextField id="customer-last-name" label="Last name" value=last_name field="last_name" error=error maxlength=100 on_edit=on_edit/>
            <TextField id="customer-phone" label="Phone" kind="tel" value=phone field="phone" error=error on_edit=on_edit
                hint="Numbers in your country may be written as people say them; others start with + and the country code."/>
            <TextField id="customer-email" label="Email" kind="email" value=email field="email" error=error maxlength=254 on_edit=on_edit/>
            <TextField id="customer-birthday" label="Birthday" kind="date" value=birthday field="birthday" error=error on_edit=on_edit/>
            <div class="field">
                <label for="customer-tags">"Tags"</label>
                <TagPicker tags=tags known=known_tags id="customer-tags" problem=tag_problem/>
                {move || tag_problem.get().map(|m| view! { <p class="field-error" data-testid="tag-problem">{m}</p> })}
                <FieldError error=err field="tags" id="customer-tags-error"/>
            </div>
            <fieldset class="field consent-picker" data-testid="customer-consent">
                <legend>"What the customer agreed to receive"</legend>
                {if records_consent {
                    view! { <p class="muted small">"Tick only what the customer agreed to themselves. Every change is kept in their consent history."</p> }.into_any()
                } else {
                    view! { <p class="muted small" data-testid="consent-admins-only">"Admins and owners record consent; it stays as it is."</p> }.into_any()
                }}
                {Channel::ALL.into_iter().map(consent_box).collect_view()}
                <FieldError error=err field="consent" id="customer-consent-error"/>
            </fieldset>
            {move || unchanged.get().then(|| view! {
                <p class="muted" role="status" data-testid="customer-unchanged">"Nothing has changed."</p>
            })}
            <FormError error=err known_fields=FIELDS/>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-testid="customer-save"
                    disabled=move || saving.get() aria-busy=move || saving.get().to_string()>
                    {move || match (saving.get(), editing) {
                        (true, _) => "Saving…",
                        (false, true) => "Save changes",
                        (false, false) => "Add customer",
                    }}
                </button>
                <button type="button" class="btn btn-ghost" data-testid="customer-cancel"
                    on:click=move |_| on_cancel.run(())>
                    "Cancel"
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn customer() -> Customer {
        serde_json::from_value(serde_json::json!({
            "id": "5b1c2a9e-0b7a-4c43-9a51-8d1f6f3c2d10",
            "first_name": "Ann", "last_name": "Lee", "phone": "+14155550100",
            "email": "ann@example.com", "birthday": "1990-04-12", "tags": ["vip"],
            "telegram_chat_id": null, "messenger_psid": null,
            "consent": {"sms": true, "email": false, "telegram": false, "messenger": false},
            "visits": 0, "last_visit_at": null, "points": 0,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn edit<'a>(c: &'a Customer, tags: &'a [String]) -> Edit<'a> {
        Edit {
            first_name: &c.first_name,
            last_name: &c.last_name,
            phone: c.phone.as_deref().unwrap_or_default(),
            email: c.email.as_deref().unwrap_or_default(),
            birthday: c.birthday,
            tags,
            consent: Some(c.consent),
        }
    }

    #[test]
    fn an_edit_sends_only_what_changed() {
        let c = customer();
        let tags = c.tags.clone();
        let (_, changed) = patch_of(&c, &edit(&c, &tags));
        assert!(!changed, "the form as loaded changes nothing");

        let mut e = edit(&c, &tags);
        e.email = "";
        e.last_name = " Lee-Park ";
        let (patch, changed) = patch_of(&c, &e);
        assert!(changed);
        let sent = serde_json::to_value(&patch).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"last_name": "Lee-Park", "email": null}),
            "a cleared email is null, untouched fields are left out"
        );
    }

    #[test]
    fn an_email_typed_in_capitals_is_the_same_email() {
        let c = customer();
        let tags = c.tags.clone();
        let mut e = edit(&c, &tags);
        e.email = "Ann@Example.com";
        assert!(!patch_of(&c, &e).1);
    }

    #[test]
    fn the_browser_refuses_what_the_server_would() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let field = |r: Result<Option<NaiveDate>, ApiError>| match r {
            Err(ApiError::Problem(p)) => p.errors[0].field.clone(),
            other => panic!("expected a problem, got {other:?}"),
        };
        assert_eq!(field(check(" ", "", "", "", today)), "first_name");
        assert_eq!(field(check("Ann", "", "ann@", "", today)), "email");
        assert_eq!(field(check("Ann", "", "", "2026-12-04", today)), "birthday");
        assert_eq!(field(check("Ann", "", "", "1899-12-31", today)), "birthday");
        assert_eq!(
            check("Ann", "", "ann@example.com", "2026-12-03", today),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 3))
        );
    }
}
