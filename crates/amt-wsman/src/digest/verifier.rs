//! Device side: issuing nonces and checking `Authorization` headers ([`DigestVerifier`]).
//! The user-facing rules are documented on [`DigestVerifier`].

use std::collections::{HashMap, VecDeque};

use subtle::{Choice, ConstantTimeEq};

use super::{response_bytes, Authorization, DigestError};
use crate::secret::SecretString;

/// Limits of a [`DigestVerifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierConfig {
    /// How long a nonce is accepted after it was issued, in seconds. Older nonces with a
    /// correct response are refused as [`DigestRejection::StaleNonce`]. Default 300.
    pub nonce_lifetime_secs: u64,
    /// How many issued nonces are remembered; when more are issued the oldest is forgotten.
    /// Values below 1 are treated as 1. Default 256.
    pub max_outstanding_nonces: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            nonce_lifetime_secs: 300,
            max_outstanding_nonces: 256,
        }
    }
}

/// Why a [`DigestVerifier`] refused an `Authorization` header. Every refusal is answered with
/// `401` and a new challenge; [`DigestRejection::is_stale_nonce`] says whether that challenge
/// should carry `stale=true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestRejection {
    /// The header is not a well-formed Digest header (wrong scheme, bad syntax, too long,
    /// duplicate parameters).
    #[error("malformed Authorization header: {0}")]
    Malformed(DigestError),
    /// A required parameter is missing (or empty, for `uri` and `cnonce`).
    #[error("Authorization header lacks `{0}`")]
    MissingField(&'static str),
    /// `realm` is not this device's realm.
    #[error("wrong digest realm")]
    WrongRealm,
    /// `qop` is something other than `auth` (for example `auth-int`).
    #[error("unsupported digest qop")]
    UnsupportedQop,
    /// `algorithm` is something other than `MD5` (for example `SHA-256` or `MD5-sess`).
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// `nc` is not 1 to 8 hex digits.
    #[error("malformed nonce count")]
    BadNonceCount,
    /// `response` is not exactly 32 hex digits: empty (CVE-2017-5689), truncated, over-long or
    /// containing non-hex characters. Refused before any comparison.
    #[error("malformed digest response")]
    BadResponseFormat,
    /// `uri` differs from the request target (only from [`DigestVerifier::verify_for_uri`]).
    #[error("digest uri does not match the request target")]
    UriMismatch,
    /// The user is not known. The response was still computed against a dummy `HA1`.
    #[error("unknown digest user")]
    UnknownUser,
    /// The response does not match: wrong password (or tampered request).
    #[error("wrong digest response")]
    WrongResponse,
    /// The response is correct but the nonce was never issued here or has been forgotten
    /// (evicted, or the device restarted). Answer with `stale=true`.
    #[error("unknown nonce")]
    UnknownNonce,
    /// The response is correct but the nonce has expired. Answer with `stale=true`.
    #[error("stale nonce")]
    StaleNonce,
    /// The response is correct but `nc` is not greater than one already accepted on this nonce
    /// (a replay, or requests arriving out of order). Answer with `stale=true`.
    #[error("replayed nonce count")]
    ReplayedNonceCount,
}

impl DigestRejection {
    /// Whether the client proved it knows the password and only the nonce was unusable: the
    /// `401` should carry a challenge with `stale=true`.
    #[must_use]
    pub fn is_stale_nonce(&self) -> bool {
        matches!(
            self,
            Self::UnknownNonce | Self::StaleNonce | Self::ReplayedNonceCount
        )
    }
}

/// State of one issued nonce.
#[derive(Debug, Clone, Copy)]
struct NonceState {
    issued_at: u64,
    /// Highest `nc` accepted so far (0 = none yet).
    last_nc: u32,
}

/// The device's Digest authenticator: issues challenges and verifies `Authorization` headers.
///
/// It holds no clock and no random source: pass `now_secs` (any monotonic seconds count) and
/// 16 random bytes per challenge.
///
/// The verifier keeps a bounded table of the nonces it issued (oldest evicted first) with the
/// highest `nc` accepted for each. A request is accepted only when **all** of these hold:
///
/// 1. the header parses and has `username`, `realm`, `nonce`, `uri` (non-empty), `response`,
///    `qop`, `nc` and `cnonce` (non-empty): challenges always offer `qop="auth"`, so RFC 2069
///    requests without `qop` are refused;
/// 2. `realm` is ours, `qop` is `auth`, `algorithm` is absent or `MD5`;
/// 3. `nc` is 1 to 8 hex digits (RFC 2617 says exactly 8; MeshCentral sends a decimal counter,
///    and decimal numerals read as hex still increase, so both work);
/// 4. `response` is **exactly 32 hex digits**. This is checked before anything is compared:
///    an empty, truncated, over-long or non-hex response is refused outright
///    (CVE-2017-5689, see the [module docs](crate::digest));
/// 5. the response equals the expected digest, compared over all 16 bytes in constant time
///    (upper- and lowercase hex both accepted). An unknown user is checked against a dummy
///    `HA1`, so the work done does not reveal whether the user exists;
/// 6. the nonce is one we issued, is younger than [`VerifierConfig::nonce_lifetime_secs`], and
///    `nc` is greater than any `nc` accepted before on it.
///
/// Nonce problems (step 6) are reported only when the response was otherwise correct, so
/// [`DigestRejection::is_stale_nonce`] means "the client knows the password": answer with a new
/// challenge carrying `stale=true` and a well-behaved client retries without bothering the
/// user. A wrong password always yields [`DigestRejection::WrongResponse`] or
/// [`DigestRejection::UnknownUser`] and a challenge with `stale=false`. `nc` is only recorded on
/// success, so a forged request cannot burn counts and lock out the real client.
#[derive(Debug, Clone)]
pub struct DigestVerifier {
    realm: String,
    config: VerifierConfig,
    nonces: HashMap<String, NonceState>,
    /// Issue order, oldest first, for eviction.
    order: VecDeque<String>,
}

impl DigestVerifier {
    /// Creates a verifier for `realm` (AMT: `Digest:` + 32 uppercase hex digits, equal to
    /// `AMT_GeneralSettings.DigestRealm`).
    #[must_use]
    pub fn new(realm: String, config: VerifierConfig) -> Self {
        Self {
            realm,
            config,
            nonces: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The realm this verifier issues and accepts.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Number of nonces currently remembered.
    #[must_use]
    pub fn outstanding_nonces(&self) -> usize {
        self.nonces.len()
    }

    /// Issues a new nonce (the 16 `random` bytes as 32 lowercase hex digits) and returns the
    /// `WWW-Authenticate` value, shaped like AMT's:
    /// `Digest realm="…", nonce="…", stale="false", qop="auth"`.
    ///
    /// Set `stale` when answering a rejection whose [`DigestRejection::is_stale_nonce`] is
    /// true. The oldest nonce is forgotten when more than
    /// [`VerifierConfig::max_outstanding_nonces`] are remembered.
    pub fn challenge(&mut self, now_secs: u64, random: [u8; 16], stale: bool) -> String {
        let nonce = hex::encode(random);
        let state = NonceState {
            issued_at: now_secs,
            last_nc: 0,
        };
        if self.nonces.insert(nonce.clone(), state).is_none() {
            self.order.push_back(nonce.clone());
        }
        let max = self.config.max_outstanding_nonces.max(1);
        while self.nonces.len() > max {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.nonces.remove(&oldest);
        }
        super::Challenge {
            realm: self.realm.clone(),
            nonce,
            opaque: None,
            qop: vec!["auth".to_owned()],
            stale,
            algorithm: None,
        }
        .to_header_value()
    }

    /// Verifies an `Authorization` header value for a request with `method` (`POST`), at
    /// `now_secs`. `ha1_for_user` returns the stored `HA1 = MD5(user:realm:password)` of a
    /// user, or `None` for an unknown one. `uri` must be present and non-empty but is not
    /// compared with the request target (AMT consoles always use `/wsman`); use
    /// [`DigestVerifier::verify_for_uri`] to compare it.
    ///
    /// Returns the authenticated user name. See [`DigestVerifier`] for the checks.
    ///
    /// # Errors
    /// A [`DigestRejection`] naming the first check that failed.
    pub fn verify(
        &mut self,
        authorization: &str,
        method: &str,
        now_secs: u64,
        ha1_for_user: impl Fn(&str) -> Option<[u8; 16]>,
    ) -> Result<String, DigestRejection> {
        self.verify_inner(authorization, method, None, now_secs, ha1_for_user)
    }

    /// Like [`DigestVerifier::verify`], and also requires the header's `uri` to equal
    /// `request_uri` (the request target of the HTTP request line).
    ///
    /// # Errors
    /// A [`DigestRejection`]; [`DigestRejection::UriMismatch`] when the uris differ.
    pub fn verify_for_uri(
        &mut self,
        authorization: &str,
        method: &str,
        request_uri: &str,
        now_secs: u64,
        ha1_for_user: impl Fn(&str) -> Option<[u8; 16]>,
    ) -> Result<String, DigestRejection> {
        self.verify_inner(
            authorization,
            method,
            Some(request_uri),
            now_secs,
            ha1_for_user,
        )
    }

    fn verify_inner(
        &mut self,
        authorization: &str,
        method: &str,
        request_uri: Option<&str>,
        now_secs: u64,
        ha1_for_user: impl Fn(&str) -> Option<[u8; 16]>,
    ) -> Result<String, DigestRejection> {
        let auth = Authorization::parse(authorization).map_err(|e| match e {
            DigestError::MissingParam(name) => DigestRejection::MissingField(name),
            other => DigestRejection::Malformed(other),
        })?;

        // Shape checks on public values, before any secret is touched.
        if auth.realm != self.realm {
            return Err(DigestRejection::WrongRealm);
        }
        if auth
            .algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return Err(DigestRejection::UnsupportedAlgorithm);
        }
        let qop = auth
            .qop
            .as_deref()
            .ok_or(DigestRejection::MissingField("qop"))?;
        if !qop.eq_ignore_ascii_case("auth") {
            return Err(DigestRejection::UnsupportedQop);
        }
        let nc_text = auth
            .nc
            .as_deref()
            .ok_or(DigestRejection::MissingField("nc"))?;
        let cnonce = auth
            .cnonce
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(DigestRejection::MissingField("cnonce"))?;
        if auth.uri.is_empty() {
            return Err(DigestRejection::MissingField("uri"));
        }
        let nc = parse_nc(nc_text).ok_or(DigestRejection::BadNonceCount)?;
        // CVE-2017-5689: never compare a response of the wrong shape.
        let presented = parse_response(&auth.response).ok_or(DigestRejection::BadResponseFormat)?;
        if request_uri.is_some_and(|u| u != auth.uri) {
            return Err(DigestRejection::UriMismatch);
        }

        // The secret part: always compute and compare, known user or not.
        let stored = ha1_for_user(&auth.username);
        let known = Choice::from(u8::from(stored.is_some()));
        let ha1 = stored.unwrap_or_else(|| dummy_ha1(&self.realm));
        let ha1_hex = SecretString::new(hex::encode(ha1));
        let expected = response_bytes(
            ha1_hex.expose(),
            &auth.nonce,
            nc_text,
            cnonce,
            qop,
            method,
            &auth.uri,
        );
        let matches = expected[..].ct_eq(&presented[..]);
        if !bool::from(known) {
            return Err(DigestRejection::UnknownUser);
        }
        if !bool::from(matches & known) {
            return Err(DigestRejection::WrongResponse);
        }

        // The client knows the password; now the nonce must be fresh and nc new.
        let lifetime = self.config.nonce_lifetime_secs;
        let state = self
            .nonces
            .get_mut(&auth.nonce)
            .ok_or(DigestRejection::UnknownNonce)?;
        if now_secs.saturating_sub(state.issued_at) > lifetime {
            self.nonces.remove(&auth.nonce);
            self.order.retain(|n| *n != auth.nonce);
            return Err(DigestRejection::StaleNonce);
        }
        if nc <= state.last_nc {
            return Err(DigestRejection::ReplayedNonceCount);
        }
        state.last_nc = nc;
        Ok(auth.username)
    }
}

/// `nc`: 1 to 8 hex digits.
fn parse_nc(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// `response`: exactly 32 hex digits, decoded to 16 bytes.
fn parse_response(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Stand-in `HA1` for unknown users, so their requests cost the same work. Never accepted:
/// the caller checks that the user is known.
fn dummy_ha1(realm: &str) -> [u8; 16] {
    super::ha1("\u{0}unknown-user", realm, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_parsing() {
        assert_eq!(parse_nc("00000001"), Some(1));
        assert_eq!(parse_nc("ffffffff"), Some(u32::MAX));
        assert_eq!(parse_nc("10"), Some(16));
        assert_eq!(parse_nc(""), None);
        assert_eq!(parse_nc("000000001"), None);
        assert_eq!(parse_nc("+1"), None);
        assert_eq!(parse_nc("0x1"), None);
    }

    #[test]
    fn response_parsing() {
        assert!(parse_response("6629fae49393a05397450978507c4ef1").is_some());
        assert!(parse_response("6629FAE49393A05397450978507C4EF1").is_some());
        assert!(parse_response("").is_none());
        assert!(parse_response("6629fae49393a05397450978507c4ef").is_none());
        assert!(parse_response("6629fae49393a05397450978507c4ef1a").is_none());
        assert!(parse_response("6629fae49393a05397450978507c4efg").is_none());
        // 32 bytes but multi-byte characters: not hex.
        assert!(parse_response("é629fae49393a05397450978507c4ef").is_none());
    }

    #[test]
    fn eviction_keeps_the_table_bounded() {
        let config = VerifierConfig {
            nonce_lifetime_secs: 60,
            max_outstanding_nonces: 3,
        };
        let mut v = DigestVerifier::new("r".into(), config);
        for i in 0..10u8 {
            let _ = v.challenge(0, [i; 16], false);
        }
        assert_eq!(v.outstanding_nonces(), 3);
        assert_eq!(v.order.len(), 3);
        assert!(v.nonces.contains_key(&hex::encode([9u8; 16])));
        assert!(!v.nonces.contains_key(&hex::encode([6u8; 16])));
    }
}
