//! The messages of a mailing that did not reach their recipients: who, on which channel,
//! why, and while a retry is pending when it is; filterable, and downloadable as CSV.

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{MailingProblem, ProblemState};
use uuid::Uuid;

use crate::api::{Api, ApiError, ApiResult, use_api};
use crate::components::icons::ChannelIcon;
use crate::components::states::{FormError, show_fetch};
use crate::fetch::fetch;
use crate::format::{absolute, thousands_u};

const PER_PAGE: u64 = 25;
/// The most rows a download holds (100 pages of 100).
const DOWNLOAD_PAGES: u64 = 100;

fn state_label(state: ProblemState) -> &'static str {
    match state {
        ProblemState::Failed => "Failed",
        ProblemState::Retrying => "Retrying",
        ProblemState::Uncertain => "Uncertain",
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub fn to_csv(rows: &[MailingProblem]) -> String {
    let mut out = String::from(
        "name,channel,state,reason,attempts,next_attempt_at,updated_at,customer_id\r\n",
    );
    for p in rows {
        let fields = [
            csv_field(&p.name),
            p.channel.as_str().to_owned(),
            p.state.as_str().to_owned(),
            csv_field(p.reason.as_deref().unwrap_or_default()),
            p.attempts.to_string(),
            p.next_attempt_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            p.updated_at.to_rfc3339(),
            p.customer_id.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

async fn all_rows(
    api: Api,
    id: Uuid,
    state: Option<ProblemState>,
) -> ApiResult<Vec<MailingProblem>> {
    let mut rows = Vec::new();
    for page in 1..=DOWNLOAD_PAGES {
        let got = api.mailing_problems(id, state, page, 100).await?;
        let done = got.items.len() < 100 || page * 100 >= got.total;
        rows.extend(got.items);
        if done {
            break;
        }
    }
    Ok(rows)
}

/// Offers `text` to the browser as a file named `name`.
fn download(name: &str, text: &str) -> Option<()> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    let document = web_sys::window()?.document()?;
    let link: web_sys::HtmlAnchorElement =
        wasm_bindgen::JsCast::dyn_into(document.create_element("a").ok()?).ok()?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Some(())
}

/// The list's filter and page, owned by the mailing's page: a live update that re-renders
/// the report keeps them.
#[derive(Clone, Copy)]
pub struct ProblemsView {
    pub state: RwSignal<Option<ProblemState>>,
    pub page: RwSignal<u64>,
}

impl Default for ProblemsView {
    fn default() -> Self {
        Self::new()
    }
}

impl ProblemsView {
    pub fn new() -> Self {
        ProblemsView {
            state: RwSignal::new(None),
            page: RwSignal::new(1),
        }
    }
}

#[component]
pub fn MailingProblems(
    id: Uuid,
    name: String,
    time_zone: String,
    list: ProblemsView,
) -> impl IntoView {
    let api = use_api();
    let ProblemsView { state, page } = list;
    let problems = fetch(
        move || (state.get(), page.get()),
        move |(state, page)| async move { api.mailing_problems(id, state, page, PER_PAGE).await },
    );
    let downloading = RwSignal::new(false);
    let download_error = RwSignal::new(None::<ApiError>);
    let save = move |_| {
        if downloading.get_untracked() {
            return;
        }
        downloading.set(true);
        download_error.set(None);
        let file = format!(
            "{}-not-delivered.csv",
            name.replace(|c: char| !c.is_alphanumeric(), "-")
        );
        let which = state.get_untracked();
        spawn_local(async move {
            match all_rows(api, id, which).await {
                Ok(rows) => {
                    download(&file, &to_csv(&rows));
                }
                Err(e) => {
                    download_error.try_set(Some(e));
                }
            }
            downloading.try_set(false);
        });
    };
    let table = move |p: &loyalcast_dto::Page<MailingProblem>| -> AnyView {
        if p.items.is_empty() {
            return view! { <p class="muted" data-testid="problems-none">"None."</p> }.into_any();
        }
        let rows = p.items.clone();
        let (shown, total, at) = (p.items.len() as u64, p.total, p.page);
        let zone = time_zone.clone();
        view! {
            <div class="table-wrap">
                <table class="table table-cards" data-testid="problems-table">
                    <thead><tr>
                        <th scope="col">"Customer"</th><th scope="col">"Channel"</th>
                        <th scope="col">"State"</th><th scope="col">"Why"</th><th scope="col" class="num">"Attempts"</th>
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|r| {
                            let when = r.next_attempt_at.map(|t| format!(" · next attempt {}", absolute(t, &zone)));
                            view! {
                                <tr data-testid="problem-row" data-state=r.state.as_str()>
                                    <td class="card-title">{if r.name.is_empty() { "Deleted customer".to_owned() } else { r.name.clone() }}</td>
                                    <td><ChannelIcon channel=r.channel with_label=true/></td>
                                    <td data-testid="problem-state">{state_label(r.state)}{when}</td>
                                    <td class="card-wide" data-testid="problem-reason">{r.reason.clone().unwrap_or_else(|| "—".to_owned())}</td>
                                    <td class="num" data-label="Attempts">{r.attempts}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <div class="form-actions">
                <span class="muted small" data-testid="problems-range">
                    {format!("{}–{} of {}", thousands_u((at - 1) * PER_PAGE + 1), thousands_u((at - 1) * PER_PAGE + shown), thousands_u(total))}
                </span>
                <button type="button" class="btn btn-ghost btn-sm" disabled=move || page.get() <= 1
                    on:click=move |_| page.update(|p| *p = p.saturating_sub(1).max(1))>"Previous"</button>
                <button type="button" class="btn btn-ghost btn-sm" data-testid="problems-next"
                    disabled=at * PER_PAGE >= total
                    on:click=move |_| page.update(|p| *p += 1)>"Next"</button>
            </div>
        }
        .into_any()
    };
    let err = Signal::derive(move || download_error.get());
    view! {
        <section class="report-section" aria-labelledby="problems-title" data-testid="mailing-problems">
            <div class="panel-head">
                <h3 id="problems-title">"Not delivered"</h3>
                <div class="page-actions">
                    <select aria-label="Which messages" data-testid="problems-filter"
                        on:change=move |ev| {
                            state.set(ProblemState::parse(&event_target_value(&ev)));
                            page.set(1);
                        }>
                        <option value="">"Failed, retrying and uncertain"</option>
                        <option value="failed">"Failed"</option>
                        <option value="retrying">"Retrying"</option>
                        <option value="uncertain">"Uncertain"</option>
                    </select>
                    <button type="button" class="btn btn-secondary btn-sm" data-testid="problems-csv"
                        disabled=move || downloading.get() on:click=save>
                        {move || if downloading.get() { "Preparing…" } else { "Download CSV" }}
                    </button>
                </div>
            </div>
            <p class="muted small">"Failed messages are not sent again on their own; retrying ones are, at the time shown; uncertain ones may have reached the customer and wait for the provider's report."</p>
            {show_fetch(problems, "Loading…", table)}
            <FormError error=err/>
        </section>
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_quotes_what_needs_quoting() {
        let row: MailingProblem = serde_json::from_value(serde_json::json!({
            "customer_id": "5b1c2a9e-0b7a-4c43-9a51-8d1f6f3c2d10", "name": "Lee, \"Jo\"",
            "channel": "sms", "state": "failed", "reason": "invalid number", "attempts": 1,
            "next_attempt_at": null, "updated_at": "2026-12-03T10:00:00Z"
        }))
        .unwrap();
        let csv = to_csv(&[row]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "name,channel,state,reason,attempts,next_attempt_at,updated_at,customer_id"
        );
        assert_eq!(
            lines[1],
            "\"Lee, \"\"Jo\"\"\",sms,failed,invalid number,1,,2026-12-03T10:00:00+00:00,5b1c2a9e-0b7a-4c43-9a51-8d1f6f3c2d10"
        );
    }
}
