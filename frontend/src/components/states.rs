//! The states every list and panel can be in: loading, empty, failed.

use leptos::prelude::*;

use crate::api::{ApiError, ApiResult};
use crate::components::icons::{Icon, IconKind};
use crate::fetch::Fetch;

#[component]
pub fn Loading(#[prop(into, default = "Loading…".to_owned())] label: String) -> impl IntoView {
    view! {
        <div class="state state-loading" role="status" aria-live="polite" data-testid="loading">
            <span class="spinner" aria-hidden="true"></span>
            <span>{label}</span>
        </div>
    }
}

#[component]
pub fn Empty(
    #[prop(into)] title: String,
    #[prop(into, optional)] hint: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="state state-empty" data-testid="empty">
            <p class="state-title">{title}</p>
            {hint.map(|h| view! { <p class="state-hint">{h}</p> })}
            {children.map(|c| c())}
        </div>
    }
}

/// A failed load, with the problem's detail and a Retry button.
#[component]
pub fn ErrorState(
    error: ApiError,
    #[prop(optional, into)] on_retry: Option<Callback<()>>,
) -> impl IntoView {
    let title = match error.status() {
        Some(403) => "You do not have access to this.",
        Some(404) => "Not found.",
        _ => "This could not be loaded.",
    };
    view! {
        <div class="state state-error" role="alert" data-testid="error">
            <Icon kind=IconKind::Alert size=20/>
            <div>
                <p class="state-title">{title}</p>
                <p class="state-hint">{error.message()}</p>
            </div>
            {on_retry.map(|retry| view! {
                <button type="button" class="btn btn-secondary btn-sm" on:click=move |_| retry.run(())>
                    "Retry"
                </button>
            })}
        </div>
    }
}

/// An inline error under a form, from an action's result.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<ApiError>>,
    #[prop(optional)] known_fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error.get().map(|e| {
            let others = e.other_field_errors(known_fields);
            view! {
                <div class="form-error" role="alert" data-testid="form-error">
                    <Icon kind=IconKind::Alert size=16/>
                    <div>
                        <p>{e.message()}</p>
                        {(!others.is_empty()).then(|| view! {
                            <ul>{others.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                        })}
                    </div>
                </div>
            }
        })
    }
}

/// The message of a field's error, shown under the field.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<ApiError>>,
    field: &'static str,
    #[prop(into)] id: String,
) -> impl IntoView {
    move || {
        error
            .with(|e| e.as_ref().and_then(|e| e.field(field)))
            .map(|message| view! { <p class="field-error" id=id.clone()>{message}</p> })
    }
}

/// Renders a [`Fetch`]: loading the first time, the error with Retry, or `view` of the data
/// (kept on screen, dimmed, while a newer request is in flight).
pub fn show_fetch<T, F>(fetch: Fetch<T>, loading_label: &'static str, view: F) -> impl IntoView
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> AnyView + Send + Sync + 'static,
{
    let retry = Callback::new(move |_| fetch.reload());
    move || {
        fetch.data.with(|data: &Option<ApiResult<T>>| match data {
            None => view! { <Loading label=loading_label/> }.into_any(),
            Some(Err(e)) => view! { <ErrorState error=e.clone() on_retry=retry/> }.into_any(),
            Some(Ok(value)) => {
                let body = view(value);
                view! {
                    <div class="fetched" class:stale=move || fetch.loading.get() aria-busy=move || fetch.loading.get().to_string()>
                        {body}
                    </div>
                }
                .into_any()
            }
        })
    }
}

/// A mistake found in the browser before anything is sent, shown the same way as the
/// server's 422 for that field.
pub fn local_problem(field: &str, message: &str) -> ApiError {
    ApiError::Problem(loyalcast_dto::Problem {
        kind: "about:blank".to_owned(),
        title: "Check the highlighted fields.".to_owned(),
        status: 0,
        detail: Some("Check the highlighted fields.".to_owned()),
        errors: vec![loyalcast_dto::FieldError {
            field: field.to_owned(),
            code: "invalid".to_owned(),
            message: message.to_owned(),
        }],
    })
}
