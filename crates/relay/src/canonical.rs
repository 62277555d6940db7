//! The one request/response model every front-end parses into and every provider
//! adapter translates from. Keeping a single shape in the middle means an
//! OpenAI-shaped request can reach Anthropic or Gemini (and back) through two
//! translations instead of one per pair, and the pipeline's checks run on one type.

use std::pin::Pin;

use futures_util::Stream;

use crate::error::RelayError;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChatRole {
    System,
    #[default]
    User,
    Assistant,
    /// The result of a tool call, sent back by the app.
    Tool,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
            ChatRole::Tool => "tool",
        }
    }
}

/// One message, its content already flattened to text (text parts are joined)
/// plus the images it carries, which follow the text when it is sent on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub text: String,
    /// Image parts of a user message: passed to the provider and counted, never
    /// inspected (the relay's checks read text).
    pub images: Vec<Image>,
    /// The calls an assistant turn made (empty for other roles).
    pub tool_calls: Vec<ToolCall>,
    /// For a `Tool` message: the call it answers.
    pub tool_call_id: Option<String>,
    /// For a `Tool` message: the tool reported a failure (Anthropic's `is_error`).
    pub tool_error: bool,
}

/// The image types every supported provider accepts inline.
pub const IMAGE_MEDIA_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// An image part as the app sent it.
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    /// An `http(s)` URL the provider fetches itself; `detail` is OpenAI's hint.
    Url { url: String, detail: Option<String> },
    /// Base64 bytes of one of [`IMAGE_MEDIA_TYPES`].
    Inline {
        media_type: String,
        data: String,
        detail: Option<String>,
    },
}

impl Image {
    /// An OpenAI `image_url.url`: a `data:<type>;base64,<bytes>` URL or an
    /// `http(s)` URL. The error says what was wrong without echoing the value.
    pub fn from_url(url: String, detail: Option<String>) -> Result<Image, String> {
        if let Some(rest) = url.strip_prefix("data:") {
            let Some((media_type, data)) = rest
                .split_once(',')
                .and_then(|(head, data)| Some((head.strip_suffix(";base64")?, data)))
            else {
                return Err("an image data URL must look like data:image/png;base64,…".into());
            };
            return Image::inline(media_type.to_owned(), data.to_owned(), detail);
        }
        let lower = url.get(..8).unwrap_or(&url).to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err("an image URL must be https://, http:// or a data: URL".into());
        }
        Ok(Image::Url { url, detail })
    }

    /// Base64 image bytes of a supported type.
    pub fn inline(
        media_type: String,
        data: String,
        detail: Option<String>,
    ) -> Result<Image, String> {
        if !IMAGE_MEDIA_TYPES.contains(&media_type.as_str()) {
            return Err(format!(
                "images must be one of {}",
                IMAGE_MEDIA_TYPES.join(", ")
            ));
        }
        let base64_alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
        if data.is_empty() || !data.bytes().all(base64_alphabet) {
            return Err("image data must be non-empty base64".into());
        }
        Ok(Image::Inline {
            media_type,
            data,
            detail,
        })
    }

    /// The image as an OpenAI `image_url.url` (inline bytes become a data URL).
    pub fn as_url(&self) -> String {
        match self {
            Image::Url { url, .. } => url.clone(),
            Image::Inline {
                media_type, data, ..
            } => format!("data:{media_type};base64,{data}"),
        }
    }

    pub fn detail(&self) -> Option<&str> {
        match self {
            Image::Url { detail, .. } | Image::Inline { detail, .. } => detail.as_deref(),
        }
    }
}

impl ChatMessage {
    pub fn new(role: ChatRole, text: impl Into<String>) -> Self {
        Self {
            role,
            text: text.into(),
            ..Self::default()
        }
    }
}

/// A function the model called, with its arguments as the JSON text it wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A function the app offers the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments, passed on as given.
    pub parameters: serde_json::Value,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The model as the client named it (possibly `provider/model`).
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub tools: Vec<ToolSpec>,
    /// `auto`, `none`, `required` or a named function, in OpenAI's JSON form.
    pub tool_choice: Option<serde_json::Value>,
}

impl ChatRequest {
    pub fn system_text(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .messages
            .iter()
            .filter(|m| m.role == ChatRole::System)
            .map(|m| m.text.as_str())
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("\n\n"))
        }
    }

    /// Total characters of input, counted in Unicode scalars (what the usage record
    /// keeps): every text the provider receives (see [`ChatRequest::for_each_text`]).
    pub fn input_chars(&self) -> u64 {
        self.texts().map(|t| t.chars().count() as u64).sum()
    }

    /// Every piece of text the request sends, in a fixed order (what token counts,
    /// estimates and the prompt digest are taken over).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        let mut all = Vec::new();
        self.for_each_text(|_, text| all.push(text));
        all.into_iter()
    }

    /// Calls `f` with every text of the request that reaches the provider, and where
    /// it sits. The screens, the size limits, the token estimate and the budget all
    /// go through here, so this is the one place a new field must be added: each
    /// struct is taken apart field by field, and a field added to one of them does
    /// not compile until it is listed here (as text, or as carrying none).
    pub fn for_each_text<'a>(&'a self, mut f: impl FnMut(TextField, &'a str)) {
        let ChatRequest {
            model: _,
            messages,
            max_tokens: _,
            temperature: _,
            top_p: _,
            stop,
            stream: _,
            tools,
            tool_choice,
        } = self;
        for message in messages {
            let ChatMessage {
                role,
                text,
                images,
                tool_calls,
                tool_call_id,
                tool_error: _,
            } = message;
            f(TextField::Message(*role), text);
            for image in images {
                if let Image::Url { url, detail: _ } = image {
                    f(TextField::ImageUrl, url);
                }
                // Inline images are bytes, not text: passed on and counted, never read.
            }
            for call in tool_calls {
                let ToolCall {
                    id,
                    name,
                    arguments,
                } = call;
                f(TextField::Identifier, id);
                f(TextField::Identifier, name);
                f(TextField::ToolArguments, arguments);
            }
            if let Some(id) = tool_call_id {
                f(TextField::Identifier, id);
            }
        }
        for tool in tools {
            let ToolSpec {
                name,
                description,
                parameters,
            } = tool;
            f(TextField::Identifier, name);
            if let Some(description) = description {
                f(TextField::ToolDescription, description);
            }
            json_texts(parameters, &mut f);
        }
        for sequence in stop {
            f(TextField::Stop, sequence);
        }
        if let Some(choice) = tool_choice {
            json_texts(choice, &mut f);
        }
    }

    /// [`ChatRequest::for_each_text`] with each text open to rewriting (the
    /// redaction). Visits the same fields in the same order.
    pub fn for_each_text_mut<E>(
        &mut self,
        mut f: impl FnMut(TextField, &mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let ChatRequest {
            model: _,
            messages,
            max_tokens: _,
            temperature: _,
            top_p: _,
            stop,
            stream: _,
            tools,
            tool_choice,
        } = self;
        for message in messages {
            let ChatMessage {
                role,
                text,
                images,
                tool_calls,
                tool_call_id,
                tool_error: _,
            } = message;
            f(TextField::Message(*role), text)?;
            for image in images {
                if let Image::Url { url, detail: _ } = image {
                    f(TextField::ImageUrl, url)?;
                }
            }
            for call in tool_calls {
                let ToolCall {
                    id,
                    name,
                    arguments,
                } = call;
                f(TextField::Identifier, id)?;
                f(TextField::Identifier, name)?;
                f(TextField::ToolArguments, arguments)?;
            }
            if let Some(id) = tool_call_id {
                f(TextField::Identifier, id)?;
            }
        }
        for tool in tools {
            let ToolSpec {
                name,
                description,
                parameters,
            } = tool;
            f(TextField::Identifier, name)?;
            if let Some(description) = description {
                f(TextField::ToolDescription, description)?;
            }
            json_texts_mut(parameters, &mut f)?;
        }
        for sequence in stop {
            f(TextField::Stop, sequence)?;
        }
        if let Some(choice) = tool_choice {
            json_texts_mut(choice, &mut f)?;
        }
        Ok(())
    }

    pub fn image_count(&self) -> usize {
        self.messages.iter().map(|m| m.images.len()).sum()
    }

    /// The name of the function a tool call id refers to, from the assistant turns
    /// of this request (Gemini answers a call by name, not by id).
    pub fn tool_name_of(&self, call_id: &str) -> Option<&str> {
        self.messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.id == call_id)
            .map(|c| c.name.as_str())
    }
}

/// Where an outbound text sits. The screens treat them alike except for
/// identifiers, which cannot be rewritten (a finding there refuses the request),
/// and the model's own earlier turns, which the injection screen skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextField {
    /// A message's text (system prompts are system messages).
    Message(ChatRole),
    /// An `http(s)` image URL (the provider fetches it, so it leaves as text).
    ImageUrl,
    /// The arguments of an earlier tool call.
    ToolArguments,
    /// A tool's name, a tool call's id, a JSON-schema property name, a tool choice.
    Identifier,
    ToolDescription,
    /// A string value inside a tool's JSON schema (descriptions, enums, defaults…).
    ToolSchema,
    /// A stop sequence.
    Stop,
}

/// Every object key and string value in a JSON document: keys as identifiers,
/// strings as schema text. serde_json's parser caps nesting at 128, so recursion is bounded.
fn json_texts<'a>(value: &'a serde_json::Value, f: &mut impl FnMut(TextField, &'a str)) {
    match value {
        serde_json::Value::String(s) => f(TextField::ToolSchema, s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_texts(v, f)),
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                f(TextField::Identifier, key);
                json_texts(v, f);
            }
        }
        _ => {}
    }
}

/// [`json_texts`] with string values open to rewriting. Keys are offered as copies:
/// identifiers are checked, never rewritten.
fn json_texts_mut<E>(
    value: &mut serde_json::Value,
    f: &mut impl FnMut(TextField, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        serde_json::Value::String(s) => f(TextField::ToolSchema, s),
        serde_json::Value::Array(items) => items.iter_mut().try_for_each(|v| json_texts_mut(v, f)),
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let mut key = key.clone();
                f(TextField::Identifier, &mut key)?;
                json_texts_mut(v, f)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinishReason {
    #[default]
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
    Other,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
}

impl TokenUsage {
    /// The most tokens an answer is believed to have used on either side; an
    /// upstream reporting more is clamped to it (cost and limits stay finite).
    pub const MAX: u64 = 100_000_000;

    pub fn clamped(self) -> TokenUsage {
        TokenUsage {
            input: self.input.min(Self::MAX),
            output: self.output.min(Self::MAX),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The model the provider says answered.
    pub model: String,
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish: FinishReason,
    pub usage: TokenUsage,
}

/// A piece of a streamed answer, provider-neutral.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Delta(String),
    /// A piece of the `index`-th tool call: its id and name come first, then its
    /// arguments in pieces.
    ToolCallDelta {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// Token counts as the provider reports them; either side may come in a separate event.
    Usage {
        input: Option<u64>,
        output: Option<u64>,
    },
    Finish(FinishReason),
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, RelayError>> + Send>>;

pub enum ProviderReply {
    Complete(ChatResponse),
    Stream(EventStream),
}

/// Requests the adapter tests translate into each provider's shape.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A finished tool round: a user turn with an inline image, the assistant's
    /// `weather` call (`call_1`), its result, and the user's next question.
    pub fn tool_round() -> ChatRequest {
        ChatRequest {
            model: "any".into(),
            messages: vec![
                ChatMessage {
                    images: vec![Image::Inline {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                        detail: None,
                    }],
                    ..ChatMessage::new(ChatRole::User, "weather here?")
                },
                ChatMessage {
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        arguments: r#"{"city":"Oslo"}"#.into(),
                    }],
                    ..ChatMessage::new(ChatRole::Assistant, "")
                },
                ChatMessage {
                    tool_call_id: Some("call_1".into()),
                    ..ChatMessage::new(ChatRole::Tool, "-3C")
                },
                ChatMessage::new(ChatRole::User, "and tomorrow?"),
            ],
            tools: vec![ToolSpec {
                name: "weather".into(),
                description: Some("forecast".into()),
                parameters: serde_json::json!({"type": "object"}),
            }],
            ..Default::default()
        }
    }
}
