//! The deterministic answer of the `mock` provider.
//!
//! The in-process `mock` provider and the HTTP `airlock mock-upstream` both build
//! their answers here, so the two answer byte-identically and a test can switch
//! between them without changing its expectations. No clock, no randomness: the
//! same request always gets the same reply, the same token counts and the same
//! stream chunks.

/// Longest user text echoed back, in chars, so a huge prompt does not produce a
/// huge reply.
pub const MAX_ECHO_CHARS: usize = 4000;
/// What the reply starts with.
pub const REPLY_PREFIX: &str = "Mock reply: ";
/// Per-message overhead added to the input token count, like real chat formats.
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Most words in one stream chunk.
pub const WORDS_PER_CHUNK: usize = 4;

/// A rough token count: one token per 4 chars (Unicode scalar values), rounded
/// up; 0 for an empty text.
pub fn estimate_tokens(text: &str) -> u64 {
    // usize → u64 cannot lose bits on any supported target.
    (text.chars().count() as u64).div_ceil(4)
}

/// The reply to a conversation whose last user message is `last_user_text`:
/// `"Mock reply: "` followed by that text, cut to its first 4000 chars (on a char
/// boundary).
pub fn reply_text(last_user_text: &str) -> String {
    let echoed = match last_user_text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => &last_user_text[..cut],
        None => last_user_text,
    };
    format!("{REPLY_PREFIX}{echoed}")
}

/// Dimensions of a mock embedding when the request names none.
pub const EMBEDDING_DIMENSIONS: usize = 8;

/// A deterministic unit vector for `text`: the same text always embeds the same,
/// different texts (almost always) differently. FNV-1a per dimension, scaled to
/// [-1, 1], then normalised like the real models' output.
pub fn embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector: Vec<f32> = (0..dimensions.max(1))
        .map(|dimension| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ dimension as u64;
            for byte in text.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            // The low 16 bits, as a value in [-1, 1].
            f32::from((hash & 0xffff) as u16) / 32_767.5 - 1.0
        })
        .collect();
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
    vector
}

/// How deep a schema is followed (through objects, arrays and `$ref`s) before
/// the mock answers `null`: a recursive schema still gets a finite answer.
const MAX_SCHEMA_DEPTH: usize = 8;

/// A structured reply: a JSON value that follows `schema` (a JSON Schema as
/// OpenAI, Anthropic and Gemini take it, `$ref`s into `$defs` included), with
/// `text` in every free-text string, the first `enum`/`const` where one is given,
/// `1` for numbers and `true` for booleans. Deterministic, like every mock reply.
pub fn json_for_schema(schema: &serde_json::Value, text: &str) -> serde_json::Value {
    value_for(schema, schema, text, 0)
}

fn value_for(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    text: &str,
    depth: usize,
) -> serde_json::Value {
    use serde_json::{Value, json};
    if depth > MAX_SCHEMA_DEPTH {
        return Value::Null;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix("#/")
            .and_then(|path| path.split('/').try_fold(root, |at, part| at.get(part)));
        return match target {
            Some(target) => value_for(target, root, text, depth + 1),
            None => Value::Null,
        };
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for choice in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema.get(choice).and_then(|c| c.get(0)) {
            return value_for(first, root, text, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // `["string", "null"]`: the first type that is not null.
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), value_for(property, root, text, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let item = schema.get("items").unwrap_or(&Value::Null);
            json!([value_for(item, root, text, depth + 1)])
        }
        "integer" => json!(1),
        "number" => json!(1.0),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!(text),
    }
}

/// `(input_tokens, output_tokens)` of a mock call: the estimate of every input
/// message plus 3 per message, and the estimate of the reply.
pub fn usage(input_texts: &[&str], reply: &str) -> (u64, u64) {
    let input = input_texts
        .iter()
        .map(|text| estimate_tokens(text).saturating_add(TOKENS_PER_MESSAGE))
        .fold(0u64, u64::saturating_add);
    (input, estimate_tokens(reply))
}

/// Splits `reply` into stream chunks of at most 4 words each. Whitespace is kept:
/// leading whitespace goes with the first chunk and each word carries the
/// whitespace after it, so concatenating the chunks gives back `reply` exactly.
/// An empty reply has no chunks.
pub fn stream_chunks(reply: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut chunk_start = 0;
    let mut words_in_chunk = 0;
    let mut previous_was_space = true;
    for (index, c) in reply.char_indices() {
        let is_space = c.is_whitespace();
        if previous_was_space && !is_space {
            // A word starts here; if the chunk already has its words, cut before it.
            if words_in_chunk == WORDS_PER_CHUNK {
                chunks.push(&reply[chunk_start..index]);
                chunk_start = index;
                words_in_chunk = 0;
            }
            words_in_chunk += 1;
        }
        previous_was_space = is_space;
    }
    if chunk_start < reply.len() {
        chunks.push(&reply[chunk_start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn token_estimate_is_a_quarter_of_the_chars_rounded_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        // Chars, not bytes: four 2-byte chars are one token.
        assert_eq!(estimate_tokens("éééé"), 1);
        assert_eq!(estimate_tokens("🙂🙂🙂🙂🙂"), 2);
    }

    #[test]
    fn the_reply_echoes_the_last_user_text() {
        assert_eq!(reply_text("hello"), "Mock reply: hello");
        assert_eq!(reply_text(""), "Mock reply: ");
    }

    #[test]
    fn the_echo_is_cut_at_4000_chars_on_a_char_boundary() {
        let long = "é".repeat(5000);
        let reply = reply_text(&long);
        assert_eq!(reply.chars().count(), REPLY_PREFIX.len() + 4000);
        let exact = "x".repeat(4000);
        assert_eq!(reply_text(&exact), format!("Mock reply: {exact}"));
    }

    #[test]
    fn usage_counts_messages_and_reply() {
        let reply = reply_text("hello there");
        assert_eq!(reply, "Mock reply: hello there");
        // "system prompt" = 13 chars → 4 (+3), "hello there" = 11 → 3 (+3).
        assert_eq!(usage(&["system prompt", "hello there"], &reply), (13, 6));
        assert_eq!(usage(&[], ""), (0, 0));
        assert_eq!(usage(&[""], ""), (3, 0));
    }

    #[test]
    fn chunks_hold_at_most_four_words_and_keep_whitespace() {
        let reply = "Mock reply: one two  three\nfour five six seven";
        let chunks = stream_chunks(reply);
        assert_eq!(
            chunks,
            vec!["Mock reply: one two  ", "three\nfour five six ", "seven"]
        );
        assert_eq!(stream_chunks(""), Vec::<&str>::new());
        assert_eq!(stream_chunks("   "), vec!["   "]);
        assert_eq!(stream_chunks("  a b"), vec!["  a b"]);
        assert_eq!(stream_chunks("a b c d "), vec!["a b c d "]);
        assert_eq!(stream_chunks("a b c d e"), vec!["a b c d ", "e"]);
    }

    fn words(chunk: &str) -> usize {
        chunk.split_whitespace().count()
    }

    proptest! {
        #[test]
        fn chunks_concatenate_to_the_reply(reply in any::<String>()) {
            let chunks = stream_chunks(&reply);
            prop_assert_eq!(chunks.concat(), reply.as_str());
            for chunk in &chunks {
                prop_assert!(!chunk.is_empty());
                prop_assert!(words(chunk) <= WORDS_PER_CHUNK);
            }
        }

        #[test]
        fn chunks_of_sentences_concatenate_and_are_full_but_the_last(
            reply in "[a-zé🙂 \n\t]{0,200}",
        ) {
            let chunks = stream_chunks(&reply);
            prop_assert_eq!(chunks.concat(), reply.as_str());
            if let Some((_, full)) = chunks.split_last() {
                for chunk in full {
                    prop_assert_eq!(words(chunk), WORDS_PER_CHUNK);
                }
            }
        }

        #[test]
        fn the_reply_never_echoes_more_than_4000_chars(text in any::<String>()) {
            let reply = reply_text(&text);
            prop_assert!(reply.starts_with(REPLY_PREFIX));
            let echoed = &reply[REPLY_PREFIX.len()..];
            prop_assert!(echoed.chars().count() <= MAX_ECHO_CHARS);
            prop_assert!(text.starts_with(echoed));
        }
    }

    #[test]
    fn a_structured_reply_follows_its_schema_refs_and_all() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                "home": {"$ref": "#/$defs/Address"},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}
            },
            "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}}
        });
        let value = json_for_schema(&schema, "hello");
        assert_eq!(
            value,
            serde_json::json!({"name": "hello", "age": 1, "tags": ["a"], "home": {"city": "hello"}, "note": "hello"})
        );
        let recursive = serde_json::json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"});
        assert!(json_for_schema(&recursive, "x").is_object());
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding("hello", 16);
        assert_eq!(a, embedding("hello", 16));
        assert_ne!(a, embedding("hello!", 16));
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        assert_eq!(embedding("", 0).len(), 1);
    }
}
