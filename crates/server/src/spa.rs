//! The built dashboard (`spa_dir`): its files as they are, and `index.html` for every other
//! path, so that client-side routes survive a reload.
//!
//! The build (`make frontend`) writes `NAME.br` and `NAME.gz` beside each text asset
//! (`frontend/precompress.mjs`). A browser that accepts brotli (or gzip) is sent that file as
//! it is, with `Content-Encoding` set, so the compression middleware leaves it alone and no
//! request compresses the wasm again; without them (a development build) the middleware
//! compresses as for any response.

use std::path::{Component, Path, PathBuf};

use actix_files::NamedFile;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::Method;
use actix_web::http::header::{self, ContentEncoding, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

/// The dashboard's files under `/`, with their cache headers.
pub fn service(dir: PathBuf) -> impl actix_web::dev::HttpServiceFactory + 'static {
    let files = fn_service(move |req: ServiceRequest| {
        let dir = dir.clone();
        async move {
            let (req, _) = req.into_parts();
            let response = serve(&dir, &req).await;
            Ok(ServiceResponse::new(req, response))
        }
    });
    web::scope("")
        .default_service(files)
        .wrap(actix_web::middleware::from_fn(cache_headers))
}

/// The precompressed forms a file may have beside it, best first.
const PRECOMPRESSED: [(&str, &str, ContentEncoding); 2] = [
    ("br", "br", ContentEncoding::Brotli),
    ("gzip", "gz", ContentEncoding::Gzip),
];

async fn serve(dir: &Path, req: &HttpRequest) -> HttpResponse {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .finish();
    }
    let file = match within(dir, req.path()) {
        Some(file) if file.is_file() => file,
        _ => dir.join("index.html"),
    };
    let accepted = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = actix_files::file_extension_to_mime(
        file.extension().and_then(|e| e.to_str()).unwrap_or(""),
    );
    let mut has_variants = false;
    for (coding, extension, encoding) in PRECOMPRESSED {
        let variant = PathBuf::from(format!("{}.{extension}", file.display()));
        if !variant.is_file() {
            continue;
        }
        has_variants = true;
        if !accepts(accepted, coding) {
            continue;
        }
        if let Ok(found) = NamedFile::open_async(&variant).await {
            let mut response = found
                .set_content_type(mime.clone())
                .set_content_encoding(encoding)
                .disable_content_disposition()
                .into_response(req);
            vary(&mut response);
            return response;
        }
    }
    match NamedFile::open_async(&file).await {
        Ok(found) => {
            let mut response = found
                .set_content_type(mime)
                .disable_content_disposition()
                .into_response(req);
            if has_variants {
                vary(&mut response);
            }
            response
        }
        Err(_) => frontend_missing(req),
    }
}

fn vary(response: &mut HttpResponse) {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
}

/// The file `path` names inside `dir`: only plain names (no `..`, no hidden files), so a
/// request cannot reach outside the dashboard.
fn within(dir: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    let mut resolved = dir.to_path_buf();
    for part in relative.components() {
        match part {
            Component::Normal(name) if !name.to_string_lossy().starts_with('.') => {
                resolved.push(name)
            }
            _ => return None,
        }
    }
    Some(resolved)
}

/// Whether an `Accept-Encoding` value accepts `coding` (named, or `*`, with a weight above 0).
fn accepts(header: &str, coding: &str) -> bool {
    let mut named = None;
    let mut any = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name == coding {
            named = Some(weight > 0.0);
        } else if name == "*" {
            any = Some(weight > 0.0);
        }
    }
    named.or(any).unwrap_or(false)
}

/// Trunk names built assets with a content hash (`app-1a2b3c….wasm`): those never change and
/// may be cached for a year; everything else (index.html above all) is revalidated.
async fn cache_headers(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let hashed = is_hashed_asset(req.path());
    let mut response = next.call(req).await?;
    let value = if hashed && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static(value),
    );
    Ok(response)
}

fn is_hashed_asset(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let hash = stem.rsplit_once('-').map(|(_, h)| h).unwrap_or("");
    matches!(ext, "wasm" | "js" | "css" | "svg" | "png")
        && hash.len() >= 12
        && hash.chars().all(|c| c.is_ascii_hexdigit())
}

fn frontend_missing(_: &HttpRequest) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><title>Loyalcast</title><p>The dashboard has not been built. \
             Run <code>make run</code>, or set <code>LOYALCAST_SPA_DIR</code> to a built \
             <code>frontend/dist</code>. The API is at <a href=\"/api/docs/\">/api/docs/</a>.</p>",
        )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn only_content_hashed_assets_are_immutable() {
        assert!(super::is_hashed_asset(
            "/loyalcast-frontend-3f2a9c1d8e7b6a5f_bg.wasm"
        ));
        assert!(super::is_hashed_asset("/favicon-9ed6e50e5148a85.svg"));
        assert!(!super::is_hashed_asset("/loyalcast-frontend-notahash.js"));
        assert!(super::is_hashed_asset(
            "/loyalcast-frontend-3f2a9c1d8e7b6a5f.js"
        ));
        assert!(super::is_hashed_asset("/style-0123456789abcdef.css"));
        assert!(!super::is_hashed_asset("/index.html"));
        assert!(!super::is_hashed_asset("/mailings/history"));
        assert!(!super::is_hashed_asset("/favicon.svg"));
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(super::accepts("gzip, deflate, br, zstd", "br"));
        assert!(super::accepts("gzip;q=0.5, br;q=1.0", "gzip"));
        assert!(!super::accepts("gzip, br;q=0", "br"));
        assert!(super::accepts("*", "br"));
        assert!(!super::accepts("*, br;q=0", "br"));
        assert!(!super::accepts("", "gzip"));
        assert!(!super::accepts("identity", "gzip"));
    }

    #[test]
    fn only_names_inside_the_dashboard_resolve() {
        let dir = Path::new("/srv/dist");
        assert_eq!(
            super::within(dir, "/app-0123456789ab.wasm"),
            Some(dir.join("app-0123456789ab.wasm"))
        );
        assert_eq!(
            super::within(dir, "/mailings/history"),
            Some(dir.join("mailings").join("history"))
        );
        assert_eq!(super::within(dir, "/"), Some(dir.to_path_buf()));
        assert_eq!(super::within(dir, "/../etc/passwd"), None);
        assert_eq!(super::within(dir, "/a/../../etc/passwd"), None);
        assert_eq!(super::within(dir, "/.env"), None);
    }
}
