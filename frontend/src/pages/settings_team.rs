//! Settings: the business's details (the owner changes them) and the team (admins and
//! owners invite members, change their roles and remove them).

use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{Invitation, Me, NewInvitation, Role, TeamMember, UpdateMerchant};
use uuid::Uuid;

use crate::api::{ApiError, use_api};
use crate::components::field::TextField;
use crate::components::shell::role_label;
use crate::components::states::{Empty, FieldError, FormError, local_problem, show_fetch};
use crate::components::time::RelativeTime;
use crate::fetch::fetch;
use crate::session::use_auth;

/// The IANA time zones the browser knows (`Intl.supportedValuesOf`), with `current` among
/// them even when the browser's list lacks it.
fn time_zones(current: &str) -> Vec<String> {
    let listed = js_sys::Reflect::get(&js_sys::global(), &"Intl".into())
        .and_then(|intl| {
            let f = js_sys::Reflect::get(&intl, &"supportedValuesOf".into())?;
            let f: js_sys::Function = wasm_bindgen::JsCast::dyn_into(f)?;
            f.call1(&intl, &"timeZone".into())
        })
        .ok()
        .map(|list| {
            js_sys::Array::from(&list)
                .iter()
                .filter_map(|z| z.as_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut zones = listed;
    for zone in [current, "UTC"] {
        if !zone.is_empty() && !zones.iter().any(|z| z == zone) {
            zones.push(zone.to_owned());
        }
    }
    zones.sort();
    zones
}

#[component]
pub fn MerchantSection() -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    let me = fetch(|| (), move |_| async move { api.me().await });
    let editing = RwSignal::new(false);
    let saved = RwSignal::new(false);
    let is_owner = auth
        .session_untracked()
        .is_some_and(|s| s.member.role == Role::Owner);
    let on_saved = Callback::new(move |merchant: loyalcast_dto::Merchant| {
        // Every page reads the time zone and country from the session: it follows at once.
        me.data.update(|d| {
            if let Some(Ok(me)) = d {
                me.merchant = merchant.clone();
            }
        });
        auth.update_merchant(merchant);
        editing.set(false);
        saved.set(true);
    });
    let body = move |me: &Me| -> AnyView {
        let m = me.merchant.clone();
        if editing.get() {
            return view! {
                <MerchantForm merchant=m on_saved=on_saved on_cancel=Callback::new(move |_| editing.set(false))/>
            }
            .into_any();
        }
        view! {
            <dl class="details" data-testid="merchant-details">
                <dt>"Business name"</dt>
                <dd data-testid="merchant-name">{m.name}</dd>
                <dt>"Time zone"</dt>
                <dd data-testid="merchant-time-zone">{m.time_zone}</dd>
                <dt>"Country for phone numbers"</dt>
                <dd data-testid="merchant-country">{m.default_country}</dd>
                <dt>"Your role"</dt>
                <dd>{me.role.map(role_label).unwrap_or("API key")}</dd>
                <dt>"Account created"</dt>
                <dd><RelativeTime at=m.created_at/></dd>
            </dl>
            {if is_owner {
                view! {
                    <button type="button" class="btn btn-secondary btn-sm" data-testid="merchant-edit"
                        on:click=move |_| { saved.set(false); editing.set(true); }>
                        "Change details"
                    </button>
                }.into_any()
            } else {
                view! { <p class="muted small" data-testid="merchant-owner-only">"Only the owner changes the business's details."</p> }.into_any()
            }}
        }
        .into_any()
    };
    view! {
        <section class="panel" aria-labelledby="merchant-title" data-testid="settings-merchant">
            <h2 id="merchant-title">"Business"</h2>
            {move || saved.get().then(|| view! { <p class="form-success" role="status" data-testid="merchant-saved">"Saved."</p> })}
            {show_fetch(me, "Loading…", body)}
        </section>
    }
}

#[component]
fn MerchantForm(
    merchant: loyalcast_dto::Merchant,
    on_saved: Callback<loyalcast_dto::Merchant>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let api = use_api();
    let name = RwSignal::new(merchant.name.clone());
    let time_zone = RwSignal::new(merchant.time_zone.clone());
    let country = RwSignal::new(merchant.default_country.clone());
    let zones = time_zones(&merchant.time_zone);
    let error = RwSignal::new(None::<ApiError>);
    let saving = RwSignal::new(false);
    let edited = move |field: &'static str| {
        if let Some(e) = error.get_untracked() {
            error.set(e.without_field(field));
        }
    };
    let before = merchant.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let typed = name.get_untracked();
        if typed.trim().is_empty() || typed.chars().count() > 120 {
            error.set(Some(local_problem(
                "name",
                "Give the business a name of 1 to 120 characters.",
            )));
            return;
        }
        let code = country.get_untracked().trim().to_uppercase();
        if code.len() != 2 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            error.set(Some(local_problem(
                "default_country",
                "Use the country's two-letter code, e.g. US, GB or DE.",
            )));
            return;
        }
        let zone = time_zone.get_untracked();
        let change = UpdateMerchant {
            name: (typed.trim() != before.name).then(|| typed.trim().to_owned()),
            time_zone: (zone != before.time_zone).then_some(zone),
            default_country: (code != before.default_country).then_some(code),
        };
        if change.name.is_none() && change.time_zone.is_none() && change.default_country.is_none() {
            on_cancel.run(());
            return;
        }
        error.set(None);
        saving.set(true);
        spawn_local(async move {
            match api.update_merchant(&change).await {
                Ok(merchant) => on_saved.run(merchant),
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            saving.try_set(false);
        });
    };
    let err = Signal::derive(move || error.get());
    view! {
        <form class="stack-form" novalidate=true on:submit=submit data-testid="merchant-form">
            <TextField id="merchant-name-input" label="Business name" value=name field="name" error=error maxlength=120/>
            <div class="field">
                <label for="merchant-time-zone-input">"Time zone"</label>
                <select id="merchant-time-zone-input" data-testid="merchant-time-zone-input"
                    aria-describedby="merchant-time-zone-hint merchant-time-zone-error"
                    on:change=move |ev| { time_zone.set(event_target_value(&ev)); edited("time_zone"); }>
                    {zones.into_iter().map(|z| {
                        let selected = z == merchant.time_zone;
                        view! { <option value=z.clone() selected=selected>{z.replace('_', " ")}</option> }
                    }).collect_view()}
                </select>
                <p class="muted small" id="merchant-time-zone-hint">"Scheduled sends and every time on screen use it."</p>
                <FieldError error=err field="time_zone" id="merchant-time-zone-error"/>
            </div>
            <TextField id="merchant-country-input" label="Country for phone numbers" value=country field="default_country"
                error=error maxlength=2
                hint="Two letters, e.g. US. Numbers typed without + and a country code are read as this country's; numbers already saved keep theirs."/>
            <FormError error=err known_fields=&["name", "time_zone", "default_country"]/>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-testid="merchant-save"
                    disabled=move || saving.get() aria-busy=move || saving.get().to_string()>
                    {move || if saving.get() { "Saving…" } else { "Save" }}
                </button>
                <button type="button" class="btn btn-ghost" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </form>
    }
}

fn role_badge(role: Role) -> &'static str {
    match role {
        Role::Owner => "badge-info",
        Role::Admin => "badge-neutral",
        Role::Agent => "badge-neutral",
    }
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// The roles `role` may give: owners any, admins admins and agents (as the server allows).
fn grantable(role: Role) -> Vec<Role> {
    [Role::Agent, Role::Admin, Role::Owner]
        .into_iter()
        .filter(|r| *r <= role)
        .collect()
}

fn role_hint(role: Role) -> &'static str {
    match role {
        Role::Agent => {
            "serves customers: reads everything, adds and edits customers, cannot send mailings or change consent"
        }
        Role::Admin => {
            "also sends mailings and pushes, manages cards, segments, imports, the team and API keys"
        }
        Role::Owner => "also changes the business's details",
    }
}

#[component]
pub fn TeamSection() -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    let session = auth.session_untracked();
    let my_role = session.as_ref().map_or(Role::Agent, |s| s.member.role);
    let my_id = session.as_ref().map(|s| s.member.id);
    if my_role < Role::Admin {
        return view! {
            <section class="panel" aria-labelledby="team-title" data-testid="settings-team">
                <h2 id="team-title">"Team"</h2>
                <p class="muted" data-testid="team-admins-only">"Admins and owners manage the team."</p>
            </section>
        }
        .into_any();
    }
    let team = fetch(|| (), move |_| async move { api.team().await });
    let asker = crate::components::confirm::use_asker();
    let removing = RwSignal::new(None::<Uuid>);
    let list_error = RwSignal::new(None::<ApiError>);
    let remove = Callback::new(move |member: TeamMember| {
        let id = member.id;
        asker.ask(
            format!("Remove {} from the team?", member.name),
            format!(
                "{} can no longer sign in, and their sessions end at once.",
                member.email
            ),
            "Remove",
            true,
            move || {
                removing.set(Some(id));
                list_error.set(None);
                spawn_local(async move {
                    match api.remove_team_member(id).await {
                        Ok(()) => team.reload(),
                        Err(e) => {
                            list_error.try_set(Some(e));
                        }
                    }
                    removing.try_set(None);
                });
            },
        );
    });
    let changing = RwSignal::new(None::<Uuid>);
    let change_role = Callback::new(move |(member, role): (TeamMember, Role)| {
        changing.set(Some(member.id));
        list_error.set(None);
        spawn_local(async move {
            if let Err(e) = api.change_team_role(member.id, role).await {
                list_error.try_set(Some(e));
            }
            // What the server has, whether the change went through or not.
            team.reload();
            changing.try_set(None);
        });
    });
    let body = move |members: &Vec<TeamMember>| -> AnyView {
        if members.is_empty() {
            return view! { <Empty title="No team members."/> }.into_any();
        }
        let members = members.clone();
        view! {
            <ul class="member-list" data-testid="team-list">
                {members.into_iter().map(|m| {
                    let me = Some(m.id) == my_id;
                    // Admins do not remove owners; nobody removes themselves here.
                    let removable = !me && m.role <= my_role;
                    let target = m.clone();
                    view! {
                        <li class="member" data-testid="team-member">
                            <span class="avatar" aria-hidden="true">{initials(&m.name)}</span>
                            <div class="member-main">
                                <p class="strong">{m.name.clone()}{me.then_some(" (you)")}</p>
                                <p class="muted small break" data-testid="team-member-email">{m.email.clone()}</p>
                            </div>
                            {if removable {
                                // Changed in place, within what the server allows.
                                let target = m.clone();
                                let offered = grantable(my_role);
                                view! {
                                    <select class="role-select" data-testid="team-member-role"
                                        aria-label=format!("Role of {}", m.name)
                                        disabled=move || changing.get() == Some(target.id)
                                        on:change=move |ev| {
                                            let value = event_target_value(&ev);
                                            if let Some(r) = offered.iter().copied().find(|r| r.as_str() == value) {
                                                change_role.run((target.clone(), r));
                                            }
                                        }>
                                        {grantable(my_role).into_iter().map(|r| view! {
                                            <option value=r.as_str() selected=r == m.role>{role_label(r)}</option>
                                        }).collect_view()}
                                    </select>
                                }.into_any()
                            } else {
                                view! { <span class=format!("badge {}", role_badge(m.role))>{role_label(m.role)}</span> }.into_any()
                            }}
                            {removable.then(|| view! {
                                <button type="button" class="btn btn-ghost btn-sm btn-danger-text" data-testid="team-remove"
                                    disabled=move || removing.get() == Some(target.id)
                                    on:click=move |_| remove.run(target.clone())>
                                    "Remove"
                                </button>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
        .into_any()
    };
    let list_err = Signal::derive(move || list_error.get());
    view! {
        <section class="panel" aria-labelledby="team-title" data-testid="settings-team">
            <h2 id="team-title">"Team"</h2>
            {show_fetch(team, "Loading the team…", body)}
            <FormError error=list_err/>
            <Invitations roles=grantable(my_role)/>
        </section>
    }
    .into_any()
}

/// Invitations: name, email and role; the answer is a link that lets them choose their own
/// password (once, for 7 days), shown to copy; the pending ones, each withdrawable.
#[component]
fn Invitations(roles: Vec<Role>) -> impl IntoView {
    let api = use_api();
    let pending = fetch(|| (), move |_| async move { api.invitations().await });
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Agent);
    let error = RwSignal::new(None::<ApiError>);
    let saving = RwSignal::new(false);
    let created = RwSignal::new(None::<Invitation>);
    let copied = RwSignal::new(false);
    let on_edit = Callback::new(move |_| {
        created.set(None);
        copied.set(false);
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let (typed_name, typed_email) = (
            name.get_untracked().trim().to_owned(),
            email.get_untracked().trim().to_owned(),
        );
        let problem = if typed_name.is_empty() || typed_name.chars().count() > 120 {
            Some(("name", "Enter their name (up to 120 characters)."))
        } else if !crate::format::looks_like_email(&typed_email) {
            Some((
                "email",
                "Enter the email they will sign in with, like sam@example.com.",
            ))
        } else {
            None
        };
        if let Some((field, message)) = problem {
            error.set(Some(local_problem(field, message)));
            return;
        }
        let input = NewInvitation {
            name: typed_name,
            email: typed_email,
            role: role.get_untracked(),
        };
        error.set(None);
        saving.set(true);
        spawn_local(async move {
            match api.invite(&input).await {
                Ok(invitation) => {
                    created.try_set(Some(invitation));
                    copied.try_set(false);
                    name.try_set(String::new());
                    email.try_set(String::new());
                    pending.reload();
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
            saving.try_set(false);
        });
    };
    let asker = crate::components::confirm::use_asker();
    let withdraw_error = RwSignal::new(None::<ApiError>);
    let withdraw = Callback::new(move |invitation: Invitation| {
        let id = invitation.id;
        asker.ask(
            format!("Withdraw the invitation of {}?", invitation.name),
            "The link stops working. You can invite them again later.".to_owned(),
            "Withdraw",
            true,
            move || {
                withdraw_error.set(None);
                spawn_local(async move {
                    if let Err(e) = api.withdraw_invitation(id).await {
                        withdraw_error.try_set(Some(e));
                    }
                    pending.reload();
                });
            },
        );
    });
    let copy = move |link: String| {
        let clipboard = web_sys::window().map(|w| w.navigator().clipboard());
        if let Some(clipboard) = clipboard {
            let _ = clipboard.write_text(&link);
            copied.set(true);
        }
    };
    let list = move |items: &Vec<Invitation>| -> AnyView {
        if items.is_empty() {
            return view! { <p class="muted small" data-testid="invitations-none">"No invitation is waiting."</p> }.into_any();
        }
        let items = items.clone();
        view! {
            <ul class="member-list" data-testid="invitations">
                {items.into_iter().map(|i| {
                    let target = i.clone();
                    view! {
                        <li class="member" data-testid="invitation">
                            <span class="avatar avatar-pending" aria-hidden="true">{initials(&i.name)}</span>
                            <div class="member-main">
                                <p class="strong">{i.name.clone()}</p>
                                <p class="muted small break">{format!("{} · invited as {} · link works until ", i.email, role_label(i.role))}<RelativeTime at=i.expires_at/></p>
                            </div>
                            <button type="button" class="btn btn-ghost btn-sm btn-danger-text" data-testid="invitation-withdraw"
                                on:click=move |_| withdraw.run(target.clone())>"Withdraw"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
        .into_any()
    };
    let err = Signal::derive(move || error.get());
    let withdraw_err = Signal::derive(move || withdraw_error.get());
    // A role is read back from the roles offered, not from every role.
    let offered = roles.clone();
    view! {
        <h3>"Invitations"</h3>
        {show_fetch(pending, "Loading the invitations…", list)}
        <FormError error=withdraw_err/>
        <h3>"Invite a team member"</h3>
        <p class="muted small">"They get a link to choose their own password. Nobody else sees it: send it to them yourself."</p>
        {move || created.get().and_then(|i| i.link.clone().map(|link| {
            let shown = link.clone();
            view! {
                <div class="form-success invite-link" role="status" data-testid="invite-created">
                    <p>{format!("Send this link to {}. It works once, for 7 days:", i.name)}</p>
                    <p class="invite-link-row">
                        <input type="text" readonly=true class="mono" data-testid="invite-link" prop:value=shown
                            aria-label="Invitation link" on:focus=move |ev| {
                                if let Some(el) = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(t).ok()) {
                                    el.select();
                                }
                            }/>
                        <button type="button" class="btn btn-secondary btn-sm" data-testid="invite-copy"
                            on:click=move |_| copy(link.clone())>
                            {move || if copied.get() { "Copied" } else { "Copy" }}
                        </button>
                    </p>
                </div>
            }
        }))}
        <form class="stack-form" novalidate=true on:submit=submit data-testid="team-form">
            <TextField id="team-name" label="Name" value=name field="name" error=error maxlength=120 on_edit=on_edit/>
            <TextField id="team-email" label="Sign-in email" kind="email" value=email field="email" error=error maxlength=254 on_edit=on_edit/>
            <div class="field">
                <label for="team-role">"Role"</label>
                <select id="team-role" data-testid="team-role"
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        if let Some(r) = offered.iter().copied().find(|r| r.as_str() == value) {
                            role.set(r);
                        }
                    }>
                    {roles.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=r == Role::Agent>{format!("{} — {}", role_label(r), role_hint(r))}</option>
                    }).collect_view()}
                </select>
                <FieldError error=err field="role" id="team-role-error"/>
            </div>
            <FormError error=err known_fields=&["name", "email", "role"]/>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-testid="team-invite"
                    disabled=move || saving.get() aria-busy=move || saving.get().to_string()>
                    {move || if saving.get() { "Inviting…" } else { "Create invitation link" }}
                </button>
            </div>
        </form>
    }
}
