//! Turns an upstream `text/event-stream` body into canonical stream events.
//! Each adapter supplies how one SSE event maps to canonical events; this module
//! owns the rest: flattening, timeouts, and noticing a stream that was cut before
//! its provider said it was finished.

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{StreamExt, stream};

use super::transport_error;
use crate::canonical::{EventStream, StreamEvent};
use crate::error::RelayError;

/// What one upstream SSE event means.
pub(super) enum Step {
    /// Zero or more canonical events; the stream goes on.
    Events(Vec<StreamEvent>),
    /// The provider's end-of-stream marker (after these events).
    Done(Vec<StreamEvent>),
}

struct State<S, F> {
    inner: S,
    map: F,
    finished: bool,
    saw_finish: bool,
}

/// Adapts an upstream SSE response. The stream ends normally at `Step::Done`, or
/// when the body ends after a `Finish` event (Gemini has no end marker); a body
/// that ends before either is reported as `UpstreamCut`.
pub(super) fn adapt<F>(response: reqwest::Response, map: F) -> EventStream
where
    F: FnMut(&Event) -> Result<Step, RelayError> + Send + 'static,
{
    let state = State {
        inner: response.bytes_stream().eventsource(),
        map,
        finished: false,
        saw_finish: false,
    };
    let batches = stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        let outcome = match state.inner.next().await {
            None if state.saw_finish => return None,
            None => Err(RelayError::UpstreamCut),
            Some(Err(EventStreamError::Transport(e))) => Err(transport_error(&e)),
            Some(Err(_)) => Err(RelayError::UpstreamProtocol),
            Some(Ok(event)) => match (state.map)(&event) {
                Ok(Step::Events(events)) => Ok(events),
                Ok(Step::Done(events)) => {
                    state.finished = true;
                    Ok(events)
                }
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(events) => {
                state.saw_finish |= events.iter().any(|e| matches!(e, StreamEvent::Finish(_)));
                Some((Ok(events), state))
            }
            Err(e) => {
                state.finished = true;
                Some((Err(e), state))
            }
        }
    });
    Box::pin(batches.flat_map(|batch| match batch {
        Ok(events) => stream::iter(events.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(e) => stream::iter(vec![Err(e)]),
    }))
}
