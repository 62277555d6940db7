//! Prints the injection screen's figures on labelled sets:
//! `cargo run --release -p airlock_core --example injection_eval -- FILE… [--errors]`.
//! `--errors` lists what the screen got wrong: read it on training and development
//! sets only; a held-out set's errors are not for tuning.

use airlock_core::injection::evaluation::{evaluate, parse_set};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_errors = args.iter().any(|a| a == "--errors");
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let set = parse_set(&std::fs::read_to_string(path)?)?;
        let report = evaluate(&set);
        print!("{}", report.render(path));
        if show_errors {
            for e in &report.errors {
                let text: String = e.text.chars().take(160).collect();
                println!("  {} [{} {} {}] {text:?}", e.label, e.lang, e.kind, e.role);
            }
        }
    }
    Ok(())
}
