//! Feature extraction for `scripts/train-injection/train.py`: reads JSON lines
//! `{"text": ...}` on stdin and writes, per line, the learned layer's features of
//! that text as a JSON array of segments, each an array of bucket numbers. The
//! script trains on exactly what the relay computes.

use std::io::{BufRead, BufWriter, Write};

use airlock_core::injection::learned::segment_features;

#[derive(serde::Deserialize)]
struct Line {
    text: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Line { text } = serde_json::from_str(&line)?;
        serde_json::to_writer(&mut out, &segment_features(&text))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
