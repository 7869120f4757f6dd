//! Segments: saved audiences and the rule builder. The number of matching customers is
//! counted live by the server as the rule changes.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{Card, Channel, CountRequest, Page, Segment, SegmentInput};
use uuid::Uuid;

use crate::api::{ApiError, use_api};
use crate::components::icons::{Icon, IconKind};
use crate::components::states::{Empty, FieldError, FormError, local_problem, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::{Fetch, debounced, fetch};
use crate::format::thousands_u;
use crate::rule_editor::{
    COMPARISONS, Condition, Group, Input, Item, Kind, MONTHS, comparison_key, comparison_label,
    describe, parse_comparison,
};
use crate::session::use_auth;

/// How deep groups may nest below the top-level group.
const MAX_DEPTH: u32 = 2;

/// What the rule builder needs from the page: the merchant's cards and tags for the
/// dropdowns, and the owner the new conditions' signals belong to (the page, not the row
/// that happened to create them).
#[derive(Clone)]
struct Builder {
    owner: Owner,
    cards: Fetch<Page<Card>>,
    tags: Fetch<Vec<String>>,
}

impl Builder {
    fn condition(&self) -> Item {
        self.owner
            .with(|| Item::Condition(Condition::new(Kind::Visits)))
    }

    fn group(&self) -> Item {
        self.owner.with(|| {
            Item::Group(Group::new(
                false,
                vec![Item::Condition(Condition::new(Kind::Visits))],
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum CountState {
    Idle,
    Counting,
    Counted(u64),
    Failed(ApiError),
}

#[component]
pub fn SegmentsPage() -> impl IntoView {
    crate::set_title("Segments");
    let api = use_api();
    let can_manage = use_auth().can_manage();
    let owner = Owner::current().unwrap_or_default();

    let page = RwSignal::new(1_u64);
    let segments = fetch(
        move || page.get(),
        move |p| async move { api.segments(p, 50).await },
    );
    let cards = fetch(|| (), move |_| async move { api.cards(1, 100).await });
    let tags = fetch(|| (), move |_| async move { api.tags().await });
    let builder = Builder {
        owner: owner.clone(),
        cards,
        tags,
    };

    // The editor: a segment being created (`editing` is None) or edited.
    let editing = RwSignal::new(None::<Uuid>);
    let name = RwSignal::new(String::new());
    let root = RwSignal::new(owner.with(|| Group::new(false, Vec::new())));
    let saving = RwSignal::new(false);
    let save_error = RwSignal::new(None::<ApiError>);
    let saved_note = RwSignal::new(None::<String>);

    // The rule as typed, and its live count (300 ms after the last change).
    let rule = Memo::new(move |_| root.get().rule());
    let settled = debounced(rule.into(), Duration::from_millis(300));
    let count = RwSignal::new(CountState::Idle);
    let latest = StoredValue::new(0_u64);
    Effect::new(move |_| {
        let Ok(rule) = settled.get() else {
            count.set(CountState::Idle);
            return;
        };
        let id = latest.get_value().wrapping_add(1);
        latest.set_value(id);
        count.set(CountState::Counting);
        spawn_local(async move {
            let result = api.count_segment(&CountRequest { rule }).await;
            if latest.try_get_value() == Some(id) {
                count.try_set(match result {
                    Ok(c) => CountState::Counted(c.customers),
                    Err(e) => CountState::Failed(e),
                });
            }
        });
    });
    let typing = move || rule.with(|r| settled.with(|s| r != s));

    let reset_editor = {
        let owner = owner.clone();
        move || {
            editing.set(None);
            name.set(String::new());
            root.set(owner.with(|| Group::new(false, Vec::new())));
            save_error.set(None);
        }
    };
    let edit = {
        let owner = owner.clone();
        Callback::new(move |segment: Segment| {
            editing.set(Some(segment.id));
            name.set(segment.name.clone());
            root.set(owner.with(|| Group::from_rule(&segment.rule)));
            save_error.set(None);
            saved_note.set(None);
            scroll_to_editor();
        })
    };

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        saved_note.set(None);
        let trimmed = name.get_untracked().trim().to_owned();
        let rule = match rule.get_untracked() {
            Ok(rule) => rule,
            // What is missing is said at its condition and under the rule already.
            Err(_) => {
                save_error.set(Some(local_problem(
                    "rule",
                    "Complete the conditions marked above first.",
                )));
                return;
            }
        };
        if trimmed.is_empty() {
            save_error.set(Some(local_problem("name", "Give the segment a name.")));
            return;
        }
        saving.set(true);
        save_error.set(None);
        let input = SegmentInput {
            name: trimmed,
            rule,
        };
        let id = editing.get_untracked();
        spawn_local(async move {
            let result = match id {
                Some(id) => api.update_segment(id, &input).await,
                None => api.create_segment(&input).await,
            };
            match result {
                Ok(segment) => {
                    editing.try_set(Some(segment.id));
                    saved_note.try_set(Some(format!(
                        "Saved “{}”: {} now.",
                        segment.name,
                        customers_phrase(segment.customers)
                    )));
                    segments.reload();
                }
                Err(e) => {
                    save_error.try_set(Some(e));
                }
            }
            saving.try_set(false);
        });
    };

    let deleting = RwSignal::new(None::<Uuid>);
    let list_error = RwSignal::new(None::<ApiError>);
    let asker = crate::components::confirm::use_asker();
    let delete = {
        let reset_editor = reset_editor.clone();
        Callback::new(move |segment: Segment| {
            if deleting.get_untracked().is_some() {
                return;
            }
            let id = segment.id;
            let reset_editor = reset_editor.clone();
            asker.ask(
                format!("Delete the segment “{}”?", segment.name),
                "Its customers are not affected; mailings already sent to it keep their reports.",
                "Delete segment",
                true,
                move || {
                    deleting.set(Some(id));
                    list_error.set(None);
                    let reset_editor = reset_editor.clone();
                    spawn_local(async move {
                        match api.delete_segment(id).await {
                            Ok(()) => {
                                if editing.get_untracked() == Some(id) {
                                    reset_editor();
                                }
                                segments.reload();
                            }
                            Err(e) => {
                                list_error.try_set(Some(e));
                            }
                        }
                        deleting.try_set(None);
                    });
                },
            );
        })
    };

    let save_error_signal = Signal::derive(move || save_error.get());
    let list_error_signal = Signal::derive(move || list_error.get());
    let new_segment = {
        let reset_editor = reset_editor.clone();
        move |_| {
            reset_editor();
            saved_note.set(None);
        }
    };

    let list = move |p: &Page<Segment>| -> AnyView {
        if p.items.is_empty() {
            return view! {
                <Empty title="No segments yet." hint="Build a rule on the right and save it: it becomes an audience for mailings and pushes."/>
            }
            .into_any();
        }
        let items = p.items.clone();
        let (page_no, per_page, total) = (p.page, p.per_page, p.total);
        view! {
            <ul class="segment-list" data-testid="segment-list">
                {items.into_iter().map(|s| view! { <SegmentRow segment=s editing=editing deleting=deleting on_edit=edit on_delete=delete can_manage=can_manage/> }).collect_view()}
            </ul>
            {(total > per_page).then(|| view! {
                <crate::components::pagination::Pagination
                    page=Signal::derive(move || page_no)
                    per_page=Signal::derive(move || per_page)
                    total=Signal::derive(move || total)
                    on_change=Callback::new(move |n| page.set(n))
                    noun="segments"
                />
            })}
        }
        .into_any()
    };

    let count_view = move || match (rule.get(), count.get()) {
        (Err(missing), _) => view! {
            <p class="count count-invalid" data-testid="segment-count-invalid">
                <Icon kind=IconKind::Alert size=16/>
                {missing}
            </p>
        }
        .into_any(),
        (Ok(_), CountState::Failed(e)) if !typing() => view! {
            <p class="count count-error" role="alert" data-testid="segment-count-error">
                <Icon kind=IconKind::Alert size=16/>
                {format!("Could not count: {}", e.message())}
            </p>
        }
        .into_any(),
        (Ok(_), CountState::Counted(n)) if !typing() => view! {
            <p class="count" data-testid="segment-count" data-count=n.to_string()>
                <strong>{thousands_u(n)}</strong>
                {if n == 1 { " customer matches" } else { " customers match" }}
            </p>
        }
        .into_any(),
        _ => view! {
            <p class="count count-loading" data-testid="segment-count-loading">
                <span class="spinner" aria-hidden="true"></span>
                "Counting…"
            </p>
        }
        .into_any(),
    };

    provide_context(builder);

    view! {
        <div class="page">
            <header class="page-header">
                <div>
                    <h1>"Segments"</h1>
                    <p class="muted">"Audiences defined by rules. Counts are live: a segment always means the customers who match now."</p>
                </div>
            </header>
            <div class="split">
                <section class="panel" aria-labelledby="saved-segments-title">
                    <div class="panel-head">
                        <h2 id="saved-segments-title">"Saved segments"</h2>
                        <button type="button" class="btn btn-secondary btn-sm" data-testid="new-segment" on:click=new_segment>
                            <Icon kind=IconKind::Plus size=16/>
                            "New segment"
                        </button>
                    </div>
                    <FormError error=list_error_signal/>
                    {show_fetch(segments, "Loading segments…", list)}
                </section>
                <section class="panel editor" id="segment-editor" aria-labelledby="segment-editor-title">
                    <form on:submit=save novalidate=true data-testid="segment-form">
                        <div class="panel-head">
                            <h2 id="segment-editor-title">
                                {move || match (can_manage, editing.get().is_some()) {
                                    (false, _) => "Count customers",
                                    (true, true) => "Edit segment",
                                    (true, false) => "New segment",
                                }}
                            </h2>
                        </div>
                        {can_manage.then(|| view! {
                        <div class="field">
                            <label for="segment-name">"Name"</label>
                            <input
                                id="segment-name"
                                type="text"
                                maxlength="200"
                                placeholder="e.g. Regulars with a birthday this month"
                                data-testid="segment-name"
                                aria-describedby="segment-name-error"
                                prop:value=name
                                on:input=move |ev| {
                                    name.set(event_target_value(&ev));
                                    // A fixed field loses its error.
                                    if let Some(e) = save_error.get_untracked() {
                                        save_error.set(e.without_field("name"));
                                    }
                                }
                            />
                            <FieldError error=save_error_signal field="name" id="segment-name-error"/>
                        </div>
                        })}
                        <fieldset class="rule-builder">
                            <legend>"Customers who match"</legend>
                            {move || {
                                let group = root.get();
                                view! { <GroupEditor group=group depth=0/> }
                            }}
                        </fieldset>
                        <div class="count-bar" aria-live="polite">{count_view}</div>
                        <FormError error=save_error_signal known_fields=&["name"]/>
                        {move || saved_note.get().map(|note| view! {
                            <p class="form-success" role="status" data-testid="segment-saved">
                                <Icon kind=IconKind::Check size=16/>
                                {note}
                            </p>
                        })}
                        {if can_manage {
                            view! {
                        <div class="form-actions">
                            <button
                                type="submit"
                                class="btn btn-primary"
                                data-testid="segment-save"
                                disabled=move || saving.get()
                                aria-busy=move || saving.get().to_string()
                            >
                                {move || match (saving.get(), editing.get().is_some()) {
                                    (true, _) => "Saving…",
                                    (false, true) => "Save changes",
                                    (false, false) => "Save segment",
                                }}
                            </button>
                        </div>
                            }
                            .into_any()
                        } else {
                            view! {
                                <p class="muted small" data-testid="segments-read-only">
                                    "Only an owner or an admin can save segments; you can still count who matches."
                                </p>
                            }
                            .into_any()
                        }}
                    </form>
                </section>
            </div>
        </div>
    }
}

fn customers_phrase(n: u64) -> String {
    if n == 1 {
        "1 customer".to_owned()
    } else {
        format!("{} customers", thousands_u(n))
    }
}

fn scroll_to_editor() {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("segment-name"))
    {
        el.scroll_into_view();
        if let Ok(input) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
            let _ = input.focus();
        }
    }
}

#[component]
fn SegmentRow(
    segment: Segment,
    editing: RwSignal<Option<Uuid>>,
    deleting: RwSignal<Option<Uuid>>,
    on_edit: Callback<Segment>,
    on_delete: Callback<Segment>,
    can_manage: bool,
) -> impl IntoView {
    let id = segment.id;
    let summary = describe(&segment.rule);
    let for_edit = segment.clone();
    let for_delete = segment.clone();
    view! {
            <li class="segment" class:selected=move || editing.get() == Some(id) data-testid="segment-row">
                <div class="segment-main">
                    <p class="segment-name" data-testid="segment-row-name">{segment.name.clone()}</p>
                    <p class="segment-count" data-testid="segment-row-count">
                        <strong>{thousands_u(segment.customers)}</strong>
                        <span class="muted small">{if segment.customers == 1 { " customer" } else { " customers" }}</span>
                    </p>
                    <p class="muted small segment-rule" title=summary.clone()>{summary.clone()}</p>
                    <p class="muted small">"Updated " <RelativeTime at=segment.updated_at/></p>
                </div>
                <div class="row-actions">{can_manage.then(|| view! {
                    <button type="button" class="btn btn-ghost btn-icon" data-testid="segment-edit" on:click=move |_| on_edit.run(for_edit.clone())>
                        <Icon kind=IconKind::Edit label=format!("Edit {}", segment.name)/>
                    </button>
                    <button
                        type="button"
                        class="btn btn-ghost btn-icon btn-danger-text"
                        data-testid="segment-delete"
                        disabled=move || deleting.get() == Some(id)
                        on:click=move |_| on_delete.run(for_delete.clone())
                    >
                        <Icon kind=IconKind::Trash label=format!("Delete {}", segment.name)/>
                    </button>
    })}            </div>
            </li>
        }
}

#[component]
fn GroupEditor(
    group: Group,
    depth: u32,
    #[prop(optional)] on_remove: Option<Callback<()>>,
) -> impl IntoView {
    let builder = use_context::<Builder>();
    let add_condition = {
        let builder = builder.clone();
        move |_| {
            if let Some(b) = &builder {
                group.push(b.condition());
            }
        }
    };
    let add_group = {
        let builder = builder.clone();
        move |_| {
            if let Some(b) = &builder {
                group.push(b.group());
            }
        }
    };
    let op_id = format!("group-op-{}", group.id);
    view! {
        <div class="rule-group" class:nested={depth > 0} data-testid="rule-group" data-depth=depth.to_string()>
            <div class="rule-group-head">
                <label class="sr-only" for=op_id.clone()>"Match"</label>
                <select
                    id=op_id
                    class="select-compact"
                    data-testid="group-op"
                    on:change=move |ev| group.any.set(event_target_value(&ev) == "or")
                    prop:value=move || if group.any.get() { "or" } else { "and" }
                >
                    <option value="and">"All of these (AND)"</option>
                    <option value="or">"Any of these (OR)"</option>
                </select>
                <span class="muted small">
                    {move || match (group.items.with(Vec::len), group.any.get()) {
                        (0, false) => "No conditions: every customer matches.",
                        (0, true) => "No conditions: no customer matches.",
                        _ => "",
                    }}
                </span>
                {on_remove.map(|remove| view! {
                    <button type="button" class="btn btn-ghost btn-sm" data-testid="remove-group" on:click=move |_| remove.run(())>
                        <Icon kind=IconKind::Close size=14/>
                        "Remove group"
                    </button>
                })}
            </div>
            <ul class="rule-items">
                <For
                    each=move || group.items.get()
                    key=|item| item.id()
                    children=move |item| {
                        let id = item.id();
                        let remove = Callback::new(move |_| group.remove(id));
                        let any = group.any;
                        let body = match item {
                            Item::Condition(c) => view! { <ConditionRow condition=c on_remove=remove/> }.into_any(),
                            Item::Group(g) => view! { <GroupEditor group=g depth=depth + 1 on_remove=remove/> }.into_any(),
                        };
                        view! {
                            <li class="rule-item">
                                <span class="rule-joiner" aria-hidden="true">{move || if any.get() { "or" } else { "and" }}</span>
                                {body}
                            </li>
                        }
                    }
                />
            </ul>
            <div class="rule-group-actions">
                <button type="button" class="btn btn-secondary btn-sm" data-testid="add-condition" on:click=add_condition>
                    <Icon kind=IconKind::Plus size=14/>
                    "Add condition"
                </button>
                {(depth < MAX_DEPTH).then(|| view! {
                    <button type="button" class="btn btn-ghost btn-sm" data-testid="add-group" on:click=add_group>
                        <Icon kind=IconKind::Plus size=14/>
                        "Add group"
                    </button>
                })}
            </div>
        </div>
    }
}

#[component]
fn ConditionRow(condition: Condition, on_remove: Callback<()>) -> impl IntoView {
    let builder = use_context::<Builder>();
    let cards = builder.as_ref().map(|b| b.cards);
    let tags = builder.as_ref().map(|b| b.tags);
    let c = condition;
    let kind_id = format!("condition-kind-{}", c.id);
    let sections = {
        let mut out: Vec<(&'static str, Vec<Kind>)> = Vec::new();
        for kind in Kind::ALL {
            match out.last_mut() {
                Some((s, kinds)) if *s == kind.section() => kinds.push(kind),
                _ => out.push((kind.section(), vec![kind])),
            }
        }
        out
    };
    let inputs = move || {
        let input = c.kind.get().input();
        match input {
            Input::Number => view! {
                <select
                    class="select-compact"
                    aria-label="Comparison"
                    data-testid="condition-cmp"
                    on:change=move |ev| {
                        if let Some(cmp) = parse_comparison(&event_target_value(&ev)) {
                            c.cmp.set(cmp);
                        }
                    }
                    prop:value=move || comparison_key(c.cmp.get())
                >
                    {COMPARISONS.iter().map(|cmp| view! { <option value=comparison_key(*cmp)>{comparison_label(*cmp)}</option> }).collect_view()}
                </select>
                <input
                    type="number"
                    class="input-number"
                    inputmode="numeric"
                    step="1"
                    aria-label="Value"
                    data-testid="condition-value"
                    prop:value=c.number
                    on:input=move |ev| c.number.set(event_target_value(&ev))
                />
            }
            .into_any(),
            Input::Days => view! {
                <input
                    type="number"
                    class="input-number"
                    min="1"
                    step="1"
                    aria-label="Days"
                    data-testid="condition-value"
                    prop:value=c.days
                    on:input=move |ev| c.days.set(event_target_value(&ev))
                />
                <span class="muted">"days"</span>
            }
            .into_any(),
            Input::Date => view! {
                <input
                    type="date"
                    aria-label="Date"
                    data-testid="condition-value"
                    prop:value=c.date
                    on:input=move |ev| c.date.set(event_target_value(&ev))
                />
            }
            .into_any(),
            Input::Month => view! {
                <select
                    class="select-compact"
                    aria-label="Month"
                    data-testid="condition-value"
                    on:change=move |ev| {
                        if let Ok(m) = event_target_value(&ev).parse::<u32>() {
                            c.month.set(m);
                        }
                    }
                    prop:value=move || c.month.get().to_string()
                >
                    {MONTHS.iter().enumerate().map(|(i, m)| view! { <option value=(i + 1).to_string()>{*m}</option> }).collect_view()}
                </select>
            }
            .into_any(),
            Input::Tag => {
                let list_id = format!("tags-{}", c.id);
                view! {
                    <input
                        type="text"
                        list=list_id.clone()
                        placeholder="Tag"
                        aria-label="Tag"
                        data-testid="condition-value"
                        prop:value=c.tag
                        on:input=move |ev| c.tag.set(event_target_value(&ev))
                    />
                    <datalist id=list_id>
                        {move || tags.and_then(|t| t.ok()).unwrap_or_default().into_iter().map(|t| view! { <option value=t></option> }).collect_view()}
                    </datalist>
                }
                .into_any()
            }
            Input::Card => view! {
                <select
                    class="select-compact"
                    aria-label="Card"
                    data-testid="condition-value"
                    on:change=move |ev| c.card.set(event_target_value(&ev))
                    prop:value=move || c.card.get()
                >
                    <option value="">"Choose a card…"</option>
                    {move || {
                        let selected = c.card.get();
                        cards
                            .and_then(|f| f.ok())
                            .map(|p| p.items)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|card| {
                                let id = card.id.to_string();
                                let is = id == selected;
                                view! { <option value=id selected=is>{card.name}</option> }
                            })
                            .collect_view()
                    }}
                </select>
                {move || cards.and_then(|f| f.ok()).is_some_and(|p| p.items.is_empty()).then(|| view! {
                    <span class="muted small">"No cards yet."</span>
                })}
            }
            .into_any(),
            Input::Channel => view! {
                <select
                    class="select-compact"
                    aria-label="Channel"
                    data-testid="condition-value"
                    on:change=move |ev| {
                        let key = event_target_value(&ev);
                        if let Some(ch) = Channel::ALL.into_iter().find(|ch| ch.as_str() == key) {
                            c.channel.set(ch);
                        }
                    }
                    prop:value=move || c.channel.get().as_str()
                >
                    {Channel::ALL.iter().map(|ch| view! { <option value=ch.as_str()>{ch.label()}</option> }).collect_view()}
                </select>
            }
            .into_any(),
            Input::YesNo => view! {
                <select
                    class="select-compact"
                    aria-label="Yes or no"
                    data-testid="condition-value"
                    on:change=move |ev| c.yes.set(event_target_value(&ev) == "yes")
                    prop:value=move || if c.yes.get() { "yes" } else { "no" }
                >
                    <option value="yes">"Yes"</option>
                    <option value="no">"No"</option>
                </select>
            }
            .into_any(),
            Input::Nothing => ().into_any(),
        }
    };
    view! {
        <div class="condition" data-testid="condition-row">
            <label class="sr-only" for=kind_id.clone()>"Condition"</label>
            <select
                id=kind_id
                class="select-kind"
                data-testid="condition-kind"
                on:change=move |ev| {
                    if let Some(kind) = Kind::from_key(&event_target_value(&ev)) {
                        c.kind.set(kind);
                    }
                }
                prop:value=move || c.kind.get().key()
            >
                {sections.into_iter().map(|(section, kinds)| view! {
                    <optgroup label=section>
                        {kinds.into_iter().map(|k| view! { <option value=k.key()>{k.label()}</option> }).collect_view()}
                    </optgroup>
                }).collect_view()}
            </select>
            <div class="condition-inputs">{inputs}</div>
            <button type="button" class="btn btn-ghost btn-icon" data-testid="remove-condition" on:click=move |_| on_remove.run(())>
                <Icon kind=IconKind::Trash size=16 label="Remove condition"/>
            </button>
            {move || c.typed_problem().map(|p| view! {
                <p class="field-error condition-error" role="alert" data-testid="condition-error">{p}</p>
            })}
        </div>
    }
}
