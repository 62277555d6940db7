//! Console errors: a page for browsers, the relay's JSON error shape for the API.
//! Messages never carry a secret; database errors are logged, not shown.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::ops::OpsError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session: the browser is sent to the sign-in page.
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
    #[error("{0}")]
    Invalid(String),
    #[error("too many attempts; wait a minute and try again")]
    Throttled,
    #[error("something went wrong on our side")]
    Internal,
}

impl ConsoleError {
    pub fn code(&self) -> &'static str {
        match self {
            ConsoleError::SignedOut => "unauthenticated",
            ConsoleError::Csrf => "csrf_failed",
            ConsoleError::Forbidden => "forbidden",
            ConsoleError::NotFound => "not_found",
            ConsoleError::Invalid(_) => "invalid_request",
            ConsoleError::Throttled => "rate_limit_exceeded",
            ConsoleError::Internal => "internal_error",
        }
    }
}

impl From<sea_orm::DbErr> for ConsoleError {
    fn from(e: sea_orm::DbErr) -> Self {
        tracing::error!(error = %e, "console database error");
        ConsoleError::Internal
    }
}

impl From<OpsError> for ConsoleError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Db(e) => e.into(),
            OpsError::UnknownKey(_) | OpsError::UnknownTenant(_) | OpsError::UnknownUser(_) => {
                ConsoleError::NotFound
            }
            OpsError::Invalid(message) => ConsoleError::Invalid(message),
            OpsError::Password(e) => ConsoleError::Invalid(e.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignedOut => StatusCode::UNAUTHORIZED,
            ConsoleError::Csrf | ConsoleError::Forbidden => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if matches!(self, ConsoleError::SignedOut) {
            // A page request without a session goes to the sign-in page.
            return crate::pages::redirect("/signin");
        }
        let message = self.to_string();
        let page = ErrorPage {
            status: status.as_u16(),
            message: &message,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header(("x-airlock-error-code", self.code()));
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(_) => response.body(message),
        }
    }
}
