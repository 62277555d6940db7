//! A hostile upstream: a raw TCP listener that answers whatever a test tells it to
//! (a redirect, an endless body, an SSE line that never ends) and counts what
//! happened: connections accepted, request bytes received, answer bytes the
//! kernel took before the relay hung up. Tests assert on those counts, not on time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub enum Answer {
    /// Reads the request and closes without answering (a listener that should
    /// never have been reached).
    Nothing,
    /// A redirect with this status to this location.
    Redirect(u16, String),
    /// A 200 JSON answer whose chunked body never ends (up to `bytes`).
    EndlessJson { bytes: u64 },
    /// A 200 `text/event-stream` whose first `data:` line never ends.
    EndlessSseLine { bytes: u64 },
}

#[derive(Default)]
pub struct Counts {
    pub connections: AtomicU64,
    pub received: AtomicU64,
    pub written: AtomicU64,
}

impl Counts {
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }
}

pub struct Hostile {
    pub addr: std::net::SocketAddr,
    pub counts: Arc<Counts>,
}

impl Hostile {
    pub async fn start(answer: Answer) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, answer.clone(), shared.clone()));
            }
        });
        Hostile { addr, counts }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(mut socket: tokio::net::TcpStream, answer: Answer, counts: Arc<Counts>) {
    // Read the request head and whatever body came with it.
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    loop {
        let Ok(n) = socket.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        counts.received.fetch_add(n as u64, Ordering::SeqCst);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut have = head.len() - end - 4;
            while have < length {
                let Ok(n) = socket.read(&mut buf).await else {
                    return;
                };
                if n == 0 {
                    break;
                }
                counts.received.fetch_add(n as u64, Ordering::SeqCst);
                have += n;
            }
            break;
        }
    }
    match answer {
        Answer::Nothing => {}
        Answer::Redirect(status, location) => {
            let head = format!(
                "HTTP/1.1 {status} Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            write(&mut socket, head.as_bytes(), &counts).await;
        }
        Answer::EndlessJson { bytes } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if write(&mut socket, head.as_bytes(), &counts).await {
                endless(&mut socket, b"{\"pad\":\"", bytes, true, &counts).await;
            }
        }
        Answer::EndlessSseLine { bytes } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            if write(&mut socket, head.as_bytes(), &counts).await {
                endless(&mut socket, b"data: ", bytes, true, &counts).await;
            }
        }
    }
    let _ = socket.shutdown().await;
}

async fn write(socket: &mut tokio::net::TcpStream, bytes: &[u8], counts: &Counts) -> bool {
    let ok = socket.write_all(bytes).await.is_ok();
    if ok {
        counts
            .written
            .fetch_add(bytes.len() as u64, Ordering::SeqCst);
    }
    ok
}

/// Writes `prefix` then `x` bytes in 64 KiB chunks (HTTP chunked encoding), until
/// `total` or until the peer stops reading and hangs up.
async fn endless(
    socket: &mut tokio::net::TcpStream,
    prefix: &[u8],
    total: u64,
    chunked: bool,
    counts: &Counts,
) {
    let piece = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    let mut first = true;
    while sent < total {
        let body: &[u8] = if first { prefix } else { &piece };
        first = false;
        let mut frame = Vec::with_capacity(body.len() + 16);
        if chunked {
            frame.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        }
        frame.extend_from_slice(body);
        if chunked {
            frame.extend_from_slice(b"\r\n");
        }
        if socket.write_all(&frame).await.is_err() {
            return;
        }
        counts
            .written
            .fetch_add(frame.len() as u64, Ordering::SeqCst);
        sent += body.len() as u64;
    }
}
