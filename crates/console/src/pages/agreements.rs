//! Agreements with providers (DPA, BAA, zero data retention, training opt-out,
//! region, expiry), with expired and soon-expiring ones highlighted.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::form::{optional_date, text, ticked};
use super::{FormError, Layout, actor, or_show_error, redirect, render, saved_notice};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::policy_ops::NewAgreement;
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;
use crate::tenant_config::{self, AGREEMENT_WARNING_DAYS, AgreementRow, ProviderRow};

#[derive(Template)]
#[template(path = "console/agreements.html")]
struct AgreementsPage {
    layout: Layout,
    agreements: Vec<AgreementRow>,
    providers: Vec<ProviderRow>,
    can_manage: bool,
    warning_days: i64,
    notice: Option<&'static str>,
    error: FormError,
}

async fn show(
    state: &ConsoleState,
    user: &CurrentUser,
    scope: &TenantScope,
    notice: Option<&'static str>,
    error: FormError,
) -> Result<HttpResponse, ConsoleError> {
    let today = Utc::now().date_naive();
    render(&AgreementsPage {
        agreements: tenant_config::list_agreements(&state.db, scope, today).await?,
        providers: tenant_config::list_providers(&state.db, scope).await?,
        can_manage: scope.can(Permission::ManageProviders),
        warning_days: AGREEMENT_WARNING_DAYS,
        notice,
        error,
        layout: Layout::new(&state.db, user, Some(scope)).await?,
    })
}

pub async fn list(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    slug: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    show(
        &state,
        &user,
        &scope,
        saved_notice(&query),
        FormError::none(),
    )
    .await
}

#[derive(Deserialize)]
pub struct AgreementForm {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    dpa_signed_on: Option<String>,
    #[serde(default)]
    dpa_reference: Option<String>,
    #[serde(default)]
    baa: Option<String>,
    #[serde(default)]
    zero_data_retention: Option<String>,
    #[serde(default)]
    training_opt_out: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    expires_on: Option<String>,
}

impl AgreementForm {
    fn parse(&self) -> Result<NewAgreement, ConsoleError> {
        Ok(NewAgreement {
            provider: text(&self.provider).unwrap_or_default().to_owned(),
            dpa_signed_on: optional_date(&self.dpa_signed_on, "The DPA signing date")?,
            dpa_reference: text(&self.dpa_reference).map(str::to_owned),
            baa: ticked(&self.baa),
            zero_data_retention: ticked(&self.zero_data_retention),
            training_opt_out: ticked(&self.training_opt_out),
            region: text(&self.region).map(str::to_owned),
            expires_on: optional_date(&self.expires_on, "The expiry date")?,
        })
    }
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    slug: web::Path<String>,
    checked: Checked<AgreementForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let result = async {
        let new = form.parse()?;
        tenant_config::save_agreement(&state, &scope, &actor(&req, &user), new).await?;
        Ok(redirect(&format!(
            "/t/{}/agreements?saved=1",
            scope.tenant().slug
        )))
    }
    .await;
    or_show_error(result, |message| {
        show(
            &state,
            &user,
            &scope,
            None,
            FormError::on_form("agreement", message),
        )
    })
    .await
}
