//! Server-rendered pages. A page handler extracts who is asking and in which
//! tenant ([`TenantPage`], or [`TenantForm`] with a CSRF-checked form), calls one
//! function of the tenant layer, and renders an askama template (auto-escaped) or
//! redirects. Settings pages share one shape ([`SettingsPage`]): show, and save or
//! show again with the message by the form and what was typed kept.

pub mod account;
pub mod agreements;
pub mod alerts;
pub mod audit;
pub mod audit_words;
pub mod auth;
pub mod billing;
pub mod chart;
pub mod errors;
pub mod form;
pub mod incidents;
pub mod invitations;
pub mod keys;
pub mod limits;
pub mod policies;
pub mod prices;
pub mod providers;
pub mod snippets;
pub mod tenants;
pub mod usage;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::de::DeserializeOwned;

use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::{self, Actor, Permission, TenantScope};

/// One entry of the tenant switcher.
pub struct TenantLink {
    pub slug: String,
    pub name: String,
    pub role: String,
}

/// What the shared layout needs: who is signed in, the CSRF token for forms, the
/// tenant switcher, and the current tenant's navigation.
pub struct Layout {
    pub email: String,
    pub csrf: String,
    pub tenants: Vec<TenantLink>,
    pub current: Option<TenantNav>,
}

pub struct TenantNav {
    pub slug: String,
    /// The section the page belongs to (see [`section_of`]); `""` for none.
    pub section: &'static str,
    pub name: String,
    pub role: String,
    pub can_audit: bool,
    pub can_settings: bool,
    pub can_budgets: bool,
    pub can_usage: bool,
    pub can_billing: bool,
    pub can_incidents: bool,
    /// The relay refuses this tenant's keys for an unpaid bill; shown to those
    /// who can read billing (owners, admins, finance).
    pub billing_suspended: bool,
    /// Alerts nobody has acknowledged yet (the bell).
    pub alerts_unread: u64,
}

impl Layout {
    pub async fn new(
        state: &ConsoleState,
        user: &CurrentUser,
        scope: Option<&TenantScope>,
    ) -> Result<Layout, ConsoleError> {
        let tenants = tenant::of_user(&state.store, user.user.id).await?;
        let alerts_unread = match scope {
            Some(s) if s.can(Permission::ReadBudgets) => {
                tenant::alerts::unacknowledged(state.db(), s.tenant_id()).await?
            }
            _ => 0,
        };
        Ok(Layout {
            email: user.user.email.clone(),
            csrf: user.csrf.clone(),
            tenants: tenants
                .into_iter()
                .map(|(t, role)| TenantLink {
                    slug: t.slug,
                    name: t.name,
                    role: role.to_string(),
                })
                .collect(),
            current: scope.map(|s| TenantNav {
                slug: s.slug().to_owned(),
                section: "",
                name: s.tenant().name.clone(),
                role: s.role().to_string(),
                can_audit: s.can(Permission::ReadAudit),
                can_settings: s.can(Permission::ReadSettings),
                can_budgets: s.can(Permission::ReadBudgets),
                can_usage: s.can(Permission::ReadUsage),
                can_billing: s.can(Permission::ReadBilling),
                can_incidents: s.can(Permission::RespondToIncidents),
                billing_suspended: s.can(Permission::ReadBilling) && s.tenant().billing_suspended,
                alerts_unread,
            }),
        })
    }

    /// The current tenant's address, for links back into it.
    pub fn current_slug(&self) -> &str {
        self.current.as_ref().map_or("", |c| c.slug.as_str())
    }
}

#[cfg(test)]
mod section_tests {
    use super::section_of;

    #[test]
    fn a_tenant_path_belongs_to_its_section() {
        assert_eq!(section_of("/t/acme/keys"), "keys");
        assert_eq!(section_of("/t/acme/keys/created/ab12"), "keys");
        assert_eq!(section_of("/t/acme/providers/route"), "providers");
        assert_eq!(section_of("/t/acme/members/invited/ab12"), "members");
        assert_eq!(section_of("/t/acme/limits"), "limits");
        assert_eq!(section_of("/t/acme"), "");
        assert_eq!(section_of("/account/tokens"), "");
    }
}

pub fn render(page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let html = page.render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .finish()
}

/// The audit actor of a page request: the user and the TCP peer.
pub fn actor(req: &HttpRequest, user: &CurrentUser) -> Actor {
    Actor::user(&user.user, req.peer_addr().map(|a| a.ip().to_string()))
}

/// A signed-in member's request for a page of a tenant (`{slug}` in the path):
/// a tenant they are not a member of is not found.
pub struct TenantPage {
    pub user: CurrentUser,
    pub scope: TenantScope,
    /// The navigation section the page belongs to (highlighted in the layout).
    pub section: &'static str,
}

/// The section of the navigation a tenant path belongs to: the first segment
/// after `/t/{slug}/`, with the form targets that belong to a page mapped to it.
pub(crate) fn section_of(path: &str) -> &'static str {
    let segment = path
        .strip_prefix("/t/")
        .and_then(|rest| rest.split('/').nth(1))
        .unwrap_or("");
    match segment {
        "keys" => "keys",
        "providers" | "routes" => "providers",
        "agreements" => "agreements",
        "policies" => "policies",
        "limits" => "limits",
        "prices" => "prices",
        "members" | "invitations" => "members",
        "usage" => "usage",
        "billing" => "billing",
        "audit" => "audit",
        "alerts" => "alerts",
        "incidents" => "incidents",
        _ => "",
    }
}

/// The same for a form post, with its CSRF token checked and its form parsed.
pub struct TenantForm<F> {
    pub page: TenantPage,
    pub form: F,
}

async fn scope_of(req: &HttpRequest, user: CurrentUser) -> Result<TenantPage, ConsoleError> {
    let state = crate::auth::state(req)?;
    let slug = req.match_info().get("slug").ok_or(ConsoleError::NotFound)?;
    let scope = TenantScope::check(state.db(), &user.user, slug).await?;
    if req.method() == actix_web::http::Method::GET {
        req.extensions_mut()
            .insert(crate::auth::LastTenant(scope.slug().to_owned()));
    }
    Ok(TenantPage {
        user,
        scope,
        section: section_of(req.path()),
    })
}

impl FromRequest for TenantPage {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let user = CurrentUser::from_request(&req, payload);
        Box::pin(async move { scope_of(&req, user.await?).await })
    }
}

impl<F: DeserializeOwned + 'static> FromRequest for TenantForm<F> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let checked = Checked::<F>::from_request(&req, payload);
        Box::pin(async move {
            let Checked { user, form } = checked.await?;
            Ok(TenantForm {
                page: scope_of(&req, user).await?,
                form,
            })
        })
    }
}

impl TenantPage {
    pub fn actor(&self, req: &HttpRequest) -> Actor {
        actor(req, &self.user)
    }

    pub async fn layout(&self, state: &ConsoleState) -> Result<Layout, ConsoleError> {
        let mut layout = Layout::new(state, &self.user, Some(&self.scope)).await?;
        if let Some(current) = layout.current.as_mut() {
            current.section = self.section;
        }
        Ok(layout)
    }

    pub fn slug(&self) -> &str {
        self.scope.slug()
    }
}

/// The validation message of one of a page's forms, if any.
#[derive(Default)]
pub struct FormError(Option<(&'static str, String)>);

impl FormError {
    pub fn none() -> FormError {
        FormError(None)
    }

    pub fn on_form(form: &'static str, message: String) -> FormError {
        FormError(Some((form, message)))
    }

    /// The message, when it belongs to `form`.
    pub fn on(&self, form: &str) -> Option<&str> {
        match &self.0 {
            Some((f, message)) if *f == form => Some(message),
            _ => None,
        }
    }
}

/// A message for the top of a page after a change (`?saved=1`, or `?done=` with
/// what was done). Only these fixed texts are shown, so a link cannot make the
/// console say something it did not.
pub fn saved_notice(query: &HashMap<String, String>) -> Option<&'static str> {
    if query.get("saved").map(String::as_str) == Some("1") {
        return Some("Saved. Relays apply the change within a second.");
    }
    done_notice(query.get("done").map(String::as_str)?)
}

/// The notice after a change that is not a plain save.
pub fn done_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "key-revoked" => {
            "Key revoked: the relays refuse it within a second. Revoked keys are hidden from this list; choose Show: revoked to see them."
        }
        "tenant-created" => {
            "Tenant created. You are its owner: add a provider, then create a key (the steps are below)."
        }
        "joined" => "Invitation accepted: you are now a member of this tenant.",
        "role-changed" => "Role changed. It applies to the member's next page.",
        "member-removed" => "Member removed: they lost access to this tenant at once.",
        "invitation-cancelled" => "Invitation cancelled: its link no longer works.",
        "agreement-deleted" => {
            "Agreement deleted. Classes that need one no longer go to that provider."
        }
        "price-removed" => "Price removed: the list price applies again, if there is one.",
        "route-removed" => {
            "Route removed: those models go where the table below says, within a second."
        }
        "default-changed" => {
            "Default provider changed: models without a route go there within a second."
        }
        "token-revoked" => "Token revoked: the API refuses it from now on.",
        "notifications-saved" => "Saved: Airlock mails you what is ticked, from the next alert on.",
        "alert-acknowledged" => "Alert acknowledged.",
        "keys-suspended" => {
            "Keys suspended: the relays refuse them with key_suspended within a second, until released below."
        }
        "keys-revoked" => "Keys revoked: the relays refuse them within a second, for good.",
        "keys-released" => "Keys released: they work again within a second.",
        "report-mailed" => "Summary sent to the tenant's owners, admins and finance.",
        _ => return None,
    })
}

/// How a settings page is shown: after a save (with its notice), or again with a
/// form's error and what was typed into it.
pub struct View<T> {
    pub notice: Option<&'static str>,
    pub error: FormError,
    pub typed: T,
}

/// A settings page: one GET that shows it, forms that save into it.
pub trait SettingsPage {
    /// What was typed into the page's forms, shown again with an error (never a
    /// secret: pages leave those out).
    type Typed: Default;
    /// The page's path under `/t/{slug}/`.
    const PATH: &'static str;

    fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<Self::Typed>,
    ) -> impl Future<Output = Result<HttpResponse, ConsoleError>>;
}

/// The GET of a settings page (routed directly: `show_settings::<prices::PricesPage>`).
pub async fn show_settings<P: SettingsPage>(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let view = View {
        notice: saved_notice(&query),
        error: FormError::none(),
        typed: P::Typed::default(),
    };
    P::show(&state, &page, view).await
}

/// The end of a settings form's POST: back to the page with the saved notice
/// (post/redirect/get), or, for input that cannot be taken, the page again as a
/// 400 with the message next to `form` and what was typed. Other errors pass on.
pub async fn save_or_redisplay<P: SettingsPage>(
    state: &ConsoleState,
    page: &TenantPage,
    form: &'static str,
    typed: P::Typed,
    saved: Result<(), ConsoleError>,
) -> Result<HttpResponse, ConsoleError> {
    change_or_redisplay::<P>(state, page, form, typed, saved, "saved=1").await
}

/// [`save_or_redisplay`] for a change that is not a plain save: back to the page
/// with `query` (`done=price-removed`), whose notice says what was done.
pub async fn change_or_redisplay<P: SettingsPage>(
    state: &ConsoleState,
    page: &TenantPage,
    form: &'static str,
    typed: P::Typed,
    saved: Result<(), ConsoleError>,
    query: &str,
) -> Result<HttpResponse, ConsoleError> {
    match saved {
        Ok(()) => Ok(redirect(&format!("/t/{}/{}?{query}", page.slug(), P::PATH))),
        Err(ConsoleError::Invalid(message) | ConsoleError::InvalidParam(_, message)) => {
            let view = View {
                notice: None,
                error: FormError::on_form(form, message),
                typed,
            };
            let mut response = P::show(state, page, view).await?;
            invalid_status(&mut response);
            Ok(response)
        }
        Err(ConsoleError::Stripe(message)) => {
            // Stripe refused or was unreachable: the message by the form, nothing lost.
            let view = View {
                notice: None,
                error: FormError::on_form(form, message),
                typed,
            };
            let mut response = P::show(state, page, view).await?;
            *response.status_mut() = actix_web::http::StatusCode::BAD_GATEWAY;
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("x-airlock-error-code"),
                actix_web::http::header::HeaderValue::from_static("stripe_error"),
            );
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

/// Marks a page shown again for bad input: 400 with the stable code.
pub fn invalid_status(response: &mut HttpResponse) {
    *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("x-airlock-error-code"),
        actix_web::http::header::HeaderValue::from_static("invalid_request"),
    );
}
