//! Model prices: the list prices every tenant starts from and the tenant's own,
//! which win; admins and finance set and remove the tenant's own.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::form::{dollars, list, text};
use super::{
    FormError, Layout, SettingsPage, TenantForm, TenantPage, View, change_or_redisplay, render,
    save_or_redisplay,
};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::prices::{self, NewPrice, PriceRow};

#[derive(Template)]
#[template(path = "console/prices.html")]
pub(crate) struct PricesPage {
    layout: Layout,
    prices: Vec<PriceRow>,
    can_manage: bool,
    notice: Option<&'static str>,
    error: FormError,
    typed: PriceForm,
}

impl PricesPage {
    /// Dollars per million tokens, as the form takes them.
    fn per_mtok(&self, micros: &airlock_core::money::MicroDollars) -> String {
        micros.to_string()
    }
}

#[derive(Deserialize, Default)]
pub struct PriceForm {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    aliases: Option<String>,
}

impl SettingsPage for PricesPage {
    type Typed = PriceForm;
    const PATH: &'static str = "prices";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<PriceForm>,
    ) -> Result<HttpResponse, ConsoleError> {
        render(&PricesPage {
            prices: prices::list(&state.store, &page.scope).await?,
            can_manage: page.scope.can(Permission::ManagePrices),
            notice: view.notice,
            error: view.error,
            typed: view.typed,
            layout: page.layout(state).await?,
        })
    }
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<PriceForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let saved = async {
        let new = NewPrice {
            model: text(&form.model).unwrap_or_default().to_owned(),
            input_per_mtok: dollars(&form.input, "The input price")?,
            output_per_mtok: dollars(&form.output, "The output price")?,
            aliases: list(&form.aliases),
        };
        prices::save(&state.store, &page.scope, &page.actor(&req), new)
            .await
            .map(drop)
    }
    .await;
    save_or_redisplay::<PricesPage>(&state, &page, "price", form, saved).await
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    model: Option<String>,
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<RemoveForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let model = text(&form.model).unwrap_or_default();
    let saved = prices::remove(&state.store, &page.scope, &page.actor(&req), model).await;
    change_or_redisplay::<PricesPage>(
        &state,
        &page,
        "remove",
        PriceForm::default(),
        saved,
        "done=price-removed",
    )
    .await
}
