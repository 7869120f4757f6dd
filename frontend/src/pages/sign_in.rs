//! Sign in with email and password.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use loyalcast_dto::LoginRequest;

use crate::api::{ApiError, use_api};
use crate::components::icons::{Icon, IconKind};
use crate::components::shell::safe_next;
use crate::components::states::FieldError;
use crate::session::use_auth;

#[component]
pub fn SignInPage() -> impl IntoView {
    crate::set_title("Sign in");
    let auth = use_auth();
    let api = use_api();
    let query = use_query_map();
    let navigate = use_navigate();
    let next = move || safe_next(query.with_untracked(|q| q.get("next")));

    // Already signed in (or just signed in): go where the user was heading.
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if auth.is_signed_in() {
                navigate(
                    &next(),
                    NavigateOptions {
                        replace: true,
                        ..Default::default()
                    },
                );
            }
        });
    }

    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        // What the server would refuse anyway is said at its field, without a request.
        let typed = email.get_untracked().trim().to_owned();
        if !crate::format::looks_like_email(&typed) {
            error.set(Some(crate::components::states::local_problem(
                "email",
                "Enter your email address, like name@example.com.",
            )));
            return;
        }
        if password.get_untracked().is_empty() {
            error.set(Some(crate::components::states::local_problem(
                "password",
                "Enter your password.",
            )));
            return;
        }
        pending.set(true);
        error.set(None);
        let request = LoginRequest {
            email: typed,
            password: password.get_untracked(),
        };
        spawn_local(async move {
            match api.login(&request).await {
                Ok(session) => {
                    password.try_set(String::new());
                    auth.sign_in(session);
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            pending.try_set(false);
        });
    };

    let message = move || {
        error.get().map(|e| match e.status() {
            Some(401) => "That email and password do not match an account.".to_owned(),
            _ => e.message(),
        })
    };
    let error_signal = Signal::derive(move || error.get());

    view! {
        <main class="sign-in-page">
            <div class="sign-in-card">
                <div class="sign-in-brand">
                    <span class="brand-mark"><Icon kind=IconKind::Logo size=22/></span>
                    <span class="brand-name">"Loyalcast"</span>
                </div>
                <h1>"Sign in"</h1>
                <p class="muted">"Talk to the customers who keep your loyalty cards in their wallet."</p>
                <form on:submit=on_submit novalidate=true data-testid="sign-in-form">
                    <div class="field">
                        <label for="sign-in-email">"Email"</label>
                        <input
                            id="sign-in-email"
                            type="email"
                            name="email"
                            autocomplete="username"
                            required=true
                            data-testid="sign-in-email"
                            prop:value=email
                            on:input=move |ev| {
                                email.set(event_target_value(&ev));
                                // A fixed field loses its error.
                                if error.with_untracked(|e| e.as_ref().is_some_and(|e| e.field("email").is_some())) {
                                    error.set(None);
                                }
                            }
                            aria-describedby="sign-in-email-error"
                        />
                        <FieldError error=error_signal field="email" id="sign-in-email-error"/>
                    </div>
                    <div class="field">
                        <label for="sign-in-password">"Password"</label>
                        <input
                            id="sign-in-password"
                            type="password"
                            name="password"
                            autocomplete="current-password"
                            required=true
                            data-testid="sign-in-password"
                            prop:value=password
                            on:input=move |ev| password.set(event_target_value(&ev))
                            aria-describedby="sign-in-password-error"
                        />
                        <FieldError error=error_signal field="password" id="sign-in-password-error"/>
                    </div>
                    {move || message().map(|m| view! {
                        <div class="form-error" role="alert" data-testid="sign-in-error">
                            <Icon kind=IconKind::Alert size=16/>
                            <p>{m}</p>
                        </div>
                    })}
                    <button
                        type="submit"
                        class="btn btn-primary btn-block"
                        data-testid="sign-in-submit"
                        disabled=move || pending.get()
                        aria-busy=move || pending.get().to_string()
                    >
                        {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </form>
            </div>
        </main>
    }
}
