//! HTTP Digest authentication (RFC 2617 / RFC 7616, MD5, `qop=auth`), for both sides of the wire.
//!
//! Intel AMT authenticates WS-Management (`POST /wsman` on 16992/16993) with HTTP Digest. The
//! device answers an unauthenticated request with `401` and
//! `WWW-Authenticate: Digest realm="Digest:<32 hex>", nonce="…", stale="false", qop="auth"`; the
//! console retries with
//! `Authorization: Digest username="admin", realm="…", nonce="…", uri="/wsman", response="…",
//! qop="auth", nc=00000001, cnonce="…"` and reuses the nonce for later requests with an increasing
//! `nc`. The maths (all hex lowercase):
//!
//! ```text
//! HA1      = MD5(username ":" realm ":" password)
//! HA2      = MD5(method ":" uri)
//! response = MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   (qop = auth, RFC 2617)
//! response = MD5(HA1 ":" nonce ":" HA2)                              (no qop, RFC 2069)
//! ```
//!
//! What is here:
//! - the maths: [`ha1`], [`ha1_hex`], [`response_hex`], [`response_hex_rfc2069`];
//! - the two header values: [`Challenge`] (`WWW-Authenticate`) and [`Authorization`], each with a
//!   bounded, tolerant `parse` and a `to_header_value`;
//! - the console side: [`DigestClient`], which answers challenges, counts `nc`, reuses the
//!   nonce for preemptive authentication and decides when a `401` is worth one more try
//!   ([`RetryDecision`]);
//! - the device side: [`DigestVerifier`], which issues nonces and checks `Authorization` headers
//!   ([`DigestRejection`] says why one was refused).
//!
//! # Parsing
//! [`Challenge::parse`] and [`Authorization::parse`] share one parser for
//! `Digest name=value, name="quoted value", …`:
//! - the scheme and parameter names are case-insensitive, spacing (SP/HTAB) around `=` and `,`
//!   is free and empty list elements (`,,`) are skipped;
//! - values are tokens or quoted-strings with `\` escapes (RFC 9110 §5.6.4); unquoted values are
//!   accepted for any parameter, since some stacks leave `uri` or `qop` unquoted;
//! - control characters are refused everywhere (header injection), duplicate parameters are
//!   refused (ambiguity), unknown parameters are ignored;
//! - input is bounded: at most [`MAX_HEADER_LEN`] bytes and [`MAX_PARAMS`] parameters.
//!
//! The parser never panics, whatever the input (checked by property tests and a fuzz target).
//!
//! Each header value is parsed from a single header line. A response that carries several
//! `WWW-Authenticate` headers (for example `Negotiate` and `Digest`) must be split by the
//! caller; a non-Digest value yields [`DigestError::NotDigest`].
//!
//! # The redirection protocol uses the same maths
//! AMT redirection (SOL / IDE-R / KVM, TCP 16994/16995) authenticates with the same digest
//! inside its binary `AuthenticateSession` message (auth type 4 = RFC 2617, 3 = RFC 2069). The
//! method is `POST` and the uri is `/RedirectionService`, so the response is simply
//! `response_hex(ha1, nonce, nc, cnonce, qop, "POST", "/RedirectionService")`
//! (see [`REDIRECTION_METHOD`], [`REDIRECTION_URI`] and [`redirection_response_hex`]).
//! The binary framing lives in the `amt-wire` crate.
//!
//! # Security notes
//! - CVE-2017-5689 ("Silent Bob is Silent"): AMT firmware compared only as many bytes as the
//!   *client-supplied* response had, so an empty `response=""` authenticated as anyone.
//!   [`DigestVerifier`] rejects any response that is not exactly 32 hex digits before it
//!   compares anything, then compares the full 16-byte digest in constant time.
//! - `HA1` is password-equivalent for Digest: whoever knows it can authenticate. Keep it in a
//!   [`crate::secret::SecretString`] / [`crate::secret::SecretBytes`] when it is stored.
//!
//! This module is sans-IO: the caller passes the current time (in seconds) and random bytes.

mod client;
mod header;
mod verifier;

use md5::{Digest as _, Md5};

pub use client::{DigestClient, RetryDecision};
pub use header::{Authorization, Challenge, MAX_HEADER_LEN, MAX_PARAMS};
pub use verifier::{DigestRejection, DigestVerifier, VerifierConfig};

/// The HTTP method AMT redirection's digest authentication hashes into `HA2`.
pub const REDIRECTION_METHOD: &str = "POST";

/// The uri AMT redirection's digest authentication hashes into `HA2`.
pub const REDIRECTION_URI: &str = "/RedirectionService";

/// Why a Digest header could not be parsed or a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header value is longer than [`MAX_HEADER_LEN`] bytes.
    #[error("digest header is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length of the rejected value in bytes.
        len: usize,
        /// The limit ([`MAX_HEADER_LEN`]).
        max: usize,
    },
    /// The authentication scheme is not `Digest` (for example `Basic` or `Negotiate`).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The parameter list does not follow the `name=value, name="value"` grammar.
    #[error("malformed digest header at byte {offset}: expected {expected}")]
    Syntax {
        /// Byte offset into the header value where parsing stopped.
        offset: usize,
        /// What the parser expected there.
        expected: &'static str,
    },
    /// The header has more than [`MAX_PARAMS`] parameters.
    #[error("digest header has more than {max} parameters")]
    TooManyParams {
        /// The limit ([`MAX_PARAMS`]).
        max: usize,
    },
    /// A parameter appears twice (ambiguous, so refused).
    #[error("digest parameter `{name}` appears more than once")]
    DuplicateParam {
        /// The parameter name, lowercased.
        name: String,
    },
    /// A required parameter is missing.
    #[error("digest parameter `{0}` is missing")]
    MissingParam(&'static str),
    /// The challenge asks for a hash algorithm other than MD5 (client side).
    #[error("digest algorithm `{0}` is not supported (only MD5)")]
    UnsupportedAlgorithm(String),
    /// The challenge offers qop values but not `auth` (client side).
    #[error("digest qop `{0}` is not supported (only auth)")]
    UnsupportedQop(String),
}

/// MD5 of the parts joined with `:`.
fn md5_joined(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Md5::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// `HA1 = MD5(user:realm:password)` as 16 raw bytes.
///
/// The result is password-equivalent: store it as a secret.
#[must_use]
pub fn ha1(user: &str, realm: &str, password: &str) -> [u8; 16] {
    md5_joined(&[user.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// `HA1 = MD5(user:realm:password)` as 32 lowercase hex digits.
///
/// The result is password-equivalent: store it as a secret.
#[must_use]
pub fn ha1_hex(user: &str, realm: &str, password: &str) -> String {
    hex::encode(ha1(user, realm, password))
}

/// `HA2 = MD5(method:uri)` as 32 lowercase hex digits (qop=auth, so no body hash).
fn ha2_hex(method: &str, uri: &str) -> String {
    hex::encode(md5_joined(&[method.as_bytes(), uri.as_bytes()]))
}

/// Raw 16-byte RFC 2617 response for `qop=auth`.
fn response_bytes(
    ha1_hex: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> [u8; 16] {
    let ha2 = ha2_hex(method, uri);
    md5_joined(&[
        ha1_hex.as_bytes(),
        nonce.as_bytes(),
        nc.as_bytes(),
        cnonce.as_bytes(),
        qop.as_bytes(),
        ha2.as_bytes(),
    ])
}

/// Raw 16-byte RFC 2069 response (no qop, nc or cnonce).
fn response_bytes_rfc2069(ha1_hex: &str, nonce: &str, method: &str, uri: &str) -> [u8; 16] {
    let ha2 = ha2_hex(method, uri);
    md5_joined(&[ha1_hex.as_bytes(), nonce.as_bytes(), ha2.as_bytes()])
}

/// RFC 2617 request digest for `qop=auth`, as 32 lowercase hex digits:
/// `MD5(ha1_hex:nonce:nc:cnonce:qop:MD5(method:uri))`.
///
/// `nc` and `qop` are hashed exactly as they appear on the wire (normally `00000001` and
/// `auth`). `ha1_hex` must be lowercase hex, as [`ha1_hex`] returns it.
#[must_use]
pub fn response_hex(
    ha1_hex: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> String {
    hex::encode(response_bytes(ha1_hex, nonce, nc, cnonce, qop, method, uri))
}

/// RFC 2069 request digest (challenge without qop, AMT redirection auth type 3), as 32
/// lowercase hex digits: `MD5(ha1_hex:nonce:MD5(method:uri))`.
#[must_use]
pub fn response_hex_rfc2069(ha1_hex: &str, nonce: &str, method: &str, uri: &str) -> String {
    hex::encode(response_bytes_rfc2069(ha1_hex, nonce, method, uri))
}

/// The digest response of AMT redirection's `AuthenticateSession` (auth type 4): the same as
/// [`response_hex`] with method [`REDIRECTION_METHOD`] (`POST`) and uri [`REDIRECTION_URI`]
/// (`/RedirectionService`).
#[must_use]
pub fn redirection_response_hex(
    ha1_hex: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
) -> String {
    response_hex(
        ha1_hex,
        nonce,
        nc,
        cnonce,
        qop,
        REDIRECTION_METHOD,
        REDIRECTION_URI,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha2_of_wsman_post() {
        // MD5("POST:/wsman"), computed with python3 hashlib.
        assert_eq!(
            ha2_hex("POST", "/wsman"),
            "d83ba950d85d6f9b22682df889d8b847"
        );
    }
}
