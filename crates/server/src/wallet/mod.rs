//! Wallet passes: Apple Wallet's signed passes, the development material to sign them with
//! when no certificate is configured, and the APNs notifications that wake devices to fetch
//! them, Google Wallet's messages and save links, and web push to browsers. The web service
//! devices call is in
//! `routes::passkit`.

pub mod apns;
pub mod apple;
pub mod dev_certs;
pub mod google;
pub mod webpush;
