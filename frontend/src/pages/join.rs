//! Joining a team through an invitation link: the invitee sees whose team and which role,
//! chooses a password (and may correct their name), and is signed in.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use loyalcast_dto::AcceptInvitation;

use crate::api::{ApiError, use_api};
use crate::components::field::TextField;
use crate::components::icons::{Icon, IconKind};
use crate::components::shell::role_label;
use crate::components::states::{FormError, local_problem};
use crate::fetch::fetch;
use crate::session::use_auth;

#[component]
pub fn JoinPage() -> impl IntoView {
    crate::set_title("Join the team");
    let api = use_api();
    let auth = use_auth();
    let navigate = use_navigate();
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let offer = fetch(
        token,
        move |token| async move { api.invitation(&token).await },
    );
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let joining = RwSignal::new(false);
    // The name they were invited under, to keep or correct.
    Effect::new(move |_| {
        if let Some(Ok(o)) = offer.data.get()
            && name.get_untracked().is_empty()
        {
            name.set(o.name.clone());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if joining.get_untracked() {
            return;
        }
        let typed_name = name.get_untracked().trim().to_owned();
        let typed_password = password.get_untracked();
        let count = typed_password.chars().count();
        if typed_name.is_empty() || typed_name.chars().count() > 120 {
            error.set(Some(local_problem(
                "name",
                "Enter your name (up to 120 characters).",
            )));
            return;
        }
        if !(10..=256).contains(&count) {
            error.set(Some(local_problem("password", "Use 10 to 256 characters.")));
            return;
        }
        let input = AcceptInvitation {
            password: typed_password,
            name: Some(typed_name),
        };
        error.set(None);
        joining.set(true);
        let navigate = navigate.clone();
        let token = token();
        spawn_local(async move {
            match api.accept_invitation(&token, &input).await {
                Ok(session) => {
                    password.try_set(String::new());
                    auth.sign_in(session);
                    navigate(crate::components::shell::HOME, Default::default());
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            joining.try_set(false);
        });
    };
    let err = Signal::derive(move || error.get());
    let body = move || {
        let submit = submit.clone();
        match offer.data.get() {
        None => view! { <p class="count count-loading"><span class="spinner" aria-hidden="true"></span>"Opening the invitation…"</p> }.into_any(),
        Some(Err(e)) if e.status() == Some(404) => view! {
            <div data-testid="join-gone">
                <h1>"This invitation cannot be used"</h1>
                <p class="muted">"It was used already, withdrawn, replaced by a newer one, or it has expired (links work for 7 days). Ask whoever invited you for a new link."</p>
                <p><a href="/sign-in">"Sign in"</a>" if you have joined already."</p>
            </div>
        }.into_any(),
        Some(Err(e)) => view! {
            <p class="field-error" role="alert">{format!("The invitation could not be opened: {}", e.message())}</p>
        }.into_any(),
        Some(Ok(o)) => view! {
            <h1 data-testid="join-title">{format!("Join {}", o.merchant_name)}</h1>
            <p class="muted" data-testid="join-role">{format!("You are invited as {} and will sign in as {}.", role_label(o.role).to_lowercase(), o.email)}</p>
            <form on:submit=submit novalidate=true data-testid="join-form">
                <TextField id="join-name" label="Your name" value=name field="name" error=error maxlength=120/>
                <TextField id="join-password" label="Choose a password" kind="password" autocomplete="new-password"
                    value=password field="password" error=error hint="10 characters or more."/>
                <FormError error=err known_fields=&["name", "password"]/>
                <button type="submit" class="btn btn-primary btn-block" data-testid="join-submit"
                    disabled=move || joining.get() aria-busy=move || joining.get().to_string()>
                    {move || if joining.get() { "Joining…" } else { "Join and sign in" }}
                </button>
            </form>
        }.into_any(),
        }
    };
    view! {
        <main class="sign-in-page">
            <div class="sign-in-card" data-testid="page-join">
                <div class="sign-in-brand">
                    <span class="brand-mark"><Icon kind=IconKind::Logo size=22/></span>
                    <span class="brand-name">"Loyalcast"</span>
                </div>
                {body}
            </div>
        </main>
    }
}
