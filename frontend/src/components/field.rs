//! A labelled text field of a form: its hint, its error from the form's problem (the
//! browser's own check or the server's answer) under it, and the error gone as soon as the
//! field is changed.

use leptos::prelude::*;

use crate::api::ApiError;
use crate::components::states::FieldError;

#[component]
pub fn TextField(
    /// The input's id, also its test id.
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    /// The problem's field this input answers for.
    field: &'static str,
    /// The form's problem.
    error: RwSignal<Option<ApiError>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] maxlength: Option<u32>,
    /// Runs on every change (a form that says "saved" or "nothing changed" forgets it).
    #[prop(optional)]
    on_edit: Option<Callback<()>>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let signal = Signal::derive(move || error.get());
    let invalid = move || {
        error
            .with(|e| e.as_ref().is_some_and(|e| e.field(field).is_some()))
            .to_string()
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id type=kind autocomplete=autocomplete data-testid=id
                maxlength=maxlength.map(|m| m.to_string())
                aria-describedby=format!("{hint_id} {error_id}")
                aria-invalid=invalid
                prop:value=value
                on:input=move |ev| {
                    value.set(event_target_value(&ev));
                    if let Some(e) = error.get_untracked() {
                        error.set(e.without_field(field));
                    }
                    if let Some(on_edit) = on_edit {
                        on_edit.run(());
                    }
                }/>
            {hint.map(|h| view! { <p class="muted small" id=hint_id.clone()>{h}</p> })}
            <FieldError error=signal field=field id=error_id/>
        </div>
    }
}
