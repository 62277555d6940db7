//! The relay's pipeline, stage by stage: `cargo bench -p airlock_relay --bench stages`.
//!
//! First a table of the heap allocations each stage makes on one request (a
//! counting allocator around the system's), then criterion's time per stage.
//! Prompts: `prose` (nothing to redact) and `pii` (an e-mail, a phone number and
//! a card number per paragraph, redacted and restored). The answer stages
//! screen the request again for a fresh guard; the table subtracts that share.

use std::alloc::System;
use std::hint::black_box;

use airlock_core::key::{Env, RelayKey};
use airlock_relay::bench::{Stage, Stages};
use airlock_relay::error::RelayError;
use criterion::{Criterion, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// The system allocator, counting.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn key() -> String {
    RelayKey::generate(Env::Prod, &mut rand::rngs::OsRng)
        .expose()
        .to_owned()
}

/// Allocations of one run of `f` (after a warm-up run, so lazily built tables
/// are not counted).
fn allocations(mut f: impl FnMut() -> Result<usize, RelayError>) -> u64 {
    let _ = black_box(f());
    let region = Region::new(ALLOCATOR);
    let _ = black_box(f());
    let change = region.change();
    (change.allocations + change.reallocations) as u64
}

/// Every stage once: a stage that fails would time its error path.
fn check(stages: &mut Stages) -> Result<(), String> {
    for stage in Stage::ALL {
        stages
            .run(stage)
            .map_err(|e| format!("the stage {} failed: {e}", stage.name()))?;
    }
    Ok(())
}

fn stages(pii: bool) -> Stages {
    let made = Stages::new(pii, key()).map_err(|e| e.to_string());
    match made.and_then(|mut s| check(&mut s).map(|()| s)) {
        Ok(stages) => stages,
        Err(error) => {
            eprintln!("stages benchmark: {error}");
            std::process::exit(1);
        }
    }
}

fn print_allocations() {
    println!("allocations per request, by stage (prose / pii):");
    let mut totals = [0u64; 2];
    let mut rows = Vec::new();
    for stage in Stage::ALL {
        let mut counts = [0u64; 2];
        for (i, pii) in [false, true].into_iter().enumerate() {
            let mut stages = stages(pii);
            let mut count = allocations(|| stages.run(stage));
            if matches!(stage, Stage::PlainAnswer | Stage::StreamAnswer) {
                count = count.saturating_sub(allocations(|| stages.screen_only()));
            }
            counts[i] = count;
        }
        rows.push((stage, counts));
    }
    for (stage, counts) in &rows {
        // A request is plain or streamed: the total takes the plain answer.
        if *stage != Stage::StreamAnswer {
            totals[0] += counts[0];
            totals[1] += counts[1];
        }
        println!("  {:<16} {:>6} {:>6}", stage.name(), counts[0], counts[1]);
    }
    println!(
        "  {:<16} {:>6} {:>6}",
        "plain request", totals[0], totals[1]
    );
}

fn bench(c: &mut Criterion) {
    print_allocations();
    for (label, pii) in [("prose", false), ("pii", true)] {
        let mut group = c.benchmark_group(format!("stages/{label}"));
        let mut stages = stages(pii);
        // Each stage ran once without error (`stages`): the results are the numbers.
        for stage in Stage::ALL {
            group.bench_function(stage.name(), |b| {
                b.iter(|| stages.run(black_box(stage)).unwrap_or(0))
            });
        }
        group.bench_function("screen_only", |b| {
            b.iter(|| stages.screen_only().unwrap_or(0))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
