//! Turns an upstream `text/event-stream` body into canonical stream events.
//! Each adapter supplies how one SSE event's data maps to canonical events; this
//! module owns the rest: a bounded byte-level SSE parser, the idle timeout between
//! chunks, and noticing a stream that was cut before its provider said it was
//! finished.
//!
//! The upstream is not trusted to be well behaved: a line that never ends, an
//! event that never dispatches or a body that never stops cost at most
//! `max_event_bytes` of memory and linear CPU (the newline search resumes where
//! the last one stopped), and a stream that goes quiet ends after the idle timeout.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::stream;

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

/// One dispatched server-sent event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Why the parser gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum SseError {
    /// An event (or a single line) grew past the limit.
    TooLarge,
    /// A field was not UTF-8.
    NotText,
}

/// An incremental SSE parser (the WHATWG event-stream format: `\n`, `\r\n` or
/// `\r` line ends, `data`/`event` fields, `:` comments, a blank line dispatches).
pub struct SseParser {
    buf: BytesMut,
    /// Where the newline search resumes in `buf`: bytes before it hold no line end.
    scan_from: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Bytes of the event being built (its complete lines).
    event_bytes: usize,
    max_event_bytes: usize,
}

impl SseParser {
    pub fn new(max_event_bytes: usize) -> SseParser {
        SseParser {
            buf: BytesMut::new(),
            scan_from: 0,
            event: None,
            data: String::new(),
            has_data: false,
            event_bytes: 0,
            max_event_bytes,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, or `None` until more bytes arrive.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            let Some(offset) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scan_from..]) else {
                self.scan_from = self.buf.len();
                return self.within_limit(self.buf.len()).map(|()| None);
            };
            let end = self.scan_from + offset;
            let terminator = match (self.buf[end], self.buf.get(end + 1)) {
                (b'\r', Some(b'\n')) => 2,
                // A `\r` last in the buffer may be the first half of `\r\n`: wait.
                (b'\r', None) => {
                    self.scan_from = end;
                    return self.within_limit(end).map(|()| None);
                }
                _ => 1,
            };
            let line = self.buf.split_to(end);
            self.buf.advance(terminator);
            self.scan_from = 0;
            if line.is_empty() {
                if let Some(event) = self.dispatch() {
                    return Ok(Some(event));
                }
                continue;
            }
            self.event_bytes += line.len();
            self.within_limit(0)?;
            self.field(&line)?;
        }
    }

    fn within_limit(&self, pending: usize) -> Result<(), SseError> {
        if self.event_bytes + pending > self.max_event_bytes {
            Err(SseError::TooLarge)
        } else {
            Ok(())
        }
    }

    fn field(&mut self, line: &[u8]) -> Result<(), SseError> {
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let text = || std::str::from_utf8(value).map_err(|_| SseError::NotText);
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(text()?);
                self.has_data = true;
            }
            b"event" => self.event = Some(text()?.to_owned()),
            // `id` and `retry` mean nothing to a relay that never reconnects.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        self.event_bytes = 0;
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

/// Bounds on an upstream stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    pub max_event_bytes: usize,
    /// The longest silence between two chunks.
    pub idle: Duration,
}

struct State<F> {
    response: reqwest::Response,
    parser: SseParser,
    map: F,
    idle: Duration,
    finished: bool,
    saw_finish: bool,
}

impl<F> State<F>
where
    F: FnMut(&str) -> Result<Step, RelayError>,
{
    /// The canonical events of the next upstream event, `Ok(None)` at a clean end.
    async fn next_batch(&mut self) -> Result<Option<Vec<StreamEvent>>, RelayError> {
        loop {
            match self.parser.next_event() {
                Err(SseError::TooLarge) => return Err(RelayError::UpstreamTooLarge),
                Err(SseError::NotText) => return Err(RelayError::UpstreamProtocol),
                Ok(Some(event)) => {
                    return match (self.map)(&event.data)? {
                        Step::Events(events) => Ok(Some(events)),
                        Step::Done(events) => {
                            self.finished = true;
                            Ok(Some(events))
                        }
                    };
                }
                Ok(None) => {}
            }
            match tokio::time::timeout(self.idle, self.response.chunk()).await {
                Err(_) => return Err(RelayError::UpstreamTimeout),
                Ok(Err(e)) => return Err(transport_error(&e)),
                Ok(Ok(Some(chunk))) => self.parser.push(&chunk),
                Ok(Ok(None)) if self.saw_finish => return Ok(None),
                Ok(Ok(None)) => return Err(RelayError::UpstreamCut),
            }
        }
    }
}

/// Upstream SSE events as they come, for a same-wire stream that is edited and
/// passed on (its end marker is the caller's to recognise). Ends when the body
/// ends; an oversized event, a non-UTF-8 field, a silence past the idle timeout
/// or a transport failure ends it with an error.
pub type SseEvents =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<SseEvent, RelayError>> + Send>>;

pub(super) fn raw_events(response: reqwest::Response, limits: StreamLimits) -> SseEvents {
    let parser = SseParser::new(limits.max_event_bytes);
    let events = stream::unfold(
        (response, parser, false),
        move |(mut response, mut parser, failed)| async move {
            if failed {
                return None;
            }
            loop {
                let error = match parser.next_event() {
                    Ok(Some(event)) => return Some((Ok(event), (response, parser, false))),
                    Ok(None) => None,
                    Err(SseError::TooLarge) => Some(RelayError::UpstreamTooLarge),
                    Err(SseError::NotText) => Some(RelayError::UpstreamProtocol),
                };
                if let Some(error) = error {
                    return Some((Err(error), (response, parser, true)));
                }
                let error = match tokio::time::timeout(limits.idle, response.chunk()).await {
                    Err(_) => RelayError::UpstreamTimeout,
                    Ok(Err(e)) => transport_error(&e),
                    Ok(Ok(Some(chunk))) => {
                        parser.push(&chunk);
                        continue;
                    }
                    Ok(Ok(None)) => return None,
                };
                return Some((Err(error), (response, parser, true)));
            }
        },
    );
    Box::pin(events)
}

/// Adapts an upstream SSE response. The stream ends normally at `Step::Done`, or
/// when the body ends after a `Finish` event (Gemini has no end marker); a body
/// that ends before either is reported as `UpstreamCut`.
pub(super) fn adapt<F>(response: reqwest::Response, limits: StreamLimits, map: F) -> EventStream
where
    F: FnMut(&str) -> Result<Step, RelayError> + Send + 'static,
{
    let state = State {
        response,
        parser: SseParser::new(limits.max_event_bytes),
        map,
        idle: limits.idle,
        finished: false,
        saw_finish: false,
    };
    let events = stream::unfold(
        (state, VecDeque::<StreamEvent>::new()),
        |(mut state, mut queue)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), (state, queue)));
                }
                if state.finished {
                    return None;
                }
                match state.next_batch().await {
                    Ok(Some(events)) => {
                        state.saw_finish |=
                            events.iter().any(|e| matches!(e, StreamEvent::Finish(_)));
                        queue.extend(events);
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        state.finished = true;
                        return Some((Err(e), (state, queue)));
                    }
                }
            }
        },
    );
    Box::pin(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_events(parser: &mut SseParser) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(event) = parser.next_event().unwrap() {
            out.push(event);
        }
        out
    }

    #[test]
    fn fields_comments_and_line_ends_follow_the_spec() {
        let mut parser = SseParser::new(1024);
        parser
            .push(b": comment\r\nevent: delta\r\ndata: a\rdata:b\n\ndata: {\"x\":1}\n\nid: 7\n\n");
        assert_eq!(
            all_events(&mut parser),
            vec![
                SseEvent {
                    event: Some("delta".into()),
                    data: "a\nb".into()
                },
                SseEvent {
                    event: None,
                    data: "{\"x\":1}".into()
                },
            ]
        );
    }

    #[test]
    fn a_crlf_split_across_chunks_is_one_line_end() {
        let mut parser = SseParser::new(1024);
        parser.push(b"data: one\r");
        assert_eq!(parser.next_event().unwrap(), None);
        parser.push(b"\n\r\n");
        assert_eq!(parser.next_event().unwrap().unwrap().data, "one");
    }

    #[test]
    fn a_line_that_never_ends_is_refused_at_the_limit() {
        let mut parser = SseParser::new(1000);
        parser.push(b"data: ");
        let mut refused = false;
        for _ in 0..100 {
            parser.push(&[b'x'; 100]);
            if parser.next_event() == Err(SseError::TooLarge) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert!(parser.buf.len() <= 1100, "{}", parser.buf.len());
    }

    #[test]
    fn an_event_that_never_dispatches_is_refused_at_the_limit() {
        let mut parser = SseParser::new(1000);
        for _ in 0..50 {
            parser.push(b"data: 0123456789012345678901234567890123456789\n");
        }
        assert_eq!(parser.next_event(), Err(SseError::TooLarge));
    }

    #[test]
    fn scanning_is_linear_in_the_bytes_received() {
        // 4 MiB arriving 64 bytes at a time: a parser that rescanned its buffer
        // on every chunk would do ~130 billion byte comparisons here.
        let mut parser = SseParser::new(8 << 20);
        parser.push(b"data: ");
        for _ in 0..(4 << 20) / 64 {
            parser.push(&[b'y'; 64]);
            assert_eq!(parser.next_event().unwrap(), None);
        }
        parser.push(b"\n\n");
        assert_eq!(parser.next_event().unwrap().unwrap().data.len(), 4 << 20);
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_gives_the_same_events(
            datas in proptest::collection::vec("[a-z{}\":, ]{0,20}", 1..8),
            cuts in proptest::collection::vec(0usize..400, 0..10),
        ) {
            let mut wire = Vec::new();
            for (i, data) in datas.iter().enumerate() {
                let end = ["\n", "\r\n", "\r"][i % 3];
                wire.extend_from_slice(format!("data: {data}{end}{end}").as_bytes());
            }
            let mut whole = SseParser::new(1 << 20);
            whole.push(&wire);
            let expected = all_events(&mut whole);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.sort_unstable();
            let mut parser = SseParser::new(1 << 20);
            let mut got = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([wire.len()]) {
                parser.push(&wire[at..cut]);
                at = cut;
                got.extend(all_events(&mut parser));
            }
            prop_assert_eq!(got, expected);
        }
    }
}
