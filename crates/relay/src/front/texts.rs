//! Every text a request body carries, found in the client's own JSON.
//!
//! The relay forwards what the app sent (see `front/mod.rs`), so the screens must
//! see every string of it, not only the fields the relay understands. Each walker
//! below visits *every* string value and object key of its body shape; the shape
//! only decides what kind of text a string is (a message, a tool's schema, an
//! identifier that must not be rewritten, a base64 payload that is not text at
//! all). A field no walker names is still visited, as [`TextField::Other`], so a
//! field added to an API tomorrow cannot pass the screens unseen.
//!
//! serde_json caps nesting at 128 levels while parsing, so the recursion here is
//! bounded.

use serde_json::{Map, Value};

use crate::canonical::ChatRole;
use crate::error::RelayError;

/// Where a text sits, which decides how the screens treat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextField {
    /// A message's text (system prompts and instructions are system messages).
    Message(ChatRole),
    /// An `http(s)` URL of an image or file the provider fetches itself.
    ImageUrl,
    /// The arguments of an earlier tool call.
    ToolArguments,
    /// A name or id that cannot be rewritten without breaking the request (a
    /// tool's name, a call id, a role, a JSON-schema property name, an enum-like
    /// setting): checked, never rewritten.
    Identifier,
    ToolDescription,
    /// A string value inside a JSON schema (descriptions, enums, defaults…).
    ToolSchema,
    /// A stop sequence.
    Stop,
    /// Text to embed.
    EmbeddingInput,
    /// Any other string the provider receives (metadata values, a user id, a
    /// field this relay has no name for).
    Other,
}

/// What a walker calls for each text. Object keys are offered as identifiers in
/// a scratch buffer (what the visitor writes there is ignored).
pub struct Visitor<'f> {
    visit: &'f mut dyn FnMut(TextField, &mut String) -> Result<(), RelayError>,
    scratch: String,
}

impl<'f> Visitor<'f> {
    pub fn new(visit: &'f mut dyn FnMut(TextField, &mut String) -> Result<(), RelayError>) -> Self {
        Self {
            visit,
            scratch: String::new(),
        }
    }

    fn text(&mut self, field: TextField, text: &mut String) -> Result<(), RelayError> {
        (self.visit)(field, text)
    }

    fn key(&mut self, key: &str) -> Result<(), RelayError> {
        self.scratch.clear();
        self.scratch.push_str(key);
        (self.visit)(TextField::Identifier, &mut self.scratch)
    }
}

/// Every string under `value` as `field`, every key as an identifier.
pub fn all(value: &mut Value, field: TextField, v: &mut Visitor) -> Result<(), RelayError> {
    match value {
        Value::String(text) => v.text(field, text),
        Value::Array(items) => items.iter_mut().try_for_each(|item| all(item, field, v)),
        Value::Object(map) => map.iter_mut().try_for_each(|(key, item)| {
            v.key(key)?;
            all(item, field, v)
        }),
        _ => Ok(()),
    }
}

/// The fields of an object, each by `by_key`; a value that is not an object is
/// visited whole as `otherwise`.
fn fields(
    value: &mut Value,
    otherwise: TextField,
    v: &mut Visitor,
    mut by_key: impl FnMut(&str, &mut Value, &mut Visitor) -> Result<(), RelayError>,
) -> Result<(), RelayError> {
    let Value::Object(map) = value else {
        return all(value, otherwise, v);
    };
    for (key, item) in map.iter_mut() {
        v.key(key)?;
        by_key(key, item, v)?;
    }
    Ok(())
}

/// Each element of an array (or the value itself, when it is not one) by `each`.
fn elements(
    value: &mut Value,
    v: &mut Visitor,
    mut each: impl FnMut(&mut Value, &mut Visitor) -> Result<(), RelayError>,
) -> Result<(), RelayError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|item| each(item, v)),
        other => each(other, v),
    }
}

/// A base64 payload (image, audio or file bytes, a thinking signature): passed on
/// unread. Scanning base64 for PII finds nothing but noise, and rewriting it would
/// corrupt the file.
fn bytes(_: &mut Value, _: &mut Visitor) -> Result<(), RelayError> {
    Ok(())
}

/// A JSON schema: keys are property names (identifiers), strings are schema text.
fn schema(value: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    all(value, TextField::ToolSchema, v)
}

/// A URL that is either inline bytes (`data:`) or an address the provider fetches.
fn url(value: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    match value {
        Value::String(url) if url.starts_with("data:") => Ok(()),
        other => all(other, TextField::ImageUrl, v),
    }
}

fn role_of(message: &Value) -> ChatRole {
    match message.get("role").and_then(Value::as_str) {
        Some("system" | "developer") => ChatRole::System,
        Some("assistant") => ChatRole::Assistant,
        Some("tool" | "function") => ChatRole::Tool,
        _ => ChatRole::User,
    }
}

// ---------------------------------------------------------------------------
// OpenAI Chat Completions

/// `POST /v1/chat/completions`.
pub fn openai_chat(body: &mut Map<String, Value>, v: &mut Visitor) -> Result<(), RelayError> {
    for (key, value) in body.iter_mut() {
        v.key(key)?;
        match key.as_str() {
            // Replaced by the route's upstream name before anything is sent.
            "model" => {}
            "messages" => elements(value, v, openai_message)?,
            "tools" | "functions" => elements(value, v, openai_tool)?,
            "tool_choice" | "function_call" => all(value, TextField::Identifier, v)?,
            "stop" => all(value, TextField::Stop, v)?,
            "response_format" => response_format(value, v)?,
            _ => all(value, TextField::Other, v)?,
        }
    }
    Ok(())
}

fn openai_message(message: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    let role = role_of(message);
    fields(
        message,
        TextField::Message(role),
        v,
        |key, value, v| match key {
            "role" | "name" | "tool_call_id" => all(value, TextField::Identifier, v),
            "content" => openai_content(value, role, v),
            "refusal" => all(value, TextField::Message(role), v),
            "tool_calls" => elements(value, v, openai_tool_call),
            "function_call" => openai_function_call(value, v),
            "audio" => all(value, TextField::Identifier, v),
            _ => all(value, TextField::Other, v),
        },
    )
}

fn openai_content(content: &mut Value, role: ChatRole, v: &mut Visitor) -> Result<(), RelayError> {
    match content {
        Value::Array(parts) => parts.iter_mut().try_for_each(|part| {
            fields(
                part,
                TextField::Message(role),
                v,
                |key, value, v| match key {
                    "type" => all(value, TextField::Identifier, v),
                    "text" | "refusal" => all(value, TextField::Message(role), v),
                    "image_url" => {
                        fields(value, TextField::ImageUrl, v, |key, value, v| match key {
                            "url" => url(value, v),
                            "detail" => all(value, TextField::Identifier, v),
                            _ => all(value, TextField::Other, v),
                        })
                    }
                    "input_audio" => {
                        fields(value, TextField::Other, v, |key, value, v| match key {
                            "data" => bytes(value, v),
                            _ => all(value, TextField::Identifier, v),
                        })
                    }
                    "file" => fields(value, TextField::Other, v, |key, value, v| match key {
                        "file_data" => bytes(value, v),
                        "file_id" => all(value, TextField::Identifier, v),
                        _ => all(value, TextField::Other, v),
                    }),
                    _ => all(value, TextField::Other, v),
                },
            )
        }),
        other => all(other, TextField::Message(role), v),
    }
}

fn openai_tool_call(call: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    fields(call, TextField::Other, v, |key, value, v| match key {
        "function" => openai_function_call(value, v),
        "custom" => fields(value, TextField::Other, v, |key, value, v| match key {
            "input" => all(value, TextField::ToolArguments, v),
            _ => all(value, TextField::Identifier, v),
        }),
        _ => all(value, TextField::Identifier, v),
    })
}

fn openai_function_call(call: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    fields(call, TextField::Other, v, |key, value, v| match key {
        "arguments" => all(value, TextField::ToolArguments, v),
        _ => all(value, TextField::Identifier, v),
    })
}

/// A tool the app offers, in the Chat Completions shape (`{type, function}` or
/// `{type: custom, custom}`) or as a legacy `functions` entry.
fn openai_tool(tool: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    fields(tool, TextField::Other, v, |key, value, v| match key {
        "function" | "custom" => tool_definition(value, v),
        "type" | "name" => all(value, TextField::Identifier, v),
        "description" => all(value, TextField::ToolDescription, v),
        "parameters" => schema(value, v),
        _ => all(value, TextField::Other, v),
    })
}

/// A function's definition: name, description, schema (`parameters`,
/// `input_schema`, a custom tool's `format`).
fn tool_definition(definition: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    fields(definition, TextField::Other, v, |key, value, v| match key {
        "name" | "type" => all(value, TextField::Identifier, v),
        "description" => all(value, TextField::ToolDescription, v),
        "parameters" | "input_schema" | "format" => schema(value, v),
        "strict" => Ok(()),
        _ => all(value, TextField::Other, v),
    })
}

/// `response_format` (chat) and `text.format` (responses): a JSON schema the
/// answer must follow, by name.
fn response_format(format: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    fields(format, TextField::Other, v, |key, value, v| match key {
        "type" | "name" => all(value, TextField::Identifier, v),
        "description" => all(value, TextField::ToolDescription, v),
        "schema" => schema(value, v),
        "json_schema" => response_format(value, v),
        _ => all(value, TextField::Other, v),
    })
}

// ---------------------------------------------------------------------------
// Anthropic Messages

/// `POST /v1/messages` and `POST /v1/messages/count_tokens`.
pub fn anthropic_messages(
    body: &mut Map<String, Value>,
    v: &mut Visitor,
) -> Result<(), RelayError> {
    for (key, value) in body.iter_mut() {
        v.key(key)?;
        match key.as_str() {
            "model" => {}
            "system" => anthropic_content(value, ChatRole::System, v)?,
            "messages" => elements(value, v, |message, v| {
                let role = role_of(message);
                fields(
                    message,
                    TextField::Message(role),
                    v,
                    |key, value, v| match key {
                        "role" => all(value, TextField::Identifier, v),
                        "content" => anthropic_content(value, role, v),
                        _ => all(value, TextField::Other, v),
                    },
                )
            })?,
            "tools" => elements(value, v, tool_definition)?,
            "tool_choice" => all(value, TextField::Identifier, v)?,
            "stop_sequences" => all(value, TextField::Stop, v)?,
            "output_format" => response_format(value, v)?,
            _ => all(value, TextField::Other, v)?,
        }
    }
    Ok(())
}

/// A string, or a list of content blocks.
fn anthropic_content(
    content: &mut Value,
    role: ChatRole,
    v: &mut Visitor,
) -> Result<(), RelayError> {
    match content {
        Value::Array(blocks) => blocks
            .iter_mut()
            .try_for_each(|block| anthropic_block(block, role, v)),
        other => all(other, TextField::Message(role), v),
    }
}

fn anthropic_block(block: &mut Value, role: ChatRole, v: &mut Visitor) -> Result<(), RelayError> {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    fields(block, TextField::Message(role), v, |key, value, v| {
        match (kind.as_str(), key) {
            (_, "type" | "id" | "tool_use_id" | "name" | "media_type" | "file_id") => {
                all(value, TextField::Identifier, v)
            }
            (_, "cache_control") => all(value, TextField::Identifier, v),
            (_, "text" | "title" | "context") => all(value, TextField::Message(role), v),
            (_, "source") => anthropic_source(value, role, v),
            ("tool_use" | "server_tool_use", "input") => all(value, TextField::ToolArguments, v),
            ("tool_result", "content") => anthropic_content(value, ChatRole::Tool, v),
            (_, "content") => anthropic_content(value, role, v),
            // The model's own reasoning travels back signed: its text is the
            // model's (not screened as the app's words), and the signature and
            // redacted reasoning are opaque bytes.
            ("thinking", "thinking") => all(value, TextField::Message(ChatRole::Assistant), v),
            (_, "signature" | "data") => bytes(value, v),
            _ => all(value, TextField::Other, v),
        }
    })
}

/// An image or document source: base64 bytes, a URL, plain text or content blocks.
fn anthropic_source(source: &mut Value, role: ChatRole, v: &mut Visitor) -> Result<(), RelayError> {
    let is_text = source.get("type").and_then(Value::as_str) == Some("text");
    fields(source, TextField::Other, v, |key, value, v| match key {
        "data" if is_text => all(value, TextField::Message(role), v),
        "data" => bytes(value, v),
        "url" => url(value, v),
        "content" => anthropic_content(value, role, v),
        _ => all(value, TextField::Identifier, v),
    })
}

// ---------------------------------------------------------------------------
// OpenAI Responses

/// `POST /v1/responses`.
pub fn openai_responses(body: &mut Map<String, Value>, v: &mut Visitor) -> Result<(), RelayError> {
    for (key, value) in body.iter_mut() {
        v.key(key)?;
        match key.as_str() {
            "model" => {}
            "instructions" => all(value, TextField::Message(ChatRole::System), v)?,
            "input" => match value {
                Value::String(text) => v.text(TextField::Message(ChatRole::User), text)?,
                other => elements(other, v, response_item)?,
            },
            "tools" => elements(value, v, tool_definition)?,
            "tool_choice" | "previous_response_id" | "include" => {
                all(value, TextField::Identifier, v)?;
            }
            "text" => fields(value, TextField::Other, v, |key, value, v| match key {
                "format" => response_format(value, v),
                _ => all(value, TextField::Other, v),
            })?,
            _ => all(value, TextField::Other, v)?,
        }
    }
    Ok(())
}

/// One item of a Responses `input`: a message (with `input_text`, `output_text`,
/// `input_image` and `input_file` parts), a function call or its output, a
/// reasoning item.
fn response_item(item: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    let role = role_of(item);
    fields(
        item,
        TextField::Message(role),
        v,
        |key, value, v| match key {
            "type" | "role" | "id" | "call_id" | "name" | "status" => {
                all(value, TextField::Identifier, v)
            }
            "content" => match value {
                Value::Array(parts) => parts.iter_mut().try_for_each(|part| {
                    fields(
                        part,
                        TextField::Message(role),
                        v,
                        |key, value, v| match key {
                            "type" | "file_id" | "detail" => all(value, TextField::Identifier, v),
                            "text" => all(value, TextField::Message(role), v),
                            "image_url" | "file_url" => url(value, v),
                            "file_data" => bytes(value, v),
                            _ => all(value, TextField::Other, v),
                        },
                    )
                }),
                other => all(other, TextField::Message(role), v),
            },
            "arguments" => all(value, TextField::ToolArguments, v),
            "output" => match value {
                Value::Array(_) => response_item_output(value, v),
                other => all(other, TextField::Message(ChatRole::Tool), v),
            },
            "summary" => all(value, TextField::Message(ChatRole::Assistant), v),
            "encrypted_content" => bytes(value, v),
            _ => all(value, TextField::Other, v),
        },
    )
}

/// A function call's output given as content parts.
fn response_item_output(output: &mut Value, v: &mut Visitor) -> Result<(), RelayError> {
    elements(output, v, |part, v| {
        fields(
            part,
            TextField::Message(ChatRole::Tool),
            v,
            |key, value, v| match key {
                "type" | "file_id" | "detail" => all(value, TextField::Identifier, v),
                "image_url" | "file_url" => url(value, v),
                "file_data" => bytes(value, v),
                _ => all(value, TextField::Message(ChatRole::Tool), v),
            },
        )
    })
}

// ---------------------------------------------------------------------------
// OpenAI Embeddings

/// `POST /v1/embeddings`. Token-array inputs carry no strings; they are decoded
/// and screened by the embeddings handler.
pub fn openai_embeddings(body: &mut Map<String, Value>, v: &mut Visitor) -> Result<(), RelayError> {
    for (key, value) in body.iter_mut() {
        v.key(key)?;
        match key.as_str() {
            "model" => {}
            "input" => all(value, TextField::EmbeddingInput, v)?,
            "encoding_format" => all(value, TextField::Identifier, v)?,
            _ => all(value, TextField::Other, v)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visited(
        walk: fn(&mut Map<String, Value>, &mut Visitor) -> Result<(), RelayError>,
        body: Value,
    ) -> Vec<(TextField, String)> {
        let Value::Object(mut map) = body else {
            panic!("an object")
        };
        let mut seen = Vec::new();
        let mut visit = |field: TextField, text: &mut String| {
            seen.push((field, text.clone()));
            Ok(())
        };
        walk(&mut map, &mut Visitor::new(&mut visit)).unwrap();
        seen
    }

    #[test]
    fn every_string_of_an_unknown_field_is_visited() {
        let seen = visited(
            openai_chat,
            serde_json::json!({"model": "m", "messages": [], "brand_new": {"deep": ["canary"]}}),
        );
        assert!(
            seen.contains(&(TextField::Other, "canary".into())),
            "{seen:?}"
        );
        assert!(
            seen.contains(&(TextField::Identifier, "deep".into())),
            "{seen:?}"
        );
        assert!(
            seen.contains(&(TextField::Identifier, "brand_new".into())),
            "{seen:?}"
        );
    }

    #[test]
    fn messages_tools_and_bytes_are_told_apart() {
        let seen = visited(
            openai_chat,
            serde_json::json!({"model": "m", "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{\"a\":1}"}}]}],
              "tools": [{"type": "function", "function": {"name": "f", "description": "does f",
                    "parameters": {"type": "object", "properties": {"a": {"description": "an a"}}}}}],
              "stop": ["END"]}),
        );
        let has = |field: TextField, text: &str| seen.contains(&(field, text.to_owned()));
        assert!(has(TextField::Message(ChatRole::System), "be brief"));
        assert!(has(TextField::Message(ChatRole::User), "hi"));
        assert!(has(TextField::ToolArguments, "{\"a\":1}"));
        assert!(has(TextField::ToolDescription, "does f"));
        assert!(has(TextField::ToolSchema, "an a"));
        assert!(has(TextField::Identifier, "f"));
        assert!(has(TextField::Stop, "END"));
        assert!(
            !seen.iter().any(|(_, t)| t.contains("AAAA") || t == "UklGR"),
            "{seen:?}"
        );
    }

    #[test]
    fn anthropic_blocks_keep_their_roles_and_signatures_are_not_text() {
        let seen = visited(
            anthropic_messages,
            serde_json::json!({"model": "m", "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
              "messages": [
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
                                                  {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": "x"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                                             {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc text"}}]}]}),
        );
        let has = |field: TextField, text: &str| seen.contains(&(field, text.to_owned()));
        assert!(has(TextField::Message(ChatRole::System), "sys"));
        assert!(has(TextField::Message(ChatRole::Assistant), "hmm"));
        assert!(has(TextField::ToolArguments, "x"));
        assert!(has(TextField::Message(ChatRole::Tool), "42"));
        assert!(has(TextField::Message(ChatRole::User), "doc text"));
        assert!(!seen.iter().any(|(_, t)| t == "c2ln"), "{seen:?}");
    }
}
