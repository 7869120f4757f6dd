//! Importing customers from a CSV file, in three steps: pick the file; check the first rows
//! and which customer field each column fills (guessed from the header, adjustable) and what
//! the customers agreed to; then the server's report: created, merged, and each refused line
//! with its reasons.
//!
//! The file is read in the browser only to show its first rows. What is sent is the file as
//! it is, with its header line rewritten to the chosen fields (a column left out gets a name
//! the server does not read), so the line numbers of the report are the file's own.

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{Channel, ImportReport};

use crate::api::{ApiError, use_api};
use crate::components::icons::ChannelIcon;
use crate::components::states::{FieldError, FormError, local_problem};
use crate::format::thousands_u;

/// The largest file the server takes (its `max_import_bytes`, 20 MiB by default).
const MAX_BYTES: f64 = 20.0 * 1024.0 * 1024.0;
/// Rows shown before importing.
const PREVIEW_ROWS: usize = 5;

/// The customer fields a column can fill: (the header the server reads, what it is called).
const TARGETS: &[(&str, &str)] = &[
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("name", "Full name (first and last)"),
    ("phone", "Phone"),
    ("email", "Email"),
    ("birthday", "Birthday (YYYY-MM-DD)"),
    ("tags", "Tags (separated by ;)"),
    ("points", "Points"),
    ("visits", "Visits"),
    ("last_visit", "Last visit"),
    ("telegram_chat_id", "Telegram chat id"),
    ("messenger_psid", "Messenger id"),
    ("sms_opt_in", "Agreed to SMS (yes/no)"),
    ("email_opt_in", "Agreed to email (yes/no)"),
];

/// The field a header names, as people write headers.
pub fn guess(header: &str) -> Option<&'static str> {
    let key: String = header
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    Some(match key.as_str() {
        "firstname" | "givenname" | "first" | "forename" => "first_name",
        "lastname" | "surname" | "familyname" | "last" => "last_name",
        "name" | "fullname" | "customer" | "customername" => "name",
        "phone" | "phonenumber" | "mobile" | "mobilephone" | "mobilenumber" | "cell"
        | "cellphone" | "telephone" | "tel" => "phone",
        "email" | "emailaddress" | "mail" => "email",
        "birthday" | "birthdate" | "dateofbirth" | "dob" => "birthday",
        "tags" | "tag" | "labels" => "tags",
        "points" | "loyaltypoints" => "points",
        "visits" | "visitcount" => "visits",
        "lastvisit" | "lastvisitat" => "last_visit",
        "telegramchatid" | "telegram" => "telegram_chat_id",
        "messengerpsid" | "messenger" => "messenger_psid",
        "smsoptin" | "smsconsent" => "sms_opt_in",
        "emailoptin" | "emailconsent" => "email_opt_in",
        _ => return None,
    })
}

/// What a customer field is called, for the fields a column can fill.
fn label(field: &str) -> Option<&'static str> {
    TARGETS.iter().find(|(t, _)| *t == field).map(|(_, l)| *l)
}

/// The records of `text` (RFC 4180: commas, double quotes, `""` inside quotes), up to `max`;
/// each with the byte offset just past its line end.
pub fn records(text: &str, max: usize) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek().map(|(_, n)| *n) == Some('"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' | '\n' => {
                let mut end = i + 1;
                if c == '\r' && chars.peek().map(|(_, n)| *n) == Some('\n') {
                    chars.next();
                    end += 1;
                }
                fields.push(std::mem::take(&mut field));
                out.push((std::mem::take(&mut fields), end));
                if out.len() >= max {
                    return out;
                }
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push((fields, text.len()));
    }
    out
}

/// The file with its header line replaced by `columns` (a `None` column gets a name the
/// server ignores). The rest of the file is left exactly as it is.
pub fn with_header(text: &str, columns: &[Option<&str>]) -> String {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_end = records(body, 1).first().map(|(_, end)| *end).unwrap_or(0);
    let line_end = if body[..header_end].ends_with("\r\n") {
        "\r\n"
    } else if body[..header_end].ends_with('\r') {
        "\r"
    } else {
        "\n"
    };
    let names: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(field) => (*field).to_owned(),
            None => ignored_name(i),
        })
        .collect();
    format!("{}{line_end}{}", names.join(","), &body[header_end..])
}

fn ignored_name(column: usize) -> String {
    format!("not_imported_{}", column + 1)
}

/// The file as read: its header, the first rows, and about how many rows it has.
#[derive(Clone, PartialEq)]
struct Loaded {
    name: String,
    text: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Lines after the header, not counting blank ones at the end.
    lines: usize,
}

fn load(name: String, text: String) -> Result<Loaded, String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut found = records(body, PREVIEW_ROWS + 1).into_iter().map(|(r, _)| r);
    let header = found
        .next()
        .filter(|h| h.iter().any(|c| !c.trim().is_empty()))
        .ok_or_else(|| "The file is empty: its first line should name the columns.".to_owned())?;
    let rows: Vec<Vec<String>> = found
        .filter(|r| r.iter().any(|c| !c.trim().is_empty()))
        .collect();
    let lines = body.trim_end().lines().count().saturating_sub(1);
    Ok(Loaded {
        name,
        text,
        header,
        rows,
        lines,
    })
}

/// The first field chosen for two columns, if any.
fn twice(columns: &[Option<&'static str>]) -> Option<&'static str> {
    let chosen: Vec<&str> = columns.iter().flatten().copied().collect();
    let mut seen = Vec::new();
    for field in chosen {
        // A full name fills the first name: the two together name it twice.
        let key = if field == "name" { "first_name" } else { field };
        if seen.contains(&key) {
            return Some(field);
        }
        seen.push(key);
    }
    None
}

#[component]
pub fn CustomerImportPage() -> impl IntoView {
    crate::set_title("Import customers");
    let api = use_api();
    let loaded = RwSignal::new(None::<Loaded>);
    let columns = RwSignal::new(Vec::<Option<&'static str>>::new());
    let consent = RwSignal::new(Vec::<Channel>::new());
    let legal_basis = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let reading = RwSignal::new(false);
    let importing = RwSignal::new(false);
    let report = RwSignal::new(None::<ImportReport>);
    let file_input = NodeRef::<leptos::html::Input>::new();

    let pick = move |_| {
        let Some(input) = file_input.get_untracked() else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        error.set(None);
        report.set(None);
        if file.size() > MAX_BYTES {
            error.set(Some(local_problem(
                "file",
                &format!(
                    "The file is {:.1} MB; the most one import takes is 20 MB. Split it into smaller files.",
                    file.size() / 1024.0 / 1024.0
                ),
            )));
            return;
        }
        reading.set(true);
        let name = file.name();
        spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|t| t.as_string());
            reading.try_set(false);
            match text.map(|t| load(name, t)) {
                Some(Ok(file)) => {
                    columns.try_set(file.header.iter().map(|h| guess(h)).collect());
                    loaded.try_set(Some(file));
                }
                Some(Err(message)) => {
                    error.try_set(Some(local_problem("file", &message)));
                }
                None => {
                    error.try_set(Some(local_problem(
                        "file",
                        "This file could not be read. Save it as “CSV UTF-8” and pick it again.",
                    )));
                }
            }
        });
    };

    let start_over = move || {
        loaded.set(None);
        report.set(None);
        error.set(None);
        columns.set(Vec::new());
        if let Some(input) = file_input.get_untracked() {
            input.set_value("");
        }
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if importing.get_untracked() {
            return;
        }
        let Some(file) = loaded.get_untracked() else {
            return;
        };
        let chosen = columns.get_untracked();
        if let Some(field) = twice(&chosen) {
            error.set(Some(local_problem(
                "columns",
                &format!(
                    "Two columns fill {}: keep one and set the other to “Do not import”.",
                    label(field).unwrap_or("a field")
                ),
            )));
            return;
        }
        if chosen.iter().all(Option::is_none) {
            error.set(Some(local_problem(
                "columns",
                "Choose the field at least one column fills.",
            )));
            return;
        }
        let channels = consent.get_untracked();
        let basis = legal_basis.get_untracked();
        if !channels.is_empty() && basis.trim().is_empty() {
            error.set(Some(local_problem(
                "legal_basis",
                "Say how these customers agreed, e.g. “signed up in store on the paper form”.",
            )));
            return;
        }
        error.set(None);
        importing.set(true);
        let csv = with_header(&file.text, &chosen);
        spawn_local(async move {
            match api.import_customers(csv, &channels, &basis).await {
                Ok(r) => {
                    report.try_set(Some(r));
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            importing.try_set(false);
        });
    };

    let err = Signal::derive(move || error.get());
    let preview = move || {
        loaded.get().map(|file| {
            let header = file.header.clone();
            let rows = file.rows.clone();
            let width = header.len();
            view! {
                <div class="table-wrap import-preview">
                    <table class="table" data-testid="import-preview">
                        <caption class="sr-only">"The first rows of the file and what each column fills"</caption>
                        <thead>
                            <tr>{header.iter().map(|h| view! { <th scope="col">{h.clone()}</th> }).collect_view()}</tr>
                            <tr>
                                {(0..width).map(|i| {
                                    let heading = header[i].clone();
                                    view! {
                                        <td>
                                            <select
                                                aria-label=format!("What the column “{heading}” fills")
                                                data-testid="import-column"
                                                on:change=move |ev| {
                                                    let value = event_target_value(&ev);
                                                    let target = TARGETS.iter().find(|(t, _)| *t == value).map(|(t, _)| *t);
                                                    columns.update(|c| if let Some(slot) = c.get_mut(i) { *slot = target; });
                                                    if let Some(e) = error.get_untracked() {
                                                        error.set(e.without_field("columns"));
                                                    }
                                                }
                                            >
                                                <option value="" selected=move || columns.with(|c| c.get(i).copied().flatten().is_none())>"Do not import"</option>
                                                {TARGETS.iter().map(|(target, name)| view! {
                                                    <option value=*target selected=move || columns.with(|c| c.get(i).copied().flatten() == Some(*target))>{*name}</option>
                                                }).collect_view()}
                                            </select>
                                        </td>
                                    }
                                }).collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            {rows.into_iter().map(|row| view! {
                                <tr data-testid="import-preview-row">
                                    {(0..width).map(|i| view! { <td class="truncate">{row.get(i).cloned().unwrap_or_default()}</td> }).collect_view()}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }
        })
    };

    let consent_box = move |channel: Channel| {
        let id = format!("import-consent-{}", channel.as_str());
        view! {
            <label for=id.clone()>
                <input type="checkbox" id=id.clone() data-testid=id.clone()
                    prop:checked=move || consent.with(|c| c.contains(&channel))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        consent.update(|c| {
                            c.retain(|x| *x != channel);
                            if on {
                                c.push(channel);
                            }
                        });
                    }/>
                <ChannelIcon channel=channel with_label=true/>
            </label>
        }
    };

    view! {
        <div class="page">
            <header class="page-header">
                <div>
                    <h1>"Import customers"</h1>
                    <p class="muted">"A CSV file whose first line names the columns. A row with the phone or email of a customer you have is merged into that customer."</p>
                </div>
                <a class="btn btn-ghost" href="/customers" data-testid="import-back">"Back to customers"</a>
            </header>
            {move || match report.get() {
                Some(r) => view! { <ImportResult report=r header=loaded.get().map(|f| f.header).unwrap_or_default() on_again=Callback::new(move |_| start_over())/> }.into_any(),
                None => view! {
                    <form class="panel stack-form" novalidate=true on:submit=submit data-testid="import-form">
                        <div class="field">
                            <label for="import-file">"File"</label>
                            <input id="import-file" type="file" accept=".csv,text/csv" node_ref=file_input
                                data-testid="import-file" aria-describedby="import-file-error" on:change=pick/>
                            {move || reading.get().then(|| view! { <p class="muted small" role="status">"Reading the file…"</p> })}
                            <FieldError error=err field="file" id="import-file-error"/>
                        </div>
                        {move || loaded.get().map(|f| view! {
                            <p data-testid="import-summary">
                                <strong>{f.name.clone()}</strong>
                                {format!(" · {} columns · about {} rows", f.header.len(), thousands_u(f.lines as u64))}
                            </p>
                        })}
                        {preview}
                        <FieldError error=err field="columns" id="import-columns-error"/>
                        {move || loaded.get().is_some().then(|| view! {
                            <fieldset class="field consent-picker" data-testid="import-consent">
                                <legend>"What these customers agreed to receive"</legend>
                                <p class="muted small">"For rows without their own consent column. Tick only what the customers agreed to; leave all unticked and nobody is messaged until they agree."</p>
                                {Channel::ALL.into_iter().map(consent_box).collect_view()}
                                <div class="field">
                                    <label for="import-legal-basis">"How they agreed"</label>
                                    <input id="import-legal-basis" type="text" maxlength="500" data-testid="import-legal-basis"
                                        placeholder="Signed up in store on the paper form, 2026"
                                        aria-describedby="import-legal-basis-error"
                                        prop:value=legal_basis
                                        on:input=move |ev| {
                                            legal_basis.set(event_target_value(&ev));
                                            if let Some(e) = error.get_untracked() {
                                                error.set(e.without_field("legal_basis"));
                                            }
                                        }/>
                                    <FieldError error=err field="legal_basis" id="import-legal-basis-error"/>
                                </div>
                            </fieldset>
                            <div class="form-actions">
                                <button type="submit" class="btn btn-primary" data-testid="import-submit"
                                    disabled=move || importing.get() aria-busy=move || importing.get().to_string()>
                                    {move || if importing.get() {
                                        "Importing…".to_owned()
                                    } else {
                                        format!("Import {} rows", thousands_u(loaded.with(|f| f.as_ref().map_or(0, |f| f.lines)) as u64))
                                    }}
                                </button>
                                <button type="button" class="btn btn-ghost" on:click=move |_| start_over()>"Choose another file"</button>
                            </div>
                        })}
                        <FormError error=err known_fields=&["file", "columns", "legal_basis"]/>
                    </form>
                }.into_any(),
            }}
        </div>
    }
}

/// The server's report: what was created and merged, and each refused line with why.
#[component]
fn ImportResult(
    report: ImportReport,
    header: Vec<String>,
    on_again: Callback<()>,
) -> impl IntoView {
    // Columns left out were sent under a name of ours: say them as the file named them.
    let ignored: Vec<String> = report
        .ignored_columns
        .iter()
        .map(|name| {
            (0..header.len())
                .find(|i| ignored_name(*i) == *name)
                .map(|i| header[i].clone())
                .unwrap_or_else(|| name.clone())
        })
        .collect();
    let problem_rows = |rows: &[loyalcast_dto::ImportRowError], testid: &'static str| {
        let rows = rows.to_vec();
        view! {
            <div class="table-wrap">
                <table class="table" data-testid=testid>
                    <thead><tr><th scope="col" class="num">"Line"</th><th scope="col">"Why"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|r| view! {
                            <tr data-testid=format!("{testid}-row")>
                                <td class="num">{r.line}</td>
                                <td>{r.errors.iter().map(|e| if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", label(&e.field).unwrap_or(&e.field), e.message) }).collect::<Vec<_>>().join("; ")}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
    };
    view! {
        <section class="panel import-result" data-testid="import-result" role="status">
            <h2>"Import finished"</h2>
            <div class="figure-row">
                <p><span class="num-figure" data-testid="import-created">{thousands_u(report.created)}</span>" created"</p>
                <p><span class="num-figure" data-testid="import-merged">{thousands_u(report.merged)}</span>" merged into customers you had"</p>
                <p><span class="num-figure" data-testid="import-refused">{thousands_u(report.errors.len() as u64)}</span>" refused"</p>
            </div>
            <p class="muted">{format!("{} rows read.", thousands_u(report.rows))}</p>
            {(!ignored.is_empty()).then(|| view! {
                <p class="muted" data-testid="import-ignored">{format!("Not imported: {}.", ignored.join(", "))}</p>
            })}
            {(!report.errors.is_empty()).then(|| view! {
                <h3>"Rows not imported"</h3>
                <p class="muted small">"Fix these lines in the file and import it again: rows already imported are merged, not doubled."</p>
                {problem_rows(&report.errors, "import-errors")}
            })}
            {(!report.notices.is_empty()).then(|| view! {
                <h3>"Imported with a part left out"</h3>
                {problem_rows(&report.notices, "import-notices")}
            })}
            <div class="form-actions">
                <a class="btn btn-primary" href="/customers" data-testid="import-see-customers">"See customers"</a>
                <button type="button" class="btn btn-ghost" data-testid="import-again" on:click=move |_| on_again.run(())>"Import another file"</button>
            </div>
        </section>
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_guessed_as_people_write_them() {
        assert_eq!(guess("First Name"), Some("first_name"));
        assert_eq!(guess("E-mail"), Some("email"));
        assert_eq!(guess("Mobile number"), Some("phone"));
        assert_eq!(guess("Date of birth"), Some("birthday"));
        assert_eq!(guess("Name"), Some("name"));
        assert_eq!(guess("Favourite drink"), None);
    }

    #[test]
    fn records_follow_quotes_and_line_ends() {
        let text = "name,note\r\n\"Lee, Ann\",\"said \"\"hi\"\"\nthen left\"\r\nBo,x";
        let found = records(text, 10);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].0, vec!["name", "note"]);
        assert_eq!(found[0].1, "name,note\r\n".len());
        assert_eq!(found[1].0, vec!["Lee, Ann", "said \"hi\"\nthen left"]);
        assert_eq!(found[2].0, vec!["Bo", "x"]);
        assert_eq!(records(text, 1).len(), 1);
    }

    #[test]
    fn the_header_is_rewritten_and_the_rest_left_as_it_is() {
        let text = "\u{feff}Given,Mobile,Drink\r\nAnn,+14155550100,tea\r\n";
        assert_eq!(
            with_header(text, &[Some("first_name"), Some("phone"), None]),
            "first_name,phone,not_imported_3\r\nAnn,+14155550100,tea\r\n"
        );
        assert_eq!(with_header("a\nb\n", &[Some("email")]), "email\nb\n");
    }

    #[test]
    fn a_field_chosen_twice_is_found() {
        assert_eq!(twice(&[Some("phone"), None, Some("phone")]), Some("phone"));
        assert_eq!(twice(&[Some("first_name"), Some("name")]), Some("name"));
        assert_eq!(twice(&[Some("first_name"), Some("last_name"), None]), None);
    }

    #[test]
    fn a_file_without_a_header_is_said_to_be_empty() {
        assert!(load("a.csv".into(), String::new()).is_err());
        assert!(load("a.csv".into(), "\u{feff}\n".into()).is_err());
        let file = load("a.csv".into(), "name\nAnn\nBo\n\n".into()).unwrap();
        assert_eq!((file.lines, file.rows.len()), (2, 2));
    }
}
