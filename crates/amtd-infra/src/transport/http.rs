//! Sans-IO HTTP/1.1 for one WS-Man exchange: request bytes out, response bytes in.
//!
//! Nothing here touches a socket or a clock. [`encode_request`] builds the exact bytes of a
//! `POST /wsman`; [`ResponseDecoder`] is fed whatever the socket returned and says when a whole
//! response (head and body, any framing) has arrived, enforcing the size limits as it goes, so
//! the async caller never buffers more than the limits allow.

use crate::transport::error::Malformed;

/// The request target of every WS-Man request (also the Digest `uri`).
pub(crate) const WSMAN_PATH: &str = "/wsman";

/// The content type AMT expects on WS-Man requests (SOAP 1.2).
pub(crate) const SOAP_CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

/// Upper bound for a response head (status line plus headers), and for chunked trailers.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Upper bound for the number of headers in one response head.
const MAX_HEADERS: usize = 64;

/// Upper bound for one chunk-size line (size plus chunk extensions).
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// The `Host` header value for `host:port`, with IPv6 literals in brackets.
pub(crate) fn host_header(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// True when `value` can be sent as a header value as it is: visible ASCII, space and tab only.
/// Anything else (CR, LF, other control bytes, non-ASCII) could split or corrupt the request.
pub(crate) fn is_safe_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Builds the bytes of `POST /wsman HTTP/1.1` carrying `body` with a `Content-Length`.
///
/// `host_header` and `authorization` must pass [`is_safe_header_value`]; the caller checks this
/// because their origin (caller configuration, device challenge) decides whose fault it is.
pub(crate) fn encode_request(
    host_header: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    debug_assert!(is_safe_header_value(host_header));
    debug_assert!(authorization.is_none_or(is_safe_header_value));
    let mut head = format!(
        "POST {WSMAN_PATH} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: {SOAP_CONTENT_TYPE}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(value) = authorization {
        head.push_str("Authorization: ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

/// A complete response as the decoder hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedResponse {
    /// The final (non-1xx) status code.
    pub status: u16,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
    /// Every `WWW-Authenticate` header value, in order (non-UTF-8 values are dropped).
    pub www_authenticate: Vec<String>,
    /// Whether the connection may carry another request: HTTP/1.1 without `Connection: close`
    /// (or HTTP/1.0 with `keep-alive`), a self-delimited body and no stray bytes after it.
    pub reusable: bool,
}

/// Why decoding stopped without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The head, trailers or body would exceed its limit (in bytes).
    TooLarge {
        /// The limit that would have been exceeded.
        limit: usize,
    },
    /// The bytes are not an acceptable HTTP/1.x response.
    Malformed(Malformed),
}

impl From<Malformed> for DecodeError {
    fn from(problem: Malformed) -> Self {
        DecodeError::Malformed(problem)
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body at all (204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes the connection.
    UntilClose,
}

/// The parts of a response head the transport acts on.
#[derive(Debug)]
struct Head {
    status: u16,
    keep_alive: bool,
    framing: Framing,
    www_authenticate: Vec<String>,
}

/// Where the chunked-body parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// After the last chunk, skipping trailer lines until an empty one; bytes seen so far.
    Trailers(usize),
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        head: Head,
        body: Vec<u8>,
        remaining: Remaining,
    },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remaining {
    Length(usize),
    Chunked(Chunk),
    UntilClose,
}

/// An incremental HTTP/1.x response decoder for one exchange.
///
/// Feed it with [`push`](Self::push) until it returns a response; at end of stream call
/// [`finish`](Self::finish), which completes a read-to-close body or reports truncation.
#[derive(Debug)]
pub(crate) struct ResponseDecoder {
    max_body: usize,
    buf: Vec<u8>,
    state: State,
    received_any: bool,
}

/// What the end of the stream meant for the response being decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Eof {
    /// The response was delimited by the close and is complete.
    Complete(DecodedResponse),
    /// Not a single byte of a response arrived.
    NothingReceived,
    /// Part of a response arrived, then the stream ended.
    Truncated(Malformed),
}

impl ResponseDecoder {
    /// A decoder that refuses bodies longer than `max_body` bytes.
    pub(crate) fn new(max_body: usize) -> Self {
        ResponseDecoder {
            max_body,
            buf: Vec::new(),
            state: State::Head,
            received_any: false,
        }
    }

    /// Feeds bytes read from the connection. Returns the response once it is complete; any
    /// bytes after it make the connection non-reusable (we never pipeline).
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Option<DecodedResponse>, DecodeError> {
        if data.is_empty() {
            return Ok(None);
        }
        self.received_any = true;
        if matches!(self.state, State::Done) {
            return Err(Malformed::TrailingData.into());
        }
        self.buf.extend_from_slice(data);
        self.advance()
    }

    /// Handles the end of the stream.
    pub(crate) fn finish(&mut self) -> Eof {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Body {
                head,
                body,
                remaining: Remaining::UntilClose,
            } => Eof::Complete(DecodedResponse {
                status: head.status,
                body,
                www_authenticate: head.www_authenticate,
                reusable: false,
            }),
            State::Head if !self.received_any => Eof::NothingReceived,
            State::Head => Eof::Truncated(Malformed::TruncatedHead),
            State::Body { .. } => Eof::Truncated(Malformed::TruncatedBody),
            State::Done => Eof::Truncated(Malformed::TrailingData),
        }
    }

    fn advance(&mut self) -> Result<Option<DecodedResponse>, DecodeError> {
        loop {
            // Errors are terminal, so leaving `Done` behind on the error paths is right.
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Err(Malformed::TrailingData.into()),
                State::Head => {
                    let Some((head, consumed)) = parse_head(&self.buf, self.max_body)? else {
                        if self.buf.len() > MAX_HEAD_BYTES {
                            return Err(DecodeError::TooLarge {
                                limit: MAX_HEAD_BYTES,
                            });
                        }
                        self.state = State::Head;
                        return Ok(None);
                    };
                    self.buf.drain(..consumed);
                    let Some(head) = head else {
                        // An interim 1xx response: the final one follows.
                        self.state = State::Head;
                        continue;
                    };
                    let remaining = match head.framing {
                        Framing::Empty | Framing::Length(0) => {
                            return Ok(Some(self.complete(head, Vec::new())));
                        }
                        Framing::Length(n) => Remaining::Length(n),
                        Framing::Chunked => Remaining::Chunked(Chunk::Size),
                        Framing::UntilClose => Remaining::UntilClose,
                    };
                    self.state = State::Body {
                        head,
                        body: Vec::new(),
                        remaining,
                    };
                }
                State::Body {
                    head,
                    mut body,
                    mut remaining,
                } => {
                    if step_body(&mut self.buf, &mut body, &mut remaining, self.max_body)? {
                        return Ok(Some(self.complete(head, body)));
                    }
                    self.state = State::Body {
                        head,
                        body,
                        remaining,
                    };
                    return Ok(None);
                }
            }
        }
    }

    fn complete(&mut self, head: Head, body: Vec<u8>) -> DecodedResponse {
        self.state = State::Done;
        DecodedResponse {
            status: head.status,
            body,
            www_authenticate: head.www_authenticate,
            reusable: head.keep_alive && self.buf.is_empty(),
        }
    }
}

/// Moves body bytes from `buf` into `body`. Returns true once the body is complete.
fn step_body(
    buf: &mut Vec<u8>,
    body: &mut Vec<u8>,
    remaining: &mut Remaining,
    max_body: usize,
) -> Result<bool, DecodeError> {
    match remaining {
        Remaining::Length(left) => {
            let take = (*left).min(buf.len());
            body.extend_from_slice(&buf[..take]);
            buf.drain(..take);
            *left -= take;
            Ok(*left == 0)
        }
        Remaining::UntilClose => {
            if body.len() + buf.len() > max_body {
                return Err(DecodeError::TooLarge { limit: max_body });
            }
            body.append(buf);
            Ok(false)
        }
        Remaining::Chunked(chunk) => loop {
            match chunk {
                Chunk::Size => {
                    let Some(line) = take_line(buf, MAX_CHUNK_LINE, Malformed::InvalidChunk)?
                    else {
                        return Ok(false);
                    };
                    let size = parse_chunk_size(&line)?;
                    if size == 0 {
                        *chunk = Chunk::Trailers(0);
                    } else if size > max_body.saturating_sub(body.len()) {
                        return Err(DecodeError::TooLarge { limit: max_body });
                    } else {
                        *chunk = Chunk::Data(size);
                    }
                }
                Chunk::Data(left) => {
                    let take = (*left).min(buf.len());
                    body.extend_from_slice(&buf[..take]);
                    buf.drain(..take);
                    *left -= take;
                    if *left > 0 {
                        return Ok(false);
                    }
                    *chunk = Chunk::DataEnd;
                }
                Chunk::DataEnd => {
                    match buf.as_slice() {
                        [] | [b'\r'] => return Ok(false),
                        [b'\r', b'\n', ..] => {
                            buf.drain(..2);
                        }
                        [b'\n', ..] => {
                            buf.drain(..1);
                        }
                        _ => return Err(Malformed::InvalidChunk.into()),
                    }
                    *chunk = Chunk::Size;
                }
                Chunk::Trailers(seen) => {
                    let Some(line) = take_line(buf, MAX_HEAD_BYTES, Malformed::InvalidChunk)?
                    else {
                        return Ok(false);
                    };
                    if line.is_empty() {
                        return Ok(true);
                    }
                    *seen += line.len();
                    if *seen > MAX_HEAD_BYTES {
                        return Err(DecodeError::TooLarge {
                            limit: MAX_HEAD_BYTES,
                        });
                    }
                }
            }
        },
    }
}

/// Takes one line (without its CRLF or bare LF) off the front of `buf`, if a whole one is there.
fn take_line(
    buf: &mut Vec<u8>,
    max_len: usize,
    too_long: Malformed,
) -> Result<Option<Vec<u8>>, DecodeError> {
    let Some(pos) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > max_len {
            return Err(too_long.into());
        }
        return Ok(None);
    };
    if pos > max_len {
        return Err(too_long.into());
    }
    let mut line: Vec<u8> = buf.drain(..=pos).collect();
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Parses `1a3f` or `1a3f;ext=val` (hex, optional whitespace before extensions).
fn parse_chunk_size(line: &[u8]) -> Result<usize, Malformed> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(Malformed::InvalidChunk);
    }
    let text = std::str::from_utf8(digits).map_err(|_| Malformed::InvalidChunk)?;
    usize::from_str_radix(text, 16).map_err(|_| Malformed::InvalidChunk)
}

/// Parses a response head at the start of `buf`.
///
/// `Ok(None)`: incomplete. `Ok(Some((None, n)))`: an interim 1xx head of `n` bytes to skip.
/// `Ok(Some((Some(head), n)))`: the final head, `n` bytes long.
#[allow(clippy::type_complexity)]
fn parse_head(buf: &[u8], max_body: usize) -> Result<Option<(Option<Head>, usize)>, DecodeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let consumed = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Malformed::TooManyHeaders.into()),
        Err(_) => return Err(Malformed::InvalidHead.into()),
    };
    if consumed > MAX_HEAD_BYTES {
        return Err(DecodeError::TooLarge {
            limit: MAX_HEAD_BYTES,
        });
    }
    let status = response.code.ok_or(Malformed::InvalidHead)?;
    let version = response.version.ok_or(Malformed::InvalidHead)?;
    if status == 101 {
        return Err(Malformed::UnexpectedStatus.into());
    }
    if (100..200).contains(&status) {
        return Ok(Some((None, consumed)));
    }

    let mut content_length: Option<usize> = None;
    let mut transfer_encoding: Vec<&[u8]> = Vec::new();
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut www_authenticate = Vec::new();
    for header in response.headers.iter() {
        let name = header.name;
        let value = header.value;
        if name.eq_ignore_ascii_case("content-length") {
            for part in value.split(|&b| b == b',') {
                let part = part.trim_ascii();
                if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                    return Err(Malformed::InvalidContentLength.into());
                }
                // Digits only, so this is UTF-8; a value too big for usize is simply too large.
                let n = std::str::from_utf8(part)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                match content_length {
                    Some(previous) if previous != n => {
                        return Err(Malformed::InvalidContentLength.into());
                    }
                    _ => content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding.extend(value.split(|&b| b == b',').map(<[u8]>::trim_ascii));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                connection_close |= token.eq_ignore_ascii_case(b"close");
                connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("www-authenticate") {
            if let Ok(text) = std::str::from_utf8(value) {
                www_authenticate.push(text.trim().to_owned());
            }
        }
    }

    let mut keep_alive = match version {
        1 => !connection_close,
        _ => connection_keep_alive && !connection_close,
    };
    transfer_encoding.retain(|token| !token.is_empty());
    let framing = if status == 204 || status == 304 {
        Framing::Empty
    } else if let Some(last) = transfer_encoding.last() {
        // RFC 9112 §6.3: Transfer-Encoding wins over Content-Length; a message with both must
        // not be reused, and a final coding other than chunked is read until close.
        if content_length.is_some() {
            keep_alive = false;
        }
        if last.eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = content_length {
        if n > max_body {
            return Err(DecodeError::TooLarge { limit: max_body });
        }
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some((
        Some(Head {
            status,
            keep_alive,
            framing,
            www_authenticate,
        }),
        consumed,
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], max: usize) -> Result<Option<DecodedResponse>, DecodeError> {
        ResponseDecoder::new(max).push(bytes)
    }

    /// Feeds the bytes one at a time, which exercises every partial state.
    fn decode_bytewise(bytes: &[u8], max: usize) -> Result<Option<DecodedResponse>, DecodeError> {
        let mut decoder = ResponseDecoder::new(max);
        for (i, b) in bytes.iter().enumerate() {
            if let Some(response) = decoder.push(std::slice::from_ref(b))? {
                assert_eq!(i, bytes.len() - 1, "completed before the last byte");
                return Ok(Some(response));
            }
        }
        Ok(None)
    }

    #[test]
    fn request_has_exact_head_and_body() {
        let bytes = encode_request("10.0.0.5:16992", Some("Digest x=\"y\""), b"<e/>");
        assert_eq!(
            bytes,
            b"POST /wsman HTTP/1.1\r\nHost: 10.0.0.5:16992\r\n\
              Content-Type: application/soap+xml; charset=utf-8\r\nContent-Length: 4\r\n\
              Authorization: Digest x=\"y\"\r\n\r\n<e/>"
                .to_vec()
        );
        let without = encode_request("h:1", None, b"");
        assert!(!String::from_utf8(without)
            .unwrap()
            .contains("Authorization"));
    }

    #[test]
    fn host_header_brackets_ipv6() {
        assert_eq!(host_header("::1", 16993), "[::1]:16993");
        assert_eq!(host_header("amt.example", 16992), "amt.example:16992");
    }

    #[test]
    fn header_value_with_crlf_is_unsafe() {
        assert!(is_safe_header_value("Digest a=\"b\",\tc=d"));
        assert!(!is_safe_header_value("a\r\nX-Evil: 1"));
        assert!(!is_safe_header_value("caf\u{e9}"));
    }

    #[test]
    fn content_length_response_is_decoded_in_any_split() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for response in [decode_all(raw, 100), decode_bytewise(raw, 100)] {
            let response = response.unwrap().unwrap();
            assert_eq!(response.status, 200);
            assert_eq!(response.body, b"hello");
            assert!(response.reusable);
        }
    }

    #[test]
    fn chunked_response_with_extensions_and_trailers_is_decoded() {
        let raw = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n\
                    4;name=v\r\n<a/>\r\n3\r\n<b>\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for response in [decode_all(raw, 100), decode_bytewise(raw, 100)] {
            let response = response.unwrap().unwrap();
            assert_eq!(response.status, 500);
            assert_eq!(response.body, b"<a/><b>");
            assert!(response.reusable);
        }
    }

    #[test]
    fn chunked_body_over_limit_is_too_large() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n";
        assert_eq!(
            decode_all(raw, 10),
            Err(DecodeError::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn huge_chunk_size_is_rejected_not_overflowed() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n";
        assert_eq!(
            decode_all(raw, 10),
            Err(DecodeError::Malformed(Malformed::InvalidChunk))
        );
    }

    #[test]
    fn declared_length_over_limit_is_rejected_before_the_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
        assert_eq!(
            decode_all(raw, 10),
            Err(DecodeError::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn read_to_close_body_completes_at_eof() {
        let mut decoder = ResponseDecoder::new(100);
        assert_eq!(decoder.push(b"HTTP/1.1 200 OK\r\n\r\nabc").unwrap(), None);
        assert_eq!(decoder.push(b"def").unwrap(), None);
        let Eof::Complete(response) = decoder.finish() else {
            panic!("not complete")
        };
        assert_eq!(response.body, b"abcdef");
        assert!(!response.reusable);
    }

    #[test]
    fn read_to_close_body_over_limit_is_too_large() {
        let mut decoder = ResponseDecoder::new(4);
        assert_eq!(decoder.push(b"HTTP/1.1 200 OK\r\n\r\nabc").unwrap(), None);
        assert_eq!(decoder.push(b"de"), Err(DecodeError::TooLarge { limit: 4 }));
    }

    #[test]
    fn eof_classification_distinguishes_nothing_from_truncation() {
        assert_eq!(ResponseDecoder::new(10).finish(), Eof::NothingReceived);
        let mut head = ResponseDecoder::new(10);
        head.push(b"HTTP/1.1 200").unwrap();
        assert_eq!(head.finish(), Eof::Truncated(Malformed::TruncatedHead));
        let mut body = ResponseDecoder::new(10);
        body.push(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na")
            .unwrap();
        assert_eq!(body.finish(), Eof::Truncated(Malformed::TruncatedBody));
    }

    #[test]
    fn connection_close_makes_response_not_reusable() {
        let raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!decode_all(raw, 10).unwrap().unwrap().reusable);
        let http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!decode_all(http10, 10).unwrap().unwrap().reusable);
        let http10_ka = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert!(decode_all(http10_ka, 10).unwrap().unwrap().reusable);
    }

    #[test]
    fn interim_continue_is_skipped() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let response = decode_bytewise(raw, 10).unwrap().unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"ok"[..])
        );
    }

    #[test]
    fn conflicting_content_lengths_are_malformed() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok";
        assert_eq!(
            decode_all(raw, 10),
            Err(DecodeError::Malformed(Malformed::InvalidContentLength))
        );
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(
            decode_all(raw, 10),
            Err(DecodeError::Malformed(Malformed::InvalidContentLength))
        );
    }

    #[test]
    fn unauthorized_collects_every_challenge() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\n\
                    WWW-Authenticate: Digest realm=\"Digest:AB\", nonce=\"n\", qop=\"auth\"\r\n\
                    Content-Length: 0\r\n\r\n";
        let response = decode_all(raw, 10).unwrap().unwrap();
        assert_eq!(response.status, 401);
        assert_eq!(
            response.www_authenticate,
            vec![
                "Negotiate".to_owned(),
                "Digest realm=\"Digest:AB\", nonce=\"n\", qop=\"auth\"".to_owned()
            ]
        );
    }

    #[test]
    fn stray_bytes_after_response_make_it_not_reusable() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK";
        assert!(!decode_all(raw, 10).unwrap().unwrap().reusable);
    }

    #[test]
    fn endless_head_is_too_large() {
        let mut decoder = ResponseDecoder::new(10);
        decoder.push(b"HTTP/1.1 200 OK\r\n").unwrap();
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut result = Ok(None);
        for _ in 0..(MAX_HEAD_BYTES / line.len() + 2) {
            result = decoder.push(line);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(
            result,
            Err(DecodeError::TooLarge { .. } | DecodeError::Malformed(Malformed::TooManyHeaders))
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            decode_all(b"SSH-2.0-OpenSSH\r\n\r\n", 10),
            Err(DecodeError::Malformed(Malformed::InvalidHead))
        );
    }

    #[test]
    fn no_content_has_no_body() {
        let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
        let response = decode_all(raw, 10).unwrap().unwrap();
        assert!(response.body.is_empty() && response.reusable);
    }

    /// Frames `body` as a response: Content-Length, chunked with the given chunk sizes, or
    /// read-to-close.
    fn frame(body: &[u8], framing: u8, chunk_sizes: &[usize]) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n".to_vec();
        match framing % 3 {
            0 => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            1 => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = body;
                let mut sizes = chunk_sizes.iter().cycle();
                while !rest.is_empty() {
                    let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
                    out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            _ => {
                out.extend_from_slice(b"Connection: close\r\n\r\n");
                out.extend_from_slice(body);
            }
        }
        out
    }

    /// Pushes `bytes` in pieces cut at `cuts`, then signals EOF if nothing completed.
    fn decode_in_pieces(bytes: &[u8], cuts: &[usize], max: usize) -> Result<Vec<u8>, String> {
        let mut decoder = ResponseDecoder::new(max);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        for pair in points.windows(2) {
            match decoder.push(&bytes[pair[0]..pair[1]]) {
                Ok(Some(response)) => return Ok(response.body),
                Ok(None) => {}
                Err(error) => return Err(format!("{error:?}")),
            }
        }
        match decoder.finish() {
            Eof::Complete(response) => Ok(response.body),
            other => Err(format!("{other:?}")),
        }
    }

    proptest::proptest! {
        #[test]
        fn any_framing_and_any_split_yield_the_body(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            framing in 0u8..3,
            chunk_sizes in proptest::collection::vec(1usize..100, 1..8),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..12),
        ) {
            let bytes = frame(&body, framing, &chunk_sizes);
            proptest::prop_assert_eq!(decode_in_pieces(&bytes, &cuts, 1024), Ok(body));
        }

        #[test]
        fn body_over_the_limit_is_always_refused(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 65..300),
            framing in 0u8..3,
            chunk_sizes in proptest::collection::vec(1usize..100, 1..8),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..12),
        ) {
            let bytes = frame(&body, framing, &chunk_sizes);
            proptest::prop_assert_eq!(
                decode_in_pieces(&bytes, &cuts, 64),
                Err(format!("{:?}", DecodeError::TooLarge { limit: 64 }))
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in 0usize..4,
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..12),
        ) {
            let starts: [&[u8]; 4] = [
                b"",
                b"HTTP/1.1 200 OK\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\n",
            ];
            let mut bytes = starts[prefix].to_vec();
            bytes.extend_from_slice(&junk);
            let _ = decode_in_pieces(&bytes, &cuts, 128);
        }
    }
}
