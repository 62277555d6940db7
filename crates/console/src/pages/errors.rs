//! Error pages. An error leaves a handler as a bare [`ConsoleError`] response; on
//! the way out this middleware turns it into a page that says what happened and
//! what to do, inside the normal layout (navigation, tenant switcher, sign-out)
//! when the person is signed in, with the request id for a 5xx. A request without
//! a session is sent to sign in. The API keeps its JSON errors.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpResponse};
use askama::Template;

use super::{Layout, redirect};
use crate::auth::CurrentUser;
use crate::error::ConsoleError;
use crate::web::RequestId;

#[derive(Template)]
#[template(path = "console/error.html")]
struct SignedInError<'a> {
    layout: Layout,
    title: &'a str,
    message: &'a str,
    advice: &'a str,
    request_id: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct SignedOutError<'a> {
    title: &'a str,
    message: &'a str,
    advice: &'a str,
    request_id: Option<&'a str>,
}

/// The heading and the advice for an error.
fn words(error: &ConsoleError) -> (&'static str, &'static str) {
    match error {
        ConsoleError::NotFound => (
            "Not found",
            "It may have been removed, or the address is mistyped. Pick a tenant below, or use the navigation above.",
        ),
        ConsoleError::Forbidden => (
            "Not allowed",
            "Your role in this tenant does not allow this. An owner or admin of the tenant can change your role.",
        ),
        ConsoleError::Csrf => (
            "The form expired",
            "Go back, reload the page and send the form again.",
        ),
        ConsoleError::Throttled => ("Too many attempts", "Wait a minute, then try again."),
        ConsoleError::Invalid(_) | ConsoleError::InvalidParam(..) => {
            ("That did not work", "Go back, correct it and try again.")
        }
        ConsoleError::Stripe(_) => (
            "Stripe did not answer as expected",
            "Nothing was lost: usage stays recorded and is sent on the next sync. Try again in a moment.",
        ),
        ConsoleError::SignedOut => ("Signed out", "Sign in to continue."),
        ConsoleError::Internal(_) => (
            "Something went wrong",
            "Try again in a moment. If it keeps happening, give the operator the request id below.",
        ),
    }
}

/// A sentence starts with a capital and ends with a full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_api = req.path() == "/api" || req.path().starts_with("/api/");
    let res = next.call(req).await?.map_into_boxed_body();
    if is_api {
        return Ok(res);
    }
    let Some(error) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ConsoleError>())
    else {
        return Ok(res);
    };
    let status = res.status();
    if matches!(error, ConsoleError::SignedOut) {
        let (req, _) = res.into_parts();
        return Ok(ServiceResponse::new(req, redirect("/signin")));
    }
    let (title, advice) = words(error);
    let mut message = sentence(&error.to_string());
    // "Not found" needs saying once: the heading says it already.
    if message.trim_end_matches('.').eq_ignore_ascii_case(title) {
        message.clear();
    }
    let code = error.code();
    let (req, _) = res.into_parts();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let request_id = status.is_server_error().then_some(request_id).flatten();
    let user = CurrentUser::extract(&req).await.ok();
    let html = match user {
        Some(user) => match crate::auth::state(&req).ok() {
            Some(state) => match error_layout(&state, &user, req.path()).await {
                Ok(layout) => SignedInError {
                    layout,
                    title,
                    message: &message,
                    advice,
                    request_id: request_id.as_deref(),
                }
                .render(),
                Err(_) => signed_out(title, &message, advice, request_id.as_deref()),
            },
            None => signed_out(title, &message, advice, request_id.as_deref()),
        },
        None => signed_out(title, &message, advice, request_id.as_deref()),
    };
    let mut response = HttpResponse::build(status);
    response.insert_header(("x-airlock-error-code", code));
    let response = match html {
        Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
        Err(_) => response
            .content_type("text/plain; charset=utf-8")
            .body(if message.is_empty() {
                title.to_owned()
            } else {
                message
            }),
    };
    Ok(ServiceResponse::new(req, response))
}

/// The layout of an error page: with the tenant's navigation when the path is
/// inside a tenant the person is a member of (a tenant they are not a member of
/// stays unnamed, like one that does not exist).
async fn error_layout(
    state: &crate::state::ConsoleState,
    user: &CurrentUser,
    path: &str,
) -> Result<Layout, ConsoleError> {
    let slug = path
        .strip_prefix("/t/")
        .and_then(|rest| rest.split('/').next())
        .filter(|slug| !slug.is_empty());
    let scope = match slug {
        Some(slug) => crate::tenant::TenantScope::check(state.db(), &user.user, slug)
            .await
            .ok(),
        None => None,
    };
    let mut layout = Layout::new(state, user, scope.as_ref()).await?;
    if let Some(current) = layout.current.as_mut() {
        current.section = super::section_of(path);
    }
    Ok(layout)
}

fn signed_out(
    title: &str,
    message: &str,
    advice: &str,
    request_id: Option<&str>,
) -> Result<String, askama::Error> {
    SignedOutError {
        title,
        message,
        advice,
        request_id,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(sentence("not found"), "Not found.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}
