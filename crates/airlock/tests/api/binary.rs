//! Tests that spawn the real `airlock` binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use airlock_schema::entities::usage_record;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

fn airlock() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    for var in [
        "AIRLOCK_MASTER_KEY",
        "AIRLOCK_KEY_PEPPER",
        "AIRLOCK_JWT_SECRET",
        "DATABASE_URL",
        "AIRLOCK_CONFIG",
    ] {
        command.env_remove(var).env_remove(format!("{var}_FILE"));
    }
    command
}

#[test]
fn outside_demo_the_server_refuses_to_start_without_secrets_and_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = airlock()
        .args(["relay", "--relay-addr", "127.0.0.1:0"])
        .env(
            "AIRLOCK_DATABASE_URL",
            format!("sqlite://{}/x.db?mode=rwc", dir.path().display()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AIRLOCK_MASTER_KEY is not set"), "{stderr}");
}

#[test]
fn a_secret_and_its_file_twin_together_are_refused() {
    let output = airlock()
        .args(["relay"])
        .env("AIRLOCK_MASTER_KEY", "x")
        .env("AIRLOCK_MASTER_KEY_FILE", "/dev/null")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("both AIRLOCK_MASTER_KEY and AIRLOCK_MASTER_KEY_FILE are set"),
        "{stderr}"
    );
}

#[test]
fn docker_compose_file_parses_and_wires_the_services() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docker-compose.yml"
    ))
    .unwrap();
    let compose: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let services = compose["services"].as_mapping().unwrap();
    for name in [
        "postgres", "redis", "relay1", "relay2", "console", "migrate",
    ] {
        assert!(services.contains_key(name), "missing service {name}");
    }
    assert_eq!(
        compose["services"]["relay1"]["command"]
            .as_sequence()
            .map(|s| s[0].as_str()),
        Some(Some("relay"))
    );
}

/// A graceful shutdown under load loses no usage record of a completed request,
/// and the server's log (at debug level) holds no prompt, completion or key.
#[actix_web::test]
async fn sigterm_under_load_flushes_every_completed_requests_usage_and_logs_no_content() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let mut child = airlock()
        .env("RUST_LOG", "debug")
        .args([
            "serve",
            "--demo",
            "--json",
            "--relay-addr",
            "127.0.0.1:0",
            "--console-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let demo: Value = serde_json::from_str(&line).unwrap();
    let relay = demo["relay_url"].as_str().unwrap().to_owned();
    let key = demo["keys"]["prod"].as_str().unwrap().to_owned();

    let client = reqwest::Client::new();
    let completed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, relay, key, completed) = (
            client.clone(),
            relay.clone(),
            key.clone(),
            completed.clone(),
        );
        tasks.push(actix_web::rt::spawn(async move {
            loop {
                let sent = client.post(format!("{relay}/v1/chat/completions")).bearer_auth(&key)
                    .json(&serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "load CANARY-LOG-41c2"}]}))
                    .send().await;
                let Ok(response) = sent else { break };
                if response.status() != 200 || response.bytes().await.is_err() {
                    break;
                }
                completed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    for task in tasks {
        let _ = task.await;
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "airlock exited with {status}");

    let url = format!("sqlite://{}/airlock-demo.db?mode=ro", dir.path().display());
    let db = airlock_schema::db::connect(&url).await.unwrap();
    let stored = usage_record::Entity::find().count(&db).await.unwrap() as usize;
    let completed = completed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(completed > 0);
    assert!(
        stored >= completed,
        "{stored} usage records for {completed} completed requests"
    );
}

const CLI_JWT_SECRET: &str = "cli-test-jwt-secret-0123456789abcdef0123";

/// Every policy setting can be set from the CLI; bad values get a clear message;
/// every change is in the tenant's audit log under the CLI's actor, and the chain
/// verifies.
#[actix_web::test]
async fn the_admin_cli_sets_every_policy_setting() {
    use airlock_schema::entities::{
        classification_policy, env_default, provider_agreement, relay_key, tenant,
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    let admin = |args: &[&str]| {
        let output = airlock()
            .arg("admin")
            .args(args)
            .env("DATABASE_URL", &url)
            .env("AIRLOCK_KEY_PEPPER", "cli-test-pepper-0123456789abcdef0123")
            .env(
                "AIRLOCK_MASTER_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env("AIRLOCK_JWT_SECRET", CLI_JWT_SECRET)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    assert!(admin(&["create-tenant", "--slug", "acme", "--name", "Acme"]).0);
    let (ok, out) = admin(&[
        "create-key",
        "--tenant",
        "acme",
        "--env",
        "dev",
        "--name",
        "k",
    ]);
    assert!(ok, "{out}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("dev_"))
        .unwrap()
        .to_owned();
    let prefix = airlock_core::key::RelayKey::parse(&key)
        .unwrap()
        .display_prefix();

    for args in [
        vec![
            "set-key-limits",
            "--tenant",
            "acme",
            "--prefix",
            &prefix,
            "--rpm",
            "20",
            "--tpm",
            "5000",
            "--daily-budget",
            "1.5",
            "--per-request-cap",
            "0.05",
            "--ip-allowlist",
            "10.0.0.0/8,2001:db8::/32",
            "--max-class",
            "confidential",
            "--default-class",
            "public",
            "--max-tokens",
            "512",
            "--reject-over-ceiling",
            "true",
            "--expires",
            "2027-01-31",
        ],
        vec![
            "set-env-defaults",
            "--tenant",
            "acme",
            "--env",
            "prod",
            "--rpm",
            "900",
            "--tpm",
            "200000",
            "--monthly-budget",
            "750",
        ],
        vec![
            "set-tenant-limits",
            "--tenant",
            "acme",
            "--rpm",
            "5000",
            "--monthly-budget",
            "2000",
        ],
        vec![
            "set-agreement",
            "--tenant",
            "acme",
            "--provider",
            "openai",
            "--dpa-signed",
            "2026-02-01",
            "--dpa-reference",
            "DPA-2026-7",
            "--zero-retention",
            "--region",
            "eu",
            "--expires",
            "2027-02-01",
        ],
        vec![
            "set-policy",
            "--tenant",
            "acme",
            "--class",
            "confidential",
            "--providers",
            "openai,anthropic",
            "--require-baa",
            "true",
            "--pii",
            "block",
            "--injection",
            "block",
            "--output",
            "block",
            "--block-code",
            "true",
        ],
    ] {
        let (ok, out) = admin(&args);
        assert!(ok, "{args:?}: {out}");
    }
    let (ok, out) = admin(&[
        "set-key-limits",
        "--tenant",
        "acme",
        "--prefix",
        &prefix,
        "--ip-allowlist",
        "10.0.0.0/33",
    ]);
    assert!(!ok && out.contains("is not an IP address or CIDR"), "{out}");
    let (ok, out) = admin(&[
        "set-policy",
        "--tenant",
        "acme",
        "--class",
        "public",
        "--pii",
        "maybe",
    ]);
    assert!(!ok && out.contains("allow, redact, block"), "{out}");
    // A judge needs all its parts, and must be one of the tenant's providers.
    let (ok, out) = admin(&[
        "set-policy",
        "--tenant",
        "acme",
        "--class",
        "internal",
        "--injection",
        "judge",
    ]);
    assert!(
        !ok && out.contains("injection = judge needs a judge"),
        "{out}"
    );
    let (ok, out) = admin(&[
        "set-policy",
        "--tenant",
        "acme",
        "--class",
        "internal",
        "--injection",
        "judge",
        "--judge-provider",
        "openai",
        "--judge-model",
        "gpt-4o-mini",
    ]);
    assert!(!ok && out.contains("--judge-on-failure"), "{out}");
    let (ok, out) = admin(&[
        "set-policy",
        "--tenant",
        "acme",
        "--class",
        "internal",
        "--injection",
        "judge",
        "--judge-provider",
        "nowhere",
        "--judge-model",
        "m",
        "--judge-on-failure",
        "open",
    ]);
    assert!(
        !ok && out.contains("not one of this tenant's providers"),
        "{out}"
    );

    let db = airlock_schema::db::connect(&url).await.unwrap();
    let k = relay_key::Entity::find().one(&db).await.unwrap().unwrap();
    assert_eq!(
        (k.rpm_limit, k.tpm_limit, k.daily_budget_micros),
        (Some(20), Some(5000), Some(1_500_000))
    );
    assert_eq!(
        (
            k.per_request_cap_micros,
            k.max_tokens_ceiling,
            k.reject_over_ceiling
        ),
        (Some(50_000), Some(512), true)
    );
    assert_eq!(
        k.ip_allowlist,
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    assert_eq!(
        (k.max_data_class.as_str(), k.default_data_class.as_str()),
        ("confidential", "public")
    );
    let t = tenant::Entity::find().one(&db).await.unwrap().unwrap();
    assert_eq!(
        (t.rpm_limit, t.monthly_budget_micros),
        (Some(5000), Some(2_000_000_000))
    );
    let prod = env_default::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|e| *e.env == airlock_core::key::Env::Prod)
        .unwrap();
    assert_eq!(
        (prod.rpm_limit, prod.tpm_limit, prod.monthly_budget_micros),
        (900, Some(200_000), 750_000_000)
    );
    let a = provider_agreement::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(a.zero_data_retention && !a.baa && a.dpa_reference.as_deref() == Some("DPA-2026-7"));
    let p = classification_policy::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            p.pii_action.as_str(),
            p.injection_action.as_str(),
            p.output_action.as_str()
        ),
        ("block", "block", "block")
    );
    assert!(p.require_baa && p.block_code && p.require_dpa && p.require_zdr);

    // The rest of the write commands.
    let (ok, out) = admin(&[
        "create-user",
        "--tenant",
        "acme",
        "--email",
        "ops@acme.test",
        "--role",
        "admin",
        "--generate-password",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = admin(&[
        "set-credential",
        "--tenant",
        "acme",
        "--name",
        "local",
        "--kind",
        "mock",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = admin(&[
        "set-self-hosted",
        "--tenant",
        "acme",
        "--provider",
        "local",
        "--value",
        "true",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = admin(&["revoke-key", "--tenant", "acme", "--prefix", &prefix]);
    assert!(ok, "{out}");
    // A base URL the console would refuse, the CLI refuses too.
    let (ok, out) = admin(&[
        "set-credential",
        "--tenant",
        "acme",
        "--name",
        "inside",
        "--kind",
        "mock",
        "--base-url",
        "http://10.0.0.1/v1",
    ]);
    assert!(!ok, "{out}");

    use airlock_schema::entities::audit_event;
    use sea_orm::QueryOrder;
    let events = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .all(&db)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "tenant.create",
        "key.create",
        "key.limits",
        "budget.env_defaults",
        "budget.tenant_limits",
        "agreement.save",
        "policy.save",
        "member.add",
        "provider.create",
        "provider.self_hosted",
        "key.revoke",
    ] {
        assert!(
            actions.contains(&expected),
            "no {expected} event in {actions:?}"
        );
    }
    assert!(
        events.iter().all(|e| e.actor_label.starts_with("cli:")),
        "{events:?}"
    );
    let store = airlock_console::tenant::Store::new(
        db.clone(),
        airlock_console::tenant::AuditKey::derive(CLI_JWT_SECRET.as_bytes()).unwrap(),
    );
    let scope = airlock_console::tenant::TenantScope::operator(&db, "acme")
        .await
        .unwrap();
    assert!(matches!(
        airlock_console::tenant::audit::verify(&store, &scope)
            .await
            .unwrap(),
        airlock_console::tenant::audit::ChainStatus::Intact { .. }
    ));
}

/// The CLI works on a running demo: `--data-dir` gives it the demo's database
/// and the secrets the demo wrote (mode 0600), and what it does, the demo's relay
/// obeys and its audit log shows.
#[actix_web::test]
async fn the_admin_cli_works_against_a_running_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = airlock()
        .args([
            "serve",
            "--demo",
            "--json",
            "--relay-addr",
            "127.0.0.1:0",
            "--console-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let demo: Value = serde_json::from_str(&line).unwrap();
    let relay = demo["relay_url"].as_str().unwrap().to_owned();
    let secrets = dir.path().join("secrets.env");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secrets.env is for its owner only");
    }
    let output = airlock()
        .args(["admin", "--data-dir"])
        .arg(dir.path())
        .args([
            "create-key",
            "--tenant",
            "demo",
            "--env",
            "stg",
            "--name",
            "from-cli",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(key.starts_with("stg_"), "{key}");
    let client = reqwest::Client::new();
    let chat = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let mut status = 0;
    for _ in 0..20 {
        status = client
            .post(format!("{relay}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the demo's relay took the CLI's key");
    let db = airlock_schema::db::connect(&format!(
        "sqlite://{}?mode=rw",
        dir.path().join("airlock-demo.db").display()
    ))
    .await
    .unwrap();
    use airlock_schema::entities::audit_event;
    let events = audit_event::Entity::find().all(&db).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "key.create" && e.actor_label.starts_with("cli:")),
        "{events:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `airlock jobs run-once` needs only a database (no server secrets): it runs
/// each job and says what it did; an unknown job is refused with the list of
/// jobs.
#[test]
fn jobs_run_once_runs_every_job_with_only_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db?mode=rwc", dir.path().display());
    let migrated = airlock()
        .args(["migrate"])
        .env("AIRLOCK_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let output = airlock()
        .args(["jobs", "run-once"])
        .env("AIRLOCK_DATABASE_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "budget-alerts: 0 tenants checked, 0 alerts fired",
            "rotation-reminders: 0 keys near their deadline, 0 reminders fired",
            "anomaly-detection: 0 keys checked, 0 anomalies, 0 keys suspended",
            "alert-mail: no mail server configured (smtp_url)",
            "billing-sync: billing is off (no Stripe key)",
        ]
    );
    let wrong = airlock()
        .args(["jobs", "run-once", "--job", "everything"])
        .env("AIRLOCK_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(
            "no job `everything`; the jobs are budget-alerts, rotation-reminders, anomaly-detection, alert-mail, billing-sync"
        ),
        "{stderr}"
    );
}

/// `airlock incident contain|release` need only the database; with the JWT
/// secret each step is audited, without it the command says it is not.
#[test]
fn incident_commands_contain_and_release_and_say_when_unaudited() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/incident.db?mode=rwc", dir.path().display());
    let secret = "s".repeat(48);
    let run = |args: &[&str], with_secret: bool| {
        let mut command = airlock();
        command.args(args).env("AIRLOCK_DATABASE_URL", &url);
        if with_secret {
            command.env("AIRLOCK_JWT_SECRET", &secret);
        }
        command.output().unwrap()
    };
    let made = run(
        &["admin", "create-tenant", "--slug", "acme", "--name", "Acme"],
        true,
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let without = run(
        &[
            "incident", "contain", "--tenant", "acme", "--all", "--action", "suspend",
        ],
        false,
    );
    // Without the audit key the keys are stopped all the same, and it says so.
    assert!(
        without.status.success(),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );
    let said = String::from_utf8_lossy(&without.stdout);
    assert!(
        said.contains("acme: suspended 0 keys")
            && said.contains("not in the tenant's audit log: set AIRLOCK_JWT_SECRET"),
        "{said}"
    );

    let both = run(
        &[
            "incident", "contain", "--tenant", "acme", "--all", "--env", "dev", "--action",
            "revoke",
        ],
        true,
    );
    assert!(!both.status.success(), "one of --env, --member, --all");

    let contained = run(
        &[
            "incident", "contain", "--tenant", "acme", "--env", "prod", "--action", "suspend",
            "--note", "drill",
        ],
        true,
    );
    assert!(
        contained.status.success(),
        "{}",
        String::from_utf8_lossy(&contained.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&contained.stdout).trim(),
        "acme: suspended 0 keys (every prod key); the relays refuse them within a second"
    );
    let released = run(&["incident", "release", "--tenant", "acme", "--all"], true);
    assert!(released.status.success());
    assert_eq!(
        String::from_utf8_lossy(&released.stdout).trim(),
        "acme: released 0 keys (every key of the tenant); they work again within a second"
    );
}
