//! Console side: answering Digest challenges ([`DigestClient`]).
//! The retry rules are documented on [`DigestClient`].

use super::{response_hex, response_hex_rfc2069, Authorization, Challenge, DigestError};
use crate::secret::SecretString;

/// What to do after a `401 Unauthorized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send the request again with a fresh [`DigestClient::authorization`].
    Retry,
    /// Stop: the credentials were refused (wrong user name or password). Report it; do not
    /// retry, or the device may throttle or lock out the account.
    GiveUp,
}

/// Digest state for one console-to-device session (one user on one device).
///
/// The client remembers the last challenge so that every later request can carry credentials
/// up front ("preemptive" authentication, `nc` + 1 each time), the way AMT consoles keep one
/// nonce for a whole session. Its retry rules keep a wrong password from hammering the device
/// (a device may throttle or lock out an account after repeated failures):
///
/// | 401 within one request | decision |
/// | --- | --- |
/// | the first (no credentials yet, or credentials built on an old nonce) | [`RetryDecision::Retry`] |
/// | a later one with `stale=true`, once per request | [`RetryDecision::Retry`] |
/// | any other | [`RetryDecision::GiveUp`]: the password is wrong |
///
/// So a request is sent at most three times (bare, with credentials, again after a stale
/// nonce), and a wrong password costs at most one retry.
///
/// Typical use per request:
/// 1. `authorization(method, uri, cnonce)`; send it as the `Authorization` header when it is
///    `Some` (it is `None` until the first challenge).
/// 2. On `401`, call `on_unauthorized(www_authenticate)`; on [`RetryDecision::Retry`] go back to
///    step 1, on [`RetryDecision::GiveUp`] fail the request.
/// 3. On success, call `on_success()`.
///
/// `cnonce` is caller-supplied (sans-IO): pass fresh random bytes as hex, for example 16 bytes
/// as 32 hex digits. `Debug` does not show the password.
#[derive(Debug, Clone)]
pub struct DigestClient {
    username: String,
    password: SecretString,
    challenge: Option<Challenge>,
    /// Nonce count of the last request built on the current nonce.
    nc: u32,
    /// Number of 401s seen during the current request.
    unauthorized_in_request: u8,
    /// Whether the current request already retried because of `stale=true`.
    stale_retry_used: bool,
}

impl DigestClient {
    /// Creates a client for `username` with `password`; no challenge has been seen yet.
    #[must_use]
    pub fn new(username: impl Into<String>, password: SecretString) -> Self {
        Self {
            username: username.into(),
            password,
            challenge: None,
            nc: 0,
            unauthorized_in_request: 0,
            stale_retry_used: false,
        }
    }

    /// The user name this client authenticates as.
    #[must_use]
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Replaces the password (after the console changed it on the device). The current nonce
    /// is kept.
    pub fn set_password(&mut self, password: SecretString) {
        self.password = password;
    }

    /// The last challenge seen, if any.
    #[must_use]
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// Forgets the nonce (for example after reconnecting to a rebooted device), so the next
    /// request goes out without credentials.
    pub fn forget_challenge(&mut self) {
        self.challenge = None;
        self.nc = 0;
    }

    /// Builds the `Authorization` header value for a request, or `None` while no challenge has
    /// been seen.
    ///
    /// Each call counts one request on the current nonce: `nc` goes up by one and is written as
    /// 8 lowercase hex digits; `qop` is `auth` and no `algorithm` is sent, like AMT consoles do.
    /// Against a challenge without `qop` the RFC 2069 form (no `qop`, `nc`, `cnonce`) is built.
    /// When `nc` would pass `ffffffff` the nonce is dropped and `None` is returned, so the next
    /// request fetches a new one.
    pub fn authorization(&mut self, method: &str, uri: &str, cnonce: &str) -> Option<String> {
        let challenge = self.challenge.as_ref()?;
        let ha1 = SecretString::new(super::ha1_hex(
            &self.username,
            &challenge.realm,
            self.password.expose(),
        ));
        let header = if challenge.qop.is_empty() {
            Authorization {
                username: self.username.clone(),
                realm: challenge.realm.clone(),
                nonce: challenge.nonce.clone(),
                uri: uri.to_owned(),
                response: response_hex_rfc2069(ha1.expose(), &challenge.nonce, method, uri),
                qop: None,
                nc: None,
                cnonce: None,
                opaque: challenge.opaque.clone(),
                algorithm: None,
            }
        } else {
            let Some(nc) = self.nc.checked_add(1) else {
                self.forget_challenge();
                return None;
            };
            self.nc = nc;
            let nc = format!("{nc:08x}");
            let qop = "auth";
            Authorization {
                username: self.username.clone(),
                realm: challenge.realm.clone(),
                nonce: challenge.nonce.clone(),
                uri: uri.to_owned(),
                response: response_hex(
                    ha1.expose(),
                    &challenge.nonce,
                    &nc,
                    cnonce,
                    qop,
                    method,
                    uri,
                ),
                qop: Some(qop.to_owned()),
                nc: Some(nc),
                cnonce: Some(cnonce.to_owned()),
                opaque: challenge.opaque.clone(),
                algorithm: None,
            }
        };
        Some(header.to_header_value())
    }

    /// Takes the `WWW-Authenticate` value of a `401` and decides whether to retry (see
    /// [`DigestClient`] for the rules). The new challenge is kept in either case; `nc` restarts when
    /// the nonce changed. After [`RetryDecision::GiveUp`] the per-request bookkeeping is reset,
    /// so the next call belongs to a new request.
    ///
    /// # Errors
    /// [`DigestError`] when the header cannot be parsed, names an algorithm other than MD5, or
    /// offers qop values without `auth`. The client state is left unchanged; the request should
    /// fail.
    pub fn on_unauthorized(
        &mut self,
        www_authenticate: &str,
    ) -> Result<RetryDecision, DigestError> {
        let challenge = Challenge::parse(www_authenticate)?;
        if !challenge.algorithm_is_md5() {
            return Err(DigestError::UnsupportedAlgorithm(
                challenge.algorithm.unwrap_or_default(),
            ));
        }
        if !challenge.qop.is_empty() && !challenge.offers_qop_auth() {
            return Err(DigestError::UnsupportedQop(challenge.qop.join(",")));
        }
        let same_nonce = self
            .challenge
            .as_ref()
            .is_some_and(|old| old.nonce == challenge.nonce && old.realm == challenge.realm);
        if !same_nonce {
            self.nc = 0;
        }
        let stale = challenge.stale;
        self.challenge = Some(challenge);

        self.unauthorized_in_request = self.unauthorized_in_request.saturating_add(1);
        let decision = if self.unauthorized_in_request == 1 {
            // The first 401 of a request: a plain challenge, or a preemptive header built on a
            // nonce the device no longer accepts.
            self.stale_retry_used |= stale;
            RetryDecision::Retry
        } else if stale && !self.stale_retry_used {
            self.stale_retry_used = true;
            RetryDecision::Retry
        } else {
            RetryDecision::GiveUp
        };
        if decision == RetryDecision::GiveUp {
            self.reset_request();
        }
        Ok(decision)
    }

    /// Marks the current request as authenticated: resets the retry bookkeeping and keeps the
    /// nonce, so the next request carries credentials up front with `nc` + 1.
    pub fn on_success(&mut self) {
        self.reset_request();
    }

    fn reset_request(&mut self) {
        self.unauthorized_in_request = 0;
        self.stale_retry_used = false;
    }
}
