//! Cards: the loyalty cards customers keep in their wallet, and a form to create or edit
//! one with a preview in its colours.

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{Card, CardDesign, CardInput, CardKind, Page};
use uuid::Uuid;

use crate::api::{ApiError, use_api};
use crate::components::icons::{Icon, IconKind};
use crate::components::pagination::Pagination;
use crate::components::states::{Empty, FieldError, FormError, local_problem, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::fetch;
use crate::format::thousands_u;
use crate::session::use_auth;

const PER_PAGE: u64 = 25;
const DEFAULT_BACKGROUND: &str = "#1f2a44";
const DEFAULT_FOREGROUND: &str = "#ffffff";
const DEFAULT_LABEL: &str = "#9fb3d9";

fn kind_key(kind: CardKind) -> &'static str {
    kind.as_str()
}

fn parse_kind(key: &str) -> Option<CardKind> {
    CardKind::ALL.into_iter().find(|k| k.as_str() == key)
}

/// `#rrggbb`, as the API stores colours.
fn is_hex_colour(value: &str) -> bool {
    value.len() == 7
        && value.starts_with('#')
        && value.chars().skip(1).all(|c| c.is_ascii_hexdigit())
}

/// The form's state: one signal per field.
#[derive(Clone, Copy)]
struct CardForm {
    name: RwSignal<String>,
    kind: RwSignal<CardKind>,
    description: RwSignal<String>,
    background: RwSignal<String>,
    foreground: RwSignal<String>,
    label: RwSignal<String>,
    logo_text: RwSignal<String>,
    pass_type_id: RwSignal<String>,
    /// `""` (the server's default), `production` or `sandbox`.
    apns_environment: RwSignal<String>,
    period_days: RwSignal<String>,
    /// One store per line: `latitude, longitude, what the lock screen says`.
    locations: RwSignal<String>,
}

impl CardForm {
    fn new() -> Self {
        CardForm {
            name: RwSignal::new(String::new()),
            kind: RwSignal::new(CardKind::Stamp),
            description: RwSignal::new(String::new()),
            background: RwSignal::new(DEFAULT_BACKGROUND.to_owned()),
            foreground: RwSignal::new(DEFAULT_FOREGROUND.to_owned()),
            label: RwSignal::new(DEFAULT_LABEL.to_owned()),
            logo_text: RwSignal::new(String::new()),
            pass_type_id: RwSignal::new(String::new()),
            apns_environment: RwSignal::new(String::new()),
            period_days: RwSignal::new(String::new()),
            locations: RwSignal::new(String::new()),
        }
    }

    fn reset(&self) {
        self.load(None);
    }

    fn load(&self, card: Option<&Card>) {
        match card {
            Some(c) => {
                self.name.set(c.name.clone());
                self.kind.set(c.kind);
                self.description.set(c.description.clone());
                self.background.set(c.design.background_color.clone());
                self.foreground.set(c.design.foreground_color.clone());
                self.label.set(c.design.label_color.clone());
                self.logo_text.set(c.design.logo_text.clone());
                self.pass_type_id
                    .set(c.apple_pass_type_id.clone().unwrap_or_default());
                self.apns_environment.set(
                    c.apns_environment
                        .map(|e| e.as_str().to_owned())
                        .unwrap_or_default(),
                );
                self.period_days.set(
                    c.membership_period_days
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                );
                self.locations.set(
                    c.locations
                        .iter()
                        .map(|l| format!("{}, {}, {}", l.latitude, l.longitude, l.relevant_text))
                        .map(|line| line.trim_end_matches([',', ' ']).to_owned())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
            }
            None => {
                self.name.set(String::new());
                self.kind.set(CardKind::Stamp);
                self.description.set(String::new());
                self.background.set(DEFAULT_BACKGROUND.to_owned());
                self.foreground.set(DEFAULT_FOREGROUND.to_owned());
                self.label.set(DEFAULT_LABEL.to_owned());
                self.logo_text.set(String::new());
                self.pass_type_id.set(String::new());
                self.apns_environment.set(String::new());
                self.period_days.set(String::new());
                self.locations.set(String::new());
            }
        }
    }

    fn design(&self) -> CardDesign {
        CardDesign {
            background_color: self.background.get(),
            foreground_color: self.foreground.get(),
            label_color: self.label.get(),
            logo_text: self.logo_text.get(),
        }
    }

    /// The request body, or the first problem found before sending.
    fn input(&self) -> Result<CardInput, ApiError> {
        let name = self.name.get_untracked().trim().to_owned();
        if name.is_empty() {
            return Err(local_problem("name", "Give the card a name."));
        }
        let kind = self.kind.get_untracked();
        let period = self.period_days.get_untracked();
        let membership_period_days = if kind == CardKind::Membership && !period.trim().is_empty() {
            match period.trim().parse::<i32>() {
                Ok(days) if days > 0 => Some(days),
                _ => {
                    return Err(local_problem(
                        "membership_period_days",
                        "Enter a number of days greater than zero.",
                    ));
                }
            }
        } else {
            None
        };
        let pass_type_id = self.pass_type_id.get_untracked().trim().to_owned();
        let mut locations = Vec::new();
        for (i, line) in self
            .locations
            .get_untracked()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let mut parts = line.splitn(3, ',');
            let number = |part: Option<&str>| part.and_then(|p| p.trim().parse::<f64>().ok());
            let (Some(latitude), Some(longitude)) = (number(parts.next()), number(parts.next()))
            else {
                return Err(local_problem(
                    "locations",
                    &format!(
                        "Store {}: write the latitude and the longitude first, e.g. 37.7793, -122.4193, Market St store.",
                        i + 1
                    ),
                ));
            };
            locations.push(loyalcast_dto::StoreLocation {
                latitude,
                longitude,
                relevant_text: parts.next().unwrap_or_default().trim().to_owned(),
            });
        }
        Ok(CardInput {
            name,
            kind,
            description: self.description.get_untracked().trim().to_owned(),
            design: self.design_untracked(),
            apple_pass_type_id: (!pass_type_id.is_empty()).then_some(pass_type_id),
            apns_environment: loyalcast_dto::ApnsEnvironment::parse(
                &self.apns_environment.get_untracked(),
            ),
            membership_period_days,
            locations,
        })
    }

    fn design_untracked(&self) -> CardDesign {
        CardDesign {
            background_color: self.background.get_untracked(),
            foreground_color: self.foreground.get_untracked(),
            label_color: self.label.get_untracked(),
            logo_text: self.logo_text.get_untracked().trim().to_owned(),
        }
    }
}

#[component]
pub fn CardsPage() -> impl IntoView {
    crate::set_title("Cards");
    let api = use_api();
    let can_manage = use_auth().can_manage();
    let page = RwSignal::new(1_u64);
    let cards = fetch(
        move || page.get(),
        move |p| async move { api.cards(p, PER_PAGE).await },
    );

    let form = CardForm::new();
    let editing = RwSignal::new(None::<Uuid>);
    let saving = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let saved_note = RwSignal::new(None::<String>);
    let deleting = RwSignal::new(None::<Uuid>);
    let list_error = RwSignal::new(None::<ApiError>);

    let edit = Callback::new(move |card: Card| {
        form.load(Some(&card));
        editing.set(Some(card.id));
        error.set(None);
        saved_note.set(None);
        focus("card-name");
    });
    let new_card = move |_| {
        form.reset();
        editing.set(None);
        error.set(None);
        saved_note.set(None);
        focus("card-name");
    };
    let asker = crate::components::confirm::use_asker();
    let delete_now = move |card: Card| {
        deleting.set(Some(card.id));
        list_error.set(None);
        spawn_local(async move {
            match api.delete_card(card.id).await {
                Ok(()) => {
                    if editing.get_untracked() == Some(card.id) {
                        form.reset();
                        editing.try_set(None);
                    }
                    cards.reload();
                }
                Err(e) => {
                    list_error.try_set(Some(e));
                }
            }
            deleting.try_set(None);
        });
    };

    let delete = Callback::new(move |card: Card| {
        if deleting.get_untracked().is_some() {
            return;
        }
        let detail = if card.installed_passes > 0 {
            format!(
                "{} customers have it in their wallet. This cannot be undone.",
                thousands_u(card.installed_passes)
            )
        } else {
            "Nobody has it in their wallet yet. This cannot be undone.".to_owned()
        };
        let title = format!("Delete “{}”?", card.name);
        asker.ask(title, detail, "Delete card", true, move || {
            delete_now(card.clone())
        });
    });

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        saved_note.set(None);
        let input = match form.input() {
            Ok(input) => input,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        saving.set(true);
        error.set(None);
        let id = editing.get_untracked();
        spawn_local(async move {
            let result = match id {
                Some(id) => api.update_card(id, &input).await,
                None => api.create_card(&input).await,
            };
            match result {
                Ok(card) => {
                    editing.try_set(Some(card.id));
                    saved_note.try_set(Some(format!("Saved “{}”.", card.name)));
                    cards.reload();
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            saving.try_set(false);
        });
    };

    let list = move |p: &Page<Card>| -> AnyView {
        if p.items.is_empty() {
            return view! {
                <Empty title="No cards yet." hint="Create your first card with the form: customers add it to Apple Wallet or Google Wallet."/>
            }
            .into_any();
        }
        let items = p.items.clone();
        let (page_no, per_page, total) = (p.page, p.per_page, p.total);
        view! {
            <div class="table-wrap">
                <table class="table" data-testid="cards-table">
                    <caption class="sr-only">"Cards"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Card"</th>
                            <th scope="col">"Type"</th>
                            <th scope="col" class="hide-sm">"Colours"</th>
                            <th scope="col" class="num">"Installed"</th>
                            <th scope="col" class="hide-md">"Updated"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {items.into_iter().map(|card| view! { <CardRow card=card editing=editing deleting=deleting on_edit=edit on_delete=delete can_manage=can_manage/> }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(total > per_page).then(|| view! {
                <Pagination
                    page=Signal::derive(move || page_no)
                    per_page=Signal::derive(move || per_page)
                    total=Signal::derive(move || total)
                    on_change=Callback::new(move |n| page.set(n))
                    noun="cards"
                />
            })}
        }
        .into_any()
    };

    let err = Signal::derive(move || error.get());
    let list_err = Signal::derive(move || list_error.get());

    view! {
        <div class="page">
            <header class="page-header">
                <div>
                    <h1>"Cards"</h1>
                    <p class="muted">"The loyalty cards your customers keep in Apple Wallet and Google Wallet."</p>
                </div>
                {can_manage.then(|| view! {
                <button type="button" class="btn btn-primary" data-testid="new-card" on:click=new_card>
                    <Icon kind=IconKind::Plus size=16/>
                    "New card"
                </button>
                })}
            </header>
            <div class="split split-wide-left">
                <section class="panel panel-flush" aria-label="Cards" data-testid="cards">
                    <FormError error=list_err/>
                    {show_fetch(cards, "Loading cards…", list)}
                </section>
                {if can_manage {
                    view! {
                <section class="panel editor" id="card-editor" aria-labelledby="card-form-title">
                    <h2 id="card-form-title">{move || if editing.get().is_some() { "Edit card" } else { "New card" }}</h2>
                    <div class="editor-grid">
                    <CardPreview form=form/>
                    <form on:submit=save novalidate=true data-testid="card-form">
                        <div class="field">
                            <label for="card-name">"Name"</label>
                            <input id="card-name" type="text" maxlength="200" data-testid="card-name"
                                aria-describedby="card-name-error"
                                prop:value=form.name on:input=move |ev| form.name.set(event_target_value(&ev))/>
                            <FieldError error=err field="name" id="card-name-error"/>
                        </div>
                        <div class="field">
                            <label for="card-kind">"Type"</label>
                            <select id="card-kind" data-testid="card-kind"
                                on:change=move |ev| {
                                    if let Some(kind) = parse_kind(&event_target_value(&ev)) {
                                        form.kind.set(kind);
                                    }
                                }
                                prop:value=move || kind_key(form.kind.get())>
                                {CardKind::ALL.iter().map(|k| view! { <option value=kind_key(*k)>{k.label()}</option> }).collect_view()}
                            </select>
                            <FieldError error=err field="kind" id="card-kind-error"/>
                        </div>
                        <div class="field">
                            <label for="card-description">"Description " <span class="muted">"(optional)"</span></label>
                            <textarea id="card-description" rows="2" data-testid="card-description"
                                prop:value=form.description on:input=move |ev| form.description.set(event_target_value(&ev))></textarea>
                            <FieldError error=err field="description" id="card-description-error"/>
                        </div>
                        <div class="field">
                            <label for="card-logo-text">"Logo text"</label>
                            <input id="card-logo-text" type="text" maxlength="60" data-testid="card-logo-text"
                                prop:value=form.logo_text on:input=move |ev| form.logo_text.set(event_target_value(&ev))/>
                            <FieldError error=err field="design.logo_text" id="card-logo-text-error"/>
                        </div>
                        <div class="field-row">
                            <ColourField id="card-bg" label="Background" value=form.background error=err field="design.background_color"/>
                            <ColourField id="card-fg" label="Text" value=form.foreground error=err field="design.foreground_color"/>
                            <ColourField id="card-label" label="Labels" value=form.label error=err field="design.label_color"/>
                        </div>
                        {move || (form.kind.get() == CardKind::Membership).then(|| view! {
                            <div class="field">
                                <label for="card-period">"Membership period (days)"</label>
                                <input id="card-period" type="number" min="1" step="1" data-testid="card-period"
                                    aria-describedby="card-period-error"
                                    prop:value=form.period_days on:input=move |ev| form.period_days.set(event_target_value(&ev))/>
                                <FieldError error=err field="membership_period_days" id="card-period-error"/>
                            </div>
                        })}
                        <div class="field">
                            <label for="card-pass-type">"Apple pass type ID " <span class="muted">"(optional)"</span></label>
                            <input id="card-pass-type" type="text" placeholder="pass.com.example.coffee" data-testid="card-pass-type"
                                prop:value=form.pass_type_id on:input=move |ev| form.pass_type_id.set(event_target_value(&ev))/>
                            <FieldError error=err field="apple_pass_type_id" id="card-pass-type-error"/>
                        </div>
                        <div class="field">
                            <label for="card-apns">"Apple push environment"</label>
                            <select id="card-apns" data-testid="card-apns" aria-describedby="card-apns-hint"
                                prop:value=form.apns_environment on:change=move |ev| form.apns_environment.set(event_target_value(&ev))>
                                <option value="">"The server's default"</option>
                                <option value="production">"Production (customers' iPhones)"</option>
                                <option value="sandbox">"Sandbox (development devices)"</option>
                            </select>
                            <p id="card-apns-hint" class="muted small">"Sandbox only while the pass type is tried on development devices."</p>
                        </div>
                        <div class="field">
                            <label for="card-locations">"Stores " <span class="muted small">"(optional, up to 10)"</span></label>
                            <textarea id="card-locations" rows="3" data-testid="card-locations"
                                placeholder="37.7793, -122.4193, Our Market St store is nearby"
                                aria-describedby="card-locations-hint card-locations-error"
                                prop:value=form.locations on:input=move |ev| form.locations.set(event_target_value(&ev))></textarea>
                            <p id="card-locations-hint" class="muted small">"One store per line: latitude, longitude, and what the lock screen says nearby."</p>
                            <FieldError error=err field="locations" id="card-locations-error"/>
                        </div>
                        <FormError error=err known_fields=&["name", "kind", "description", "design", "membership_period_days", "apple_pass_type_id", "locations"]/>
                        {move || saved_note.get().map(|note| view! {
                            <p class="form-success" role="status" data-testid="card-saved"><Icon kind=IconKind::Check size=16/>{note}</p>
                        })}
                        <div class="form-actions">
                            <button type="submit" class="btn btn-primary" data-testid="card-save"
                                disabled=move || saving.get() aria-busy=move || saving.get().to_string()>
                                {move || match (saving.get(), editing.get().is_some()) {
                                    (true, _) => "Saving…",
                                    (false, true) => "Save changes",
                                    (false, false) => "Create card",
                                }}
                            </button>
                        </div>
                    </form>
                    </div>
                </section>
                    }
                    .into_any()
                } else {
                    view! {
                        <p class="muted" data-testid="cards-read-only">"Only an owner or an admin can create and edit cards."</p>
                    }
                    .into_any()
                }}
            </div>
        </div>
    }
}

fn focus(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok())
    {
        let _ = el.focus();
    }
}

#[component]
fn ColourField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    error: Signal<Option<ApiError>>,
    field: &'static str,
) -> impl IntoView {
    let text_id = format!("{id}-hex");
    let error_id = format!("{id}-error");
    let invalid = move || !is_hex_colour(&value.get());
    view! {
        <div class="field colour-field">
            <label for=text_id.clone()>{label}</label>
            <div class="colour-input">
                <input
                    type="color"
                    aria-label=format!("{label} colour picker")
                    prop:value=move || if invalid() { "#000000".to_owned() } else { value.get() }
                    on:input=move |ev| value.set(event_target_value(&ev))
                />
                <input
                    id=text_id
                    type="text"
                    maxlength="7"
                    spellcheck="false"
                    class="input-mono"
                    aria-invalid=move || invalid().to_string()
                    prop:value=value
                    on:input=move |ev| value.set(event_target_value(&ev).trim().to_lowercase())
                />
            </div>
            {move || invalid().then(|| view! { <p class="field-error">"Use #rrggbb."</p> })}
            {move || error.with(|e| e.as_ref().and_then(|e| e.field(field))).map(|m| view! { <p class="field-error" id=error_id.clone()>{m}</p> })}
        </div>
    }
}

#[component]
fn CardPreview(form: CardForm) -> impl IntoView {
    let style = move || {
        let d = form.design();
        let ok = |c: &str, fallback: &str| {
            if is_hex_colour(c) {
                c.to_owned()
            } else {
                fallback.to_owned()
            }
        };
        format!(
            "--card-bg:{};--card-fg:{};--card-label:{}",
            ok(&d.background_color, DEFAULT_BACKGROUND),
            ok(&d.foreground_color, DEFAULT_FOREGROUND),
            ok(&d.label_color, DEFAULT_LABEL)
        )
    };
    view! {
        <div class="card-preview" style=style aria-label="Card preview" role="img" data-testid="card-preview">
            <div class="card-preview-top">
                <span class="card-preview-logo">{move || {
                    let t = form.logo_text.get();
                    if t.trim().is_empty() { "Logo text".to_owned() } else { t }
                }}</span>
                <span class="card-preview-kind">{move || form.kind.get().label().to_uppercase()}</span>
            </div>
            <p class="card-preview-name">{move || {
                let n = form.name.get();
                if n.trim().is_empty() { "Card name".to_owned() } else { n }
            }}</p>
            <p class="card-preview-description">{move || form.description.get()}</p>
        </div>
    }
}

#[component]
fn CardRow(
    card: Card,
    editing: RwSignal<Option<Uuid>>,
    deleting: RwSignal<Option<Uuid>>,
    on_edit: Callback<Card>,
    on_delete: Callback<Card>,
    can_manage: bool,
) -> impl IntoView {
    let id = card.id;
    let d = card.design.clone();
    let for_edit = card.clone();
    let for_delete = card.clone();
    let swatch = |colour: String, what: &'static str| {
        let title = format!("{what}: {colour}");
        view! { <span class="swatch" style=format!("background:{colour}") title=title.clone() aria-label=title role="img"></span> }
    };
    view! {
        <tr class:selected=move || editing.get() == Some(id) data-testid="card-row">
            <td>
                <div class="card-cell">
                    <span class="card-chip" style=format!("background:{};color:{}", d.background_color, d.foreground_color) aria-hidden="true">
                        {d.logo_text.chars().next().or_else(|| card.name.chars().next()).map(|c| c.to_uppercase().to_string()).unwrap_or_default()}
                    </span>
                    <div>
                        <p class="strong" data-testid="card-row-name">{card.name.clone()}</p>
                        {(!card.description.is_empty()).then(|| view! { <p class="muted small truncate">{card.description.clone()}</p> })}
                        <p class="small">
                            <a href=format!("/join/{id}") target="_blank" rel="noopener" data-testid="card-enrol-link">"Enrolment page"</a>
                            " · "
                            <a href=format!("/join/{id}/qr.svg") target="_blank" rel="noopener" data-testid="card-enrol-qr">"QR code"</a>
                        </p>
                    </div>
                </div>
            </td>
            <td>{card.kind.label()}</td>
            <td class="hide-sm">
                <div class="swatches">
                    {swatch(d.background_color.clone(), "Background")}
                    {swatch(d.foreground_color.clone(), "Text")}
                    {swatch(d.label_color.clone(), "Labels")}
                </div>
            </td>
            <td class="num" data-testid="card-row-installed">{thousands_u(card.installed_passes)}</td>
            <td class="hide-md nowrap"><RelativeTime at=card.updated_at/></td>
            <td class="actions-cell"><div class="row-actions">{can_manage.then(|| view! {
                <button type="button" class="btn btn-ghost btn-icon" data-testid="card-edit" on:click=move |_| on_edit.run(for_edit.clone())>
                    <Icon kind=IconKind::Edit label=format!("Edit {}", card.name)/>
                </button>
                <button type="button" class="btn btn-ghost btn-icon btn-danger-text" data-testid="card-delete"
                    disabled=move || deleting.get() == Some(id)
                    on:click=move |_| on_delete.run(for_delete.clone())>
                    <Icon kind=IconKind::Trash label=format!("Delete {}", card.name)/>
                </button>
            })}</div></td>
        </tr>
    }
}
