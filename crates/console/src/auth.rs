//! Who is asking: the session extractor, the CSRF-checked form extractor, and the
//! middleware that renews sessions and keeps authenticated pages out of caches.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use airlock_schema::entities::user;
use chrono::Utc;
use futures_util::StreamExt;
use rand::RngCore;
use sea_orm::EntityTrait;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::error::ConsoleError;
use crate::session::{SESSION_COOKIE, session_cookie};
use crate::state::ConsoleState;

/// Header htmx requests carry the CSRF token in (set once on `<body hx-headers>`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field plain HTML forms carry it in.
pub const CSRF_FIELD: &str = "csrf";
/// Double-submit cookie of the forms shown before sign-in.
pub const PRE_SESSION_CSRF_COOKIE: &str = "airlock_csrf";
/// Largest form body the console reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A signed-in user, checked against the database on every request: a disabled
/// user or a bumped session version (sign-out) ends the session at once.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: user::Model,
    /// The session's CSRF token, for forms on the page being rendered.
    pub csrf: String,
}

/// A fresh session cookie to send with this response.
#[derive(Clone)]
struct RenewedSession(Cookie<'static>);

pub(crate) fn state(req: &HttpRequest) -> Result<Arc<ConsoleState>, ConsoleError> {
    req.app_data::<web::Data<ConsoleState>>()
        .map(|d| d.clone().into_inner())
        .ok_or_else(|| ConsoleError::internal("the console state is not registered"))
}

impl CurrentUser {
    async fn from_request(req: HttpRequest) -> Result<CurrentUser, ConsoleError> {
        let state = state(&req)?;
        let token = req
            .cookie(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(ConsoleError::SignedOut)?;
        let claims = state
            .sessions
            .verify(&token)
            .map_err(|_| ConsoleError::SignedOut)?;
        let user = user::Entity::find_by_id(claims.sub)
            .one(state.db())
            .await?
            .filter(|u| !u.disabled && u.session_version == claims.sv)
            .ok_or(ConsoleError::SignedOut)?;
        if claims.should_renew(Utc::now().timestamp())
            && let Ok((token, _)) = state.sessions.renew(&claims)
        {
            req.extensions_mut()
                .insert(RenewedSession(session_cookie(token)));
        }
        let csrf = state.sessions.csrf_token(&claims);
        Ok(CurrentUser { user, csrf })
    }
}

impl FromRequest for CurrentUser {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(CurrentUser::from_request(req.clone()))
    }
}

/// A state-changing request from a signed-in user whose CSRF token checked out
/// (header or form field), with its form parsed.
pub struct Checked<T> {
    pub user: CurrentUser,
    pub form: T,
}

async fn read_body(payload: &mut Payload) -> Result<web::BytesMut, ConsoleError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ConsoleError::Invalid("the form could not be read".into()))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(ConsoleError::Invalid("the form is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `csrf` field of a urlencoded body, if any.
fn csrf_field(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v)
}

/// Reads a urlencoded form, shows `accept` the CSRF token it presents (the
/// `X-CSRF-Token` header, else the `csrf` field), and parses it if accepted.
async fn checked_form<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: &mut Payload,
    accept: impl FnOnce(&str) -> bool,
) -> Result<T, ConsoleError> {
    let body = read_body(payload).await?;
    let presented = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| csrf_field(&body));
    if !presented.is_some_and(|token| accept(&token)) {
        return Err(ConsoleError::Csrf);
    }
    serde_urlencoded::from_bytes(&body).map_err(|e| {
        // serde_urlencoded names the field and the expectation, not the value.
        ConsoleError::Invalid(format!("the form is incomplete or malformed: {e}"))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Checked<T> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let user = CurrentUser::from_request(req.clone()).await?;
            let form = checked_form(&req, &mut payload, |token| {
                bool::from(user.csrf.as_bytes().ct_eq(token.trim().as_bytes()))
            })
            .await?;
            Ok(Checked { user, form })
        })
    }
}

/// A form shown before sign-in (sign-in, sign-up), protected by a double-submit
/// cookie: the page sets a random cookie and repeats it in a hidden field; a
/// cross-site form can send the cookie but cannot read it to fill the field.
pub struct PreSessionForm<T> {
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for PreSessionForm<T> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let cookie = req
                .cookie(PRE_SESSION_CSRF_COOKIE)
                .map(|c| c.value().to_owned())
                .unwrap_or_default();
            let form = checked_form(&req, &mut payload, |token| {
                !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(token.as_bytes()))
            })
            .await?;
            Ok(PreSessionForm { form })
        })
    }
}

/// The pre-session CSRF value of this browser, or a new one (with its cookie).
pub fn pre_session_csrf(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req.cookie(PRE_SESSION_CSRF_COOKIE)
        && existing.value().len() == 32
    {
        return (existing.value().to_owned(), None);
    }
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let value = hex::encode(bytes);
    let cookie = Cookie::build(PRE_SESSION_CSRF_COOKIE, value.clone())
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .finish();
    (value, Some(cookie))
}

/// The tenant a person last opened a page of (its slug: not a secret), so that
/// signing in lands there.
pub const LAST_TENANT_COOKIE: &str = "airlock_last_tenant";

/// A tenant page was served: remember its slug for the next sign-in.
#[derive(Clone)]
pub(crate) struct LastTenant(pub String);

fn last_tenant_cookie(slug: String) -> Cookie<'static> {
    Cookie::build(LAST_TENANT_COOKIE, slug)
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::days(90))
        .finish()
}

/// Sends a renewed session cookie when the extractor made one, remembers the
/// tenant of a page served, and marks every response that did not choose its
/// own caching `Cache-Control: no-store`.
pub async fn session_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let renewed = res.request().extensions().get::<RenewedSession>().cloned();
    if let Some(RenewedSession(cookie)) = renewed {
        // A response that already sets the session cookie (sign-out) wins.
        let sets_session = res.response().cookies().any(|c| c.name() == SESSION_COOKIE);
        if !sets_session {
            let _ = res.response_mut().add_cookie(&cookie);
        }
    }
    let last = res.request().extensions().get::<LastTenant>().cloned();
    if let Some(LastTenant(slug)) = last
        && res.status().is_success()
    {
        let _ = res.response_mut().add_cookie(&last_tenant_cookie(slug));
    }
    // Pages and errors are never cached; a response that chose its own caching
    // (the stylesheet) keeps it.
    if !res
        .headers()
        .contains_key(actix_web::http::header::CACHE_CONTROL)
    {
        res.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(res)
}
