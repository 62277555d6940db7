//! The only code that talks to Stripe: async-stripe's client, pointed at
//! `billing.stripe_api_base` (Stripe's own by default; tests point it at a local
//! fake). One attempt per call with a timeout; retries are the caller's (the
//! sync backs off, and meter events carry identifiers Stripe deduplicates).
//! Errors become a [`StripeFailure`]: a one-line message fit for a page, and
//! whether a retry could help. Nothing here logs a key or a body.

use std::collections::HashMap;
use std::time::Duration;

use airlock_schema::entities::billing_report;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use stripe::{ApiErrorsCode, Client, ClientBuilder, RequestStrategy, StripeError};
use stripe_billing::billing_meter::ListBillingMeter;
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_meter_event_summary::{
    ListIdBillingMeterEventSummary, ListIdBillingMeterEventSummaryValueGroupingWindow,
};
use stripe_client_core::{RequestBuilder, StripeMethod};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use uuid::Uuid;

/// How long one call to Stripe may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Invoices the billing page lists.
const INVOICES_SHOWN: i64 = 24;

/// Why a call to Stripe did not work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeFailure {
    /// One line for people: Stripe's message, or what went wrong on the way.
    pub message: String,
    /// A later try may work (network, timeout, 429, 5xx).
    pub retryable: bool,
    /// Stripe answered that the object does not exist.
    pub not_found: bool,
}

impl From<StripeError> for StripeFailure {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(api, status) => StripeFailure {
                message: api
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("{} ({status})", api.type_.as_str())),
                retryable: status == 409 || status == 429 || status >= 500,
                not_found: status == 404 || api.code == Some(ApiErrorsCode::ResourceMissing),
            },
            StripeError::Timeout => StripeFailure {
                message: "Stripe did not answer in time".into(),
                retryable: true,
                not_found: false,
            },
            StripeError::ClientError(_) => StripeFailure {
                message: "Stripe could not be reached".into(),
                retryable: true,
                not_found: false,
            },
            StripeError::JSONDeserialize(_) => StripeFailure {
                message: "Stripe's answer could not be read".into(),
                retryable: true,
                not_found: false,
            },
            StripeError::ConfigError(_) => StripeFailure {
                message: "the Stripe client is misconfigured (check billing.stripe_api_base)"
                    .into(),
                retryable: false,
                not_found: false,
            },
        }
    }
}

/// An invoice as the billing page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub id: Option<String>,
    pub number: Option<String>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// In the currency's smallest unit (cents).
    pub amount_due: i64,
    pub currency: String,
    pub status: Option<String>,
    pub hosted_invoice_url: Option<String>,
}

fn time(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

impl From<&stripe_shared::Invoice> for InvoiceLine {
    fn from(invoice: &stripe_shared::Invoice) -> Self {
        InvoiceLine {
            id: invoice.id.as_ref().map(|id| id.as_str().to_owned()),
            number: invoice.number.clone(),
            period_start: time(invoice.period_start),
            period_end: time(invoice.period_end),
            amount_due: invoice.amount_due,
            currency: invoice.currency.to_string(),
            status: invoice.status.as_ref().map(|s| s.as_str().to_owned()),
            hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        }
    }
}

/// One meter event summary: the value Stripe aggregated over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub value: f64,
}

/// Stripe, as Airlock uses it.
pub struct StripeApi {
    client: Client,
    meter_event_name: String,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi")
            .field("meter_event_name", &self.meter_event_name)
            .finish_non_exhaustive()
    }
}

impl StripeApi {
    /// A client for the account of `secret_key` at `api_base`.
    pub fn new(
        secret_key: &str,
        api_base: &str,
        meter_event_name: &str,
    ) -> Result<StripeApi, String> {
        Self::with_timeout(secret_key, api_base, meter_event_name, CALL_TIMEOUT)
    }

    /// [`StripeApi::new`] with another limit on each call (tests use a short one).
    pub fn with_timeout(
        secret_key: &str,
        api_base: &str,
        meter_event_name: &str,
        timeout: Duration,
    ) -> Result<StripeApi, String> {
        // Two TLS crypto providers are compiled into the binary (sqlx and lettre
        // use ring too, reqwest may bring another); pick ring for the process
        // before the client is built, or rustls refuses to choose.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // async-stripe joins `{base}v1{path}`: a base with a path needs its slash.
        let mut base = api_base.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!(
                "billing.stripe_api_base must be an http(s) URL, not `{}`",
                api_base.chars().take(80).collect::<String>()
            ));
        }
        let name = meter_event_name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err("billing.meter_event_name must be 1 to 100 characters".into());
        }
        let client = ClientBuilder::new(secret_key)
            .url(base)
            .timeout(timeout)
            .request_strategy(RequestStrategy::Once)
            .build()
            .map_err(|e| format!("the Stripe client could not be made: {e}"))?;
        Ok(StripeApi {
            client,
            meter_event_name: name.to_owned(),
        })
    }

    pub fn meter_event_name(&self) -> &str {
        &self.meter_event_name
    }

    /// Makes a customer for a tenant; returns its `cus_…` id.
    pub async fn create_customer(
        &self,
        name: &str,
        email: Option<&str>,
        slug: &str,
        tenant_id: Uuid,
    ) -> Result<String, StripeFailure> {
        let mut request = CreateCustomer::new().name(name).metadata(HashMap::from([
            ("airlock_tenant".to_owned(), slug.to_owned()),
            ("airlock_tenant_id".to_owned(), tenant_id.to_string()),
        ]));
        if let Some(email) = email {
            request = request.email(email);
        }
        let customer = request.send(&self.client).await?;
        Ok(customer.id.as_str().to_owned())
    }

    /// Whether a customer exists (a deleted one does not).
    pub async fn check_customer(&self, id: &str) -> Result<(), StripeFailure> {
        match RetrieveCustomer::new(id).send(&self.client).await? {
            RetrieveCustomerReturned::Customer(_) => Ok(()),
            RetrieveCustomerReturned::DeletedCustomer(_) => Err(StripeFailure {
                message: format!("the Stripe customer {id} was deleted"),
                retryable: false,
                not_found: true,
            }),
        }
    }

    /// Reports one report as a Billing Meter Event, with its identifier.
    pub async fn send_meter_event(
        &self,
        report: &billing_report::Model,
    ) -> Result<(), StripeFailure> {
        CreateBillingMeterEvent::new(
            self.meter_event_name.clone(),
            HashMap::from([
                ("stripe_customer_id".to_owned(), report.customer_id.clone()),
                ("value".to_owned(), report.value_micros.to_string()),
            ]),
        )
        .identifier(report.identifier.clone())
        .timestamp(report.event_timestamp.timestamp())
        .send(&self.client)
        .await?;
        Ok(())
    }

    /// The id of the meter with Airlock's event name (Stripe has no filter for it).
    pub async fn meter_id(&self) -> Result<Option<String>, StripeFailure> {
        let mut after: Option<String> = None;
        loop {
            let mut request = ListBillingMeter::new().limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.clone());
            }
            let page = request.send(&self.client).await?;
            if let Some(meter) = page
                .data
                .iter()
                .find(|m| m.event_name == self.meter_event_name)
            {
                return Ok(Some(meter.id.as_str().to_owned()));
            }
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.as_str().to_owned()),
                _ => return Ok(None),
            }
        }
    }

    /// What Stripe aggregated for a customer, per UTC day of `[start, end)`.
    pub async fn daily_summaries(
        &self,
        meter_id: &str,
        customer: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Summary>, StripeFailure> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut request = ListIdBillingMeterEventSummary::new(
                meter_id,
                customer,
                end.timestamp(),
                start.timestamp(),
            )
            .value_grouping_window(ListIdBillingMeterEventSummaryValueGroupingWindow::Day)
            .limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.clone());
            }
            let page = request.send(&self.client).await?;
            out.extend(page.data.iter().map(|s| Summary {
                start: time(s.start_time),
                end: time(s.end_time),
                value: s.aggregated_value,
            }));
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.as_str().to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The customer's latest invoices, newest first.
    pub async fn invoices(&self, customer: &str) -> Result<Vec<InvoiceLine>, StripeFailure> {
        #[derive(Serialize)]
        struct Query<'a> {
            customer: &'a str,
            limit: i64,
        }
        let list: stripe_types::List<stripe_shared::Invoice> =
            RequestBuilder::new(StripeMethod::Get, "/invoices")
                .query(&Query {
                    customer,
                    limit: INVOICES_SHOWN,
                })
                .customize()
                .send(&self.client)
                .await?;
        Ok(list.data.iter().map(InvoiceLine::from).collect())
    }

    /// A preview of the customer's next invoice, if Stripe has one to preview.
    pub async fn upcoming_invoice(
        &self,
        customer: &str,
    ) -> Result<Option<InvoiceLine>, StripeFailure> {
        let form: HashMap<&str, &str> = HashMap::from([("customer", customer)]);
        let preview: Result<stripe_shared::Invoice, StripeError> =
            RequestBuilder::new(StripeMethod::Post, "/invoices/create_preview")
                .form(&form)
                .customize()
                .send(&self.client)
                .await;
        match preview {
            Ok(invoice) => Ok(Some(InvoiceLine::from(&invoice))),
            Err(StripeError::Stripe(api, _))
                if api.code == Some(ApiErrorsCode::InvoiceUpcomingNone) =>
            {
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    }
}
