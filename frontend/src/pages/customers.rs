//! Customers: search, sort and page through the base; open one to see its details and
//! passes. The list's state lives in the URL (`?q=&page=&per_page=&sort=&order=&tag=`), so
//! every view can be bookmarked and the back button works.

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use loyalcast_dto::{Customer, CustomerDetail, CustomerSort, Page, SortOrder};
use uuid::Uuid;

use crate::api::{CustomerQuery, order_param, parse_order, parse_sort, sort_param, use_api};
use crate::components::icons::{ChannelIcon, Icon, IconKind};
use crate::components::pagination::Pagination;
use crate::components::states::{Empty, ErrorState, Loading, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::{debounced, fetch};
use crate::format::{date_only_local, thousands, thousands_u};
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
                        hint="Customers appear here when they install one of your cards or are added through the API."
                    />
                }
                .into_any()
            };
        }
        let rows = page.items.clone();
        let (page_no, per_page, total) = (page.page, page.per_page, page.total);
        view! {
            <div class="table-wrap">
                <table class="table" data-testid="customers-table">
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
        <div class="page" class:with-drawer=move || selected.get().is_some()>
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
            {move || selected.get().map(|id| view! { <CustomerDrawer id=id on_close=close_drawer/> })}
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
            <td class="nowrap">
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
            <td class="nowrap">{customer.phone.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td class="hide-sm truncate">{customer.email.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td class="num">{thousands(i64::from(customer.visits))}</td>
            <td class="num">{thousands(customer.points)}</td>
            <td class="nowrap">
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
fn CustomerDrawer(id: Uuid, on_close: Callback<()>) -> impl IntoView {
    let api = use_api();
    let detail = fetch(move || id, move |id| async move { api.customer(id).await });
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
                Some(Ok(d)) => view! { <CustomerDetails detail=d.clone() card_names=card_names/> }.into_any(),
            })}
        </aside>
    }
}

#[component]
fn CustomerDetails(
    detail: CustomerDetail,
    card_names: Memo<HashMap<Uuid, String>>,
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
                <dd>{c.phone.clone().unwrap_or_else(dash)}</dd>
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
            <ConsentHistoryList id=c.id/>
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
        </div>
    }
}

/// Where each consent came from: the customer's own opt-outs, and the latest changes.
#[component]
fn ConsentHistoryList(id: Uuid) -> impl IntoView {
    let api = use_api();
    let history = fetch(
        move || id,
        move |id| async move { api.customer_consent(id).await },
    );
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
