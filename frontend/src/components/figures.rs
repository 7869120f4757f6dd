//! The four figures at the top of every Mailings page.

use leptos::prelude::*;
use leptos_router::components::A;
use loyalcast_dto::{ChangeTopic, HeaderFigures};

use crate::api::use_api;
use crate::components::icons::{Icon, IconKind};
use crate::components::states::ErrorState;
use crate::fetch::fetch;
use crate::format::{thousands, thousands_u};
use crate::live::{Notice, on_change, reload_soon};

#[component]
pub fn FigureCards() -> impl IntoView {
    let api = use_api();
    let figures = fetch(|| (), move |_| async move { api.figures().await });
    let retry = Callback::new(move |_| figures.reload());
    // Balances move as mailings go out, whichever process sends them: load again when the
    // change feed says so (the figures stay on screen while reloading, so nothing flickers).
    let reload = reload_soon(figures);
    on_change(move |notice| match notice {
        Notice::Change(e) if matches!(e.topic, ChangeTopic::Balances | ChangeTopic::Mailing) => {
            reload()
        }
        Notice::Change(_) => {}
        Notice::Resync => reload(),
    });
    view! {
        <section class="figures" aria-label="Messaging capacity" data-testid="figures">
            {move || figures.data.with(|data| match data {
                None => (0..4).map(|_| view! { <div class="figure figure-skeleton" aria-hidden="true"></div> }).collect_view().into_any(),
                Some(Err(e)) => view! { <div class="figures-error"><ErrorState error=e.clone() on_retry=retry/></div> }.into_any(),
                Some(Ok(f)) => figure_cards(f).into_any(),
            })}
        </section>
    }
}

fn figure_cards(f: &HeaderFigures) -> impl IntoView + use<> {
    let push_note = format!(
        "{} with a card in their wallet",
        thousands_u(f.push_reachable)
    );
    let push_value = if f.push_free { "Free" } else { "Paid" };
    view! {
        <article class="figure" data-testid="figure-customers">
            <div class="figure-head">
                <span class="figure-icon"><Icon kind=IconKind::Customers/></span>
                <h3>"Customers in the base"</h3>
            </div>
            <p class="figure-value" data-testid="figure-value">{thousands_u(f.customers)}</p>
            <p class="figure-note"><A href="/customers">"View customers"</A></p>
        </article>
        <article class="figure" data-testid="figure-push">
            <div class="figure-head">
                <span class="figure-icon channel-push"><Icon kind=IconKind::Push/></span>
                <h3>"Push and web push"</h3>
            </div>
            <p class="figure-value" data-testid="figure-value">
                {push_value}
            </p>
            <p class="figure-note" data-testid="figure-push-reachable">{push_note}</p>
        </article>
        <article class="figure" data-testid="figure-sms">
            <div class="figure-head">
                <span class="figure-icon channel-sms"><Icon kind=IconKind::Sms/></span>
                <h3>"SMS balance"</h3>
            </div>
            <p class="figure-value" data-testid="figure-value">{thousands(f.sms_balance)}</p>
            <p class="figure-note">"credits · " <A href="/settings#balances">"Buy credits"</A></p>
        </article>
        <article class="figure" data-testid="figure-email">
            <div class="figure-head">
                <span class="figure-icon channel-email"><Icon kind=IconKind::Email/></span>
                <h3>"Email balance"</h3>
            </div>
            <p class="figure-value" data-testid="figure-value">{thousands(f.email_balance)}</p>
            <p class="figure-note">"credits · " <A href="/settings#balances">"Buy credits"</A></p>
        </article>
    }
}
