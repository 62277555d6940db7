//! The relay's pipeline stage by stage, outside the server, so a regression
//! points at its stage: `cargo bench -p airlock_relay --bench stages` times each
//! with criterion and counts its allocations (see `benches/stages.rs`).
//!
//! Every stage calls the code the relay runs, on one realistic request: an
//! OpenAI chat completion with a ~1 KB prompt (prose, or prose with an e-mail,
//! a phone number and a card number per paragraph), every policy on (PII and
//! secrets redacted, the injection screen, output checks in flag mode with the
//! no-code rule, budgets and rate limits), the mock upstream's answer and its
//! 54-event stream. Upstream I/O and actix's HTTP handling are not stages here;
//! `e2e/bench/relay.sh` measures the whole.

use std::sync::Arc;

use airlock_core::budget::Limits as BudgetLimits;
use airlock_core::class::DataClass;
use airlock_core::key::{Env, KeyHasher, RelayKey};
use airlock_core::money::MicroDollars;
use airlock_core::policy::{CheckAction, ClassPolicy, InjectionAction};
use airlock_core::pricing::{Price, cost};
use airlock_core::redact::ContentAction;
use airlock_core::tokens::{quick_estimate, upper_bound};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::budget::{Ledger, LocalLedger, Target};
use crate::error::RelayError;
use crate::front::{Front, WireRequest};
use crate::limits::{Limiter, LocalLimiter, RateLimits, Subject};
use crate::native::{self, FrameEditor, OpenAiFrames, Progress};
use crate::policy::{AnswerGuard, ScreenReport, screen_request};
use crate::providers::sse::SseParser;
use crate::usage::UsageRecord;

/// One stage of the pipeline, in DESIGN.md's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The bearer key parsed and hashed (the cache lookup is a map read).
    Authenticate,
    /// Requests and tokens per minute, key and tenant.
    RateLimit,
    /// The body parsed and its texts measured and hashed (the usage record's digest).
    ParseAndValidate,
    /// PII and secrets redacted, the injection screen.
    Screen,
    /// The token estimate and the reservation on four budgets.
    Budget,
    /// The body the provider receives.
    UpstreamBody,
    /// A non-streamed answer: parsed, checked, placeholders restored, written.
    PlainAnswer,
    /// A 54-event stream: split, each event read and passed on, the end's checks.
    StreamAnswer,
    /// The usage record as the writer stores it.
    UsageRecord,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Authenticate,
        Stage::RateLimit,
        Stage::ParseAndValidate,
        Stage::Screen,
        Stage::Budget,
        Stage::UpstreamBody,
        Stage::PlainAnswer,
        Stage::StreamAnswer,
        Stage::UsageRecord,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Authenticate => "authenticate",
            Stage::RateLimit => "rate_limit",
            Stage::ParseAndValidate => "parse_validate",
            Stage::Screen => "screen",
            Stage::Budget => "budget",
            Stage::UpstreamBody => "upstream_body",
            Stage::PlainAnswer => "plain_answer",
            Stage::StreamAnswer => "stream_answer",
            Stage::UsageRecord => "usage_record",
        }
    }
}

/// What the stages work on.
pub struct Stages {
    hasher: KeyHasher,
    key: String,
    limiter: Limiter,
    ledger: Arc<Ledger>,
    policy: ClassPolicy,
    body: Vec<u8>,
    answer: Vec<u8>,
    stream: Vec<u8>,
    price: Price,
}

const PARAGRAPH: &str = "The quick brown fox jumps over the lazy dog near the quiet river bank. \
The quick brown fox jumps over the lazy dog near the quiet river bank. \
The quick brown fox jumps over the lazy dog near the quiet river bank. ";
const PII: &str =
    "Write to maria.lopez@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111. ";

/// The benchmark's ~1 KB prompt (as `e2e/bench/relay.sh` sends it).
pub fn prompt(with_pii: bool) -> String {
    let mut text = String::new();
    while text.len() < 900 {
        text.push_str(PARAGRAPH);
        if with_pii {
            text.push_str(PII);
        }
    }
    text.trim_end().to_owned()
}

impl Stages {
    /// `key` is a relay key as an app sends it (`RelayKey::generate`).
    pub fn new(with_pii: bool, key: String) -> Result<Stages, RelayError> {
        let prompt = prompt(with_pii);
        let body =
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]});
        let mut policy = ClassPolicy::default_for(DataClass::Internal);
        policy.redaction.pii = ContentAction::Redact;
        policy.redaction.secrets = ContentAction::Redact;
        policy.injection = InjectionAction::Flag;
        policy.output = CheckAction::Flag;
        policy.block_code = true;
        // The upstream saw the redacted prompt and echoes it, placeholders and all.
        let mut wire = WireRequest::parse(Front::OpenAi, body.to_string().as_bytes())?;
        screen_request(&mut wire, &policy, &mut ScreenReport::default())?;
        let reply = format!("Mock reply: {}", wire.request.messages[0].text);
        let answer = json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 0,
            "model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 220, "completion_tokens": 230, "total_tokens": 450}});
        Ok(Stages {
            hasher: KeyHasher::new(&[7; 32]).map_err(broken)?,
            key,
            limiter: Limiter::Local(LocalLimiter::default()),
            ledger: Arc::new(Ledger::Local(LocalLedger::seeded(&target()))),
            policy,
            body: body.to_string().into_bytes(),
            answer: answer.to_string().into_bytes(),
            stream: stream_of(&reply),
            price: Price {
                input_per_mtok: MicroDollars::new(150_000),
                output_per_mtok: MicroDollars::new(600_000),
            },
        })
    }

    /// The parsed and screened request, and its answer's guard.
    fn screened(&self) -> Result<(WireRequest, AnswerGuard), RelayError> {
        let mut wire = WireRequest::parse(Front::OpenAi, &self.body)?;
        let screened = screen_request(&mut wire, &self.policy, &mut ScreenReport::default())?;
        Ok((wire, screened.answer))
    }
}

/// A setup step that cannot fail with the benchmark's fixed inputs did.
fn broken<E>(_: E) -> RelayError {
    RelayError::Internal
}

/// Whose budgets the request draws on: four, all far from their limits.
fn target() -> Target {
    Target {
        tenant_id: Uuid::from_u128(1),
        key_id: Uuid::from_u128(2),
        env: Env::Prod,
        today: NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default(),
        limits: BudgetLimits {
            per_request: Some(MicroDollars::new(100_000_000)),
            scopes: [Some(MicroDollars::new(i64::MAX / 4)); 4],
        },
    }
}

impl Stages {
    /// Runs one stage once; returns a number so the work cannot be optimised away.
    pub fn run(&mut self, stage: Stage) -> Result<usize, RelayError> {
        let done = match stage {
            Stage::Authenticate => {
                let key = RelayKey::parse(&self.key).map_err(broken)?;
                self.hasher.hash(&key).as_bytes()[0] as usize
            }
            Stage::RateLimit => {
                let subject = Subject {
                    key_id: Uuid::from_u128(2),
                    tenant_id: Uuid::from_u128(1),
                };
                let limits = RateLimits {
                    key_rpm: Some(2_000_000_000),
                    key_tpm: Some(2_000_000_000),
                    tenant_rpm: Some(2_000_000_000),
                    tenant_tpm: Some(2_000_000_000),
                };
                // In process both complete at once.
                let admitted = self.limiter.admit(subject, limits).now_or_never();
                let taken = self
                    .limiter
                    .take_tokens(subject, limits, 300)
                    .now_or_never();
                usize::from(matches!(admitted, Some(Ok(_))))
                    + usize::from(matches!(taken, Some(Ok(_))))
            }
            Stage::ParseAndValidate => {
                let mut wire = WireRequest::parse(Front::OpenAi, &self.body)?;
                let size = wire.text_size();
                let parts =
                    wire.request.messages.iter().flat_map(|m| {
                        [m.role.as_str().as_bytes(), b"\0", m.text.as_bytes(), b"\0"]
                    });
                self.hasher.content_digest_parts(parts).len() + size.bytes as usize
            }
            Stage::Screen => {
                let mut wire = WireRequest::parse(Front::OpenAi, &self.body)?;
                let parse_only = wire.request.messages.len();
                let mut report = ScreenReport::default();
                let screened = screen_request(&mut wire, &self.policy, &mut report)?;
                parse_only + screened.redactions_header.len()
            }
            Stage::Budget => {
                let target = target();
                let input = quick_estimate(1_000);
                let estimate = cost(self.price, upper_bound(1_000) + 4, 64);
                // The counters are in memory: the database is never asked.
                let reservation = self
                    .ledger
                    .reserve(&DatabaseConnection::default(), &target, estimate)
                    .now_or_never()
                    .ok_or(RelayError::Internal)??;
                reservation.settle(cost(self.price, input, 64));
                input as usize
            }
            Stage::UpstreamBody => {
                let mut wire = WireRequest::parse(Front::OpenAi, &self.body)?;
                let body = wire.take_upstream_body("gpt-4o-mini");
                serde_json::to_vec(&body).map_or(0, |b| b.len())
            }
            Stage::PlainAnswer => {
                let (_, guard) = self.screened()?;
                self.plain_answer(&guard)?
            }
            Stage::StreamAnswer => {
                let (_, guard) = self.screened()?;
                self.stream_answer(guard)?
            }
            Stage::UsageRecord => {
                let record = UsageRecord {
                    request_id: crate::pipeline::new_request_id(),
                    tenant_id: Some(Uuid::from_u128(1)),
                    key_id: Some(Uuid::from_u128(2)),
                    env: Some(Env::Prod),
                    endpoint: "/v1/chat/completions",
                    provider: Some("mock".to_owned()),
                    model: Some("gpt-4o-mini".to_owned()),
                    created_at: Utc::now(),
                    status_code: 200,
                    input_tokens: 220,
                    output_tokens: 230,
                    ..UsageRecord::default()
                };
                record.into_model().request_id.len()
            }
        };
        Ok(done)
    }

    /// The guard's share of the answer stages (the request is screened again in
    /// each run to get a fresh guard): run this and subtract.
    pub fn screen_only(&self) -> Result<usize, RelayError> {
        Ok(self.screened()?.0.request.messages.len())
    }

    fn plain_answer(&self, guard: &AnswerGuard) -> Result<usize, RelayError> {
        let mut body: Value = serde_json::from_slice(&self.answer).map_err(broken)?;
        let outcome = native::edit_complete(Front::OpenAi, &mut body, "gpt-4o-mini", guard)?;
        Ok(serde_json::to_vec(&body).map_or(0, |b| b.len()) + outcome.output_chars as usize)
    }

    fn stream_answer(&self, guard: AnswerGuard) -> Result<usize, RelayError> {
        let mut parser = SseParser::new(1 << 20);
        let mut editor = OpenAiFrames::default();
        let mut progress = Progress::new(guard, Some(self.price), false);
        let mut out: Vec<Bytes> = Vec::new();
        // As it arrives on loopback: a few kilobytes per read.
        for chunk in self.stream.chunks(4096) {
            parser.push(chunk);
            while let Some(event) = parser.next_event().map_err(broken)? {
                editor.edit(event, &mut progress, &mut out)?;
            }
        }
        editor.finish(&mut progress, 0, &mut out);
        Ok(out.iter().map(Bytes::len).sum())
    }
}

/// Text chunks of the benchmark's stream.
const TEXT_CHUNKS: usize = 51;

/// The mock upstream's stream of `reply`: a role chunk, 51 text chunks, the
/// finish chunk and `[DONE]` (54 events).
fn stream_of(reply: &str) -> Vec<u8> {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
                "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let chars: Vec<char> = reply.chars().collect();
    let mut wire = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for i in 0..TEXT_CHUNKS {
        let piece = &chars[i * chars.len() / TEXT_CHUNKS..(i + 1) * chars.len() / TEXT_CHUNKS];
        wire.push_str(&chunk(
            json!({"content": piece.iter().collect::<String>()}),
            Value::Null,
        ));
    }
    wire.push_str(&chunk(json!({}), json!("stop")));
    wire.push_str("data: [DONE]\n\n");
    wire.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        RelayKey::generate(Env::Prod, &mut rand::rngs::OsRng)
            .expose()
            .to_owned()
    }

    #[test]
    fn every_stage_runs_on_both_prompts() {
        for pii in [false, true] {
            let mut stages = Stages::new(pii, key()).unwrap();
            for stage in Stage::ALL {
                assert!(stages.run(stage).unwrap() > 0, "{}", stage.name());
            }
        }
    }

    #[test]
    fn the_stream_restores_what_the_prompt_had() {
        let stages = Stages::new(true, key()).unwrap();
        let (_, guard) = stages.screened().unwrap();
        let mut parser = SseParser::new(1 << 20);
        let mut editor = OpenAiFrames::default();
        let mut progress = Progress::new(guard, None, false);
        let mut out = Vec::new();
        parser.push(&stages.stream);
        let mut events = 0;
        while let Some(event) = parser.next_event().unwrap() {
            events += 1;
            editor.edit(event, &mut progress, &mut out).unwrap();
        }
        editor.finish(&mut progress, 0, &mut out);
        assert_eq!(events, 54);
        let sent = String::from_utf8(out.concat()).unwrap();
        assert!(sent.contains("maria.lopez"), "the e-mail is restored");
        assert!(
            !sent.contains("[EMAIL_"),
            "no placeholder reaches the client"
        );
    }
}
