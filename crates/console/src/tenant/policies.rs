//! Data-classification policies: per class, which providers may receive it and
//! with which agreements, and what the relay does about personal data, secrets,
//! injections and answers. The preview shows, for each provider and class, what
//! the relay would decide today, by the same `check_destination` on the same rows.

use airlock_core::class::DataClass;
use airlock_core::policy::{
    CheckAction, ClassBlocked, ClassPolicy, Destination, InjectionAction, JudgeSettings,
    check_destination,
};
use airlock_core::redact::ContentAction;
use airlock_schema::entities::{classification_policy, provider_credential};
use airlock_schema::settings;
use airlock_schema::stored::Stored;
use chrono::{NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// A class's policy as an admin writes it.
#[derive(Clone, Debug)]
pub struct NewPolicy {
    pub class: DataClass,
    pub allowed_providers: Vec<String>,
    pub require_dpa: bool,
    pub require_zdr: bool,
    pub require_baa: bool,
    pub pii: ContentAction,
    pub secrets: ContentAction,
    pub injection: InjectionAction,
    /// Required when `injection` is `judge`.
    pub judge: Option<JudgeSettings>,
    pub output: CheckAction,
    pub block_code: bool,
}

impl NewPolicy {
    /// The built-in default of a class, as a starting point for changes.
    pub fn default_for(class: DataClass) -> NewPolicy {
        NewPolicy::of(class, &ClassPolicy::default_for(class))
    }

    fn of(class: DataClass, p: &ClassPolicy) -> NewPolicy {
        NewPolicy {
            class,
            allowed_providers: p.allowed_providers.clone(),
            require_dpa: p.require_dpa,
            require_zdr: p.require_zdr,
            require_baa: p.require_baa,
            pii: p.redaction.pii,
            secrets: p.redaction.secrets,
            injection: p.injection,
            judge: p.judge.clone(),
            output: p.output,
            block_code: p.block_code,
        }
    }
}

/// Each class's policy, as stored or the built-in default, read the way the
/// relay reads it.
pub async fn list(
    store: &Store,
    scope: &TenantScope,
) -> Result<Vec<(DataClass, ClassPolicy)>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    read_all(store.db(), scope).await
}

async fn read_all(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<Vec<(DataClass, ClassPolicy)>, ConsoleError> {
    let rows = classification_policy::Entity::find()
        .filter(classification_policy::Column::TenantId.eq(scope.tenant_id()))
        .all(db)
        .await?;
    Ok(DataClass::ALL
        .into_iter()
        .map(|class| {
            let policy = rows
                .iter()
                .find(|r| *r.data_class == class)
                .map(settings::class_policy)
                .unwrap_or_else(|| ClassPolicy::default_for(class));
            (class, policy)
        })
        .collect())
}

/// The stored policy of one class, or its default.
pub async fn of_class(
    store: &Store,
    scope: &TenantScope,
    class: DataClass,
) -> Result<NewPolicy, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let all = read_all(store.db(), scope).await?;
    let policy = all
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| ClassPolicy::default_for(class));
    Ok(NewPolicy::of(class, &policy))
}

fn snapshot(policy: &NewPolicy) -> Value {
    json!({
        "class": policy.class.as_str(),
        "allowed_providers": policy.allowed_providers,
        "require_dpa": policy.require_dpa,
        "require_zdr": policy.require_zdr,
        "require_baa": policy.require_baa,
        "pii": policy.pii.as_str(),
        "secrets": policy.secrets.as_str(),
        "injection": policy.injection.as_str(),
        "judge": policy.judge.as_ref().map(|j| json!({
            "provider": j.provider,
            "model": j.model,
            "timeout_ms": j.timeout_ms,
            "on_failure": j.on_failure.as_str(),
        })),
        "output": policy.output.as_str(),
        "block_code": policy.block_code,
    })
}

fn check(policy: &NewPolicy) -> Result<Vec<String>, ConsoleError> {
    let providers: Vec<String> = policy
        .allowed_providers
        .iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if providers.len() > 100
        || providers
            .iter()
            .any(|p| p.len() > 64 || p.chars().any(char::is_control))
    {
        return Err(ConsoleError::Invalid(
            "a policy names at most 100 providers of at most 64 printable characters".into(),
        ));
    }
    if let Some(judge) = &policy.judge {
        let printable = |s: &str, max: usize| {
            !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
        };
        if !printable(&judge.provider, 64) || !printable(&judge.model, 128) {
            return Err(ConsoleError::Invalid(
                "the judge needs a provider name (at most 64 characters) and a model (at most 128)"
                    .into(),
            ));
        }
        if !JudgeSettings::TIMEOUT_MS.contains(&judge.timeout_ms) {
            return Err(ConsoleError::Invalid(format!(
                "the judge's timeout must be between {} and {} ms",
                JudgeSettings::TIMEOUT_MS.start(),
                JudgeSettings::TIMEOUT_MS.end()
            )));
        }
    } else if policy.injection == InjectionAction::Judge {
        return Err(ConsoleError::Invalid(
            "injection = judge needs a judge: a provider, a model, a timeout and what to do \
             when it does not answer (closed or open)"
                .into(),
        ));
    }
    Ok(providers)
}

/// The judge must be one of the tenant's own providers.
async fn check_judge_provider(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    judge: &JudgeSettings,
) -> Result<(), ConsoleError> {
    let found = provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(scope.tenant_id()))
        .filter(provider_credential::Column::Name.eq(judge.provider.trim()))
        .one(db)
        .await?;
    if found.is_none() {
        return Err(ConsoleError::Invalid(format!(
            "the judge's provider {:?} is not one of this tenant's providers",
            judge.provider.trim()
        )));
    }
    Ok(())
}

/// Writes a class's policy.
pub async fn save(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    policy: NewPolicy,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let providers = check(&policy)?;
    let txn = store.db().begin().await?;
    if let Some(judge) = &policy.judge {
        check_judge_provider(&txn, scope, judge).await?;
    }
    let before = read_all(&txn, scope)
        .await?
        .into_iter()
        .find(|(c, _)| *c == policy.class)
        .map(|(c, p)| NewPolicy::of(c, &p));
    let existing = classification_policy::Entity::find()
        .filter(classification_policy::Column::TenantId.eq(scope.tenant_id()))
        .filter(classification_policy::Column::DataClass.eq(Stored(policy.class)))
        .one(&txn)
        .await?;
    let mut active = match &existing {
        Some(row) => row.clone().into(),
        None => classification_policy::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(scope.tenant_id()),
            data_class: Set(Stored(policy.class)),
            ..Default::default()
        },
    };
    active.allowed_providers = Set(json!(providers));
    active.require_dpa = Set(policy.require_dpa);
    active.require_zdr = Set(policy.require_zdr);
    active.require_baa = Set(policy.require_baa);
    active.pii_action = Set(Stored(policy.pii));
    active.secret_action = Set(Stored(policy.secrets));
    active.injection_action = Set(Stored(policy.injection));
    active.output_action = Set(Stored(policy.output));
    active.block_code = Set(policy.block_code);
    let judge = policy.judge.as_ref();
    active.judge_provider = Set(judge.map(|j| j.provider.trim().to_owned()));
    active.judge_model = Set(judge.map(|j| j.model.trim().to_owned()));
    active.judge_timeout_ms = Set(judge.map(|j| i32::try_from(j.timeout_ms).unwrap_or(i32::MAX)));
    active.judge_on_failure = Set(judge.map(|j| j.on_failure.as_str().to_owned()));
    active.updated_at = Set(Utc::now());
    if existing.is_some() {
        active.update(&txn).await?;
    } else {
        active.insert(&txn).await?;
    }
    let after = NewPolicy {
        allowed_providers: providers,
        ..policy
    };
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "policy.save",
            target_type: "policy",
            target_id: Some(after.class.as_str().to_owned()),
            before: before.as_ref().map(snapshot),
            after: Some(snapshot(&after)),
        },
    )
    .await?;
    Ok(())
}

/// One cell of the preview: may this provider receive this class today?
pub struct PreviewCell {
    pub class: &'static str,
    /// `None`: allowed. Otherwise what stands in the way, in a few words.
    pub blocked: Option<String>,
}

pub struct PreviewRow {
    pub provider: String,
    pub cells: Vec<PreviewCell>,
}

/// For each provider and class, what the relay would decide today.
pub async fn preview(
    store: &Store,
    scope: &TenantScope,
    today: NaiveDate,
) -> Result<Vec<PreviewRow>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let db = store.db();
    let policies = read_all(db, scope).await?;
    let agreements = super::agreements::rows(db, scope).await?;
    let providers = super::providers::all_rows(db, scope).await?;
    Ok(providers
        .iter()
        .map(|provider| {
            let terms = agreements
                .iter()
                .find(|a| a.provider_name.eq_ignore_ascii_case(&provider.name))
                .map(settings::agreement_terms)
                .unwrap_or_default();
            let dest = Destination {
                name: &provider.name,
                self_hosted: settings::is_self_hosted(provider),
                agreements: terms.status_on(today),
            };
            let cells = policies
                .iter()
                .map(|(class, policy)| PreviewCell {
                    class: class.as_str(),
                    blocked: check_destination(*class, false, policy, dest)
                        .err()
                        .map(|why| match why {
                            ClassBlocked::ProviderNotAllowed { .. } => {
                                "not on the allowed list".to_owned()
                            }
                            ClassBlocked::NotSelfHosted { .. } => "not self-hosted".to_owned(),
                            ClassBlocked::MissingAgreement { missing, .. } => {
                                format!("missing {missing}")
                            }
                        }),
                })
                .collect();
            PreviewRow {
                provider: provider.name.clone(),
                cells,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;
    use airlock_core::role::Role;

    #[tokio::test]
    async fn a_saved_policy_reads_back_as_the_relay_reads_it() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let mut policy = NewPolicy::default_for(DataClass::Confidential);
        policy.allowed_providers = vec![" OpenAI ".into(), "".into()];
        policy.secrets = ContentAction::Block;
        save(&store, &scope, &Actor::cli(), policy).await.unwrap();
        let read = of_class(&store, &scope, DataClass::Confidential)
            .await
            .unwrap();
        assert_eq!(read.allowed_providers, ["openai"]);
        assert_eq!(read.secrets, ContentAction::Block);
    }

    #[tokio::test]
    async fn only_managers_change_policies_and_lists_stay_bounded() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let (_, viewer) = store.member(&scope, Role::Viewer).await;
        assert!(matches!(
            save(
                &store,
                &viewer,
                &Actor::cli(),
                NewPolicy::default_for(DataClass::Public)
            )
            .await,
            Err(ConsoleError::Forbidden)
        ));
        let mut long = NewPolicy::default_for(DataClass::Public);
        long.allowed_providers = (0..101).map(|i| format!("p{i}")).collect();
        assert!(matches!(
            save(&store, &scope, &Actor::cli(), long).await,
            Err(ConsoleError::Invalid(_))
        ));
    }
}
