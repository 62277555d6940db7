//! Sign-up (with a link that proves the address), sign-in, sign-out, and a
//! password reset by mailed link.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use airlock_schema::entities::user;
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::redirect;
use crate::accounts::{self, LinkPurpose, NewUser};
use crate::auth::{Checked, CurrentUser, PreSessionForm, pre_session_csrf};
use crate::error::ConsoleError;
use crate::password::verify_password;
use crate::session::{cleared_session_cookie, session_cookie};
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    allow_signup: bool,
}

#[derive(Template)]
#[template(path = "console/signup.html")]
struct SignUpPage<'a> {
    csrf: &'a str,
    email: &'a str,
    name: &'a str,
    error: Option<&'a str>,
    /// Sign-up is open (else: by invitation only).
    open: bool,
    /// The invitation that opens it, carried through the form.
    invite: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    /// A link shown on the page (only where mailing it is not needed for safety).
    link: Option<&'a str>,
    next: &'a str,
    next_label: &'a str,
}

#[derive(Template)]
#[template(path = "console/forgot.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    mail: bool,
}

#[derive(Template)]
#[template(path = "console/reset.html")]
struct ResetPage<'a> {
    csrf: &'a str,
    token: &'a str,
    error: Option<&'a str>,
}

/// Renders a pre-session page, setting the CSRF cookie when the browser has none.
fn pre_session_page(
    req: &HttpRequest,
    status: StatusCode,
    page: impl FnOnce(&str) -> Result<String, askama::Error>,
) -> Result<HttpResponse, ConsoleError> {
    let (csrf, cookie) = pre_session_csrf(req);
    let html = page(&csrf)?;
    let mut response = HttpResponse::build(status);
    if let Some(cookie) = cookie {
        response.cookie(cookie);
    }
    Ok(response.content_type("text/html; charset=utf-8").body(html))
}

fn message(
    title: &str,
    text: &str,
    link: Option<&str>,
    next: &str,
    next_label: &str,
) -> Result<HttpResponse, ConsoleError> {
    super::render(&MessagePage {
        title,
        message: text,
        link,
        next,
        next_label,
    })
}

fn client(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

pub async fn signin_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    pre_session_page(&req, StatusCode::OK, |csrf| {
        SignInPage {
            csrf,
            email: "",
            error: None,
            notice: None,
            allow_signup: state.settings.allow_signup,
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

/// Where a person lands after signing in: the tenant they last worked in (the
/// `airlock_last_tenant` cookie, if they are still its member), else their only
/// tenant, else the tenant list.
async fn landing(
    state: &ConsoleState,
    req: &HttpRequest,
    user: &user::Model,
) -> Result<String, ConsoleError> {
    if let Some(slug) = req.cookie(crate::auth::LAST_TENANT_COOKIE)
        && crate::tenant::TenantScope::check(state.db(), user, slug.value())
            .await
            .is_ok()
    {
        return Ok(format!("/t/{}/keys", slug.value()));
    }
    let tenants = crate::tenant::of_user(&state.store, user.id).await?;
    Ok(match tenants.as_slice() {
        [(only, _)] => format!("/t/{}/keys", only.slug),
        _ => "/tenants".to_owned(),
    })
}

/// A signed-in browser: the session cookie, then on to where they work.
async fn start_session(
    state: &ConsoleState,
    req: &HttpRequest,
    user: &user::Model,
) -> Result<HttpResponse, ConsoleError> {
    let (token, _) = state
        .sessions
        .issue(user.id, user.session_version)
        .map_err(ConsoleError::internal)?;
    let mut response = redirect(&landing(state, req, user).await?);
    response
        .add_cookie(&session_cookie(token))
        .map_err(ConsoleError::internal)?;
    Ok(response)
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
                notice: None,
                allow_signup: state.settings.allow_signup,
            }
            .render()
        })
    };
    let client = client(&req);
    if !state.throttle.allows(&email, client) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            &ConsoleError::Throttled.to_string(),
        );
    }
    let user = accounts::find_by_email(state.db(), &email).await?;
    let hash = user
        .as_ref()
        .map_or_else(|| state.decoy_hash.clone(), |u| u.password_hash.clone());
    let password_ok = {
        let _turn = state.throttle.hashing().await;
        verify_password(SecretString::from(form.password), hash).await
    };
    let Some(user) = user.filter(|u| password_ok && !u.disabled) else {
        state.throttle.failed(&email, client);
        return again(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS);
    };
    state.throttle.succeeded(&email, client);
    tracing::info!(user.id = %user.id, "signed in");
    start_session(&state, &req, &user).await
}

#[derive(Deserialize)]
pub struct SignUpQuery {
    /// An invitation link's token: sign-up is open to its address even when
    /// self-service sign-up is off.
    #[serde(default)]
    invite: Option<String>,
}

/// May this request sign up? Open sign-up, or a valid invitation.
async fn signup_open(state: &ConsoleState, invite: Option<&str>) -> bool {
    if state.settings.allow_signup {
        return true;
    }
    match invite {
        Some(token) => crate::tenant::members::open_invitation(state.db(), token)
            .await
            .is_ok(),
        None => false,
    }
}

pub async fn signup_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    query: web::Query<SignUpQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let open = signup_open(&state, query.invite.as_deref()).await;
    pre_session_page(&req, StatusCode::OK, |csrf| {
        SignUpPage {
            csrf,
            email: "",
            name: "",
            error: None,
            open,
            invite: query.invite.as_deref(),
        }
        .render()
    })
}

#[derive(Deserialize)]
pub struct SignUpForm {
    email: String,
    name: String,
    password: String,
    #[serde(default)]
    invite: Option<String>,
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: PreSessionForm<SignUpForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.form;
    let open = signup_open(&state, form.invite.as_deref()).await;
    let again = |status: StatusCode, error: &str| {
        pre_session_page(&req, status, |csrf| {
            SignUpPage {
                csrf,
                email: form.email.trim(),
                name: form.name.trim(),
                error: Some(error),
                open,
                invite: form.invite.as_deref(),
            }
            .render()
        })
    };
    if !open {
        return again(
            StatusCode::FORBIDDEN,
            "Accounts on this Airlock are made by invitation.",
        );
    }
    let email = form.email.trim().to_lowercase();
    let client = client(&req);
    // Sign-up costs an Argon2 hash and says whether an address has an account:
    // the sign-in throttle counts it.
    if !state.throttle.allows(&email, client) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            &ConsoleError::Throttled.to_string(),
        );
    }
    if form.name.trim().is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            "Tell us your name (up to 100 characters).",
        );
    }
    let created = {
        let _turn = state.throttle.hashing().await;
        accounts::create_user(
            state.db(),
            NewUser {
                email: email.clone(),
                display_name: form.name.clone(),
                password: SecretString::from(form.password.clone()),
                verified: false,
            },
        )
        .await
    };
    let user = match created {
        Ok(user) => user,
        Err(ConsoleError::Invalid(message)) => {
            state.throttle.failed(&email, client);
            return again(StatusCode::BAD_REQUEST, &super::errors::sentence(&message));
        }
        Err(other) => return Err(other),
    };
    tracing::info!(user.id = %user.id, "account created");
    let mut response = send_verification(&req, &state, &user).await?;
    let (token, _) = state
        .sessions
        .issue(user.id, user.session_version)
        .map_err(ConsoleError::internal)?;
    response
        .add_cookie(&session_cookie(token))
        .map_err(ConsoleError::internal)?;
    Ok(response)
}

/// Issues a verification link and mails it, or shows it when this console sends
/// no mail (documented: an operator without SMTP vouches for sign-ups themselves).
async fn send_verification(
    req: &HttpRequest,
    state: &ConsoleState,
    user: &user::Model,
) -> Result<HttpResponse, ConsoleError> {
    let token = accounts::issue_link(state.db(), user.id, LinkPurpose::Verify).await?;
    let link = format!(
        "{}/verify/{token}",
        state.link_base(req).trim_end_matches('/')
    );
    match &state.mailer {
        Some(mailer) => {
            if let Err(e) = mailer.send_verification(&user.email, &link).await {
                tracing::warn!(user.id = %user.id, error = %e, "sending a verification link failed");
                return message(
                    "Your account is made",
                    "We could not send the confirmation mail just now. Send it again from your tenants page.",
                    None,
                    "/tenants",
                    "Go on to your tenants",
                );
            }
            message(
                "Check your mail",
                &format!(
                    "We sent a link to {}. Open it to confirm the address; then you can create a tenant.",
                    user.email
                ),
                None,
                "/tenants",
                "Go on to your tenants",
            )
        }
        None => message(
            "Confirm your address",
            "This Airlock sends no mail, so here is the confirmation link. Open it to finish:",
            Some(&link),
            "/tenants",
            "Later: go on to your tenants",
        ),
    }
}

/// `POST /verify/resend`: a new verification link for the signed-in account.
pub async fn resend_verification(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let user = checked.user.user;
    if user.email_verified_at.is_some() {
        return Ok(redirect("/tenants"));
    }
    send_verification(&req, &state, &user).await
}

/// `GET /verify/{token}`: the link in the verification mail.
pub async fn verify(
    state: web::Data<ConsoleState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    match accounts::verify_email(state.db(), &token).await {
        Ok(user) => {
            tracing::info!(user.id = %user.id, "email address confirmed");
            message(
                "Address confirmed",
                &format!("{} is confirmed. You can create tenants now.", user.email),
                None,
                "/tenants",
                "Go to your tenants",
            )
        }
        Err(ConsoleError::NotFound) => {
            let mut response = message(
                "This link does not work",
                "It was used already, has expired, or was replaced by a newer one. Sign in and send a new link from your tenants page.",
                None,
                "/signin",
                "Sign in",
            )?;
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

pub async fn forgot_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    pre_session_page(&req, StatusCode::OK, |csrf| {
        ForgotPage {
            csrf,
            email: "",
            error: None,
            mail: state.mailer.is_some(),
        }
        .render()
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// Mails a reset link to the address if it has an account. The answer is the
/// same either way, so the form cannot tell who has an account. Never shown on
/// the page: that would let anyone reset anyone's password.
pub async fn forgot(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: PreSessionForm<ForgotForm>,
) -> Result<HttpResponse, ConsoleError> {
    let email = form.form.email.trim().to_lowercase();
    let client = client(&req);
    let Some(mailer) = &state.mailer else {
        return forgot_page(req, state).await;
    };
    if !state.throttle.allows(&email, client) {
        let mut response = message(
            "Too many attempts",
            "Wait a few minutes, then try again.",
            None,
            "/signin",
            "Back to sign in",
        )?;
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(response);
    }
    // Every request counts, as a failure would: a reset mails a stranger.
    state.throttle.failed(&email, client);
    if let Some(user) = accounts::find_by_email(state.db(), &email).await?
        && !user.disabled
    {
        let token = accounts::issue_link(state.db(), user.id, LinkPurpose::Reset).await?;
        let link = format!(
            "{}/reset/{token}",
            state.link_base(&req).trim_end_matches('/')
        );
        if let Err(e) = mailer.send_reset(&user.email, &link).await {
            tracing::warn!(user.id = %user.id, error = %e, "sending a reset link failed");
        }
    }
    message(
        "Check your mail",
        &format!(
            "If {email} has an account, a reset link is on its way. It works once, for {} minutes.",
            accounts::RESET_MINUTES
        ),
        None,
        "/signin",
        "Back to sign in",
    )
}

pub async fn reset_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    if !accounts::reset_link_is_open(state.db(), &token).await? {
        return Err(ConsoleError::NotFound);
    }
    pre_session_page(&req, StatusCode::OK, |csrf| {
        ResetPage {
            csrf,
            token: &token,
            error: None,
        }
        .render()
    })
}

#[derive(Deserialize)]
pub struct ResetForm {
    password: String,
}

pub async fn reset(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    token: web::Path<String>,
    form: PreSessionForm<ResetForm>,
) -> Result<HttpResponse, ConsoleError> {
    let password = SecretString::from(form.form.password);
    match accounts::reset_password(state.db(), &token, password).await {
        Ok(user) => {
            tracing::info!(user.id = %user.id, "password reset");
            pre_session_page(&req, StatusCode::OK, |csrf| {
                SignInPage {
                    csrf,
                    email: &user.email,
                    error: None,
                    notice: Some("Your password is set. Sign in with it."),
                    allow_signup: state.settings.allow_signup,
                }
                .render()
            })
        }
        Err(ConsoleError::Invalid(message)) => {
            let message = super::errors::sentence(&message);
            pre_session_page(&req, StatusCode::BAD_REQUEST, |csrf| {
                ResetPage {
                    csrf,
                    token: &token,
                    error: Some(&message),
                }
                .render()
            })
        }
        Err(other) => Err(other),
    }
}

/// Ends every session of the user: the session version moves on, so tokens issued
/// before (copied, stolen) stop working too.
pub async fn signout(
    state: web::Data<ConsoleState>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    use sea_orm::ActiveModelTrait;
    use sea_orm::ActiveValue::Set;
    let user = checked.user.user;
    let next = user.session_version.wrapping_add(1);
    let mut active: user::ActiveModel = user.into();
    active.session_version = Set(next);
    active.updated_at = Set(chrono::Utc::now());
    active.update(state.db()).await?;
    let mut response = redirect("/signin");
    response
        .add_cookie(&cleared_session_cookie())
        .map_err(ConsoleError::internal)?;
    Ok(response)
}

pub async fn home(user: Result<CurrentUser, ConsoleError>) -> HttpResponse {
    match user {
        Ok(_) => redirect("/tenants"),
        Err(_) => redirect("/signin"),
    }
}
