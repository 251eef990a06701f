//! A minimal WS-Man-over-HTTP/1.1 client with Digest authentication, over any byte stream
//! (TCP or TLS). The emulator's own tests and its fleet benchmark drive devices with it; real
//! consoles (amtd, MeshCentral, amtctrl) are tested separately as peers.

use amt_wsman::digest::{DigestClient, RetryDecision};
use amt_wsman::secret::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest response body the client accepts.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// Status code.
    pub status: u16,
    /// Headers (name, value), in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport failure or the server closed the connection.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The response was not HTTP/1.1 as expected.
    #[error("bad response: {0}")]
    BadResponse(&'static str),
    /// The challenge could not be answered.
    #[error("digest: {0}")]
    Digest(String),
}

/// Sends one `POST /wsman` with `body` and reads the response. `buf` keeps bytes read past
/// the response for the next call on the same connection.
///
/// # Errors
/// [`ClientError`].
pub async fn post<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    host: &str,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<ClientResponse, ClientError> {
    let mut req = format!(
        "POST /wsman HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = authorization {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await?;
    stream.flush().await?;
    read_response(stream, buf).await
}

/// Reads one response (head, then a `Content-Length` body).
///
/// # Errors
/// [`ClientError`].
pub async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<ClientResponse, ClientError> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(buf) {
            Ok(httparse::Status::Complete(used)) => {
                let status = resp.code.unwrap_or(0);
                let headers: Vec<(String, String)> = resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).trim().to_owned(),
                        )
                    })
                    .collect();
                let len = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .ok_or(ClientError::BadResponse("no Content-Length"))?;
                if len > MAX_RESPONSE_BYTES {
                    return Err(ClientError::BadResponse("body too large"));
                }
                buf.drain(..used);
                while buf.len() < len {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(ClientError::BadResponse("closed in the body"));
                    }
                    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                }
                let rest = buf.split_off(len);
                let body = std::mem::replace(buf, rest);
                if status == 100 {
                    continue;
                }
                return Ok(ClientResponse {
                    status,
                    headers,
                    body,
                });
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Err(ClientError::BadResponse("unparsable head")),
        }
        if buf.len() > 64 * 1024 {
            return Err(ClientError::BadResponse("head too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// A kept-alive session to one device as one digest user.
pub struct WsmanSession<S> {
    stream: S,
    host: String,
    digest: DigestClient,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsmanSession<S> {
    /// A session over `stream` to `host` (the `Host` header) as `user`/`password`.
    pub fn new(stream: S, host: impl Into<String>, user: &str, password: &str) -> Self {
        WsmanSession {
            stream,
            host: host.into(),
            digest: DigestClient::new(user, SecretString::new(password.to_owned())),
            buf: Vec::new(),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Posts `xml`, answering digest challenges (at most three sends). Returns the final
    /// response, which is a `401` when the credentials were refused.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn post(&mut self, xml: &[u8]) -> Result<ClientResponse, ClientError> {
        loop {
            let mut c = [0u8; 16];
            super::random_fill(&mut c);
            let auth = self.digest.authorization("POST", "/wsman", &hex::encode(c));
            let resp = post(
                &mut self.stream,
                &mut self.buf,
                &self.host,
                xml,
                auth.as_deref(),
            )
            .await?;
            if resp.status != 401 {
                self.digest.on_success();
                return Ok(resp);
            }
            let Some(www) = resp.header("WWW-Authenticate") else {
                return Ok(resp);
            };
            match self.digest.on_unauthorized(www) {
                Ok(RetryDecision::Retry) => continue,
                Ok(_) => return Ok(resp),
                Err(e) => return Err(ClientError::Digest(e.to_string())),
            }
        }
    }
}
