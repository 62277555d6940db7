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
