//! What happens to each field of a request on a cross-wire route (an
//! OpenAI-shaped request to Anthropic or Gemini, an Anthropic-shaped one to an
//! OpenAI-compatible provider or Gemini).
//!
//! On the same wire every field passes as the app sent it. Across wires a field
//! is translated when the target has an equivalent, ignored only when it cannot
//! change the answer (prompt-caching hints), and otherwise refused with
//! `unsupported_parameter` naming it — never dropped. The tables below are the
//! whole policy; the README's field table is checked against them by a test.

use serde_json::{Map, Value};

use super::Front;
use crate::error::RelayError;
use crate::providers::ProviderKind;

/// What a route does with one field.
#[derive(Clone, Copy, Debug)]
pub enum Crossing {
    /// The same wire: passed on as the app sent it.
    Passed,
    /// Carried over in the target's own terms.
    Translated,
    /// Carried over for the accepted values only; others are refused.
    Only(fn(&Value) -> bool, &'static str),
    /// No equivalent and no effect on the answer (a caching hint): left out.
    Ignored,
    /// Refused with `unsupported_parameter`.
    Refused,
}

/// One top-level field and what each provider kind does with it.
pub struct FieldRule {
    pub name: &'static str,
    pub openai: Crossing,
    pub anthropic: Crossing,
    pub gemini: Crossing,
}

impl FieldRule {
    fn for_kind(&self, kind: ProviderKind) -> Crossing {
        match kind {
            ProviderKind::OpenAi => self.openai,
            ProviderKind::Anthropic => self.anthropic,
            ProviderKind::Gemini => self.gemini,
            // The in-process mock answers from the canonical request: it takes
            // whatever some provider translates.
            ProviderKind::Mock => {
                let columns = [self.openai, self.anthropic, self.gemini];
                if columns
                    .iter()
                    .any(|c| matches!(c, Crossing::Translated | Crossing::Ignored))
                {
                    Crossing::Translated
                } else {
                    columns
                        .into_iter()
                        .find(|c| matches!(c, Crossing::Only(..)))
                        .unwrap_or(Crossing::Refused)
                }
            }
        }
    }
}

use Crossing::{Ignored, Only, Passed, Refused, Translated};

const fn rule(
    name: &'static str,
    openai: Crossing,
    anthropic: Crossing,
    gemini: Crossing,
) -> FieldRule {
    FieldRule {
        name,
        openai,
        anthropic,
        gemini,
    }
}

fn is_one(v: &Value) -> bool {
    v.as_u64() == Some(1)
}
fn is_false(v: &Value) -> bool {
    v == &Value::Bool(false)
}
fn is_true(v: &Value) -> bool {
    v == &Value::Bool(true)
}
fn is_text_only(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|m| m.iter().all(|x| x.as_str() == Some("text")))
}
fn is_not_between_tools(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) != Some("between_tools")
}

/// `POST /v1/chat/completions`: every field of the OpenAI SDK's
/// `CompletionCreateParams`, and `stream`.
pub const OPENAI_CHAT: &[FieldRule] = &[
    rule("messages", Passed, Translated, Translated),
    rule("model", Passed, Translated, Translated),
    rule("stream", Passed, Translated, Translated),
    rule("stream_options", Passed, Translated, Translated),
    rule("max_tokens", Passed, Translated, Translated),
    rule("max_completion_tokens", Passed, Translated, Translated),
    rule("temperature", Passed, Translated, Translated),
    rule("top_p", Passed, Translated, Translated),
    rule("stop", Passed, Translated, Translated),
    rule("tools", Passed, Translated, Translated),
    rule("tool_choice", Passed, Translated, Translated),
    rule(
        "parallel_tool_calls",
        Passed,
        Translated,
        Only(is_true, "true"),
    ),
    rule("response_format", Passed, Translated, Translated),
    rule("reasoning_effort", Passed, Translated, Translated),
    rule("seed", Passed, Refused, Translated),
    rule("presence_penalty", Passed, Refused, Translated),
    rule("frequency_penalty", Passed, Refused, Translated),
    rule("user", Passed, Translated, Refused),
    rule("safety_identifier", Passed, Translated, Refused),
    // More than one answer: the output checks guard one (on every route).
    rule("n", Only(is_one, "1"), Only(is_one, "1"), Only(is_one, "1")),
    rule(
        "store",
        Passed,
        Only(is_false, "false"),
        Only(is_false, "false"),
    ),
    rule(
        "modalities",
        Passed,
        Only(is_text_only, "[\"text\"]"),
        Only(is_text_only, "[\"text\"]"),
    ),
    rule("prompt_cache_key", Passed, Ignored, Ignored),
    rule("prompt_cache_options", Passed, Ignored, Ignored),
    rule("prompt_cache_retention", Passed, Ignored, Ignored),
    rule("metadata", Passed, Refused, Refused),
    rule("logprobs", Passed, Refused, Refused),
    rule("top_logprobs", Passed, Refused, Refused),
    rule("logit_bias", Passed, Refused, Refused),
    rule("service_tier", Passed, Refused, Refused),
    rule("verbosity", Passed, Refused, Refused),
    rule("prediction", Passed, Refused, Refused),
    rule("audio", Passed, Refused, Refused),
    rule("web_search_options", Passed, Refused, Refused),
    rule("moderation", Passed, Refused, Refused),
    rule("functions", Refused, Refused, Refused),
    rule("function_call", Refused, Refused, Refused),
];

/// `POST /v1/messages`: every field of the Anthropic SDK's
/// `MessageCreateParams`, `stream`, and the sampling fields older SDKs send.
pub const ANTHROPIC_MESSAGES: &[FieldRule] = &[
    rule("messages", Translated, Passed, Translated),
    rule("model", Translated, Passed, Translated),
    rule("max_tokens", Translated, Passed, Translated),
    rule("stream", Translated, Passed, Translated),
    rule("system", Translated, Passed, Translated),
    rule("stop_sequences", Translated, Passed, Translated),
    rule("tools", Translated, Passed, Translated),
    rule("tool_choice", Translated, Passed, Translated),
    rule(
        "thinking",
        Only(is_not_between_tools, "enabled, disabled or adaptive"),
        Passed,
        Only(is_not_between_tools, "enabled, disabled or adaptive"),
    ),
    rule("output_config", Translated, Passed, Translated),
    rule("metadata", Translated, Passed, Refused),
    rule("temperature", Translated, Passed, Translated),
    rule("top_p", Translated, Passed, Translated),
    rule("top_k", Refused, Passed, Translated),
    rule("cache_control", Ignored, Passed, Ignored),
    rule("service_tier", Refused, Passed, Refused),
    rule("speed", Refused, Passed, Refused),
    rule("inference_geo", Refused, Passed, Refused),
    rule("container", Refused, Passed, Refused),
    rule("diagnostics", Refused, Passed, Refused),
    rule("user_profile_id", Refused, Passed, Refused),
    rule("workspace_id", Refused, Passed, Refused),
    rule("mcp_servers", Refused, Passed, Refused),
    rule("context_management", Refused, Passed, Refused),
];

/// `POST /v1/responses`: every field of the OpenAI SDK's `ResponseCreateParams`.
pub const OPENAI_RESPONSES: &[FieldRule] = &[
    rule("model", Passed, Translated, Translated),
    rule("input", Passed, Translated, Translated),
    rule("instructions", Passed, Translated, Translated),
    rule("stream", Passed, Translated, Translated),
    rule("max_output_tokens", Passed, Translated, Translated),
    rule("temperature", Passed, Translated, Translated),
    rule("top_p", Passed, Translated, Translated),
    rule("tools", Passed, Translated, Translated),
    rule("tool_choice", Passed, Translated, Translated),
    rule("text", Passed, Translated, Translated),
    rule("reasoning", Passed, Translated, Translated),
    rule(
        "parallel_tool_calls",
        Passed,
        Translated,
        Only(is_true, "true"),
    ),
    rule("user", Passed, Translated, Refused),
    rule("safety_identifier", Passed, Translated, Refused),
    rule(
        "store",
        Passed,
        Only(is_false, "false"),
        Only(is_false, "false"),
    ),
    rule("prompt_cache_key", Passed, Ignored, Ignored),
    rule("prompt_cache_options", Passed, Ignored, Ignored),
    rule("prompt_cache_retention", Passed, Ignored, Ignored),
    rule("stream_options", Passed, Ignored, Ignored),
    rule("previous_response_id", Passed, Refused, Refused),
    rule("conversation", Passed, Refused, Refused),
    rule("background", Passed, Refused, Refused),
    rule("background_options", Passed, Refused, Refused),
    rule("include", Passed, Refused, Refused),
    rule("max_tool_calls", Passed, Refused, Refused),
    rule("metadata", Passed, Refused, Refused),
    rule("moderation", Passed, Refused, Refused),
    rule("prompt", Passed, Refused, Refused),
    rule("service_tier", Passed, Refused, Refused),
    rule("top_logprobs", Passed, Refused, Refused),
    rule("truncation", Passed, Refused, Refused),
    rule("access_programs", Passed, Refused, Refused),
    rule("context_management", Passed, Refused, Refused),
    rule("image", Passed, Refused, Refused),
    rule("verbosity", Passed, Refused, Refused),
];

/// `POST /v1/embeddings`: every field of the OpenAI SDK's `EmbeddingCreateParams`.
/// Anthropic has no embeddings API (refused before this table is read).
pub const OPENAI_EMBEDDINGS: &[FieldRule] = &[
    rule("model", Passed, Refused, Translated),
    rule("input", Passed, Refused, Translated),
    rule("dimensions", Passed, Refused, Translated),
    rule("encoding_format", Passed, Refused, Translated),
    rule("user", Passed, Refused, Refused),
];

/// The table of a front-end. `count_tokens` sends nothing to a provider of
/// another API (the relay counts itself), so it has none.
pub fn table(front: Front) -> &'static [FieldRule] {
    match front {
        Front::OpenAi => OPENAI_CHAT,
        Front::Anthropic => ANTHROPIC_MESSAGES,
        Front::Responses => OPENAI_RESPONSES,
        Front::Embeddings => OPENAI_EMBEDDINGS,
        Front::CountTokens => &[],
    }
}

/// A table as the README prints it (a test keeps the two the same).
pub fn markdown(rules: &[FieldRule]) -> String {
    let cell = |crossing: Crossing| match crossing {
        Passed => "passed".to_owned(),
        Translated => "translated".to_owned(),
        Only(_, accepted) => format!("only `{accepted}`"),
        Ignored => "ignored".to_owned(),
        Refused => "refused".to_owned(),
    };
    let mut out =
        String::from("| field | OpenAI-compatible | Anthropic | Gemini |\n|---|---|---|---|\n");
    for rule in rules {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            rule.name,
            cell(rule.openai),
            cell(rule.anthropic),
            cell(rule.gemini)
        ));
    }
    out
}

/// Refuses, naming it, the first field of `body` that `kind` cannot honour. On
/// the same wire nothing is refused here (the provider judges its own API).
pub fn check(
    front: Front,
    kind: ProviderKind,
    body: &Map<String, Value>,
) -> Result<(), RelayError> {
    let refuse = |param: String| {
        Err(RelayError::UnsupportedParameter {
            param: echoable(&param),
            provider: kind,
        })
    };
    let same_wire = front.same_wire(kind);
    if front == Front::CountTokens {
        return Ok(());
    }
    for (name, value) in body {
        let unknown = if same_wire { Passed } else { Refused };
        let crossing = table(front)
            .iter()
            .find(|r| r.name == name)
            .map_or(unknown, |r| r.for_kind(kind));
        match crossing {
            Passed | Translated | Ignored => {}
            Only(accepts, _) if accepts(value) => {}
            Only(..) | Refused => return refuse(name.clone()),
        }
    }
    if same_wire {
        return Ok(());
    }
    match front {
        Front::OpenAi => openai_inner(body, kind),
        Front::Anthropic => anthropic_inner(body, kind),
        Front::Responses => responses_inner(body, kind),
        Front::Embeddings | Front::CountTokens => None,
    }
    .map_or(Ok(()), refuse)
}

/// Inside the OpenAI body: what a message, a content part and a tool may carry
/// across wires. The first path that cannot go, if any.
fn openai_inner(body: &Map<String, Value>, kind: ProviderKind) -> Option<String> {
    for (i, message) in array(body.get("messages")).iter().enumerate() {
        for (key, _) in object(message) {
            if !matches!(
                key.as_str(),
                "role" | "content" | "tool_calls" | "tool_call_id"
            ) {
                return Some(format!("messages[{i}].{key}"));
            }
        }
        for (j, part) in array(message.get("content")).iter().enumerate() {
            let part_type = part.get("type").and_then(Value::as_str).unwrap_or_default();
            if !matches!(part_type, "text" | "image_url") {
                return Some(format!("messages[{i}].content[{j}].type={part_type}"));
            }
            for (key, _) in object(part) {
                // A prompt-cache breakpoint is a caching hint: ignored.
                if !matches!(
                    key.as_str(),
                    "type" | "text" | "image_url" | "prompt_cache_breakpoint"
                ) {
                    return Some(format!("messages[{i}].content[{j}].{key}"));
                }
            }
        }
    }
    for (i, tool) in array(body.get("tools")).iter().enumerate() {
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            return Some(format!("tools[{i}].type"));
        }
        for (key, value) in object(tool.get("function").unwrap_or(&Value::Null)) {
            if !matches!(
                key.as_str(),
                "name" | "description" | "parameters" | "strict"
            ) || (key == "strict" && !strict_ok(kind, value))
            {
                return Some(format!("tools[{i}].function.{key}"));
            }
        }
    }
    if let Some(Value::Object(choice)) = body.get("tool_choice")
        && choice.get("type").and_then(Value::as_str) != Some("function")
    {
        return Some("tool_choice.type".into());
    }
    None
}

/// Inside the Anthropic body: content blocks and tools across wires.
fn anthropic_inner(body: &Map<String, Value>, kind: ProviderKind) -> Option<String> {
    const BLOCK_KEYS: [&str; 10] = [
        "type",
        "text",
        "source",
        "id",
        "name",
        "input",
        "tool_use_id",
        "content",
        "is_error",
        "cache_control",
    ];
    let check_blocks = |blocks: &[Value], at: &str| -> Option<String> {
        for (j, block) in blocks.iter().enumerate() {
            let kind = block
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !matches!(kind, "text" | "image" | "tool_use" | "tool_result") {
                return Some(format!("{at}[{j}].type={kind}"));
            }
            for (key, _) in object(block) {
                if !BLOCK_KEYS.contains(&key.as_str()) {
                    return Some(format!("{at}[{j}].{key}"));
                }
            }
            for (k, inner) in array(block.get("content")).iter().enumerate() {
                if inner.get("type").and_then(Value::as_str) != Some("text") {
                    return Some(format!("{at}[{j}].content[{k}]"));
                }
            }
        }
        None
    };
    if let Some(found) = check_blocks(array(body.get("system")), "system") {
        return Some(found);
    }
    for (i, message) in array(body.get("messages")).iter().enumerate() {
        if let Some(found) = check_blocks(
            array(message.get("content")),
            &format!("messages[{i}].content"),
        ) {
            return Some(found);
        }
    }
    for (i, tool) in array(body.get("tools")).iter().enumerate() {
        if tool
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "custom")
        {
            return Some(format!("tools[{i}].type"));
        }
        for (key, value) in object(tool) {
            if !matches!(
                key.as_str(),
                "type" | "name" | "description" | "input_schema" | "cache_control" | "strict"
            ) || (key == "strict" && !strict_ok(kind, value))
            {
                return Some(format!("tools[{i}].{key}"));
            }
        }
    }
    if let Some(Value::Object(config)) = body.get("output_config") {
        for (key, _) in config {
            if !matches!(key.as_str(), "effort" | "format") {
                return Some(format!("output_config.{key}"));
            }
        }
    }
    None
}

/// Strict tool schemas: Gemini has no such guarantee to give.
fn strict_ok(kind: ProviderKind, value: &Value) -> bool {
    kind != ProviderKind::Gemini || value != &Value::Bool(true)
}

/// A field path as it may appear in an error: field names are the app's input,
/// so only identifier characters, and not too many of them.
fn echoable(path: &str) -> String {
    path.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.[]=-".contains(*c))
        .take(80)
        .collect()
}

/// Inside the Responses body: input items, their parts, tools and settings.
fn responses_inner(body: &Map<String, Value>, kind: ProviderKind) -> Option<String> {
    for (i, item) in array(body.get("input")).iter().enumerate() {
        let item_type = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        if !matches!(
            item_type,
            "message" | "function_call" | "function_call_output"
        ) {
            return Some(format!("input[{i}].type={item_type}"));
        }
        for (j, part) in array(item.get("content")).iter().enumerate() {
            let part_type = part.get("type").and_then(Value::as_str).unwrap_or_default();
            let translatable = matches!(part_type, "input_text" | "output_text" | "refusal")
                || (part_type == "input_image"
                    && part.get("image_url").is_some_and(Value::is_string));
            if !translatable {
                return Some(format!("input[{i}].content[{j}].type={part_type}"));
            }
        }
    }
    for (i, tool) in array(body.get("tools")).iter().enumerate() {
        for (key, value) in object(tool) {
            if !matches!(
                key.as_str(),
                "type" | "name" | "description" | "parameters" | "strict"
            ) || (key == "strict" && !strict_ok(kind, value))
            {
                return Some(format!("tools[{i}].{key}"));
            }
        }
    }
    if let Some(Value::Object(choice)) = body.get("tool_choice")
        && choice.get("type").and_then(Value::as_str) != Some("function")
    {
        return Some("tool_choice.type".into());
    }
    let allowed: [(&str, &[&str]); 2] = [("text", &["format"]), ("reasoning", &["effort"])];
    for (field, keys) in allowed {
        for (key, _) in object(body.get(field).unwrap_or(&Value::Null)) {
            if !keys.contains(&key.as_str()) {
                return Some(format!("{field}.{key}"));
            }
        }
    }
    None
}

fn array(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

fn object(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn refused(front: Front, kind: ProviderKind, value: Value) -> Option<String> {
        match check(front, kind, &body(value)) {
            Ok(()) => None,
            Err(RelayError::UnsupportedParameter { param, .. }) => Some(param),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_wire_passes_what_it_does_not_know() {
        let request =
            serde_json::json!({"model": "m", "messages": [], "logprobs": true, "brand_new": 1});
        assert_eq!(refused(Front::OpenAi, ProviderKind::OpenAi, request), None);
    }

    #[test]
    fn across_wires_a_field_without_equivalent_is_named() {
        let request = serde_json::json!({"model": "m", "messages": [], "logprobs": true});
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Anthropic, request.clone()).as_deref(),
            Some("logprobs")
        );
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Mock, request).as_deref(),
            Some("logprobs")
        );
        let unknown = serde_json::json!({"model": "m", "messages": [], "brand_new": 1});
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Gemini, unknown).as_deref(),
            Some("brand_new")
        );
    }

    #[test]
    fn values_decide_for_fields_accepted_only_in_part() {
        let one = serde_json::json!({"model": "m", "messages": [], "n": 1, "store": false});
        assert_eq!(refused(Front::OpenAi, ProviderKind::Anthropic, one), None);
        let two = serde_json::json!({"model": "m", "messages": [], "n": 2});
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Anthropic, two).as_deref(),
            Some("n")
        );
        let serial =
            serde_json::json!({"model": "m", "messages": [], "parallel_tool_calls": false});
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Anthropic, serial.clone()),
            None
        );
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Gemini, serial).as_deref(),
            Some("parallel_tool_calls")
        );
    }

    #[test]
    fn parts_blocks_and_message_fields_are_checked_inside() {
        let audio = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]});
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Gemini, audio).as_deref(),
            Some("messages[0].content[0].type=input_audio")
        );
        let named = serde_json::json!({"model": "m", "messages": [{"role": "user", "name": "bob", "content": "hi"}]});
        assert_eq!(
            refused(Front::OpenAi, ProviderKind::Anthropic, named).as_deref(),
            Some("messages[0].name")
        );
        let thinking = serde_json::json!({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [
            {"type": "thinking", "thinking": "…", "signature": "x"}]}]});
        assert_eq!(
            refused(Front::Anthropic, ProviderKind::OpenAi, thinking.clone()).as_deref(),
            Some("messages[0].content[0].type=thinking")
        );
        assert_eq!(
            refused(Front::Anthropic, ProviderKind::Anthropic, thinking),
            None
        );
        let cached = serde_json::json!({"model": "m", "max_tokens": 5, "system": [
            {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}], "messages": []});
        assert_eq!(
            refused(Front::Anthropic, ProviderKind::Gemini, cached),
            None
        );
    }

    /// The README's field tables are these tables: change one, and this test
    /// prints the markdown to paste.
    #[test]
    fn the_readme_prints_these_tables() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap();
        for (name, rules) in [
            ("chat completions", OPENAI_CHAT),
            ("messages", ANTHROPIC_MESSAGES),
            ("responses", OPENAI_RESPONSES),
            ("embeddings", OPENAI_EMBEDDINGS),
        ] {
            let table = markdown(rules);
            assert!(
                readme.contains(&table),
                "the README's {name} field table is out of date; it should read:\n\n{table}"
            );
        }
    }
}
