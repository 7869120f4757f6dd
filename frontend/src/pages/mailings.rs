//! The Mailings section: five tabs, each its own route, above the same four figure cards.
//!
//! The mailings history lists what the server has sent; Send push is its own page
//! (`send_push`). The server does not serve conversations or automations yet, so those tabs
//! say plainly what they will do rather than showing made-up data.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{A, Outlet};
use leptos_router::hooks::{use_navigate, use_query_map};
use loyalcast_dto::{MailingStatus, MailingSummary, Page};

use crate::api::use_api;
use crate::components::figures::FigureCards;
use crate::components::icons::{ChannelIcon, Icon, IconKind};
use crate::components::pagination::Pagination;
use crate::components::states::{Empty, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::{debounced, fetch};
use crate::format::thousands_u;
use crate::live::{Notice, on_change, reload_soon};
use loyalcast_dto::{ChangeTopic, Channel};

#[component]
pub fn MailingsLayout() -> impl IntoView {
    view! {
        <div class="page">
            <header class="page-header">
                <h1>"Mailings"</h1>
            </header>
            <nav class="tabs" aria-label="Mailings">
                <Tab href="/mailings/inbox" icon=IconKind::Inbox label="Inbox" testid="tab-inbox"/>
                <Tab href="/mailings/history" icon=IconKind::History label="Mailings history" testid="tab-history"/>
                <Tab href="/mailings/send-push" icon=IconKind::Push label="Send push" testid="tab-send-push"/>
                <Tab href="/mailings/automation" icon=IconKind::Automation label="Push automation" testid="tab-automation"/>
                <Tab href="/mailings/auto-push" icon=IconKind::AutoPush label="Custom auto-push" testid="tab-auto-push"/>
            </nav>
            <FigureCards/>
            <Outlet/>
        </div>
    }
}

#[component]
fn Tab(
    href: &'static str,
    icon: IconKind,
    label: &'static str,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <A href=href attr:class="tab" attr:data-testid=testid>
            <Icon kind=icon size=16/>
            <span>{label}</span>
        </A>
    }
}

/// A tab whose server side is not built yet: what it will do, in the merchant's words.
#[component]
fn ComingNext(
    testid: &'static str,
    title: &'static str,
    summary: &'static str,
    points: &'static [&'static str],
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <section class="panel coming-next" data-testid=testid aria-labelledby=format!("{testid}-title")>
            <div class="coming-next-text">
                <span class="badge badge-neutral">"Not built yet"</span>
                <h2 id=format!("{testid}-title")>{title}</h2>
                <p class="lead">{summary}</p>
                <p class="strong">"What it will do:"</p>
                <ul class="planned">
                    {points.iter().map(|p| view! { <li>{*p}</li> }).collect_view()}
                </ul>
                <p class="muted small">
                    "This page is not connected yet: nothing on it is sent, and no figures here are made up."
                </p>
            </div>
            {children.map(|c| view! { <div class="coming-next-aside">{c()}</div> })}
        </section>
    }
}

#[component]
pub fn InboxPage() -> impl IntoView {
    crate::set_title("Inbox");
    view! {
        <ComingNext
            testid="page-inbox"
            title="Inbox"
            summary="Two-way conversations with your customers, on every channel, in one place."
            points=&[
                "Filter chips with counts: your conversations, favorites, sent, received, opened, unread, replied; and a search box.",
                "The whole thread with a customer, newest at the bottom, each message with its channel, time and delivery status; failed messages say why and can be retried.",
                "Reply by SMS or email, whichever the customer can receive, with the SMS segment counter.",
                "Internal notes on a thread, visible only to your team.",
                "A details pane: name, phone, email, customer ID, cards and passes, opt-outs.",
            ]
        >
            <div class="channel-legend" aria-label="Channels">
                {Channel::ALL.iter().map(|c| view! { <ChannelIcon channel=*c with_label=true/> }).collect_view()}
            </div>
        </ComingNext>
    }
}

const HISTORY_PER_PAGE: u64 = 25;

fn history_url(q: &str, page: u64) -> String {
    let q = q.trim();
    if q.is_empty() {
        format!("/mailings/history?page={page}")
    } else {
        let q: String = js_sys::encode_uri_component(q).into();
        format!("/mailings/history?q={q}&page={page}")
    }
}

/// A mailing state's label and badge class (history rows and the mailing page).
pub(crate) fn status_label(status: MailingStatus) -> (&'static str, &'static str) {
    match status {
        MailingStatus::Draft => ("Draft", "badge-neutral"),
        MailingStatus::Scheduled => ("Scheduled", "badge-info"),
        MailingStatus::Sending => ("Sending", "badge-info"),
        MailingStatus::Paused => ("Paused", "badge-warning"),
        MailingStatus::Completed => ("Completed", "badge-success"),
        MailingStatus::Cancelled => ("Cancelled", "badge-neutral"),
        MailingStatus::Failed => ("Failed", "badge-danger"),
    }
}

/// The mailings history: search by name, newest first, paged. The search and the page are
/// in the URL.
#[component]
pub fn HistoryPage() -> impl IntoView {
    crate::set_title("Mailings history");
    let api = use_api();
    let query_map = use_query_map();
    let navigate = use_navigate();
    let query = Memo::new(move |_| {
        query_map.with(|m| {
            (
                m.get("q").unwrap_or_default(),
                m.get("page")
                    .and_then(|p| p.parse::<u64>().ok())
                    .filter(|p| *p >= 1)
                    .unwrap_or(1),
            )
        })
    });
    let search = RwSignal::new(query.get_untracked().0);
    let settled: ReadSignal<String> = debounced(search.into(), Duration::from_millis(250));
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            let typed: String = settled.get();
            if typed.trim() != query.with_untracked(|q| q.0.trim().to_owned()) {
                navigate(
                    &history_url(&typed, 1),
                    NavigateOptions {
                        replace: true,
                        scroll: false,
                        ..Default::default()
                    },
                );
            }
        });
    }
    Effect::new(move |_| {
        let q = query.with(|q| q.0.clone());
        if q.trim() != settled.with_untracked(|s: &String| s.trim().to_owned()) {
            search.set(q);
        }
    });
    let mailings = fetch(
        move || query.get(),
        move |(q, page)| async move { api.mailings(&q, page, HISTORY_PER_PAGE).await },
    );
    // A mailing created, sent or progressing anywhere may be one of these rows, or a new one.
    let reload = reload_soon(mailings);
    on_change(move |notice| match notice {
        Notice::Change(e) if e.topic == ChangeTopic::Mailing => reload(),
        Notice::Change(_) => {}
        Notice::Resync => reload(),
    });
    let set_page = {
        let navigate = navigate.clone();
        Callback::new(move |page: u64| {
            navigate(
                &history_url(&query.with_untracked(|q| q.0.clone()), page),
                NavigateOptions::default(),
            )
        })
    };

    let table = move |p: &Page<MailingSummary>| -> AnyView {
        if p.items.is_empty() {
            return if query.with(|q| !q.0.trim().is_empty()) {
                view! {
                    <Empty title="No mailing has this name." hint="Try fewer words.">
                        <button type="button" class="btn btn-secondary btn-sm" on:click=move |_| search.set(String::new())>
                            "Clear search"
                        </button>
                    </Empty>
                }
                .into_any()
            } else {
                view! {
                    <Empty
                        title="No mailings yet."
                        hint="Mailings sent through the API appear here with their status and recipients."
                    />
                }
                .into_any()
            };
        }
        let rows = p.items.clone();
        let (page_no, per_page, total) = (p.page, p.per_page, p.total);
        view! {
            <div class="table-wrap">
                <table class="table table-cards" data-testid="mailings-table">
                    <caption class="sr-only">"Mailings"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col" class="hide-sm">"Created"</th>
                            <th scope="col" class="num">"Recipients"</th>
                            <th scope="col">"Mailing type"</th>
                            <th scope="col">"Status"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows.into_iter().map(|m| {
                            let (label, class) = status_label(m.status);
                            let progress = (m.counts.total > 0 && matches!(m.status, MailingStatus::Sending | MailingStatus::Paused))
                                .then(|| format!("{} of {} sent", thousands_u(m.counts.sent), thousands_u(m.counts.total)));
                            let failed = (m.counts.failed > 0).then(|| format!("{} failed", thousands_u(m.counts.failed)));
                            view! {
                                <tr data-testid="mailing-row">
                                    <td class="strong card-title" data-testid="mailing-name">
                                        <A href=format!("/mailings/{}", m.id) attr:class="row-link" attr:data-testid="mailing-link">{m.name.clone()}</A>
                                    </td>
                                    <td class="nowrap hide-sm"><RelativeTime at=m.created_at/></td>
                                    <td class="num" data-label="Recipients">{thousands_u(m.recipients)}</td>
                                    <td>
                                        <span class="channel-set">
                                            {m.channels.iter().map(|c| view! { <ChannelIcon channel=*c/> }).collect_view()}
                                        </span>
                                    </td>
                                    <td>
                                        <span class=format!("badge {class}") data-testid="mailing-status">{label}</span>
                                        {m.scheduled_at.filter(|_| m.status == MailingStatus::Scheduled).map(|at| view! {
                                            <span class="muted small">" for " <crate::components::time::ScheduledTime at=at/></span>
                                        })}
                                        {progress.map(|p| view! { <span class="muted small">" · " {p}</span> })}
                                        {failed.map(|f| view! { <span class="small text-danger">" · " {f}</span> })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <Pagination
                page=Signal::derive(move || page_no)
                per_page=Signal::derive(move || per_page)
                total=Signal::derive(move || total)
                on_change=set_page
                noun="mailings"
            />
        }
        .into_any()
    };

    view! {
        <section class="panel panel-flush" data-testid="page-history" aria-labelledby="history-title">
            <div class="panel-toolbar">
                <h2 id="history-title">"Mailings history"</h2>
                <label class="search" for="mailing-search">
                    <span class="sr-only">"Search mailings by name"</span>
                    <Icon kind=IconKind::Search size=16/>
                    <input
                        id="mailing-search"
                        type="search"
                        placeholder="Search by name"
                        autocomplete="off"
                        data-testid="mailing-search"
                        prop:value=search
                        on:input=move |ev| search.set(event_target_value(&ev))
                    />
                </label>
                {if expect_context::<crate::session::Auth>().can_manage() {
                    view! {
                        <A href="/mailings/new" attr:class="btn btn-primary btn-sm" attr:data-testid="create-mailing">
                            <Icon kind=IconKind::Plus size=16/>
                            "Create a mailing"
                        </A>
                    }
                    .into_any()
                } else {
                    view! { <span class="muted small" data-testid="create-mailing-note">"Owners and admins create mailings."</span> }.into_any()
                }}
            </div>
            {show_fetch(mailings, "Loading mailings…", table)}
        </section>
    }
}
