//! Data-classification policies, one form per class, and a preview of which
//! provider may receive which class today.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::policy::{CheckAction, ClassPolicy};
use airlock_core::redact::ContentAction;
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::form::{self, choice, ticked};
use super::{FormError, Layout, SettingsPage, TenantForm, TenantPage, View, redirect, render};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::policies::{self, NewPolicy, PreviewRow};

/// The selects of a policy form: field name and label.
const CONTENT_FIELDS: [(&str, &str); 2] = [("pii", "Personal data"), ("secrets", "Secrets")];
const CHECK_FIELDS: [(&str, &str); 2] = [
    ("injection", "Injection screen"),
    ("output", "Output checks"),
];

/// One class's form.
pub struct PolicyView {
    pub class: &'static str,
    pub policy: ClassPolicy,
    pub allowed_providers: String,
}

impl PolicyView {
    /// Whether `action` is the current choice of the select named `field`.
    fn is(&self, field: &str, action: &str) -> bool {
        let current = match field {
            "pii" => self.policy.redaction.pii.as_str(),
            "secrets" => self.policy.redaction.secrets.as_str(),
            "injection" => self.policy.injection.as_str(),
            _ => self.policy.output.as_str(),
        };
        current == action
    }

    fn describes(&self) -> &'static str {
        match self.class {
            "public" => "Anything you would publish. Goes anywhere by default.",
            "internal" => {
                "Ordinary business data: the default class of a key. Needs a DPA by default."
            }
            "confidential" => {
                "Customer records, contracts. Needs a DPA and zero data retention by default."
            }
            _ => {
                "Never leaves your infrastructure: only self-hosted providers receive it, whatever else is set."
            }
        }
    }
}

#[derive(Template)]
#[template(path = "console/policies.html")]
pub(crate) struct PoliciesPage {
    layout: Layout,
    policies: Vec<PolicyView>,
    preview: Vec<PreviewRow>,
    classes: [&'static str; 4],
    content_actions: [&'static str; 3],
    check_actions: [&'static str; 3],
    can_manage: bool,
    notice: Option<&'static str>,
    error: FormError,
}

impl SettingsPage for PoliciesPage {
    type Typed = ();
    const PATH: &'static str = "policies";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<()>,
    ) -> Result<HttpResponse, ConsoleError> {
        let today = Utc::now().date_naive();
        let scope = &page.scope;
        render(&PoliciesPage {
            policies: policies::list(&state.store, scope)
                .await?
                .into_iter()
                .map(|(class, policy)| PolicyView {
                    class: class.as_str(),
                    allowed_providers: policy.allowed_providers.join(", "),
                    policy,
                })
                .collect(),
            preview: policies::preview(&state.store, scope, today).await?,
            classes: DataClass::ALL.map(DataClass::as_str),
            content_actions: ContentAction::ALL.map(ContentAction::as_str),
            check_actions: CheckAction::ALL.map(CheckAction::as_str),
            can_manage: scope.can(Permission::ManageProviders),
            notice: view.notice,
            error: view.error,
            layout: page.layout(state).await?,
        })
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    allowed_providers: Option<String>,
    #[serde(default)]
    require_dpa: Option<String>,
    #[serde(default)]
    require_zdr: Option<String>,
    #[serde(default)]
    require_baa: Option<String>,
    #[serde(default)]
    block_code: Option<String>,
    #[serde(default)]
    pii: Option<String>,
    #[serde(default)]
    secrets: Option<String>,
    #[serde(default)]
    injection: Option<String>,
    #[serde(default)]
    output: Option<String>,
}

impl PolicyForm {
    fn parse(&self, class: DataClass) -> Result<NewPolicy, ConsoleError> {
        const CONTENT: &str = "allow, redact or block";
        const CHECK: &str = "off, flag or block";
        Ok(NewPolicy {
            class,
            allowed_providers: form::list(&self.allowed_providers),
            require_dpa: ticked(&self.require_dpa),
            require_zdr: ticked(&self.require_zdr),
            require_baa: ticked(&self.require_baa),
            pii: choice(&self.pii, "The action on personal data", CONTENT)?,
            secrets: choice(&self.secrets, "The action on secrets", CONTENT)?,
            injection: choice(&self.injection, "The injection screen", CHECK)?,
            output: choice(&self.output, "The output check", CHECK)?,
            block_code: ticked(&self.block_code),
        })
    }
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, String)>,
    post: TenantForm<PolicyForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, class) = path.into_inner();
    let TenantForm { page, form } = post;
    let class: DataClass = class.parse().map_err(|_| ConsoleError::NotFound)?;
    let saved = async {
        let policy = form.parse(class)?;
        policies::save(&state.store, &page.scope, &page.actor(&req), policy).await
    }
    .await;
    match saved {
        // Back to the class's own form.
        Ok(()) => Ok(redirect(&format!(
            "/t/{}/policies?saved=1#policy-{}",
            page.slug(),
            class.as_str()
        ))),
        other => {
            super::save_or_redisplay::<PoliciesPage>(&state, &page, class.as_str(), (), other).await
        }
    }
}
