//! Sign-up, sign-in and sign-out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use airlock_schema::entities::user;
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::redirect;
use crate::auth::{CurrentUser, PreSessionForm, pre_session_csrf};
use crate::error::ConsoleError;
use crate::ops;
use crate::password::verify_password;
use crate::session::{cleared_session_cookie, session_cookie};
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/signup.html")]
struct SignUpPage<'a> {
    csrf: &'a str,
    email: &'a str,
    name: &'a str,
    error: Option<&'a str>,
}

/// Renders a pre-session page, setting the CSRF cookie when the browser has none.
fn pre_session_page(
    req: &HttpRequest,
    status: StatusCode,
    page: impl FnOnce(&str) -> Result<String, askama::Error>,
) -> Result<HttpResponse, ConsoleError> {
    let (csrf, cookie) = pre_session_csrf(req);
    let html = page(&csrf).map_err(|_| ConsoleError::Internal)?;
    let mut response = HttpResponse::build(status);
    if let Some(cookie) = cookie {
        response.cookie(cookie);
    }
    Ok(response.content_type("text/html; charset=utf-8").body(html))
}

pub async fn signin_page(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    pre_session_page(&req, StatusCode::OK, |csrf| {
        SignInPage {
            csrf,
            email: "",
            error: None,
        }
        .render()
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
}

/// The same answer, after the same Argon2 work, whether or not the email exists.
const BAD_CREDENTIALS: &str = "That email and password do not match an account.";

/// A signed-in browser: the session cookie, then on to the tenants page.
fn start_session(state: &ConsoleState, user: &user::Model) -> Result<HttpResponse, ConsoleError> {
    let (token, _) = state
        .sessions
        .issue(user.id, user.session_version)
        .map_err(|_| ConsoleError::Internal)?;
    let mut response = redirect("/tenants");
    response
        .add_cookie(&session_cookie(token))
        .map_err(|_| ConsoleError::Internal)?;
    Ok(response)
}

/// Sign-in and sign-up share the throttle: both cost an Argon2 hash, and sign-up
/// says whether an address has an account.
fn throttled(req: &HttpRequest, state: &ConsoleState, email: &str) -> bool {
    !state.throttle.allow(email, req.peer_addr().map(|a| a.ip()))
}

pub async fn signin(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: PreSessionForm<SignInForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.form;
    let email = form.email.trim().to_lowercase();
    let again = |status: StatusCode, error: &str| {
        pre_session_page(&req, status, |csrf| {
            SignInPage {
                csrf,
                email: &email,
                error: Some(error),
            }
            .render()
        })
    };
    if throttled(&req, &state, &email) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            &ConsoleError::Throttled.to_string(),
        );
    }
    let user = ops::find_user(&state.db, &email).await.ok();
    let hash = user
        .as_ref()
        .map_or_else(|| state.decoy_hash.clone(), |u| u.password_hash.clone());
    let password_ok = verify_password(SecretString::from(form.password), hash).await;
    let Some(user) = user.filter(|u| password_ok && !u.disabled) else {
        return again(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS);
    };
    tracing::info!(user_id = %user.id, "signed in");
    start_session(&state, &user)
}

pub async fn signup_page(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    pre_session_page(&req, StatusCode::OK, |csrf| {
        SignUpPage {
            csrf,
            email: "",
            name: "",
            error: None,
        }
        .render()
    })
}

#[derive(Deserialize)]
pub struct SignUpForm {
    email: String,
    name: String,
    password: String,
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: PreSessionForm<SignUpForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.form;
    let again = |status: StatusCode, error: &str| {
        pre_session_page(&req, status, |csrf| {
            SignUpPage {
                csrf,
                email: form.email.trim(),
                name: form.name.trim(),
                error: Some(error),
            }
            .render()
        })
    };
    let bad = StatusCode::BAD_REQUEST;
    if throttled(&req, &state, &form.email.trim().to_lowercase()) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            &ConsoleError::Throttled.to_string(),
        );
    }
    if form.name.trim().is_empty() || form.name.len() > 100 {
        return again(bad, "Tell us your name (up to 100 characters).");
    }
    if ops::find_user(&state.db, &form.email).await.is_ok() {
        // Saying so leaks that the address has an account; sign-up has to, and
        // sign-in does not.
        return again(
            bad,
            "An account with this email already exists; sign in instead.",
        );
    }
    let user = match ops::create_user(
        &state.db,
        &form.email,
        form.name.trim(),
        SecretString::from(form.password.clone()),
    )
    .await
    {
        Ok(user) => user,
        Err(ops::OpsError::Invalid(message)) => return again(bad, &message),
        Err(ops::OpsError::Password(e)) => return again(bad, &e.to_string()),
        Err(e) => return Err(e.into()),
    };
    start_session(&state, &user)
}

/// Ends every session of the user: the session version moves on, so tokens issued
/// before (copied, stolen) stop working too.
pub async fn signout(
    state: web::Data<ConsoleState>,
    checked: crate::auth::Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    use sea_orm::ActiveModelTrait;
    use sea_orm::ActiveValue::Set;
    let user = checked.user.user;
    let next = user.session_version.wrapping_add(1);
    let mut active: airlock_schema::entities::user::ActiveModel = user.into();
    active.session_version = Set(next);
    active.updated_at = Set(chrono::Utc::now());
    active.update(&state.db).await?;
    let mut response = redirect("/signin");
    response
        .add_cookie(&cleared_session_cookie())
        .map_err(|_| ConsoleError::Internal)?;
    Ok(response)
}

pub async fn home(user: Result<CurrentUser, ConsoleError>) -> HttpResponse {
    match user {
        Ok(_) => redirect("/tenants"),
        Err(_) => redirect("/signin"),
    }
}
