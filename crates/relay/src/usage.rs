//! Usage records: one per relay request, metadata only. The hot path hands a
//! record to a bounded queue and moves on; a writer task batches records into
//! one INSERT plus the `usage_daily` rollups they add to (one transaction), updates the keys' `last_used_at`, and on shutdown drains the queue
//! before the process exits. There is deliberately no field for prompt or
//! completion text here or in the table.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_schema::entities::usage_record;
use airlock_schema::stored::Stored;
use airlock_schema::{queries, rollup};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::metrics::RelayMetrics;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageRecord {
    pub request_id: String,
    pub tenant_id: Option<Uuid>,
    pub key_id: Option<Uuid>,
    pub env: Option<Env>,
    pub endpoint: &'static str,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub created_at: DateTime<Utc>,
    pub latency_ms: i64,
    pub upstream_latency_ms: Option<i64>,
    pub status_code: u16,
    pub error_code: Option<&'static str>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: i64,
    /// The model had no price: `cost_micros` is 0 for that reason, not because the
    /// call was free. (Negative so that `Default` means "priced".)
    pub unpriced: bool,
    pub message_count: u32,
    pub input_chars: u64,
    pub input_images: u32,
    pub output_chars: u64,
    pub redactions: HashMap<String, u32>,
    pub injection_flags: u32,
    /// The injection screen's scores, 0–1000, and the layer that decided.
    pub injection_score_milli: u16,
    pub injection_indirect_milli: u16,
    pub injection_layer: Option<&'static str>,
    pub output_flags: u32,
    pub data_class: Option<DataClass>,
    pub input_hash: Option<String>,
    pub streamed: bool,
    pub client_disconnected: bool,
    /// The client's address as the relay saw it (after trusted proxies).
    pub client_ip: Option<std::net::IpAddr>,
}

/// Client-supplied names are cut to the column's cap, so one long model name
/// cannot fail a whole batch.
fn capped(value: Option<String>, max_chars: usize) -> Option<String> {
    value.map(|v| v.chars().take(max_chars).collect())
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl UsageRecord {
    pub(crate) fn into_model(self) -> usage_record::Model {
        usage_record::Model {
            id: Uuid::now_v7(),
            request_id: self.request_id,
            tenant_id: self.tenant_id,
            key_id: self.key_id,
            env: self.env.map(Stored),
            endpoint: self.endpoint.to_owned(),
            provider: capped(self.provider, usage_record::max_len::PROVIDER),
            model: capped(self.model, usage_record::max_len::MODEL),
            created_at: self.created_at,
            latency_ms: self.latency_ms,
            upstream_latency_ms: self.upstream_latency_ms,
            status_code: i32::from(self.status_code),
            error_code: self.error_code.map(str::to_owned),
            input_tokens: clamp_i64(self.input_tokens),
            output_tokens: clamp_i64(self.output_tokens),
            cost_micros: self.cost_micros,
            priced: !self.unpriced,
            message_count: i32::try_from(self.message_count).unwrap_or(i32::MAX),
            input_chars: clamp_i64(self.input_chars),
            input_images: i32::try_from(self.input_images).unwrap_or(i32::MAX),
            output_chars: clamp_i64(self.output_chars),
            redactions: serde_json::json!(self.redactions),
            injection_flags: i32::try_from(self.injection_flags).unwrap_or(i32::MAX),
            injection_score_milli: i32::from(self.injection_score_milli),
            injection_indirect_milli: i32::from(self.injection_indirect_milli),
            injection_layer: self.injection_layer.map(str::to_owned),
            output_flags: i32::try_from(self.output_flags).unwrap_or(i32::MAX),
            data_class: self.data_class.map(Stored),
            input_hash: self.input_hash,
            streamed: self.streamed,
            client_disconnected: self.client_disconnected,
            client_ip: self.client_ip.map(|ip| ip.to_string()),
        }
    }
}

enum Command {
    Record(Box<UsageRecord>),
    /// Write everything queued before this command, then answer.
    Flush(oneshot::Sender<()>),
}

#[derive(Clone, Copy, Debug)]
pub struct UsageWriterConfig {
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: Duration,
}

impl Default for UsageWriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 100_000,
            batch_size: 500,
            flush_interval: Duration::from_millis(200),
        }
    }
}

/// The hot path's handle: cheap to clone, never blocks, and never wakes the
/// writer for a record (see `run_writer`).
#[derive(Clone)]
pub struct UsageRecorder {
    tx: mpsc::Sender<Command>,
    /// Ends the writer's wait early: a flush was asked for, or a batch is full.
    hurry: Arc<Notify>,
    batch_size: usize,
    metrics: Arc<RelayMetrics>,
}

pub struct UsageWriter {
    handle: JoinHandle<()>,
}

pub fn spawn(
    db: DatabaseConnection,
    config: UsageWriterConfig,
    metrics: Arc<RelayMetrics>,
) -> (UsageRecorder, UsageWriter) {
    let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
    let hurry = Arc::new(Notify::new());
    let handle = tokio::spawn(run_writer(db, config, rx, hurry.clone(), metrics.clone()));
    let recorder = UsageRecorder {
        tx,
        hurry,
        batch_size: config.batch_size.max(1),
        metrics,
    };
    (recorder, UsageWriter { handle })
}

impl UsageRecorder {
    pub fn record(&self, record: UsageRecord) {
        if self.tx.try_send(Command::Record(Box::new(record))).is_err() {
            // Full means the database has been unreachable for a long time; blocking
            // the hot path would turn that into an outage of the relay itself.
            self.metrics.usage_dropped.inc();
            tracing::error!("usage queue full; a usage record was dropped");
        }
        if self.tx.max_capacity() - self.tx.capacity() >= self.batch_size {
            self.hurry.notify_one();
        }
    }

    /// Waits until every record queued so far is written (or given up on).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Flush(ack)).await.is_ok() {
            self.hurry.notify_one();
            let _ = done.await;
        }
    }
}

impl UsageWriter {
    /// Drains the queue and stops. Call after the HTTP server stopped, so no new
    /// record can arrive.
    pub async fn shutdown(self, recorder: UsageRecorder) {
        recorder.flush().await;
        drop(recorder);
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// Writes records in batches. The first record of a batch wakes the writer; the
/// rest are taken from the queue when the flush interval ends (or earlier, when a
/// batch is full or a flush is asked for). Waiting on the queue record by record
/// instead would wake this task, on another thread, for every request: a futex
/// and a context switch on the relay's hot path, measured as the largest kernel
/// item of its profile under load.
async fn run_writer(
    db: DatabaseConnection,
    config: UsageWriterConfig,
    mut rx: mpsc::Receiver<Command>,
    hurry: Arc<Notify>,
    metrics: Arc<RelayMetrics>,
) {
    let batch_size = config.batch_size.max(1);
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(batch_size);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut next = None;
    // The last batch was full: more may be waiting, so no wait before the next.
    let mut behind = false;
    loop {
        let command = match next.take() {
            Some(command) => command,
            None => match rx.recv().await {
                Some(command) => command,
                None => break,
            },
        };
        let flush_asked = matches!(command, Command::Flush(_));
        take(command, &mut batch, &mut acks);
        if !flush_asked && !behind {
            tokio::select! {
                () = tokio::time::sleep(config.flush_interval) => {}
                () = hurry.notified() => {}
            }
        }
        // What arrived meanwhile, up to a flush (whose ack waits for the write).
        while acks.is_empty() && batch.len() < batch_size {
            match rx.try_recv() {
                Ok(command) => take(command, &mut batch, &mut acks),
                Err(_) => break,
            }
        }
        behind = batch.len() >= batch_size;
        write_batch(&db, std::mem::take(&mut batch), &metrics).await;
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if let Ok(command) = rx.try_recv() {
            next = Some(command);
        }
    }
    write_batch(&db, batch, &metrics).await;
}

fn take(command: Command, batch: &mut Vec<UsageRecord>, acks: &mut Vec<oneshot::Sender<()>>) {
    match command {
        Command::Record(record) => batch.push(*record),
        Command::Flush(ack) => acks.push(ack),
    }
}

/// Retries with backoff for about six seconds; after that the records are
/// counted as dropped and logged (by count: never by content).
async fn write_batch(db: &DatabaseConnection, batch: Vec<UsageRecord>, metrics: &RelayMetrics) {
    if batch.is_empty() {
        return;
    }
    let mut last_used: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for record in &batch {
        if let Some(key_id) = record.key_id {
            let at = last_used.entry(key_id).or_insert(record.created_at);
            *at = (*at).max(record.created_at);
        }
    }
    let count = batch.len();
    let models: Vec<usage_record::Model> = batch.into_iter().map(UsageRecord::into_model).collect();
    let mut delay = Duration::from_millis(100);
    let mut written = false;
    for attempt in 1..=6 {
        match rollup::write_usage_batch(db, &models).await {
            Ok(()) => {
                written = true;
                break;
            }
            Err(e) => {
                tracing::warn!(attempt, records = count, error = %e, "writing usage records failed");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    if !written {
        metrics.usage_dropped.inc_by(count as u64);
        tracing::error!(records = count, "usage records dropped after retries");
        return;
    }
    metrics.usage_written.inc_by(count as u64);
    for (key_id, at) in last_used {
        if let Err(e) = queries::touch_key_last_used(db, key_id, at).await {
            tracing::warn!(key.id = %key_id, error = %e, "updating last_used_at failed");
        }
    }
}
