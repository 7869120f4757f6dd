//! The JSON shapes of the Loyalcast API, shared by the server and the single-page app.
//!
//! Serde only, so that it builds for wasm32; the OpenAPI schemas are derived behind the
//! `openapi` feature, which only the server turns on. Doc comments on fields become the
//! descriptions in the OpenAPI document, and the constraints declared there are the server's
//! (see [`text`] for the shapes of text, [`wire`] for how timestamps, dates and ids are read
//! and written).

pub mod auth;
pub mod automations;
pub mod cards;
pub mod changes;
pub mod common;
pub mod credits;
pub mod customers;
pub mod events;
pub mod figures;
pub mod mailings;
pub mod passes;
pub mod pushes;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod segments;
pub mod text;
pub mod wire;

pub use auth::*;
pub use automations::*;
pub use cards::*;
pub use changes::*;
pub use common::*;
pub use credits::*;
pub use customers::*;
pub use events::*;
pub use figures::*;
pub use mailings::*;
pub use passes::*;
pub use pushes::*;
pub use segments::*;
