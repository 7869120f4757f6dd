//! Send push: a message on the lock screen of every holder of a card, kept on the back of
//! the card. Pick the card and the audience (the server counts holders, passes and Apple
//! devices 400 ms after the last change), write the message (counter, the lock-screen cut,
//! a warning when the passes show this text already), send now or schedule, confirm; the
//! history below shows each push's per-platform figures as they move (change feed).

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{
    Audience, Card, ChangeTopic, LOCK_SCREEN_VISIBLE, NewPush, PUSH_MESSAGE_MAX, Page, Push,
    PushEstimate, PushEstimateRequest, PushStatus,
};
use uuid::Uuid;

use crate::api::{ApiError, ApiResult, idempotency_key, use_api};
use crate::components::icons::{Icon, IconKind};
use crate::components::pagination::Pagination;
use crate::components::phone::{CardBackPreview, PhonePreview};
use crate::components::send::{AudienceKind, AudiencePicker, SchedulePicker, audience_of};
use crate::components::states::{Empty, FieldError, FormError, local_problem, show_fetch};
use crate::components::time::{RelativeTime, merchant_time_zone};
use crate::fetch::{debounced, fetch};
use crate::format::{absolute, plural, thousands_u};
use crate::live::{Notice, on_change, reload_soon};
use crate::pages::mailing_new::{default_schedule, local_to_utc};
use crate::session::Auth;

const KNOWN_FIELDS: &[&str] = &[
    "card_id",
    "audience",
    "audience.segment_id",
    "message",
    "send_at",
];

#[component]
pub fn SendPushPage() -> impl IntoView {
    crate::set_title("Send push");
    let auth = expect_context::<Auth>();
    let api = use_api();
    let time_zone = merchant_time_zone();

    let cards = fetch(|| (), move |_| async move { api.cards(1, 100).await });
    let segments = fetch(|| (), move |_| async move { api.segments(1, 100).await });
    let card_id = RwSignal::new(None::<Uuid>);
    // The first card is chosen once the cards are in.
    Effect::new(move |_| {
        if card_id.get_untracked().is_none()
            && let Some(first) = cards.ok().and_then(|p| p.items.into_iter().next())
        {
            card_id.set(Some(first.id));
        }
    });
    let card = Memo::new(move |_| {
        let id = card_id.get()?;
        cards
            .ok()
            .and_then(|p: Page<Card>| p.items.into_iter().find(|c| c.id == id))
    });
    let audience_kind = RwSignal::new(AudienceKind::All);
    let segment_id = RwSignal::new(None::<Uuid>);
    let message = RwSignal::new(String::new());
    let schedule = RwSignal::new(false);
    let (default_date, default_time) = default_schedule(&time_zone);
    let date = RwSignal::new(default_date);
    let time = RwSignal::new(default_time);
    let error = RwSignal::new(None::<ApiError>);
    let error_signal: Signal<Option<ApiError>> = error.into();
    let confirming = RwSignal::new(None::<NewPush>);
    let sending = RwSignal::new(false);
    let sent_note = RwSignal::new(None::<String>);
    // One key per submission: a double click or a retried request sends once.
    let key = StoredValue::new(idempotency_key());

    let audience = Memo::new(move |_| audience_of(audience_kind.get(), segment_id.get()));

    // The reach, 400 ms after the last change.
    let estimate_input = Memo::new(move |_| {
        Some(PushEstimateRequest {
            card_id: card_id.get()?,
            audience: audience.get()?,
            message: Some(message.get().trim().to_owned())
                .filter(|m| !m.is_empty() && m.chars().count() <= PUSH_MESSAGE_MAX),
        })
    });
    let settled = debounced(estimate_input.into(), Duration::from_millis(400));
    let estimate = RwSignal::new(None::<ApiResult<PushEstimate>>);
    let latest = StoredValue::new(0_u64);
    Effect::new(move |_| {
        let Some(request) = settled.get() else {
            estimate.set(None);
            return;
        };
        let id = latest.get_value().wrapping_add(1);
        latest.set_value(id);
        spawn_local(async move {
            let result = api.estimate_push(&request).await;
            if latest.try_get_value() == Some(id) {
                estimate.try_set(Some(result));
            }
        });
    });

    let history_page = RwSignal::new(1_u64);
    let history = fetch(
        move || history_page.get(),
        move |page| async move { api.pushes(page, 10).await },
    );
    let reload = reload_soon(history);
    {
        let reload = reload.clone();
        on_change(move |notice| match notice {
            Notice::Change(e) if e.topic == ChangeTopic::Push => reload(),
            Notice::Change(_) => {}
            Notice::Resync => reload(),
        });
    }

    let chars = move || message.with(|m| m.trim().chars().count());
    let counter_class = move || {
        if chars() > PUSH_MESSAGE_MAX {
            "small text-danger"
        } else {
            "small muted"
        }
    };
    let review = {
        let time_zone = time_zone.clone();
        move |_| {
            error.set(None);
            sent_note.set(None);
            let Some(card_id) = card_id.get_untracked() else {
                error.set(Some(local_problem("card_id", "Choose a card.")));
                return;
            };
            let Some(audience) = audience.get_untracked() else {
                error.set(Some(local_problem(
                    "audience.segment_id",
                    "Choose a segment.",
                )));
                return;
            };
            let text = message.get_untracked().trim().to_owned();
            if text.is_empty() {
                error.set(Some(local_problem("message", "Write the message.")));
                return;
            }
            if text.chars().count() > PUSH_MESSAGE_MAX {
                error.set(Some(local_problem(
                    "message",
                    &format!("A push holds at most {PUSH_MESSAGE_MAX} characters."),
                )));
                return;
            }
            if text.contains(['\n', '\r']) {
                error.set(Some(local_problem(
                    "message",
                    "Keep the message on one line.",
                )));
                return;
            }
            let send_at = if schedule.get_untracked() {
                match local_to_utc(&date.get_untracked(), &time.get_untracked(), &time_zone) {
                    Some(at) if at > chrono::Utc::now() => Some(at),
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
            } else {
                None
            };
            confirming.set(Some(NewPush {
                card_id,
                audience,
                message: text,
                send_at,
            }));
        }
    };
    let send = move |_| {
        let Some(input) = confirming.get_untracked() else {
            return;
        };
        if sending.get_untracked() {
            return;
        }
        sending.set(true);
        let reload = reload.clone();
        spawn_local(async move {
            let result = api.create_push(&input, &key.get_value()).await;
            sending.try_set(false);
            confirming.try_set(None);
            match result {
                Ok(push) => {
                    key.set_value(idempotency_key());
                    message.try_set(String::new());
                    schedule.try_set(false);
                    sent_note.try_set(Some(match push.status {
                        PushStatus::Scheduled => {
                            "Scheduled. It appears in the history below.".to_owned()
                        }
                        _ => format!(
                            "Sent to {} — it is on the back of their cards now.",
                            plural(push.passes, "pass", "passes")
                        ),
                    }));
                    reload();
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
        });
    };

    let reach = move || {
        estimate.with(|e| match e {
            None => view! { <p class="muted small" data-testid="push-reach">"Counting…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="small text-danger" data-testid="push-reach">{format!("Could not count: {}", e.message())}</p> }.into_any(),
            Some(Ok(r)) => {
                let same = (r.same_message > 0).then(|| view! {
                    <p class="small text-warning notice" role="status" data-testid="push-same-message">
                        <Icon kind=IconKind::Alert size=14/>
                        {format!(
                            " {} already show this exact message: an iPhone shows nothing when the text does not change. Change a word to notify them.",
                            plural(r.same_message, "pass", "passes")
                        )}
                    </p>
                });
                view! {
                    <div data-testid="push-reach">
                        <p class="strong">
                            {format!("{} will receive this", plural(r.holders, "customer", "customers"))}
                        </p>
                        <ul class="reach-list small">
                            <li data-testid="reach-passes">{format!("{} of this card get it on the back", plural(r.passes, "pass", "passes"))}</li>
                            <li data-testid="reach-apple">{format!("{} on {} notified on the lock screen (Apple Wallet)", plural(r.apple_devices, "device", "devices"), plural(r.apple_passes, "pass", "passes"))}</li>
                            <li data-testid="reach-google">{format!("{} in Google Wallet get it as a message (with a notification up to three times a day)", plural(r.google_passes, "pass", "passes"))}</li>
                            <li data-testid="reach-web">{format!("{} subscribed on the enrolment page get a browser notification", plural(r.web_subscriptions, "browser", "browsers"))}</li>
                        </ul>
                        {same}
                    </div>
                }
                .into_any()
            }
        })
    };

    let tz_label = time_zone.clone();
    let history_view = {
        let time_zone = time_zone.clone();
        move |p: &Page<Push>| -> AnyView {
            if p.items.is_empty() {
                return view! { <Empty title="No pushes yet." hint="Pushes you send or schedule appear here with their figures."/> }.into_any();
            }
            let (page_no, per_page, total) = (p.page, p.per_page, p.total);
            let rows = p.items.clone();
            let time_zone = time_zone.clone();
            view! {
                <div class="table-wrap">
                    <table class="table" data-testid="push-history">
                        <caption class="sr-only">"Push history"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Message"</th>
                                <th scope="col">"Card · audience"</th>
                                <th scope="col" class="num">"Passes"</th>
                                <th scope="col">"Wallets"</th>
                                <th scope="col">"When"</th>
                                <th scope="col">"Status"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {rows.into_iter().map(|push| history_row(push, &time_zone, auth.can_manage(), history)).collect_view()}
                        </tbody>
                    </table>
                </div>
                <Pagination
                    page=Signal::derive(move || page_no)
                    per_page=Signal::derive(move || per_page)
                    total=Signal::derive(move || total)
                    on_change=Callback::new(move |page| history_page.set(page))
                    noun="pushes"
                />
            }
            .into_any()
        }
    };

    view! {
        <div class="push-layout" data-testid="page-send-push">
            <section class="panel" aria-labelledby="push-title">
                <h2 id="push-title">"Send push"</h2>
                <p class="muted small">"A message on the lock screen of everyone who holds the card, kept on the back of the card. Push is free: it never uses SMS or email credits."</p>
                {move || (!auth.can_manage()).then(|| view! {
                    <p class="notice" data-testid="push-agent-note">"Only owners and admins send pushes. You can see the history below."</p>
                })}
                <form class="mailing-form" novalidate=true on:submit=move |ev| ev.prevent_default() data-testid="push-form">
                    <div class="field">
                        <label for="push-card">"Card"</label>
                        <select id="push-card" data-testid="push-card" aria-describedby="push-card-error"
                            on:change=move |ev| card_id.set(event_target_value(&ev).parse().ok())>
                            {move || cards.ok().map(|p| p.items.into_iter().map(|c| {
                                let id = c.id;
                                view! { <option value=id.to_string() selected=move || card_id.get() == Some(id)>{c.name}</option> }
                            }).collect_view())}
                        </select>
                        <FieldError error=error_signal field="card_id" id="push-card-error"/>
                    </div>
                    <AudiencePicker id="push" all_label="All holders of the card" kind=audience_kind segment_id=segment_id
                        segments=segments error=error_signal error_field="audience.segment_id" class="field">
                        {reach}
                    </AudiencePicker>
                    <div class="field">
                        <label for="push-message">"Message"</label>
                        <textarea id="push-message" rows="3" data-testid="push-message" aria-describedby="push-message-count push-message-error"
                            maxlength=PUSH_MESSAGE_MAX.to_string()
                            prop:value=message on:input=move |ev| message.set(event_target_value(&ev))></textarea>
                        <p id="push-message-count" data-testid="push-counter"
                            class=counter_class>
                            {move || format!("{} / {PUSH_MESSAGE_MAX}", chars())}
                            {move || (chars() > LOCK_SCREEN_VISIBLE).then(|| format!(
                                " · the lock screen shows about the first {LOCK_SCREEN_VISIBLE}; the whole message is on the back of the card"
                            ))}
                        </p>
                        <FieldError error=error_signal field="message" id="push-message-error"/>
                    </div>
                    <SchedulePicker id="push" scheduled=schedule date=date time=time
                        time_zone_label=tz_label.clone() error=error_signal class="field"/>
                    <FormError error=error_signal known_fields=KNOWN_FIELDS/>
                    {move || sent_note.get().map(|n| view! { <p class="notice notice-success" role="status" data-testid="push-sent">{n}</p> })}
                    {move || match confirming.get() {
                        None => view! {
                            <div class="form-actions">
                                <button type="button" class="btn btn-primary" data-testid="push-review"
                                    disabled=move || !auth.can_manage()
                                    on:click=review.clone()>
                                    {move || if schedule.get() { "Schedule…" } else { "Send now…" }}
                                </button>
                            </div>
                        }.into_any(),
                        Some(input) => {
                            let count = estimate.with(|e| match e {
                                Some(Ok(r)) => format!("{} ({} on the lock screen)", plural(r.passes, "pass", "passes"), plural(r.apple_devices, "device", "devices")),
                                _ => "the card's holders".to_owned(),
                            });
                            let when = input.send_at.map(|at| format!(" on {}", absolute(at, &merchant_time_zone()))).unwrap_or_default();
                            view! {
                                <div class="confirm" role="alertdialog" aria-labelledby="push-confirm-text" data-testid="push-confirm">
                                    <p id="push-confirm-text">{format!("Send “{}” to {count}{when}?", input.message)}</p>
                                    <div class="form-actions">
                                        <button type="button" class="btn btn-secondary" data-testid="push-confirm-back"
                                            on:click=move |_| confirming.set(None)>"Back"</button>
                                        <button type="button" class="btn btn-primary" data-testid="push-confirm-send"
                                            disabled=sending aria-busy=move || sending.get().to_string()
                                            on:click=send.clone()>
                                            {if input.send_at.is_some() { "Schedule push" } else { "Send push" }}
                                        </button>
                                    </div>
                                </div>
                            }.into_any()
                        }
                    }}
                </form>
            </section>
            <aside class="push-previews" aria-label="Preview">
                <PhonePreview
                    card_name=Signal::derive(move || card.get().map(|c| c.name))
                    design=Signal::derive(move || card.get().map(|c| c.design))
                    message=Signal::derive(move || Some(message.get()))
                />
                <CardBackPreview
                    card_name=Signal::derive(move || card.get().map(|c| c.name))
                    design=Signal::derive(move || card.get().map(|c| c.design))
                    message=Signal::derive(move || Some(message.get()))
                />
            </aside>
            <section class="panel panel-flush push-history" aria-labelledby="push-history-title">
                <div class="panel-toolbar"><h2 id="push-history-title">"Push history"</h2></div>
                {show_fetch(history, "Loading pushes…", history_view)}
            </section>
        </div>
    }
}

fn history_row(
    push: Push,
    time_zone: &str,
    can_manage: bool,
    history: crate::fetch::Fetch<Page<Push>>,
) -> impl IntoView + use<> {
    let api = use_api();
    let (label, class) = match push.status {
        PushStatus::Scheduled => ("Scheduled", "badge-info"),
        PushStatus::Sending => ("Sending", "badge-warning"),
        PushStatus::Completed => ("Sent", "badge-success"),
        PushStatus::Cancelled => ("Cancelled", "badge-neutral"),
    };
    let audience = match (&push.audience, &push.segment_name, push.automation_id) {
        (_, _, Some(_)) => format!(
            "automation “{}”",
            push.automation_name.as_deref().unwrap_or("deleted since")
        ),
        (Audience::All, _, None) => "all holders".to_owned(),
        (Audience::Segment { .. }, Some(name), None) => name.clone(),
        (Audience::Segment { .. }, None, None) => "a deleted segment".to_owned(),
    };
    let a = &push.apple;
    let mut apple = format!(
        "Apple Wallet: {} accepted · {} fetched the update",
        thousands_u(a.accepted),
        thousands_u(a.delivered)
    );
    if a.queued > 0 {
        apple.push_str(&format!(" · {} waiting", thousands_u(a.queued)));
    }
    if a.sandbox > 0 {
        apple.push_str(" · sandbox: no device was really notified");
    }
    let g = &push.google;
    let google = (g.total > 0).then(|| {
        let mut text = format!(
            "Google Wallet: {} of {} added",
            thousands_u(g.accepted),
            thousands_u(g.total)
        );
        if g.quiet > 0 {
            text.push_str(&format!(
                " ({} without a notification: three a day at most)",
                thousands_u(g.quiet)
            ));
        }
        if g.sandbox > 0 {
            text.push_str(" · sandbox: not really sent");
        }
        text
    });
    let w = &push.web;
    let web = (w.total > 0).then(|| {
        let mut text = format!(
            "Browsers: {} of {} accepted by their push service",
            thousands_u(w.accepted),
            thousands_u(w.total)
        );
        if w.sandbox > 0 {
            text.push_str(" · sandbox: not really sent");
        }
        text
    });
    let failures = a.failed + g.failed + w.failed;
    let failed = (failures > 0).then(|| {
        let reasons: Vec<String> = push
            .failures
            .iter()
            .map(|f| format!("{} × {}", thousands_u(f.count), f.reason))
            .collect();
        format!("{} failed: {}", thousands_u(failures), reasons.join("; "))
    });
    let when = push
        .started_at
        .or(push.scheduled_at)
        .unwrap_or(push.created_at);
    let when_text = absolute(when, time_zone);
    let id = push.id;
    let cancellable =
        can_manage && matches!(push.status, PushStatus::Scheduled | PushStatus::Sending);
    let cancelling = RwSignal::new(false);
    view! {
        <tr data-testid="push-row">
            <td class="strong" data-testid="push-row-message">{push.message.clone()}</td>
            <td>{push.card_name.clone()} <span class="muted small">{format!(" · {audience}")}</span></td>
            <td class="num" data-testid="push-row-passes">{thousands_u(push.passes)}</td>
            <td class="small" data-testid="push-row-apple">
                {apple}
                {failed.map(|f| view! { <span class="text-danger">{format!(" · {f}")}</span> })}
                {google.map(|g| view! { <br/><span data-testid="push-row-google">{g}</span> })}
                {web.map(|w| view! { <br/><span data-testid="push-row-web">{w}</span> })}
            </td>
            <td class="nowrap small" title=when_text.clone()>
                {if push.status == PushStatus::Scheduled { "for " } else { "" }}
                <RelativeTime at=when/>
            </td>
            <td>
                <span class=format!("badge {class}") data-testid="push-row-status">{label}</span>
                {cancellable.then(|| view! {
                    <button type="button" class="btn btn-danger-text btn-sm" data-testid="push-cancel"
                        disabled=cancelling
                        on:click=move |_| {
                            cancelling.set(true);
                            spawn_local(async move {
                                let _ = api.cancel_push(id).await;
                                cancelling.try_set(false);
                                history.reload();
                            });
                        }>
                        "Cancel"
                    </button>
                })}
            </td>
        </tr>
    }
}
