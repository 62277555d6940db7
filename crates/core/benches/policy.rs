//! Throughput of the content checks on ordinary English prose with a few PII items:
//! `cargo bench -p airlock_core --bench policy`. Criterion reports MB/s per core
//! (the benchmark is single-threaded).

use std::hint::black_box;

use airlock_core::injection::{Origin, assess, learned, screen};
use airlock_core::redact::{ContentAction, Redaction, RedactionPolicy};
use airlock_core::scan::scan_into;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PARAGRAPH: &str = "The quarterly review covered revenue, hiring and the roadmap for the \
next two releases. Sales grew in every region except the north-east, where two large customers \
delayed their renewals until the new fiscal year. The team agreed to revisit pricing for small \
businesses, to publish the migration guide before the end of the month, and to move the weekly \
sync to Thursday afternoons so that the support engineers in other time zones can join. ";

/// About `size` bytes of prose, with an e-mail, a phone number and a card number
/// every eight paragraphs (a few PII items, as the issue asks).
fn prose(size: usize) -> String {
    let mut text = String::with_capacity(size + 512);
    let mut n = 0;
    while text.len() < size {
        text.push_str(PARAGRAPH);
        n += 1;
        if n % 8 == 0 {
            text.push_str(
                "Contact maria.lopez@example.com or +44 20 7946 0958, card 4111 1111 1111 1111. ",
            );
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("content_checks");
    for size in [4 * 1024, 256 * 1024] {
        let text = prose(size);
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut findings = Vec::new();
        group.bench_function(format!("scan/{}KiB", size / 1024), |b| {
            b.iter(|| {
                scan_into(black_box(&text), &mut findings);
                findings.len()
            })
        });
        group.bench_function(format!("redact/{}KiB", size / 1024), |b| {
            let policy = RedactionPolicy {
                pii: ContentAction::Redact,
                secrets: ContentAction::Redact,
            };
            b.iter(|| {
                let mut r = Redaction::new(policy, [text.as_str()]);
                r.apply(black_box(&text)).map(|o| o.map(|s| s.len()))
            })
        });
        group.bench_function(format!("injection_rules/{}KiB", size / 1024), |b| {
            b.iter(|| screen(black_box(&text)))
        });
        group.bench_function(format!("injection_learned/{}KiB", size / 1024), |b| {
            b.iter(|| learned::score(black_box(&text)))
        });
        // The whole layered screen: rules, classifier, decoding, documents.
        group.bench_function(format!("injection_screen/{}KiB", size / 1024), |b| {
            b.iter(|| assess(black_box(&text), Origin::Message))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
