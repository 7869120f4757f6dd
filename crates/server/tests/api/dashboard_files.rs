//! The built dashboard as the server sends it: the precompressed file for a browser that
//! accepts it (brotli first, then gzip), as it is and with the original's type; the plain
//! file otherwise; immutable caching for hashed names only; every other path the app's
//! index, never a file outside the dashboard.

use std::path::PathBuf;
use std::sync::OnceLock;

use loyalcast::config::Config;
use reqwest::StatusCode;

use crate::db_tests;
use crate::helpers::TestApp;

db_tests!(
    config = crate::dashboard_files::with_dashboard;
    precompressed_assets_are_sent_as_built,
);

const WASM: &str = "loyalcast-frontend-0123456789abcdef_bg.wasm";

/// A built dashboard of three files, the wasm with both precompressed forms and the index
/// with none (the contents say which file was sent).
fn dashboard() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "loyalcast-dashboard-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<div id=\"boot\">index</div>").unwrap();
        std::fs::write(dir.join(WASM), "plain wasm bytes").unwrap();
        std::fs::write(dir.join(format!("{WASM}.br")), "brotli bytes").unwrap();
        std::fs::write(dir.join(format!("{WASM}.gz")), "gzip bytes").unwrap();
        dir
    })
}

pub(crate) fn with_dashboard(config: &mut Config) {
    config.spa_dir = dashboard().clone();
}

async fn precompressed_assets_are_sent_as_built(app: &TestApp) {
    // Built without reqwest's decompression: the bytes as they came.
    let client = reqwest::Client::new();
    let get = |path: &str, accept: &str| {
        let request = client
            .get(app.url(path))
            .header("accept-encoding", accept)
            .send();
        async move {
            let answer = request.await.unwrap();
            let header = |name: &str| {
                answer
                    .headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let head = (
                answer.status(),
                header("content-encoding"),
                header("content-type"),
                header("vary"),
                header("cache-control"),
            );
            (head, answer.text().await.unwrap())
        }
    };
    let path = format!("/{WASM}");
    let ((status, encoding, kind, vary, cache), body) = get(&path, "gzip, deflate, br").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (encoding.as_deref(), body.as_str()),
        (Some("br"), "brotli bytes"),
        "the brotli file, as built"
    );
    assert_eq!(kind.as_deref(), Some("application/wasm"));
    assert_eq!(vary.as_deref(), Some("accept-encoding"));
    assert_eq!(
        cache.as_deref(),
        Some("public, max-age=31536000, immutable")
    );

    let ((_, encoding, kind, _, _), body) = get(&path, "gzip").await;
    assert_eq!(
        (encoding.as_deref(), body.as_str()),
        (Some("gzip"), "gzip bytes")
    );
    assert_eq!(kind.as_deref(), Some("application/wasm"));
    let ((_, encoding, _, vary, _), body) = get(&path, "br;q=0, identity").await;
    assert_eq!((encoding, body.as_str()), (None, "plain wasm bytes"));
    assert_eq!(
        vary.as_deref(),
        Some("accept-encoding"),
        "caches must keep the forms apart"
    );

    // Client-side routes and anything outside the dashboard: the index, revalidated.
    for other in ["/mailings/history", "/", "/%2e%2e/Cargo.toml", "/.hidden"] {
        let ((status, _, kind, _, cache), body) = get(other, "identity").await;
        assert_eq!(status, StatusCode::OK, "{other}");
        assert_eq!(body, "<div id=\"boot\">index</div>", "{other}");
        assert!(kind.unwrap().starts_with("text/html"));
        assert_eq!(cache.as_deref(), Some("no-cache"));
    }
}
