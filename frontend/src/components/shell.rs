//! The frame of every signed-in page: the main navigation on the left, the merchant and the
//! team member at the top right, the page in the middle. Signed-out visitors are sent to the
//! sign-in page, and come back here afterwards.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;
use loyalcast_dto::Role;

use crate::api::use_api;
use crate::components::icons::{Icon, IconKind};
use crate::session::{SignedOut, use_auth};

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Agent => "Agent",
    }
}

/// Where a signed-in merchant lands: the first tab that is built (the mailings history),
/// not a placeholder.
pub const HOME: &str = "/mailings/history";

/// Where to come back to after signing in: only a path on this site.
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/sign-in"))
        .unwrap_or_else(|| HOME.to_owned())
}

#[component]
pub fn Shell() -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let signed_in = Memo::new(move |_| auth.is_signed_in());
    move || {
        if signed_in.get() {
            view! { <Frame/> }.into_any()
        } else {
            let target = match auth.signed_out_reason() {
                SignedOut::Deliberately => "/sign-in".to_owned(),
                SignedOut::Expired => {
                    // The router's `search` has no leading '?'.
                    let path = location.pathname.get_untracked();
                    let search = location.search.get_untracked();
                    let search = search.trim_start_matches('?');
                    let here = match (path.is_empty(), search.is_empty()) {
                        (true, _) => "/".to_owned(),
                        (false, true) => path,
                        (false, false) => format!("{path}?{search}"),
                    };
                    format!(
                        "/sign-in?next={}",
                        String::from(js_sys::encode_uri_component(&here))
                    )
                }
            };
            view! { <Redirect path=target/> }.into_any()
        }
    }
}

#[component]
fn Frame() -> impl IntoView {
    // One stream of live updates for every page, for as long as someone is signed in.
    crate::live::provide_live();
    let asker = crate::components::confirm::provide_asker();
    view! {
        <crate::components::confirm::AskerDialog asker=asker/>
        <div class="app">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <aside class="sidebar">
                <A href=HOME attr:class="brand" attr:aria-label="Loyalcast home">
                    <span class="brand-mark"><Icon kind=IconKind::Logo size=20/></span>
                    <span class="brand-name">"Loyalcast"</span>
                </A>
                <nav class="main-nav" aria-label="Main">
                    <NavItem href="/mailings" icon=IconKind::Mailings label="Mailings" testid="nav-mailings"/>
                    <NavItem href="/customers" icon=IconKind::Customers label="Customers" testid="nav-customers"/>
                    <NavItem href="/segments" icon=IconKind::Segments label="Segments" testid="nav-segments"/>
                    <NavItem href="/cards" icon=IconKind::Cards label="Cards" testid="nav-cards"/>
                    <NavItem href="/settings" icon=IconKind::Settings label="Settings" testid="nav-settings"/>
                </nav>
            </aside>
            <div class="workspace">
                <TopBar/>
                <main id="main" class="content" tabindex="-1">
                    <Outlet/>
                </main>
            </div>
        </div>
    }
}

#[component]
fn NavItem(
    href: &'static str,
    icon: IconKind,
    label: &'static str,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <A href=href attr:class="nav-item" attr:data-testid=testid>
            <Icon kind=icon/>
            <span>{label}</span>
        </A>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let auth = use_auth();
    let api = use_api();
    let signing_out = RwSignal::new(false);
    let sign_out = move |_| {
        if signing_out.get_untracked() {
            return;
        }
        signing_out.set(true);
        spawn_local(async move {
            // The token is forgotten here whatever the server says: signing out must never
            // leave someone stuck signed in because the network is down.
            let _ = api.logout().await;
            signing_out.try_set(false);
            auth.sign_out();
        });
    };
    let session = move || auth.session();
    view! {
        <header class="topbar">
            <crate::live::LiveIndicator/>
            <div class="topbar-user">
                <p class="topbar-merchant" data-testid="merchant-name">
                    {move || session().map(|s| s.merchant.name).unwrap_or_default()}
                </p>
                <div class="topbar-member">
                    <span class="topbar-member-name" data-testid="member-name">
                        {move || session().map(|s| s.member.name).unwrap_or_default()}
                    </span>
                    <span class="badge badge-neutral" data-testid="member-role">
                        {move || session().map(|s| role_label(s.member.role)).unwrap_or_default()}
                    </span>
                </div>
                <button
                    type="button"
                    class="btn btn-ghost btn-sm"
                    data-testid="sign-out"
                    on:click=sign_out
                    disabled=move || signing_out.get()
                    aria-busy=move || signing_out.get().to_string()
                >
                    <Icon kind=IconKind::SignOut size=16/>
                    {move || if signing_out.get() { "Signing out…" } else { "Sign out" }}
                </button>
            </div>
        </header>
    }
}

#[cfg(test)]
mod tests {
    use super::{HOME, safe_next};

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        assert_eq!(
            safe_next(Some("/customers?q=ada".to_owned())),
            "/customers?q=ada"
        );
        assert_eq!(safe_next(Some("//evil.example".to_owned())), HOME);
        assert_eq!(safe_next(Some("https://evil.example".to_owned())), HOME);
        assert_eq!(safe_next(Some("/sign-in".to_owned())), HOME);
        assert_eq!(safe_next(None), HOME);
    }
}
