//! Any bytes as a request body: every front-end must answer with a request or a
//! clear error, never panic, and the walk that finds every text of the body (what
//! the screens read) must cover whatever parsed.
#![no_main]

use airlock_relay::front::{Front, WireRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for front in [
        Front::OpenAi,
        Front::Anthropic,
        Front::Responses,
        Front::Embeddings,
        Front::CountTokens,
    ] {
        match WireRequest::parse(front, body) {
            Ok(mut wire) => {
                let _ = wire.text_size();
            }
            // Every refusal is a client error with a stable code.
            Err(error) => assert!(error.status().is_client_error(), "{error:?}"),
        }
    }
});
