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
    /// What the form holds: what was typed (after an error), or the agreement on
    /// file being edited.
    typed: AgreementForm,
    /// The provider whose agreement is being edited, if any.
    editing: Option<String>,
}

impl AgreementsPage {
    fn typed_value<'a>(&self, field: &'a Option<String>) -> &'a str {
        field.as_deref().unwrap_or_default()
    }

    fn is_selected(&self, provider: &str) -> bool {
        self.typed.provider.as_deref() == Some(provider)
    }
}

impl SettingsPage for AgreementsPage {
    type Typed = AgreementForm;
    const PATH: &'static str = "agreements";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<AgreementForm>,
    ) -> Result<HttpResponse, ConsoleError> {
        let today = Utc::now().date_naive();
        let scope = &page.scope;
        let agreements = agreements::list(&state.store, scope, today).await?;
        // Saving for a provider with an agreement on file replaces it: say so.
        let editing = view.typed.provider.clone().filter(|provider| {
            agreements
                .iter()
                .any(|row| &row.agreement.provider_name == provider)
        });
        render(&AgreementsPage {
            typed: view.typed,
            editing,
            agreements,
            providers: providers::list(&state.store, scope).await?,
            can_manage: scope.can(Permission::ManageProviders),
            warning_days: WARNING_DAYS,
            notice: view.notice,
            error: view.error,
            layout: page.layout(state).await?,
        })
    }
}

#[derive(Deserialize, Default)]
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
    /// The form filled in from an agreement on file, to edit it.
    fn on_file(agreement: &airlock_schema::entities::provider_agreement::Model) -> AgreementForm {
        let tick = |on: bool| on.then(|| "on".to_owned());
        AgreementForm {
            provider: Some(agreement.provider_name.clone()),
            dpa_signed_on: agreement.dpa_signed_on.map(|d| d.to_string()),
            dpa_reference: agreement.dpa_reference.clone(),
            baa: tick(agreement.baa),
            zero_data_retention: tick(agreement.zero_data_retention),
            training_opt_out: tick(agreement.training_opt_out),
            region: agreement.region.clone(),
            expires_on: agreement.expires_on.map(|d| d.to_string()),
        }
    }

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
    save_or_redisplay::<AgreementsPage>(&state, &page, "agreement", form, saved).await
}

/// The page; `?edit=<provider>` fills the form with that provider's agreement
/// on file, so a change is made without retyping the rest.
pub async fn page(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let typed = match query.get("edit") {
        Some(provider) => {
            let today = Utc::now().date_naive();
            let on_file = agreements::list(&state.store, &page.scope, today).await?;
            let row = on_file
                .iter()
                .find(|row| &row.agreement.provider_name == provider)
                .ok_or(ConsoleError::NotFound)?;
            AgreementForm::on_file(&row.agreement)
        }
        None => AgreementForm::default(),
    };
    let view = View {
        notice: super::saved_notice(&query),
        error: FormError::none(),
        typed,
    };
    <AgreementsPage as SettingsPage>::show(&state, &page, view).await
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
    Ok(redirect(&format!(
        "/t/{}/agreements?done=agreement-deleted",
        page.slug()
    )))
}
