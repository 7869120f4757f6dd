//! Dates as merchants read them: relative when recent, absolute (in the merchant's time
//! zone) on hover.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::format;
use crate::session::use_auth;

/// The current time, ticking every 30 seconds so that "5 min ago" stays true.
#[derive(Clone, Copy)]
pub struct Clock(pub RwSignal<DateTime<Utc>>);

pub fn provide_clock() {
    let now = RwSignal::new(Utc::now());
    // The interval lives as long as the app.
    let _ = set_interval_with_handle(
        move || now.set(Utc::now()),
        std::time::Duration::from_secs(30),
    );
    provide_context(Clock(now));
}

/// The merchant's IANA time zone (UTC until signed in).
pub fn merchant_time_zone() -> String {
    use_auth()
        .session_untracked()
        .map(|s| s.merchant.time_zone)
        .unwrap_or_else(|| "UTC".to_owned())
}

#[component]
pub fn RelativeTime(at: DateTime<Utc>) -> impl IntoView {
    let clock = use_context::<Clock>().map(|c| c.0);
    let tz = merchant_time_zone();
    let title = format::absolute(at, &tz);
    let text = move || {
        let now = clock.map(|c| c.get()).unwrap_or_else(Utc::now);
        format::relative(at, now, &tz)
    };
    view! { <time datetime=at.to_rfc3339() title=title>{text}</time> }
}

/// A time that matters ahead (a schedule): the date and time in the merchant's zone, with
/// how far off it is beside it ("5 Mar 2027, 09:00 (America/Los_Angeles) · in 3 days").
#[component]
pub fn ScheduledTime(at: DateTime<Utc>) -> impl IntoView {
    let clock = use_context::<Clock>().map(|c| c.0);
    let tz = merchant_time_zone();
    let absolute = format::absolute(at, &tz);
    let relative = move || {
        let now = clock.map(|c| c.get()).unwrap_or_else(Utc::now);
        format::relative(at, now, &tz)
    };
    view! {
        <time datetime=at.to_rfc3339() data-testid="scheduled-time">
            {absolute}<span class="muted">" · "{relative}</span>
        </time>
    }
}
