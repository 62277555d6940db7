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
    /// The model's arguments must follow the schema exactly.
    pub strict: Option<bool>,
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
    /// The answer must be JSON (of a schema, when one is given).
    pub response_format: Option<ResponseFormat>,
    pub seed: Option<i64>,
    /// The app's id for its end user (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// How much the model may think before answering.
    pub reasoning: Option<Reasoning>,
    pub top_k: Option<u32>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    /// `false`: at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    /// Content parts the view leaves out (audio, files, documents): passed on
    /// unread on the same wire, counted like images for limits and estimates.
    pub opaque_parts: u32,
}

/// A structured answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON following `schema`.
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: serde_json::Value,
        strict: Option<bool>,
    },
}

impl ResponseFormat {
    /// The schema the answer follows (any object for [`ResponseFormat::JsonObject`]).
    pub fn schema(&self) -> serde_json::Value {
        match self {
            ResponseFormat::JsonObject => serde_json::json!({"type": "object"}),
            ResponseFormat::JsonSchema { schema, .. } => schema.clone(),
        }
    }
}

/// Reasoning, as the two API families express it: OpenAI by effort, Anthropic and
/// Gemini by a token budget. Each converts to the other by [`Reasoning::budget`]
/// and [`Reasoning::effort`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reasoning {
    Effort(Effort),
    Budget(u32),
    /// Thinking explicitly off.
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
    Max,
}

impl Effort {
    pub fn parse(text: &str) -> Option<Effort> {
        match text {
            "minimal" => Some(Effort::Minimal),
            "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" => Some(Effort::High),
            "xhigh" => Some(Effort::XHigh),
            "max" => Some(Effort::Max),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

impl Reasoning {
    /// A thinking budget in tokens (Anthropic's minimum is 1,024).
    pub fn budget(self) -> Option<u32> {
        match self {
            Reasoning::Budget(tokens) => Some(tokens),
            Reasoning::Effort(Effort::Minimal) => Some(1_024),
            Reasoning::Effort(Effort::Low) => Some(2_048),
            Reasoning::Effort(Effort::Medium) => Some(8_192),
            Reasoning::Effort(Effort::High) => Some(24_576),
            Reasoning::Effort(Effort::XHigh) => Some(32_768),
            Reasoning::Effort(Effort::Max) => Some(63_999),
            Reasoning::Disabled => None,
        }
    }

    /// An effort level: budgets map to the nearest level at or above them.
    pub fn effort(self) -> Option<Effort> {
        match self {
            Reasoning::Effort(effort) => Some(effort),
            Reasoning::Budget(tokens) if tokens <= 1_024 => Some(Effort::Minimal),
            Reasoning::Budget(tokens) if tokens <= 2_048 => Some(Effort::Low),
            Reasoning::Budget(tokens) if tokens <= 8_192 => Some(Effort::Medium),
            Reasoning::Budget(tokens) if tokens <= 24_576 => Some(Effort::High),
            Reasoning::Budget(tokens) if tokens <= 32_768 => Some(Effort::XHigh),
            Reasoning::Budget(_) => Some(Effort::Max),
            Reasoning::Disabled => None,
        }
    }
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
                strict: None,
            }],
            ..Default::default()
        }
    }
}
