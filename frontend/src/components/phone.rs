//! A phone drawn in CSS, showing a wallet card's lock-screen notification.

use leptos::prelude::*;
use loyalcast_dto::CardDesign;

/// The lock screen with one notification from a wallet card. Without a message it shows
/// where the message will go; it never makes one up.
#[component]
pub fn PhonePreview(
    #[prop(into)] card_name: Signal<Option<String>>,
    #[prop(into)] design: Signal<Option<CardDesign>>,
    #[prop(into)] message: Signal<Option<String>>,
) -> impl IntoView {
    let logo_style = move || {
        design
            .get()
            .map(|d| {
                format!(
                    "background:{};color:{}",
                    d.background_color, d.foreground_color
                )
            })
            .unwrap_or_default()
    };
    let logo_letter = move || {
        design
            .get()
            .and_then(|d| d.logo_text.chars().next())
            .or_else(|| card_name.get().and_then(|n| n.chars().next()))
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_else(|| "·".to_owned())
    };
    view! {
        <figure class="phone" aria-label="Lock screen preview" data-testid="phone-preview">
            <div class="phone-screen">
                <div class="phone-notch" aria-hidden="true"></div>
                <p class="phone-time" aria-hidden="true">"9:41"</p>
                <p class="phone-date" aria-hidden="true">"Lock screen"</p>
                <div class="phone-notification">
                    <span class="phone-app-icon" style=logo_style aria-hidden="true">{logo_letter}</span>
                    <div class="phone-notification-body">
                        <p class="phone-notification-head">
                            <strong>{move || card_name.get().unwrap_or_else(|| "Your card".to_owned())}</strong>
                            <span>"now"</span>
                        </p>
                        {move || match message.get().filter(|m| !m.trim().is_empty()) {
                            Some(m) => view! { <p class="phone-message">{m}</p> }.into_any(),
                            None => view! { <p class="phone-message phone-placeholder">"Your message appears here."</p> }.into_any(),
                        }}
                    </div>
                </div>
            </div>
        </figure>
    }
}

/// The back of a wallet card (the (i) side), where a push message stays after the lock
/// screen notification is gone.
#[component]
pub fn CardBackPreview(
    #[prop(into)] card_name: Signal<Option<String>>,
    #[prop(into)] design: Signal<Option<CardDesign>>,
    #[prop(into)] message: Signal<Option<String>>,
) -> impl IntoView {
    let style = move || {
        design
            .get()
            .map(|d| {
                format!(
                    "--card-bg:{};--card-fg:{};--card-label:{}",
                    d.background_color, d.foreground_color, d.label_color
                )
            })
            .unwrap_or_default()
    };
    view! {
        <figure class="phone card-back" aria-label="Back of the card preview" data-testid="card-back-preview">
            <div class="phone-screen card-back-screen" style=style>
                <p class="card-back-title">{move || card_name.get().unwrap_or_else(|| "Your card".to_owned())}</p>
                <dl class="card-back-fields">
                    <dt>"Latest message"</dt>
                    {move || match message.get().filter(|m| !m.trim().is_empty()) {
                        Some(m) => view! { <dd data-testid="card-back-message">{m}</dd> }.into_any(),
                        None => view! { <dd class="phone-placeholder">"Your message is kept here."</dd> }.into_any(),
                    }}
                    <dt>"Automatic updates"</dt>
                    <dd>"On"</dd>
                </dl>
            </div>
        </figure>
    }
}
