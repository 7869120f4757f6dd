use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! { <div></div> }
}
