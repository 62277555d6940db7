//! Prometheus metrics of the relay, served as text on `GET /metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct RelayMetrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    pub errors: IntCounterVec,
    pub usage_written: IntCounter,
    pub usage_dropped: IntCounter,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

impl RelayMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "airlock_relay_requests_total",
                "Relay requests by endpoint and HTTP status",
            ),
            &["endpoint", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "airlock_relay_request_duration_seconds",
                "Time from request to the last byte of the response (streams included)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["endpoint"],
        )?;
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "airlock_relay_upstream_duration_seconds",
                "Time from sending to a provider until its response headers",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["provider"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "airlock_relay_errors_total",
                "Failed relay requests by stable error code",
            ),
            &["code"],
        )?;
        let usage_written = IntCounter::new(
            "airlock_usage_records_written_total",
            "Usage records written to the database",
        )?;
        let usage_dropped = IntCounter::new(
            "airlock_usage_records_dropped_total",
            "Usage records lost (queue full or database unavailable after retries)",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(usage_written.clone()))?;
        registry.register(Box::new(usage_dropped.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            upstream_duration,
            errors,
            usage_written,
            usage_dropped,
        })
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
