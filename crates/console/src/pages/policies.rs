//! Data-classification policies, one form per class, and a preview of which
//! provider may receive which class today.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::policy::{CheckAction, ClassPolicy};
use airlock_core::redact::ContentAction;
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::form::{self, choice, ticked};
use super::{FormError, Layout, actor, or_show_error, redirect, render, saved_notice};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::policy_ops::NewPolicy;
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;
use crate::tenant_config::{self, PreviewRow};

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
struct PoliciesPage {
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

async fn show(
    state: &ConsoleState,
    user: &CurrentUser,
    scope: &TenantScope,
    notice: Option<&'static str>,
    error: FormError,
) -> Result<HttpResponse, ConsoleError> {
    let today = Utc::now().date_naive();
    render(&PoliciesPage {
        policies: tenant_config::policies(&state.db, scope)
            .await?
            .into_iter()
            .map(|(class, policy)| PolicyView {
                class: class.as_str(),
                allowed_providers: policy.allowed_providers.join(", "),
                policy,
            })
            .collect(),
        preview: tenant_config::preview(&state.db, scope, today).await?,
        classes: DataClass::ALL.map(DataClass::as_str),
        content_actions: ContentAction::ALL.map(ContentAction::as_str),
        check_actions: CheckAction::ALL.map(CheckAction::as_str),
        can_manage: scope.can(Permission::ManageProviders),
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
    checked: Checked<PolicyForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (slug, class) = path.into_inner();
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let class: DataClass = class.parse().map_err(|_| ConsoleError::NotFound)?;
    let result = async {
        let policy = form.parse(class)?;
        tenant_config::save_policy(&state, &scope, &actor(&req, &user), policy).await?;
        Ok(redirect(&format!(
            "/t/{}/policies?saved=1#policy-{}",
            scope.tenant().slug,
            class.as_str()
        )))
    }
    .await;
    or_show_error(result, |message| {
        show(
            &state,
            &user,
            &scope,
            None,
            FormError::on_form(class.as_str(), message),
        )
    })
    .await
}
