//! Server side: assembling a hello from whatever TCP segments deliver.

use super::codec::{Parser, Step};
use super::{Hello, MAX_HELLO_LEN};
use crate::Error;

/// Longest HTTP request head (request line and headers, up to the blank line) the assembler
/// buffers before giving up with [`Error::HttpHeadTooLong`].
pub const MAX_HTTP_HEAD_LEN: usize = 8 * 1024;

/// Body of the page a server may send to a browser that opened the hello port.
pub const DIAGNOSTIC_PAGE_TEXT: &str = "amtd provisioning server.\n\
Intel AMT devices in setup mode send their hello to this port; it is not a web page.\n";

/// What to do with bytes that follow a complete hello.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrailingPolicy {
    /// Fail with [`Error::TrailingBytes`] (the default; see the module docs for why).
    #[default]
    Reject,
    /// Count and discard them ([`HelloAssembler::trailing_bytes`]), as long as the total stays
    /// within [`MAX_HELLO_LEN`].
    Tolerate,
}

/// The start of an HTTP `GET` request that arrived on the hello port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGet {
    /// The request line without its line ending (for example `GET / HTTP/1.1`). Bytes that are
    /// not printable ASCII are replaced by `?`, so it is safe to log.
    pub request_line: String,
}

impl HttpGet {
    /// The request target (the second word of the request line), or `""`.
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or("")
    }
}

/// The outcome of one [`HelloAssembler::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Well formed so far; keep reading.
    NeedMore,
    /// A whole hello has arrived (reported once). The device normally closes the connection
    /// now; a server that wants the strict verdict on trailing bytes waits for EOF and calls
    /// [`HelloAssembler::finish`].
    Complete(Hello),
    /// The peer sent an HTTP `GET` request head (reported once): answer it, for example with
    /// [`diagnostic_http_response`], and close.
    HttpGet(HttpGet),
    /// The bytes were accepted and discarded: tolerated trailing bytes after a hello, or bytes
    /// after an HTTP request head.
    Ignored,
}

#[derive(Debug)]
enum State {
    /// Collecting a hello (or the first bytes of `GET `).
    Collecting,
    /// The peer speaks HTTP; the head has not ended yet.
    Http,
    /// The HTTP request head was reported.
    HttpDone,
    /// A hello of `len` bytes was reported.
    Complete { hello: Hello, len: usize },
    /// A previous push failed; the assembler repeats the error.
    Failed(Error),
}

/// Assembles one hello per TCP connection, sans-IO: push every segment as it arrives, call
/// [`HelloAssembler::finish`] at EOF.
///
/// * Fields are validated as soon as their bytes arrive, so a bad admin flag, version, UUID,
///   hash type or hash size fails at once, not at EOF.
/// * At most [`MAX_HELLO_LEN`] bytes are buffered; input beyond the hello is not buffered at
///   all, so memory per connection is bounded whatever the peer sends.
/// * A peer that starts with `GET ` is an HTTP client (a hello cannot start that way: its first
///   u16 would be 0x4547): the assembler waits for the end of the request head (bounded by
///   [`MAX_HTTP_HEAD_LEN`]) and reports [`Progress::HttpGet`].
/// * After an error every further call returns the same error.
#[derive(Debug)]
pub struct HelloAssembler {
    policy: TrailingPolicy,
    buf: Vec<u8>,
    parser: Parser,
    received: usize,
    state: State,
}

impl Default for HelloAssembler {
    fn default() -> Self {
        Self::new()
    }
}

const GET: &[u8] = b"GET ";

impl HelloAssembler {
    /// An assembler that rejects trailing bytes.
    pub fn new() -> Self {
        Self::with_trailing_policy(TrailingPolicy::Reject)
    }

    /// An assembler with the given treatment of bytes after a complete hello.
    pub fn with_trailing_policy(policy: TrailingPolicy) -> Self {
        Self {
            policy,
            buf: Vec::new(),
            parser: Parser::default(),
            received: 0,
            state: State::Collecting,
        }
    }

    /// Total bytes pushed so far (including discarded ones).
    pub fn bytes_received(&self) -> usize {
        self.received
    }

    /// True once the peer turned out to speak HTTP (its first bytes were `GET `).
    pub fn is_http(&self) -> bool {
        matches!(self.state, State::Http | State::HttpDone)
    }

    /// Bytes received after the complete hello (only ever non-zero with
    /// [`TrailingPolicy::Tolerate`]).
    pub fn trailing_bytes(&self) -> usize {
        match &self.state {
            State::Complete { len, .. } => self.received.saturating_sub(*len),
            _ => 0,
        }
    }

    /// Feeds the next bytes of the connection. An empty slice changes nothing.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Progress, Error> {
        if bytes.is_empty() {
            return match &self.state {
                State::Failed(e) => Err(e.clone()),
                State::Collecting | State::Http => Ok(Progress::NeedMore),
                State::Complete { .. } | State::HttpDone => Ok(Progress::Ignored),
            };
        }
        self.received = self.received.saturating_add(bytes.len());
        let result = match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::HttpDone => Ok(Progress::Ignored),
            State::Complete { len, .. } => self.after_complete(*len),
            State::Http => self.push_http(bytes),
            State::Collecting => self.push_hello(bytes),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
            self.buf = Vec::new();
        }
        result
    }

    /// The verdict at EOF: the hello, or why there is none.
    pub fn finish(mut self) -> Result<Hello, Error> {
        match self.state {
            State::Failed(e) => Err(e),
            State::Complete { hello, .. } => Ok(hello),
            State::Http => Err(Error::HttpRequest {
                head_complete: false,
            }),
            State::HttpDone => Err(Error::HttpRequest {
                head_complete: true,
            }),
            State::Collecting if self.received == 0 => Err(Error::Empty),
            State::Collecting => match self.parser.advance(&self.buf)? {
                Step::NeedMore { at_least } => Err(Error::Truncated {
                    needed: at_least,
                    got: self.received,
                }),
                // Unreachable: push reports completion as soon as it happens.
                Step::Complete { hello, .. } => Ok(hello),
            },
        }
    }

    fn after_complete(&self, len: usize) -> Result<Progress, Error> {
        match self.policy {
            TrailingPolicy::Reject => Err(Error::TrailingBytes {
                hello_len: len,
                extra: self.received.saturating_sub(len),
            }),
            TrailingPolicy::Tolerate if self.received > MAX_HELLO_LEN => Err(Error::TooLong {
                len: self.received,
                max: MAX_HELLO_LEN,
            }),
            TrailingPolicy::Tolerate => Ok(Progress::Ignored),
        }
    }

    fn push_hello(&mut self, bytes: &[u8]) -> Result<Progress, Error> {
        let room = MAX_HELLO_LEN.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..room.min(bytes.len())]);
        if self.buf.len() < GET.len() && GET.starts_with(&self.buf) {
            return Ok(Progress::NeedMore);
        }
        if self.buf.starts_with(GET) {
            self.state = State::Http;
            self.buf.truncate(MAX_HTTP_HEAD_LEN);
            return self.scan_http(0);
        }
        match self.parser.advance(&self.buf)? {
            Step::NeedMore { .. } if self.received > MAX_HELLO_LEN => Err(Error::TooLong {
                len: self.received,
                max: MAX_HELLO_LEN,
            }),
            Step::NeedMore { .. } => Ok(Progress::NeedMore),
            Step::Complete { hello, len } => {
                if self.received > len {
                    self.after_complete(len)?;
                }
                self.buf = Vec::new();
                self.state = State::Complete {
                    hello: hello.clone(),
                    len,
                };
                Ok(Progress::Complete(hello))
            }
        }
    }

    fn push_http(&mut self, bytes: &[u8]) -> Result<Progress, Error> {
        let scanned = self.buf.len();
        let room = MAX_HTTP_HEAD_LEN.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..room.min(bytes.len())]);
        self.scan_http(scanned)
    }

    /// Looks for the end of the request head in `buf`, from just before `scanned`.
    fn scan_http(&mut self, scanned: usize) -> Result<Progress, Error> {
        let from = scanned.saturating_sub(3);
        let end = (from..self.buf.len()).find(|&i| {
            let rest = self.buf.get(i..).unwrap_or_default();
            rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n")
        });
        match end {
            Some(_) => {
                let first = self.buf.split(|&b| b == b'\n').next().unwrap_or_default();
                let line = first.strip_suffix(b"\r").unwrap_or(first);
                let request_line = line
                    .iter()
                    .map(|&b| {
                        if b == b' ' || b.is_ascii_graphic() {
                            char::from(b)
                        } else {
                            '?'
                        }
                    })
                    .collect();
                self.buf = Vec::new();
                self.state = State::HttpDone;
                Ok(Progress::HttpGet(HttpGet { request_line }))
            }
            None if self.buf.len() >= MAX_HTTP_HEAD_LEN => Err(Error::HttpHeadTooLong {
                max: MAX_HTTP_HEAD_LEN,
            }),
            None => Ok(Progress::NeedMore),
        }
    }
}

/// A complete `HTTP/1.1 200` response (plain text, `Connection: close`) carrying `body`, for a
/// server to send after [`Progress::HttpGet`]; [`DIAGNOSTIC_PAGE_TEXT`] is a suitable body.
pub fn diagnostic_http_response(body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}
