//! The audit log in words: each event as a sentence that names what changed (a
//! key by its prefix and name, a member by email, a provider by name) and its
//! before/after snapshots as field-by-field differences. The stored event (what
//! the hash chain covers) is unchanged; this is only how the page reads it.

use std::collections::{BTreeMap, HashMap};

use airlock_core::money::MicroDollars;
use airlock_schema::entities::audit_event;
use serde_json::{Map, Value};
use uuid::Uuid;

/// One event as the page shows it.
pub struct EventWords {
    pub seq: i64,
    pub when: String,
    pub who: String,
    pub ip: String,
    /// The stable action code (`key.revoke`), for filtering and scripts.
    pub action: String,
    /// What happened, in a sentence.
    pub summary: String,
    /// Field-by-field: `Monthly budget: $5.00 → $10.00`.
    pub changes: Vec<String>,
}

/// Names of the accounts an event may mention (members, key owners), by id.
pub type Emails = HashMap<Uuid, String>;

/// The user ids the events mention, so their emails can be read in one query.
pub fn mentioned_users(events: &[audit_event::Model]) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for event in events {
        if event.target_type == "member" {
            ids.extend(
                event
                    .target_id
                    .as_deref()
                    .and_then(|t| t.parse::<Uuid>().ok()),
            );
        }
        for snapshot in [&event.before, &event.after].into_iter().flatten() {
            collect_user_ids(snapshot, &mut ids);
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

fn collect_user_ids(value: &Value, ids: &mut Vec<Uuid>) {
    if let Value::Object(map) = value {
        for (field, v) in map {
            if is_user_field(field) {
                ids.extend(v.as_str().and_then(|s| s.parse::<Uuid>().ok()));
            } else {
                collect_user_ids(v, ids);
            }
        }
    }
}

fn is_user_field(field: &str) -> bool {
    matches!(field, "user_id" | "owner_user_id" | "owner")
}

pub fn describe(event: &audit_event::Model, emails: &Emails) -> EventWords {
    let names = Names { event, emails };
    EventWords {
        seq: event.seq,
        when: event.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        who: event.actor_label.clone(),
        ip: event.ip.clone().unwrap_or_else(|| "—".to_owned()),
        action: event.action.clone(),
        summary: names.summary(),
        changes: changes(event, emails),
    }
}

/// Reads names out of an event's target and snapshots.
struct Names<'a> {
    event: &'a audit_event::Model,
    emails: &'a Emails,
}

impl Names<'_> {
    /// A field of the newest snapshot that has it (after, else before).
    fn field(&self, name: &str) -> Option<String> {
        let snapshot = |v: &Option<Value>| {
            v.as_ref()
                .and_then(|v| v.get(name))
                .and_then(plain)
                .filter(|s| !s.is_empty())
        };
        snapshot(&self.event.after).or_else(|| snapshot(&self.event.before))
    }

    fn target(&self) -> String {
        self.event.target_id.clone().unwrap_or_default()
    }

    /// A key as people know it: `dev_ab12… “checkout”`.
    fn key(&self, snapshot: Option<&Value>) -> String {
        let field = |name: &str| snapshot.and_then(|s| s.get(name)).and_then(plain);
        let prefix = field("display_prefix");
        let name = field("name");
        match (prefix, name) {
            (Some(prefix), Some(name)) => format!("{prefix}… “{name}”"),
            (Some(prefix), None) => format!("{prefix}…"),
            (None, Some(name)) => format!("“{name}”"),
            (None, None) => "a key".to_owned(),
        }
    }

    fn key_snapshot(&self) -> Option<&Value> {
        self.event.after.as_ref().or(self.event.before.as_ref())
    }

    /// The member an event is about: the email of its target account, else what
    /// the snapshot says.
    fn member(&self) -> String {
        self.event
            .target_id
            .as_deref()
            .and_then(|t| t.parse::<Uuid>().ok())
            .and_then(|id| self.emails.get(&id).cloned())
            .or_else(|| self.field("email"))
            .unwrap_or_else(|| "a former account".to_owned())
    }

    fn summary(&self) -> String {
        let e = self.event;
        let role = || self.field("role").unwrap_or_default();
        match e.action.as_str() {
            "tenant.create" => format!(
                "Created the tenant {}",
                self.field("name").unwrap_or_default()
            ),
            "key.create" => format!(
                "Created the {} key {}",
                self.field("env").unwrap_or_default(),
                self.key(self.key_snapshot())
            ),
            "key.revoke" => format!("Revoked the key {}", self.key(self.key_snapshot())),
            "key.rotate" => {
                let after = e.after.as_ref();
                format!(
                    "Rotated the key {}; the new key is {}",
                    self.key(e.before.as_ref()),
                    self.key(after.and_then(|a| a.get("new")))
                )
            }
            "key.limits" => format!(
                "Changed the limits of the key {}",
                self.key(self.key_snapshot())
            ),
            "member.add" => format!("Added {} as {}", self.member(), role()),
            "member.join" => format!("{} joined as {}", self.member(), role()),
            "member.role" => format!("Changed the role of {}", self.member()),
            "member.remove" => format!("Removed {} from the tenant", self.member()),
            "member.invite" => format!(
                "Invited {} as {}",
                self.field("email").unwrap_or_default(),
                role()
            ),
            "member.invite_cancel" => format!(
                "Cancelled the invitation of {}",
                self.field("email").unwrap_or_default()
            ),
            "provider.create" => format!(
                "Added the provider {} ({})",
                self.target(),
                self.field("kind").unwrap_or_default()
            ),
            "provider.replace" => format!("Changed the provider {}", self.target()),
            "provider.default" => format!(
                "Made {} the default provider",
                self.field("default_provider").unwrap_or_default()
            ),
            "provider.self_hosted" => {
                let hosted = e.after.as_ref().and_then(|a| a.get("self_hosted"));
                if hosted == Some(&Value::Bool(true)) {
                    format!("Marked {} as self-hosted", self.target())
                } else {
                    format!("Marked {} as not self-hosted", self.target())
                }
            }
            "route.save" => format!(
                "Routed {} to {}",
                self.field("model").unwrap_or_default(),
                self.field("provider").unwrap_or_default()
            ),
            "route.remove" => format!(
                "Removed the route of {}",
                self.field("model").unwrap_or_default()
            ),
            "agreement.save" => format!("Recorded the agreement with {}", self.target()),
            "agreement.delete" => format!("Deleted the agreement with {}", self.target()),
            "policy.save" => format!("Changed the policy for {} data", self.target()),
            "price.save" => format!("Set the tenant's price of {}", self.target()),
            "price.remove" => format!("Removed the tenant's price of {}", self.target()),
            "budget.env_defaults" => format!("Changed the {} defaults", self.target()),
            "budget.tenant_limits" => "Changed the tenant's limits".to_owned(),
            "billing.update" => "Changed the billing settings".to_owned(),
            "alert.acknowledge" => format!(
                "Acknowledged the alert “{}”",
                self.field("subject")
                    .unwrap_or_default()
                    .trim_start_matches("[Airlock] ")
            ),
            "alerts.thresholds" => "Changed when budgets alert".to_owned(),
            "incident.contain" => {
                let verb = match self.field("containment").as_deref() {
                    Some("revoke") => "Revoked",
                    Some("rotate") => "Replaced",
                    _ => "Suspended",
                };
                format!(
                    "{verb} {} in an incident ({} keys)",
                    self.field("scope").unwrap_or_default(),
                    self.field("keys").unwrap_or_default()
                )
            }
            "incident.notify" => format!(
                "Mailed the incident report of {} to {} people",
                self.field("scope").unwrap_or_default(),
                self.field("recipients").unwrap_or_default()
            ),
            "incident.release" => format!(
                "Released {} after an incident ({} keys)",
                self.field("scope").unwrap_or_default(),
                self.field("keys").unwrap_or_default()
            ),
            other => format!("{other} on {} {}", e.target_type, self.target())
                .trim_end()
                .to_owned(),
        }
    }
}

/// A scalar as text; `None` for objects, arrays and null.
fn plain(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_owned()),
        _ => None,
    }
}

/// A snapshot flattened to `label path → value`, nested objects joined by `.`.
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, map: &Map<String, Value>, out: &mut BTreeMap<String, Value>) {
        for (field, v) in map {
            let path = if prefix.is_empty() {
                field.clone()
            } else {
                format!("{prefix}.{field}")
            };
            match v {
                Value::Object(inner) => walk(&path, inner, out),
                other => {
                    out.insert(path, other.clone());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Value::Object(map) = value {
        walk("", map, &mut out);
    }
    out
}

/// Fields that say nothing to a reader (internal ids), left out of the changes.
fn is_internal(path: &str) -> bool {
    let field = path.rsplit('.').next().unwrap_or(path);
    (field.ends_with("_id") || matches!(field, "id" | "invitation" | "key_version"))
        && !is_user_field(field)
}

/// `monthly_budget_micros` → `Monthly budget`.
fn label(path: &str) -> String {
    let words: Vec<String> = path
        .split('.')
        .map(|part| {
            let part = part.strip_suffix("_micros").unwrap_or(part);
            match part {
                "display_prefix" => "prefix".to_owned(),
                "rpm_limit" => "requests per minute".to_owned(),
                "tpm_limit" => "tokens per minute".to_owned(),
                "per_request_cap" => "cap per request".to_owned(),
                "owner_user_id" | "owner" => "owner".to_owned(),
                "user_id" => "account".to_owned(),
                "last4" => "API key ending".to_owned(),
                "dpa_signed_on" => "DPA signed on".to_owned(),
                "dpa_reference" => "DPA reference".to_owned(),
                "baa" => "BAA".to_owned(),
                "env" => "environment".to_owned(),
                "budget_thresholds" => "alert thresholds (%)".to_owned(),
                "input_per_mtok" => "input price per million tokens".to_owned(),
                "output_per_mtok" => "output price per million tokens".to_owned(),
                other => other.replace('_', " "),
            }
        })
        .collect();
    let text = words.join(", ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// A value as a person reads it: money, dates, emails, lists.
fn value_text(path: &str, value: &Value, emails: &Emails) -> String {
    let field = path.rsplit('.').next().unwrap_or(path);
    match value {
        Value::Null => "none".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) if field.ends_with("_micros") => n
            .as_i64()
            .map(|m| MicroDollars::new(m).readable().to_string())
            .unwrap_or_else(|| n.to_string()),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_user_field(field) => s
            .parse::<Uuid>()
            .ok()
            .and_then(|id| emails.get(&id).cloned())
            .unwrap_or_else(|| "a former account".to_owned()),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(time) => time
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
            Err(_) => s.clone(),
        },
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|item| value_text(field, item, emails))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => value.to_string(),
    }
}

/// The differences between an event's before and after, one line per field.
pub fn changes(event: &audit_event::Model, emails: &Emails) -> Vec<String> {
    // A rotation's after holds the old and the new key: the old one's change is
    // the retirement; the new one is named in the summary.
    let after = match (event.action.as_str(), &event.after) {
        ("key.rotate", Some(after)) => after.get("old").cloned(),
        (_, after) => after.clone(),
    };
    let before = event.before.as_ref().map(flatten);
    let after = after.as_ref().map(flatten);
    let text = |path: &str, v: &Value| value_text(path, v, emails);
    let shown = |path: &&String| !is_internal(path);
    match (before, after) {
        (Some(before), Some(after)) => {
            let paths: std::collections::BTreeSet<&String> =
                before.keys().chain(after.keys()).filter(shown).collect();
            let null = Value::Null;
            paths
                .into_iter()
                .filter_map(|path| {
                    let old = before.get(path).unwrap_or(&null);
                    let new = after.get(path).unwrap_or(&null);
                    (old != new).then(|| {
                        format!("{}: {} → {}", label(path), text(path, old), text(path, new))
                    })
                })
                .collect()
        }
        (None, Some(after)) => after
            .iter()
            .filter(|(path, v)| shown(path) && !is_empty(v))
            .map(|(path, v)| format!("{}: {}", label(path), text(path, v)))
            .collect(),
        (Some(before), None) => before
            .iter()
            .filter(|(path, v)| shown(path) && !is_empty(v))
            .map(|(path, v)| format!("{} was {}", label(path), text(path, v)))
            .collect(),
        (None, None) => Vec::new(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn event(
        action: &str,
        target: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> audit_event::Model {
        audit_event::Model {
            id: Uuid::nil(),
            tenant_id: None,
            seq: 7,
            actor_user_id: None,
            actor_label: "erin@example.com".to_owned(),
            action: action.to_owned(),
            target_type: action.split('.').next().unwrap_or_default().to_owned(),
            target_id: Some(target.to_owned()),
            ip: None,
            before,
            after,
            created_at: Utc::now(),
            prev_hash: String::new(),
            hash: String::new(),
            keyed: true,
        }
    }

    #[test]
    fn a_key_is_named_by_prefix_and_name_never_by_id() {
        let id = Uuid::new_v4();
        let revoked = event(
            "key.revoke",
            &id.to_string(),
            Some(
                json!({"display_prefix": "dev_ab12", "name": "checkout", "revoked_at": null, "rotated_from_id": null}),
            ),
            Some(
                json!({"display_prefix": "dev_ab12", "name": "checkout", "revoked_at": "2026-12-02T13:20:56.123Z", "rotated_from_id": null}),
            ),
        );
        let words = describe(&revoked, &Emails::new());
        assert_eq!(words.summary, "Revoked the key dev_ab12… “checkout”");
        assert_eq!(
            words.changes,
            vec!["Revoked at: none → 2026-12-02 13:20 UTC"]
        );
        assert!(!words.summary.contains(&id.to_string()));
    }

    #[test]
    fn money_fields_read_as_dollars_and_unchanged_fields_are_left_out() {
        let limits = event(
            "key.limits",
            "k",
            Some(json!({"name": "ci", "monthly_budget_micros": 5_000_000, "rpm_limit": 60})),
            Some(json!({"name": "ci", "monthly_budget_micros": 12_345_678, "rpm_limit": null})),
        );
        assert_eq!(
            changes(&limits, &Emails::new()),
            vec![
                "Monthly budget: $5.00 → $12.35",
                "Requests per minute: 60 → none",
            ]
        );
    }

    #[test]
    fn a_member_is_named_by_email_and_a_role_change_reads_as_one() {
        let user = Uuid::new_v4();
        let emails = Emails::from([(user, "finn@example.com".to_owned())]);
        let role = event(
            "member.role",
            &user.to_string(),
            Some(json!({"user_id": user, "role": "developer"})),
            Some(json!({"user_id": user, "role": "finance"})),
        );
        let words = describe(&role, &emails);
        assert_eq!(words.summary, "Changed the role of finn@example.com");
        assert_eq!(words.changes, vec!["Role: developer → finance"]);
        assert_eq!(mentioned_users(&[role]), vec![user]);
        // An account since deleted still reads as something.
        let removed = event(
            "member.remove",
            &Uuid::new_v4().to_string(),
            Some(json!({"role": "viewer"})),
            None,
        );
        let words = describe(&removed, &emails);
        assert_eq!(words.summary, "Removed a former account from the tenant");
        assert_eq!(words.changes, vec!["Role was viewer"]);
    }

    #[test]
    fn a_rotation_names_both_keys_and_a_creation_lists_what_was_set() {
        let rotate = event(
            "key.rotate",
            "k",
            Some(json!({"display_prefix": "dev_old1", "name": "billing", "grace_until": null})),
            Some(json!({
                "old": {"display_prefix": "dev_old1", "name": "billing", "grace_until": "2026-12-03T13:00:00Z"},
                "new": {"display_prefix": "dev_new2", "name": "billing", "grace_until": null},
            })),
        );
        let words = describe(&rotate, &Emails::new());
        assert_eq!(
            words.summary,
            "Rotated the key dev_old1… “billing”; the new key is dev_new2… “billing”"
        );
        assert_eq!(
            words.changes,
            vec!["Grace until: none → 2026-12-03 13:00 UTC"]
        );

        let created = event(
            "provider.create",
            "azure-eu",
            None,
            Some(
                json!({"name": "azure-eu", "kind": "openai", "base_url": null, "self_hosted": false, "allowed": []}),
            ),
        );
        let words = describe(&created, &Emails::new());
        assert_eq!(words.summary, "Added the provider azure-eu (openai)");
        assert_eq!(
            words.changes,
            vec!["Kind: openai", "Name: azure-eu", "Self hosted: no"]
        );
    }
}
