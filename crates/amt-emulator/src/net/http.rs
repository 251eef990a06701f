//! The device's HTTP/1.1 server side: reading one request from a byte stream within bounds,
//! and writing responses.
//!
//! Rules (what AMT consoles need, and nothing a hostile peer can abuse):
//! - request head (request line + headers) at most [`HttpLimits::max_head_bytes`] bytes and
//!   [`MAX_HEADERS`] header lines, else `431`;
//! - bodies by `Content-Length` only, at most [`HttpLimits::max_body_bytes`], else `413`.
//!   `Transfer-Encoding` (chunked) requests are refused with `411 Length Required`: AMT
//!   consoles (MeshCentral, Intel's libraries, python-requests) always send a length;
//! - conflicting or malformed `Content-Length`, bad request lines, non-HTTP/1.x: `400`;
//! - `Expect: 100-continue` is honoured (curl sends it for larger bodies);
//! - HTTP/1.1 keeps the connection open unless `Connection: close`; HTTP/1.0 closes unless
//!   `Connection: keep-alive`.
//!
//! Every error closes the connection after its response. Nothing here panics on any input.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Most header lines in one request.
pub const MAX_HEADERS: usize = 64;

/// Size and time bounds of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request head (request line and headers), bytes.
    pub max_head_bytes: usize,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// How long a kept-alive connection may sit idle before the next request starts.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive completely once it has started.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 512 * 1024,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// One HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method (`POST`).
    pub method: String,
    /// Request target (`/wsman`).
    pub target: String,
    /// Whether the client wants the connection kept open.
    pub keep_alive: bool,
    /// The `Authorization` header value.
    pub authorization: Option<String>,
    /// The `Host` header value.
    pub host: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request could not be read. Each maps to a status (or to closing silently).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The peer closed the connection between requests, or stayed idle too long: close
    /// without a response.
    #[error("connection closed or idle")]
    Closed,
    /// The peer closed or stalled in the middle of a request: close without a response.
    #[error("request incomplete: {0}")]
    Incomplete(&'static str),
    /// Unparsable request: `400`.
    #[error("bad request: {0}")]
    Malformed(&'static str),
    /// Request head too large: `431`.
    #[error("request head too large")]
    HeadTooLarge,
    /// Body too large: `413`.
    #[error("request body too large")]
    BodyTooLarge,
    /// No usable `Content-Length` (chunked or missing on POST): `411`.
    #[error("length required")]
    LengthRequired,
}

impl HttpError {
    /// The status to answer with, or `None` to close silently.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Closed | HttpError::Incomplete(_) => None,
            HttpError::Malformed(_) => Some(400),
            HttpError::HeadTooLarge => Some(431),
            HttpError::BodyTooLarge => Some(413),
            HttpError::LengthRequired => Some(411),
        }
    }
}

/// The head of a request, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method.
    pub method: String,
    /// Target.
    pub target: String,
    /// Keep-alive wanted.
    pub keep_alive: bool,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `Host`.
    pub host: Option<String>,
    /// Body length (0 when absent on a body-less method).
    pub content_length: usize,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

/// Reads a request head from `stream`. `buf` carries bytes already read past the previous
/// request (pipelining) and keeps the bytes read past this head.
///
/// # Errors
/// [`HttpError`].
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    limits: &HttpLimits,
) -> Result<RequestHead, HttpError> {
    let mut deadline: Option<Instant> = if buf.is_empty() {
        None
    } else {
        Some(Instant::now() + limits.request_timeout)
    };
    loop {
        if !buf.is_empty() {
            if let Some((head, used)) = parse_head(buf, limits)? {
                buf.drain(..used);
                return Ok(head);
            }
            if buf.len() > limits.max_head_bytes {
                return Err(HttpError::HeadTooLarge);
            }
        }
        let wait = match deadline {
            None => limits.idle_timeout,
            Some(d) => d.saturating_duration_since(Instant::now()),
        };
        let n = read_some(stream, buf, wait).await;
        match n {
            Some(0) | None if deadline.is_none() => return Err(HttpError::Closed),
            Some(0) => return Err(HttpError::Incomplete("closed in the request head")),
            None => return Err(HttpError::Incomplete("timed out in the request head")),
            Some(_) => {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + limits.request_timeout);
                }
            }
        }
    }
}

/// Reads a body of `len` bytes (part of which may already be in `buf`), by `deadline`.
///
/// # Errors
/// [`HttpError::Incomplete`] when the peer closes or stalls.
pub async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    len: usize,
    timeout: Duration,
) -> Result<Vec<u8>, HttpError> {
    let deadline = Instant::now() + timeout;
    while buf.len() < len {
        let wait = deadline.saturating_duration_since(Instant::now());
        match read_some(stream, buf, wait).await {
            Some(0) => return Err(HttpError::Incomplete("closed in the body")),
            None => return Err(HttpError::Incomplete("timed out in the body")),
            Some(_) => {}
        }
    }
    let rest = buf.split_off(len);
    Ok(std::mem::replace(buf, rest))
}

/// One read into `buf` within `wait`: `Some(n)` bytes read (0 at end of stream), `None` on
/// timeout or a read error.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    wait: Duration,
) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
        Ok(Ok(n)) => {
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            Some(n)
        }
        Ok(Err(_)) => Some(0),
        Err(_) => None,
    }
}

/// Parses a complete head from the start of `buf`: `Ok(None)` when more bytes are needed.
fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(_) => return Err(HttpError::Malformed("unparsable request head")),
    };
    if used > limits.max_head_bytes {
        return Err(HttpError::HeadTooLarge);
    }
    let method = req.method.unwrap_or_default().to_owned();
    let target = req.path.unwrap_or_default().to_owned();
    let version = req.version.unwrap_or(0);
    let mut keep_alive = version == 1;
    let mut content_length: Option<usize> = None;
    let mut authorization = None;
    let mut host = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| HttpError::Malformed("header is not UTF-8"))?;
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(HttpError::Malformed("conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::LengthRequired);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                return Err(HttpError::Malformed("two Authorization headers"));
            }
            authorization = Some(value.to_owned());
        } else if h.name.eq_ignore_ascii_case("host") {
            host = Some(value.to_owned());
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    let content_length = match content_length {
        Some(n) => n,
        None if method == "POST" || method == "PUT" => return Err(HttpError::LengthRequired),
        None => 0,
    };
    if content_length > limits.max_body_bytes {
        return Err(HttpError::BodyTooLarge);
    }
    Ok(Some((
        RequestHead {
            method,
            target,
            keep_alive,
            authorization,
            host,
            content_length,
            expect_continue,
        },
        used,
    )))
}

/// The reason phrase of the statuses the device uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// `Content-Type` when there is a body.
    pub content_type: Option<&'static str>,
    /// Body.
    pub body: Vec<u8>,
    /// Send `Connection: close` (and close after writing).
    pub close: bool,
}

impl HttpResponse {
    /// An empty response with this status.
    pub fn empty(status: u16) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
            close: false,
        }
    }

    /// The bytes on the wire, with `server` as the `Server` header.
    pub fn to_bytes(&self, server: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        let head = format!(
            "HTTP/1.1 {} {}\r\nServer: {server}\r\nX-Frame-Options: DENY\r\n",
            self.status,
            reason(self.status)
        );
        out.extend_from_slice(head.as_bytes());
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if let Some(ct) = self.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// Writes `bytes` and flushes, within `timeout`. Returns false when that failed.
pub async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    timeout: Duration,
) -> bool {
    let w = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    matches!(tokio::time::timeout(timeout, w).await, Ok(Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
        parse_head(bytes, &HttpLimits::default())
    }

    #[test]
    fn wsman_post_head_is_parsed() {
        let raw = b"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:16992\r\nContent-Length: 12\r\nAuthorization: Digest x=y\r\n\r\nrest";
        let (h, used) = head(raw).unwrap().unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.target, "/wsman");
        assert_eq!(h.content_length, 12);
        assert!(h.keep_alive);
        assert_eq!(h.authorization.as_deref(), Some("Digest x=y"));
        assert_eq!(&raw[used..], b"rest");
    }

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(head(b"POST /wsman HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
    }

    #[test]
    fn bad_heads_map_to_statuses() {
        let cases: &[(&[u8], u16)] = &[
            (b"\x00\x01\x02garbage\r\n\r\n", 400),
            (b"POST /wsman HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
            (
                b"POST /wsman HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (
                b"POST /wsman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                411,
            ),
            (b"POST /wsman HTTP/1.1\r\n\r\n", 411),
            (
                b"POST /wsman HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
                413,
            ),
        ];
        for (raw, status) in cases {
            let e = head(raw).unwrap_err();
            assert_eq!(
                e.status(),
                Some(*status),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(head(&many).unwrap_err().status(), Some(431));
    }

    #[test]
    fn connection_header_decides_keep_alive() {
        let (h, _) = head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let (h, _) = head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (h, _) = head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
    }

    #[tokio::test]
    async fn pipelined_requests_are_read_in_turn() {
        let raw = b"POST /wsman HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /wsman HTTP/1.1\r\nContent-Length: 2\r\n\r\nde".to_vec();
        let mut stream = &raw[..];
        let mut buf = Vec::new();
        let l = HttpLimits::default();
        let h = read_head(&mut stream, &mut buf, &l).await.unwrap();
        assert_eq!(
            read_body(&mut stream, &mut buf, h.content_length, l.request_timeout)
                .await
                .unwrap(),
            b"abc"
        );
        let h = read_head(&mut stream, &mut buf, &l).await.unwrap();
        assert_eq!(
            read_body(&mut stream, &mut buf, h.content_length, l.request_timeout)
                .await
                .unwrap(),
            b"de"
        );
        assert_eq!(
            read_head(&mut stream, &mut buf, &l).await.unwrap_err(),
            HttpError::Closed
        );
    }

    #[tokio::test]
    async fn half_request_is_incomplete() {
        let raw = b"POST /wsman HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc".to_vec();
        let mut stream = &raw[..];
        let mut buf = Vec::new();
        let l = HttpLimits::default();
        let h = read_head(&mut stream, &mut buf, &l).await.unwrap();
        assert!(matches!(
            read_body(&mut stream, &mut buf, h.content_length, l.request_timeout).await,
            Err(HttpError::Incomplete(_))
        ));
    }

    #[test]
    fn response_bytes_carry_length_and_close() {
        let mut r = HttpResponse::empty(401);
        r.headers
            .push(("WWW-Authenticate", "Digest realm=\"x\"".into()));
        r.close = true;
        let text = String::from_utf8(r.to_bytes("AMT")).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        assert!(text.contains("WWW-Authenticate: Digest realm=\"x\"\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }
}
