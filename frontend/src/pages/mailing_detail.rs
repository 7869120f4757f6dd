//! A mailing's page: its status and times, a progress bar that moves while it sends, the
//! report per channel with a small bar chart, the actions its state allows, and the content
//! that was sent.
//!
//! It loads the mailing again whenever the change feed has an entry for it (see
//! [`crate::live`]), so its figures move as batches settle, whichever process sends them.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use loyalcast_dto::{
    Audience, ChangeEvent, ChangeTopic, Channel, ChannelReport, DeliveryCounts, Mailing,
    MailingContent, MailingStatus, NewMailing, SendMailing,
};
use uuid::Uuid;

use super::mailings::status_label;
use crate::api::{ApiError, MailingAction, idempotency_key, use_api};
use crate::components::icons::{ChannelIcon, Icon, IconKind};
use crate::components::review::{Review, ReviewPanel};
use crate::components::states::{ErrorState, FormError, Loading};
use crate::components::time::{Clock, RelativeTime};
use crate::fetch::fetch;
use crate::format::{thousands, thousands_u};
use crate::live::{Notice, on_change, reload_soon};

fn is_active(status: MailingStatus) -> bool {
    matches!(status, MailingStatus::Sending | MailingStatus::Scheduled)
}

/// Messages no longer waiting (sent, delivered, opened, failed, unsubscribed or cancelled).
fn processed(c: &DeliveryCounts) -> u64 {
    c.total.saturating_sub(c.queued)
}

fn percent(m: &Mailing) -> u64 {
    if m.counts.total == 0 {
        return if matches!(
            m.status,
            MailingStatus::Completed | MailingStatus::Cancelled | MailingStatus::Failed
        ) {
            100
        } else {
            0
        };
    }
    (processed(&m.counts) * 100 / m.counts.total).min(100)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Send,
    Pause,
    Resume,
    Cancel,
    Resend,
}

#[component]
pub fn MailingDetailPage() -> impl IntoView {
    crate::set_title("Mailing");
    let api = use_api();
    let params = use_params_map();
    let id =
        Memo::new(move |_| params.with(|p| p.get("id").and_then(|s| Uuid::parse_str(&s).ok())));
    let mailing = fetch(
        move || id.get(),
        move |id| async move {
            match id {
                Some(id) => api.mailing(id).await,
                None => Err(not_found()),
            }
        },
    );

    // Load again when the change feed says this mailing moved on (in whichever process):
    // it was sent, paused or cancelled elsewhere, a batch of it settled, it completed. While
    // it is in flight, a settlement of the merchant's credits counts too: credits settle in
    // the very transaction that settles a batch of SMS or email, so it is the sign of a
    // batch for an engine that does not name the mailing in an entry of its own.
    let reload = reload_soon(mailing);
    on_change(move |notice| {
        let mine = |e: &ChangeEvent| match e.topic {
            ChangeTopic::Mailing => e.subject.is_some() && e.subject == id.get_untracked(),
            ChangeTopic::Balances => {
                e.body.get("change").and_then(|c| c.as_str()) == Some("settle")
                    && mailing
                        .data
                        .try_with_untracked(|d| {
                            d.as_ref()
                                .and_then(|r| r.as_ref().ok())
                                .is_some_and(|m| is_active(m.status))
                        })
                        .unwrap_or(false)
            }
            ChangeTopic::Conversation | ChangeTopic::Push | ChangeTopic::Automation => false,
        };
        match notice {
            Notice::Change(e) if mine(e) => reload(),
            Notice::Change(_) => {}
            Notice::Resync => reload(),
        }
    });

    Effect::new(move |_| {
        if let Some(name) = mailing.ok().map(|m| m.name) {
            crate::set_title(&name);
            // The shared clock ticks every 30 s; bring it up to date so that times the
            // server just set read "just now", not "in a moment".
            if let Some(Clock(now)) = use_context::<Clock>() {
                now.try_set(chrono::Utc::now());
            }
        }
    });

    let busy = RwSignal::new(None::<Busy>);
    let action_error = RwSignal::new(None::<ApiError>);
    let navigate = use_navigate();
    let run = move |what: Busy| {
        if busy.get_untracked().is_some() {
            return;
        }
        let Some(current) = mailing
            .data
            .with_untracked(|d| d.as_ref().and_then(|r| r.as_ref().ok().cloned()))
        else {
            return;
        };
        busy.set(Some(what));
        action_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let result = match what {
                Busy::Send => api.send_mailing(current.id, &SendMailing::default()).await,
                Busy::Pause => api.mailing_action(current.id, MailingAction::Pause).await,
                Busy::Resume => api.mailing_action(current.id, MailingAction::Resume).await,
                Busy::Cancel => api.mailing_action(current.id, MailingAction::Cancel).await,
                Busy::Resend => api.resend_failed(current.id, &idempotency_key()).await,
            };
            busy.try_set(None);
            match result {
                Ok(next) if what == Busy::Resend => {
                    navigate(&format!("/mailings/{}", next.id), Default::default());
                }
                Ok(next) => {
                    mailing.data.try_set(Some(Ok(next)));
                }
                Err(e) => {
                    action_error.try_set(Some(e));
                    // The state may have moved on (409): show what it is now.
                    mailing.reload();
                }
            }
        });
    };

    // Nothing is sent, resent or cancelled on one click: a draft is reviewed with its exact
    // figures, a resend and a cancel are asked first.
    let asker = crate::components::confirm::use_asker();
    let review = RwSignal::new(None::<Review>);
    let reviews = StoredValue::new(0_u64);
    let run_reviewed = run.clone();
    let request = move |what: Busy| {
        let Some(current) = mailing
            .data
            .with_untracked(|d| d.as_ref().and_then(|r| r.as_ref().ok().cloned()))
        else {
            return;
        };
        let run = run.clone();
        match what {
            Busy::Pause | Busy::Resume => run(what),
            Busy::Send => {
                let input = NewMailing {
                    name: current.name.clone(),
                    audience: current.audience.clone(),
                    channels: current.channels.clone(),
                    content: current.content.clone(),
                    send_at: None,
                    draft: false,
                };
                crate::components::review::start(api, review, reviews, input, None);
            }
            Busy::Resend => {
                let for_good = current.failed_for_good();
                let left_out = if for_good > 0 {
                    format!(
                        " {} failed for good (an invalid number or address, missing contact details) and {} left out: sending again would fail again.",
                        thousands_u(for_good),
                        if for_good == 1 { "is" } else { "are" }
                    )
                } else {
                    String::new()
                };
                asker.ask(
                    format!(
                        "Resend to {}?",
                        crate::format::plural(current.resendable, "failed message", "failed messages")
                    ),
                    format!(
                        "A new mailing goes to those whose message failed in a way that may pass (the provider could not take it through every attempt), with the same content; customers who opted out since are left out. Paid channels take their credits again.{left_out}"
                    ),
                    "Resend",
                    false,
                    move || run(Busy::Resend),
                );
            }
            Busy::Cancel => asker.ask(
                format!("Cancel “{}”?", current.name),
                "Messages not sent yet will not be sent, and their credits are released. A cancelled mailing cannot be resumed.",
                "Cancel the mailing",
                true,
                move || run(Busy::Cancel),
            ),
        }
    };
    let time_zone = crate::components::time::merchant_time_zone();
    let review_panel = {
        let run = run_reviewed;
        move || {
            review.get().map(|r| {
                let run = run.clone();
                view! {
                    <ReviewPanel review=r time_zone=time_zone.clone()
                        on_back=move || review.set(None)
                        on_confirm=move |_| {
                            review.set(None);
                            run(Busy::Send);
                        }
                        sending=Signal::derive(move || busy.get() == Some(Busy::Send))/>
                }
            })
        }
    };

    let problems = crate::pages::mailing_problems::ProblemsView::new();
    let retry = Callback::new(move |_| mailing.reload());
    let body = move || {
        mailing.data.with(|d| match d {
            None => view! { <Loading label="Loading the mailing…"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorState error=e.clone() on_retry=retry/> }.into_any(),
            Some(Ok(m)) => view! {
                <MailingReport mailing=m.clone() busy=busy run=Callback::new(request.clone()) action_error=action_error problems=problems/>
            }
            .into_any(),
        })
    };

    view! {
        <section class="panel mailing-detail" data-testid="page-mailing" aria-live="polite">
            <div class="panel-head">
                <A href="/mailings/history" attr:class="btn btn-ghost btn-sm" attr:data-testid="back-to-history">
                    <Icon kind=IconKind::ChevronLeft size=16/>
                    "Mailings history"
                </A>
            </div>
            {review_panel}
            {body}
        </section>
    }
}

#[component]
fn MailingReport(
    mailing: Mailing,
    busy: RwSignal<Option<Busy>>,
    run: Callback<Busy>,
    action_error: RwSignal<Option<ApiError>>,
    problems: crate::pages::mailing_problems::ProblemsView,
) -> impl IntoView {
    let (label, class) = status_label(mailing.status);
    let pct = percent(&mailing);
    let c = mailing.counts;
    let has_failed = c.failed > 0;
    let status = mailing.status;
    let can_cancel = matches!(
        status,
        MailingStatus::Draft
            | MailingStatus::Scheduled
            | MailingStatus::Sending
            | MailingStatus::Paused
    );
    // Only failures that may pass are resent: a number that can never work is not offered
    // again and again.
    let can_resend = matches!(status, MailingStatus::Completed | MailingStatus::Cancelled)
        && mailing.resendable > 0;
    let for_good = mailing.failed_for_good();
    let manage = expect_context::<crate::session::Auth>().can_manage();
    let button = move |what: Busy,
                       text: &'static str,
                       busy_text: &'static str,
                       class: &'static str,
                       testid: &'static str| {
        view! {
            <button
                type="button"
                class=format!("btn {class}")
                data-testid=testid
                disabled=move || busy.get().is_some()
                aria-busy=move || (busy.get() == Some(what)).to_string()
                on:click=move |_| run.run(what)
            >
                {move || if busy.get() == Some(what) { busy_text } else { text }}
            </button>
        }
    };
    let audience = match mailing.audience {
        Audience::All => view! { <span>"All customers"</span> }.into_any(),
        Audience::Segment { segment_id } => view! { <SegmentName id=segment_id/> }.into_any(),
    };
    let progress_text = format!(
        "{pct}% · {} of {} messages processed",
        thousands_u(processed(&c)),
        thousands_u(c.total)
    );
    let action_error_signal: Signal<Option<ApiError>> = action_error.into();

    view! {
        <header class="mailing-head">
            <div class="mailing-title">
                <h2 data-testid="mailing-title">{mailing.name.clone()}</h2>
                <span class=format!("badge {class}") data-testid="mailing-status" data-status=status.as_str()>{label}</span>
                <span class="channel-set">
                    {mailing.channels.iter().map(|c| view! { <ChannelIcon channel=*c with_label=true/> }).collect_view()}
                </span>
            </div>
            {if manage {
                view! {
                    <div class="mailing-actions">
                        {(status == MailingStatus::Draft).then(|| view! {
                            <A href=format!("/mailings/{}/edit", mailing.id) attr:class="btn btn-secondary" attr:data-testid="action-edit">"Edit draft"</A>
                        })}
                        {(status == MailingStatus::Draft).then(|| button(Busy::Send, "Send now", "Sending…", "btn-primary", "action-send"))}
                        {(status == MailingStatus::Sending).then(|| button(Busy::Pause, "Pause", "Pausing…", "btn-secondary", "action-pause"))}
                        {(status == MailingStatus::Paused).then(|| button(Busy::Resume, "Resume", "Resuming…", "btn-primary", "action-resume"))}
                        {can_resend.then(|| button(Busy::Resend, "Resend to failed", "Creating…", "btn-secondary", "action-resend"))}
                        {(!can_resend && for_good > 0 && matches!(status, MailingStatus::Completed | MailingStatus::Cancelled)).then(|| view! {
                            <p class="muted small" data-testid="mailing-no-resend">"Every failed message failed for good: a resend would fail again."</p>
                        })}
                        {can_cancel.then(|| button(Busy::Cancel, "Cancel mailing", "Cancelling…", "btn-danger-text", "action-cancel"))}
                    </div>
                }
                .into_any()
            } else {
                // Offered only to whom the server lets act: an agent is told before clicking.
                (can_cancel || can_resend).then(|| view! {
                    <p class="muted small" data-testid="mailing-agent-note">
                        "Sending, pausing, resuming, resending and cancelling mailings are for owners and admins."
                    </p>
                })
                .into_any()
            }}
        </header>
        <FormError error=action_error_signal/>

        <dl class="mailing-facts">
            <div><dt>"Audience"</dt><dd>{audience}</dd></div>
            {(status != MailingStatus::Draft).then(|| view! {
                <div><dt>"Recipients"</dt><dd data-testid="mailing-recipients">{thousands_u(mailing.recipients)}</dd></div>
            })}
            <div><dt>"Created"</dt><dd><RelativeTime at=mailing.created_at/></dd></div>
            {mailing.scheduled_at.map(|at| view! { <div><dt>"Scheduled for"</dt><dd><crate::components::time::ScheduledTime at=at/></dd></div> })}
            {mailing.started_at.map(|at| view! { <div><dt>"Started"</dt><dd><RelativeTime at=at/></dd></div> })}
            {mailing.completed_at.map(|at| view! { <div><dt>"Finished"</dt><dd><RelativeTime at=at/></dd></div> })}
            {mailing.resend_of.map(|of| view! {
                <div><dt>"Resend of"</dt><dd><A href=format!("/mailings/{of}")>"the original mailing"</A></dd></div>
            })}
        </dl>

        {if status == MailingStatus::Draft {
            view! {
                <p class="notice" data-testid="mailing-draft-note">
                    "A draft: nothing is reserved or sent until it is sent. Who receives it is counted then, on the segment as it is at that moment."
                </p>
            }.into_any()
        } else {
            let per_channel = mailing.per_channel.clone();
            let progress_text = progress_text.clone();
            view! {
        <div class="mailing-progress-block">
            <div
                class="progress"
                class:progress-active=is_active(status)
                role="progressbar"
                aria-label="Messages processed"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=pct.to_string()
                data-testid="mailing-progress"
                data-percent=pct.to_string()
            >
                <div class="progress-fill" style=format!("width:{pct}%")></div>
            </div>
            <p class="small muted" data-testid="mailing-progress-text">{progress_text}</p>
            <ul class="count-summary">
                <li>"Delivered " <strong>{thousands_u(c.delivered)}</strong></li>
                <li>"Opened " <strong>{thousands_u(c.opened)}</strong></li>
                <li>"Sent " <strong>{thousands_u(c.sent)}</strong></li>
                <li>"Queued " <strong>{thousands_u(c.queued)}</strong></li>
                <li class:text-danger=has_failed>"Failed " <strong>{thousands_u(c.failed)}</strong>
                    {(for_good > 0).then(|| view! {
                        <span class="muted small" data-testid="mailing-failed-for-good">{format!(" ({} for good)", thousands_u(for_good))}</span>
                    })}
                </li>
                <li>"Unsubscribed " <strong>{thousands_u(c.unsubscribed)}</strong></li>
                <li>"Cancelled " <strong>{thousands_u(c.cancelled)}</strong></li>
            </ul>
        </div>

        <section class="mailing-section" aria-labelledby="report-title">
            <h3 id="report-title">"Report per channel"</h3>
            {if per_channel.is_empty() {
                view! { <p class="muted" data-testid="report-empty">"Nothing has been queued yet: the report fills in once the mailing is sent."</p> }.into_any()
            } else {
                view! { <ChannelTable reports=per_channel.clone()/> }.into_any()
            }}
        </section>

            }.into_any()
        }}

        {(c.failed + c.uncertain > 0 || (is_active(status) && c.queued > 0)).then(|| view! {
            <crate::pages::mailing_problems::MailingProblems id=mailing.id name=mailing.name.clone()
                time_zone=crate::components::time::merchant_time_zone() list=problems/>
        })}

        <section class="mailing-section" aria-labelledby="content-title">
            <h3 id="content-title">"Content"</h3>
            <ContentView channels=mailing.channels.clone() content=mailing.content.clone() draft=status == MailingStatus::Draft/>
        </section>
    }
}

#[component]
fn ChannelTable(reports: Vec<ChannelReport>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table report-table table-cards" data-testid="report-table">
                <caption class="sr-only">"Delivery per channel"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Channel"</th>
                        <th scope="col" class="num">"Queued"</th>
                        <th scope="col" class="num">"Sent"</th>
                        <th scope="col" class="num">"Delivered"</th>
                        <th scope="col" class="num">"Opened"</th>
                        <th scope="col" class="num">"Failed"</th>
                        <th scope="col" class="num">"Unsubscribed"</th>
                        <th scope="col" class="num">"Credits"</th>
                        <th scope="col">"Breakdown"</th>
                    </tr>
                </thead>
                <tbody>
                    {reports.into_iter().map(|r| {
                        let c = r.counts;
                        let credits = if r.credits_reserved > 0 {
                            format!("{} used · {} reserved", thousands(r.credits_used), thousands(r.credits_reserved))
                        } else if matches!(r.channel, Channel::Sms | Channel::Email) {
                            format!("{} used", thousands(r.credits_used))
                        } else {
                            "Free".to_owned()
                        };
                        let cell = |n: u64, key: &'static str, label: &'static str| view! { <td class="num" data-label=label data-testid=format!("report-{key}")>{thousands_u(n)}</td> };
                        view! {
                            <tr data-testid=format!("report-{}", r.channel.as_str())>
                                <th scope="row">
                                    <div class="report-channel">
                                        <ChannelIcon channel=r.channel with_label=true/>
                                        {r.sandbox.then(|| view! {
                                            <span class="sandbox-note" data-testid="sandbox" title="Sandbox: nothing was really sent on this channel">
                                                <Icon kind=IconKind::Alert size=14/>
                                                "Sandbox"
                                                <span class="sr-only">": nothing was really sent on this channel"</span>
                                            </span>
                                        })}
                                    </div>
                                </th>
                                {cell(c.queued, "queued", "Queued")}
                                {cell(c.sent, "sent", "Sent")}
                                {cell(c.delivered, "delivered", "Delivered")}
                                {cell(c.opened, "opened", "Opened")}
                                {cell(c.failed, "failed", "Failed")}
                                {cell(c.unsubscribed, "unsubscribed", "Unsubscribed")}
                                <td class="num nowrap" data-label="Credits">{credits}</td>
                                <td class="card-wide"><Breakdown counts=c/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <ul class="breakdown-legend" aria-hidden="true">
            <li><span class="swatch bar-delivered"></span>"Delivered (opened included)"</li>
            <li><span class="swatch bar-sent"></span>"Sent, not confirmed yet"</li>
            <li><span class="swatch bar-queued"></span>"Queued"</li>
            <li><span class="swatch bar-failed"></span>"Failed"</li>
            <li><span class="swatch bar-unsubscribed"></span>"Unsubscribed / cancelled"</li>
        </ul>
    }
}

/// One channel's messages as a stacked bar, each state's width in proportion to its count.
#[component]
fn Breakdown(counts: DeliveryCounts) -> impl IntoView {
    // The figures nest (sent ⊇ delivered ⊇ opened): the bar shows what is known to have
    // arrived, then what was sent without a confirmation yet.
    let arrived = counts.delivered.max(counts.opened).min(counts.sent);
    let parts = [
        ("bar-delivered", arrived, "delivered"),
        ("bar-sent", counts.sent - arrived, "sent, not confirmed yet"),
        ("bar-queued", counts.queued, "queued"),
        ("bar-failed", counts.failed, "failed"),
        (
            "bar-unsubscribed",
            counts.unsubscribed + counts.cancelled,
            "unsubscribed or cancelled",
        ),
    ];
    let summary = parts
        .iter()
        .filter(|p| p.1 > 0)
        .map(|(_, n, what)| format!("{} {what}", thousands_u(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let label = if summary.is_empty() {
        "No messages".to_owned()
    } else {
        summary
    };
    view! {
        <div class="breakdown" role="img" aria-label=label.clone() title=label>
            {parts.into_iter().filter(|p| p.1 > 0).map(|(class, n, _)| view! {
                <span class=format!("breakdown-part {class}") style=format!("flex-grow:{n}")></span>
            }).collect_view()}
        </div>
    }
}

#[component]
fn ContentView(channels: Vec<Channel>, content: MailingContent, draft: bool) -> impl IntoView {
    let block = |c: Channel, inner: AnyView| {
        view! {
            <div class="content-block" data-testid=format!("content-{}", c.as_str())>
                <p class="content-block-title"><ChannelIcon channel=c with_label=true/></p>
                {inner}
            </div>
        }
    };
    let mut out = Vec::new();
    for c in channels {
        let inner = match c {
            Channel::Sms => content.sms.as_ref().map(|s| {
                view! { <div class="bubble bubble-sms">{s.body.clone()}</div> }.into_any()
            }),
            Channel::Email => content.email.as_ref().map(|e| {
                let paragraphs = e
                    .body
                    .split("\n\n")
                    .map(|p| view! { <p>{p.to_owned()}</p> })
                    .collect_view();
                view! {
                    <article class="email-card">
                        <p class="email-card-subject">{e.subject.clone()}</p>
                        <div class="email-card-body">{paragraphs}</div>
                    </article>
                }
                .into_any()
            }),
            Channel::Telegram => content.telegram.as_ref().map(|t| {
                view! { <div class="bubble bubble-telegram">{t.text.clone()}</div> }.into_any()
            }),
            Channel::Messenger => content.messenger.as_ref().map(|t| {
                view! { <div class="bubble bubble-messenger">{t.text.clone()}</div> }.into_any()
            }),
        };
        if let Some(inner) = inner {
            out.push(block(c, inner));
        }
    }
    view! {
        <div class="content-grid">
            {out}
            <p class="muted small content-note">{if draft {
                "Variables such as {first_name} are filled in for each customer when it is sent."
            } else {
                "Variables such as {first_name} were filled in for each customer."
            }}</p>
        </div>
    }
}

fn not_found() -> ApiError {
    ApiError::Problem(loyalcast_dto::Problem {
        kind: "about:blank".to_owned(),
        title: "Not found.".to_owned(),
        status: 404,
        detail: Some("This address does not name a mailing.".to_owned()),
        errors: Vec::new(),
    })
}

/// The segment a mailing went to, by name, linked to the segments page.
#[component]
fn SegmentName(id: Uuid) -> impl IntoView {
    let api = use_api();
    let segment = fetch(move || id, move |id| async move { api.segment(id).await });
    move || {
        match segment.data.get() {
        None => view! { <span class="muted">"A segment"</span> }.into_any(),
        Some(Ok(s)) => view! {
            <span data-testid="mailing-segment">"Segment " <A href="/segments">{format!("“{}”", s.name)}</A></span>
        }
        .into_any(),
        Some(Err(_)) => view! { <span class="muted" data-testid="mailing-segment">"A segment that has since been deleted"</span> }.into_any(),
    }
    }
}
