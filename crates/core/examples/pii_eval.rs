//! Prints the scanner's recall and precision on sets of texts with planted values:
//! `cargo run --release -p airlock_core --example pii_eval -- FILE… [--errors]`.
//! `--errors` lists misses and false positives: read them for development sets
//! only; a held-out set's errors are not for tuning.

use airlock_core::scan::evaluation::{evaluate, parse_set};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_errors = args.iter().any(|a| a == "--errors");
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let set = parse_set(&std::fs::read_to_string(path)?)?;
        let report = evaluate(&set);
        print!("{}", report.render(path));
        if show_errors {
            for (what, value, context) in &report.errors {
                println!("  {what}: {value:?} in {context:?}");
            }
        }
    }
    Ok(())
}
