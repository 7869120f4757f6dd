//! The signed-in session, kept in `localStorage` so that a reload keeps the user signed in.

use chrono::Utc;
use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;
use loyalcast_dto::Session;

const STORAGE_KEY: &str = "loyalcast.session";

/// Why there is no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedOut {
    /// Never signed in, or the session expired or was revoked: come back here after sign-in.
    Expired,
    /// The user chose to sign out: start afresh.
    Deliberately,
}

/// The session state, shared through the context.
#[derive(Clone, Copy)]
pub struct Auth {
    session: RwSignal<Option<Session>>,
    signed_out: RwSignal<SignedOut>,
}

impl Auth {
    /// Restores the session from `localStorage`, dropping it when it has expired.
    pub fn restore() -> Self {
        let stored: Option<Session> = LocalStorage::get(STORAGE_KEY).ok();
        let session = stored.filter(|s| s.expires_at > Utc::now());
        if session.is_none() {
            LocalStorage::delete(STORAGE_KEY);
        }
        Auth {
            session: RwSignal::new(session),
            signed_out: RwSignal::new(SignedOut::Expired),
        }
    }

    /// The session, tracked.
    pub fn session(&self) -> Option<Session> {
        self.session.get()
    }

    pub fn session_untracked(&self) -> Option<Session> {
        self.session.get_untracked()
    }

    /// Whether the signed-in member may manage cards, segments and API keys (admins and
    /// owners); the server enforces it, the dashboard only avoids offering what it refuses.
    pub fn can_manage(&self) -> bool {
        self.session.with(|s| {
            s.as_ref()
                .is_some_and(|s| s.member.role >= loyalcast_dto::Role::Admin)
        })
    }

    pub fn is_signed_in(&self) -> bool {
        self.session.with(Option::is_some)
    }

    pub fn signed_out_reason(&self) -> SignedOut {
        self.signed_out.get()
    }

    /// The bearer token, untracked: read when a request is sent.
    pub fn token(&self) -> Option<String> {
        self.session
            .with_untracked(|s| s.as_ref().map(|s| s.token.clone()))
    }

    pub fn sign_in(&self, session: Session) {
        // Storage can fail (private mode, quota): the session then lasts until reload.
        let _ = LocalStorage::set(STORAGE_KEY, &session);
        self.signed_out.set(SignedOut::Expired);
        self.session.set(Some(session));
    }

    /// The merchant's details changed (Settings): the session carries the new ones.
    pub fn update_merchant(&self, merchant: loyalcast_dto::Merchant) {
        self.session.update(|s| {
            if let Some(s) = s.as_mut() {
                s.merchant = merchant;
                let _ = LocalStorage::set(STORAGE_KEY, &*s);
            }
        });
    }

    /// The server refused the token: forget it; the shell sends the user to sign in.
    pub fn expire(&self) {
        LocalStorage::delete(STORAGE_KEY);
        self.signed_out.set(SignedOut::Expired);
        self.session.set(None);
    }

    pub fn sign_out(&self) {
        LocalStorage::delete(STORAGE_KEY);
        self.signed_out.set(SignedOut::Deliberately);
        self.session.set(None);
    }
}

pub fn use_auth() -> Auth {
    // Provided by `App` before any route renders.
    use_context::<Auth>().unwrap_or_else(Auth::restore)
}
