//! What the pipeline knows about a request as it goes: the [`Ticket`], which
//! becomes its usage record and the headers that report limits, redactions and
//! flags (on success and on refusal alike), and the [`Accounting`] it holds until
//! its answer is known.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_core::class::DataClass;
use airlock_core::injection::Layer;
use airlock_core::money::MicroDollars;
use airlock_core::output_check::OutputFindings;
use airlock_core::pricing::{Price, cost};

use crate::budget::Reservation;
use crate::cache::CachedKey;
use crate::canonical::TokenUsage;
use crate::error::RelayError;
use crate::front::Front;
use crate::front::{TextSize, WireRequest};
use crate::limits::{RateHeaders, RateLimits, Subject};
use crate::pipeline::{INJECTION_HEADER, INJECTION_SCORE_HEADER, REDACTIONS_HEADER};
use crate::policy::{Guarded, ScreenReport, Screened};
use crate::providers::ProviderKind;
use crate::routing::Route;
use crate::state::RelayState;
use crate::usage::UsageRecord;

/// What the pipeline knows about a request so far; it becomes the usage record.
/// `headers` collects what the response reports (rate limits, redactions, flags),
/// on success and on refusal alike.
pub(crate) struct Ticket {
    started: Instant,
    pub(crate) record: UsageRecord,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The price of the routed model, once known.
    pub(crate) price: Option<Price>,
}

impl Ticket {
    pub(crate) fn new(request_id: &str, front: Front) -> Self {
        Self {
            started: Instant::now(),
            record: UsageRecord {
                request_id: request_id.to_owned(),
                endpoint: front.endpoint(),
                created_at: chrono::Utc::now(),
                ..UsageRecord::default()
            },
            headers: Vec::new(),
            price: None,
        }
    }

    /// The key is known: whose request this is.
    pub(crate) fn authenticated(&mut self, key: &CachedKey) {
        self.record.tenant_id = Some(key.tenant_id);
        tracing::Span::current().record("tenant", tracing::field::display(key.tenant_id));
        self.record.key_id = Some(key.id);
        self.record.env = Some(key.env);
    }

    /// The rate limits' answer, reported in `x-ratelimit-*` headers (the latest
    /// answer replaces the earlier one).
    pub(crate) fn rate_limited(&mut self, rate: &RateHeaders) {
        self.headers
            .retain(|(name, _)| !name.starts_with("x-ratelimit-"));
        self.headers.extend(rate.pairs());
    }

    pub(crate) fn classified(&mut self, class: DataClass) {
        self.record.data_class = Some(class);
    }

    /// The request as parsed: its counts, model and a keyed digest of its text
    /// (finance spots repeated prompts without any text being stored).
    pub(crate) fn parsed(&mut self, state: &RelayState, wire: &mut WireRequest) -> TextSize {
        let size = wire.text_size();
        let request = &wire.request;
        self.record.message_count = u32::try_from(request.messages.len()).unwrap_or(u32::MAX);
        self.record.input_chars = size.chars;
        let attachments = request.image_count() as u64 + u64::from(request.opaque_parts);
        self.record.input_images = u32::try_from(attachments).unwrap_or(u32::MAX);
        let parts = request
            .messages
            .iter()
            .flat_map(|m| [m.role.as_str().as_bytes(), b"\0", m.text.as_bytes(), b"\0"]);
        self.record.input_hash = Some(state.hasher.content_digest_parts(parts));
        self.record.model = Some(request.model.clone());
        self.record.streamed = request.stream;
        size
    }

    /// Where the request goes and what the model costs there.
    pub(crate) fn routed(&mut self, route: &Route, price: Option<Price>) {
        self.record.provider = Some(route.provider.name.clone());
        self.record.model = Some(route.upstream_model.clone());
        self.price = price;
        self.record.unpriced = price.is_none();
    }

    /// What the content screens found (kept when they refuse, too), and the
    /// headers that report it.
    pub(crate) fn screened(
        &mut self,
        report: ScreenReport,
        screened: Result<Screened, RelayError>,
    ) -> Result<Screened, RelayError> {
        self.record.redactions = report.redactions;
        let injection = report.injection;
        self.record.injection_flags = u32::try_from(injection.verdict.bits()).unwrap_or(0);
        self.record.injection_score_milli = milli(injection.score);
        self.record.injection_indirect_milli = milli(injection.indirect_score);
        self.record.injection_layer = injection.layer.map(Layer::name);
        if report.injection_screened {
            self.headers
                .push((INJECTION_SCORE_HEADER, injection.score_header()));
        }
        let screened = screened?;
        if !screened.redactions_header.is_empty() {
            self.headers
                .push((REDACTIONS_HEADER, screened.redactions_header.clone()));
        }
        if !injection.verdict.is_clean() {
            self.headers
                .push((INJECTION_HEADER, injection.verdict.header_value()));
        }
        Ok(screened)
    }

    /// How long the provider took.
    pub(crate) fn upstream_took(
        &mut self,
        state: &RelayState,
        kind: ProviderKind,
        elapsed: Duration,
    ) {
        self.record.upstream_latency_ms =
            Some(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        state
            .metrics
            .upstream_duration
            .with_label_values(&[kind.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn finish(mut self, state: &RelayState, status: u16, error: Option<&RelayError>) {
        let elapsed = self.started.elapsed();
        self.record.latency_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        self.record.status_code = status;
        self.record.error_code = error.map(RelayError::code);
        let status_label = status.to_string();
        state
            .metrics
            .requests
            .with_label_values(&[self.record.endpoint, status_label.as_str()])
            .inc();
        state
            .metrics
            .duration
            .with_label_values(&[self.record.endpoint])
            .observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            state
                .metrics
                .errors
                .with_label_values(&[error.code()])
                .inc();
        }
        state.usage.record(self.record);
    }

    /// Records the token counts and returns the cost. Without a price the cost is
    /// zero and the record says so (`priced: false`); the pipeline only lets an
    /// unpriced model through when no budget or cap applies.
    pub(crate) fn set_tokens(&mut self, usage: TokenUsage) -> MicroDollars {
        let usage = usage.clamped();
        self.record.input_tokens = usage.input;
        self.record.output_tokens = usage.output;
        let cost = match self.price {
            Some(price) => cost(price, usage.input, usage.output),
            None => {
                self.record.unpriced = true;
                MicroDollars::ZERO
            }
        };
        self.record.cost_micros = cost.as_micros();
        cost
    }

    pub(crate) fn record_output(&mut self, guarded: &Guarded) {
        self.record_output_flags(&guarded.findings, guarded.replaced);
    }

    /// What the output checks found, and whether the answer was withheld.
    pub(crate) fn record_output_flags(&mut self, findings: &OutputFindings, replaced: bool) {
        self.record.output_flags =
            u32::try_from(findings.bits()).unwrap_or(0) | if replaced { 8 } else { 0 };
    }
}

/// What a request holds until its answer is known: the budget reservation and the
/// token estimate charged to the rate limits. Settling replaces both with the real
/// numbers; dropping it unsettled releases the reservation.
pub(crate) struct Accounting {
    pub(crate) reservation: Option<Reservation>,
    pub(crate) tokens: Option<(Subject, RateLimits, u64)>,
}

impl Accounting {
    pub(crate) fn settle(self, state: &Arc<RelayState>, usage: TokenUsage, cost: MicroDollars) {
        if let Some(reservation) = self.reservation {
            reservation.settle(cost);
        }
        if let Some((subject, limits, estimate)) = self.tokens {
            let real = usage.input.saturating_add(usage.output);
            let delta =
                i64::try_from(real).unwrap_or(i64::MAX) - i64::try_from(estimate).unwrap_or(0);
            if let Some(shared) = state.limiter.correct_tokens(subject, limits, delta) {
                // A Redis round trip, off the response path.
                actix_web::rt::spawn(shared);
            }
        }
    }
}

/// A score from 0 to 1 as thousandths, for the usage record.
fn milli(score: f32) -> u16 {
    (score.clamp(0.0, 1.0) * 1000.0).round() as u16
}
