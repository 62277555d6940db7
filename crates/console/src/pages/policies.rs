//! Data-classification policies, one form per class, and a preview of which
//! provider may receive which class today.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::policy::{CheckAction, ClassPolicy, InjectionAction, JudgeSettings};
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
const CHECK_FIELDS: [(&str, &str); 1] = [("output", "Output checks")];

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

    /// The judge's fields as the form shows them (blank when none is set).
    fn judge_provider(&self) -> &str {
        self.policy
            .judge
            .as_ref()
            .map_or("", |j| j.provider.as_str())
    }

    fn judge_model(&self) -> &str {
        self.policy.judge.as_ref().map_or("", |j| j.model.as_str())
    }

    fn judge_timeout_ms(&self) -> u32 {
        self.policy
            .judge
            .as_ref()
            .map_or(JudgeSettings::DEFAULT_TIMEOUT_MS, |j| j.timeout_ms)
    }

    fn judge_fails(&self, mode: &str) -> bool {
        self.policy
            .judge
            .as_ref()
            .is_some_and(|j| j.on_failure.as_str() == mode)
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
    injection_actions: [&'static str; 4],
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
            injection_actions: InjectionAction::ALL.map(InjectionAction::as_str),
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
    #[serde(default)]
    judge_provider: Option<String>,
    #[serde(default)]
    judge_model: Option<String>,
    #[serde(default)]
    judge_timeout_ms: Option<String>,
    #[serde(default)]
    judge_on_failure: Option<String>,
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
            injection: choice(
                &self.injection,
                "The injection screen",
                "off, flag, block or judge",
            )?,
            judge: self.judge()?,
            output: choice(&self.output, "The output check", CHECK)?,
            block_code: ticked(&self.block_code),
        })
    }

    /// The judge, when the form names one; all of its fields are then needed.
    fn judge(&self) -> Result<Option<JudgeSettings>, ConsoleError> {
        let provider = form::text(&self.judge_provider);
        let model = form::text(&self.judge_model);
        if provider.is_none() && model.is_none() {
            return Ok(None);
        }
        let (Some(provider), Some(model)) = (provider, model) else {
            return Err(form::invalid(
                "The judge needs both a provider and a model".into(),
            ));
        };
        let timeout_ms = match form::text(&self.judge_timeout_ms) {
            None => JudgeSettings::DEFAULT_TIMEOUT_MS,
            Some(ms) => ms.replace([',', '_'], "").parse().map_err(|_| {
                form::invalid("The judge's timeout is a number of milliseconds".into())
            })?,
        };
        Ok(Some(JudgeSettings {
            provider: provider.to_owned(),
            model: model.to_owned(),
            timeout_ms,
            on_failure: choice(
                &self.judge_on_failure,
                "When the judge does not answer",
                "closed (refuse) or open (let through, flagged)",
            )?,
        }))
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
