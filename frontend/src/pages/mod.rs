pub mod cards;
pub mod customers;
pub mod mailings;
pub mod not_found;
pub mod segments;
pub mod settings;
pub mod sign_in;
