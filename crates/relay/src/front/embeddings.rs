//! OpenAI's embeddings endpoint (`POST /v1/embeddings`): `input` as a string, a
//! list of strings, a token array or a list of token arrays; `dimensions`,
//! `encoding_format` (`float` or `base64`), `user`.
//!
//! Token arrays cannot be screened as they are, so they are decoded with the
//! model's tokenizer into the text they stand for, which is screened and sent
//! (the provider embeds the same text). A model without a known tokenizer takes
//! text only.

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{FrontOptions, describe_json_error};
use crate::canonical::{ChatMessage, ChatRequest, ChatRole, TokenUsage};
use crate::error::RelayError;

#[derive(Deserialize)]
struct Request {
    model: String,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    user: Option<String>,
}

/// The inputs of a body, one text each (after [`decode_token_inputs`]).
fn input_texts(input: &Value) -> Result<Vec<String>, RelayError> {
    let wrong = || {
        RelayError::InvalidRequest(
            "`input` must be a string, a list of strings, a token array or a list of token arrays"
                .into(),
        )
    };
    let texts = match input {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<_, _>>()?,
        _ => return Err(wrong()),
    };
    if texts.is_empty() {
        return Err(RelayError::InvalidRequest(
            "`input` must not be empty".into(),
        ));
    }
    Ok(texts)
}

/// Replaces token-array inputs by the text they decode to (see the module doc).
pub fn decode_token_inputs(body: &mut Map<String, Value>) -> Result<(), RelayError> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(input) = body.get_mut("input") else {
        return Ok(());
    };
    let tokens_of = |value: &Value| -> Option<Vec<u32>> {
        value
            .as_array()?
            .iter()
            .map(|t| t.as_u64().and_then(|t| u32::try_from(t).ok()))
            .collect()
    };
    let decode = |tokens: Vec<u32>| {
        airlock_core::tokens::decode(&model, &tokens).map(Value::String).ok_or_else(|| {
            RelayError::InvalidRequest(
                "token-array input needs an OpenAI embedding model whose tokenizer knows every id (the relay decodes it to screen it); send text instead".into(),
            )
        })
    };
    let is_token_array = |value: &Value| {
        value
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_u64))
    };
    if is_token_array(input) {
        let tokens = tokens_of(input)
            .ok_or_else(|| RelayError::InvalidRequest("`input` token ids must be 32-bit".into()))?;
        *input = decode(tokens)?;
    } else if let Value::Array(items) = input {
        for item in items.iter_mut().filter(|item| is_token_array(item)) {
            let tokens = tokens_of(item).ok_or_else(|| {
                RelayError::InvalidRequest("`input` token ids must be 32-bit".into())
            })?;
            *item = decode(tokens)?;
        }
    }
    Ok(())
}

/// The canonical view: one user message per input (so the message and size
/// limits, the counts and the digest apply as to a chat).
pub fn parse_request(body: &Map<String, Value>) -> Result<(ChatRequest, FrontOptions), RelayError> {
    let request = Request::deserialize(body)
        .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
    if request.model.trim().is_empty() {
        return Err(RelayError::InvalidRequest(
            "`model` must not be empty".into(),
        ));
    }
    if let Some(format) = &request.encoding_format
        && format != "float"
        && format != "base64"
    {
        return Err(RelayError::InvalidRequest(
            "`encoding_format` must be float or base64".into(),
        ));
    }
    if request.dimensions == Some(0) {
        return Err(RelayError::InvalidRequest(
            "`dimensions` must be at least 1".into(),
        ));
    }
    let messages = input_texts(&request.input)?
        .into_iter()
        .map(|text| ChatMessage::new(ChatRole::User, text))
        .collect();
    Ok((
        ChatRequest {
            model: request.model,
            messages,
            user: request.user,
            ..ChatRequest::default()
        },
        FrontOptions::default(),
    ))
}

/// What an embeddings call asked of the answer.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingOptions {
    pub dimensions: Option<u32>,
    pub base64: bool,
}

impl EmbeddingOptions {
    pub fn of(body: &Map<String, Value>) -> EmbeddingOptions {
        EmbeddingOptions {
            dimensions: body
                .get("dimensions")
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok()),
            base64: body.get("encoding_format").and_then(Value::as_str) == Some("base64"),
        }
    }
}

/// An OpenAI embeddings answer for vectors computed elsewhere (Gemini, the mock).
pub fn render(vectors: &[Vec<f32>], model: &str, usage: TokenUsage, base64: bool) -> Value {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": usage.input, "total_tokens": usage.input},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::{Front, WireRequest};

    #[test]
    fn strings_lists_and_token_arrays_become_texts() {
        let ids =
            |text: &str| airlock_core::tokens::encode("text-embedding-3-small", text).unwrap();
        let body = json!({"model": "text-embedding-3-small",
            "input": [ids("hello world"), ids("second")]});
        let wire = WireRequest::parse(Front::Embeddings, body.to_string().as_bytes()).unwrap();
        let texts: Vec<&str> = wire
            .request
            .messages
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(texts, ["hello world", "second"]);
        assert_eq!(wire.body["input"], json!(["hello world", "second"]));
        let one = json!({"model": "text-embedding-3-small", "input": ids("just text")});
        let wire = WireRequest::parse(Front::Embeddings, one.to_string().as_bytes()).unwrap();
        assert_eq!(wire.body["input"], json!("just text"));
    }

    #[test]
    fn bad_inputs_are_named() {
        for (body, expected) in [
            (json!({"model": "m", "input": 3}), "`input` must be"),
            (json!({"model": "m", "input": []}), "must not be empty"),
            (
                json!({"model": "gemini-embedding-001", "input": [1, 2, 3]}),
                "token-array input",
            ),
            (
                json!({"model": "m", "input": "x", "encoding_format": "hex"}),
                "encoding_format",
            ),
        ] {
            let err = WireRequest::parse(Front::Embeddings, body.to_string().as_bytes())
                .err()
                .unwrap();
            assert!(
                matches!(&err, RelayError::InvalidRequest(m) if m.contains(expected)),
                "{body}: {err:?}"
            );
        }
    }
}
