//! Settings: the merchant, message balances, the team, and API keys for integrations.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use loyalcast_dto::{
    ApiKey, Balances, CreatedApiKey, CreditKind, CreditsPurchase, LedgerEntry, LedgerEntryKind,
    LedgerSource, LedgerSourceKind, NewApiKey, Page, Role, Scope,
};
use uuid::Uuid;

use crate::api::{ApiError, use_api};
use crate::components::icons::{Icon, IconKind};
use crate::components::states::{Empty, FieldError, FormError, local_problem, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::fetch;
use crate::format::thousands;
use crate::session::use_auth;

#[component]
pub fn SettingsPage() -> impl IntoView {
    crate::set_title("Settings");
    view! {
        <div class="page">
            <header class="page-header">
                <div>
                    <h1>"Settings"</h1>
                    <p class="muted">"Your business, your team, and access for your integrations."</p>
                </div>
            </header>
            <div class="settings-grid">
                <super::settings_team::MerchantSection/>
                <BalancesSection/>
                <super::settings_team::TeamSection/>
                <PasswordSection/>
                <ApiKeysSection/>
            </div>
        </div>
    }
}

#[component]
fn BalancesSection() -> impl IntoView {
    let api = use_api();
    let balances = fetch(|| (), move |_| async move { api.balances().await });
    let purchase = fetch(|| (), move |_| async move { api.credits_purchase().await });
    let ledger = fetch(|| (), move |_| async move { api.ledger(1, 10).await });
    // The figures' "Buy credits" links here: bring the section into view once it is drawn.
    request_animation_frame(|| {
        let document = web_sys::window().and_then(|w| w.document());
        let wanted = web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .is_some_and(|h| h == "#balances");
        if let (true, Some(el)) = (
            wanted,
            document.and_then(|d| d.get_element_by_id("balances")),
        ) {
            el.scroll_into_view();
        }
    });

    view! {
        <section class="panel" id="balances" aria-labelledby="balances-title" data-testid="settings-balances">
            <h2 id="balances-title">"Message balances"</h2>
            {show_fetch(balances, "Loading balances…", |b: &Balances| view! {
                <dl class="details">
                    <dt>"SMS credits"</dt>
                    <dd>
                        <strong data-testid="balance-sms">{thousands(b.sms.available)}</strong>
                        " available"
                        {(b.sms.reserved > 0).then(|| format!(" · {} held for sends in progress", thousands(b.sms.reserved)))}
                    </dd>
                    <dt>"Email credits"</dt>
                    <dd>
                        <strong data-testid="balance-email">{thousands(b.email.available)}</strong>
                        " available"
                        {(b.email.reserved > 0).then(|| format!(" · {} held for sends in progress", thousands(b.email.reserved)))}
                    </dd>
                    <dt>"Push and web push"</dt>
                    <dd>"Free, never uses credits"</dd>
                </dl>
            }.into_any())}
            <p class="muted small">"One SMS credit per SMS segment, one email credit per email."</p>
            {show_fetch(purchase, "", |p: &CreditsPurchase| {
                let (url, text) = (p.url.clone(), p.text.clone());
                view! {
                    <div class="credits-purchase" data-testid="credits-purchase">
                        {text.clone().map(|t| view! { <p data-testid="credits-purchase-text">{t}</p> })}
                        {url.clone().map(|u| view! {
                            <a class="btn btn-primary" href=u target="_blank" rel="noopener" data-testid="credits-purchase-link">"Buy credits"</a>
                        })}
                        {(url.is_none() && text.is_none()).then(|| view! {
                            <p class="muted small" data-testid="credits-purchase-text">"Credits are added by the service that runs Loyalcast for you; ask them for more."</p>
                        })}
                    </div>
                }
                .into_any()
            })}
            <h3 class="subhead">"Recent movements"</h3>
            {show_fetch(ledger, "Loading the ledger…", |page: &Page<LedgerEntry>| {
                if page.items.is_empty() {
                    return view! { <Empty title="No credits yet." hint="Top-ups, and what each send reserves, spends and gives back, appear here."/> }.into_any();
                }
                let items = page.items.clone();
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="ledger-table">
                            <caption class="sr-only">"Credit movements, newest first"</caption>
                            <thead>
                                <tr>
                                    <th scope="col">"What"</th>
                                    <th scope="col" class="num">"Credits"</th>
                                    <th scope="col">"For"</th>
                                    <th scope="col" class="hide-sm">"When"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {items.into_iter().map(|e| view! { <LedgerRow entry=e/> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            })}
        </section>
    }
}

#[component]
fn LedgerRow(entry: LedgerEntry) -> impl IntoView {
    let what = match entry.entry {
        LedgerEntryKind::TopUp => "Added",
        LedgerEntryKind::Reserve => "Held for a send",
        LedgerEntryKind::Spend => "Spent",
        LedgerEntryKind::Release => "Given back",
    };
    let kind = if entry.kind == CreditKind::Sms {
        "SMS"
    } else {
        "email"
    };
    let sign = match entry.entry {
        LedgerEntryKind::TopUp | LedgerEntryKind::Release => "+",
        LedgerEntryKind::Reserve | LedgerEntryKind::Spend => "−",
    };
    let for_what = match entry.source {
        Some(LedgerSource {
            kind: LedgerSourceKind::Mailing,
            id,
        }) => view! {
            <A href=format!("/mailings/{id}")>"A mailing"</A>
        }
        .into_any(),
        None => view! { <span>{entry.reference.clone()}</span> }.into_any(),
    };
    view! {
        <tr data-testid="ledger-row">
            <td>{what}</td>
            <td class="num">{format!("{sign}{} {kind}", thousands(entry.amount))}</td>
            <td>{for_what}</td>
            <td class="hide-sm"><RelativeTime at=entry.created_at/></td>
        </tr>
    }
}

/// The signed-in member's password, and signing out of every device.
#[component]
fn PasswordSection() -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let saving = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(false);
    let ending = RwSignal::new(false);

    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        done.set(false);
        let (old, fresh) = (current.get_untracked(), new.get_untracked());
        if old.is_empty() {
            error.set(Some(local_problem(
                "current_password",
                "Type your current password.",
            )));
            return;
        }
        if fresh.chars().count() < 10 {
            error.set(Some(local_problem(
                "new_password",
                "Use at least 10 characters.",
            )));
            return;
        }
        if fresh != repeat.get_untracked() {
            error.set(Some(local_problem(
                "repeat_password",
                "The two new passwords differ.",
            )));
            return;
        }
        error.set(None);
        saving.set(true);
        let input = loyalcast_dto::ChangePassword {
            current_password: old,
            new_password: fresh,
        };
        spawn_local(async move {
            match api.change_password(&input).await {
                Ok(session) => {
                    // The old session ended with the others: carry on with the new one.
                    auth.sign_in(session);
                    current.try_set(String::new());
                    new.try_set(String::new());
                    repeat.try_set(String::new());
                    done.try_set(true);
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            saving.try_set(false);
        });
    };

    let asker = crate::components::confirm::use_asker();
    let everywhere = move |_| {
        if ending.get_untracked() {
            return;
        }
        asker.ask(
            "Sign out on every device?",
            "This one included: every session of yours ends, and you sign in again.",
            "Sign out everywhere",
            false,
            move || {
                ending.set(true);
                spawn_local(async move {
                    match api.sign_out_everywhere().await {
                        Ok(()) => auth.sign_out(),
                        Err(e) => {
                            error.try_set(Some(e));
                        }
                    }
                    ending.try_set(false);
                });
            },
        );
    };

    let err = Signal::derive(move || error.get());
    view! {
        <section class="panel" aria-labelledby="password-title" data-testid="settings-password">
            <h2 id="password-title">"Your password"</h2>
            <p class="muted">"Changing it signs you out on your other devices."</p>
            {move || done.get().then(|| view! {
                <p class="form-success" role="status" data-testid="password-changed">"Password changed. Your other sessions have ended."</p>
            })}
            <form class="stack-form" on:submit=change novalidate=true data-testid="password-form">
                <div class="field">
                    <label for="current-password">"Current password"</label>
                    <input id="current-password" type="password" autocomplete="current-password" data-testid="current-password"
                        aria-describedby="current-password-error"
                        prop:value=current on:input=move |ev| current.set(event_target_value(&ev))/>
                    <FieldError error=err field="current_password" id="current-password-error"/>
                </div>
                <div class="field">
                    <label for="new-password">"New password"</label>
                    <input id="new-password" type="password" autocomplete="new-password" data-testid="new-password"
                        aria-describedby="new-password-error"
                        prop:value=new on:input=move |ev| new.set(event_target_value(&ev))/>
                    <FieldError error=err field="new_password" id="new-password-error"/>
                </div>
                <div class="field">
                    <label for="repeat-password">"New password again"</label>
                    <input id="repeat-password" type="password" autocomplete="new-password" data-testid="repeat-password"
                        aria-describedby="repeat-password-error"
                        prop:value=repeat on:input=move |ev| repeat.set(event_target_value(&ev))/>
                    <FieldError error=err field="repeat_password" id="repeat-password-error"/>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" data-testid="password-save"
                        disabled=move || saving.get() aria-busy=move || saving.get().to_string()>
                        {move || if saving.get() { "Changing…" } else { "Change password" }}
                    </button>
                    <button type="button" class="btn btn-ghost" data-testid="sign-out-everywhere"
                        disabled=move || ending.get() on:click=everywhere>
                        "Sign out everywhere"
                    </button>
                </div>
            </form>
            <FormError error=err known_fields=&["current_password", "new_password", "repeat_password"]/>
        </section>
    }
}

/// What a scope lets a key do, in the merchant's words.
fn scope_hint(scope: Scope) -> &'static str {
    match scope {
        Scope::CustomersRead => "read customers",
        Scope::CustomersWrite => "add, change, delete and import customers",
        Scope::ConsentWrite => "record customers' consent",
        Scope::PassesRead => "read passes",
        Scope::PassesWrite => "issue and remove passes",
        Scope::CardsRead => "read cards",
        Scope::CardsWrite => "change cards",
        Scope::SegmentsRead => "read and count segments",
        Scope::SegmentsWrite => "change segments",
        Scope::MailingsRead => "read mailings and reports",
        Scope::MailingsSend => "send mailings (spends credits)",
        Scope::PushesRead => "read wallet pushes",
        Scope::PushesSend => "send and cancel wallet pushes",
        Scope::BalancesRead => "read balances and the ledger",
        Scope::ChangesRead => "follow live changes",
        Scope::EventsWrite => "record visits, purchases and other events",
    }
}

#[component]
fn ApiKeysSection() -> impl IntoView {
    let auth = use_auth();
    // Agents cannot manage keys: say so rather than show a form the server will refuse.
    let can_manage = auth
        .session_untracked()
        .is_some_and(|s| s.member.role >= Role::Admin);
    if !can_manage {
        return view! {
            <section class="panel settings-wide" aria-labelledby="api-keys-title" data-testid="settings-api-keys">
                <h2 id="api-keys-title">"API keys"</h2>
                <p class="muted">"Only an owner or an admin can see and create API keys."</p>
            </section>
        }
        .into_any();
    }
    let api = use_api();
    let keys = fetch(|| (), move |_| async move { api.api_keys().await });

    let name = RwSignal::new(String::new());
    // Nothing is granted unless ticked: a key gets only what its integration needs.
    let scopes = RwSignal::new(std::collections::BTreeSet::<Scope>::new());
    let expires_on = RwSignal::new(String::new());
    let creating = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let created = RwSignal::new(None::<CreatedApiKey>);
    let revoking = RwSignal::new(None::<Uuid>);
    let list_error = RwSignal::new(None::<ApiError>);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if creating.get_untracked() {
            return;
        }
        let key_name = name.get_untracked().trim().to_owned();
        if key_name.is_empty() {
            error.set(Some(local_problem(
                "name",
                "Say what the key is for, e.g. “POS integration”.",
            )));
            return;
        }
        let chosen: Vec<Scope> = scopes.get_untracked().into_iter().collect();
        if chosen.is_empty() {
            error.set(Some(local_problem(
                "scopes",
                "Tick what the integration may do.",
            )));
            return;
        }
        // The key works through the whole day chosen (UTC).
        let expires_at = match expires_on.get_untracked().trim() {
            "" => None,
            day => match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
                Ok(date) => date
                    .succ_opt()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc()),
                Err(_) => {
                    error.set(Some(local_problem(
                        "expires_at",
                        "Pick a date, or leave it empty.",
                    )));
                    return;
                }
            },
        };
        creating.set(true);
        error.set(None);
        created.set(None);
        let input = NewApiKey {
            name: key_name,
            scopes: chosen,
            expires_at,
        };
        spawn_local(async move {
            match api.create_api_key(&input).await {
                Ok(key) => {
                    created.try_set(Some(key));
                    name.try_set(String::new());
                    keys.reload();
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            creating.try_set(false);
        });
    };

    let asker = crate::components::confirm::use_asker();
    let revoke = Callback::new(move |key: ApiKey| {
        if revoking.get_untracked().is_some() {
            return;
        }
        let id = key.id;
        asker.ask(
            format!("Revoke the key “{}”?", key.name),
            "Integrations using it stop working at once. This cannot be undone.",
            "Revoke key",
            true,
            move || {
                revoking.set(Some(id));
                list_error.set(None);
                spawn_local(async move {
                    match api.delete_api_key(id).await {
                        Ok(()) => {
                            if created
                                .with_untracked(|c| c.as_ref().is_some_and(|c| c.key.id == id))
                            {
                                created.try_set(None);
                            }
                            keys.reload();
                        }
                        Err(e) => {
                            list_error.try_set(Some(e));
                        }
                    }
                    revoking.try_set(None);
                });
            },
        );
    });

    let list = move |items: &Vec<ApiKey>| -> AnyView {
        if items.is_empty() {
            return view! { <Empty title="No API keys." hint="Create one for your POS or website to send events and customers to Loyalcast."/> }.into_any();
        }
        let items = items.clone();
        view! {
            <div class="table-wrap">
                <table class="table" data-testid="api-keys-table">
                    <caption class="sr-only">"API keys"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Key"</th>
                            <th scope="col">"May"</th>
                            <th scope="col" class="hide-sm">"Created"</th>
                            <th scope="col" class="hide-sm">"Expires"</th>
                            <th scope="col" class="hide-sm">"Last used"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {items.into_iter().map(|k| {
                            let id = k.id;
                            let revoked = k.revoked_at.is_some();
                            let for_revoke = k.clone();
                            view! {
                                <tr data-testid="api-key-row" class:muted-row=revoked>
                                    <td class="strong">{k.name.clone()}</td>
                                    <td><code>{format!("{}…", k.prefix)}</code></td>
                                    <td data-testid="api-key-scopes">{k.scopes.iter().map(|s| view! { <code class="scope">{s.as_str()}</code>" " }).collect_view()}</td>
                                    <td class="hide-sm nowrap"><RelativeTime at=k.created_at/></td>
                                    <td class="hide-sm nowrap">{match k.expires_at {
                                        Some(at) => view! { <RelativeTime at=at/> }.into_any(),
                                        None => view! { <span class="muted">"Never"</span> }.into_any(),
                                    }}</td>
                                    <td class="hide-sm nowrap">{match k.last_used_at {
                                        Some(at) => view! { <RelativeTime at=at/> }.into_any(),
                                        None => view! { <span class="muted">"Never"</span> }.into_any(),
                                    }}</td>
                                    <td class="actions-cell"><div class="row-actions">
                                        {if revoked {
                                            view! { <span class="badge badge-danger">"Revoked"</span> }.into_any()
                                        } else {
                                            view! {
                                                <button type="button" class="btn btn-ghost btn-sm btn-danger-text" data-testid="api-key-revoke"
                                                    disabled=move || revoking.get() == Some(id)
                                                    on:click=move |_| revoke.run(for_revoke.clone())>
                                                    {move || if revoking.get() == Some(id) { "Revoking…" } else { "Revoke" }}
                                                </button>
                                            }.into_any()
                                        }}
                                    </div></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };

    let err = Signal::derive(move || error.get());
    let list_err = Signal::derive(move || list_error.get());

    view! {
        <section class="panel settings-wide" aria-labelledby="api-keys-title" data-testid="settings-api-keys">
            <h2 id="api-keys-title">"API keys"</h2>
            <p class="muted">"Integrations send " <code>"Authorization: Bearer <key>"</code> " to the Loyalcast API. A key may do only what you tick; no key can manage keys, the team or these settings."</p>
            {move || created.get().map(|c| view! { <CreatedSecret created=c on_dismiss=Callback::new(move |_| created.set(None))/> })}
            <form class="inline-form" on:submit=create novalidate=true data-testid="api-key-form">
                <div class="field">
                    <label for="api-key-name">"Name"</label>
                    <input id="api-key-name" type="text" maxlength="100" placeholder="POS integration" data-testid="api-key-name"
                        aria-describedby="api-key-name-error"
                        prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                    <FieldError error=err field="name" id="api-key-name-error"/>
                </div>
                <div class="field">
                    <label for="api-key-expires">"Expires on (optional)"</label>
                    <input id="api-key-expires" type="date" data-testid="api-key-expires"
                        aria-describedby="api-key-expires-error"
                        prop:value=expires_on on:input=move |ev| expires_on.set(event_target_value(&ev))/>
                    <FieldError error=err field="expires_at" id="api-key-expires-error"/>
                </div>
                <fieldset class="field scope-picker" aria-describedby="api-key-scopes-error" data-testid="api-key-scope-picker">
                    <legend>"What the key may do"</legend>
                    {Scope::ALL.into_iter().map(|scope| view! {
                        <label class="check">
                            <input type="checkbox" data-testid="api-key-scope" value=scope.as_str()
                                prop:checked=move || scopes.with(|s| s.contains(&scope))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    scopes.update(|s| { if on { s.insert(scope); } else { s.remove(&scope); } });
                                }/>
                            <code>{scope.as_str()}</code>" "<span class="muted">{scope_hint(scope)}</span>
                        </label>
                    }).collect_view()}
                    <FieldError error=err field="scopes" id="api-key-scopes-error"/>
                </fieldset>
                <div class="field field-action">
                    <button type="submit" class="btn btn-primary" data-testid="api-key-create"
                        disabled=move || creating.get() aria-busy=move || creating.get().to_string()>
                        {move || if creating.get() { "Creating…" } else { "Create key" }}
                    </button>
                </div>
            </form>
            <FormError error=err known_fields=&["name", "scopes", "expires_at"]/>
            <FormError error=list_err/>
            {show_fetch(keys, "Loading API keys…", list)}
        </section>
    }
    .into_any()
}

#[component]
fn CreatedSecret(created: CreatedApiKey, on_dismiss: Callback<()>) -> impl IntoView {
    let secret = created.secret.clone();
    let copied = RwSignal::new(None::<bool>);
    let copy = {
        let secret = secret.clone();
        move |_| {
            let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) else {
                copied.set(Some(false));
                return;
            };
            let promise = clipboard.write_text(&secret);
            spawn_local(async move {
                let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                copied.try_set(Some(ok));
            });
        }
    };
    view! {
        <div class="secret-box" role="status" data-testid="api-key-secret-box">
            <p class="strong">{format!("Your new key “{}”", created.key.name)}</p>
            <p class="small">"Copy it now and keep it somewhere safe: it is shown this once and never again."</p>
            <div class="secret-row">
                <input
                    type="text"
                    readonly=true
                    class="input-mono"
                    aria-label="API key secret"
                    data-testid="api-key-secret"
                    value=secret
                    on:focus=move |ev| { event_target::<web_sys::HtmlInputElement>(&ev).select(); }
                />
                <button type="button" class="btn btn-secondary" on:click=copy data-testid="api-key-copy">
                    <Icon kind=IconKind::Copy size=16/>
                    {move || match copied.get() {
                        Some(true) => "Copied",
                        _ => "Copy",
                    }}
                </button>
                <button type="button" class="btn btn-ghost" on:click=move |_| on_dismiss.run(())>"Done"</button>
            </div>
            {move || (copied.get() == Some(false)).then(|| view! {
                <p class="small field-error">"The browser did not allow copying: select the key and copy it by hand."</p>
            })}
        </div>
    }
}
