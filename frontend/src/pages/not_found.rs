use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    crate::set_title("Page not found");
    view! {
        <main class="centered-page">
            <div class="panel narrow" data-testid="not-found">
                <h1>"Page not found"</h1>
                <p class="muted">"There is nothing at this address."</p>
                <A href=crate::components::shell::HOME attr:class="btn btn-primary">"Go to the dashboard"</A>
            </div>
        </main>
    }
}
