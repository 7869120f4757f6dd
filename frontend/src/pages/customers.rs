//! Customers: search, sort and page through the base; open one to see its details and
//! passes, edit or delete it; add one, or import a file (`/customers/import`). The list's state lives in the URL (`?q=&page=&per_page=&sort=&order=&tag=`), so
//! every view can be bookmarked and the back button works.

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use loyalcast_dto::{Customer, CustomerDetail, CustomerSort, Page, SortOrder};
use uuid::Uuid;

use crate::api::{CustomerQuery, order_param, parse_order, parse_sort, sort_param, use_api};
use crate::components::confirm::{ConfirmDialog, Question};
use crate::components::icons::{ChannelIcon, Icon, IconKind};
use crate::components::pagination::Pagination;
use crate::components::states::{Empty, ErrorState, Loading, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::{Fetch, debounced, fetch};
use crate::format::{date_only_local, thousands, thousands_u};
use crate::pages::customer_form::CustomerForm;
use crate::session::use_auth;
use loyalcast_dto::Channel;

const DEFAULT_PER_PAGE: u64 = 25;
const PER_PAGE_CHOICES: [u64; 4] = [10, 25, 50, 100];

fn encode(value: &str) -> String {
    js_sys::encode_uri_component(value).into()
}

/// The URL of a view of the list.
fn list_url(query: &CustomerQuery) -> String {
    let mut parts = Vec::new();
    if !query.q.trim().is_empty() {
        parts.push(format!("q={}", encode(query.q.trim())));
    }
    if let Some(tag) = &query.tag {
        parts.push(format!("tag={}", encode(tag)));
    }
    parts.push(format!("page={}", query.page.max(1)));
    if query.per_page != DEFAULT_PER_PAGE {
        parts.push(format!("per_page={}", query.per_page));
    }
    parts.push(format!("sort={}", sort_param(query.sort)));
    parts.push(format!("order={}", order_param(query.order)));
    format!("/customers?{}", parts.join("&"))
}

/// The order a column sorts in first: names A to Z, numbers and dates biggest first.
fn default_order(sort: CustomerSort) -> SortOrder {
    match sort {
        CustomerSort::Name => SortOrder::Asc,
        _ => SortOrder::Desc,
    }
}

#[component]
pub fn CustomersPage() -> impl IntoView {
    crate::set_title("Customers");
    let api = use_api();
    let query_map = use_query_map();
    let navigate = use_navigate();

    let query = Memo::new(move |_| {
        query_map.with(|m| CustomerQuery {
            q: m.get("q").unwrap_or_default(),
            page: m
                .get("page")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
            per_page: m
                .get("per_page")
                .and_then(|p| p.parse().ok())
                .filter(|p| (1..=100).contains(p))
                .unwrap_or(DEFAULT_PER_PAGE),
            sort: m
                .get("sort")
                .and_then(|s| parse_sort(&s))
                .unwrap_or_default(),
            order: m
                .get("order")
                .and_then(|o| parse_order(&o))
                .unwrap_or_default(),
            tag: m.get("tag").filter(|t| !t.is_empty()),
        })
    });

    let go = {
        let navigate = navigate.clone();
        move |next: CustomerQuery, replace: bool| {
            navigate(
                &list_url(&next),
                NavigateOptions {
                    replace,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    };

    // The search box follows the URL; typing updates the URL once it pauses for 250 ms.
    let search = RwSignal::new(query.get_untracked().q);
    let settled: ReadSignal<String> = debounced(search.into(), Duration::from_millis(250));
    {
        let go = go.clone();
        Effect::new(move |_| {
            let typed: String = settled.get();
            let current = query.get_untracked();
            if typed.trim() != current.q.trim() {
                go(
                    CustomerQuery {
                        q: typed,
                        page: 1,
                        ..current
                    },
                    true,
                );
            }
        });
    }
    Effect::new(move |_| {
        // Back / forward to another search: show it in the box.
        let q = query.with(|q| q.q.clone());
        if q.trim() != settled.with_untracked(|s: &String| s.trim().to_owned()) {
            search.set(q);
        }
    });

    let customers = fetch(
        move || query.get(),
        move |q| async move { api.customers(&q).await },
    );
    let tags = fetch(|| (), move |_| async move { api.tags().await });

    let selected = RwSignal::new(None::<Uuid>);
    let creating = RwSignal::new(false);
    let auth = use_auth();
    let known_tags = Signal::derive(move || tags.ok().unwrap_or_default());
    // Something changed a customer: the list, and the tags it offers, are loaded again.
    let changed = Callback::new(move |_| {
        customers.reload();
        tags.reload();
    });
    let created = Callback::new(move |c: Customer| {
        creating.set(false);
        changed.run(());
        selected.set(Some(c.id));
    });
    let deleted = Callback::new(move |_| {
        selected.set(None);
        changed.run(());
    });

    let set_page = {
        let go = go.clone();
        Callback::new(move |page: u64| {
            go(
                CustomerQuery {
                    page,
                    ..query.get_untracked()
                },
                false,
            )
        })
    };
    let sort_by = {
        let go = go.clone();
        Callback::new(move |sort: CustomerSort| {
            let current = query.get_untracked();
            let order = if current.sort == sort {
                match current.order {
                    SortOrder::Asc => SortOrder::Desc,
                    SortOrder::Desc => SortOrder::Asc,
                }
            } else {
                default_order(sort)
            };
            go(
                CustomerQuery {
                    sort,
                    order,
                    page: 1,
                    ..current
                },
                false,
            )
        })
    };
    let set_tag = {
        let go = go.clone();
        move |tag: String| {
            go(
                CustomerQuery {
                    tag: (!tag.is_empty()).then_some(tag),
                    page: 1,
                    ..query.get_untracked()
                },
                false,
            )
        }
    };
    let set_per_page = {
        let go = go.clone();
        move |per_page: u64| {
            go(
                CustomerQuery {
                    per_page,
                    page: 1,
                    ..query.get_untracked()
                },
                false,
            )
        }
    };
    // Closing the details returns the keyboard focus to the row it was opened from.
    let close_drawer = Callback::new(move |_| {
        let Some(id) = selected.get_untracked() else {
            return;
        };
        selected.set(None);
        let button = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| {
                d.query_selector(&format!("[data-customer-id=\"{id}\"]"))
                    .ok()
                    .flatten()
            })
            .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok());
        if let Some(button) = button {
            let _ = button.focus();
        }
    });
    let clear_search = move || {
        search.set(String::new());
    };

    let table = move |page: &Page<Customer>| -> AnyView {
        if page.items.is_empty() {
            let q = query.with(|q| q.q.trim().to_owned());
            let tag = query.with(|q| q.tag.clone());
            return if !q.is_empty() || tag.is_some() {
                view! {
                    <Empty
                        title="No customers match this search."
                        hint="Try a shorter name, the last digits of a phone number, or another tag."
                    >
                        <button type="button" class="btn btn-secondary btn-sm" on:click=move |_| clear_search()>
                            "Clear search"
                        </button>
                    </Empty>
                }
                .into_any()
            } else {
                view! {
                    <Empty
                        title="No customers yet."
                        hint="Customers appear here when they join one of your cards, when you add or import them, or when an integration adds them."
                    />
                }
                .into_any()
            };
        }
        let rows = page.items.clone();
        let (page_no, per_page, total) = (page.page, page.per_page, page.total);
        view! {
            <div class="table-wrap">
                <table class="table table-cards" data-testid="customers-table">
                    <caption class="sr-only">"Customers"</caption>
                    <thead>
                        <tr>
                            <SortHeader label="Name" sort=CustomerSort::Name query=query on_sort=sort_by/>
                            <th scope="col">"Phone"</th>
                            <th scope="col" class="hide-sm">"Email"</th>
                            <SortHeader label="Visits" sort=CustomerSort::Visits query=query on_sort=sort_by numeric=true/>
                            <SortHeader label="Points" sort=CustomerSort::Points query=query on_sort=sort_by numeric=true/>
                            <SortHeader label="Last visit" sort=CustomerSort::LastVisitAt query=query on_sort=sort_by/>
                            <SortHeader label="Joined" sort=CustomerSort::CreatedAt query=query on_sort=sort_by class="hide-lg"/>
                            <th scope="col" class="hide-sm">"Tags"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows.into_iter().map(|c| view! { <CustomerRow customer=c selected=selected/> }).collect_view()}
                    </tbody>
                </table>
            </div>
            <Pagination
                page=Signal::derive(move || page_no)
                per_page=Signal::derive(move || per_page)
                total=Signal::derive(move || total)
                on_change=set_page
                noun="customers"
            />
        }
        .into_any()
    };

    view! {
        <div class="page" class:with-drawer=move || selected.get().is_some() || creating.get()>
            <header class="page-header">
                <div>
                    <h1>"Customers"</h1>
                    <p class="muted" data-testid="customers-total">
                        {move || customers.ok().map(|p| match p.total {
                            1 => "1 customer".to_owned(),
                            n => format!("{} customers", thousands_u(n)),
                        })}
                    </p>
                </div>
                <div class="page-actions">
                    {move || auth.can_manage().then(|| view! {
                        <a class="btn btn-secondary" href="/customers/import" data-testid="customers-import">"Import CSV"</a>
                    })}
                    <button type="button" class="btn btn-primary" data-testid="customer-add"
                        on:click=move |_| {
                            selected.set(None);
                            creating.set(true);
                        }>
                        <Icon kind=IconKind::Plus size=16/>
                        "Add customer"
                    </button>
                </div>
            </header>
            <div class="toolbar">
                <label class="search" for="customer-search">
                    <span class="sr-only">"Search customers"</span>
                    <Icon kind=IconKind::Search size=16/>
                    <input
                        id="customer-search"
                        type="search"
                        placeholder="Search by name, phone or email"
                        autocomplete="off"
                        data-testid="customer-search"
                        prop:value=search
                        on:input=move |ev| search.set(event_target_value(&ev))
                    />
                </label>
                <label class="inline-field">
                    <span>"Tag"</span>
                    <select
                        data-testid="customer-tag"
                        on:change=move |ev| set_tag(event_target_value(&ev))
                        prop:value=move || query.with(|q| q.tag.clone().unwrap_or_default())
                    >
                        <option value="">"Any tag"</option>
                        {move || tags.ok().unwrap_or_default().into_iter().map(|t| {
                            let selected = query.with(|q| q.tag.as_deref() == Some(t.as_str()));
                            view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label class="inline-field">
                    <span>"Per page"</span>
                    <select
                        data-testid="customer-per-page"
                        on:change=move |ev| {
                            if let Ok(n) = event_target_value(&ev).parse() {
                                set_per_page(n);
                            }
                        }
                    >
                        {move || {
                            let current = query.with(|q| q.per_page);
                            let mut choices = PER_PAGE_CHOICES.to_vec();
                            if !choices.contains(&current) {
                                choices.push(current);
                                choices.sort_unstable();
                            }
                            choices
                                .into_iter()
                                .map(|n| view! { <option value=n.to_string() selected={n == current}>{n}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
            </div>
            <section class="panel panel-flush" aria-label="Customer list" data-testid="customers">
                {show_fetch(customers, "Loading customers…", table)}
            </section>
            {move || selected.get().map(|id| view! {
                <CustomerDrawer id=id on_close=close_drawer on_changed=changed on_deleted=deleted known_tags=known_tags/>
            })}
            {move || creating.get().then(|| view! {
                <aside class="drawer" aria-label="New customer" data-testid="customer-new">
                    <div class="drawer-head">
                        <h2>"New customer"</h2>
                        <button type="button" class="btn btn-ghost btn-icon" on:click=move |_| creating.set(false)>
                            <Icon kind=IconKind::Close label="Close"/>
                        </button>
                    </div>
                    <div class="drawer-body">
                        <CustomerForm existing=None opted_out=Signal::derive(Vec::new) known_tags=known_tags
                            on_saved=created on_cancel=Callback::new(move |_| creating.set(false))/>
                    </div>
                </aside>
            })}
        </div>
    }
}

#[component]
fn SortHeader(
    label: &'static str,
    sort: CustomerSort,
    query: Memo<CustomerQuery>,
    on_sort: Callback<CustomerSort>,
    #[prop(optional)] numeric: bool,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    let state = move || query.with(|q| (q.sort == sort).then_some(q.order));
    let aria_sort = move || match state() {
        Some(SortOrder::Asc) => "ascending",
        Some(SortOrder::Desc) => "descending",
        None => "none",
    };
    let class = format!("{class} {}", if numeric { "num" } else { "" });
    view! {
        <th scope="col" class=class aria-sort=aria_sort>
            <button
                type="button"
                class="sort-button"
                class:active=move || state().is_some()
                data-testid=format!("sort-{}", sort_param(sort))
                on:click=move |_| on_sort.run(sort)
            >
                {label}
                {move || match state() {
                    Some(SortOrder::Asc) => view! { <Icon kind=IconKind::ArrowUp size=14 label="sorted ascending"/> }.into_any(),
                    Some(SortOrder::Desc) => view! { <Icon kind=IconKind::ArrowDown size=14 label="sorted descending"/> }.into_any(),
                    None => view! { <Icon kind=IconKind::Sort size=14/> }.into_any(),
                }}
            </button>
        </th>
    }
}

pub fn full_name(c: &Customer) -> String {
    let name = format!("{} {}", c.first_name, c.last_name);
    let name = name.trim();
    if name.is_empty() {
        "Unnamed customer".to_owned()
    } else {
        name.to_owned()
    }
}

#[component]
fn CustomerRow(customer: Customer, selected: RwSignal<Option<Uuid>>) -> impl IntoView {
    let id = customer.id;
    let name = full_name(&customer);
    let is_selected = move || selected.get() == Some(id);
    let open = move || selected.set(Some(id));
    view! {
        <tr
            class="clickable"
            class:selected=is_selected
            data-testid="customer-row"
            on:click=move |_| open()
        >
            <td class="nowrap card-title">
                <button
                    type="button"
                    class="link-button"
                    data-testid="customer-name"
                    data-customer-id=id.to_string()
                    aria-expanded=move || is_selected().to_string()
                    on:click=move |ev| {
                        ev.stop_propagation();
                        open();
                    }
                >
                    {name}
                </button>
            </td>
            <td class="nowrap">{customer.phone.as_deref().map(|p| crate::format::phone(p, &merchant_country())).unwrap_or_else(|| "—".to_owned())}</td>
            <td class="hide-sm truncate">{customer.email.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td class="num" data-label="Visits">{thousands(i64::from(customer.visits))}</td>
            <td class="num" data-label="Points">{thousands(customer.points)}</td>
            <td class="nowrap" data-label="Last visit">
                {match customer.last_visit_at {
                    Some(at) => view! { <RelativeTime at=at/> }.into_any(),
                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="nowrap hide-lg"><RelativeTime at=customer.created_at/></td>
            <td class="hide-sm">
                <div class="tags tags-row" title=customer.tags.join(", ")>
                    {customer.tags.iter().take(2).map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}
                    {(customer.tags.len() > 2).then(|| view! {
                        <span class="tag tag-more">{format!("+{}", customer.tags.len() - 2)}</span>
                    })}
                </div>
            </td>
        </tr>
    }
}

#[component]
fn CustomerDrawer(
    id: Uuid,
    on_close: Callback<()>,
    /// The customer was saved.
    on_changed: Callback<()>,
    /// The customer was deleted.
    on_deleted: Callback<()>,
    known_tags: Signal<Vec<String>>,
) -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    let detail = fetch(move || id, move |id| async move { api.customer(id).await });
    let editing = RwSignal::new(false);
    // One load of the consent history serves the list and the form (which channels the
    // customer opted out of); it is loaded again when an edit ends, as the edit may add to it.
    let consent = fetch(
        move || (id, editing.get()),
        move |(id, _)| async move { api.customer_consent(id).await },
    );
    let opted_out = Signal::derive(move || consent.ok().map(|h| h.opted_out).unwrap_or_default());
    let saved = Callback::new(move |_: Customer| {
        editing.set(false);
        detail.reload();
        on_changed.run(());
    });
    let question = RwSignal::new(None::<Question>);
    let deleting = RwSignal::new(false);
    let delete_error = RwSignal::new(None::<crate::api::ApiError>);
    let ask_delete = move |name: String| {
        delete_error.set(None);
        question.set(Some(Question {
            title: format!("Delete {name}?"),
            detail: "Their details, tags and consent history are removed, and their cards in the wallet stop updating. This cannot be undone.".to_owned(),
            confirm: "Delete customer".to_owned(),
            danger: true,
            action: std::sync::Arc::new(move || {
                deleting.set(true);
                spawn_local(async move {
                    match api.delete_customer(id).await {
                        Ok(()) => {
                            question.try_set(None);
                            on_deleted.run(());
                        }
                        Err(e) => {
                            delete_error.try_set(Some(e));
                        }
                    }
                    deleting.try_set(false);
                });
            }),
        }));
    };
    let cards = fetch(|| (), move |_| async move { api.cards(1, 100).await });
    let card_names = Memo::new(move |_| {
        cards
            .ok()
            .map(|p| {
                p.items
                    .into_iter()
                    .map(|c| (c.id, c.name))
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default()
    });
    let retry = Callback::new(move |_| detail.reload());

    let close_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            on_close.run(());
        }
    };

    view! {
        <aside class="drawer" aria-label="Customer details" data-testid="customer-drawer" on:keydown=on_key>
            <div class="drawer-head">
                <h2>{move || detail.ok().map(|d| full_name(&d.customer)).unwrap_or_else(|| "Customer".to_owned())}</h2>
                <button
                    type="button"
                    class="btn btn-ghost btn-icon"
                    node_ref=close_button
                    data-testid="drawer-close"
                    on:click=move |_| on_close.run(())
                >
                    <Icon kind=IconKind::Close label="Close details"/>
                </button>
            </div>
            {move || detail.data.with(|d| match d {
                None => view! { <Loading label="Loading customer…"/> }.into_any(),
                Some(Err(e)) => view! { <ErrorState error=e.clone() on_retry=retry/> }.into_any(),
                Some(Ok(d)) if editing.get() => view! {
                    <div class="drawer-body">
                        <CustomerForm existing=Some(d.customer.clone()) opted_out=opted_out known_tags=known_tags
                            on_saved=saved on_cancel=Callback::new(move |_| editing.set(false))/>
                    </div>
                }.into_any(),
                Some(Ok(d)) => {
                    let name = full_name(&d.customer);
                    view! {
                        <div class="drawer-actions drawer-body-top">
                            <button type="button" class="btn btn-secondary btn-sm" data-testid="customer-edit"
                                on:click=move |_| editing.set(true)>
                                "Edit"
                            </button>
                            {auth.can_manage().then(|| view! {
                                <button type="button" class="btn btn-ghost btn-sm btn-danger-text" data-testid="customer-delete"
                                    on:click=move |_| ask_delete(name.clone())>
                                    <Icon kind=IconKind::Trash size=14/>
                                    "Delete"
                                </button>
                            })}
                        </div>
                        <CustomerDetails detail=d.clone() card_names=card_names history=consent/>
                    }.into_any()
                }
            })}
            <ConfirmDialog question=question busy=deleting error=delete_error/>
        </aside>
    }
}

#[component]
fn CustomerDetails(
    detail: CustomerDetail,
    card_names: Memo<HashMap<Uuid, String>>,
    history: Fetch<loyalcast_dto::ConsentHistory>,
) -> impl IntoView {
    let c = detail.customer;
    let dash = || "—".to_owned();
    let consent = [
        (Channel::Sms, c.consent.sms),
        (Channel::Email, c.consent.email),
        (Channel::Telegram, c.consent.telegram),
        (Channel::Messenger, c.consent.messenger),
    ];
    let passes = detail.passes;
    view! {
        <div class="drawer-body">
            <dl class="details">
                <dt>"Customer ID"</dt>
                <dd><code data-testid="customer-id">{c.id.to_string()}</code></dd>
                <dt>"Phone"</dt>
                <dd title=c.phone.clone().unwrap_or_default()>{c.phone.as_deref().map(|p| crate::format::phone(p, &merchant_country())).unwrap_or_else(dash)}</dd>
                <dt>"Email"</dt>
                <dd class="break">{c.email.clone().unwrap_or_else(dash)}</dd>
                <dt>"Birthday"</dt>
                <dd>{c.birthday.map(date_only_local).unwrap_or_else(dash)}</dd>
                <dt>"Visits"</dt>
                <dd>{thousands(i64::from(c.visits))}</dd>
                <dt>"Points"</dt>
                <dd>{thousands(c.points)}</dd>
                <dt>"Last visit"</dt>
                <dd>{match c.last_visit_at {
                    Some(at) => view! { <RelativeTime at=at/> }.into_any(),
                    None => view! { <span>"Never"</span> }.into_any(),
                }}</dd>
                <dt>"Joined"</dt>
                <dd><RelativeTime at=c.created_at/></dd>
                <dt>"Tags"</dt>
                <dd>
                    {if c.tags.is_empty() {
                        view! { <span class="muted">"No tags"</span> }.into_any()
                    } else {
                        view! { <div class="tags">{c.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}</div> }.into_any()
                    }}
                </dd>
            </dl>
            <h3>"Channels"</h3>
            <ul class="consent-list">
                {consent.into_iter().map(|(channel, on)| view! {
                    <li>
                        <ChannelIcon channel=channel with_label=true/>
                        {if on {
                            view! { <span class="badge badge-success">"Subscribed"</span> }.into_any()
                        } else {
                            view! { <span class="badge badge-danger">"Opted out"</span> }.into_any()
                        }}
                    </li>
                }).collect_view()}
            </ul>
            <ConsentHistoryList history=history/>
            <h3>"Cards in the wallet"</h3>
            {if passes.is_empty() {
                view! { <p class="muted" data-testid="no-passes">"No card installed yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="pass-list" data-testid="passes">
                        {passes.into_iter().map(|p| {
                            let card = move || card_names.with(|m| m.get(&p.card_id).cloned()).unwrap_or_else(|| "Card".to_owned());
                            let wallet = match p.platform {
                                loyalcast_dto::WalletPlatform::Apple => "Apple Wallet",
                                loyalcast_dto::WalletPlatform::Google => "Google Wallet",
                            };
                            view! {
                                <li class="pass">
                                    <Icon kind=IconKind::Wallet size=16/>
                                    <div>
                                        <p><strong>{card}</strong>" · "{wallet}</p>
                                        <p class="muted small">
                                            "Installed " <RelativeTime at=p.installed_at/>
                                            {p.expires_at.map(|at| view! { " · expires " <RelativeTime at=at/> })}
                                        </p>
                                        <p class="muted small">"Serial " <code>{p.serial_number.clone()}</code></p>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <CustomerMessages id=c.id/>
        </div>
    }
}

/// Every message the customer was sent, newest first, ten at a time: what sent it, on which
/// channel, where it stands and, when it failed, why.
#[component]
fn CustomerMessages(id: Uuid) -> impl IntoView {
    use loyalcast_dto::{MessageSource, MessageStatus};
    let api = use_api();
    let page = RwSignal::new(1_u64);
    let messages = fetch(
        move || page.get(),
        move |page| async move { api.customer_messages(id, page, 10).await },
    );
    // A message's status moves as its mailing or push settles: follow the change feed.
    let reload = crate::live::reload_soon(messages);
    crate::live::on_change(move |notice| match notice {
        crate::live::Notice::Change(e)
            if matches!(
                e.topic,
                loyalcast_dto::ChangeTopic::Mailing | loyalcast_dto::ChangeTopic::Push
            ) =>
        {
            reload()
        }
        crate::live::Notice::Change(_) => {}
        crate::live::Notice::Resync => reload(),
    });
    let status = |s: MessageStatus| match s {
        MessageStatus::Queued => ("Queued", "badge-neutral"),
        MessageStatus::Sending => ("Sending", "badge-info"),
        MessageStatus::Scheduled => ("Scheduled", "badge-neutral"),
        MessageStatus::Sent => ("Sent", "badge-info"),
        MessageStatus::Delivered => ("Delivered", "badge-success"),
        MessageStatus::Opened => ("Opened", "badge-success"),
        MessageStatus::Failed => ("Failed", "badge-danger"),
        MessageStatus::Unsubscribed => ("Opted out", "badge-warning"),
        MessageStatus::Cancelled => ("Cancelled", "badge-neutral"),
        MessageStatus::Uncertain => ("Unconfirmed", "badge-warning"),
    };
    view! {
        <h3>"Messages"</h3>
        {move || match messages.data.get() {
            None => view! { <p class="muted small">"Loading the messages…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="field-error" role="alert">{format!("The messages could not be loaded: {}", e.message())}</p> }.into_any(),
            Some(Ok(p)) if p.total == 0 => view! { <p class="muted small" data-testid="no-messages">"Nothing sent to this customer yet."</p> }.into_any(),
            Some(Ok(p)) => {
                let pages = p.total.div_ceil(p.per_page.max(1));
                let current = p.page;
                view! {
                    <ul class="message-list" data-testid="customer-messages">
                        {p.items.into_iter().map(|m| {
                            let (label, class) = status(m.status);
                            let href = match m.source {
                                MessageSource::Mailing => format!("/mailings/{}", m.source_id),
                                MessageSource::Push => "/mailings/send-push".to_owned(),
                                MessageSource::Automation => "/mailings/automation".to_owned(),
                            };
                            let name = if m.source_name.is_empty() { "(deleted)".to_owned() } else { m.source_name.clone() };
                            let via = match (m.channel, m.wallet.as_deref()) {
                                (Some(c), _) => view! { <ChannelIcon channel=c with_label=true/> }.into_any(),
                                (None, Some("apple")) => view! { <span>"Apple Wallet"</span> }.into_any(),
                                (None, Some("google")) => view! { <span>"Google Wallet"</span> }.into_any(),
                                (None, _) => view! { <span>"Web push"</span> }.into_any(),
                            };
                            view! {
                                <li class="message-item" data-testid="customer-message" data-status=format!("{:?}", m.status).to_lowercase()>
                                    <p class="small">
                                        {via}" · "<leptos_router::components::A href=href>{name}</leptos_router::components::A>" "
                                        <span class=format!("badge {class}")>{label}</span>
                                    </p>
                                    {m.reason.clone().filter(|_| m.status != MessageStatus::Sent && m.status != MessageStatus::Delivered && m.status != MessageStatus::Opened).map(|r| view! {
                                        <p class="muted small break" data-testid="customer-message-reason">{r}</p>
                                    })}
                                    <p class="muted small"><RelativeTime at=m.updated_at/></p>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    {(pages > 1).then(|| view! {
                        <div class="pager small">
                            <button type="button" class="btn btn-ghost btn-sm" data-testid="messages-newer"
                                disabled=current <= 1 on:click=move |_| page.update(|p| *p = p.saturating_sub(1).max(1))>"Newer"</button>
                            <span class="muted">{format!("{current} of {pages}")}</span>
                            <button type="button" class="btn btn-ghost btn-sm" data-testid="messages-older"
                                disabled=current >= pages on:click=move |_| page.update(|p| *p += 1)>"Older"</button>
                        </div>
                    })}
                }.into_any()
            }
        }}
    }
}

/// Where each consent came from: the customer's own opt-outs, and the latest changes.
#[component]
fn ConsentHistoryList(history: Fetch<loyalcast_dto::ConsentHistory>) -> impl IntoView {
    let source = |s: loyalcast_dto::ConsentSource| {
        use loyalcast_dto::ConsentSource as S;
        match s {
            S::Api => "by the team",
            S::Import => "by an import",
            S::Stop => "replied STOP",
            S::Start => "replied START",
            S::UnsubscribeLink => "unsubscribe link",
            S::ResubscribePage => "subscribed again",
            S::Provider => "provider reported",
            S::Enrolment => "on the enrolment page",
        }
    };
    view! {
        <h3>"Consent history"</h3>
        {move || history.ok().map(|h| {
            let opted_out = (!h.opted_out.is_empty()).then(|| {
                let names: Vec<&str> = h.opted_out.iter().map(|c| c.label()).collect();
                view! {
                    <p class="muted small" data-testid="opted-out">
                        {format!("Opted out themselves of {}: only they can opt in again.", names.join(", "))}
                    </p>
                }
            });
            let list = if h.changes.is_empty() {
                view! { <p class="muted small">"No consent given yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="consent-history" data-testid="consent-history">
                        {h.changes.into_iter().take(20).map(|c| view! {
                            <li class="small">
                                <ChannelIcon channel=c.channel with_label=true/>
                                {if c.granted { " given · " } else { " withdrawn · " }}
                                {source(c.source)}
                                " · "
                                <RelativeTime at=c.at/>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            };
            view! { {opted_out} {list} }
        })}
    }
}

/// The merchant's country (ISO 3166 alpha-2), as phone numbers are written for it.
fn merchant_country() -> String {
    crate::session::use_auth()
        .session_untracked()
        .map(|s| s.merchant.default_country)
        .unwrap_or_default()
}
