//! One connection: read until the assembler has a verdict, the peer closes, or time runs out.

use std::time::Duration;

use amt_wire::hello::{
    diagnostic_http_response, Hello, HelloAssembler, Progress, TrailingPolicy, DIAGNOSTIC_PAGE_TEXT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::event::{HelloOutcome, RejectReason};

/// How long to wait for the browser to close after the diagnostic page was sent, so that
/// closing with unread request bytes does not reset the connection before the page arrives.
const HTTP_DRAIN: Duration = Duration::from_millis(500);

/// Per-connection settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnSettings {
    pub read_timeout: Duration,
    pub complete_grace: Duration,
    pub trailing: TrailingPolicy,
}

/// Reads one hello from `stream` and returns the verdict. Never panics, whatever arrives.
pub(super) async fn serve(mut stream: TcpStream, s: ConnSettings) -> HelloOutcome {
    let mut deadline = Instant::now() + s.read_timeout;
    let mut assembler = HelloAssembler::with_trailing_policy(s.trailing);
    let mut complete: Option<Hello> = None;
    let mut buf = [0u8; 2048];
    loop {
        let n = match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_elapsed) => {
                // A whole hello whose sender keeps the socket open is still a whole hello.
                return match complete {
                    Some(hello) => HelloOutcome::Accepted(hello),
                    None => HelloOutcome::Rejected(RejectReason::Timeout {
                        received: assembler.bytes_received(),
                    }),
                };
            }
            Ok(Err(e)) => {
                return match complete {
                    Some(hello) => HelloOutcome::Accepted(hello),
                    None => HelloOutcome::Rejected(RejectReason::Io(e.kind())),
                };
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return match assembler.finish() {
                Ok(hello) => HelloOutcome::Accepted(hello),
                Err(e) => HelloOutcome::Rejected(RejectReason::Malformed(e)),
            };
        }
        match assembler.push(buf.get(..n).unwrap_or_default()) {
            Err(e) => return HelloOutcome::Rejected(RejectReason::Malformed(e)),
            Ok(Progress::NeedMore | Progress::Ignored) => {}
            Ok(Progress::Complete(hello)) => {
                // The device closes after its hello; wait briefly for that EOF so trailing
                // bytes get their verdict, but never past the read deadline.
                complete = Some(hello);
                deadline = deadline.min(Instant::now() + s.complete_grace);
            }
            Ok(Progress::HttpGet(get)) => {
                let page = diagnostic_http_response(DIAGNOSTIC_PAGE_TEXT);
                let _ = timeout_at(deadline, async {
                    stream.write_all(&page).await?;
                    stream.shutdown().await
                })
                .await;
                let drain_until = deadline.min(Instant::now() + HTTP_DRAIN);
                while let Ok(Ok(n)) = timeout_at(drain_until, stream.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                }
                return HelloOutcome::Rejected(RejectReason::HttpRequest {
                    request_line: get.request_line,
                });
            }
        }
    }
}
