//! The Loyalcast dashboard, mounted into `<body>`.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(loyalcast_frontend::App);
    // The loader of index.html has done its work once the app is on screen.
    if let Some(boot) = leptos::prelude::document().get_element_by_id("boot") {
        boot.remove();
    }
}
