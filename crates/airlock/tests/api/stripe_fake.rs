//! A local stand-in for the part of Stripe's API that Airlock calls: customers,
//! billing meters, meter events (deduplicated by identifier, as Stripe does),
//! daily meter event summaries, invoices and the upcoming-invoice preview.
//! Answers carry the fields async-stripe requires; requests are form-encoded
//! like Stripe's. Failure modes let a test break Stripe on purpose.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

pub const METER_ID: &str = "mtr_fake_airlock";
pub const SECRET_KEY: &str = "sk_test_fake_airlock";

/// How the fake answers meter events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Normal,
    /// Accepts this many more events, then answers 500 without recording.
    FailAfter(usize),
    /// Records the next event and answers 500 (Stripe took it, the answer was
    /// lost): the sender must not count it twice when it retries.
    AcceptThenFail,
    /// Takes this long before answering meter events (and records nothing).
    Stall(std::time::Duration),
}

#[derive(Clone, Debug)]
pub struct MeterEvent {
    pub identifier: String,
    pub customer: String,
    pub value: i64,
    pub timestamp: i64,
}

#[derive(Default)]
pub struct FakeState {
    pub customers: Vec<String>,
    /// Accepted events by identifier (a repeat is ignored).
    pub events: BTreeMap<String, MeterEvent>,
    /// Every meter event request, repeats included.
    pub event_requests: usize,
    pub mode: Mode,
    pub meter_event_name: String,
    /// Invoices to list, per customer.
    pub invoices: HashMap<String, Vec<Value>>,
    pub authorizations: Vec<String>,
}

#[derive(Clone)]
pub struct StripeFake {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
}

impl StripeFake {
    pub fn spawn(meter_event_name: &str) -> StripeFake {
        let state = Arc::new(Mutex::new(FakeState {
            meter_event_name: meter_event_name.to_owned(),
            ..FakeState::default()
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/customers", web::post().to(create_customer))
                .route("/v1/customers/{id}", web::get().to(retrieve_customer))
                .route("/v1/billing/meters", web::get().to(list_meters))
                .route("/v1/billing/meter_events", web::post().to(meter_event))
                .route(
                    "/v1/billing/meters/{id}/event_summaries",
                    web::get().to(summaries),
                )
                .route("/v1/invoices", web::get().to(list_invoices))
                .route("/v1/invoices/create_preview", web::post().to(preview))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}", server.addrs()[0]);
        actix_web::rt::spawn(server.run());
        StripeFake { url, state }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Stripe's total of the accepted events for a customer.
    pub fn total(&self, customer: &str) -> i64 {
        self.state
            .lock()
            .unwrap()
            .events
            .values()
            .filter(|e| e.customer == customer)
            .map(|e| e.value)
            .sum()
    }

    pub fn events(&self) -> Vec<MeterEvent> {
        self.state
            .lock()
            .unwrap()
            .events
            .values()
            .cloned()
            .collect()
    }

    pub fn event_requests(&self) -> usize {
        self.state.lock().unwrap().event_requests
    }

    /// Changes an accepted event's value, as if Stripe held something else.
    pub fn tamper(&self, identifier: &str, value: i64) {
        self.state
            .lock()
            .unwrap()
            .events
            .get_mut(identifier)
            .unwrap()
            .value = value;
    }

    pub fn add_invoice(&self, customer: &str, invoice: Value) {
        self.state
            .lock()
            .unwrap()
            .invoices
            .entry(customer.to_owned())
            .or_default()
            .push(invoice);
    }
}

type State = web::Data<Mutex<FakeState>>;

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": {"type": "invalid_request_error", "code": code, "message": message}
    }))
}

fn list(data: Vec<Value>, url: &str) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

fn customer(id: &str) -> Value {
    json!({"id": id, "object": "customer", "created": 1_700_000_000, "livemode": false})
}

fn remember_authorization(state: &State, req: &HttpRequest) {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    state.lock().unwrap().authorizations.push(auth);
}

async fn create_customer(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    remember_authorization(&state, &req);
    let fields = form(&body);
    if !fields.contains_key("metadata[airlock_tenant_id]") {
        return error(400, "parameter_missing", "metadata expected");
    }
    let mut s = state.lock().unwrap();
    let id = format!("cus_fake{}", s.customers.len() + 1);
    s.customers.push(id.clone());
    HttpResponse::Ok().json(customer(&id))
}

async fn retrieve_customer(req: HttpRequest, state: State, id: web::Path<String>) -> HttpResponse {
    remember_authorization(&state, &req);
    if state.lock().unwrap().customers.contains(&id) {
        HttpResponse::Ok().json(customer(&id))
    } else {
        error(
            404,
            "resource_missing",
            &format!("No such customer: '{id}'"),
        )
    }
}

async fn list_meters(state: State) -> HttpResponse {
    let name = state.lock().unwrap().meter_event_name.clone();
    let meter = json!({
        "id": METER_ID, "object": "billing.meter", "created": 1_700_000_000,
        "updated": 1_700_000_000, "display_name": "Airlock usage", "event_name": name,
        "livemode": false, "status": "active",
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "default_aggregation": {"formula": "sum"},
        "status_transitions": {},
        "value_settings": {"event_payload_key": "value"},
    });
    HttpResponse::Ok().json(list(vec![meter], "/v1/billing/meters"))
}

async fn meter_event(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    remember_authorization(&state, &req);
    let stall = match state.lock().unwrap().mode {
        Mode::Stall(pause) => Some(pause),
        _ => None,
    };
    if let Some(pause) = stall {
        tokio::time::sleep(pause).await;
        return error(500, "api_error", "too late");
    }
    let fields = form(&body);
    let mut s = state.lock().unwrap();
    s.event_requests += 1;
    let (Some(name), Some(customer), Some(value), Some(identifier), Some(timestamp)) = (
        fields.get("event_name"),
        fields.get("payload[stripe_customer_id]"),
        fields
            .get("payload[value]")
            .and_then(|v| v.parse::<i64>().ok()),
        fields.get("identifier"),
        fields.get("timestamp").and_then(|t| t.parse::<i64>().ok()),
    ) else {
        return error(
            400,
            "parameter_missing",
            "event_name, payload, identifier and timestamp are expected",
        );
    };
    if *name != s.meter_event_name {
        return error(400, "resource_missing", "no meter has this event name");
    }
    if timestamp > Utc::now().timestamp() + 300 {
        return error(
            400,
            "parameter_invalid_integer",
            "timestamp is in the future",
        );
    }
    let event = MeterEvent {
        identifier: identifier.clone(),
        customer: customer.clone(),
        value,
        timestamp,
    };
    match s.mode {
        Mode::FailAfter(0) => return error(500, "api_error", "Stripe is having a bad day"),
        Mode::FailAfter(n) => s.mode = Mode::FailAfter(n - 1),
        Mode::AcceptThenFail => {
            s.events.entry(identifier.clone()).or_insert(event);
            s.mode = Mode::Normal;
            return error(500, "api_error", "the answer was lost");
        }
        Mode::Normal | Mode::Stall(_) => {}
    }
    s.events.entry(identifier.clone()).or_insert(event);
    HttpResponse::Ok().json(json!({
        "object": "billing.meter_event", "created": timestamp, "event_name": name,
        "identifier": identifier, "livemode": false,
        "payload": {"stripe_customer_id": customer, "value": value.to_string()},
        "timestamp": timestamp,
    }))
}

async fn summaries(req: HttpRequest, state: State, id: web::Path<String>) -> HttpResponse {
    if id.as_str() != METER_ID {
        return error(404, "resource_missing", "No such meter");
    }
    let q = query(&req);
    let (Some(customer), Some(start), Some(end)) = (
        q.get("customer"),
        q.get("start_time").and_then(|v| v.parse::<i64>().ok()),
        q.get("end_time").and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return error(
            400,
            "parameter_missing",
            "customer, start_time and end_time are required",
        );
    };
    let s = state.lock().unwrap();
    let mut days: BTreeMap<i64, i64> = BTreeMap::new();
    for e in s.events.values() {
        if &e.customer == customer && e.timestamp >= start && e.timestamp < end {
            *days
                .entry(e.timestamp - e.timestamp.rem_euclid(86_400))
                .or_default() += e.value;
        }
    }
    let data = days
        .into_iter()
        .map(|(day, value)| {
            json!({"id": format!("mtrusg_{day}"), "object": "billing.meter_event_summary",
                   "aggregated_value": value as f64, "start_time": day, "end_time": day + 86_400,
                   "livemode": false, "meter": METER_ID})
        })
        .collect();
    HttpResponse::Ok().json(list(data, "/v1/billing/meters/event_summaries"))
}

/// An invoice with the fields async-stripe requires.
pub fn invoice(
    customer: &str,
    number: Option<&str>,
    amount_due: i64,
    status: &str,
    url: Option<&str>,
) -> Value {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    json!({
        "id": number.map(|n| format!("in_{n}")), "object": "invoice", "number": number,
        "customer": customer, "amount_due": amount_due, "amount_overpaid": 0,
        "amount_paid": 0, "amount_remaining": amount_due, "amount_shipping": 0,
        "attempt_count": 0, "attempted": false,
        "automatic_tax": {"enabled": false}, "collection_method": "charge_automatically",
        "created": start, "currency": "usd", "default_tax_rates": [], "discounts": [],
        "issuer": {"type": "self"}, "lines": list(Vec::new(), "/v1/invoices/lines"),
        "livemode": false, "payment_settings": {}, "period_start": start,
        "period_end": start + 30 * 86_400, "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0, "starting_balance": 0,
        "status_transitions": {}, "subtotal": amount_due, "total": amount_due,
        "status": status, "hosted_invoice_url": url,
    })
}

async fn list_invoices(req: HttpRequest, state: State) -> HttpResponse {
    let q = query(&req);
    let Some(customer) = q.get("customer") else {
        return error(400, "parameter_missing", "customer expected");
    };
    let data = state
        .lock()
        .unwrap()
        .invoices
        .get(customer)
        .cloned()
        .unwrap_or_default();
    HttpResponse::Ok().json(list(data, "/v1/invoices"))
}

/// The upcoming invoice: the customer's accepted usage (micro-dollars → cents).
async fn preview(state: State, body: web::Bytes) -> HttpResponse {
    let fields = form(&body);
    let Some(customer) = fields.get("customer") else {
        return error(400, "parameter_missing", "customer expected");
    };
    let s = state.lock().unwrap();
    let micros: i64 = s
        .events
        .values()
        .filter(|e| &e.customer == customer)
        .map(|e| e.value)
        .sum();
    if micros == 0 {
        return error(
            400,
            "invoice_upcoming_none",
            "No upcoming invoices for customer",
        );
    }
    HttpResponse::Ok().json(invoice(customer, None, micros / 10_000, "draft", None))
}
