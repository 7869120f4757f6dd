//! Pure domain logic.
