//! The in-process `mock` provider: deterministic answers with no network, the
//! same bytes `airlock mock-upstream` serves over HTTP (both use
//! `airlock_core::mock_reply`). The demo, the tests and the benchmarks use it.

use airlock_core::mock_reply;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, stream};

use super::{Provider, UpstreamCall};
use crate::canonical::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, ProviderReply, StreamEvent, TokenUsage,
};
use crate::error::RelayError;

pub struct MockAdapter;

/// The reply and usage the mock gives for a request.
pub fn answer(request: &ChatRequest) -> (String, TokenUsage) {
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map(|m| m.text.as_str())
        .unwrap_or_default();
    let reply = mock_reply::reply_text(last_user);
    let inputs: Vec<&str> = request.messages.iter().map(|m| m.text.as_str()).collect();
    let (input, output) = mock_reply::usage(&inputs, &reply);
    (reply, TokenUsage { input, output })
}

impl Provider for MockAdapter {
    fn send<'a>(
        &'a self,
        call: UpstreamCall<'a>,
    ) -> BoxFuture<'a, Result<ProviderReply, RelayError>> {
        async move {
            let (reply, usage) = answer(call.request);
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
                Ok(ProviderReply::Stream(Box::pin(stream::iter(events))))
            } else {
                Ok(ProviderReply::Complete(ChatResponse {
                    model: call.model.to_owned(),
                    text: reply,
                    tool_calls: Vec::new(),
                    finish: FinishReason::Stop,
                    usage,
                }))
            }
        }
        .boxed()
    }
}
