//! Sign-up, sign-in and sign-out.

use actix_web::{HttpRequest, HttpResponse, web};
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
    status: actix_web::http::StatusCode,
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
    pre_session_page(&req, actix_web::http::StatusCode::OK, |csrf| {
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

pub async fn signin(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: PreSessionForm<SignInForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.form;
    let email = form.email.trim().to_lowercase();
    let again = |error: &str| {
        pre_session_page(&req, actix_web::http::StatusCode::UNAUTHORIZED, |csrf| {
            SignInPage {
                csrf,
                email: &email,
                error: Some(error),
            }
            .render()
        })
    };
    if !state
        .throttle
        .allow(&email, req.peer_addr().map(|a| a.ip()))
    {
        let mut response = again(&ConsoleError::Throttled.to_string())?;
        *response.status_mut() = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(response);
    }
    let user = ops::find_user(&state.db, &email).await.ok();
    let hash = user
        .as_ref()
        .map_or_else(|| state.decoy_hash.clone(), |u| u.password_hash.clone());
    let password_ok = verify_password(SecretString::from(form.password), hash).await;
    let Some(user) = user.filter(|u| password_ok && !u.disabled) else {
        return again(BAD_CREDENTIALS);
    };
    let (token, _) = state
        .sessions
        .issue(user.id, user.session_version)
        .map_err(|_| ConsoleError::Internal)?;
    tracing::info!(user_id = %user.id, "signed in");
    Ok(HttpResponse::SeeOther()
        .cookie(session_cookie(token))
        .insert_header(("location", "/tenants"))
        .finish())
}

pub async fn signup_page(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    pre_session_page(&req, actix_web::http::StatusCode::OK, |csrf| {
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
    let again = |error: &str| {
        pre_session_page(&req, actix_web::http::StatusCode::BAD_REQUEST, |csrf| {
            SignUpPage {
                csrf,
                email: form.email.trim(),
                name: form.name.trim(),
                error: Some(error),
            }
            .render()
        })
    };
    if form.name.trim().is_empty() || form.name.len() > 100 {
        return again("Tell us your name (up to 100 characters).");
    }
    if ops::find_user(&state.db, &form.email).await.is_ok() {
        // Saying so leaks that the address has an account; sign-up has to, and
        // sign-in does not.
        return again("An account with this email already exists; sign in instead.");
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
        Err(ops::OpsError::Invalid(message)) => return again(&message),
        Err(ops::OpsError::Password(e)) => return again(&e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let (token, _) = state
        .sessions
        .issue(user.id, user.session_version)
        .map_err(|_| ConsoleError::Internal)?;
    Ok(HttpResponse::SeeOther()
        .cookie(session_cookie(token))
        .insert_header(("location", "/tenants"))
        .finish())
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
    Ok(HttpResponse::SeeOther()
        .cookie(cleared_session_cookie())
        .insert_header(("location", "/signin"))
        .finish())
}

pub async fn home(user: Result<CurrentUser, ConsoleError>) -> HttpResponse {
    match user {
        Ok(_) => redirect("/tenants"),
        Err(_) => redirect("/signin"),
    }
}
