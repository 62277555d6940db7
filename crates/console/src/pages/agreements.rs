//! Agreements with providers (DPA, BAA, zero data retention, training opt-out,
//! region, expiry), with expired and soon-expiring ones highlighted.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::form::{optional_date, text, ticked};
use super::{
    FormError, Layout, SettingsPage, TenantForm, TenantPage, View, redirect, render,
    save_or_redisplay,
};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::agreements::{self, AgreementRow, NewAgreement, WARNING_DAYS};
use crate::tenant::providers::{self, ProviderRow};

#[derive(Template)]
#[template(path = "console/agreements.html")]
pub(crate) struct AgreementsPage {
    layout: Layout,
    agreements: Vec<AgreementRow>,
    providers: Vec<ProviderRow>,
    can_manage: bool,
    warning_days: i64,
    notice: Option<&'static str>,
    error: FormError,
}

impl SettingsPage for AgreementsPage {
    type Typed = ();
    const PATH: &'static str = "agreements";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<()>,
    ) -> Result<HttpResponse, ConsoleError> {
        let today = Utc::now().date_naive();
        let scope = &page.scope;
        render(&AgreementsPage {
            agreements: agreements::list(&state.store, scope, today).await?,
            providers: providers::list(&state.store, scope).await?,
            can_manage: scope.can(Permission::ManageProviders),
            warning_days: WARNING_DAYS,
            notice: view.notice,
            error: view.error,
            layout: page.layout(state).await?,
        })
    }
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
    post: TenantForm<AgreementForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let saved = async {
        let new = form.parse()?;
        agreements::save(&state.store, &page.scope, &page.actor(&req), new)
            .await
            .map(drop)
    }
    .await;
    save_or_redisplay::<AgreementsPage>(&state, &page, "agreement", (), saved).await
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, String)>,
    post: TenantForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, provider) = path.into_inner();
    let page = post.page;
    agreements::delete(&state.store, &page.scope, &page.actor(&req), &provider).await?;
    Ok(redirect(&format!("/t/{}/agreements?saved=1", page.slug())))
}
