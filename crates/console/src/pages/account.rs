//! The signed-in user's personal API tokens: list, create (the token shown once,
//! by post-redirect-get: see [`crate::shown_once`]), revoke.

use actix_web::{HttpResponse, web};
use airlock_schema::entities::api_token;
use askama::Template;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::form::text;
use super::{Layout, invalid_status, redirect, render};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<api_token::Model>,
    /// Just made: its name and the token, shown this once.
    created: Option<(String, String)>,
    /// The page of a token already shown (a reload, another tab, too late).
    already_shown: bool,
    error: Option<String>,
    notice: Option<&'static str>,
    /// The name typed into a form that came back with an error.
    typed_name: String,
    /// Which alert mail the user wants.
    wanted: crate::notifications::Wanted,
}

/// What the page after creating a token shows, held once between the two.
#[derive(Serialize, Deserialize)]
struct TokenShown {
    name: String,
    token: String,
}

/// The tokens page; after a form error, its message and the name typed.
async fn show(
    state: &ConsoleState,
    user: &CurrentUser,
    error: Option<String>,
    notice: Option<&'static str>,
    typed_name: String,
) -> Result<HttpResponse, ConsoleError> {
    let failed = error.is_some();
    let mut response = render(&TokensPage {
        wanted: crate::notifications::wanted(state.db(), user.user.id).await?,
        typed_name,
        tokens: crate::api_tokens::list(state.db(), user.user.id).await?,
        created: None,
        already_shown: false,
        error,
        notice,
        layout: Layout::new(state, user, None).await?,
    })?;
    if failed {
        invalid_status(&mut response);
    }
    Ok(response)
}

pub async fn tokens(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    show(
        &state,
        &user,
        None,
        super::saved_notice(&query),
        String::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    days: Option<String>,
}

pub async fn create(
    state: web::Data<ConsoleState>,
    checked: Checked<NewTokenForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let made = async {
        let days = match text(&form.days) {
            None => None,
            Some(t) => Some(t.parse::<u32>().map_err(|_| {
                ConsoleError::Invalid("the lifetime is a whole number of days".into())
            })?),
        };
        let name = text(&form.name).unwrap_or_default();
        crate::api_tokens::create(state.db(), user.user.id, name, days).await
    }
    .await;
    match made {
        Ok((row, token)) => {
            tracing::info!(user.id = %user.user.id, token = %row.display_prefix, "API token created");
            let shown = TokenShown {
                name: row.name,
                token,
            };
            let ticket = crate::shown_once::hold(&state, &user, &shown).await?;
            Ok(redirect(&format!("/account/tokens/created/{ticket}")))
        }
        Err(ConsoleError::Invalid(message)) => {
            let typed = form.name.clone().unwrap_or_default();
            show(&state, &user, Some(message), None, typed).await
        }
        Err(other) => Err(other),
    }
}

/// The new token, once; afterwards the list says it was already shown.
pub async fn created(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    ticket: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let shown = crate::shown_once::take::<TokenShown>(&state, &user, &ticket).await?;
    render(&TokensPage {
        tokens: crate::api_tokens::list(state.db(), user.user.id).await?,
        already_shown: shown.is_none(),
        created: shown.map(|s| (s.name, s.token)),
        error: None,
        notice: None,
        typed_name: String::new(),
        wanted: crate::notifications::wanted(state.db(), user.user.id).await?,
        layout: Layout::new(&state, &user, None).await?,
    })
}

pub async fn revoke(
    state: web::Data<ConsoleState>,
    token_id: web::Path<Uuid>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    crate::api_tokens::revoke(state.db(), checked.user.user.id, *token_id).await?;
    Ok(redirect("/account/tokens?done=token-revoked"))
}

/// Which alert mail the user wants (ticked boxes; an unticked box is absent).
pub async fn save_notifications(
    state: web::Data<ConsoleState>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let ticked = |name: &str| checked.form.contains_key(name);
    let wanted = crate::notifications::Wanted {
        budget: ticked("budget"),
        rotation: ticked("rotation"),
        anomaly: ticked("anomaly"),
        incident: ticked("incident"),
    };
    crate::notifications::save(state.db(), checked.user.user.id, wanted).await?;
    Ok(redirect("/account/tokens?done=notifications-saved"))
}
