//! The Loyalcast dashboard: a Leptos single-page app over the Loyalcast REST API.
//!
//! `App` provides the session, the API client and the clock, and declares every route.
//! All routes are client-side paths (no hash); the server answers unknown paths with
//! `index.html`, so each one can be bookmarked and reloaded.

pub mod api;
pub mod components;
pub mod fetch;
pub mod format;
pub mod live;
pub mod pages;
pub mod rule_editor;
pub mod session;

use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;

use crate::components::shell::Shell;
use crate::components::time::provide_clock;
use crate::pages::automations::{AutoPushPage, AutomationPage};
use crate::pages::cards::CardsPage;
use crate::pages::customers::CustomersPage;
use crate::pages::mailings::{HistoryPage, InboxPage, MailingsLayout};
use crate::pages::not_found::NotFound;
use crate::pages::segments::SegmentsPage;
use crate::pages::settings::SettingsPage;
use crate::pages::sign_in::SignInPage;
use crate::session::Auth;

/// Names the browser tab after the page, e.g. "Customers · Loyalcast".
pub fn set_title(page: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&format!("{page} · Loyalcast"));
    }
}

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth::restore();
    provide_context(auth);
    api::provide_api(auth);
    provide_clock();

    view! {
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/sign-in") view=SignInPage/>
                <Route path=path!("/invite/:token") view=crate::pages::join::JoinPage/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view=|| view! { <Redirect path=crate::components::shell::HOME/> }/>
                    <ParentRoute path=path!("/mailings") view=MailingsLayout>
                        <Route path=path!("") view=|| view! { <Redirect path=crate::components::shell::HOME/> }/>
                        <Route path=path!("/inbox") view=InboxPage/>
                        <Route path=path!("/history") view=HistoryPage/>
                        <Route path=path!("/new") view=crate::pages::mailing_new::NewMailingPage/>
                        <Route path=path!("/send-push") view=crate::pages::send_push::SendPushPage/>
                        <Route path=path!("/automation") view=AutomationPage/>
                        <Route path=path!("/auto-push") view=AutoPushPage/>
                        <Route path=path!("/:id") view=crate::pages::mailing_detail::MailingDetailPage/>
                        <Route path=path!("/:id/edit") view=crate::pages::mailing_new::EditMailingPage/>
                    </ParentRoute>
                    <Route path=path!("/customers") view=CustomersPage/>
                    <Route path=path!("/customers/import") view=crate::pages::customer_import::CustomerImportPage/>
                    <Route path=path!("/segments") view=SegmentsPage/>
                    <Route path=path!("/cards") view=CardsPage/>
                    <Route path=path!("/settings") view=SettingsPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
