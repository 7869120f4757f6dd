//! The one error type clients see, rendered as RFC 9457 `application/problem+json` in one
//! place. Internal causes are logged with context and never reach the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use loyalcast_domain::FieldErrors;
use loyalcast_dto::{FieldError, Problem};
use sea_orm::DbErr;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// An API key without the scope a route needs: a 403 that names the scope.
    #[error("the API key lacks the scope {0}")]
    MissingScope(loyalcast_dto::Scope),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A value another record already holds (a phone, an email, a name): a conflict with
    /// what is stored, not a malformed field, so a 409 that names the fields.
    #[error("already taken")]
    Taken(Vec<FieldError>),
    /// A consent the customer withdrew themselves, which only they can give again: a 409
    /// that names the fields (`consent.sms`, ...).
    #[error("the customer opted out")]
    OptedOut(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    /// The server is too busy for this (every password-hashing slot stayed taken): a 503
    /// with `Retry-After`.
    #[error("overloaded")]
    Overloaded { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("insufficient credits: {0}")]
    InsufficientCredits(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    /// A conflict on one field: another record already holds this value.
    pub fn taken(field: &str, message: impl Into<String>) -> Self {
        ApiError::Taken(vec![FieldError {
            field: field.to_owned(),
            code: "taken".to_owned(),
            message: message.into(),
        }])
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) | ApiError::MissingScope(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Taken(_) => "taken",
            ApiError::OptedOut(_) => "opted-out",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::InsufficientCredits(_) => "insufficient-credits",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "Some fields are invalid",
            ApiError::BadRequest(_) => "The request could not be read",
            ApiError::Unauthorized(_) => "Sign-in required",
            ApiError::Forbidden(_) | ApiError::MissingScope(_) => "Not allowed",
            ApiError::NotFound => "Not found",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Taken(_) => "Already taken",
            ApiError::OptedOut(_) => "The customer opted out",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::Overloaded { .. } => "Server busy",
            ApiError::PayloadTooLarge(_) => "Request too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::InsufficientCredits(_) => "Not enough credits",
            ApiError::Internal(_) => "Internal error",
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            ApiError::Validation(errors) | ApiError::Taken(errors) | ApiError::OptedOut(errors) => {
                Some(match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    many => format!("{} fields are invalid", many.len()),
                })
            }
            ApiError::BadRequest(d)
            | ApiError::Conflict(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::Unavailable(d)
            | ApiError::InsufficientCredits(d) => Some(d.clone()),
            ApiError::TooManyRequests { detail, .. } => Some(detail.clone()),
            ApiError::Overloaded { .. } => {
                Some("The server is busy checking other passwords; try again shortly.".to_owned())
            }
            ApiError::Unauthorized(d) | ApiError::Forbidden(d) => Some((*d).to_owned()),
            ApiError::MissingScope(scope) => Some(format!(
                "This API key lacks the `{scope}` scope; create a key that has it."
            )),
            ApiError::NotFound => Some("No such resource.".to_owned()),
            ApiError::MethodNotAllowed => {
                Some("This resource does not accept that method.".to_owned())
            }
            ApiError::Internal(_) => {
                Some("Something went wrong on our side; it has been logged.".to_owned())
            }
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://loyalcast.dev/problems/{}", self.slug()),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors)
                | ApiError::Taken(errors)
                | ApiError::OptedOut(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::MissingScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Taken(_) | ApiError::OptedOut(_) => {
                StatusCode::CONFLICT
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientCredits(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %loggable(cause.as_ref()), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            }
            | ApiError::Overloaded { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        let body = serde_json::to_string(&self.problem()).unwrap_or_default();
        response.body(body)
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ApiError::Internal(anyhow::Error::new(err).context("database"))
    }
}

impl From<crate::engine::error::EngineError> for ApiError {
    fn from(err: crate::engine::error::EngineError) -> Self {
        use crate::engine::error::EngineError;
        match err {
            EngineError::InsufficientCredits {
                kind,
                needed,
                available,
            } => ApiError::InsufficientCredits(format!(
                "This needs {} {} credits; {} are available. Buy more credits or narrow the audience.",
                crate::engine::credits::thousands(needed),
                if kind == "sms" { "SMS" } else { kind },
                crate::engine::credits::thousands(available)
            )),
            EngineError::Missing(_) => ApiError::NotFound,
            EngineError::Database(db) => ApiError::from(db),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Validation(errors.0)
    }
}

/// An error and its causes as they may be logged: each cause's message, but a database
/// error (and everything below it) only as [`crate::db::describe_error`] tells it, so that no
/// value of a row reaches the log.
pub fn loggable(cause: &(dyn std::error::Error + 'static)) -> String {
    use crate::engine::error::EngineError;
    let mut parts = Vec::new();
    let mut next = Some(cause);
    while let Some(link) = next {
        next = link.source();
        if let Some(db) = link.downcast_ref::<DbErr>() {
            parts.push(crate::db::describe_error(db));
            break;
        }
        match link.downcast_ref::<EngineError>() {
            Some(EngineError::Database(db)) => {
                parts.push(format!("database: {}", crate::db::describe_error(db)));
                break;
            }
            // Its message is its cause's whole chain: tell the chain link by link instead.
            Some(EngineError::Other(_)) => continue,
            _ => parts.push(link.to_string()),
        }
    }
    parts.join(": ")
}

/// Whether a database error is a unique-constraint violation (a duplicate).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Whether a database error is a foreign-key violation (something still refers to it).
pub fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
    )
}
