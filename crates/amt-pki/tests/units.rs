//! Small pieces without openssl: PEM, serials, hashes, names, settings.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use amt_pki::profile::{validate_crl_url, validate_fqdn, validate_uuid};
use amt_pki::{CaRole, CaSettings, CertHash, HashAlgorithm, PkiError, Serial};

#[test]
fn pem_blocks_round_trip_in_order_and_ignore_text_around_them() {
    let text = format!(
        "Bag Attributes\n{}subject=CN = x\n{}",
        amt_pki::pem::encode("CERTIFICATE", &[1, 2, 3]),
        amt_pki::pem::encode("PRIVATE KEY", &[4; 100])
    );
    let blocks = amt_pki::pem::blocks(&text).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].label, "CERTIFICATE");
    assert_eq!(blocks[0].der, vec![1, 2, 3]);
    assert_eq!(blocks[1].der, vec![4; 100]);
    assert!(amt_pki::pem::blocks("-----BEGIN X-----\nAAAA\n").is_err());
    assert!(amt_pki::pem::blocks("-----BEGIN X-----\n!!!!\n-----END X-----\n").is_err());
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        amt_pki::pem::blocks(legacy),
        Err(PkiError::InvalidInput { .. })
    ));
}

#[test]
fn serials_drop_sign_padding_and_encode_for_addcrl() {
    let s = Serial::from_hex("00:8F:01").unwrap();
    assert_eq!(s.as_bytes(), &[0x8f, 0x01]);
    assert_eq!(s.to_hex(), "8F01");
    assert_eq!(s.to_base64(), "jwE=");
    assert_eq!(Serial::from_hex("abc").unwrap().to_hex(), "0ABC");
    assert!(Serial::from_hex("zz").is_err());
    assert!(Serial::from_hex(&"11".repeat(21)).is_err());
    let mut rng = rand::rng();
    for _ in 0..100 {
        let r = Serial::random(&mut rng);
        assert_eq!(r.as_bytes().len(), 16);
        assert!(r.as_bytes()[0] > 0 && r.as_bytes()[0] < 0x80);
    }
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, "\"8F01\"");
    assert_eq!(serde_json::from_str::<Serial>(&json).unwrap(), s);
}

#[test]
fn hashes_take_their_algorithm_from_their_length() {
    assert_eq!(
        CertHash::from_hex(&"ab".repeat(20)).unwrap().algorithm(),
        HashAlgorithm::Sha1
    );
    assert_eq!(
        CertHash::from_hex(&"AB:".repeat(32)).unwrap().algorithm(),
        HashAlgorithm::Sha256
    );
    assert_eq!(
        CertHash::from_hex(&"ab".repeat(48)).unwrap().algorithm(),
        HashAlgorithm::Sha384
    );
    assert!(CertHash::from_hex("abcd").is_err());
    assert!(CertHash::from_hex(&"zz".repeat(32)).is_err());
    assert!(matches!(
        CertHash::new(HashAlgorithm::Sha256, vec![0; 20]),
        Err(PkiError::BadHashLength {
            expected: 32,
            got: 20,
            ..
        })
    ));
    assert_eq!(HashAlgorithm::try_from(2), Ok(HashAlgorithm::Sha256));
    assert_eq!(HashAlgorithm::try_from(9), Err(9));
}

#[test]
fn names_and_settings_are_checked() {
    assert!(validate_fqdn("amt-dev01.lab.example", false).is_ok());
    assert!(validate_fqdn("amt-dev01.lab.example.", false).is_ok());
    assert!(validate_fqdn("*.lab.example", true).is_ok());
    assert!(validate_fqdn(&format!("{}.example", "a".repeat(64)), false).is_err());
    assert!(validate_fqdn("", false).is_err());
    assert!(validate_fqdn("a..b", false).is_err());
    assert!(validate_fqdn("dev_1.lab", false).is_err());
    assert!(validate_uuid("4B529B93-D413-181D-E487-1C697A6B7A2B").is_ok());
    assert!(validate_uuid("4b529b93d413181de4871c697a6b7a2b").is_err());
    assert!(validate_crl_url("http://h:8080/crl").is_ok());
    assert!(validate_crl_url("https://h/crl").is_err());
    let bad = CaSettings {
        key_bits: 1024,
        ..CaSettings::default()
    };
    assert_eq!(
        bad.validate().unwrap_err(),
        PkiError::KeyTooSmall {
            bits: 1024,
            min: 2048
        }
    );
    let s = CaSettings {
        crl_base_url: Some("http://h/crl/".into()),
        ..CaSettings::default()
    };
    assert_eq!(
        s.crl_url(CaRole::Issuing).as_deref(),
        Some("http://h/crl/issuing.crl")
    );
    assert_eq!("root".parse::<CaRole>().unwrap(), CaRole::Root);
    assert!("middle".parse::<CaRole>().is_err());
}
