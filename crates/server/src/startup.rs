//! Building the HTTP application: the API under `/api/v1`, the OpenAPI document and its
//! offline docs UI, health probes, and the single-page app with its fallback.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::error::{PathError, QueryPayloadError, UrlencodedError};
use actix_web::{HttpMessage, HttpServer, web};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::ApiError;
use crate::feed::listener::Feed;
use crate::openapi::ApiDoc;
use crate::routes;
use crate::state::AppState;

/// A running server and the port it bound (tests bind port 0).
pub struct Application {
    port: u16,
    server: Server,
    feed: Feed,
    /// Dropped with the application, which ends its key refresh.
    _keys_stop: tokio::sync::watch::Sender<bool>,
    passwords: Arc<crate::auth::password::Passwords>,
}

impl Application {
    pub fn build(
        config: Arc<Config>,
        db: DatabaseConnection,
        keys: &crate::keys::Keys,
    ) -> anyhow::Result<Self> {
        Self::build_with_clock(config, db, keys, crate::clock::system())
    }

    /// [`Application::build`] going by `clock` (tests move a manual one on). It starts this
    /// process's listener on the change feed, which the server's streams read.
    pub fn build_with_clock(
        config: Arc<Config>,
        db: DatabaseConnection,
        keys: &crate::keys::Keys,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
        let feed = Feed::start(db.clone());
        let state = web::Data::new(AppState::new(
            db,
            config.clone(),
            keys,
            clock.clone(),
            feed.clone(),
        )?);
        // The keys as the database has them, read again now and then: a rotation reaches
        // this process within the activation time. Ends with the application.
        let (keys_stop, keys_stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::keys::refresh(
            state.db.clone(),
            config.clone(),
            clock,
            Some(state.jwt.clone()),
            state.links.clone(),
            keys_stopped,
        ));
        let passwords = state.passwords.clone();
        let spa_dir = config.spa_dir.clone();
        let max_body = config.max_import_bytes;
        let document = crate::openapi::document()?;
        let methods = web::Data::new(crate::templates::Methods::of(&document));
        // Every documented operation has its access rule, or the server does not start.
        let access = web::Data::new(crate::auth::access::Access::of(&document)?);
        let server = HttpServer::new(move || {
            let (app, _) = routes::app(ApiDoc::openapi()).split_for_parts();
            app.app_data(state.clone())
                .app_data(methods.clone())
                .app_data(access.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(
                    web::QueryConfig::default().error_handler(|err, _| query_error(err).into()),
                )
                .app_data(web::PathConfig::default().error_handler(|err, _| path_error(err).into()))
                .app_data(web::FormConfig::default().error_handler(|err, _| form_error(err).into()))
                .wrap(actix_web::middleware::from_fn(crate::auth::access::guard))
                .wrap(actix_web::middleware::from_fn(contain_panics))
                .wrap(actix_web::middleware::from_fn(refuse_undocumented_methods))
                .wrap(actix_web::middleware::Compress::default())
                .wrap(actix_web::middleware::from_fn(count_responses))
                .wrap(TracingLogger::default())
                .wrap(actix_web::middleware::from_fn(hide_stream_tickets))
                .service(
                    SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", document.clone()),
                )
                .service(web::scope("/api").default_service(web::to(routes::not_found)))
                .service(crate::spa::service(spa_dir.clone()))
        })
        .listen(listener)?
        .shutdown_timeout(30)
        // The process decides when to stop (see `run_until`): actix's own handler would stop
        // the runtime too, before the worker has settled and said goodbye.
        .disable_signals()
        .run();
        Ok(Application {
            port,
            server,
            feed,
            _keys_stop: keys_stop,
            passwords,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// This server's password work (how many argon2 runs it started, for tests).
    pub fn passwords(&self) -> Arc<crate::auth::password::Passwords> {
        self.passwords.clone()
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then ends the change streams (which would otherwise
    /// hold the graceful drain open until its timeout) and drains the requests in flight.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            served = &mut server => {
                self.feed.stop();
                return served.unwrap_or_else(|e| Err(std::io::Error::other(e)));
            }
            _ = stop => {}
        }
        self.feed.stop();
        handle.stop(true).await;
        server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not when it is first
/// awaited, so a signal that comes while the process is still starting is not lost (nor does
/// it kill the process before it can say goodbye).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate())
            .ok()
            .zip(signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut interrupt)) = handlers {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A stream ticket in a URL (`?ticket=`, as `EventSource` has to send it), taken out of the
/// URL before the request logger or anything after it sees the URL, and handed to the handler
/// in the request's extensions.
#[derive(Debug, Clone)]
pub struct StreamTicket(pub String);

async fn hide_stream_tickets(
    mut req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let split = req.uri().query().and_then(|query| {
        let (tickets, rest): (Vec<&str>, Vec<&str>) = query
            .split('&')
            .partition(|part| part.split('=').next() == Some("ticket"));
        let ticket = tickets.first().map(|part| {
            let value = part.split_once('=').map(|(_, v)| v).unwrap_or("");
            web::Query::<std::collections::HashMap<String, String>>::from_query(&format!(
                "t={value}"
            ))
            .ok()
            .and_then(|q| q.get("t").cloned())
            .unwrap_or_default()
        })?;
        Some((ticket, rest.join("&")))
    });
    if let Some((ticket, rest)) = split {
        let path = req.uri().path().to_owned();
        let bare = if rest.is_empty() {
            path
        } else {
            format!("{path}?{rest}")
        };
        match bare.parse::<actix_web::http::Uri>() {
            Ok(uri) => req.head_mut().uri = uri,
            // Cannot happen (a part of a valid URI is one); refuse rather than log the secret.
            Err(_) => {
                return Err(
                    ApiError::BadRequest("The query string does not fit.".to_owned()).into(),
                );
            }
        }
        req.extensions_mut().insert(StreamTicket(ticket));
    }
    next.call(req).await
}

async fn count_responses(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let response = next.call(req).await;
    let status = match &response {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    crate::counters::record_response(status.as_u16());
    response
}

/// A method the document does not list for a path it does list is a 405 naming the methods
/// it takes, rather than whatever the single-page app's fallback would make of it.
async fn refuse_undocumented_methods(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl actix_web::body::MessageBody>>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<crate::templates::Methods>>()
        .and_then(|methods| methods.refuses(req.method().as_str(), req.match_info().as_str()));
    match refused {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(allowed) => {
            let mut response =
                actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// A panic anywhere below (a handler, an extractor, a database driver called from one)
/// becomes a logged 500 problem for that one request, instead of a dropped connection and a
/// dead worker thread. It answers through actix's error path, which renders `ApiError`.
async fn contain_panics(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use futures::FutureExt;
    let route = format!("{} {}", req.method(), req.path());
    match std::panic::AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(
                ApiError::Internal(anyhow::anyhow!("panic while answering {route}: {message}"))
                    .into(),
            )
        }
    }
}

fn form_error(err: UrlencodedError) -> ApiError {
    match err {
        UrlencodedError::Overflow { .. } | UrlencodedError::UnknownLength => {
            ApiError::PayloadTooLarge("The form body is too large.".to_owned())
        }
        UrlencodedError::ContentType => ApiError::UnsupportedMediaType(
            "Send the body as application/x-www-form-urlencoded.".to_owned(),
        ),
        other => ApiError::BadRequest(format!("The form body could not be read: {other}")),
    }
}

fn query_error(err: QueryPayloadError) -> ApiError {
    ApiError::BadRequest(format!("The query string does not fit: {err}"))
}

fn path_error(_: PathError) -> ApiError {
    // A malformed id names nothing that exists.
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpServer, web};

    #[actix_web::test]
    #[allow(clippy::unwrap_used)]
    async fn a_panicking_handler_answers_a_500_problem_and_the_server_keeps_serving() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(|| {
            App::new()
                .wrap(actix_web::middleware::from_fn(super::contain_panics))
                .route(
                    "/boom",
                    web::get().to(|req: actix_web::HttpRequest| async move {
                        // What a driver does with a value it cannot bind.
                        let page: i64 = req.path().len().try_into().unwrap_or(i64::MAX);
                        if page > 0 {
                            panic!("a bug");
                        }
                        "unreachable"
                    }),
                )
                .route("/fine", web::get().to(|| async { "fine" }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let response = client.get(format!("{address}/boom")).send().await.unwrap();
            assert_eq!(response.status(), 500);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body = response.text().await.unwrap();
            let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["status"], 500);
            assert!(
                !body.contains("a bug"),
                "the cause stays in the log: {body}"
            );
        }
        // One worker thread served every panic above and still answers.
        let response = client.get(format!("{address}/fine")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        handle.stop(true).await;
    }

    #[actix_web::test]
    #[allow(clippy::unwrap_used)]
    async fn a_stream_ticket_is_taken_out_of_the_url_before_anything_logs_it() {
        use actix_web::{HttpMessage, HttpRequest, test};
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(super::hide_stream_tickets))
                .route(
                    "/s",
                    web::get().to(|req: HttpRequest| async move {
                        let ticket = req
                            .extensions()
                            .get::<super::StreamTicket>()
                            .map(|t| t.0.clone())
                            .unwrap_or_default();
                        format!("{}|{}|{ticket}", req.uri(), req.query_string())
                    }),
                ),
        )
        .await;
        let answer = |uri: &'static str| {
            let app = &app;
            async move {
                let response =
                    test::call_service(app, test::TestRequest::get().uri(uri).to_request()).await;
                String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
            }
        };
        assert_eq!(
            answer("/s?ticket=st_abc&last_event_id=4").await,
            "/s?last_event_id=4|last_event_id=4|st_abc"
        );
        assert_eq!(
            answer("/s?last_event_id=4&ticket=st%5Fabc").await,
            "/s?last_event_id=4|last_event_id=4|st_abc"
        );
        assert_eq!(answer("/s?ticket=one&ticket=two").await, "/s||one");
        assert_eq!(answer("/s?tickets=x").await, "/s?tickets=x|tickets=x|");
    }
}
