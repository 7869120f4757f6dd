use leptos::prelude::*;

use crate::components::icons::{Icon, IconKind};
use crate::format::thousands_u;

/// "26–50 of 312" with Previous / Next. Pages count from 1.
#[component]
pub fn Pagination(
    #[prop(into)] page: Signal<u64>,
    #[prop(into)] per_page: Signal<u64>,
    #[prop(into)] total: Signal<u64>,
    #[prop(into)] on_change: Callback<u64>,
    #[prop(default = "items")] noun: &'static str,
) -> impl IntoView {
    let pages = move || total.get().div_ceil(per_page.get().max(1)).max(1);
    let range = move || {
        let total = total.get();
        if total == 0 {
            return format!("No {noun}");
        }
        let per = per_page.get().max(1);
        let first = (page.get() - 1) * per + 1;
        let last = (first + per - 1).min(total);
        format!(
            "{}–{} of {} {noun}",
            thousands_u(first),
            thousands_u(last),
            thousands_u(total)
        )
    };
    view! {
        <nav class="pagination" aria-label="Pagination" data-testid="pagination">
            <span class="pagination-range" data-testid="pagination-range">{range}</span>
            <div class="pagination-buttons">
                <button
                    type="button"
                    class="btn btn-secondary btn-sm"
                    data-testid="page-prev"
                    disabled=move || { page.get() <= 1 }
                    on:click=move |_| on_change.run(page.get_untracked().saturating_sub(1).max(1))
                >
                    <Icon kind=IconKind::ChevronLeft size=16/>
                    "Previous"
                </button>
                <span class="pagination-page" aria-live="polite">
                    {move || format!("Page {} of {}", page.get(), pages())}
                </span>
                <button
                    type="button"
                    class="btn btn-secondary btn-sm"
                    data-testid="page-next"
                    disabled=move || { page.get() >= pages() }
                    on:click=move |_| on_change.run(page.get_untracked() + 1)
                >
                    "Next"
                    <Icon kind=IconKind::ChevronRight size=16/>
                </button>
            </div>
        </nav>
    }
}
