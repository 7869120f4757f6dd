//! The team from the browser: invitations that let the invitee choose their own password
//! (once, until they expire), and role changes that count at once.

use chrono::Duration;
use loyalcast::clock::{Clock, ManualClock};
use loyalcast_dto::{Invitation, InvitationOffer, Me, Role, Session, TeamMember};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, json, problem, spawn_clocked};

crate::db_tests!(
    roles_change_at_once_within_the_rules,
    invitations_follow_the_rules_of_adding_a_member,
);

/// The token at the end of an invitation's link.
fn token_of(invitation: &Invitation) -> String {
    let link = invitation
        .link
        .as_deref()
        .expect("a new invitation has its link");
    link.rsplit('/').next().unwrap().to_owned()
}

async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> Invitation {
    json(
        app.post(
            "/api/v1/team/invitations",
            token,
            &json!({"name": "Sam Rivera", "email": email, "role": role}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

async fn accept(app: &TestApp, token: &str, body: serde_json::Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn offer(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/invitations/{token}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_chooses_a_password_joins_once_and_signs_in_sqlite() {
    an_invitee_chooses_a_password_joins_once_and_signs_in(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_chooses_a_password_joins_once_and_signs_in_postgres() {
    an_invitee_chooses_a_password_joins_once_and_signs_in(Backend::Postgres).await;
}

async fn an_invitee_chooses_a_password_joins_once_and_signs_in(backend: Backend) {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let Some(app) = spawn_clocked(backend, clock.shared()).await else {
        return;
    };
    let t = app.tenant("Inviting Cafe").await;
    let invitation = invite(&app, &t.token, "Sam@Example.com", "agent").await;
    assert_eq!(invitation.email, "sam@example.com");
    assert_eq!(invitation.role, Role::Agent);
    assert_eq!(invitation.expires_at, clock.now() + Duration::days(7));
    let link = invitation.link.clone().unwrap();
    assert!(
        link.starts_with(&format!(
            "{}/invite/",
            app.config.public_url.trim_end_matches('/')
        )),
        "{link}"
    );
    let token = token_of(&invitation);
    // Listed without its link: it is not stored.
    let pending: Vec<Invitation> = json(
        app.get("/api/v1/team/invitations", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id, pending[0].link.clone()),
        (invitation.id, None)
    );

    let offered: InvitationOffer = json(offer(&app, &token).await, StatusCode::OK).await;
    assert_eq!(
        (
            offered.merchant_name.as_str(),
            offered.email.as_str(),
            offered.role
        ),
        ("Inviting Cafe", "sam@example.com", Role::Agent)
    );
    problem(offer(&app, "not-a-token").await, StatusCode::NOT_FOUND).await;

    // A weak password or a blank name changes nothing: the link still works.
    problem(
        accept(&app, &token, json!({"password": "short"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        accept(&app, &token, json!({"password": PASSWORD, "name": "  "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        accept(&app, &token, json!({"password": PASSWORD, "role": "owner"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(offer(&app, &token).await.status(), StatusCode::OK);

    // Two acceptances at once: one joins, the other finds the link used.
    let (a, b) = tokio::join!(
        accept(
            &app,
            &token,
            json!({"password": PASSWORD, "name": "Sam R."})
        ),
        accept(
            &app,
            &token,
            json!({"password": PASSWORD, "name": "Sam R."})
        ),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::NOT_FOUND]);
    let session: Session = if a.status() == StatusCode::CREATED {
        json(a, StatusCode::CREATED).await
    } else {
        json(b, StatusCode::CREATED).await
    };
    assert_eq!(session.member.name, "Sam R.");
    assert_eq!(session.member.role, Role::Agent);
    let me: Me = json(app.get("/api/v1/me", &session.token).await, StatusCode::OK).await;
    assert_eq!(me.role, Some(Role::Agent));
    // Signs in with the password they chose; the link is spent.
    let signed_in: Session =
        json(app.login("sam@example.com", PASSWORD).await, StatusCode::OK).await;
    assert_eq!(signed_in.merchant.id, t.session.merchant.id);
    problem(offer(&app, &token).await, StatusCode::NOT_FOUND).await;
    problem(
        accept(&app, &token, json!({"password": PASSWORD})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let pending: Vec<Invitation> = json(
        app.get("/api/v1/team/invitations", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(pending.is_empty());
    let team: Vec<TeamMember> = json(app.get("/api/v1/team", &t.token).await, StatusCode::OK).await;
    assert!(team.iter().any(|m| m.email == "sam@example.com"));

    // An invitation not taken up in seven days expires.
    let late = invite(&app, &t.token, "late@example.com", "admin").await;
    clock.advance(Duration::days(7));
    problem(offer(&app, &token_of(&late)).await, StatusCode::NOT_FOUND).await;
    problem(
        accept(&app, &token_of(&late), json!({"password": PASSWORD})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let pending: Vec<Invitation> = json(
        app.get("/api/v1/team/invitations", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(pending.is_empty(), "an expired invitation is not pending");
    app.cleanup().await;
}

async fn invitations_follow_the_rules_of_adding_a_member(app: &TestApp) {
    let t = app.tenant("Rules Cafe").await;
    let other = app.tenant("Other Cafe").await;
    let admin = app.member(&t, "admin").await;
    let agent = app.member(&t, "agent").await;

    let refused = problem(
        app.post(
            "/api/v1/team/invitations",
            &admin,
            &json!({"name": "Boss", "email": "boss@example.com", "role": "owner"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused.errors[0].code, "not_allowed");
    problem(
        app.post(
            "/api/v1/team/invitations",
            &agent,
            &json!({"name": "Pal", "email": "pal@example.com", "role": "agent"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Someone who signs in already (here, the owner of another merchant).
    problem(
        app.post(
            "/api/v1/team/invitations",
            &t.token,
            &json!({"name": "Taken", "email": other.session.member.email, "role": "agent"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    for bad in [
        json!({"name": "", "email": "x@example.com", "role": "agent"}),
        json!({"name": "X", "email": "not an email", "role": "agent"}),
    ] {
        problem(
            app.post("/api/v1/team/invitations", &t.token, &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }

    // A second invitation for an address replaces the first: the old link stops working.
    let first = invite(app, &admin, "new@example.com", "agent").await;
    let second = invite(app, &admin, "new@example.com", "admin").await;
    problem(offer(app, &token_of(&first)).await, StatusCode::NOT_FOUND).await;
    let offered: InvitationOffer = json(offer(app, &token_of(&second)).await, StatusCode::OK).await;
    assert_eq!(offered.role, Role::Admin);

    // Withdrawn: gone, and its link with it. Another merchant's is not found.
    problem(
        app.delete(
            &format!("/api/v1/team/invitations/{}", second.id),
            &other.token,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let owner_invite = invite(app, &t.token, "co-owner@example.com", "owner").await;
    problem(
        app.delete(
            &format!("/api/v1/team/invitations/{}", owner_invite.id),
            &admin,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let withdrawn = app
        .delete(&format!("/api/v1/team/invitations/{}", second.id), &admin)
        .await;
    assert_eq!(withdrawn.status(), StatusCode::NO_CONTENT);
    problem(offer(app, &token_of(&second)).await, StatusCode::NOT_FOUND).await;
    let pending: Vec<Invitation> = json(
        app.get("/api/v1/team/invitations", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        pending.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![owner_invite.id]
    );
    let elsewhere: Vec<Invitation> = json(
        app.get("/api/v1/team/invitations", &other.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(elsewhere.is_empty());

    // Someone added directly meanwhile cannot also join through their invitation.
    let raced = invite(app, &t.token, "twice@example.com", "agent").await;
    let added = app
        .post(
            "/api/v1/team",
            &t.token,
            &json!({"name": "Twice", "email": "twice@example.com", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    problem(
        accept(app, &token_of(&raced), json!({"password": PASSWORD})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        offer(app, &token_of(&raced)).await.status(),
        StatusCode::OK,
        "a refused acceptance leaves the invitation as it was"
    );
}

async fn roles_change_at_once_within_the_rules(app: &TestApp) {
    let t = app.tenant("Roles Cafe").await;
    let other = app.tenant("Other Roles Cafe").await;
    let admin = app.member(&t, "admin").await;
    let agent = app.member(&t, "agent").await;
    let team: Vec<TeamMember> = json(app.get("/api/v1/team", &t.token).await, StatusCode::OK).await;
    let id_of = |role: Role| team.iter().find(|m| m.role == role).unwrap().id;
    let (owner_id, admin_id, agent_id) =
        (id_of(Role::Owner), id_of(Role::Admin), id_of(Role::Agent));
    let path = |id| format!("/api/v1/team/{id}");

    // The agent's session counts as an admin's from the next request on.
    assert_eq!(
        app.get("/api/v1/team", &agent).await.status(),
        StatusCode::FORBIDDEN
    );
    let promoted: TeamMember = json(
        app.patch(&path(agent_id), &admin, &json!({"role": "admin"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(
        app.get("/api/v1/team", &agent).await.status(),
        StatusCode::OK
    );

    // Within the rules: nobody above their own role, nobody changes themselves, admins do
    // not touch owners, other merchants' members are not found, agents change nothing.
    let refused = problem(
        app.patch(&path(agent_id), &admin, &json!({"role": "owner"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused.errors[0].code, "not_allowed");
    problem(
        app.patch(&path(owner_id), &admin, &json!({"role": "agent"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.patch(&path(admin_id), &admin, &json!({"role": "agent"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        app.patch(&path(owner_id), &t.token, &json!({"role": "agent"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        app.patch(&path(agent_id), &other.token, &json!({"role": "agent"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.patch(&path(agent_id), &t.token, &json!({"role": "boss"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // The owner makes the admin an owner, then the agent (now admin) back an agent.
    let owner_now: TeamMember = json(
        app.patch(&path(admin_id), &t.token, &json!({"role": "owner"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(owner_now.role, Role::Owner);
    let demoted: TeamMember = json(
        app.patch(&path(agent_id), &admin, &json!({"role": "agent"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(demoted.role, Role::Agent);
    assert_eq!(
        app.get("/api/v1/team", &agent).await.status(),
        StatusCode::FORBIDDEN
    );
    let team: Vec<TeamMember> = json(app.get("/api/v1/team", &t.token).await, StatusCode::OK).await;
    let roles: Vec<Role> = [owner_id, admin_id, agent_id]
        .iter()
        .map(|id| team.iter().find(|m| m.id == *id).unwrap().role)
        .collect();
    assert_eq!(roles, vec![Role::Owner, Role::Owner, Role::Agent]);
}
