//! Integration tests for `amt_wsman::digest`: the maths against published and independently
//! computed vectors (python3 `hashlib`), the console client's retry rules, and the device
//! verifier's refusals (CVE-2017-5689 and friends).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_wsman::digest::{
    ha1, ha1_hex, redirection_response_hex, response_hex, response_hex_rfc2069, Authorization,
    Challenge, DigestClient, DigestError, DigestRejection, DigestVerifier, RetryDecision,
    VerifierConfig, MAX_HEADER_LEN,
};
use amt_wsman::secret::SecretString;
use proptest::prelude::*;

const REALM: &str = "Digest:F3EB554784E729164447A89F60B641C5";
const PASSWORD: &str = "P@ssw0rd1";
const CNONCE: &str = "0a4f113b";
const NOW: u64 = 1_000_000;

fn lookup(user: &str) -> Option<[u8; 16]> {
    (user == "admin").then(|| ha1("admin", REALM, PASSWORD))
}

/// A verifier with one issued nonce, and that nonce.
fn verifier() -> (DigestVerifier, String) {
    let mut v = DigestVerifier::new(REALM.to_owned(), VerifierConfig::default());
    let header = v.challenge(NOW, [0x11; 16], false);
    let nonce = Challenge::parse(&header).unwrap().nonce;
    (v, nonce)
}

/// A correct `Authorization` for `admin` with `password` on `nonce` and `nc`.
fn auth(nonce: &str, nc: &str, password: &str) -> Authorization {
    let ha1 = ha1_hex("admin", REALM, password);
    Authorization {
        username: "admin".into(),
        realm: REALM.into(),
        nonce: nonce.into(),
        uri: "/wsman".into(),
        response: response_hex(&ha1, nonce, nc, CNONCE, "auth", "POST", "/wsman"),
        qop: Some("auth".into()),
        nc: Some(nc.into()),
        cnonce: Some(CNONCE.into()),
        opaque: None,
        algorithm: None,
    }
}

fn verify(v: &mut DigestVerifier, a: &Authorization) -> Result<String, DigestRejection> {
    v.verify(&a.to_header_value(), "POST", NOW + 1, lookup)
}

// ---- the maths -------------------------------------------------------------------------------

#[test]
fn rfc2617_section_3_5_worked_example() {
    let ha1 = ha1_hex("Mufasa", "testrealm@host.com", "Circle Of Life");
    assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
    let response = response_hex(
        &ha1,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001",
        "0a4f113b",
        "auth",
        "GET",
        "/dir/index.html",
    );
    assert_eq!(response, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc2617_example_header_parses_and_verifies() {
    // The Authorization header of RFC 2617 §3.5, verified by a verifier that issued its nonce.
    let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#
        .replace('\n', "");
    let parsed = Authorization::parse(&header).unwrap();
    assert_eq!(parsed.username, "Mufasa");
    assert_eq!(parsed.qop.as_deref(), Some("auth"));
    assert_eq!(
        parsed.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );

    // Our verifier only knows nonces it issued itself, so the RFC nonce is "unknown" even though
    // the response is right: that proves the maths and yields a stale-type refusal.
    let mut v = DigestVerifier::new("testrealm@host.com".into(), VerifierConfig::default());
    let result = v.verify(&header, "GET", NOW, |u| {
        (u == "Mufasa").then(|| ha1("Mufasa", "testrealm@host.com", "Circle Of Life"))
    });
    assert_eq!(result, Err(DigestRejection::UnknownNonce));
    let wrong = v.verify(&header, "GET", NOW, |u| {
        (u == "Mufasa").then(|| ha1("Mufasa", "testrealm@host.com", "wrong"))
    });
    assert_eq!(wrong, Err(DigestRejection::WrongResponse));
}

#[test]
fn rfc2069_response_matches_independent_vector() {
    let ha1 = ha1_hex("Mufasa", "testrealm@host.com", "Circle Of Life");
    assert_eq!(
        response_hex_rfc2069(
            &ha1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html"
        ),
        "670fd8c2df070c60b045671b8b24ff02"
    );
}

#[test]
fn amt_admin_ha1_matches_independent_vector() {
    assert_eq!(
        ha1_hex("admin", REALM, PASSWORD),
        "34db01fd620dc58670325d2951881bfc"
    );
    assert_eq!(
        hex::encode(ha1("admin", REALM, PASSWORD)),
        ha1_hex("admin", REALM, PASSWORD)
    );
}

#[test]
fn redirection_response_is_post_to_redirection_service() {
    let ha1 = ha1_hex("admin", REALM, PASSWORD);
    let expected = "a6a944b870ba21d10ecfd260d74f30aa";
    assert_eq!(
        redirection_response_hex(&ha1, "abcdef0123456789", "00000002", "deadbeef", "auth"),
        expected
    );
    assert_eq!(
        response_hex(
            &ha1,
            "abcdef0123456789",
            "00000002",
            "deadbeef",
            "auth",
            "POST",
            "/RedirectionService"
        ),
        expected
    );
}

// ---- header values ---------------------------------------------------------------------------

#[test]
fn verifier_challenge_looks_like_amt() {
    let mut v = DigestVerifier::new(REALM.into(), VerifierConfig::default());
    let header = v.challenge(NOW, [0xab; 16], false);
    assert_eq!(
        header,
        format!(
            r#"Digest realm="{REALM}", nonce="{}", stale="false", qop="auth""#,
            "ab".repeat(16)
        )
    );
    let stale = Challenge::parse(&v.challenge(NOW, [1; 16], true)).unwrap();
    assert!(stale.stale);
}

#[test]
fn client_header_looks_like_amt_consoles() {
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    let challenge = format!(r#"Digest realm="{REALM}", nonce="n1", stale="false", qop="auth""#);
    assert_eq!(c.on_unauthorized(&challenge), Ok(RetryDecision::Retry));
    let header = c.authorization("POST", "/wsman", CNONCE).unwrap();
    let expected_response = response_hex(
        &ha1_hex("admin", REALM, PASSWORD),
        "n1",
        "00000001",
        CNONCE,
        "auth",
        "POST",
        "/wsman",
    );
    assert_eq!(
        header,
        format!(
            r#"Digest username="admin", realm="{REALM}", nonce="n1", uri="/wsman", response="{expected_response}", qop="auth", nc=00000001, cnonce="{CNONCE}""#
        )
    );
}

#[test]
fn challenge_round_trips() {
    let c = Challenge {
        realm: REALM.into(),
        nonce: "a\"b\\c".into(),
        opaque: Some("op".into()),
        qop: vec!["auth".into(), "auth-int".into()],
        stale: true,
        algorithm: Some("MD5".into()),
    };
    assert_eq!(Challenge::parse(&c.to_header_value()), Ok(c));
}

#[test]
fn authorization_round_trips() {
    let mut a = auth("nonce", "0000000a", PASSWORD);
    a.opaque = Some("xyz".into());
    a.algorithm = Some("MD5".into());
    assert_eq!(Authorization::parse(&a.to_header_value()), Ok(a));
}

#[test]
fn parsers_refuse_other_schemes_and_oversized_input() {
    assert_eq!(
        Authorization::parse("Basic YWRtaW46cGFzcw=="),
        Err(DigestError::NotDigest)
    );
    assert_eq!(Challenge::parse("Negotiate"), Err(DigestError::NotDigest));
    let huge = format!("Digest username=\"{}\"", "x".repeat(MAX_HEADER_LEN));
    assert!(matches!(
        Authorization::parse(&huge),
        Err(DigestError::TooLong { .. })
    ));
}

// ---- verifier refusals -----------------------------------------------------------------------

#[test]
fn client_to_verifier_round_trip_succeeds() {
    let mut v = DigestVerifier::new(REALM.into(), VerifierConfig::default());
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));

    // First request goes out bare and gets a challenge.
    assert_eq!(c.authorization("POST", "/wsman", "c0"), None);
    let challenge = v.challenge(NOW, [7; 16], false);
    assert_eq!(c.on_unauthorized(&challenge), Ok(RetryDecision::Retry));

    // Then five requests on the same nonce, nc 1..=5, all accepted.
    for i in 1..=5u64 {
        let cnonce = format!("cnonce{i}");
        let header = c.authorization("POST", "/wsman", &cnonce).unwrap();
        let parsed = Authorization::parse(&header).unwrap();
        assert_eq!(parsed.nc, Some(format!("{i:08x}")));
        assert_eq!(
            v.verify(&header, "POST", NOW + i, lookup),
            Ok("admin".into())
        );
        c.on_success();
    }
}

#[test]
fn correct_request_verifies_and_wrong_method_does_not() {
    let (mut v, nonce) = verifier();
    let a = auth(&nonce, "00000001", PASSWORD);
    assert_eq!(
        v.verify(&a.to_header_value(), "GET", NOW, lookup),
        Err(DigestRejection::WrongResponse)
    );
    assert_eq!(verify(&mut v, &a), Ok("admin".into()));
}

#[test]
fn digest_rejects_empty_response_cve_2017_5689() {
    // CVE-2017-5689: AMT compared only strlen(client response) bytes, so response="" matched.
    let (mut v, nonce) = verifier();
    let mut a = auth(&nonce, "00000001", PASSWORD);
    a.response = String::new();
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::BadResponseFormat));

    // Also without quotes and with only whitespace-like content.
    let header = a
        .to_header_value()
        .replace("response=\"\"", "response=\"  \"");
    assert_eq!(
        v.verify(&header, "POST", NOW, lookup),
        Err(DigestRejection::BadResponseFormat)
    );
    // The nonce is still usable by the real client afterwards.
    assert_eq!(
        verify(&mut v, &auth(&nonce, "00000001", PASSWORD)),
        Ok("admin".into())
    );
}

#[test]
fn digest_rejects_truncated_response() {
    let (mut v, nonce) = verifier();
    let good = auth(&nonce, "00000001", PASSWORD);
    for keep in [1, 2, 16, 31] {
        let mut a = good.clone();
        a.response.truncate(keep);
        assert_eq!(
            verify(&mut v, &a),
            Err(DigestRejection::BadResponseFormat),
            "prefix of {keep} chars"
        );
    }
}

#[test]
fn digest_rejects_overlong_response() {
    let (mut v, nonce) = verifier();
    let good = auth(&nonce, "00000001", PASSWORD);
    for extra in ["0", "00", " ", &good.response] {
        let mut a = good.clone();
        a.response.push_str(extra);
        assert_eq!(verify(&mut v, &a), Err(DigestRejection::BadResponseFormat));
    }
}

#[test]
fn digest_rejects_non_hex_response() {
    let (mut v, nonce) = verifier();
    let good = auth(&nonce, "00000001", PASSWORD);
    let mut a = good.clone();
    a.response.replace_range(31..32, "g");
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::BadResponseFormat));
    a.response = format!("0x{}", &good.response[2..]);
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::BadResponseFormat));
    a.response = "z".repeat(32);
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::BadResponseFormat));
    // 32 bytes that are 31 characters.
    a.response = format!("é{}", &good.response[2..]);
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::BadResponseFormat));
    // Uppercase hex of the right digest is fine.
    a.response = good.response.to_uppercase();
    assert_eq!(verify(&mut v, &a), Ok("admin".into()));
}

#[test]
fn digest_rejects_wrong_password() {
    let (mut v, nonce) = verifier();
    let a = auth(&nonce, "00000001", "Wr0ng!pass");
    let rejection = verify(&mut v, &a).unwrap_err();
    assert_eq!(rejection, DigestRejection::WrongResponse);
    assert!(!rejection.is_stale_nonce());
}

#[test]
fn digest_rejects_unknown_user() {
    let (mut v, nonce) = verifier();
    let mut a = auth(&nonce, "00000001", PASSWORD);
    a.username = "mallory".into();
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::UnknownUser));
    // Even a response computed against any guessable dummy HA1 is refused.
    a.response = response_hex(
        &"0".repeat(32),
        &nonce,
        "00000001",
        CNONCE,
        "auth",
        "POST",
        "/wsman",
    );
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::UnknownUser));
}

#[test]
fn digest_rejects_replayed_nc() {
    let (mut v, nonce) = verifier();
    let first = auth(&nonce, "00000002", PASSWORD);
    assert_eq!(verify(&mut v, &first), Ok("admin".into()));
    // The same request again.
    let replay = verify(&mut v, &first).unwrap_err();
    assert_eq!(replay, DigestRejection::ReplayedNonceCount);
    assert!(replay.is_stale_nonce());
    // A lower nc, and a zero nc.
    for nc in ["00000001", "00000000"] {
        assert_eq!(
            verify(&mut v, &auth(&nonce, nc, PASSWORD)),
            Err(DigestRejection::ReplayedNonceCount)
        );
    }
    // The next one is fine; a gap is fine too.
    assert_eq!(
        verify(&mut v, &auth(&nonce, "00000003", PASSWORD)),
        Ok("admin".into())
    );
    assert_eq!(
        verify(&mut v, &auth(&nonce, "00000010", PASSWORD)),
        Ok("admin".into())
    );
}

#[test]
fn failed_attempts_do_not_burn_nonce_counts() {
    let (mut v, nonce) = verifier();
    let forged = auth(&nonce, "ffffffff", "guess");
    assert_eq!(verify(&mut v, &forged), Err(DigestRejection::WrongResponse));
    assert_eq!(
        verify(&mut v, &auth(&nonce, "00000001", PASSWORD)),
        Ok("admin".into())
    );
}

#[test]
fn decimal_nonce_counts_are_tolerated() {
    // MeshCentral sends nc as a decimal counter; read as hex it still increases.
    let (mut v, nonce) = verifier();
    for nc in ["1", "2", "9", "10", "11"] {
        assert_eq!(
            verify(&mut v, &auth(&nonce, nc, PASSWORD)),
            Ok("admin".into()),
            "nc {nc}"
        );
    }
    for nc in ["", "123456789", "-1", "1g"] {
        let mut a = auth(&nonce, "00000020", PASSWORD);
        a.nc = Some(nc.into());
        // `nc=""` (written quoted, since it is not a token) is empty, not missing.
        assert_eq!(
            verify(&mut v, &a),
            Err(DigestRejection::BadNonceCount),
            "nc {nc:?}"
        );
    }
}

#[test]
fn digest_rejects_unknown_nonce() {
    let (mut v, _) = verifier();
    let a = auth("00112233445566778899aabbccddeeff", "00000001", PASSWORD);
    let rejection = verify(&mut v, &a).unwrap_err();
    assert_eq!(rejection, DigestRejection::UnknownNonce);
    assert!(rejection.is_stale_nonce());
    // With a wrong password the password problem is reported, not the nonce.
    let b = auth("00112233445566778899aabbccddeeff", "00000001", "Wr0ng!pass");
    assert_eq!(verify(&mut v, &b), Err(DigestRejection::WrongResponse));
}

#[test]
fn evicted_nonce_is_unknown() {
    let config = VerifierConfig {
        nonce_lifetime_secs: 300,
        max_outstanding_nonces: 2,
    };
    let mut v = DigestVerifier::new(REALM.into(), config);
    let first = Challenge::parse(&v.challenge(NOW, [1; 16], false))
        .unwrap()
        .nonce;
    let _ = v.challenge(NOW, [2; 16], false);
    let _ = v.challenge(NOW, [3; 16], false);
    assert_eq!(v.outstanding_nonces(), 2);
    assert_eq!(
        verify(&mut v, &auth(&first, "00000001", PASSWORD)),
        Err(DigestRejection::UnknownNonce)
    );
}

#[test]
fn digest_expired_nonce_is_stale() {
    let config = VerifierConfig {
        nonce_lifetime_secs: 60,
        max_outstanding_nonces: 16,
    };
    let mut v = DigestVerifier::new(REALM.into(), config);
    let nonce = Challenge::parse(&v.challenge(NOW, [5; 16], false))
        .unwrap()
        .nonce;
    let header = auth(&nonce, "00000001", PASSWORD).to_header_value();
    // Exactly at the lifetime it is still accepted; one second later it is stale.
    assert_eq!(
        v.verify(&header, "POST", NOW + 60, lookup),
        Ok("admin".into())
    );
    let header = auth(&nonce, "00000002", PASSWORD).to_header_value();
    let rejection = v.verify(&header, "POST", NOW + 61, lookup).unwrap_err();
    assert_eq!(rejection, DigestRejection::StaleNonce);
    assert!(rejection.is_stale_nonce());
    // A wrong password on an expired nonce is a wrong password, not stale.
    let header = auth(&nonce, "00000003", "Wr0ng!pass").to_header_value();
    assert_eq!(
        v.verify(&header, "POST", NOW + 61, lookup),
        Err(DigestRejection::WrongResponse)
    );
}

/// The parameters of a correct header as `(name, quoted value)` pairs.
fn header_params(a: &Authorization) -> Vec<(&'static str, String)> {
    vec![
        ("username", a.username.clone()),
        ("realm", a.realm.clone()),
        ("nonce", a.nonce.clone()),
        ("uri", a.uri.clone()),
        ("response", a.response.clone()),
        ("qop", "auth".into()),
        ("nc", a.nc.clone().unwrap()),
        ("cnonce", CNONCE.into()),
    ]
}

fn header_from(params: &[(&'static str, String)]) -> String {
    let list: Vec<String> = params.iter().map(|(n, v)| format!("{n}=\"{v}\"")).collect();
    format!("Digest {}", list.join(", "))
}

#[test]
fn digest_rejects_missing_fields() {
    let (mut v, nonce) = verifier();
    let good = auth(&nonce, "00000001", PASSWORD);
    let params = header_params(&good);
    for skip in 0..params.len() {
        let mut without = params.clone();
        let (name, _) = without.remove(skip);
        assert_eq!(
            v.verify(&header_from(&without), "POST", NOW, lookup),
            Err(DigestRejection::MissingField(name)),
            "without {name}"
        );
    }
    // Empty uri and cnonce count as missing.
    for name in ["uri", "cnonce"] {
        let emptied: Vec<_> = params
            .iter()
            .map(|(n, val)| {
                (
                    *n,
                    if *n == name {
                        String::new()
                    } else {
                        val.clone()
                    },
                )
            })
            .collect();
        assert_eq!(
            v.verify(&header_from(&emptied), "POST", NOW, lookup),
            Err(DigestRejection::MissingField(name)),
            "empty {name}"
        );
    }
    // The complete header still works.
    assert_eq!(
        v.verify(&header_from(&params), "POST", NOW, lookup),
        Ok("admin".into())
    );
}

#[test]
fn digest_rejects_malformed_headers() {
    let (mut v, nonce) = verifier();
    let good = auth(&nonce, "00000001", PASSWORD).to_header_value();
    for bad in [
        String::new(),
        "Digest".to_owned(),
        "Basic YWRtaW46UEBzc3cwcmQx".to_owned(),
        good.replacen("username=\"admin\"", "username=\"admin", 1),
        format!("{good}, username=\"admin\""),
        good.replace(", ", " "),
    ] {
        let result = v.verify(&bad, "POST", NOW, lookup);
        assert!(
            matches!(
                result,
                Err(DigestRejection::Malformed(_) | DigestRejection::MissingField(_))
            ),
            "{bad:?} gave {result:?}"
        );
    }
}

#[test]
fn digest_rejects_wrong_realm_qop_algorithm_and_uri() {
    let (mut v, nonce) = verifier();
    let good = auth(&nonce, "00000001", PASSWORD);

    let mut a = good.clone();
    a.realm = "Digest:00000000000000000000000000000000".into();
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::WrongRealm));

    let mut a = good.clone();
    a.qop = Some("auth-int".into());
    assert_eq!(verify(&mut v, &a), Err(DigestRejection::UnsupportedQop));

    let mut a = good.clone();
    a.algorithm = Some("SHA-256".into());
    assert_eq!(
        verify(&mut v, &a),
        Err(DigestRejection::UnsupportedAlgorithm)
    );

    let mut a = good.clone();
    a.algorithm = Some("md5".into());
    let header = a.to_header_value();
    assert_eq!(
        v.verify_for_uri(&header, "POST", "/other", NOW, lookup),
        Err(DigestRejection::UriMismatch)
    );
    assert_eq!(
        v.verify_for_uri(&header, "POST", "/wsman", NOW, lookup),
        Ok("admin".into())
    );
}

// ---- client retry rules ----------------------------------------------------------------------

fn amt_challenge(nonce: &str, stale: bool) -> String {
    format!(r#"Digest realm="{REALM}", nonce="{nonce}", stale="{stale}", qop="auth""#)
}

#[test]
fn client_sends_nothing_before_a_challenge() {
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    assert_eq!(c.authorization("POST", "/wsman", CNONCE), None);
    assert!(c.challenge().is_none());
}

#[test]
fn client_gives_up_after_one_wrong_password() {
    let mut c = DigestClient::new("admin", SecretString::from("Wr0ng!pass"));
    assert_eq!(c.authorization("POST", "/wsman", "c1"), None);
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n1", false)),
        Ok(RetryDecision::Retry)
    );
    assert!(c.authorization("POST", "/wsman", "c2").is_some());
    // Credentials were sent and refused without stale: wrong password.
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n2", false)),
        Ok(RetryDecision::GiveUp)
    );

    // Next request: preemptive credentials on the newest nonce, one retry, then give up again.
    assert!(c.authorization("POST", "/wsman", "c3").is_some());
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n3", false)),
        Ok(RetryDecision::Retry)
    );
    assert!(c.authorization("POST", "/wsman", "c4").is_some());
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n4", false)),
        Ok(RetryDecision::GiveUp)
    );
}

#[test]
fn client_retries_once_on_stale_nonce() {
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n1", false)),
        Ok(RetryDecision::Retry)
    );
    let first = Authorization::parse(&c.authorization("POST", "/wsman", "c1").unwrap()).unwrap();
    assert_eq!(first.nc.as_deref(), Some("00000001"));
    // The nonce went stale: retry with the new nonce and nc restarted.
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n2", true)),
        Ok(RetryDecision::Retry)
    );
    let second = Authorization::parse(&c.authorization("POST", "/wsman", "c2").unwrap()).unwrap();
    assert_eq!(second.nonce, "n2");
    assert_eq!(second.nc.as_deref(), Some("00000001"));
    // Stale again within the same request: no more retries.
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n3", true)),
        Ok(RetryDecision::GiveUp)
    );
}

#[test]
fn client_preemptive_stale_then_wrong_password_gives_up() {
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n1", false)),
        Ok(RetryDecision::Retry)
    );
    assert!(c.authorization("POST", "/wsman", "c1").is_some());
    c.on_success();
    // Next request carries credentials up front; the nonce is stale.
    assert!(c.authorization("POST", "/wsman", "c2").is_some());
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n2", true)),
        Ok(RetryDecision::Retry)
    );
    assert!(c.authorization("POST", "/wsman", "c3").is_some());
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n3", false)),
        Ok(RetryDecision::GiveUp)
    );
}

#[test]
fn client_reuses_nonce_after_success() {
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    assert_eq!(
        c.on_unauthorized(&amt_challenge("n1", false)),
        Ok(RetryDecision::Retry)
    );
    for expected in ["00000001", "00000002", "00000003"] {
        let header = c.authorization("POST", "/wsman", CNONCE).unwrap();
        let a = Authorization::parse(&header).unwrap();
        assert_eq!(a.nonce, "n1");
        assert_eq!(a.nc.as_deref(), Some(expected));
        assert_eq!(a.algorithm, None);
        c.on_success();
    }
}

#[test]
fn client_recovers_from_an_expired_nonce_against_the_verifier() {
    let config = VerifierConfig {
        nonce_lifetime_secs: 10,
        max_outstanding_nonces: 4,
    };
    let mut v = DigestVerifier::new(REALM.into(), config);
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    assert_eq!(
        c.on_unauthorized(&v.challenge(NOW, [1; 16], false)),
        Ok(RetryDecision::Retry)
    );
    let h = c.authorization("POST", "/wsman", "a").unwrap();
    assert_eq!(v.verify(&h, "POST", NOW, lookup), Ok("admin".into()));
    c.on_success();

    // Much later the preemptive header uses the expired nonce.
    let later = NOW + 100;
    let h = c.authorization("POST", "/wsman", "b").unwrap();
    let rejection = v.verify(&h, "POST", later, lookup).unwrap_err();
    assert_eq!(rejection, DigestRejection::StaleNonce);
    let challenge = v.challenge(later, [2; 16], rejection.is_stale_nonce());
    assert_eq!(c.on_unauthorized(&challenge), Ok(RetryDecision::Retry));
    let h = c.authorization("POST", "/wsman", "c").unwrap();
    assert_eq!(v.verify(&h, "POST", later, lookup), Ok("admin".into()));
}

#[test]
fn client_refuses_unsupported_challenges() {
    let mut c = DigestClient::new("admin", SecretString::from(PASSWORD));
    assert_eq!(
        c.on_unauthorized(r#"Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256"#),
        Err(DigestError::UnsupportedAlgorithm("SHA-256".into()))
    );
    assert_eq!(
        c.on_unauthorized(r#"Digest realm="r", nonce="n", qop="auth-int""#),
        Err(DigestError::UnsupportedQop("auth-int".into()))
    );
    assert!(c.on_unauthorized("Basic realm=\"r\"").is_err());
    assert!(c.challenge().is_none());
}

#[test]
fn client_answers_rfc2069_challenge() {
    let mut c = DigestClient::new("Mufasa", SecretString::from("Circle Of Life"));
    let challenge = r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    assert_eq!(c.on_unauthorized(challenge), Ok(RetryDecision::Retry));
    let a =
        Authorization::parse(&c.authorization("GET", "/dir/index.html", CNONCE).unwrap()).unwrap();
    assert_eq!(a.response, "670fd8c2df070c60b045671b8b24ff02");
    assert_eq!((a.qop, a.nc, a.cnonce), (None, None, None));
    assert_eq!(
        a.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
}

#[test]
fn client_debug_hides_password() {
    let c = DigestClient::new("admin", SecretString::from(PASSWORD));
    let debug = format!("{c:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains("[REDACTED]"));
}

// ---- properties ------------------------------------------------------------------------------

/// Strings shaped like digest headers, to get past the scheme check.
fn digest_like() -> impl Strategy<Value = String> {
    let param = (
        prop::sample::select(vec![
            "username",
            "realm",
            "nonce",
            "uri",
            "response",
            "qop",
            "nc",
            "cnonce",
            "opaque",
            "algorithm",
            "stale",
            "x",
        ]),
        "[ -~\t]{0,24}",
        any::<bool>(),
        prop::sample::select(vec![",", ", ", " ,", ",,", " ", ""]),
    );
    prop::collection::vec(param, 0..14).prop_map(|params| {
        let mut s = String::from("Digest ");
        for (name, value, quoted, sep) in params {
            if quoted {
                s.push_str(&format!("{name}=\"{value}\"{sep}"));
            } else {
                s.push_str(&format!("{name}={value}{sep}"));
            }
        }
        s
    })
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in "\\PC*|.*") {
        let _ = Challenge::parse(&s);
        let _ = Authorization::parse(&s);
        let (mut v, _) = verifier();
        let _ = v.verify(&s, "POST", NOW, lookup);
    }

    #[test]
    fn parsers_never_panic_on_digest_like_strings(s in digest_like()) {
        if let Ok(c) = Challenge::parse(&s) {
            prop_assert_eq!(Challenge::parse(&c.to_header_value()), Ok(c));
        }
        if let Ok(a) = Authorization::parse(&s) {
            prop_assert_eq!(Authorization::parse(&a.to_header_value()), Ok(a));
        }
        let (mut v, _) = verifier();
        let _ = v.verify(&s, "POST", NOW, lookup);
    }

    #[test]
    fn client_built_header_always_verifies(
        username in "[!-~]{1,16}",
        password in "\\PC{0,40}",
        uri in "/[ -~]{0,30}",
        cnonces in prop::collection::vec("[0-9a-f]{1,32}", 1..6),
        random in any::<[u8; 16]>(),
    ) {
        let realm = REALM.to_owned();
        let stored = ha1(&username, &realm, &password);
        let mut v = DigestVerifier::new(realm, VerifierConfig::default());
        let mut c = DigestClient::new(username.clone(), SecretString::from(password.as_str()));
        prop_assert_eq!(c.on_unauthorized(&v.challenge(NOW, random, false)), Ok(RetryDecision::Retry));
        for cnonce in &cnonces {
            let header = c.authorization("POST", &uri, cnonce);
            prop_assert!(header.is_some());
            let header = header.unwrap_or_default();
            let result = v.verify_for_uri(&header, "POST", &uri, NOW, |u| (u == username).then_some(stored));
            prop_assert_eq!(result, Ok(username.clone()));
            c.on_success();
        }
    }
}
