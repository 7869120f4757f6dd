//! Loyalcast's pure domain logic: parsing request values into domain types, validation with
//! per-field errors, and the calendar arithmetic behind segment rules. No I/O here, so all
//! of it is unit-tested directly.

pub mod birthday;
pub mod contact;
pub mod rules;
pub mod schedule;
pub mod validation;

pub use contact::{Email, Phone};
pub use validation::{FieldErrors, Fields};
