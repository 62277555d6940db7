//! `airlock admin set-…`: every setting the relay enforces, from the shell, through
//! the same tenant functions as the console (validated and audited alike). Each
//! command changes only the options it is given; `none` clears a limit (and `any`
//! an allow-list). Relays apply a change within a second.

use airlock_console::tenant::agreements::NewAgreement;
use airlock_console::tenant::limits::{EnvDefaultsInput, KeyLimits, KeyLimitsInput, TenantLimits};
use airlock_console::tenant::providers::SelfHosted;
use airlock_console::tenant::{self, Change};
use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_core::policy::{
    CheckAction, InjectionAction, JudgeFailure, JudgeSettings, UnknownAction,
};
use airlock_core::redact::ContentAction;
use chrono::{NaiveDate, TimeZone, Utc};
use clap::Subcommand;

use crate::admin::Operator;

// The variants are the CLI's verbs (`set-key-limits`, `set-policy`, …).
#[allow(clippy::enum_variant_names)]
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Change a key's limits, budgets, allow-lists, data classes, ceiling or expiry.
    SetKeyLimits {
        #[arg(long)]
        tenant: String,
        /// The key's display prefix (e.g. dev_Ab12Cd34).
        #[arg(long)]
        prefix: String,
        /// Requests per minute, or `none` for the environment's default.
        #[arg(long, value_parser = parse_count)]
        rpm: Option<Change<u32>>,
        /// Tokens per minute, or `none`.
        #[arg(long, value_parser = parse_count)]
        tpm: Option<Change<u32>>,
        /// Dollars per UTC day (e.g. 5 or 0.25), or `none`.
        #[arg(long, value_parser = parse_money)]
        daily_budget: Option<Change<MicroDollars>>,
        /// Dollars per UTC month, or `none`.
        #[arg(long, value_parser = parse_money)]
        monthly_budget: Option<Change<MicroDollars>>,
        /// Most dollars one request may cost, or `none`.
        #[arg(long, value_parser = parse_money)]
        per_request_cap: Option<Change<MicroDollars>>,
        /// Comma-separated IPv4/IPv6 addresses or CIDRs, or `any`.
        #[arg(long)]
        ip_allowlist: Option<String>,
        /// Comma-separated models, or `any`.
        #[arg(long)]
        allowed_models: Option<String>,
        /// Highest data class the key may send.
        #[arg(long, value_parser = parse_class)]
        max_class: Option<DataClass>,
        /// Class of requests without an X-Airlock-Classification header.
        #[arg(long, value_parser = parse_class)]
        default_class: Option<DataClass>,
        /// Highest `max_tokens` a request may ask for, or `none`.
        #[arg(long, value_parser = parse_count)]
        max_tokens: Option<Change<u32>>,
        /// Refuse requests over the ceiling (true) instead of lowering them (false).
        #[arg(long)]
        reject_over_ceiling: Option<bool>,
        /// Expiry date (YYYY-MM-DD, UTC midnight), or `none`.
        #[arg(long, value_parser = parse_date_change)]
        expires: Option<Change<NaiveDate>>,
    },
    /// Change an environment's defaults: key limits and the environment's monthly budget.
    SetEnvDefaults {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_env)]
        env: Env,
        #[arg(long)]
        rpm: Option<u32>,
        #[arg(long, value_parser = parse_count)]
        tpm: Option<Change<u32>>,
        #[arg(long, value_parser = parse_dollars)]
        monthly_budget: Option<MicroDollars>,
        #[arg(long)]
        max_key_age_days: Option<u32>,
    },
    /// Change the tenant-wide limits (across every key).
    SetTenantLimits {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_count)]
        rpm: Option<Change<u32>>,
        #[arg(long, value_parser = parse_count)]
        tpm: Option<Change<u32>>,
        #[arg(long, value_parser = parse_money)]
        monthly_budget: Option<Change<MicroDollars>>,
    },
    /// Record the agreement with a provider (replaces what was on file).
    SetAgreement {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        provider: String,
        /// Date the DPA was signed (YYYY-MM-DD); without it there is no DPA.
        #[arg(long, value_parser = parse_date)]
        dpa_signed: Option<NaiveDate>,
        #[arg(long)]
        dpa_reference: Option<String>,
        #[arg(long)]
        baa: bool,
        #[arg(long)]
        zero_retention: bool,
        #[arg(long)]
        training_opt_out: bool,
        #[arg(long)]
        region: Option<String>,
        /// The agreement's end date; after it, it counts as none.
        #[arg(long, value_parser = parse_date)]
        expires: Option<NaiveDate>,
    },
    /// Change a data class's policy (starting from what is stored, or the default).
    SetPolicy {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_class)]
        class: DataClass,
        /// Comma-separated provider names that may receive the class, or `any`.
        #[arg(long)]
        providers: Option<String>,
        #[arg(long)]
        require_dpa: Option<bool>,
        #[arg(long)]
        require_zdr: Option<bool>,
        #[arg(long)]
        require_baa: Option<bool>,
        /// allow, redact or block.
        #[arg(long, value_parser = parse_content)]
        pii: Option<ContentAction>,
        /// allow, redact or block.
        #[arg(long, value_parser = parse_content)]
        secrets: Option<ContentAction>,
        /// off, flag, block or judge (judge needs --judge-provider, --judge-model
        /// and --judge-on-failure, given now or before).
        #[arg(long, value_parser = parse_injection)]
        injection: Option<InjectionAction>,
        /// The judge: one of the tenant's provider names.
        #[arg(long)]
        judge_provider: Option<String>,
        /// The judge's model.
        #[arg(long)]
        judge_model: Option<String>,
        /// How long to wait for the judge, in ms (100–30000, default 2000).
        #[arg(long)]
        judge_timeout_ms: Option<u32>,
        /// closed (refuse) or open (let through, flagged) when the judge does not answer.
        #[arg(long, value_parser = parse_judge_failure)]
        judge_on_failure: Option<JudgeFailure>,
        /// off, flag or block (block replaces the answer with a refusal).
        #[arg(long, value_parser = parse_check)]
        output: Option<CheckAction>,
        /// Treat script or shell-execution markers in answers as a finding.
        #[arg(long)]
        block_code: Option<bool>,
    },
    /// Mark a provider as self-hosted (restricted data may go to it) or not.
    SetSelfHosted {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        provider: String,
        #[arg(long, action = clap::ArgAction::Set)]
        value: bool,
    },
}

fn clearable<T>(s: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Change<T>, String> {
    if s.eq_ignore_ascii_case("none") {
        Ok(Change::Clear)
    } else {
        parse(s).map(Change::Set)
    }
}
fn parse_injection(s: &str) -> Result<InjectionAction, String> {
    s.parse().map_err(|e: UnknownAction| e.to_string())
}
fn parse_judge_failure(s: &str) -> Result<JudgeFailure, String> {
    s.parse().map_err(|e: UnknownAction| e.to_string())
}
fn parse_count(s: &str) -> Result<Change<u32>, String> {
    clearable(s, |v| {
        v.parse::<u32>()
            .map_err(|_| "a whole number, or none".to_owned())
    })
}
fn parse_dollars(s: &str) -> Result<MicroDollars, String> {
    MicroDollars::parse_dollars(s).map_err(|e| e.to_string())
}
fn parse_money(s: &str) -> Result<Change<MicroDollars>, String> {
    clearable(s, parse_dollars)
}
fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "a date as YYYY-MM-DD".to_owned())
}
fn parse_date_change(s: &str) -> Result<Change<NaiveDate>, String> {
    clearable(s, parse_date)
}
fn parse_class(s: &str) -> Result<DataClass, String> {
    s.parse()
        .map_err(|e: airlock_core::class::UnknownDataClass| e.to_string())
}
fn parse_env(s: &str) -> Result<Env, String> {
    crate::admin::parse_env(s)
}
fn parse_content(s: &str) -> Result<ContentAction, String> {
    s.parse()
        .map_err(|e: airlock_core::policy::UnknownAction| e.to_string())
}
fn parse_check(s: &str) -> Result<CheckAction, String> {
    s.parse()
        .map_err(|e: airlock_core::policy::UnknownAction| e.to_string())
}

/// `a,b` → `["a", "b"]`; `any` → `[]` (no restriction).
fn list(s: &str) -> Vec<String> {
    if s.trim().eq_ignore_ascii_case("any") {
        return Vec::new();
    }
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn run(op: &Operator, command: PolicyCommand) -> anyhow::Result<()> {
    let (store, actor) = (&op.store, &op.actor);
    match command {
        PolicyCommand::SetKeyLimits {
            tenant,
            prefix,
            rpm,
            tpm,
            daily_budget,
            monthly_budget,
            per_request_cap,
            ip_allowlist,
            allowed_models,
            max_class,
            default_class,
            max_tokens,
            reject_over_ceiling,
            expires,
        } => {
            let scope = op.scope(&tenant).await?;
            let key = tenant::keys::by_prefix(store, &scope, &prefix)
                .await
                .map_err(|_| anyhow::anyhow!("no key starting with `{prefix}` in this tenant"))?;
            let expires_at = match expires.unwrap_or_default() {
                Change::Keep => Change::Keep,
                Change::Clear => Change::Clear,
                Change::Set(day) => {
                    Change::Set(Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN)))
                }
            };
            let limits = KeyLimits {
                rpm: rpm.unwrap_or_default(),
                tpm: tpm.unwrap_or_default(),
                daily_budget: daily_budget.unwrap_or_default(),
                monthly_budget: monthly_budget.unwrap_or_default(),
                per_request_cap: per_request_cap.unwrap_or_default(),
                ip_allowlist: ip_allowlist.as_deref().map(list),
                allowed_models: allowed_models.as_deref().map(list),
                max_data_class: max_class,
                default_data_class: default_class,
                max_tokens_ceiling: max_tokens.unwrap_or_default(),
                reject_over_ceiling,
                expires_at,
            };
            let input = KeyLimitsInput {
                key_id: key.id,
                limits,
            };
            let key = tenant::limits::save_key_limits(store, &scope, actor, input).await?;
            println!("updated key {}", key.display_prefix);
        }
        PolicyCommand::SetEnvDefaults {
            tenant,
            env,
            rpm,
            tpm,
            monthly_budget,
            max_key_age_days,
        } => {
            let scope = op.scope(&tenant).await?;
            let current = tenant::limits::env_defaults(store, &scope)
                .await?
                .into_iter()
                .find(|row| *row.env == env)
                .ok_or_else(|| anyhow::anyhow!("the tenant has no {env} defaults"))?;
            let input = EnvDefaultsInput {
                env,
                rpm: rpm.unwrap_or(u32::try_from(current.rpm_limit).unwrap_or(0)),
                tpm: tpm.unwrap_or_default(),
                monthly_budget: monthly_budget
                    .unwrap_or(MicroDollars::new(current.monthly_budget_micros)),
                max_key_age_days: max_key_age_days
                    .unwrap_or(u32::try_from(current.max_key_age_days).unwrap_or(0)),
                enforce_max_age: None,
            };
            tenant::limits::save_env_defaults(store, &scope, actor, input).await?;
            println!("updated the {} defaults of {}", env.as_str(), scope.slug());
        }
        PolicyCommand::SetTenantLimits {
            tenant,
            rpm,
            tpm,
            monthly_budget,
        } => {
            let scope = op.scope(&tenant).await?;
            let limits = TenantLimits {
                rpm: rpm.unwrap_or_default(),
                tpm: tpm.unwrap_or_default(),
                monthly_budget: monthly_budget.unwrap_or_default(),
            };
            tenant::limits::save_tenant_limits(store, &scope, actor, limits).await?;
            println!("updated the limits of {}", scope.slug());
        }
        PolicyCommand::SetAgreement {
            tenant,
            provider,
            dpa_signed,
            dpa_reference,
            baa,
            zero_retention,
            training_opt_out,
            region,
            expires,
        } => {
            let scope = op.scope(&tenant).await?;
            let row = tenant::agreements::save(
                store,
                &scope,
                actor,
                NewAgreement {
                    provider,
                    dpa_signed_on: dpa_signed,
                    dpa_reference,
                    baa,
                    zero_data_retention: zero_retention,
                    training_opt_out,
                    region,
                    expires_on: expires,
                },
            )
            .await?;
            println!("recorded the agreement with {}", row.provider_name);
        }
        PolicyCommand::SetPolicy {
            tenant,
            class,
            providers,
            require_dpa,
            require_zdr,
            require_baa,
            pii,
            secrets,
            injection,
            judge_provider,
            judge_model,
            judge_timeout_ms,
            judge_on_failure,
            output,
            block_code,
        } => {
            let scope = op.scope(&tenant).await?;
            let mut policy = tenant::policies::of_class(store, &scope, class).await?;
            if let Some(providers) = providers {
                policy.allowed_providers = list(&providers);
            }
            policy.require_dpa = require_dpa.unwrap_or(policy.require_dpa);
            policy.require_zdr = require_zdr.unwrap_or(policy.require_zdr);
            policy.require_baa = require_baa.unwrap_or(policy.require_baa);
            policy.pii = pii.unwrap_or(policy.pii);
            policy.secrets = secrets.unwrap_or(policy.secrets);
            policy.injection = injection.unwrap_or(policy.injection);
            if judge_provider.is_some()
                || judge_model.is_some()
                || judge_timeout_ms.is_some()
                || judge_on_failure.is_some()
            {
                let old = policy.judge.take();
                let provider = judge_provider.or_else(|| old.as_ref().map(|j| j.provider.clone()));
                let model = judge_model.or_else(|| old.as_ref().map(|j| j.model.clone()));
                let on_failure = judge_on_failure.or(old.as_ref().map(|j| j.on_failure));
                let (Some(provider), Some(model), Some(on_failure)) = (provider, model, on_failure)
                else {
                    anyhow::bail!(
                        "a judge needs --judge-provider, --judge-model and --judge-on-failure \
                         (closed or open)"
                    );
                };
                policy.judge = Some(JudgeSettings {
                    provider,
                    model,
                    timeout_ms: judge_timeout_ms
                        .or(old.map(|j| j.timeout_ms))
                        .unwrap_or(JudgeSettings::DEFAULT_TIMEOUT_MS),
                    on_failure,
                });
            }
            policy.output = output.unwrap_or(policy.output);
            policy.block_code = block_code.unwrap_or(policy.block_code);
            tenant::policies::save(store, &scope, actor, policy).await?;
            println!("updated the {class} policy of {}", scope.slug());
        }
        PolicyCommand::SetSelfHosted {
            tenant,
            provider,
            value,
        } => {
            let scope = op.scope(&tenant).await?;
            let mark = SelfHosted {
                provider: provider.clone(),
                self_hosted: value,
            };
            tenant::providers::set_self_hosted(store, &scope, actor, mark).await?;
            println!("provider {provider} self-hosted: {value}");
        }
    }
    Ok(())
}
