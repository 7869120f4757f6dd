//! The Mailings section: five tabs, each its own route, above the same four figure cards.
//!
//! The server does not serve conversations, mailings, pushes or automations yet, so each
//! tab says plainly what it will do rather than showing made-up data.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::api::use_api;
use crate::components::figures::FigureCards;
use crate::components::icons::{ChannelIcon, Icon, IconKind};
use crate::components::phone::PhonePreview;
use crate::fetch::fetch;
use loyalcast_dto::Channel;

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
                <span class="badge badge-info">"Coming next"</span>
                <h2 id=format!("{testid}-title")>{title}</h2>
                <p class="lead">{summary}</p>
                <ul class="checklist">
                    {points.iter().map(|p| view! { <li><Icon kind=IconKind::Check size=16/><span>{*p}</span></li> }).collect_view()}
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

#[component]
pub fn HistoryPage() -> impl IntoView {
    crate::set_title("Mailings history");
    view! {
        <ComingNext
            testid="page-history"
            title="Mailings history"
            summary="Mass campaigns by SMS, email, Telegram and Messenger, and how each one went."
            points=&[
                "Search by name, and a \"Create a mailing\" button.",
                "A table of mailings: name, created, recipients, channels, and status (draft, scheduled, sending, completed, cancelled, failed).",
                "Each mailing's page: a progress bar while sending and a per-channel report of sent, delivered, opened and failed.",
                "Create a mailing: audience (all customers or a segment, with the exact count), channels, content with variables such as {first_name}, the cost in credits, send now or schedule.",
            ]
        />
    }
}

#[component]
pub fn SendPushPage() -> impl IntoView {
    crate::set_title("Send push");
    let api = use_api();
    // The preview uses the merchant's real first card, when there is one.
    let cards = fetch(|| (), move |_| async move { api.cards(1, 1).await });
    let first = Memo::new(move |_| cards.ok().and_then(|p| p.items.into_iter().next()));
    view! {
        <ComingNext
            testid="page-send-push"
            title="Send push"
            summary="A message on the lock screen of everyone who holds your card in Apple Wallet or Google Wallet. Push is free: it never uses SMS or email credits."
            points=&[
                "Pick the card, and the audience: all its holders or a segment, with the exact number of recipients.",
                "Write the message, with a counter and a hint where the lock screen cuts it off.",
                "Send now, or schedule a date and time.",
                "A live preview of the lock screen and of the back of the card, where the message is kept.",
                "The history of sent pushes.",
            ]
        >
            <PhonePreview
                card_name=Signal::derive(move || first.get().map(|c| c.name))
                design=Signal::derive(move || first.get().map(|c| c.design))
                message=Signal::derive(|| None::<String>)
            />
        </ComingNext>
    }
}

#[component]
pub fn AutomationPage() -> impl IntoView {
    crate::set_title("Push automation");
    view! {
        <ComingNext
            testid="page-automation"
            title="Push automation"
            summary="Hands-free pushes on your customers' milestones, per card."
            points=&[
                "Birthday: on the day or a few days before, at the time you choose.",
                "Anniversary of joining.",
                "Feedback request after a visit or purchase, after a delay.",
                "Win-back when a customer has not visited for N days.",
                "Each with its on/off switch, message, live preview, and figures: sent, last fired, next due.",
            ]
        />
    }
}

#[component]
pub fn AutoPushPage() -> impl IntoView {
    crate::set_title("Custom auto-push");
    view! {
        <ComingNext
            testid="page-auto-push"
            title="Custom auto-push"
            summary="Your own rules: when something happens, send a push after a delay. Pushes are free."
            points=&[
                "Triggers: card installed, review sent, referral added, card period expired.",
                "A delay in minutes, hours or days.",
                "A rules table per card: trigger, delay, message, on/off, edit and delete.",
                "A preview of the message on the lock screen.",
            ]
        />
    }
}
