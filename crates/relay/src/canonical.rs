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

/// One message, its content already flattened to text (text parts are joined).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub text: String,
    /// The calls an assistant turn made (empty for other roles).
    pub tool_calls: Vec<ToolCall>,
    /// For a `Tool` message: the call it answers.
    pub tool_call_id: Option<String>,
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
    /// True when the request uses tools in any way (offers them, or carries calls
    /// or results of earlier ones).
    pub fn uses_tools(&self) -> bool {
        !self.tools.is_empty()
            || self
                .messages
                .iter()
                .any(|m| m.role == ChatRole::Tool || !m.tool_calls.is_empty())
    }

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

    /// Total characters of input, counted in Unicode scalars (what the usage record keeps).
    pub fn input_chars(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| m.text.chars().count() as u64)
            .sum()
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
