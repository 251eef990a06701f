//! Fetching CRLs over plain HTTP from distribution points or configured URLs (M10). A CRL is
//! signed, so HTTP is enough; the caller verifies it against the CA it expects
//! ([`amt_pki::Crl::verify`]) before using it.

use std::time::Duration;

use amt_pki::Crl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::PkiStoreError;

/// Largest CRL accepted (a CRL of 100,000 entries is about 5 MB).
pub const MAX_CRL_BYTES: usize = 32 * 1024 * 1024;

fn fail(url: &str, detail: impl Into<String>) -> PkiStoreError {
    PkiStoreError::CrlFetch {
        url: url.to_string(),
        detail: detail.into(),
    }
}

/// Split `http://host[:port]/path` into its parts.
fn split_url(url: &str) -> Result<(String, u16, String), PkiStoreError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail(url, "only http:// URLs are fetched"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| fail(url, "malformed IPv6 address"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port_text {
        Some(p) => p.parse().map_err(|_| fail(url, "bad port"))?,
        None => 80,
    };
    if host.is_empty() || path.contains(['\r', '\n', ' ']) {
        return Err(fail(url, "malformed URL"));
    }
    Ok((host.to_string(), port, path.to_string()))
}

fn dechunk(url: &str, mut body: &[u8]) -> Result<Vec<u8>, PkiStoreError> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| fail(url, "bad chunked encoding"))?;
        let size_text =
            std::str::from_utf8(&body[..line_end]).map_err(|_| fail(url, "bad chunk size"))?;
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| fail(url, "bad chunk size"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 || out.len() + size > MAX_CRL_BYTES {
            return Err(fail(url, "truncated or oversized chunked body"));
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// GET a CRL (DER or PEM) from `url` within `timeout`, and parse it. Not verified yet.
pub async fn fetch_crl(url: &str, timeout: Duration) -> Result<Crl, PkiStoreError> {
    let (host, port, path) = split_url(url)?;
    let work = async {
        let mut stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| fail(url, format!("cannot connect: {e}")))?;
        let host_header = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/pkix-crl\r\n\
             User-Agent: amtd\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| fail(url, format!("cannot send the request: {e}")))?;
        let mut buf = Vec::new();
        let limit = (MAX_CRL_BYTES + 64 * 1024) as u64;
        (&mut stream)
            .take(limit + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| fail(url, format!("cannot read the response: {e}")))?;
        if buf.len() as u64 > limit {
            return Err(fail(url, "response larger than the CRL size limit"));
        }
        Ok(buf)
    };
    let buf = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| fail(url, format!("no complete answer within {timeout:?}")))??;

    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(fail(url, "malformed HTTP response")),
    };
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(fail(url, format!("HTTP status {code}")));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let body = &buf[head_len..];
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(url, body)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| fail(url, "bad Content-Length"))?;
        if body.len() < len {
            return Err(fail(url, "response shorter than its Content-Length"));
        }
        body[..len].to_vec()
    } else {
        body.to_vec()
    };
    Crl::from_der_or_pem(&body).map_err(|e| fail(url, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/crl/issuing.crl").ok(),
            Some(("127.0.0.1".into(), 8080, "/crl/issuing.crl".into()))
        );
        assert_eq!(
            split_url("http://ca.example").ok(),
            Some(("ca.example".into(), 80, "/".into()))
        );
        assert_eq!(
            split_url("http://[::1]:81/x").ok(),
            Some(("::1".into(), 81, "/x".into()))
        );
        assert_eq!(
            split_url("http://[::1]/x").ok(),
            Some(("::1".into(), 80, "/x".into()))
        );
        assert!(split_url("https://ca.example/x").is_err());
        assert!(split_url("http://h:port/x").is_err());
        assert!(split_url("http://h/a b").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("u", b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").ok(),
            Some(b"abcde".to_vec())
        );
        assert!(dechunk("u", b"5\r\nab").is_err());
    }
}
