//! Push automation and Custom auto-push: wallet pushes that send themselves.
//!
//! Push automation shows the four built-in kinds of the chosen card as tiles (on/off, what
//! they did: sent, skipped and why, last fired, next due) with an editor (timing, message
//! with the live lock-screen preview, reward) and the merchant's rules for every
//! automation (pause all, quiet hours, frequency cap, staleness). Custom auto-push is the
//! card's rules table (trigger, delay, message, figures, on/off, edit, delete) with the same
//! editor. Everything reloads when the change feed says an automation changed or fired.

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{
    AUTOMATION_MESSAGE_MAX, Automation, AutomationChanges, AutomationKind, AutomationSettings,
    Card, ChangeTopic, Delay, DelayUnit, EventKind, FeedbackAfter, NewAutomation, Page, Trigger,
};
use uuid::Uuid;

use crate::api::{ApiError, use_api};
use crate::components::phone::{CardBackPreview, PhonePreview};
use crate::components::states::{Empty, FieldError, FormError, local_problem, show_fetch};
use crate::components::time::{RelativeTime, ScheduledTime};
use crate::fetch::{Fetch, fetch};
use crate::format::{plural, thousands_u};
use crate::live::{Notice, on_change, reload_soon};
use crate::session::Auth;

const KNOWN_FIELDS: &[&str] = &[
    "name",
    "message",
    "trigger.send_time",
    "trigger.days_before",
    "trigger.delay.amount",
    "trigger.cooldown_days",
    "trigger.lapse_days",
    "reward_points",
    "reward_stamps",
];

/// The built-in kinds, in the order their tiles show.
const BUILT_IN: [AutomationKind; 4] = [
    AutomationKind::Birthday,
    AutomationKind::Anniversary,
    AutomationKind::Feedback,
    AutomationKind::Winback,
];

/// What a custom rule can follow.
const RULE_EVENTS: [EventKind; 7] = [
    EventKind::CardInstalled,
    EventKind::ReviewSent,
    EventKind::ReferralAdded,
    EventKind::CardPeriodExpired,
    EventKind::Visit,
    EventKind::Purchase,
    EventKind::PointsChanged,
];

pub fn event_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Visit => "Visit",
        EventKind::Purchase => "Purchase",
        EventKind::CardInstalled => "Card installed",
        EventKind::ReviewSent => "Review sent",
        EventKind::ReferralAdded => "Referral added",
        EventKind::CardPeriodExpired => "Card period expired",
        EventKind::PointsChanged => "Points changed",
    }
}

fn kind_summary(kind: AutomationKind) -> &'static str {
    match kind {
        AutomationKind::Birthday => {
            "On the customer's birthday, or a few days before, at the time you choose."
        }
        AutomationKind::Anniversary => "Each year on the day they installed the card.",
        AutomationKind::Feedback => {
            "A while after a visit or purchase; not again within the cool-down."
        }
        AutomationKind::Winback => {
            "When a customer has not visited for a number of days: once per lapse."
        }
        AutomationKind::Custom => "When something happens, after a delay.",
    }
}

fn default_message(kind: AutomationKind) -> &'static str {
    match kind {
        AutomationKind::Birthday => {
            "Happy birthday, {first_name}! A treat is waiting for you at {merchant_name}."
        }
        AutomationKind::Anniversary => "A year with {card_name} today, {first_name}: thank you!",
        AutomationKind::Feedback => {
            "Thanks for coming by, {first_name}! How was it? Reply with a review."
        }
        AutomationKind::Winback => {
            "We miss you, {first_name}! Come back this week for a little something."
        }
        AutomationKind::Custom => "Thank you, {first_name}!",
    }
}

/// A delay's length: "2 hours".
fn span_text(delay: Delay) -> String {
    let unit = match delay.unit {
        DelayUnit::Minutes => ("minute", "minutes"),
        DelayUnit::Hours => ("hour", "hours"),
        DelayUnit::Days => ("day", "days"),
    };
    plural(u64::from(delay.amount), unit.0, unit.1)
}

/// A delay as the merchant reads it.
pub fn delay_text(delay: Delay) -> String {
    if delay.amount == 0 {
        return "right away".to_owned();
    }
    format!("after {}", span_text(delay))
}

/// When an automation fires, in a sentence.
pub fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Birthday {
            days_before: 0,
            send_time,
        } => format!("On the birthday at {send_time}"),
        Trigger::Birthday {
            days_before,
            send_time,
        } => format!(
            "{} before the birthday at {send_time}",
            plural(u64::from(*days_before), "day", "days")
        ),
        Trigger::Anniversary { send_time } => {
            format!("On the anniversary of joining at {send_time}")
        }
        Trigger::Feedback {
            after,
            delay,
            cooldown_days,
        } => {
            let after = match after {
                FeedbackAfter::Visit => "a visit",
                FeedbackAfter::Purchase => "a purchase",
                FeedbackAfter::Either => "a visit or purchase",
            };
            let mut text = if delay.amount == 0 {
                format!("Right after {after}")
            } else {
                format!("{} after {after}", span_text(*delay))
            };
            if *cooldown_days > 0 {
                text.push_str(&format!(
                    ", at most once in {}",
                    plural(u64::from(*cooldown_days), "day", "days")
                ));
            }
            text
        }
        Trigger::Winback { lapse_days } => format!(
            "After {} without a visit",
            plural(u64::from(*lapse_days), "day", "days")
        ),
        Trigger::Event { event, delay } => {
            format!("{}, {}", event_label(*event), delay_text(*delay))
        }
    }
}

/// A message as a sample customer (Ada Lovelace, 120 points, 7 visits) gets it: what the
/// preview shows. Unknown variables stay as written (the server refuses them on save).
pub fn fill_sample(text: &str, card_name: &str, merchant_name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.chars().next().unwrap_or('{'));
            rest = &tail[2..];
            continue;
        }
        if let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) {
            let value = match &tail[1..end] {
                "first_name" => Some("Ada"),
                "last_name" => Some("Lovelace"),
                "card_name" => Some(card_name),
                "points" => Some("120"),
                "visits" => Some("7"),
                "merchant_name" => Some(merchant_name),
                _ => None,
            };
            if let Some(value) = value {
                out.push_str(value);
                rest = &tail[end + 1..];
                continue;
            }
        }
        out.push(tail.chars().next().unwrap_or('{'));
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// What an automation did, in a line: sent, deferred, skipped by reason, last fired.
#[component]
fn Figures(automation: Automation) -> impl IntoView {
    let f = automation.figures.clone();
    let skipped: u64 = f.skipped.iter().map(|s| s.count).sum();
    let reasons = f
        .skipped
        .iter()
        .map(|s| format!("{} {}", thousands_u(s.count), s.reason.label()))
        .collect::<Vec<_>>()
        .join(", ");
    let next = f.next_due.first().copied();
    view! {
        <dl class="automation-figures small" data-testid="automation-figures">
            <div><dt>"Sent"</dt><dd data-testid="figure-sent">{thousands_u(f.sent)}</dd></div>
            <div>
                <dt>"Skipped"</dt>
                <dd data-testid="figure-skipped" title=reasons.clone()>
                    {thousands_u(skipped)}
                    {(!reasons.is_empty()).then(|| view! { <span class="muted">{format!(" ({reasons})")}</span> })}
                </dd>
            </div>
            {(f.deferred > 0).then(|| view! {
                <div><dt>"Deferred"</dt><dd data-testid="figure-deferred" title="Moved past quiet hours, not dropped">{thousands_u(f.deferred)}</dd></div>
            })}
            <div>
                <dt>"Last fired"</dt>
                <dd data-testid="figure-last">{match f.last_fired_at {
                    Some(at) => view! { <RelativeTime at=at/> }.into_any(),
                    None => view! { <span class="muted">"never"</span> }.into_any(),
                }}</dd>
            </div>
            <div>
                <dt>"Due next"</dt>
                <dd data-testid="figure-due">{match next {
                    Some(at) => view! { {format!("{} · first ", thousands_u(f.due))}<ScheduledTime at=at/> }.into_any(),
                    None => view! { <span class="muted">"nothing due"</span> }.into_any(),
                }}</dd>
            </div>
        </dl>
    }
}

/// The card picker both tabs open with; the first card is chosen once cards are in.
fn card_picker(cards: Fetch<Page<Card>>, card_id: RwSignal<Option<Uuid>>) -> impl IntoView {
    Effect::new(move |_| {
        if card_id.get_untracked().is_none()
            && let Some(first) = cards.ok().and_then(|p| p.items.into_iter().next())
        {
            card_id.set(Some(first.id));
        }
    });
    view! {
        <div class="field field-inline">
            <label for="automation-card">"Card"</label>
            <select id="automation-card" data-testid="automation-card"
                on:change=move |ev| card_id.set(event_target_value(&ev).parse().ok())>
                {move || cards.ok().map(|p| p.items.into_iter().map(|c| {
                    let id = c.id;
                    view! { <option value=id.to_string() selected=move || card_id.get() == Some(id)>{c.name}</option> }
                }).collect_view())}
            </select>
        </div>
    }
}

/// The editor's state for one automation (new or existing).
#[derive(Clone, Copy)]
struct Draft {
    name: RwSignal<String>,
    message: RwSignal<String>,
    send_time: RwSignal<String>,
    days_before: RwSignal<String>,
    after: RwSignal<FeedbackAfter>,
    delay_amount: RwSignal<String>,
    delay_unit: RwSignal<DelayUnit>,
    cooldown_days: RwSignal<String>,
    lapse_days: RwSignal<String>,
    event: RwSignal<EventKind>,
    reward_points: RwSignal<String>,
    reward_stamps: RwSignal<String>,
}

impl Draft {
    fn of(kind: AutomationKind, existing: Option<&Automation>) -> Draft {
        let trigger = existing
            .map(|a| a.trigger.clone())
            .unwrap_or_else(|| Trigger::default_for(kind));
        let d = Draft {
            name: RwSignal::new(
                existing
                    .filter(|a| a.kind == AutomationKind::Custom)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
            ),
            message: RwSignal::new(
                existing
                    .map(|a| a.message.clone())
                    .unwrap_or_else(|| default_message(kind).to_owned()),
            ),
            send_time: RwSignal::new("10:00".to_owned()),
            days_before: RwSignal::new("0".to_owned()),
            after: RwSignal::new(FeedbackAfter::Either),
            delay_amount: RwSignal::new("0".to_owned()),
            delay_unit: RwSignal::new(DelayUnit::Hours),
            cooldown_days: RwSignal::new("30".to_owned()),
            lapse_days: RwSignal::new("60".to_owned()),
            event: RwSignal::new(EventKind::CardInstalled),
            reward_points: RwSignal::new(
                existing.map(|a| a.reward_points).unwrap_or(0).to_string(),
            ),
            reward_stamps: RwSignal::new(
                existing.map(|a| a.reward_stamps).unwrap_or(0).to_string(),
            ),
        };
        match trigger {
            Trigger::Birthday {
                days_before,
                send_time,
            } => {
                d.days_before.set(days_before.to_string());
                d.send_time.set(send_time);
            }
            Trigger::Anniversary { send_time } => d.send_time.set(send_time),
            Trigger::Feedback {
                after,
                delay,
                cooldown_days,
            } => {
                d.after.set(after);
                d.delay_amount.set(delay.amount.to_string());
                d.delay_unit.set(delay.unit);
                d.cooldown_days.set(cooldown_days.to_string());
            }
            Trigger::Winback { lapse_days } => d.lapse_days.set(lapse_days.to_string()),
            Trigger::Event { event, delay } => {
                d.event.set(event);
                d.delay_amount.set(delay.amount.to_string());
                d.delay_unit.set(delay.unit);
            }
        }
        d
    }

    /// The trigger the fields say, or the field that is not a number.
    fn trigger(&self, kind: AutomationKind) -> Result<Trigger, ApiError> {
        let number = |value: RwSignal<String>, field: &str| -> Result<u32, ApiError> {
            value
                .get_untracked()
                .trim()
                .parse::<u32>()
                .map_err(|_| local_problem(field, "Enter a whole number."))
        };
        let delay = || -> Result<Delay, ApiError> {
            Ok(Delay {
                amount: number(self.delay_amount, "trigger.delay.amount")?,
                unit: self.delay_unit.get_untracked(),
            })
        };
        Ok(match kind {
            AutomationKind::Birthday => Trigger::Birthday {
                days_before: number(self.days_before, "trigger.days_before")?,
                send_time: self.send_time.get_untracked(),
            },
            AutomationKind::Anniversary => Trigger::Anniversary {
                send_time: self.send_time.get_untracked(),
            },
            AutomationKind::Feedback => Trigger::Feedback {
                after: self.after.get_untracked(),
                delay: delay()?,
                cooldown_days: number(self.cooldown_days, "trigger.cooldown_days")?,
            },
            AutomationKind::Winback => Trigger::Winback {
                lapse_days: number(self.lapse_days, "trigger.lapse_days")?,
            },
            AutomationKind::Custom => Trigger::Event {
                event: self.event.get_untracked(),
                delay: delay()?,
            },
        })
    }

    fn rewards(&self) -> Result<(u32, u32), ApiError> {
        let n = |value: RwSignal<String>, field: &str| -> Result<u32, ApiError> {
            let text = value.get_untracked();
            let text = text.trim();
            if text.is_empty() {
                return Ok(0);
            }
            text.parse::<u32>()
                .map_err(|_| local_problem(field, "Enter a whole number, 0 or more."))
        };
        Ok((
            n(self.reward_points, "reward_points")?,
            n(self.reward_stamps, "reward_stamps")?,
        ))
    }
}

/// The editor of one automation: its timing, message (with the preview) and reward; saves
/// a new one (enabled) or the changes to an existing one.
#[component]
fn Editor(
    kind: AutomationKind,
    card: Signal<Option<Card>>,
    existing: Option<Automation>,
    on_done: Callback<Option<String>>,
) -> impl IntoView {
    let api = use_api();
    let auth = expect_context::<Auth>();
    let draft = Draft::of(kind, existing.as_ref());
    let error = RwSignal::new(None::<ApiError>);
    let error_signal: Signal<Option<ApiError>> = error.into();
    let saving = RwSignal::new(false);
    let existing_id = existing.as_ref().map(|a| a.id);
    let merchant_name = auth
        .session_untracked()
        .map(|s| s.merchant.name)
        .unwrap_or_default();
    let preview = {
        let merchant_name = merchant_name.clone();
        Signal::derive(move || {
            let card_name = card.get().map(|c| c.name).unwrap_or_default();
            Some(fill_sample(
                &draft.message.get(),
                &card_name,
                &merchant_name,
            ))
        })
    };
    let chars = move || draft.message.with(|m| m.trim().chars().count());
    let save = move |_| {
        if saving.get_untracked() {
            return;
        }
        error.set(None);
        let Some(card_id) = card.get_untracked().map(|c| c.id) else {
            error.set(Some(local_problem("card_id", "Choose a card.")));
            return;
        };
        let message = draft.message.get_untracked().trim().to_owned();
        if message.is_empty() {
            error.set(Some(local_problem("message", "Write the message.")));
            return;
        }
        if message.chars().count() > AUTOMATION_MESSAGE_MAX {
            error.set(Some(local_problem(
                "message",
                &format!("A wallet message holds at most {AUTOMATION_MESSAGE_MAX} characters."),
            )));
            return;
        }
        let trigger = match draft.trigger(kind) {
            Ok(t) => t,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let (reward_points, reward_stamps) = match draft.rewards() {
            Ok(r) => r,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let name =
            (kind == AutomationKind::Custom).then(|| draft.name.get_untracked().trim().to_owned());
        saving.set(true);
        spawn_local(async move {
            let result = match existing_id {
                Some(id) => {
                    api.update_automation(
                        id,
                        &AutomationChanges {
                            name,
                            enabled: None,
                            trigger: Some(trigger),
                            message: Some(message),
                            reward_points: Some(reward_points),
                            reward_stamps: Some(reward_stamps),
                        },
                    )
                    .await
                }
                None => {
                    api.create_automation(&NewAutomation {
                        card_id,
                        name,
                        enabled: true,
                        trigger,
                        message,
                        reward_points,
                        reward_stamps,
                    })
                    .await
                }
            };
            saving.try_set(false);
            match result {
                Ok(a) => on_done.run(Some(format!(
                    "Saved: {} is {}.",
                    a.name,
                    if a.enabled { "on" } else { "off" }
                ))),
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
        });
    };
    let number_field = move |id: &'static str,
                             label: &'static str,
                             value: RwSignal<String>,
                             field: &'static str,
                             hint: &'static str| {
        let error_id = format!("{id}-error");
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id data-testid=id type="number" inputmode="numeric" min="0"
                    aria-describedby=error_id.clone()
                    prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                <p class="small muted">{hint}</p>
                <FieldError error=error_signal field=field id=error_id/>
            </div>
        }
    };
    let send_time_field = move || {
        view! {
            <div class="field">
                <label for="automation-send-time">"Send at (the customer's local time)"</label>
                <input id="automation-send-time" data-testid="automation-send-time" type="time"
                    aria-describedby="automation-send-time-error"
                    prop:value=draft.send_time on:input=move |ev| draft.send_time.set(event_target_value(&ev))/>
                <FieldError error=error_signal field="trigger.send_time" id="automation-send-time-error"/>
            </div>
        }
    };
    let delay_field = move || {
        view! {
            <div class="field">
                <label for="automation-delay">"Delay"</label>
                <div class="field-pair">
                    <input id="automation-delay" data-testid="automation-delay" type="number" inputmode="numeric" min="0"
                        aria-describedby="automation-delay-error"
                        prop:value=draft.delay_amount on:input=move |ev| draft.delay_amount.set(event_target_value(&ev))/>
                    <select data-testid="automation-delay-unit" aria-label="Delay unit"
                        on:change=move |ev| if let Some(u) = DelayUnit::parse(&event_target_value(&ev)) { draft.delay_unit.set(u) }>
                        {DelayUnit::ALL.into_iter().map(|u| view! {
                            <option value=u.as_str() selected=move || draft.delay_unit.get() == u>{u.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <p class="small muted">"0 sends right away. Days count on the customer's calendar."</p>
                <FieldError error=error_signal field="trigger.delay.amount" id="automation-delay-error"/>
            </div>
        }
    };
    let timing = move || {
        match kind {
        AutomationKind::Birthday => view! {
            {number_field("automation-days-before", "Days before the birthday", draft.days_before, "trigger.days_before", "0 sends on the day; up to 30. A birthday added or changed in the last 30 days waits for next year.")}
            {send_time_field()}
        }.into_any(),
        AutomationKind::Anniversary => send_time_field().into_any(),
        AutomationKind::Feedback => view! {
            <div class="field">
                <label for="automation-after">"After"</label>
                <select id="automation-after" data-testid="automation-after"
                    on:change=move |ev| if let Some(a) = FeedbackAfter::parse(&event_target_value(&ev)) { draft.after.set(a) }>
                    {[(FeedbackAfter::Either, "A visit or a purchase"), (FeedbackAfter::Visit, "A visit"), (FeedbackAfter::Purchase, "A purchase")].into_iter().map(|(a, label)| view! {
                        <option value=a.as_str() selected=move || draft.after.get() == a>{label}</option>
                    }).collect_view()}
                </select>
            </div>
            {delay_field()}
            {number_field("automation-cooldown", "Not again within (days)", draft.cooldown_days, "trigger.cooldown_days", "0 to 365; 0 asks after every visit.")}
        }.into_any(),
        AutomationKind::Winback => number_field("automation-lapse", "Days without a visit", draft.lapse_days, "trigger.lapse_days", "7 to 730. Once per lapse: a new visit re-arms it.").into_any(),
        AutomationKind::Custom => view! {
            <div class="field">
                <label for="automation-name">"Name"</label>
                <input id="automation-name" data-testid="automation-name" type="text" maxlength="80"
                    aria-describedby="automation-name-error"
                    prop:value=draft.name on:input=move |ev| draft.name.set(event_target_value(&ev))/>
                <FieldError error=error_signal field="name" id="automation-name-error"/>
            </div>
            <div class="field">
                <label for="automation-event">"When"</label>
                <select id="automation-event" data-testid="automation-event"
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        if let Some(e) = RULE_EVENTS.into_iter().find(|e| e.as_str() == value) { draft.event.set(e) }
                    }>
                    {RULE_EVENTS.into_iter().map(|e| view! {
                        <option value=e.as_str() selected=move || draft.event.get() == e>{event_label(e)}</option>
                    }).collect_view()}
                </select>
            </div>
            {delay_field()}
        }.into_any(),
    }
    };
    let title = match &existing {
        Some(a) => format!("Edit “{}”", a.name),
        None if kind == AutomationKind::Custom => "New rule".to_owned(),
        None => format!("Set up {}", kind.label().to_lowercase()),
    };
    view! {
        <section class="panel automation-editor" aria-labelledby="automation-editor-title" data-testid="automation-editor">
            <h3 id="automation-editor-title">{title}</h3>
            <div class="push-layout">
                <form class="mailing-form" novalidate=true on:submit=move |ev| ev.prevent_default()>
                    {timing}
                    <div class="field">
                        <label for="automation-message">"Message"</label>
                        <textarea id="automation-message" rows="3" data-testid="automation-message"
                            aria-describedby="automation-message-count automation-message-error"
                            prop:value=draft.message on:input=move |ev| draft.message.set(event_target_value(&ev))></textarea>
                        <p id="automation-message-count" class="small muted" data-testid="automation-counter">
                            {move || format!("{} / {AUTOMATION_MESSAGE_MAX} · variables: {{first_name}} {{last_name}} {{card_name}} {{points}} {{visits}} {{merchant_name}}", chars())}
                        </p>
                        <FieldError error=error_signal field="message" id="automation-message-error"/>
                    </div>
                    {number_field("automation-reward-points", "Reward: points added", draft.reward_points, "reward_points", "Added to the balance the card shows when it is sent; 0 for none.")}
                    {number_field("automation-reward-stamps", "Reward: stamps added", draft.reward_stamps, "reward_stamps", "For stamp cards; 0 for none.")}
                    <FormError error=error_signal known_fields=KNOWN_FIELDS/>
                    <div class="form-actions">
                        <button type="button" class="btn btn-secondary" data-testid="automation-cancel"
                            on:click=move |_| on_done.run(None)>"Cancel"</button>
                        <button type="button" class="btn btn-primary" data-testid="automation-save"
                            disabled=saving aria-busy=move || saving.get().to_string() on:click=save>
                            {if existing_id.is_some() { "Save changes" } else { "Save and turn on" }}
                        </button>
                    </div>
                </form>
                <aside class="push-previews" aria-label="Preview">
                    <PhonePreview
                        card_name=Signal::derive(move || card.get().map(|c| c.name))
                        design=Signal::derive(move || card.get().map(|c| c.design))
                        message=preview
                    />
                    <CardBackPreview
                        card_name=Signal::derive(move || card.get().map(|c| c.name))
                        design=Signal::derive(move || card.get().map(|c| c.design))
                        message=preview
                    />
                </aside>
            </div>
        </section>
    }
}

/// On/off for one automation; the server's answer is what shows.
fn toggle(
    a: &Automation,
    can_manage: bool,
    list: Fetch<Vec<Automation>>,
    note: RwSignal<Option<String>>,
) -> impl IntoView + use<> {
    let api = use_api();
    let (id, enabled, name) = (a.id, a.enabled, a.name.clone());
    let busy = RwSignal::new(false);
    view! {
        <label class="switch" title=if can_manage { "" } else { "Owners and admins turn automations on and off." }>
            <input type="checkbox" role="switch" data-testid="automation-toggle"
                aria-label=format!("{name} on or off")
                prop:checked=enabled
                disabled=move || !can_manage || busy.get()
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    busy.set(true);
                    let name = name.clone();
                    spawn_local(async move {
                        let result = api.update_automation(id, &AutomationChanges { enabled: Some(on), ..Default::default() }).await;
                        busy.try_set(false);
                        note.try_set(Some(match result {
                            Ok(a) if a.enabled => format!("{name} is on."),
                            Ok(_) => format!("{name} is off: what was due is cancelled."),
                            Err(e) => format!("Could not change {name}: {}", e.message()),
                        }));
                        list.reload();
                    });
                }/>
            <span>{if enabled { "On" } else { "Off" }}</span>
        </label>
    }
}

fn live_reload(list: Fetch<Vec<Automation>>) {
    let reload = reload_soon(list);
    on_change(move |notice| match notice {
        Notice::Change(e) if e.topic == ChangeTopic::Automation => reload(),
        Notice::Change(_) => {}
        Notice::Resync => reload(),
    });
}

/// What both tabs read: the cards, the chosen one, and its automations (reloaded when the
/// change feed says an automation changed).
struct CardAutomations {
    cards: Fetch<Page<Card>>,
    card_id: RwSignal<Option<Uuid>>,
    card: Signal<Option<Card>>,
    list: Fetch<Vec<Automation>>,
}

fn card_automations() -> CardAutomations {
    let api = use_api();
    let cards = fetch(|| (), move |_| async move { api.cards(1, 100).await });
    let card_id = RwSignal::new(None::<Uuid>);
    let card = Signal::derive(move || {
        let id = card_id.get()?;
        cards
            .ok()
            .and_then(|p| p.items.into_iter().find(|c| c.id == id))
    });
    let list = fetch(
        move || card_id.get(),
        move |card_id| async move {
            match card_id {
                Some(id) => api.automations(id).await,
                None => Ok(Vec::new()),
            }
        },
    );
    live_reload(list);
    CardAutomations {
        cards,
        card_id,
        card,
        list,
    }
}

#[component]
pub fn AutomationPage() -> impl IntoView {
    crate::set_title("Push automation");
    let auth = expect_context::<Auth>();
    let CardAutomations {
        cards,
        card_id,
        card,
        list,
    } = card_automations();
    let editing = RwSignal::new(None::<(AutomationKind, Option<Automation>)>);
    let note = RwSignal::new(None::<String>);
    let done = Callback::new(move |message: Option<String>| {
        editing.set(None);
        if message.is_some() {
            note.set(message);
        }
        list.reload();
    });
    let tiles = move |items: &Vec<Automation>| -> AnyView {
        let can_manage = auth.can_manage();
        let tiles = BUILT_IN
            .into_iter()
            .map(|kind| {
                let found = items.iter().find(|a| a.kind == kind).cloned();
                let testid = format!("tile-{}", kind.as_str());
                let body = match &found {
                    Some(a) => {
                        let a2 = a.clone();
                        view! {
                            <p class="small">{trigger_text(&a.trigger)}</p>
                            <p class="small muted automation-message">{a.message.clone()}</p>
                            {(a.reward_points > 0 || a.reward_stamps > 0).then(|| view! {
                                <p class="small">{format!("Reward: {}{}", if a.reward_points > 0 { format!("{} points ", a.reward_points) } else { String::new() }, if a.reward_stamps > 0 { format!("{} stamps", a.reward_stamps) } else { String::new() })}</p>
                            })}
                            <Figures automation=a.clone()/>
                            <div class="tile-actions">
                                {toggle(a, can_manage, list, note)}
                                {can_manage.then(|| view! {
                                    <button type="button" class="btn btn-secondary btn-sm" data-testid="automation-edit"
                                        on:click=move |_| editing.set(Some((kind, Some(a2.clone()))))>"Edit"</button>
                                })}
                            </div>
                        }
                        .into_any()
                    }
                    None => view! {
                        <p class="small muted">"Off. Not set up for this card yet."</p>
                        {can_manage.then(|| view! {
                            <button type="button" class="btn btn-primary btn-sm" data-testid="automation-setup"
                                on:click=move |_| editing.set(Some((kind, None)))>"Set up"</button>
                        })}
                    }
                    .into_any(),
                };
                view! {
                    <article class="tile automation-tile" data-testid=testid>
                        <h3>{kind.label()}</h3>
                        <p class="small muted">{kind_summary(kind)}</p>
                        {body}
                    </article>
                }
            })
            .collect_view();
        // The grid's own element: what `show_fetch` wraps its view in is not the grid.
        view! { <div class="tiles">{tiles}</div> }.into_any()
    };
    view! {
        <div class="automation-page" data-testid="page-automation">
            <section class="panel" aria-labelledby="automation-title">
                <h2 id="automation-title">"Push automation"</h2>
                <p class="muted small">"Wallet pushes that send themselves, once per customer and occasion, in the customer's local time and never in quiet hours. Pushes are free: they never use SMS or email credits."</p>
                {move || (!auth.can_manage()).then(|| view! {
                    <p class="notice" data-testid="automation-agent-note">"Only owners and admins change automations. You can see what they do."</p>
                })}
                {card_picker(cards, card_id)}
                {move || note.get().map(|n| view! { <p class="notice notice-success" role="status" data-testid="automation-note">{n}</p> })}
                <div data-testid="automation-tiles">
                    {show_fetch(list, "Loading automations…", tiles)}
                </div>
            </section>
            {move || editing.get().map(|(kind, existing)| view! {
                <Editor kind=kind card=card existing=existing on_done=done/>
            })}
            <SettingsPanel/>
        </div>
    }
}

/// The merchant's rules for every automation.
#[component]
fn SettingsPanel() -> impl IntoView {
    let api = use_api();
    let auth = expect_context::<Auth>();
    let settings = fetch(
        || (),
        move |_| async move { api.automation_settings().await },
    );
    let error = RwSignal::new(None::<ApiError>);
    let error_signal: Signal<Option<ApiError>> = error.into();
    let saved = RwSignal::new(false);
    let form = move |s: &AutomationSettings| -> AnyView {
        let paused = RwSignal::new(s.paused);
        let quiet_start = RwSignal::new(s.quiet_start.clone());
        let quiet_end = RwSignal::new(s.quiet_end.clone());
        let cap_messages = RwSignal::new(s.cap_messages.to_string());
        let cap_days = RwSignal::new(s.cap_days.to_string());
        let staleness = RwSignal::new(s.staleness_hours.to_string());
        let can_manage = auth.can_manage();
        let save = move |_| {
            error.set(None);
            saved.set(false);
            let n = |v: RwSignal<String>, field: &str| {
                v.get_untracked()
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| local_problem(field, "Enter a whole number."))
            };
            let input = (|| -> Result<AutomationSettings, ApiError> {
                Ok(AutomationSettings {
                    paused: paused.get_untracked(),
                    quiet_start: quiet_start.get_untracked(),
                    quiet_end: quiet_end.get_untracked(),
                    cap_messages: n(cap_messages, "cap_messages")?,
                    cap_days: n(cap_days, "cap_days")?,
                    staleness_hours: n(staleness, "staleness_hours")?,
                })
            })();
            match input {
                Err(e) => error.set(Some(e)),
                Ok(input) => spawn_local(async move {
                    match api.set_automation_settings(&input).await {
                        Ok(_) => {
                            saved.try_set(true);
                            settings.reload();
                        }
                        Err(e) => {
                            error.try_set(Some(e));
                        }
                    }
                }),
            }
        };
        let number = move |id: &'static str,
                           label: &'static str,
                           value: RwSignal<String>,
                           field: &'static str| {
            let error_id = format!("{id}-error");
            view! {
                <div class="field">
                    <label for=id>{label}</label>
                    <input id=id data-testid=id type="number" inputmode="numeric" min="1" disabled=!can_manage
                        aria-describedby=error_id.clone()
                        prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                    <FieldError error=error_signal field=field id=error_id/>
                </div>
            }
        };
        view! {
            <form class="settings-grid" novalidate=true on:submit=move |ev| ev.prevent_default() data-testid="automation-settings">
                <label class="switch">
                    <input type="checkbox" role="switch" data-testid="automations-paused" disabled=!can_manage
                        prop:checked=paused on:change=move |ev| paused.set(event_target_checked(&ev))/>
                    <span>"Pause all automations (what comes due meanwhile is skipped, not sent later)"</span>
                </label>
                <div class="field">
                    <label for="quiet-start">"Quiet hours from"</label>
                    <input id="quiet-start" data-testid="quiet-start" type="time" disabled=!can_manage aria-describedby="quiet-start-error"
                        prop:value=quiet_start on:input=move |ev| quiet_start.set(event_target_value(&ev))/>
                    <FieldError error=error_signal field="quiet_start" id="quiet-start-error"/>
                </div>
                <div class="field">
                    <label for="quiet-end">"to"</label>
                    <input id="quiet-end" data-testid="quiet-end" type="time" disabled=!can_manage aria-describedby="quiet-end-error"
                        prop:value=quiet_end on:input=move |ev| quiet_end.set(event_target_value(&ev))/>
                    <FieldError error=error_signal field="quiet_end" id="quiet-end-error"/>
                </div>
                {number("cap-messages", "At most (messages per customer)", cap_messages, "cap_messages")}
                {number("cap-days", "in (days)", cap_days, "cap_days")}
                {number("staleness", "Skip what is this many hours late", staleness, "staleness_hours")}
                <FormError error=error_signal known_fields=&["quiet_start", "quiet_end", "cap_messages", "cap_days", "staleness_hours"]/>
                {move || saved.get().then(|| view! { <p class="notice notice-success" role="status" data-testid="automation-settings-saved">"Saved. It applies to what fires next."</p> })}
                {can_manage.then(|| view! {
                    <div class="form-actions">
                        <button type="button" class="btn btn-primary" data-testid="automation-settings-save" on:click=save>"Save rules"</button>
                    </div>
                })}
            </form>
        }
        .into_any()
    };
    view! {
        <section class="panel" aria-labelledby="automation-settings-title">
            <h2 id="automation-settings-title">"Rules for every automation"</h2>
            <p class="muted small">"Quiet hours are the customer's local time (the business's when theirs is not known): a message due then waits until they end."</p>
            {show_fetch(settings, "Loading rules…", form)}
        </section>
    }
}

#[component]
pub fn AutoPushPage() -> impl IntoView {
    crate::set_title("Custom auto-push");
    let api = use_api();
    let auth = expect_context::<Auth>();
    let CardAutomations {
        cards,
        card_id,
        card,
        list,
    } = card_automations();
    let editing = RwSignal::new(None::<Option<Automation>>);
    let note = RwSignal::new(None::<String>);
    let deleting = RwSignal::new(None::<(Uuid, String)>);
    let done = Callback::new(move |message: Option<String>| {
        editing.set(None);
        if message.is_some() {
            note.set(message);
        }
        list.reload();
    });
    let table = move |items: &Vec<Automation>| -> AnyView {
        let rules: Vec<Automation> = items
            .iter()
            .filter(|a| a.kind == AutomationKind::Custom)
            .cloned()
            .collect();
        if rules.is_empty() {
            return view! { <Empty title="No rules for this card yet." hint="A rule sends a push when something happens: a card installed, a review, a referral."/> }.into_any();
        }
        let can_manage = auth.can_manage();
        view! {
            <div class="table-wrap">
                <table class="table table-cards" data-testid="rules-table">
                    <caption class="sr-only">"Custom rules"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Rule"</th>
                            <th scope="col">"Trigger"</th>
                            <th scope="col">"Delay"</th>
                            <th scope="col">"Message"</th>
                            <th scope="col">"Figures"</th>
                            <th scope="col">"On"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {rules.into_iter().map(|a| {
                            let (event, delay) = match &a.trigger {
                                Trigger::Event { event, delay } => (event_label(*event), delay_text(*delay)),
                                _ => ("", String::new()),
                            };
                            let (edit, id, name) = (a.clone(), a.id, a.name.clone());
                            view! {
                                <tr data-testid="rule-row">
                                    <td data-label="Rule" class="strong">{a.name.clone()}</td>
                                    <td data-label="Trigger" data-testid="rule-trigger">{event}</td>
                                    <td data-label="Delay" data-testid="rule-delay">{delay}</td>
                                    <td data-label="Message" class="small">{a.message.clone()}</td>
                                    <td data-label="Figures"><Figures automation=a.clone()/></td>
                                    <td data-label="On">{toggle(&a, can_manage, list, note)}</td>
                                    <td data-label="Actions">
                                        {can_manage.then(|| view! {
                                            <div class="row-actions">
                                                <button type="button" class="btn btn-secondary btn-sm" data-testid="rule-edit"
                                                    on:click=move |_| editing.set(Some(Some(edit.clone())))>"Edit"</button>
                                                <button type="button" class="btn btn-danger btn-sm" data-testid="rule-delete"
                                                    on:click=move |_| deleting.set(Some((id, name.clone())))>"Delete"</button>
                                            </div>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    let confirm_delete = move || {
        deleting.get().map(|(id, name)| {
            let name2 = name.clone();
            view! {
                <div class="confirm" role="alertdialog" aria-labelledby="rule-delete-text" data-testid="rule-delete-confirm">
                    <p id="rule-delete-text">{format!("Delete “{name}”? What it has due is dropped; the pushes it sent stay in the history.")}</p>
                    <div class="form-actions">
                        <button type="button" class="btn btn-secondary" on:click=move |_| deleting.set(None)>"Back"</button>
                        <button type="button" class="btn btn-danger" data-testid="rule-delete-yes" on:click=move |_| {
                            let name = name2.clone();
                            spawn_local(async move {
                                let result = api.delete_automation(id).await;
                                deleting.try_set(None);
                                note.try_set(Some(match result {
                                    Ok(()) => format!("Deleted “{name}”."),
                                    Err(e) => format!("Could not delete “{name}”: {}", e.message()),
                                }));
                                list.reload();
                            });
                        }>"Delete rule"</button>
                    </div>
                </div>
            }
        })
    };
    view! {
        <div class="automation-page" data-testid="page-auto-push">
            <section class="panel panel-flush" aria-labelledby="auto-push-title">
                <div class="panel-toolbar">
                    <h2 id="auto-push-title">"Custom auto-push"</h2>
                    {move || auth.can_manage().then(|| view! {
                        <button type="button" class="btn btn-primary" data-testid="rule-new"
                            on:click=move |_| editing.set(Some(None))>"New rule"</button>
                    })}
                </div>
                <div class="panel-body">
                    <p class="muted small">"Your own rules: when something happens to a holder of the card, send a push after a delay. Events come from your systems through the events API. Pushes are free: they never use SMS or email credits."</p>
                    {card_picker(cards, card_id)}
                    {move || note.get().map(|n| view! { <p class="notice notice-success" role="status" data-testid="automation-note">{n}</p> })}
                    {confirm_delete}
                </div>
                {show_fetch(list, "Loading rules…", table)}
            </section>
            {move || editing.get().map(|existing| view! {
                <Editor kind=AutomationKind::Custom card=card existing=existing on_done=done/>
            })}
        </div>
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_fills_the_sample_customer() {
        assert_eq!(
            fill_sample(
                "Hi {first_name} {last_name}, {points} pts on {card_name} at {merchant_name}",
                "Coffee",
                "Bean"
            ),
            "Hi Ada Lovelace, 120 pts on Coffee at Bean"
        );
        assert_eq!(
            fill_sample("{{first_name}} {unknown} {", "C", "M"),
            "{first_name} {unknown} {"
        );
        assert_eq!(fill_sample("é {visits}🎉", "C", "M"), "é 7🎉");
    }

    #[test]
    fn triggers_read_as_sentences() {
        assert_eq!(
            trigger_text(&Trigger::Birthday {
                days_before: 0,
                send_time: "09:00".into()
            }),
            "On the birthday at 09:00"
        );
        assert_eq!(
            trigger_text(&Trigger::Birthday {
                days_before: 3,
                send_time: "09:00".into()
            }),
            "3 days before the birthday at 09:00"
        );
        assert_eq!(
            trigger_text(&Trigger::Feedback {
                after: FeedbackAfter::Visit,
                delay: Delay {
                    amount: 2,
                    unit: DelayUnit::Hours
                },
                cooldown_days: 30
            }),
            "2 hours after a visit, at most once in 30 days"
        );
        assert_eq!(
            trigger_text(&Trigger::Event {
                event: EventKind::ReviewSent,
                delay: Delay::NONE
            }),
            "Review sent, right away"
        );
        assert_eq!(
            delay_text(Delay {
                amount: 1,
                unit: DelayUnit::Days
            }),
            "after 1 day"
        );
    }
}
