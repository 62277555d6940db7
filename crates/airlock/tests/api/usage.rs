//! The usage views for each role: the report, its CSV (the same numbers as the
//! page and the API), charts for an empty and a full period, strict parameters,
//! and a key's activity, metadata only.

use std::collections::BTreeMap;

use airlock_core::key::Env;
use airlock_core::role::Role;
use serde_json::{Value, json};

use crate::console::{Console, member, spawn_console};
use crate::helpers::TestApp;

async fn get(console: &Console, path: &str, token: &str, accept: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", console.url))
        .bearer_auth(token);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `1.250000` → 1_250_000.
fn micros(dollars: &str) -> i64 {
    let (whole, fraction) = dollars.split_once('.').unwrap();
    assert_eq!(fraction.len(), 6, "six decimals: {dollars}");
    whole.parse::<i64>().unwrap() * 1_000_000 + fraction.parse::<i64>().unwrap()
}

#[actix_web::test]
async fn the_csv_holds_exactly_the_reports_numbers_and_every_role_reads_usage() {
    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    let dev = app.key(Env::Dev).await;
    let prod = app.key(Env::Prod).await;
    let secret_prompt = "the quarterly numbers are 4711";
    for (i, model) in [
        "gpt-4o-mini",
        "claude-3-5-haiku-latest",
        "gpt-4o",
        "gpt-4o-mini",
    ]
    .iter()
    .cycle()
    .take(14)
    .enumerate()
    {
        let key = if i % 3 == 0 { &prod } else { &dev };
        let _ = app
            .post("/v1/chat/completions", key, json!({"model": model, "messages": [{"role": "user", "content": format!("{secret_prompt} {i}")}]}))
            .await;
    }
    app.usage_records().await;
    let mut finance = member(&app, &console, Role::Finance).await;
    let token = crate::management_api::token_of(&mut finance, "finance").await;

    let (status, body) = get(
        &console,
        "/api/v1/tenants/acme/usage?group=model",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let json_cost: BTreeMap<String, i64> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"]["label"].as_str().unwrap().to_owned(),
                g["totals"]["cost_micros"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(json_cost.len() >= 3, "{json_cost:?}");

    // The CSV, by header and by parameter: same bytes, the JSON's numbers.
    let (status, csv) = get(
        &console,
        "/api/v1/tenants/acme/usage?group=model",
        &token,
        Some("text/csv"),
    )
    .await;
    assert_eq!(status, 200);
    let (_, by_param) = get(
        &console,
        "/api/v1/tenants/acme/usage?group=model&format=csv",
        &token,
        None,
    )
    .await;
    assert_eq!(csv, by_param);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "date,model,requests,errors,input_tokens,output_tokens,images,unpriced_requests,cost_usd"
        )
    );
    let mut csv_cost: BTreeMap<String, i64> = BTreeMap::new();
    let mut csv_requests = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(
            chrono::NaiveDate::parse_from_str(cells[0], "%Y-%m-%d").is_ok(),
            "{line}"
        );
        *csv_cost
            .entry(if cells[1].is_empty() {
                "(none)".into()
            } else {
                cells[1].to_owned()
            })
            .or_default() += micros(cells[8]);
        csv_requests += cells[2].parse::<i64>().unwrap();
    }
    let csv_total: i64 = csv_cost.values().sum();
    assert_eq!(csv_total, report["totals"]["cost_micros"].as_i64().unwrap());
    assert_eq!(csv_requests, report["totals"]["requests"].as_i64().unwrap());
    for (model, cost) in &json_cost {
        if let Some(csv) = csv_cost.get(model) {
            assert_eq!(csv, cost, "{model}");
        }
    }
    assert!(!csv.contains(secret_prompt), "metadata only");

    // The page shows the same totals, charts with bars, and tables under them.
    let page = finance.get("/t/acme/usage?group=model").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("<strong>{csv_requests}</strong> requests")),
        "page totals"
    );
    assert!(page.body.contains(r#"<svg class="chart""#) && page.body.contains("<rect"));
    assert!(
        page.body.contains(r#"<table id="usage">"#)
            && page.body.contains(r#"<table id="per-day">"#)
    );
    assert!(page.body.contains("forecast"));
    let download = finance.get("/t/acme/usage?group=model&format=csv").await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, csv, "the page's download is the API's CSV");
    // An empty period renders too.
    let empty = finance
        .get("/t/acme/usage?period=custom&from=2020-01-01&to=2020-01-31")
        .await;
    assert_eq!(empty.status, 200);
    assert!(
        empty.body.contains("No requests in this period")
            && empty.body.contains(r#"<svg class="chart""#)
    );

    // Strict parameters: unknown names and periods over 400 days are 400s naming them.
    let (status, body) = get(
        &console,
        "/api/v1/tenants/acme/usage?colour=red",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("colour"), "{body}");
    let (status, body) = get(
        &console,
        "/api/v1/tenants/acme/usage?period=custom&from=2025-01-01&to=2026-02-15",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["param"],
        "from"
    );
    let (status, body) = get(
        &console,
        "/api/v1/tenants/acme/usage?group=colour",
        &token,
        None,
    )
    .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["error"]["param"].clone()
        ),
        (400, json!("group"))
    );
    assert_eq!(finance.get("/t/acme/usage?colour=red").await.status, 400);

    // Finance reads budgets and limits, read-only; viewers and developers read usage.
    assert_eq!(finance.get("/t/acme/limits").await.status, 200);
    assert_eq!(
        finance
            .post("/t/acme/limits/tenant", &[("rpm", "5")])
            .await
            .status,
        403
    );
    let (status, _) = get(
        &console,
        "/api/v1/tenants/acme/usage/overview",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    for role in [Role::Viewer, Role::Developer] {
        let mut browser = member(&app, &console, role).await;
        assert_eq!(
            browser.get("/t/acme/usage?group=key").await.status,
            200,
            "{role}"
        );
        assert_eq!(browser.get("/t/acme/billing").await.status, 403, "{role}");
    }

    // A key's activity: its requests, newest first, metadata only.
    let keys: Value = serde_json::from_str(
        &get(&console, "/api/v1/tenants/acme/keys?env=dev", &token, None)
            .await
            .1,
    )
    .unwrap();
    let key_id = keys["keys"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = get(
        &console,
        &format!("/api/v1/tenants/acme/keys/{key_id}/activity"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(secret_prompt));
    let activity: Value = serde_json::from_str(&body).unwrap();
    let requests = activity["requests"].as_array().unwrap();
    assert!(!requests.is_empty() && requests.len() <= 100, "{activity}");
    let page = finance
        .get(&format!("/t/acme/keys/{key_id}/activity"))
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(secret_prompt));
}
