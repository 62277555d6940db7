//! The console's one error type, for pages, the API and the CLI alike. Each
//! variant has a status and a stable code; the message is what a person may be
//! shown and never carries a secret. An internal failure keeps its cause for the
//! log, which the request boundary writes once, with the request id
//! (`web::request_span`); the person sees only that something went wrong.
//!
//! How an error looks is decided by its reader: the pages wrap it in the error
//! page (`pages::errors`), the API in the relay's JSON error shape (`api`), the
//! CLI prints it. This module renders nothing, so it depends on neither.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// What went wrong inside, kept for the log only.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session (a page sends the browser to sign in) or API token.
    #[error("sign in to continue")]
    SignedOut,
    #[error("the form expired or did not come from this console; reload the page and try again")]
    Csrf,
    #[error("your role does not allow this")]
    Forbidden,
    /// Also what a tenant you are not a member of looks like, so ids of other
    /// tenants cannot be probed.
    #[error("not found")]
    NotFound,
    /// Input that cannot be accepted, with what to do about it.
    #[error("{0}")]
    Invalid(String),
    /// Input that cannot be accepted in one named parameter (the API returns the
    /// name as `param`).
    #[error("{1}")]
    InvalidParam(&'static str, String),
    /// Stripe refused a call or could not be reached; the message is Stripe's (or
    /// says it was unreachable), never a secret.
    #[error("{0}")]
    Stripe(String),
    #[error("too many attempts; wait a minute and try again")]
    Throttled,
    #[error("something went wrong on our side")]
    Internal(#[source] Cause),
}

impl ConsoleError {
    /// The stable code clients and tests match on.
    pub fn code(&self) -> &'static str {
        match self {
            ConsoleError::SignedOut => "unauthenticated",
            ConsoleError::Csrf => "csrf_failed",
            ConsoleError::Forbidden => "forbidden",
            ConsoleError::NotFound => "not_found",
            ConsoleError::Invalid(_) | ConsoleError::InvalidParam(..) => "invalid_request",
            ConsoleError::Stripe(_) => "stripe_error",
            ConsoleError::Throttled => "rate_limit_exceeded",
            ConsoleError::Internal(_) => "internal_error",
        }
    }

    /// An internal failure with this cause.
    pub fn internal(cause: impl Into<Cause>) -> ConsoleError {
        ConsoleError::Internal(cause.into())
    }

    /// The message with its causes, for the log (never shown).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

impl From<sea_orm::DbErr> for ConsoleError {
    fn from(e: sea_orm::DbErr) -> Self {
        ConsoleError::internal(e)
    }
}

impl From<sea_orm::TransactionError<ConsoleError>> for ConsoleError {
    fn from(e: sea_orm::TransactionError<ConsoleError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::internal(e)
    }
}

/// The bare response: status, code header and the public message. Pages and the
/// API replace the body with their own shape; this is what is left if neither
/// does (and what a test of the status sees).
impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignedOut => StatusCode::UNAUTHORIZED,
            ConsoleError::Csrf | ConsoleError::Forbidden => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Invalid(_) | ConsoleError::InvalidParam(..) => StatusCode::BAD_REQUEST,
            ConsoleError::Stripe(_) => StatusCode::BAD_GATEWAY,
            ConsoleError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header(("x-airlock-error-code", self.code()))
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_shows_nothing_of_its_cause_but_logs_it() {
        let error = ConsoleError::internal(sea_orm::DbErr::Custom("relation x is gone".into()));
        assert_eq!(error.to_string(), "something went wrong on our side");
        assert!(error.chain().contains("relation x is gone"));
        assert_eq!(error.code(), "internal_error");
    }
}
