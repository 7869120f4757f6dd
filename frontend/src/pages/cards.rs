use leptos::prelude::*;

#[component]
pub fn CardsPage() -> impl IntoView {
    view! { <div></div> }
}
