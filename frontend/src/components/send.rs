//! The pickers every kind of send shares: who receives it ([`AudiencePicker`]: everyone, or
//! one saved segment) and when ([`SchedulePicker`]: now, or a date and time in the
//! merchant's time zone). The mailing form and Send push use them, and so will the
//! automation tabs, so that a merchant learns them once.
//!
//! Ids and test ids are the `id` given and a suffix: `{id}-audience-all`,
//! `{id}-audience-segment`, `{id}-segment`, `{id}-when-now`, `{id}-when-schedule`,
//! `{id}-date`, `{id}-time`, `{id}-time-zone`.

use leptos::prelude::*;
use leptos_router::components::A;
use loyalcast_dto::{Audience, Page, Segment};
use uuid::Uuid;

use crate::api::ApiError;
use crate::components::states::FieldError;
use crate::fetch::Fetch;
use crate::format::thousands_u;

/// Everyone, or one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceKind {
    All,
    Segment,
}

/// The audience the pickers say: `None` while a segment is still to be chosen.
pub fn audience_of(kind: AudienceKind, segment_id: Option<Uuid>) -> Option<Audience> {
    match kind {
        AudienceKind::All => Some(Audience::All),
        AudienceKind::Segment => segment_id.map(|segment_id| Audience::Segment { segment_id }),
    }
}

/// "For all" or "A segment", with the segment chooser (each segment with its size), the
/// field's error and, below, what `children` show (the live count or reach).
#[component]
pub fn AudiencePicker(
    /// The prefix of the ids (see the module's description).
    id: &'static str,
    /// What "everyone" is for this send: "All customers", "All holders of the card"...
    all_label: &'static str,
    kind: RwSignal<AudienceKind>,
    segment_id: RwSignal<Option<Uuid>>,
    segments: Fetch<Page<Segment>>,
    error: Signal<Option<ApiError>>,
    /// The field the server names in its errors about the audience.
    error_field: &'static str,
    /// The fieldset's class.
    #[prop(default = "form-section")]
    class: &'static str,
    children: Children,
) -> impl IntoView {
    let name = format!("{id}-audience");
    let select_id = format!("{id}-segment");
    let error_id = format!("{id}-audience-error");
    let picker = {
        let (select_id, error_id) = (select_id.clone(), error_id.clone());
        move || {
            let (select_id, error_id) = (select_id.clone(), error_id.clone());
            segments.data.with(|d| match d {
                None => view! { <p class="muted small">"Loading segments…"</p> }.into_any(),
                Some(Err(e)) => view! {
                    <p class="field-error" role="alert">{format!("Segments could not be loaded: {}", e.message())}</p>
                }
                .into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! {
                    <p class="muted small" data-testid=format!("{id}-no-segments")>
                        "You have no segments yet. " <A href="/segments">"Create one"</A> " first."
                    </p>
                }
                .into_any(),
                Some(Ok(page)) => {
                    let options = page.items.clone();
                    view! {
                        <select
                            id=select_id.clone()
                            data-testid=select_id
                            aria-describedby=error_id
                            on:change=move |ev| segment_id.set(Uuid::parse_str(&event_target_value(&ev)).ok())
                            prop:value=move || segment_id.get().map(|id| id.to_string()).unwrap_or_default()
                        >
                            <option value="">"Choose a segment…"</option>
                            {options.into_iter().map(|s| {
                                let label = format!(
                                    "{} ({} {})",
                                    s.name,
                                    thousands_u(s.customers),
                                    if s.customers == 1 { "customer" } else { "customers" }
                                );
                                // Selected by the option itself too: a draft's segment is
                                // chosen before the options exist, and a select's value set
                                // before its options is lost.
                                let id = s.id;
                                view! { <option value=id.to_string() selected=move || segment_id.get() == Some(id)>{label}</option> }
                            }).collect_view()}
                        </select>
                    }
                    .into_any()
                }
            })
        }
    };
    view! {
        <fieldset class=class>
            <legend>"Audience"</legend>
            <div class="choice-row" role="radiogroup" aria-label="Audience">
                <label class="choice">
                    <input
                        type="radio"
                        name=name.clone()
                        data-testid=format!("{id}-audience-all")
                        prop:checked=move || kind.get() == AudienceKind::All
                        on:change=move |_| kind.set(AudienceKind::All)
                    />
                    {all_label}
                </label>
                <label class="choice">
                    <input
                        type="radio"
                        name=name
                        data-testid=format!("{id}-audience-segment")
                        prop:checked=move || kind.get() == AudienceKind::Segment
                        on:change=move |_| kind.set(AudienceKind::Segment)
                    />
                    "A segment"
                </label>
            </div>
            {move || (kind.get() == AudienceKind::Segment).then(|| view! {
                <div class="field">
                    <label for=select_id.clone()>"Segment"</label>
                    {picker.clone()}
                </div>
            })}
            <FieldError error=error field=error_field id=error_id/>
            {children()}
        </fieldset>
    }
}

/// "Send now" or "Schedule", with the date and time (in `time_zone_label`, the merchant's
/// zone) when scheduling, and the `send_at` field's error.
#[component]
pub fn SchedulePicker(
    /// The prefix of the ids (see the module's description).
    id: &'static str,
    /// `true`: at the date and time below.
    scheduled: RwSignal<bool>,
    /// `YYYY-MM-DD` and `HH:MM`, as the inputs give them.
    date: RwSignal<String>,
    time: RwSignal<String>,
    time_zone_label: String,
    error: Signal<Option<ApiError>>,
    #[prop(default = "form-section")] class: &'static str,
) -> impl IntoView {
    let name = format!("{id}-when");
    let error_id = format!("{id}-send-at-error");
    let (date_id, time_id) = (format!("{id}-date"), format!("{id}-time"));
    let rows = {
        let error_id = error_id.clone();
        move || {
            let (tz, error_id, date_id, time_id) = (
                time_zone_label.clone(),
                error_id.clone(),
                date_id.clone(),
                time_id.clone(),
            );
            scheduled.get().then(|| view! {
                <div class="schedule-row">
                    <div class="field">
                        <label for=date_id.clone()>"Date"</label>
                        <input id=date_id.clone() type="date" data-testid=date_id
                            aria-describedby=error_id.clone()
                            prop:value=date on:input=move |ev| date.set(event_target_value(&ev))/>
                    </div>
                    <div class="field">
                        <label for=time_id.clone()>"Time"</label>
                        <input id=time_id.clone() type="time" data-testid=time_id
                            aria-describedby=error_id
                            prop:value=time on:input=move |ev| time.set(event_target_value(&ev))/>
                    </div>
                    <p class="schedule-zone muted small" data-testid=format!("{id}-time-zone")>
                        "Time zone: " <strong>{tz}</strong>
                    </p>
                </div>
            })
        }
    };
    view! {
        <fieldset class=class>
            <legend>"When"</legend>
            <div class="choice-row" role="radiogroup" aria-label="When to send">
                <label class="choice">
                    <input
                        type="radio"
                        name=name.clone()
                        data-testid=format!("{id}-when-now")
                        prop:checked=move || !scheduled.get()
                        on:change=move |_| scheduled.set(false)
                    />
                    "Send now"
                </label>
                <label class="choice">
                    <input
                        type="radio"
                        name=name
                        data-testid=format!("{id}-when-schedule")
                        prop:checked=move || scheduled.get()
                        on:change=move |_| scheduled.set(true)
                    />
                    "Schedule"
                </label>
            </div>
            {rows}
            <FieldError error=error field="send_at" id=error_id/>
        </fieldset>
    }
}
