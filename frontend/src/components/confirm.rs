//! The in-app confirmation asked before anything that cannot be undone (deleting, revoking,
//! signing out everywhere): a modal dialog that names what will happen, with the safe
//! choice focused first. Escape or a click outside is the safe choice too.

use std::sync::Arc;

use leptos::prelude::*;

use crate::api::ApiError;

/// What to ask: shown while `Some`; the dialog closes by setting it back to `None`.
#[derive(Clone)]
pub struct Question {
    pub title: String,
    pub detail: String,
    /// The confirm button's words, saying what it does ("Delete customer").
    pub confirm: String,
    /// Whether what it does destroys something (a red button).
    pub danger: bool,
    /// What runs on confirm; its error stays in the dialog, success closes it. A plain
    /// closure, not a `Callback`: a callback belongs to the component that made it, and the
    /// page may have re-rendered that component (a live update) while the question was open.
    pub action: Arc<dyn Fn() + Send + Sync>,
}

/// The dialog for `question`. `busy` and `error` belong to the action the caller runs:
/// the caller sets `busy` while it works, `error` when it failed, and clears `question`
/// when it is done.
#[component]
pub fn ConfirmDialog(
    question: RwSignal<Option<Question>>,
    #[prop(into)] busy: Signal<bool>,
    #[prop(into)] error: Signal<Option<ApiError>>,
) -> impl IntoView {
    let cancel_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = cancel_button.get() {
            let _ = button.focus();
        }
    });
    let cancel = move || {
        if !busy.get_untracked() {
            question.set(None);
        }
    };
    move || {
        question.get().map(|q| {
            let action = q.action.clone();
            view! {
                <div class="modal-backdrop" data-testid="confirm-backdrop" on:click=move |_| cancel()>
                    <div
                        class="modal"
                        role="alertdialog"
                        aria-modal="true"
                        aria-labelledby="confirm-title"
                        aria-describedby="confirm-detail"
                        data-testid="confirm-dialog"
                        on:click=|ev| ev.stop_propagation()
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Escape" {
                                cancel();
                            }
                        }
                    >
                        <h2 id="confirm-title">{q.title.clone()}</h2>
                        <p id="confirm-detail" data-testid="confirm-detail">{q.detail.clone()}</p>
                        {move || error.get().map(|e| view! {
                            <p class="form-error" role="alert" data-testid="confirm-error">{e.message()}</p>
                        })}
                        <div class="form-actions">
                            <button type="button" class="btn btn-secondary" node_ref=cancel_button
                                data-testid="confirm-no" disabled=move || busy.get()
                                on:click=move |_| cancel()>
                                "Cancel"
                            </button>
                            <button type="button"
                                class=if q.danger { "btn btn-danger" } else { "btn btn-primary" }
                                data-testid="confirm-yes"
                                disabled=move || busy.get()
                                aria-busy=move || busy.get().to_string()
                                on:click=move |_| {
                                    if !busy.get_untracked() {
                                        action();
                                    }
                                }>
                                {q.confirm.clone()}
                            </button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

/// The page-wide confirmation: one dialog in the frame that any page can ask through, for
/// actions whose progress and errors the page shows itself.
#[derive(Clone, Copy)]
pub struct Asker(RwSignal<Option<Question>>);

impl Asker {
    /// Asks `title` (with `detail`); `on_yes` runs once the person confirms, after the
    /// dialog has closed.
    pub fn ask(
        &self,
        title: impl Into<String>,
        detail: impl Into<String>,
        confirm: impl Into<String>,
        danger: bool,
        on_yes: impl Fn() + Send + Sync + 'static,
    ) {
        let question = self.0;
        question.set(Some(Question {
            title: title.into(),
            detail: detail.into(),
            confirm: confirm.into(),
            danger,
            action: Arc::new(move || {
                question.set(None);
                on_yes();
            }),
        }));
    }
}

/// Provides the frame's [`Asker`] (called once, by the frame).
pub fn provide_asker() -> Asker {
    let asker = Asker(RwSignal::new(None));
    provide_context(asker);
    asker
}

/// The frame's [`Asker`]. Outside the frame (nothing provided it) a question is never
/// shown and so never confirmed: nothing runs unasked.
pub fn use_asker() -> Asker {
    use_context::<Asker>().unwrap_or_else(|| Asker(RwSignal::new(None)))
}

/// The dialog of the frame's [`Asker`].
#[component]
pub fn AskerDialog(asker: Asker) -> impl IntoView {
    view! { <ConfirmDialog question=asker.0 busy=Signal::derive(|| false) error=Signal::derive(|| None)/> }
}
