//! The review before a mailing is sent, shown by the new-mailing form and by a draft's page:
//! exactly who receives it on each channel, the credits it takes and the balance after,
//! when it goes; and a confirm button that says what it will do ("Send 639 SMS · 639
//! credits"). Nothing is sent from anywhere without it.

use leptos::prelude::*;
use loyalcast_dto::{Channel, MailingEstimate, MailingEstimateRequest, NewMailing};

use crate::api::{Api, ApiResult};
use crate::components::icons::ChannelIcon;
use crate::format::{plural, thousands, thousands_u};

/// Opens a review of `input` in `review` and counts it. A problem with what was typed (422)
/// goes to `on_refused` instead of the review, when one is given. `reviews` numbers the
/// reviews, so figures counted for an earlier one never land on a later one.
pub fn start(
    api: Api,
    review: RwSignal<Option<Review>>,
    reviews: StoredValue<u64>,
    input: NewMailing,
    on_refused: Option<std::sync::Arc<dyn Fn(crate::api::ApiError) + Send + Sync>>,
) {
    let id = reviews.get_value().wrapping_add(1);
    reviews.set_value(id);
    review.set(Some(Review {
        id,
        input: input.clone(),
        figures: None,
    }));
    leptos::task::spawn_local(async move {
        let figures = estimate(api, &input).await;
        if let (Some(refused), Err(e)) = (on_refused, &figures)
            && e.status() == Some(422)
        {
            if reviews.try_get_value() == Some(id) {
                review.try_set(None);
                refused(e.clone());
            }
            return;
        }
        review.try_update(|r| {
            if let Some(r) = r.as_mut().filter(|r| r.id == id) {
                r.figures = Some(figures);
            }
        });
    });
}

/// Counts `input` exactly as it would be sent.
pub async fn estimate(api: Api, input: &NewMailing) -> ApiResult<MailingEstimate> {
    let request = MailingEstimateRequest {
        audience: input.audience.clone(),
        channels: input.channels.clone(),
        content: input.content.clone(),
    };
    api.estimate_mailing(&request).await
}

/// A mailing about to be sent: what was typed, and the figures counted for it.
#[derive(Debug, Clone)]
pub struct Review {
    /// Which review this is: figures counted for an earlier one are not shown on it.
    pub id: u64,
    pub input: NewMailing,
    pub figures: Option<ApiResult<MailingEstimate>>,
}

/// The review before anything is sent: recipients per channel, the credits it takes and the
/// balance after, when it goes; and a confirmation that says what it will do.
#[component]
pub fn ReviewPanel(
    review: Review,
    time_zone: String,
    on_back: impl Fn() + Clone + 'static,
    on_confirm: impl Fn(NewMailing) + Clone + 'static,
    sending: Signal<bool>,
) -> impl IntoView {
    let when = match review.input.send_at {
        Some(at) => format!("Scheduled for {}", crate::format::absolute(at, &time_zone)),
        None => "Sent now".to_owned(),
    };
    let back = on_back.clone();
    let body = match &review.figures {
        None => view! {
            <p class="count count-loading" data-testid="review-counting"><span class="spinner" aria-hidden="true"></span>"Counting exactly who receives it…"</p>
        }.into_any(),
        Some(Err(e)) => view! {
            <p class="field-error" role="alert" data-testid="review-error">{format!("It could not be counted: {}", e.message())}</p>
        }.into_any(),
        Some(Ok(e)) => {
            let reach: Vec<(Channel, u64)> = review
                .input
                .channels
                .iter()
                .map(|c| (*c, e.reachable.iter().find(|r| r.channel == *c).map_or(0, |r| r.customers)))
                .collect();
            let sms = review.input.channels.contains(&Channel::Sms);
            let email = review.input.channels.contains(&Channel::Email);
            let mut action = Vec::new();
            for (channel, n) in &reach {
                action.push(format!("{} {}", thousands_u(*n), match channel {
                    Channel::Sms => "SMS",
                    Channel::Email => if *n == 1 { "email" } else { "emails" },
                    Channel::Telegram => "Telegram",
                    Channel::Messenger => "Messenger",
                }));
            }
            let credits = (if sms { e.sms_credits } else { 0 }) + (if email { e.email_credits } else { 0 });
            let verb = if review.input.send_at.is_some() { "Schedule" } else { "Send" };
            let label = format!("{verb} {} · {} credits", action.join(" + "), thousands(credits));
            let short = (sms && e.sms_credits > e.sms_balance) || (email && e.email_credits > e.email_balance);
            let input = review.input.clone();
            let confirm = on_confirm.clone();
            view! {
                <ul class="review-list" data-testid="review-reach">
                    {reach.iter().map(|(c, n)| view! {
                        <li data-testid=format!("review-{}", c.as_str())>
                            <ChannelIcon channel=*c/>{format!(" {}: {}", c.label(), plural(*n, "recipient", "recipients"))}
                        </li>
                    }).collect_view()}
                </ul>
                {sms.then(|| view! {
                    <p data-testid="review-sms-cost">{format!(
                        "SMS: {}{} · balance {} → {}",
                        plural(u64::try_from(e.sms_credits).unwrap_or(0), "credit", "credits"),
                        if e.sms_credits_exact { "" } else { " (estimated)" },
                        thousands(e.sms_balance),
                        thousands(e.sms_balance - e.sms_credits),
                    )}</p>
                })}
                {email.then(|| view! {
                    <p data-testid="review-email-cost">{format!(
                        "Email: {} · balance {} → {}",
                        plural(u64::try_from(e.email_credits).unwrap_or(0), "credit", "credits"),
                        thousands(e.email_balance),
                        thousands(e.email_balance - e.email_credits),
                    )}</p>
                })}
                {short.then(|| view! {
                    <p class="field-error" role="alert" data-testid="review-short">"The balance does not cover this mailing: buy credits first, or choose fewer recipients."</p>
                })}
                <div class="form-actions">
                    <button type="button" class="btn btn-primary" data-testid="review-confirm"
                        disabled=move || sending.get() || short
                        aria-busy=move || sending.get().to_string()
                        on:click=move |_| confirm(input.clone())>
                        {move || if sending.get() { "Sending…".to_owned() } else { label.clone() }}
                    </button>
                </div>
            }.into_any()
        }
    };
    view! {
        <section class="form-section confirm review" role="alertdialog" aria-labelledby="review-title" data-testid="mailing-review">
            <h3 id="review-title">{format!("Review “{}”", review.input.name)}</h3>
            <p class="muted" data-testid="review-when">{when}</p>
            {body}
            <button type="button" class="btn btn-ghost" data-testid="review-back" on:click=move |_| back()>"Back to editing"</button>
        </section>
    }
}
