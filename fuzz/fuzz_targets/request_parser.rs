//! Any bytes as a request body: both front-ends must answer with a request or a
//! clear error, never panic.
#![no_main]

use airlock_relay::front::Front;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for front in [Front::OpenAi, Front::Anthropic] {
        if let Err(error) = front.parse(body) {
            // Every refusal is a client error with a stable code.
            assert!(error.status().is_client_error(), "{error:?}");
        }
    }
});
