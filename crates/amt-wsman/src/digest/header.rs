//! The two Digest header values: `WWW-Authenticate` ([`Challenge`]) and `Authorization`,
//! and the bounded parser they share (its rules are in the `digest` module docs).

use super::DigestError;

/// Longest header value (in bytes) the parsers accept. Real AMT headers are about 300 bytes.
pub const MAX_HEADER_LEN: usize = 4096;

/// Most parameters the parsers accept in one header value.
pub const MAX_PARAMS: usize = 32;

/// `WWW-Authenticate: Digest …` as sent by the device.
///
/// AMT sends `Digest realm="Digest:<32 hex>", nonce="…", stale="false", qop="auth"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space; AMT uses `Digest:` followed by 32 uppercase hex digits, the same
    /// value as `AMT_GeneralSettings.DigestRealm`.
    pub realm: String,
    /// Server nonce, echoed back by the client.
    pub nonce: String,
    /// Opaque server data the client must echo unchanged, if any (AMT sends none).
    pub opaque: Option<String>,
    /// Offered qop values (`auth`, `auth-int`); empty for an RFC 2069 challenge.
    pub qop: Vec<String>,
    /// `true` when the previous request was refused only because its nonce was stale, so the
    /// client may retry with the new nonce without asking for the password again.
    pub stale: bool,
    /// Hash algorithm, if named (`MD5` when absent).
    pub algorithm: Option<String>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` header value such as
    /// `Digest realm="Digest:F3EB…", nonce="…", stale="false", qop="auth"`.
    ///
    /// `realm` and `nonce` are required. `qop` is split at commas (`qop="auth,auth-int"`);
    /// `stale` is true only for a case-insensitive `true`.
    ///
    /// # Errors
    /// [`DigestError`] when the value is too long, not `Digest`, malformed, has duplicate or
    /// too many parameters, or lacks `realm` or `nonce`.
    pub fn parse(www_authenticate: &str) -> Result<Challenge, DigestError> {
        let mut params = parse_params(www_authenticate)?;
        let realm = params
            .take("realm")
            .ok_or(DigestError::MissingParam("realm"))?;
        let nonce = params
            .take("nonce")
            .ok_or(DigestError::MissingParam("nonce"))?;
        let qop = params
            .take("qop")
            .map(|list| {
                list.split(',')
                    .map(|q| q.trim_matches([' ', '\t']))
                    .filter(|q| !q.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let stale = params
            .take("stale")
            .is_some_and(|v| v.trim_matches([' ', '\t']).eq_ignore_ascii_case("true"));
        Ok(Challenge {
            realm,
            nonce,
            opaque: params.take("opaque"),
            qop,
            stale,
            algorithm: params.take("algorithm"),
        })
    }

    /// Formats the header value the way AMT does:
    /// `Digest realm="…", nonce="…", stale="false", qop="auth"` (plus `opaque` after `nonce`
    /// and `algorithm` at the end when set; `qop` is left out when the list is empty).
    ///
    /// Control characters cannot be carried in a header and are dropped from values.
    #[must_use]
    pub fn to_header_value(&self) -> String {
        let mut out = String::from("Digest ");
        let mut w = ParamWriter::new(&mut out);
        w.quoted("realm", &self.realm);
        w.quoted("nonce", &self.nonce);
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque);
        }
        w.quoted("stale", if self.stale { "true" } else { "false" });
        if !self.qop.is_empty() {
            w.quoted("qop", &self.qop.join(","));
        }
        if let Some(algorithm) = &self.algorithm {
            w.token("algorithm", algorithm);
        }
        out
    }

    /// Whether the challenge offers `qop=auth` (case-insensitive).
    #[must_use]
    pub fn offers_qop_auth(&self) -> bool {
        self.qop.iter().any(|q| q.eq_ignore_ascii_case("auth"))
    }

    /// Whether the challenge's algorithm is MD5 (named or, by default, absent).
    #[must_use]
    pub fn algorithm_is_md5(&self) -> bool {
        self.algorithm
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case("MD5"))
    }
}

/// `Authorization: Digest …` as sent by the console.
///
/// AMT consoles send `username, realm, nonce, uri, response, qop, nc, cnonce` and no
/// `algorithm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The digest user name (AMT: `admin` or an ACL user, at most 16 ASCII characters).
    pub username: String,
    /// The realm copied from the challenge.
    pub realm: String,
    /// The nonce copied from the challenge.
    pub nonce: String,
    /// The request target that was hashed into `HA2` (AMT: `/wsman`).
    pub uri: String,
    /// The request digest: 32 lowercase hex digits when well-formed. Not validated by `parse`;
    /// [`super::DigestVerifier`] checks its shape.
    pub response: String,
    /// The chosen qop (`auth`), absent for RFC 2069.
    pub qop: Option<String>,
    /// Nonce count, 8 hex digits (`00000001`), present with `qop`.
    pub nc: Option<String>,
    /// Client nonce, present with `qop`.
    pub cnonce: Option<String>,
    /// The challenge's `opaque`, echoed.
    pub opaque: Option<String>,
    /// Hash algorithm, if named.
    pub algorithm: Option<String>,
}

impl Authorization {
    /// Parses an `Authorization` header value such as
    /// `Digest username="admin", realm="…", nonce="…", uri="/wsman", response="…", qop=auth,
    /// nc=00000001, cnonce="…"`.
    ///
    /// `username`, `realm`, `nonce`, `uri` and `response` are required (an *empty*
    /// `response=""` parses; rejecting it is the verifier's job).
    ///
    /// # Errors
    /// [`DigestError`] when the value is too long, not `Digest`, malformed, has duplicate or
    /// too many parameters, or lacks a required parameter.
    pub fn parse(authorization: &str) -> Result<Authorization, DigestError> {
        let mut params = parse_params(authorization)?;
        let mut required =
            |name: &'static str| params.take(name).ok_or(DigestError::MissingParam(name));
        let username = required("username")?;
        let realm = required("realm")?;
        let nonce = required("nonce")?;
        let uri = required("uri")?;
        let response = required("response")?;
        Ok(Authorization {
            username,
            realm,
            nonce,
            uri,
            response,
            qop: params.take("qop"),
            nc: params.take("nc"),
            cnonce: params.take("cnonce"),
            opaque: params.take("opaque"),
            algorithm: params.take("algorithm"),
        })
    }

    /// Formats the header value the way AMT consoles do:
    /// `Digest username="…", realm="…", nonce="…", uri="…", response="…", qop="auth",
    /// nc=00000001, cnonce="…"` (then `opaque` and `algorithm` when set).
    ///
    /// Control characters cannot be carried in a header and are dropped from values.
    #[must_use]
    pub fn to_header_value(&self) -> String {
        let mut out = String::from("Digest ");
        let mut w = ParamWriter::new(&mut out);
        w.quoted("username", &self.username);
        w.quoted("realm", &self.realm);
        w.quoted("nonce", &self.nonce);
        w.quoted("uri", &self.uri);
        w.quoted("response", &self.response);
        if let Some(qop) = &self.qop {
            w.quoted("qop", qop);
        }
        if let Some(nc) = &self.nc {
            w.token("nc", nc);
        }
        if let Some(cnonce) = &self.cnonce {
            w.quoted("cnonce", cnonce);
        }
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque);
        }
        if let Some(algorithm) = &self.algorithm {
            w.token("algorithm", algorithm);
        }
        out
    }
}

/// Parsed parameters: lowercased names with unescaped values, in order.
struct Params {
    items: Vec<(String, String)>,
}

impl Params {
    /// Removes and returns the value of `name` (lowercase).
    fn take(&mut self, name: &str) -> Option<String> {
        let index = self.items.iter().position(|(n, _)| n == name)?;
        Some(self.items.swap_remove(index).1)
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Optional whitespace: SP or HTAB.
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Control characters other than HTAB (never allowed in a header value).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Bytes accepted in an unquoted value: anything but whitespace, `,`, `"` and controls.
fn is_unquoted_value_byte(b: u8) -> bool {
    !is_ows(b) && b != b',' && b != b'"' && !is_ctl(b)
}

/// Index of the first byte at or after `i` that is not OWS.
fn skip_ows(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).copied().is_some_and(is_ows) {
        i += 1;
    }
    i
}

/// Index of the first byte at or after `i` for which `pred` is false.
fn skip_while(bytes: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while bytes.get(i).copied().is_some_and(&pred) {
        i += 1;
    }
    i
}

/// Builds a syntax error.
fn syntax(offset: usize, expected: &'static str) -> DigestError {
    DigestError::Syntax { offset, expected }
}

/// Parses `Digest` followed by a comma-separated auth-param list.
fn parse_params(input: &str) -> Result<Params, DigestError> {
    if input.len() > MAX_HEADER_LEN {
        return Err(DigestError::TooLong {
            len: input.len(),
            max: MAX_HEADER_LEN,
        });
    }
    let bytes = input.as_bytes();
    let scheme_start = skip_ows(bytes, 0);
    let scheme_end = skip_while(bytes, scheme_start, is_tchar);
    let scheme = input
        .get(scheme_start..scheme_end)
        .filter(|s| !s.is_empty())
        .ok_or(syntax(scheme_start, "authentication scheme"))?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    let mut i = scheme_end;
    if bytes.get(i).is_some_and(|&b| !is_ows(b)) {
        return Err(syntax(i, "space after the scheme"));
    }

    let mut items: Vec<(String, String)> = Vec::new();
    loop {
        i = skip_while(bytes, i, |b| is_ows(b) || b == b',');
        if i >= bytes.len() {
            break;
        }
        let name_end = skip_while(bytes, i, is_tchar);
        let name = input
            .get(i..name_end)
            .filter(|s| !s.is_empty())
            .ok_or(syntax(i, "parameter name"))?
            .to_ascii_lowercase();
        i = skip_ows(bytes, name_end);
        if bytes.get(i) != Some(&b'=') {
            return Err(syntax(i, "`=` after the parameter name"));
        }
        i = skip_ows(bytes, i + 1);
        let value = if bytes.get(i) == Some(&b'"') {
            let (value, end) = parse_quoted(bytes, i + 1)?;
            i = end;
            value
        } else {
            let end = skip_while(bytes, i, is_unquoted_value_byte);
            let value = input
                .get(i..end)
                .filter(|s| !s.is_empty())
                .ok_or(syntax(i, "parameter value"))?
                .to_owned();
            i = end;
            value
        };
        i = skip_ows(bytes, i);
        if bytes.get(i).is_some_and(|&b| b != b',') {
            return Err(syntax(i, "`,` between parameters"));
        }
        if items.len() >= MAX_PARAMS {
            return Err(DigestError::TooManyParams { max: MAX_PARAMS });
        }
        if items.iter().any(|(n, _)| *n == name) {
            return Err(DigestError::DuplicateParam { name });
        }
        items.push((name, value));
    }
    Ok(Params { items })
}

/// Parses a quoted-string body starting just after the opening quote. Returns the unescaped
/// value and the index just after the closing quote.
fn parse_quoted(bytes: &[u8], mut i: usize) -> Result<(String, usize), DigestError> {
    let mut value = Vec::new();
    loop {
        match bytes.get(i) {
            None => return Err(syntax(i, "closing `\"`")),
            Some(b'"') => {
                i += 1;
                break;
            }
            Some(b'\\') => match bytes.get(i + 1) {
                Some(&c) if !is_ctl(c) => {
                    value.push(c);
                    i += 2;
                }
                _ => return Err(syntax(i + 1, "escaped character")),
            },
            Some(&c) if is_ctl(c) => return Err(syntax(i, "non-control character")),
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
    // Only ASCII bytes (quotes, backslashes) were removed at character boundaries, so the
    // bytes are still valid UTF-8; map the impossible failure to an error anyway.
    let value = String::from_utf8(value).map_err(|_| syntax(i, "UTF-8 text"))?;
    Ok((value, i))
}

/// Appends `name=value` pairs separated by `, `.
struct ParamWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ParamWriter<'a> {
    fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn name(&mut self, name: &str) {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        self.out.push_str(name);
        self.out.push('=');
    }

    /// `name="value"` with `"` and `\` escaped and control characters dropped.
    fn quoted(&mut self, name: &str, value: &str) {
        self.name(name);
        self.out.push('"');
        for c in value.chars() {
            if c.is_ascii() && is_ctl(c as u8) {
                continue;
            }
            if c == '"' || c == '\\' {
                self.out.push('\\');
            }
            self.out.push(c);
        }
        self.out.push('"');
    }

    /// `name=value` when `value` is a non-empty token, otherwise quoted.
    fn token(&mut self, name: &str, value: &str) {
        if !value.is_empty() && value.bytes().all(is_tchar) {
            self.name(name);
            self.out.push_str(value);
        } else {
            self.quoted(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amt_challenge() {
        let c = Challenge::parse(
            r#"Digest realm="Digest:F3EB554784E729164447A89F60B641C5", nonce="abc", stale="false", qop="auth""#,
        );
        assert_eq!(
            c,
            Ok(Challenge {
                realm: "Digest:F3EB554784E729164447A89F60B641C5".into(),
                nonce: "abc".into(),
                opaque: None,
                qop: vec!["auth".into()],
                stale: false,
                algorithm: None,
            })
        );
    }

    #[test]
    fn tolerates_case_spacing_escapes_and_tokens() {
        let c = Challenge::parse(
            "  digest  REALM = \"a\\\"b\" ,, Nonce=xyz,qop=\"auth, auth-int\",STALE=TRUE,algorithm=md5",
        );
        let c = c.as_ref().map(|c| {
            (
                c.realm.as_str(),
                c.nonce.as_str(),
                c.qop.clone(),
                c.stale,
                c.algorithm.as_deref(),
            )
        });
        assert_eq!(
            c,
            Ok((
                "a\"b",
                "xyz",
                vec!["auth".to_owned(), "auth-int".to_owned()],
                true,
                Some("md5")
            ))
        );
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest)
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"x"),
            Err(DigestError::Syntax { .. })
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"x\nY\", nonce=1"),
            Err(DigestError::Syntax { .. })
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=x, realm=y, nonce=1"),
            Err(DigestError::DuplicateParam { .. })
        ));
        assert_eq!(
            Challenge::parse("Digest nonce=1"),
            Err(DigestError::MissingParam("realm"))
        );
        let long = format!("Digest realm=\"{}\", nonce=1", "a".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            Challenge::parse(&long),
            Err(DigestError::TooLong { .. })
        ));
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=1,")).collect();
        assert_eq!(
            Challenge::parse(&format!("Digest {many}")),
            Err(DigestError::TooManyParams { max: MAX_PARAMS })
        );
    }

    #[test]
    fn writer_escapes_and_drops_controls() {
        let c = Challenge {
            realm: "r\"\\\r\n".into(),
            nonce: "n".into(),
            opaque: None,
            qop: vec![],
            stale: true,
            algorithm: Some("MD5 sess".into()),
        };
        assert_eq!(
            c.to_header_value(),
            r#"Digest realm="r\"\\", nonce="n", stale="true", algorithm="MD5 sess""#
        );
    }
}
