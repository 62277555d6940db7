//! The in-process `mock` provider: deterministic answers with no network, the
//! same bytes `airlock mock-upstream` serves over HTTP (both use
//! `airlock_core::mock_reply`). The demo, the tests and the benchmarks use it.

use airlock_core::mock_reply;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, stream};

use super::{Answer, Provider, UpstreamCall, UpstreamMeta};
use crate::canonical::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, ProviderReply, StreamEvent, TokenUsage,
    ToolCall,
};
use crate::error::RelayError;

pub struct MockAdapter;

/// The call the mock makes when it plays a model with tools: offered tools (and a
/// `tool_choice` other than `none`) and a conversation that does not end in a tool
/// result get a call of the chosen (else the first) tool, its arguments
/// `{"echo": <the reply>}`. After a tool result it answers in text, so an app's
/// agent loop runs one round against the demo.
pub fn tool_call(request: &ChatRequest, reply: &str) -> Option<ToolCall> {
    let last = request.messages.last()?;
    if request.tools.is_empty()
        || last.role == ChatRole::Tool
        || request.tool_choice.as_ref().is_some_and(|c| c == "none")
    {
        return None;
    }
    let chosen = request
        .tool_choice
        .as_ref()
        .and_then(|c| c["function"]["name"].as_str());
    let name = chosen.unwrap_or(&request.tools[0].name);
    Some(ToolCall {
        id: "call_mock_1".into(),
        name: name.to_owned(),
        arguments: serde_json::json!({ "echo": reply }).to_string(),
    })
}

/// The reply and usage the mock gives for a request.
pub fn answer(request: &ChatRequest) -> (String, TokenUsage) {
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map(|m| m.text.as_str())
        .unwrap_or_default();
    let mut reply = mock_reply::reply_text(last_user);
    // Asked for JSON, the mock answers JSON of the schema, the echo in its strings.
    if let Some(format) = &request.response_format {
        reply = mock_reply::json_for_schema(&format.schema(), &reply).to_string();
    }
    let inputs: Vec<&str> = request.messages.iter().map(|m| m.text.as_str()).collect();
    let (input, output) = mock_reply::usage(&inputs, &reply);
    (reply, TokenUsage { input, output })
}

impl Provider for MockAdapter {
    fn send<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<Answer, RelayError>> {
        async move {
            let (reply, usage) = answer(call.request);
            if let Some(tool_call) = tool_call(call.request, &reply) {
                return Ok((tool_reply(call, tool_call, usage), UpstreamMeta::default()));
            }
            if call.request.stream {
                let mut events: Vec<Result<StreamEvent, RelayError>> =
                    mock_reply::stream_chunks(&reply)
                        .into_iter()
                        .map(|chunk| Ok(StreamEvent::Delta(chunk.to_owned())))
                        .collect();
                events.push(Ok(StreamEvent::Finish(FinishReason::Stop)));
                events.push(Ok(StreamEvent::Usage {
                    input: Some(usage.input),
                    output: Some(usage.output),
                }));
                Ok((
                    ProviderReply::Stream(Box::pin(stream::iter(events))),
                    UpstreamMeta::default(),
                ))
            } else {
                let response = ChatResponse {
                    model: call.model.to_owned(),
                    text: reply,
                    tool_calls: Vec::new(),
                    finish: FinishReason::Stop,
                    usage,
                };
                Ok((ProviderReply::Complete(response), UpstreamMeta::default()))
            }
        }
        .boxed()
    }
}

fn tool_reply(call: UpstreamCall<'_>, tool_call: ToolCall, usage: TokenUsage) -> ProviderReply {
    if !call.request.stream {
        return ProviderReply::Complete(ChatResponse {
            model: call.model.to_owned(),
            text: String::new(),
            tool_calls: vec![tool_call],
            finish: FinishReason::ToolCalls,
            usage,
        });
    }
    let mut events: Vec<Result<StreamEvent, RelayError>> = vec![Ok(StreamEvent::ToolCallDelta {
        index: 0,
        id: Some(tool_call.id),
        name: Some(tool_call.name),
        arguments: String::new(),
    })];
    events.extend(
        mock_reply::stream_chunks(&tool_call.arguments)
            .into_iter()
            .map(|piece| {
                Ok(StreamEvent::ToolCallDelta {
                    index: 0,
                    id: None,
                    name: None,
                    arguments: piece.to_owned(),
                })
            }),
    );
    events.push(Ok(StreamEvent::Finish(FinishReason::ToolCalls)));
    events.push(Ok(StreamEvent::Usage {
        input: Some(usage.input),
        output: Some(usage.output),
    }));
    ProviderReply::Stream(Box::pin(stream::iter(events)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{ChatMessage, ToolSpec};

    fn with_tools(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            model: "mock".into(),
            messages,
            tools: vec![ToolSpec {
                name: "lookup".into(),
                description: None,
                parameters: serde_json::json!({"type": "object"}),
                strict: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_mock_calls_a_tool_once_then_answers_the_result_in_text() {
        let first = with_tools(vec![ChatMessage::new(ChatRole::User, "find it")]);
        let call = tool_call(&first, "Mock reply: find it").unwrap();
        assert_eq!(call.name, "lookup");
        assert_eq!(call.arguments, r#"{"echo":"Mock reply: find it"}"#);
        let mut second = first.clone();
        second.messages.push(ChatMessage {
            tool_call_id: Some(call.id),
            ..ChatMessage::new(ChatRole::Tool, "found")
        });
        assert!(tool_call(&second, "x").is_none());
        let mut declined = first;
        declined.tool_choice = Some(serde_json::json!("none"));
        assert!(tool_call(&declined, "x").is_none());
    }
}
