//! A streamed answer on its way to the client: upstream events rendered in the
//! client's SSE shape, through the answer's guard (restore, output checks), with
//! the usage settled when the stream ends, fails, or the client goes away.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use airlock_core::mock_reply::estimate_tokens;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use crate::canonical::{EventStream, FinishReason, StreamEvent, TokenUsage};
use crate::error::RelayError;
use crate::front::{SseWriter, ToolCallPiece};
use crate::policy::{StreamGuard, ToolPiece};
use crate::state::RelayState;
use crate::ticket::{Accounting, Ticket};

/// A streamed answer on its way to the client. It renders canonical events in the
/// client's SSE shape and records usage when the stream ends, fails, or is
/// dropped because the client went away (then with what was delivered).
pub(crate) struct RelayStream {
    upstream: EventStream,
    writer: Box<dyn SseWriter>,
    ticket: Option<Ticket>,
    state: Arc<RelayState>,
    request_id: String,
    started: bool,
    done: bool,
    finish: FinishReason,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    estimated_input: u64,
    delivered_chars: u64,
    delivered_text_tokens: u64,
    guard: Option<StreamGuard>,
    accounting: Option<Accounting>,
    batch: Batch,
}

impl RelayStream {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        upstream: EventStream,
        writer: Box<dyn SseWriter>,
        ticket: Ticket,
        state: Arc<RelayState>,
        request_id: String,
        estimated_input: u64,
        guard: Option<StreamGuard>,
        accounting: Accounting,
    ) -> Self {
        Self {
            upstream,
            writer,
            ticket: Some(ticket),
            state,
            request_id,
            started: false,
            done: false,
            finish: FinishReason::Stop,
            input_tokens: None,
            output_tokens: None,
            estimated_input,
            delivered_chars: 0,
            delivered_text_tokens: 0,
            guard,
            accounting: Some(accounting),
            batch: Batch::default(),
        }
    }

    fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.input_tokens.unwrap_or(self.estimated_input),
            output: self.output_tokens.unwrap_or(self.delivered_text_tokens),
        }
    }

    fn close(&mut self, status: u16, error: Option<&RelayError>, disconnected: bool) {
        let usage = self.usage();
        if let Some(mut ticket) = self.ticket.take() {
            ticket.record.output_chars = self.delivered_chars;
            ticket.record.client_disconnected = disconnected;
            let cost = ticket.set_tokens(usage);
            if let Some(accounting) = self.accounting.take() {
                accounting.settle(&self.state, usage, cost);
            }
            if let Some(error) = error {
                tracing::warn!(request.id = %self.request_id, code = error.code(), error = %error, "relay stream failed");
            }
            ticket.finish(&self.state, status, error);
        }
    }

    fn on_event(&mut self, event: StreamEvent, out: &mut Vec<Bytes>) {
        match event {
            StreamEvent::Delta(text) => {
                // Tokens are what the model wrote, whether or not it is sent as is.
                self.delivered_text_tokens += estimate_tokens(&text);
                match self.guard.as_mut().map(|guard| guard.piece(&text)) {
                    Some(Ok(ready)) => {
                        let ready = ready.into_owned();
                        self.send_text(&ready, out);
                    }
                    Some(Err(refused)) => self.fail(refused, out),
                    None => self.send_text(&text, out),
                }
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                self.delivered_text_tokens += estimate_tokens(&arguments);
                let piece = ToolPiece {
                    index,
                    id,
                    name,
                    arguments,
                };
                let ready = match self.guard.as_mut() {
                    Some(guard) => guard.tool_piece(piece),
                    None => Ok(Some(piece)),
                };
                match ready {
                    Ok(Some(piece)) => self.send_tool_piece(&piece, out),
                    Ok(None) => {}
                    Err(refused) => self.fail(refused, out),
                }
            }
            StreamEvent::Usage { input, output } => {
                let (input, output) = (input.map(clamp_tokens), output.map(clamp_tokens));
                self.input_tokens = input.or(self.input_tokens);
                self.output_tokens = output.or(self.output_tokens);
            }
            StreamEvent::Finish(reason) => self.finish = reason,
        }
    }
}

impl RelayStream {
    /// Ends the stream with an error event (the answer so far is all the client
    /// gets, and the error says why it stops).
    fn fail(&mut self, error: RelayError, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        self.writer.error(&error, &self.request_id, out);
        self.done = true;
        self.close(error.status().as_u16(), Some(&error), false);
    }

    fn send_text(&mut self, text: &str, out: &mut Vec<Bytes>) {
        if !text.is_empty() {
            self.delivered_chars += text.chars().count() as u64;
            self.writer.delta(text, out);
        }
    }

    fn send_tool_piece(&mut self, piece: &ToolPiece, out: &mut Vec<Bytes>) {
        self.delivered_chars += piece.arguments.chars().count() as u64;
        self.writer.tool_call(
            &ToolCallPiece {
                index: piece.index,
                id: piece.id.as_deref(),
                name: piece.name.as_deref(),
                arguments: &piece.arguments,
            },
            out,
        );
    }

    /// The end of the upstream stream: what the guard still holds goes out (or a
    /// refusal in its place), then the closing frames.
    fn end(&mut self, out: &mut Vec<Bytes>) {
        if let Some(mut guard) = self.guard.take() {
            let (guarded, tool_pieces) = guard.end();
            self.send_text(&guarded.text, out);
            for piece in &tool_pieces {
                self.send_tool_piece(piece, out);
            }
            if guarded.replaced {
                self.finish = FinishReason::ContentFilter;
            }
            if let Some(ticket) = self.ticket.as_mut() {
                ticket.record_output(&guarded);
            }
        }
        let usage = self.usage();
        if let Some(price) = self.ticket.as_ref().and_then(|t| t.price) {
            let clamped = usage.clamped();
            let cost = airlock_core::pricing::cost(price, clamped.input, clamped.output);
            self.writer.set_cost(crate::native::dollars(cost));
        }
        self.writer.end(self.finish, usage, out);
        self.done = true;
        self.close(200, None, false);
    }
}

impl Stream for RelayStream {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            this.writer.begin(this.batch.out());
        }
        poll_frames(this, cx)
    }
}

impl Relayed for RelayStream {
    fn step(&mut self, cx: &mut Context<'_>, out: &mut Vec<Bytes>) -> Poll<()> {
        match self.upstream.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(event))) => self.on_event(event, out),
            Poll::Ready(Some(Err(error))) => self.fail(error, out),
            Poll::Ready(None) => self.end(out),
        }
        Poll::Ready(())
    }

    fn done(&self) -> bool {
        self.done
    }

    fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }
}

/// A stream that turns upstream events into frames for the client.
pub(crate) trait Relayed {
    /// Polls the upstream once and renders what it gave (an event, an error,
    /// the end) into `out`; `Pending` when it had nothing.
    fn step(&mut self, cx: &mut Context<'_>, out: &mut Vec<Bytes>) -> Poll<()>;
    fn done(&self) -> bool;
    fn batch(&mut self) -> &mut Batch;
}

/// One poll of a relayed stream: every event the upstream has ready, rendered
/// and handed to actix as one write (see `Batch`).
pub(crate) fn poll_frames<R: Relayed>(
    relayed: &mut R,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Bytes, actix_web::Error>>> {
    std::task::ready!(relayed.batch().poll_turn(cx));
    let mut out = std::mem::take(relayed.batch().out());
    while !relayed.done() {
        if relayed.step(cx, &mut out).is_pending() {
            *relayed.batch().out() = out;
            std::task::ready!(relayed.batch().on_pending(cx));
            out = std::mem::take(relayed.batch().out());
            break;
        }
        relayed.batch().got_event();
    }
    *relayed.batch().out() = out;
    let done = relayed.done();
    relayed.batch().take(done)
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        // Still holding the ticket means the client left before the end.
        if self.ticket.is_some() {
            self.close(200, None, true);
        }
    }
}

/// The most of a stream's frames handed to actix as one write.
const MAX_WRITE: usize = 32 << 10;

/// Frames rendered and not yet handed to actix, and whether the upstream
/// connection was given a turn since the last event.
///
/// hyper hands a body over one chunk at a time: its connection task (on the same
/// worker thread) decodes the next chunk only after this stream took the last. An
/// upstream that sent a whole answer at once still looks "not ready" after every
/// event, and writing then would cost one `send` per event (half the relay's CPU
/// under streaming load was the kernel's). So when the upstream says pending, the
/// stream first lets every other ready task run once (`yield_now`); only if the
/// upstream still has nothing after that turn do the frames go out. A quiet
/// upstream costs one scheduler turn of latency, never a timer.
#[derive(Default)]
pub(crate) struct Batch {
    frames: Vec<Bytes>,
    /// The upstream said pending once since the last event, and was given a turn.
    yielded: bool,
    turn: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl Batch {
    /// Waits for a turn given to the other tasks to end (`Pending` until then).
    pub(crate) fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(turn) = self.turn.as_mut() {
            std::task::ready!(turn.as_mut().poll(cx));
            self.turn = None;
        }
        Poll::Ready(())
    }

    /// An upstream event arrived: it earns the next pending a turn again.
    pub(crate) fn got_event(&mut self) {
        self.yielded = false;
    }

    /// Frames to send go here.
    pub(crate) fn out(&mut self) -> &mut Vec<Bytes> {
        &mut self.frames
    }

    /// The upstream said pending: `Pending` if the stream should wait for a turn
    /// of the other tasks before writing, `Ready` if it should write now.
    pub(crate) fn on_pending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let bytes: usize = self.frames.iter().map(Bytes::len).sum();
        if self.frames.is_empty() || self.yielded || bytes >= MAX_WRITE {
            return Poll::Ready(());
        }
        self.yielded = true;
        let mut turn: Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            Box::pin(tokio::task::yield_now());
        match turn.as_mut().poll(cx) {
            Poll::Pending => {
                self.turn = Some(turn);
                Poll::Pending
            }
            Poll::Ready(()) => Poll::Ready(()),
        }
    }

    /// What this poll hands actix: every frame gathered as one write, nothing
    /// while there is nothing to send, the end once the stream is done.
    pub(crate) fn take(&mut self, done: bool) -> Poll<Option<Result<Bytes, actix_web::Error>>> {
        self.yielded = false;
        let out = std::mem::take(&mut self.frames);
        match out.len() {
            0 if done => Poll::Ready(None),
            0 => Poll::Pending,
            1 => Poll::Ready(out.into_iter().next().map(Ok)),
            _ => {
                let mut joined = BytesMut::with_capacity(out.iter().map(Bytes::len).sum());
                out.iter().for_each(|frame| joined.extend_from_slice(frame));
                Poll::Ready(Some(Ok(joined.freeze())))
            }
        }
    }
}

/// Token counts an upstream reports are believed up to [`TokenUsage::MAX`].
fn clamp_tokens(tokens: u64) -> u64 {
    tokens.min(TokenUsage::MAX)
}
