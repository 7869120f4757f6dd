//! Wallet passes: Apple Wallet's signed passes and the development material to sign them
//! with when no certificate is configured. The web service devices call is in
//! `routes::passkit`.

pub mod apple;
pub mod dev_certs;
