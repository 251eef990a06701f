//! Integration tests for `amt_wsman::password` and `amt_wsman::secret`: the AMT password rules
//! one by one, the two digest encodings against vectors computed independently with python3
//! (`hashlib.md5(...).hexdigest()` and `base64.b64encode(hashlib.md5(...).digest())`), and
//! password generation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_wsman::password::{
    acl_digest_password_b64, admin_password_problems, digest_password_hex, generate_admin_password,
    random_bytes_needed, setup_password_hash_hex, validate_admin_password,
    validate_digest_username, PasswordError, PasswordRule, UsernameRule,
    DEFAULT_GENERATED_PASSWORD_LEN,
};
use amt_wsman::secret::{SecretBytes, SecretString};
use base64::Engine as _;
use proptest::prelude::*;

const REALM: &str = "Digest:F3EB554784E729164447A89F60B641C5";

fn rules(pw: &str) -> Vec<PasswordRule> {
    match validate_admin_password(pw) {
        Ok(()) => Vec::new(),
        Err(PasswordError::Rules(rules)) => rules,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

// ---- encodings -------------------------------------------------------------------------------

#[test]
fn setup_password_hash_matches_independent_vector() {
    // md5("admin:Digest:F3EB554784E729164447A89F60B641C5:P@ssw0rd1")
    assert_eq!(
        setup_password_hash_hex(REALM, "P@ssw0rd1"),
        "34db01fd620dc58670325d2951881bfc"
    );
    // Empty password (used during remote configuration of some firmware).
    assert_eq!(
        setup_password_hash_hex(REALM, ""),
        "e221b4739eb682a855340533569a1e06"
    );
}

#[test]
fn digest_password_hex_matches_independent_vector() {
    assert_eq!(
        digest_password_hex("operator", REALM, "Sup3r$ecret!"),
        "984ce82ad31b2c82783f6aaf656dae18"
    );
    assert_eq!(
        digest_password_hex("admin", REALM, "P@ssw0rd1"),
        setup_password_hash_hex(REALM, "P@ssw0rd1")
    );
}

#[test]
fn acl_digest_password_matches_independent_vector() {
    assert_eq!(
        acl_digest_password_b64("admin", REALM, "P@ssw0rd1"),
        "NNsB/WINxYZwMl0pUYgb/A=="
    );
    assert_eq!(
        acl_digest_password_b64("operator", REALM, "Sup3r$ecret!"),
        "mEzoKtMbLIJ4P2qvZW2uGA=="
    );
}

#[test]
fn acl_encoding_is_the_raw_bytes_of_the_setup_hash() {
    let b64 = acl_digest_password_b64("admin", REALM, "P@ssw0rd1");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(raw.len(), 16);
    assert_eq!(
        hex::encode(raw),
        setup_password_hash_hex(REALM, "P@ssw0rd1")
    );
}

// ---- admin password rules --------------------------------------------------------------------

#[test]
fn valid_passwords_pass() {
    for pw in [
        "P@ssw0rd1",
        "Aa1!aaaa",
        "Aa1;Bb2$Cc3%Dd4^Ee5&Ff6*Gg7(Hh8)",
        "Aa1~_'<>&\\|`",
    ] {
        assert_eq!(validate_admin_password(pw), Ok(()), "{pw}");
    }
}

#[test]
fn password_too_short() {
    assert_eq!(rules("Aa1!aaa"), vec![PasswordRule::TooShort { len: 7 }]);
}

#[test]
fn password_too_long() {
    let pw = format!("Aa1!{}", "x".repeat(29));
    assert_eq!(rules(&pw), vec![PasswordRule::TooLong { len: 33 }]);
}

#[test]
fn password_non_ascii() {
    assert_eq!(rules("P@ssw0rdé"), vec![PasswordRule::NonAscii]);
    assert_eq!(rules("P@ssw0rd\t"), vec![PasswordRule::NonAscii]);
    assert_eq!(rules("P@ssw0rd\u{7f}"), vec![PasswordRule::NonAscii]);
}

#[test]
fn password_length_counts_characters_not_bytes() {
    // 8 characters, 9 bytes.
    assert_eq!(rules("P@ssw0ré"), vec![PasswordRule::NonAscii]);
}

#[test]
fn password_missing_upper() {
    assert_eq!(rules("p@ssw0rd1"), vec![PasswordRule::MissingUpper]);
}

#[test]
fn password_missing_lower() {
    assert_eq!(rules("P@SSW0RD1"), vec![PasswordRule::MissingLower]);
}

#[test]
fn password_missing_digit() {
    assert_eq!(rules("P@ssword!"), vec![PasswordRule::MissingDigit]);
}

#[test]
fn password_missing_symbol() {
    assert_eq!(rules("Passw0rd1"), vec![PasswordRule::MissingSymbol]);
}

#[test]
fn underscore_is_not_a_symbol() {
    assert_eq!(rules("Passw0rd_"), vec![PasswordRule::MissingSymbol]);
}

#[test]
fn password_forbidden_characters() {
    for c in [':', ',', '"', ' '] {
        let pw = format!("P@ss{c}w0rd");
        assert_eq!(rules(&pw), vec![PasswordRule::ForbiddenChar(c)], "{pw:?}");
    }
}

#[test]
fn forbidden_character_does_not_count_as_symbol() {
    assert_eq!(
        rules("Pass:w0rd"),
        vec![
            PasswordRule::MissingSymbol,
            PasswordRule::ForbiddenChar(':')
        ]
    );
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    assert_eq!(
        rules(""),
        vec![
            PasswordRule::TooShort { len: 0 },
            PasswordRule::MissingUpper,
            PasswordRule::MissingLower,
            PasswordRule::MissingDigit,
            PasswordRule::MissingSymbol,
        ]
    );
    assert_eq!(
        rules("a:b,c:é"),
        vec![
            PasswordRule::TooShort { len: 7 },
            PasswordRule::NonAscii,
            PasswordRule::MissingUpper,
            PasswordRule::MissingDigit,
            PasswordRule::MissingSymbol,
            PasswordRule::ForbiddenChar(':'),
            PasswordRule::ForbiddenChar(','),
        ]
    );
    assert_eq!(admin_password_problems("P@ssw0rd1"), vec![]);
}

#[test]
fn password_errors_do_not_contain_the_password() {
    let pw = "secretpassword";
    let err = validate_admin_password(pw).unwrap_err();
    assert!(!format!("{err}").contains(pw));
    assert!(!format!("{err:?}").contains(pw));
    assert!(format!("{err}").contains("needs an uppercase letter"));
}

// ---- user names ------------------------------------------------------------------------------

#[test]
fn digest_username_rules() {
    for ok in ["admin", "a", "support-user_016", "sixteen-chars-16"] {
        assert_eq!(validate_digest_username(ok), Ok(()), "{ok}");
    }
    assert_eq!(
        validate_digest_username(""),
        Err(PasswordError::Username(vec![UsernameRule::Empty]))
    );
    assert_eq!(
        validate_digest_username("seventeen-chars17"),
        Err(PasswordError::Username(vec![UsernameRule::TooLong {
            len: 17
        }]))
    );
    assert_eq!(
        validate_digest_username("jürgen"),
        Err(PasswordError::Username(vec![UsernameRule::NonAscii]))
    );
    assert_eq!(
        validate_digest_username("bad\nname"),
        Err(PasswordError::Username(vec![UsernameRule::ControlChar]))
    );
}

// ---- generation ------------------------------------------------------------------------------

#[test]
fn generation_is_deterministic() {
    let random: Vec<u8> = (0..=255).collect();
    let a = generate_admin_password(&random, 16).unwrap();
    let b = generate_admin_password(&random, 16).unwrap();
    assert!(a.ct_eq(&b));
    assert_eq!(a.expose().len(), 16);
    let c = generate_admin_password(&random[1..], 16).unwrap();
    assert!(!a.ct_eq(&c));
}

#[test]
fn generation_refuses_bad_lengths_and_short_randomness() {
    let random = vec![0u8; 1024];
    assert_eq!(
        generate_admin_password(&random, 7).unwrap_err(),
        PasswordError::InvalidLength { len: 7 }
    );
    assert_eq!(
        generate_admin_password(&random, 33).unwrap_err(),
        PasswordError::InvalidLength { len: 33 }
    );
    assert_eq!(
        generate_admin_password(&random[..random_bytes_needed(12) - 1], 12).unwrap_err(),
        PasswordError::NotEnoughRandom {
            needed: 96,
            got: 95
        }
    );
}

#[test]
fn all_zero_randomness_still_gives_a_valid_password() {
    let random = vec![0u8; random_bytes_needed(32)];
    for len in 8..=32 {
        let pw = generate_admin_password(&random, len).unwrap();
        assert_eq!(validate_admin_password(pw.expose()), Ok(()));
    }
}

proptest! {
    #[test]
    fn generated_passwords_always_pass_the_rules(
        random in prop::collection::vec(any::<u8>(), random_bytes_needed(32)..400),
        len in 8usize..=32,
    ) {
        let pw = generate_admin_password(&random, len);
        prop_assert!(pw.is_ok());
        let pw = pw.unwrap_or_default();
        prop_assert_eq!(pw.expose().chars().count(), len);
        prop_assert_eq!(validate_admin_password(pw.expose()), Ok(()));
        // Never a character that needs escaping in XML, headers, JSON or shells.
        prop_assert!(!pw.expose().contains(['_', '\'', '<', '>', '&', '\\', '`', '|', ' ']));
    }

    #[test]
    fn validation_never_panics(pw in "\\PC{0,64}|.{0,64}") {
        let problems = admin_password_problems(&pw);
        prop_assert_eq!(validate_admin_password(&pw).is_ok(), problems.is_empty());
        let _ = validate_digest_username(&pw);
    }
}

// ---- secrets ---------------------------------------------------------------------------------

#[test]
fn secret_debug_is_redacted() {
    let random: Vec<u8> = (0..=255u8).rev().collect();
    let pw = generate_admin_password(&random, DEFAULT_GENERATED_PASSWORD_LEN).unwrap();
    let plain = pw.expose().to_owned();

    #[derive(Debug)]
    #[allow(dead_code)]
    struct DeviceCredentials {
        user: String,
        password: SecretString,
        key: SecretBytes,
    }
    let creds = DeviceCredentials {
        user: "admin".into(),
        password: pw.clone(),
        key: SecretBytes::from(plain.as_bytes()),
    };
    for text in [
        format!("{pw:?}"),
        format!("{pw}"),
        format!("{creds:?}"),
        format!("{creds:#?}"),
    ] {
        assert!(!text.contains(&plain), "{text}");
        assert!(text.contains("[REDACTED]"), "{text}");
    }
    assert!(!format!("{:?}", creds.key).contains(&format!("{:?}", plain.as_bytes())));
}
