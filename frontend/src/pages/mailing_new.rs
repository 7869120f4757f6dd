//! Create a mailing: one page, top to bottom. Name, audience, channels, content per channel
//! with a live preview, the cost, and when to send.
//!
//! As the form changes, the server estimates (400 ms after the last change) who the mailing
//! reaches on every channel and what it costs; the SMS counter and preview come from the same
//! answer, so they match exactly what will be sent and charged.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use loyalcast_dto::{
    Audience, Channel, EmailContent, Mailing, MailingChanges, MailingContent, MailingEstimate,
    MailingEstimateRequest, NewMailing, SmsContent, SmsPreview, TextContent,
};
use uuid::Uuid;
use wasm_bindgen::{JsCast, JsValue};

use crate::api::{ApiError, ApiResult, idempotency_key, use_api};
use crate::components::icons::{ChannelIcon, Icon, IconKind};
use crate::components::review::{Review, ReviewPanel};
use crate::components::send::{AudienceKind, AudiencePicker, SchedulePicker, audience_of};
use crate::components::states::{FieldError, FormError, local_problem};
use crate::components::time::merchant_time_zone;
use crate::fetch::{debounced, fetch};
use crate::format::{plural, thousands, thousands_u};

/// The variables a text may hold; the server fills them in per customer.
pub const VARIABLES: [&str; 7] = [
    "first_name",
    "last_name",
    "card_name",
    "points",
    "visits",
    "merchant_name",
    "unsubscribe_url",
];

/// Sent to the estimate in place of a text not written yet, so that reach and cost are known
/// before every text is.
const PLACEHOLDER: &str = ".";

/// The fields the page shows errors next to; anything else goes in the error box.
const KNOWN_FIELDS: &[&str] = &[
    "name",
    "audience",
    "channels",
    "content.sms",
    "content.email.subject",
    "content.email.body",
    "content.email",
    "content.telegram",
    "content.messenger",
    "send_at",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Submitting {
    Send,
    Draft,
}

/// The texts of every channel, chosen or not (switching a channel off keeps its text).
#[derive(Clone, Copy)]
struct Texts {
    sms: RwSignal<String>,
    email_subject: RwSignal<String>,
    email_body: RwSignal<String>,
    telegram: RwSignal<String>,
    messenger: RwSignal<String>,
}

impl Texts {
    fn new() -> Self {
        Texts {
            sms: RwSignal::new(String::new()),
            email_subject: RwSignal::new(String::new()),
            email_body: RwSignal::new(String::new()),
            telegram: RwSignal::new(String::new()),
            messenger: RwSignal::new(String::new()),
        }
    }

    /// The texts a draft holds.
    fn fill(&self, content: &MailingContent) {
        if let Some(sms) = &content.sms {
            self.sms.set(sms.body.clone());
        }
        if let Some(email) = &content.email {
            self.email_subject.set(email.subject.clone());
            self.email_body.set(email.body.clone());
        }
        if let Some(t) = &content.telegram {
            self.telegram.set(t.text.clone());
        }
        if let Some(m) = &content.messenger {
            self.messenger.set(m.text.clone());
        }
    }

    /// The content of the chosen channels, as it will be sent (tracked).
    fn content(&self, channels: &[Channel]) -> MailingContent {
        let has = |c: Channel| channels.contains(&c);
        MailingContent {
            sms: has(Channel::Sms).then(|| SmsContent {
                body: self.sms.get(),
            }),
            email: has(Channel::Email).then(|| EmailContent {
                subject: self.email_subject.get(),
                body: self.email_body.get(),
            }),
            telegram: has(Channel::Telegram).then(|| TextContent {
                text: self.telegram.get(),
            }),
            messenger: has(Channel::Messenger).then(|| TextContent {
                text: self.messenger.get(),
            }),
        }
    }

    /// Every channel with a placeholder text: what the estimate needs to count reach.
    fn placeholder_content() -> MailingContent {
        MailingContent {
            sms: Some(SmsContent {
                body: PLACEHOLDER.to_owned(),
            }),
            email: Some(EmailContent {
                subject: PLACEHOLDER.to_owned(),
                body: PLACEHOLDER.to_owned(),
            }),
            telegram: Some(TextContent {
                text: PLACEHOLDER.to_owned(),
            }),
            messenger: Some(TextContent {
                text: PLACEHOLDER.to_owned(),
            }),
        }
    }

    /// The content for the estimate: every channel, with a placeholder where a channel is
    /// off or its text is not written yet (tracked).
    fn estimate_content(&self, channels: &[Channel]) -> MailingContent {
        let text = |c: Channel, s: RwSignal<String>| {
            let value = s.get();
            if channels.contains(&c) && !value.trim().is_empty() {
                value
            } else {
                PLACEHOLDER.to_owned()
            }
        };
        MailingContent {
            sms: Some(SmsContent {
                body: text(Channel::Sms, self.sms),
            }),
            email: Some(EmailContent {
                subject: text(Channel::Email, self.email_subject),
                body: text(Channel::Email, self.email_body),
            }),
            telegram: Some(TextContent {
                text: text(Channel::Telegram, self.telegram),
            }),
            messenger: Some(TextContent {
                text: text(Channel::Messenger, self.messenger),
            }),
        }
    }
}

/// What the estimate depends on.
#[derive(Debug, Clone, PartialEq)]
struct EstimateInput {
    audience: Audience,
    content: MailingContent,
}

#[component]
pub fn NewMailingPage() -> impl IntoView {
    crate::set_title("Create a mailing");
    view! { <MailingForm draft=None/> }
}

/// A draft in the same form: its audience, channels and texts as saved, changed until it is
/// sent. A mailing that is no longer a draft says so and links to its page.
#[component]
pub fn EditMailingPage() -> impl IntoView {
    crate::set_title("Edit a draft");
    let api = use_api();
    let params = leptos_router::hooks::use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| Uuid::parse_str(&id).ok()));
    let mailing = fetch(id, move |id| async move {
        match id {
            Some(id) => api.mailing(id).await.map(Some),
            None => Ok(None),
        }
    });
    move || {
        match mailing.data.get() {
        None => view! { <section class="panel"><p class="count count-loading"><span class="spinner" aria-hidden="true"></span>"Loading the draft…"</p></section> }.into_any(),
        Some(Ok(Some(m))) if m.status == loyalcast_dto::MailingStatus::Draft => {
            view! { <MailingForm draft=Some(m)/> }.into_any()
        }
        Some(Ok(Some(m))) => view! {
            <section class="panel" data-testid="mailing-not-draft">
                <p class="notice">"This mailing is no longer a draft, so it cannot be changed. "
                    <A href=format!("/mailings/{}", m.id)>"See its report"</A>"."</p>
            </section>
        }.into_any(),
        Some(Ok(None)) | Some(Err(_)) => view! {
            <section class="panel"><p class="notice">"There is no such draft. "<A href="/mailings/history">"Back to the history"</A></p></section>
        }.into_any(),
    }
    }
}

/// The mailing form: empty for a new mailing, or holding a draft to change.
#[component]
fn MailingForm(draft: Option<Mailing>) -> impl IntoView {
    // The server lets owners and admins estimate and send: an agent is told so before
    // writing a whole mailing it would refuse.
    if !expect_context::<crate::session::Auth>().can_manage() {
        return view! {
            <section class="panel mailing-new" data-testid="page-mailing-new">
                <p class="notice" data-testid="mailing-agent-note">
                    "Only owners and admins create and send mailings. You can follow them in the "
                    <A href="/mailings/history">"history"</A>"."
                </p>
            </section>
        }
        .into_any();
    }
    let api = use_api();
    let navigate = use_navigate();
    let time_zone = merchant_time_zone();

    let draft_id = draft.as_ref().map(|d| d.id);
    let name = RwSignal::new(String::new());
    let audience_kind = RwSignal::new(AudienceKind::All);
    let segment_id = RwSignal::new(None::<Uuid>);
    let channels = RwSignal::new(vec![Channel::Sms]);
    let texts = Texts::new();
    if let Some(d) = &draft {
        name.set(d.name.clone());
        if let Audience::Segment { segment_id: id } = d.audience {
            audience_kind.set(AudienceKind::Segment);
            segment_id.set(Some(id));
        }
        channels.set(d.channels.clone());
        texts.fill(&d.content);
    }
    let scheduled = RwSignal::new(false);
    let (default_date, default_time) = default_schedule(&time_zone);
    let date = RwSignal::new(default_date);
    let time = RwSignal::new(default_time);
    let submitting = RwSignal::new(None::<Submitting>);
    let error = RwSignal::new(None::<ApiError>);
    let error_signal: Signal<Option<ApiError>> = error.into();

    let segments = fetch(|| (), move |_| async move { api.segments(1, 100).await });
    let balances = fetch(|| (), move |_| async move { api.balances().await });

    let audience = Memo::new(move |_| audience_of(audience_kind.get(), segment_id.get()));
    let chosen = move |c: Channel| channels.with(|cs| cs.contains(&c));

    // The estimate, 400 ms after the last change.
    let estimate_input = Memo::new(move |_| {
        let chosen_channels = channels.get();
        audience.get().map(|audience| EstimateInput {
            audience,
            content: texts.estimate_content(&chosen_channels),
        })
    });
    let settled: ReadSignal<Option<EstimateInput>> =
        debounced(estimate_input.into(), Duration::from_millis(400));
    let estimate = RwSignal::new(None::<ApiResult<MailingEstimate>>);
    let last_good = RwSignal::new(None::<MailingEstimate>);
    let estimating = RwSignal::new(false);
    let latest = StoredValue::new(0_u64);
    Effect::new(move |_| {
        let Some(input) = settled.get() else {
            estimate.set(None);
            estimating.set(false);
            return;
        };
        let id = latest.get_value().wrapping_add(1);
        latest.set_value(id);
        estimating.set(true);
        spawn_local(async move {
            let request = MailingEstimateRequest {
                audience: input.audience,
                channels: Channel::ALL.to_vec(),
                content: input.content,
            };
            let audience = request.audience.clone();
            let result = api.estimate_mailing(&request).await;
            // A text the server refuses (e.g. an unknown variable) must not hide who the
            // mailing reaches: count again without the texts.
            let counts = match &result {
                Ok(e) => Some(e.clone()),
                Err(e) if e.status() == Some(422) && e.field("content").is_some() => {
                    let fallback = MailingEstimateRequest {
                        audience,
                        channels: Channel::ALL.to_vec(),
                        content: Texts::placeholder_content(),
                    };
                    api.estimate_mailing(&fallback).await.ok()
                }
                Err(_) => None,
            };
            if latest.try_get_value() == Some(id) {
                if let Some(counts) = counts {
                    last_good.try_set(Some(counts));
                }
                estimate.try_set(Some(result));
                estimating.try_set(false);
            }
        });
    });
    let stale = Signal::derive(move || {
        estimating.get() || estimate_input.with(|i| settled.with(|s| i != s))
    });
    // Whether the estimate was made for the current audience (the counts may be shown).
    let estimate_error = Signal::derive(move || {
        estimate.with(|e| match e {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        })
    });
    let current = Signal::derive(move || {
        estimate.with(|e| match e {
            Some(Ok(e)) => Some(e.clone()),
            _ => None,
        })
    });

    // A field's error: from the last submission, else from the live estimate when the field
    // has text (an empty field is only an error once the mailing is submitted).
    let field_error = move |field: &'static str, value: Option<RwSignal<String>>| {
        Signal::derive(move || {
            if let Some(message) = error.with(|e| e.as_ref().and_then(|e| e.field(field))) {
                return Some(message);
            }
            let typed = value.is_none_or(|v| v.with(|s| !s.trim().is_empty()));
            if !typed || stale.get() {
                return None;
            }
            estimate_error.with(|e| e.as_ref().and_then(|e| e.field(field)))
        })
    };

    let reach = move |c: Channel| -> Option<u64> {
        last_good.with(|e| {
            e.as_ref().and_then(|e| {
                e.reachable
                    .iter()
                    .find(|r| r.channel == c)
                    .map(|r| r.customers)
            })
        })
    };

    let toggle = move |c: Channel| {
        channels.update(|cs| {
            if cs.contains(&c) {
                cs.retain(|x| *x != c);
            } else {
                cs.push(c);
                cs.sort_by_key(|x| Channel::ALL.iter().position(|a| a == x));
            }
        });
    };

    // The mailing under review before it is sent (with its exact figures once counted).
    let review = RwSignal::new(None::<Review>);
    let reviews = StoredValue::new(0_u64);
    // One key per reviewed mailing: a double click on the confirmation sends once.
    let key = StoredValue::new(idempotency_key());
    let create = {
        let navigate = navigate.clone();
        move |input: NewMailing, kind: Submitting| {
            if submitting.get_untracked().is_some() {
                return;
            }
            submitting.set(Some(kind));
            let sent_with = key.get_value();
            let navigate = navigate.clone();
            spawn_local(async move {
                let saved = match draft_id {
                    None => api.create_mailing(&input, &sent_with).await,
                    Some(id) => save_draft(api, id, input).await,
                };
                match saved {
                    Ok(mailing) => {
                        submitting.try_set(None);
                        navigate(&format!("/mailings/{}", mailing.id), Default::default());
                    }
                    Err(e) => {
                        // What is sent next is another request: a new key.
                        key.try_set_value(idempotency_key());
                        error.try_set(Some(e));
                        review.try_set(None);
                        submitting.try_set(None);
                    }
                }
            });
        }
    };

    let submit = {
        let create = create.clone();
        let time_zone = time_zone.clone();
        move |kind: Submitting| {
            if submitting.get_untracked().is_some() {
                return;
            }
            let trimmed = name.get_untracked().trim().to_owned();
            if trimmed.is_empty() {
                error.set(Some(local_problem("name", "Give the mailing a name.")));
                focus("mailing-name");
                return;
            }
            let Some(audience) = audience.get_untracked() else {
                error.set(Some(local_problem("audience", "Choose a segment.")));
                focus("mailing-segment");
                return;
            };
            let chosen_channels = channels.get_untracked();
            if chosen_channels.is_empty() {
                error.set(Some(local_problem(
                    "channels",
                    "Choose at least one channel.",
                )));
                return;
            }
            let send_at = match scheduled.get_untracked() {
                false => None,
                true => {
                    match local_to_utc(&date.get_untracked(), &time.get_untracked(), &time_zone) {
                        Some(at) if at > Utc::now() => Some(at),
                        Some(_) => {
                            error.set(Some(local_problem(
                                "send_at",
                                "Choose a time in the future.",
                            )));
                            return;
                        }
                        None => {
                            error.set(Some(local_problem("send_at", "Enter a date and a time.")));
                            return;
                        }
                    }
                }
            };
            let content = untrack(|| texts.content(&chosen_channels));
            let input = NewMailing {
                name: trimmed,
                audience,
                channels: chosen_channels,
                content,
                send_at,
                draft: kind == Submitting::Draft,
            };
            error.set(None);
            if kind == Submitting::Draft {
                create(input, kind);
                return;
            }
            // Nothing is sent before the review: the exact figures for exactly these
            // channels and texts, then the merchant's confirmation.
            // A mistake in what was typed belongs at its field, in the form.
            crate::components::review::start(
                api,
                review,
                reviews,
                input,
                Some(std::sync::Arc::new(move |e| {
                    error.try_set(Some(e));
                })),
            );
        }
    };
    let on_submit = {
        let submit = submit.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            submit(Submitting::Send);
        }
    };
    let save_draft = move |_| submit(Submitting::Draft);

    // --- audience ---------------------------------------------------------------------------

    let audience_count = move || {
        if audience.with(Option::is_none) {
            return view! {
                <p class="count count-invalid" data-testid="audience-count-none">"Choose a segment to see who receives this."</p>
            }
            .into_any();
        }
        let failed = estimate_error.with(|e| e.as_ref().is_some_and(|e| e.status() != Some(422)));
        match (last_good.get().filter(|_| !failed), stale.get()) {
            (Some(e), false) => {
                // Who can get it on each chosen channel (contact data and consent), out of
                // the audience: the numbers the mailing will record, not the audience size.
                let chosen = channels.get();
                let of = |c: Channel| {
                    e.reachable
                        .iter()
                        .find(|r| r.channel == c)
                        .map_or(0, |r| r.customers)
                };
                let parts: Vec<String> = chosen
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {}",
                            thousands_u(of(*c)),
                            match c {
                                Channel::Sms => "by SMS",
                                Channel::Email => "by email",
                                Channel::Telegram => "on Telegram",
                                Channel::Messenger => "on Messenger",
                            }
                        )
                    })
                    .collect();
                let audience_text = plural(e.audience, "customer", "customers");
                let line = match parts.as_slice() {
                    [] => format!("{audience_text} in the audience; choose a channel."),
                    [one] => format!("{one} of {audience_text} can get this"),
                    many => format!("Of {audience_text}: {} can get this", many.join(", ")),
                };
                view! {
                    <p class="count" data-testid="audience-count" data-count=e.audience.to_string()>
                        <strong>{line}</strong>
                        <span class="muted small">" (customers with the contact details and their own consent for that channel)"</span>
                    </p>
                }
                .into_any()
            }
            (None, false)
                if estimate_error.with(|e| e.as_ref().is_some_and(|e| e.status() != Some(422))) =>
            {
                view! {
                    <p class="count count-error" role="alert">
                        <Icon kind=IconKind::Alert size=16/>
                        {estimate_error.get().map(|e| format!("Could not count: {}", e.message()))}
                    </p>
                }
                .into_any()
            }
            _ => view! {
                <p class="count count-loading" data-testid="audience-count-loading">
                    <span class="spinner" aria-hidden="true"></span>
                    "Counting…"
                </p>
            }
            .into_any(),
        }
    };

    // --- cost ---------------------------------------------------------------------------------

    let cost = move || {
        let chosen_channels = channels.get();
        let e = last_good.get();
        let balances = balances.ok();
        let mut lines = Vec::new();
        let Some(e) = e else {
            return view! { <p class="muted" data-testid="cost-pending">"The cost appears once the audience is counted."</p> }.into_any();
        };
        let sms_balance = balances.map(|b| b.sms.available).unwrap_or(e.sms_balance);
        let email_balance = balances
            .map(|b| b.email.available)
            .unwrap_or(e.email_balance);
        if chosen_channels.contains(&Channel::Sms) {
            let recipients = reach(Channel::Sms).unwrap_or(0);
            let sms_invalid = estimate_error
                .with(|e| e.as_ref().is_some_and(|e| e.field("content.sms").is_some()));
            let line = if texts.sms.with(|s| s.trim().is_empty()) {
                ("Write the SMS to see what it costs.".to_owned(), false)
            } else if sms_invalid {
                (
                    "Correct the SMS text to see what it costs.".to_owned(),
                    false,
                )
            } else {
                let segments = current
                    .get()
                    .and_then(|c| c.sms_preview)
                    .or(e.sms_preview.clone())
                    .map(|p| p.segments)
                    .unwrap_or(1);
                let per = if e.sms_credits as u64 == u64::from(segments) * recipients {
                    format!(
                        "{} × {} = ",
                        plural(u64::from(segments), "SMS segment", "SMS segments"),
                        plural(recipients, "recipient", "recipients")
                    )
                } else {
                    format!(
                        "{} by SMS (segments vary with each name) = ",
                        plural(recipients, "recipient", "recipients")
                    )
                };
                // Past 10,000 recipients a personalised SMS is estimated from the first ones.
                let about = if e.sms_credits_exact { "" } else { "about " };
                (
                    format!(
                        "{per}{about}{} credits; balance {}",
                        thousands(e.sms_credits),
                        thousands(sms_balance)
                    ),
                    e.sms_credits > sms_balance,
                )
            };
            lines.push((Channel::Sms, line.0, line.1));
        }
        if chosen_channels.contains(&Channel::Email) {
            let recipients = reach(Channel::Email).unwrap_or(0);
            lines.push((
                Channel::Email,
                format!(
                    "{} × 1 = {} credits; balance {}",
                    plural(recipients, "email", "emails"),
                    thousands(e.email_credits),
                    thousands(email_balance)
                ),
                e.email_credits > email_balance,
            ));
        }
        for c in [Channel::Telegram, Channel::Messenger] {
            if chosen_channels.contains(&c) {
                lines.push((
                    c,
                    format!(
                        "{}: free",
                        plural(reach(c).unwrap_or(0), "message", "messages")
                    ),
                    false,
                ));
            }
        }
        if lines.is_empty() {
            return view! { <p class="muted" data-testid="cost-pending">"Choose a channel to see the cost."</p> }.into_any();
        }
        view! {
            <ul class="cost-lines">
                {lines.into_iter().map(|(c, text, short)| view! {
                    <li class:cost-short=short data-testid=format!("cost-{}", c.as_str())>
                        <ChannelIcon channel=c/>
                        <span>{text}</span>
                        {short.then(|| view! {
                            <strong class="text-danger" data-testid="cost-insufficient">
                                <Icon kind=IconKind::Alert size=14/>
                                " Not enough credits: top up or shrink the audience."
                            </strong>
                        })}
                    </li>
                }).collect_view()}
            </ul>
        }
        .into_any()
    };
    let payment_error = move || {
        error
            .with(|e| {
                e.as_ref()
                    .filter(|e| e.status() == Some(402))
                    .map(ApiError::message)
            })
            .map(|m| {
                view! {
                    <p class="form-error" role="alert" data-testid="cost-error">
                        <Icon kind=IconKind::Alert size=16/>
                        <span>{m} " " <A href="/settings#balances">"Buy credits"</A></span>
                    </p>
                }
            })
    };
    // Errors shown next to their fields are not repeated in the box; it only says to look.
    let other_error = Signal::derive(move || {
        error
            .get()
            .filter(|e| e.status() != Some(402))
            .map(|e| match e {
                ApiError::Problem(mut p) if !p.errors.is_empty() && e_others_empty(&p) => {
                    p.detail = Some("Check the fields marked above.".to_owned());
                    ApiError::Problem(p)
                }
                other => other,
            })
    });

    // --- view ---------------------------------------------------------------------------------

    let tz_label = time_zone.clone();
    let tz_review = time_zone.clone();
    view! {
        <section class="panel mailing-new" data-testid="page-mailing-new" aria-labelledby="mailing-new-title">
            <div class="panel-head">
                <h2 id="mailing-new-title">{if draft_id.is_some() { "Edit the draft" } else { "Create a mailing" }}</h2>
                <A href="/mailings/history" attr:class="btn btn-ghost btn-sm">"Back to history"</A>
            </div>
            <form class="mailing-form" on:submit=on_submit novalidate=true data-testid="mailing-form">
                <div class="field">
                    <label for="mailing-name">"Name"</label>
                    <input
                        id="mailing-name"
                        type="text"
                        maxlength="200"
                        placeholder="e.g. Spring double points"
                        data-testid="mailing-name"
                        aria-describedby="mailing-name-error"
                        aria-invalid=move || error.with(|e| e.as_ref().and_then(|e| e.field("name")).is_some()).to_string()
                        prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <p class="muted small">"Only your team sees it."</p>
                    <FieldError error=error_signal field="name" id="mailing-name-error"/>
                </div>

                <AudiencePicker id="mailing" all_label="All customers" kind=audience_kind segment_id=segment_id
                    segments=segments error=error_signal error_field="audience">
                    <div class="count-bar" aria-live="polite">{audience_count}</div>
                </AudiencePicker>

                <fieldset class="form-section">
                    <legend>"Channels"</legend>
                    <div class="channel-toggles">
                        {Channel::ALL.into_iter().map(|c| view! {
                            <label class=format!("channel-toggle channel-toggle-{}", c.as_str()) class:on=move || chosen(c)>
                                <input
                                    type="checkbox"
                                    data-testid=format!("channel-{}", c.as_str())
                                    prop:checked=move || chosen(c)
                                    on:change=move |_| toggle(c)
                                />
                                <ChannelIcon channel=c/>
                                <span class="channel-toggle-name">{c.label()}</span>
                                <span class="channel-toggle-reach muted small" data-testid=format!("reach-{}", c.as_str())>
                                    {move || match reach(c) {
                                        Some(n) => format!("reaches {}", thousands_u(n)),
                                        None => "counting…".to_owned(),
                                    }}
                                </span>
                            </label>
                        }).collect_view()}
                    </div>
                    <p class="muted small">"A customer gets the mailing on every chosen channel they have contact details and consent for."</p>
                    <FieldError error=error_signal field="channels" id="mailing-channels-error"/>
                </fieldset>

                {move || chosen(Channel::Sms).then(|| view! {
                    <ChannelEditor channel=Channel::Sms>
                        <div class="editor-fields">
                            <TemplateField
                                id="mailing-sms-body"
                                label="SMS text"
                                value=texts.sms
                                rows=4
                                maxlength=1600
                                error=field_error("content.sms", Some(texts.sms))
                            />
                            <SmsCounter
                                preview=Signal::derive(move || current.get().and_then(|e| e.sms_preview).or_else(|| last_good.get().and_then(|e| e.sms_preview)))
                                empty=Signal::derive(move || texts.sms.with(|s| s.trim().is_empty()))
                                stale=stale
                            />
                        </div>
                        <div class="preview-pane" aria-label="SMS preview">
                            <p class="preview-caption muted small">"As the first customer gets it"</p>
                            <div class="bubble bubble-sms" data-testid="preview-sms">
                                {move || {
                                    let typed = texts.sms.get();
                                    if typed.trim().is_empty() {
                                        return view! { <span class="preview-placeholder">"Your SMS appears here."</span> }.into_any();
                                    }
                                    let rendered = current.get().and_then(|e| e.sms_preview).map(|p| p.text);
                                    rendered.filter(|_| !stale.get()).unwrap_or(typed).into_any()
                                }}
                            </div>
                        </div>
                    </ChannelEditor>
                })}

                {move || chosen(Channel::Email).then(|| view! {
                    <ChannelEditor channel=Channel::Email>
                        <div class="editor-fields">
                            <div class="field">
                                <label for="mailing-email-subject">"Subject"</label>
                                <input
                                    id="mailing-email-subject"
                                    type="text"
                                    maxlength="200"
                                    data-testid="mailing-email-subject"
                                    aria-describedby="mailing-email-subject-error"
                                    prop:value=texts.email_subject
                                    on:input=move |ev| texts.email_subject.set(event_target_value(&ev))
                                />
                                {move || field_error("content.email.subject", Some(texts.email_subject)).get().map(|m| view! {
                                    <p class="field-error" id="mailing-email-subject-error">{m}</p>
                                })}
                            </div>
                            <TemplateField
                                id="mailing-email-body"
                                label="Message"
                                value=texts.email_body
                                rows=8
                                maxlength=50000
                                error=Signal::derive(move || {
                                    field_error("content.email.body", Some(texts.email_body)).get()
                                        .or_else(|| error.with(|e| e.as_ref().and_then(|e| e.field("content.email")).filter(|_| texts.email_subject.with(|s| !s.trim().is_empty()))))
                                })
                            />
                            <p class="muted small">"Plain text: paragraphs and links become the HTML email."</p>
                        </div>
                        <div class="preview-pane" aria-label="Email preview">
                            <p class="preview-caption muted small">"As the first customer with an email address gets it"</p>
                            <article class="email-card" data-testid="preview-email">
                                <p class="email-card-subject">
                                    {move || {
                                        // Filled in by the server for the first customer, once it
                                        // has counted what is typed now; until then, as typed.
                                        let filled = current.get().and_then(|e| e.email_preview).filter(|_| !stale.get());
                                        filled.map(|p| p.subject).or_else(|| non_empty(texts.email_subject.get())).unwrap_or_else(|| "(no subject)".to_owned())
                                    }}
                                </p>
                                <div class="email-card-body">
                                    {move || match current.get().and_then(|e| e.email_preview).filter(|_| !stale.get()).map(|p| p.body).or_else(|| non_empty(texts.email_body.get())) {
                                        Some(body) => body.split("\n\n").map(|p| view! { <p>{p.to_owned()}</p> }).collect_view().into_any(),
                                        None => view! { <p class="preview-placeholder">"Your message appears here."</p> }.into_any(),
                                    }}
                                </div>
                            </article>
                        </div>
                    </ChannelEditor>
                })}

                {move || chosen(Channel::Telegram).then(|| view! {
                    <ChannelEditor channel=Channel::Telegram>
                        <div class="editor-fields">
                            <TemplateField
                                id="mailing-telegram-text"
                                label="Telegram message"
                                value=texts.telegram
                                rows=4
                                maxlength=4096
                                error=field_error("content.telegram", Some(texts.telegram))
                            />
                        </div>
                        <div class="preview-pane" aria-label="Telegram preview">
                            <p class="preview-caption muted small">"Variables are filled in for each customer"</p>
                            <div class="bubble bubble-telegram" data-testid="preview-telegram">
                                {move || non_empty(texts.telegram.get()).unwrap_or_else(|| "Your message appears here.".to_owned())}
                            </div>
                        </div>
                    </ChannelEditor>
                })}

                {move || chosen(Channel::Messenger).then(|| view! {
                    <ChannelEditor channel=Channel::Messenger>
                        <div class="editor-fields">
                            <TemplateField
                                id="mailing-messenger-text"
                                label="Messenger message"
                                value=texts.messenger
                                rows=4
                                maxlength=2000
                                error=field_error("content.messenger", Some(texts.messenger))
                            />
                        </div>
                        <div class="preview-pane" aria-label="Facebook Messenger preview">
                            <p class="preview-caption muted small">"Variables are filled in for each customer"</p>
                            <div class="bubble bubble-messenger" data-testid="preview-messenger">
                                {move || non_empty(texts.messenger.get()).unwrap_or_else(|| "Your message appears here.".to_owned())}
                            </div>
                        </div>
                    </ChannelEditor>
                })}

                <section class="form-section cost" aria-labelledby="mailing-cost-title" aria-live="polite" data-testid="mailing-cost" class:stale=move || stale.get()>
                    <h3 id="mailing-cost-title">"Cost"</h3>
                    {cost}
                    {payment_error}
                </section>

                <SchedulePicker id="mailing" scheduled=scheduled date=date time=time
                    time_zone_label=tz_label.clone() error=error_signal/>

                <FormError error=other_error known_fields=KNOWN_FIELDS/>

                {move || review.get().map(|r| {
                    let create = create.clone();
                    view! { <ReviewPanel review=r time_zone=tz_review.clone()
                        on_back=move || { review.set(None); key.set_value(idempotency_key()); }
                        on_confirm=move |input| create(input, Submitting::Send)
                        sending=Signal::derive(move || submitting.get() == Some(Submitting::Send))/> }
                })}

                <div class="form-actions" class:hidden=move || review.with(Option::is_some)>
                    <button
                        type="button"
                        class="btn btn-secondary"
                        data-testid="mailing-save-draft"
                        disabled=move || submitting.get().is_some()
                        aria-busy=move || (submitting.get() == Some(Submitting::Draft)).to_string()
                        on:click=save_draft
                    >
                        {move || match (submitting.get() == Some(Submitting::Draft), draft_id.is_some()) {
                            (true, _) => "Saving…",
                            (false, true) => "Save changes",
                            (false, false) => "Save draft",
                        }}
                    </button>
                    <button
                        type="submit"
                        class="btn btn-primary"
                        data-testid="mailing-send"
                        disabled=move || submitting.get().is_some()
                        aria-busy=move || (submitting.get() == Some(Submitting::Send)).to_string()
                    >
                        {move || if scheduled.get() { "Review and schedule…" } else { "Review and send…" }}
                    </button>
                </div>
            </form>
        </section>
    }
    .into_any()
}

/// One channel's editor and preview, side by side.
#[component]
fn ChannelEditor(channel: Channel, children: Children) -> impl IntoView {
    view! {
        <section class=format!("form-section channel-editor channel-editor-{}", channel.as_str())
            data-testid=format!("editor-{}", channel.as_str())
            aria-label=format!("{} content", channel.label())>
            <h3 class="channel-editor-title">
                <ChannelIcon channel=channel/>
                {channel.label()}
            </h3>
            <div class="channel-editor-body">{children()}</div>
        </section>
    }
}

/// A text with variables: a textarea and chips that insert a variable at the cursor.
#[component]
fn TemplateField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    rows: u32,
    maxlength: u32,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let area = NodeRef::<html::Textarea>::new();
    let error_id = format!("{id}-error");
    let insert = move |variable: &'static str| {
        let token = format!("{{{variable}}}");
        let current = value.get_untracked();
        let Some(el) = area.get_untracked() else {
            value.set(format!("{current}{token}"));
            return;
        };
        // The selection is in UTF-16 code units; the string is UTF-8.
        let start = el.selection_start().ok().flatten();
        let end = el.selection_end().ok().flatten();
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (utf16_to_byte(&current, s), utf16_to_byte(&current, e)),
            _ => (current.len(), current.len()),
        };
        let (start, end) = (start.min(end), start.max(end));
        let next = format!("{}{token}{}", &current[..start], &current[end..]);
        let caret = current[..start].encode_utf16().count() + token.encode_utf16().count();
        el.set_value(&next);
        value.set(next);
        let _ = el.focus();
        let caret = u32::try_from(caret).unwrap_or(u32::MAX);
        let _ = el.set_selection_range(caret, caret);
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <textarea
                id=id
                node_ref=area
                rows=rows
                maxlength=maxlength
                data-testid=id
                aria-describedby=error_id.clone()
                aria-invalid=move || error.with(Option::is_some).to_string()
                prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))
            ></textarea>
            <div class="variable-chips" role="group" aria-label=format!("Insert a variable into {label}")>
                {VARIABLES.into_iter().map(|v| view! {
                    <button
                        type="button"
                        class="chip"
                        data-testid=format!("{id}-var-{v}")
                        title=format!("Insert {{{v}}}")
                        on:click=move |_| insert(v)
                    >
                        {format!("{{{v}}}")}
                    </button>
                }).collect_view()}
            </div>
            {move || error.get().map(|m| view! { <p class="field-error" id=error_id.clone() data-testid=format!("{id}-error")>{m}</p> })}
        </div>
    }
}

/// "2 SMS segments · 38 characters left · GSM-7", from the server's rendering of the text.
#[component]
fn SmsCounter(
    preview: Signal<Option<SmsPreview>>,
    empty: Signal<bool>,
    stale: Signal<bool>,
) -> impl IntoView {
    move || {
        if empty.get() {
            return view! { <p class="sms-counter muted small" data-testid="sms-counter">"0 SMS segments"</p> }.into_any();
        }
        match preview.get() {
            Some(p) => {
                let encoding = if p.encoding == "gsm7" { "GSM-7" } else { "Unicode (UCS-2)" };
                let text = format!(
                    "{} · {} left · {encoding}",
                    plural(u64::from(p.segments), "SMS segment", "SMS segments"),
                    plural(u64::from(p.units_remaining), "character", "characters"),
                );
                view! {
                    <p class="sms-counter small" class:stale=move || stale.get() data-testid="sms-counter"
                        data-segments=p.segments.to_string() title="Counted for the first customer; names change the length">
                        {text}
                        {(p.encoding != "gsm7").then(|| view! {
                            <span class="muted">" — a character outside GSM-7 makes every segment shorter (70)"</span>
                        })}
                    </p>
                }
                .into_any()
            }
            None => view! { <p class="sms-counter muted small" data-testid="sms-counter">"Counting…"</p> }.into_any(),
        }
    }
}

/// Whether every field error of the problem is shown next to its field.
fn e_others_empty(p: &loyalcast_dto::Problem) -> bool {
    ApiError::Problem(p.clone())
        .other_field_errors(KNOWN_FIELDS)
        .is_empty()
}

fn utf16_to_byte(s: &str, units: u32) -> usize {
    let mut count = 0_u32;
    for (i, ch) in s.char_indices() {
        if count >= units {
            return i;
        }
        count += ch.len_utf16() as u32;
    }
    s.len()
}

fn non_empty(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

/// Writes the form into a draft, then sends it when the form was sent (now or at its time).
async fn save_draft(api: crate::api::Api, id: Uuid, input: NewMailing) -> ApiResult<Mailing> {
    let changes = MailingChanges {
        name: Some(input.name),
        audience: Some(input.audience),
        channels: Some(input.channels),
        content: Some(input.content),
    };
    let saved = api.edit_mailing(id, &changes).await?;
    if input.draft {
        return Ok(saved);
    }
    api.send_mailing(
        id,
        &loyalcast_dto::SendMailing {
            send_at: input.send_at,
        },
    )
    .await
}

fn focus(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// The wall-clock date and time of `at` in `time_zone`, through the browser's Intl API.
pub(crate) fn wall_clock(at: DateTime<Utc>, time_zone: &str) -> Option<NaiveDateTime> {
    let date = js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64));
    let options = js_sys::Object::new();
    for (key, value) in [
        ("timeZone", time_zone),
        ("hourCycle", "h23"),
        ("year", "numeric"),
        ("month", "2-digit"),
        ("day", "2-digit"),
        ("hour", "2-digit"),
        ("minute", "2-digit"),
        ("second", "2-digit"),
    ] {
        js_sys::Reflect::set(&options, &JsValue::from_str(key), &JsValue::from_str(value)).ok()?;
    }
    // Called through Reflect so that an unknown zone (a RangeError) comes back as None.
    let f = js_sys::Reflect::get(&date, &JsValue::from_str("toLocaleString"))
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    // Swedish formats as ISO: "2026-11-29 04:15:00".
    let args = js_sys::Array::of2(&JsValue::from_str("sv-SE"), &options);
    let text = js_sys::Reflect::apply(&f, &date, &args).ok()?.as_string()?;
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()
}

/// The instant when the clocks in `time_zone` show `date` (YYYY-MM-DD) and `time` (HH:MM).
/// Around a daylight-saving change, a time that does not exist resolves to the hour after.
pub(crate) fn local_to_utc(date: &str, time: &str, time_zone: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
    let wanted = NaiveDateTime::new(date, time);
    let as_utc = wanted.and_utc();
    // The zone's offset at the guess, then at the corrected instant (twice covers DST edges).
    let mut at = as_utc;
    for _ in 0..2 {
        let shown = wall_clock(at, time_zone)?;
        let offset = shown - at.naive_utc();
        at = as_utc - offset;
    }
    Some(at)
}

/// An hour from now, on the hour, in the merchant's time zone: ("2026-11-29", "05:00").
pub(crate) fn default_schedule(time_zone: &str) -> (String, String) {
    let soon = Utc::now() + chrono::Duration::hours(2);
    let local = wall_clock(soon, time_zone).unwrap_or_else(|| soon.naive_utc());
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%H:00").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_positions_map_to_byte_offsets() {
        assert_eq!(utf16_to_byte("abc", 0), 0);
        assert_eq!(utf16_to_byte("abc", 2), 2);
        assert_eq!(utf16_to_byte("abc", 9), 3);
        assert_eq!(utf16_to_byte("é😀x", 1), 2);
        assert_eq!(utf16_to_byte("é😀x", 3), 6);
    }
}
