//! The hello codec against recorded real-device hellos, split delivery and malformed input.
//!
//! The recorded hellos are read in place from ../shared/fixtures/hello (captured from real AMT
//! devices, published as sample data in MeshCentral's amtprovisioningserver.js; see the README
//! there). Tests that need them skip with a message when the folder is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use amt_wire::hello::{
    diagnostic_http_response, HashAlgorithm, Hello, HelloAssembler, HelloBody, HelloError,
    HelloVersion, Progress, RootHash, RootHashList, TrailingPolicy, Uuid16, DIAGNOSTIC_PAGE_TEXT,
    MAX_HELLO_LEN, MAX_HTTP_HEAD_LEN, MAX_ROOT_HASHES,
};

const UUID_TEXT: &str = "939b524b-13d4-1d18-e487-1c697a6b7a2b";
const FIRST_HASH: &str = "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4";
const LAST_HASH: &str = "2cabeafe37d06ca22aba7391c0033d25982952c453647349763a3ab5ad6ccf69";

fn sample_hashes(n: usize) -> RootHashList {
    let algs = [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
    ];
    let v: Vec<RootHash> = (0..n)
        .map(|i| {
            let alg = algs[i % 3];
            let bytes: Vec<u8> = (0..alg.digest_len()).map(|j| (i * 7 + j) as u8).collect();
            RootHash::new(alg, &bytes).unwrap()
        })
        .collect();
    RootHashList::try_from(v).unwrap()
}

fn uuid() -> Uuid16 {
    UUID_TEXT.parse().unwrap()
}

fn pki(n: usize) -> Hello {
    Hello::pki(true, 3, uuid(), sample_hashes(n))
}

/// Feeds `chunks` to a fresh assembler and returns the final verdict.
fn assemble(chunks: &[&[u8]]) -> Result<Hello, HelloError> {
    let mut a = HelloAssembler::new();
    let mut reported = None;
    for c in chunks {
        match a.push(c)? {
            Progress::Complete(h) => {
                assert!(reported.is_none(), "Complete reported twice");
                reported = Some(h);
            }
            Progress::NeedMore => assert!(reported.is_none(), "NeedMore after Complete"),
            Progress::Ignored => assert!(c.is_empty(), "non-empty segment ignored"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let finished = a.finish();
    if let (Some(r), Ok(f)) = (&reported, &finished) {
        assert_eq!(r, f, "finish disagrees with the reported hello");
    }
    finished
}

// ---------------------------------------------------------------- recorded hellos

#[test]
fn recorded_hellos_decode() {
    for (name, bytes, count) in common::recorded() {
        let h = Hello::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(h.admin_credentials_set, "{name}");
        assert_eq!(h.version(), HelloVersion::Pki, "{name}");
        assert_eq!(h.retry_count, 0, "{name}");
        assert!(h.retry_count_is_documented());
        assert_eq!(h.uuid.to_string(), UUID_TEXT, "{name}");
        assert_eq!(h.pid(), None);
        let hashes = h.hashes();
        assert_eq!(hashes.len(), count, "{name}");
        assert!(hashes
            .iter()
            .all(|x| x.algorithm() == HashAlgorithm::Sha256 && x.as_bytes().len() == 32));
        assert_eq!(hashes[0].to_string(), FIRST_HASH, "{name}");
        assert_eq!(hashes[count - 1].to_string(), LAST_HASH, "{name}");
        assert_eq!(bytes.len(), 25 + count * 34, "{name}");
    }
}

#[test]
fn recorded_hellos_reencode_byte_for_byte() {
    for (name, bytes, _) in common::recorded() {
        let h = Hello::decode(&bytes).unwrap();
        assert_eq!(h.encoded_len(), bytes.len(), "{name}");
        assert_eq!(h.encode(), bytes, "{name}");
    }
}

#[test]
fn recorded_hello_with_24_hashes_adds_one_root() {
    let rec = common::recorded();
    let [(_, a, 23), (_, b, 24)] = rec.as_slice() else {
        return;
    };
    let (a, b) = (Hello::decode(a).unwrap(), Hello::decode(b).unwrap());
    let extra: Vec<_> = b
        .hashes()
        .iter()
        .filter(|h| !a.hashes().contains(h))
        .collect();
    assert_eq!(extra.len(), 1);
    assert_eq!(
        extra[0].to_string(),
        "a267c480b0b29056eb5e8aa7c93add804f5a7df516e969e77bcacafe8d456079"
    );
}

// ---------------------------------------------------------------- split delivery

#[test]
fn hello_split_across_segments_is_parsed() {
    let mut inputs = common::recorded()
        .into_iter()
        .map(|(_, b, _)| b)
        .collect::<Vec<_>>();
    inputs.push(pki(7).encode());
    inputs.push(Hello::psk(false, 14, uuid(), *b"PID-1234").encode());
    for bytes in inputs {
        let want = Hello::decode(&bytes).unwrap();
        // Every split point into two segments (including empty first/last segments).
        for i in 0..=bytes.len() {
            let (x, y) = bytes.split_at(i);
            assert_eq!(assemble(&[x, y]), Ok(want.clone()), "split at {i}");
        }
        // Every split into three segments around a moving window.
        for i in 0..bytes.len() {
            let j = (i + 33).min(bytes.len());
            assert_eq!(
                assemble(&[&bytes[..i], &bytes[i..j], &bytes[j..]]),
                Ok(want.clone()),
                "split at {i}/{j}"
            );
        }
        // One byte per segment.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(assemble(&singles), Ok(want.clone()));
    }
}

#[test]
fn assembler_reports_complete_as_soon_as_the_last_byte_arrives() {
    let bytes = pki(2).encode();
    let mut a = HelloAssembler::new();
    let (head, last) = bytes.split_at(bytes.len() - 1);
    assert_eq!(a.push(head), Ok(Progress::NeedMore));
    assert_eq!(a.push(last), Ok(Progress::Complete(pki(2))));
    assert_eq!(a.push(&[]), Ok(Progress::Ignored));
    assert_eq!(a.bytes_received(), bytes.len());
    assert_eq!(a.finish(), Ok(pki(2)));
}

// ---------------------------------------------------------------- rejected input

fn header(admin: u16, version: u16, retry: u32, uuid: [u8; 16]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&admin.to_le_bytes());
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&retry.to_le_bytes());
    v.extend_from_slice(&uuid);
    v
}

const GOOD_UUID: [u8; 16] = [
    0x4b, 0x52, 0x9b, 0x93, 0xd4, 0x13, 0x18, 0x1d, 0xe4, 0x87, 0x1c, 0x69, 0x7a, 0x6b, 0x7a, 0x2b,
];

#[test]
fn hello_rejects_truncated_input() {
    let full = pki(3).encode();
    for cut in 1..full.len() {
        let err = Hello::decode(&full[..cut]).unwrap_err();
        let HelloError::Truncated { needed, got } = err else {
            panic!("cut {cut}: {err:?}");
        };
        assert_eq!(got, cut);
        assert!(needed > cut && needed <= full.len(), "cut {cut}: {needed}");
        assert_eq!(assemble(&[&full[..cut]]), Err(err), "assembler, cut {cut}");
    }
    let psk = Hello::psk(true, 0, uuid(), [1; 8]).encode();
    assert_eq!(
        Hello::decode(&psk[..30]),
        Err(HelloError::Truncated {
            needed: 32,
            got: 30
        })
    );
    assert_eq!(Hello::decode(&[]), Err(HelloError::Empty));
    assert_eq!(assemble(&[]), Err(HelloError::Empty));
    assert_eq!(assemble(&[&[], &[]]), Err(HelloError::Empty));
}

#[test]
fn hello_rejects_oversized_input() {
    let big = vec![0u8; MAX_HELLO_LEN + 1];
    assert_eq!(
        Hello::decode(&big),
        Err(HelloError::TooLong {
            len: MAX_HELLO_LEN + 1,
            max: MAX_HELLO_LEN
        })
    );
    // The largest valid hello is exactly the bound.
    let sha384: Vec<RootHash> = (0..MAX_ROOT_HASHES)
        .map(|i| RootHash::Sha384([i as u8; 48]))
        .collect();
    let max = Hello::pki(false, 0, uuid(), sha384.try_into().unwrap());
    let bytes = max.encode();
    assert_eq!(bytes.len(), MAX_HELLO_LEN);
    assert_eq!(Hello::decode(&bytes), Ok(max.clone()));
    assert_eq!(assemble(&[&bytes]), Ok(max));
}

#[test]
fn hello_rejects_trailing_bytes_unless_tolerated() {
    let h = pki(1);
    let mut bytes = h.encode();
    let len = bytes.len();
    bytes.extend_from_slice(b"\0\0\0");
    let err = HelloError::TrailingBytes {
        hello_len: len,
        extra: 3,
    };
    assert_eq!(Hello::decode(&bytes), Err(err.clone()));
    assert_eq!(Hello::decode_prefix(&bytes), Ok((h.clone(), len)));
    // In one segment, or after the hello was reported.
    assert_eq!(assemble(&[&bytes]), Err(err.clone()));
    let mut a = HelloAssembler::new();
    assert_eq!(a.push(&bytes[..len]), Ok(Progress::Complete(h.clone())));
    assert_eq!(
        a.push(&bytes[len..]),
        Err(HelloError::TrailingBytes {
            hello_len: len,
            extra: 3
        })
    );
    assert_eq!(a.finish(), Err(err));

    let mut t = HelloAssembler::with_trailing_policy(TrailingPolicy::Tolerate);
    assert_eq!(t.push(&bytes), Ok(Progress::Complete(h.clone())));
    assert_eq!(t.push(b"more"), Ok(Progress::Ignored));
    assert_eq!(t.trailing_bytes(), 7);
    // Still bounded: a flood after the hello fails once the total passes MAX_HELLO_LEN.
    let flood = vec![0u8; MAX_HELLO_LEN];
    assert_eq!(
        t.push(&flood),
        Err(HelloError::TooLong {
            len: len + 7 + MAX_HELLO_LEN,
            max: MAX_HELLO_LEN
        })
    );
}

#[test]
fn hello_rejects_zero_uuid() {
    for bogus in [[0u8; 16], [0xFF; 16]] {
        let mut bytes = header(1, 3, 0, bogus);
        bytes.push(0);
        let want = HelloError::BogusUuid(Uuid16::from_wire_bytes(bogus));
        assert_eq!(Hello::decode(&bytes), Err(want.clone()));
        // Detected as soon as the UUID is complete, before the rest arrives.
        let mut a = HelloAssembler::new();
        assert_eq!(a.push(&bytes[..24]), Err(want));
    }
}

#[test]
fn hello_rejects_wrong_hash_length() {
    for (alg, size) in [(1u8, 32u8), (2, 20), (3, 32), (2, 0), (2, 255)] {
        let mut bytes = header(0, 3, 0, GOOD_UUID);
        bytes.extend_from_slice(&[2, 2, 32]);
        bytes.extend_from_slice(&[0xAB; 32]);
        bytes.extend_from_slice(&[alg, size]);
        bytes.extend(std::iter::repeat_n(0xCD, usize::from(size)));
        let algorithm = HashAlgorithm::try_from(alg).unwrap();
        let want = HelloError::HashLengthMismatch {
            index: 1,
            algorithm,
            expected: algorithm.digest_len(),
            got: usize::from(size),
        };
        assert_eq!(Hello::decode(&bytes), Err(want.clone()), "{alg}/{size}");
        // Detected from the entry header alone.
        assert_eq!(assemble(&[&bytes[..25 + 34 + 2]]), Err(want));
    }
    assert!(matches!(
        RootHash::new(HashAlgorithm::Sha1, &[0; 32]),
        Err(HelloError::HashLengthMismatch {
            expected: 20,
            got: 32,
            ..
        })
    ));
}

#[test]
fn hello_rejects_unknown_version() {
    for v in [0u16, 1, 4, 0x0300, u16::MAX] {
        let bytes = header(1, v, 0, GOOD_UUID);
        assert_eq!(Hello::decode(&bytes), Err(HelloError::UnknownVersion(v)));
        assert_eq!(
            assemble(&[&bytes[..4]]),
            Err(HelloError::UnknownVersion(v)),
            "detected after 4 bytes"
        );
    }
    assert_eq!(HelloVersion::try_from(2), Ok(HelloVersion::Psk));
    assert_eq!(u16::from(HelloVersion::Pki), 3);
}

#[test]
fn hello_rejects_unknown_hash_type() {
    for t in [0u8, 4, 0xFF] {
        let mut bytes = header(1, 3, 0, GOOD_UUID);
        bytes.extend_from_slice(&[1, t, 32]);
        bytes.extend_from_slice(&[0; 32]);
        let want = HelloError::UnknownHashAlgorithm { index: 0, value: t };
        assert_eq!(Hello::decode(&bytes), Err(want.clone()));
        assert_eq!(assemble(&[&bytes[..26]]), Err(want));
    }
}

#[test]
fn hello_rejects_admin_flag_above_one() {
    for flag in [2u16, 0x0100, u16::MAX] {
        let bytes = header(flag, 3, 0, GOOD_UUID);
        assert_eq!(
            Hello::decode(&bytes),
            Err(HelloError::InvalidAdminFlag(flag))
        );
        assert_eq!(
            assemble(&[&bytes[..2]]),
            Err(HelloError::InvalidAdminFlag(flag))
        );
    }
}

#[test]
fn hello_hash_count_must_match_data() {
    // Count says 3, two entries present: truncated, not silently accepted.
    let mut bytes = pki(3).encode();
    let two = pki(2).encode().len();
    bytes.truncate(two);
    assert!(matches!(
        Hello::decode(&bytes),
        Err(HelloError::Truncated { .. })
    ));
    // Count says 1, two entries present: trailing bytes.
    let mut bytes = pki(2).encode();
    bytes[24] = 1;
    assert!(matches!(
        Hello::decode(&bytes),
        Err(HelloError::TrailingBytes { .. })
    ));
}

#[test]
fn retry_count_above_fourteen_is_accepted_and_flagged() {
    for retry in [15u32, 1000, u32::MAX] {
        let h = Hello::pki(false, retry, uuid(), sample_hashes(1));
        let back = Hello::decode(&h.encode()).unwrap();
        assert_eq!(back.retry_count, retry);
        assert!(!back.retry_count_is_documented());
    }
    assert!(Hello::psk(false, 14, uuid(), [0; 8]).retry_count_is_documented());
}

#[test]
fn psk_hello_round_trips() {
    let h = Hello::psk(true, 2, uuid(), *b"\x01\x02\x03\x04\x05\x06\x07\x08");
    let bytes = h.encode();
    assert_eq!(bytes.len(), 32);
    assert_eq!(&bytes[..4], &[1, 0, 2, 0]);
    assert_eq!(&bytes[4..8], &[2, 0, 0, 0]);
    assert_eq!(&bytes[8..24], &GOOD_UUID);
    let back = Hello::decode(&bytes).unwrap();
    assert_eq!(back, h);
    assert_eq!(back.version(), HelloVersion::Psk);
    assert_eq!(back.pid(), Some(b"\x01\x02\x03\x04\x05\x06\x07\x08"));
    assert!(back.hashes().is_empty());
    assert!(matches!(back.body, HelloBody::Psk { .. }));
}

#[test]
fn pki_hello_with_no_hashes_is_well_formed() {
    let h = Hello::pki(false, 0, uuid(), RootHashList::new());
    assert_eq!(h.encode().len(), 25);
    assert_eq!(Hello::decode(&h.encode()), Ok(h));
}

#[test]
fn root_hash_list_is_bounded() {
    let hash = RootHash::Sha1([0; 20]);
    let too_many = vec![hash.clone(); MAX_ROOT_HASHES + 1];
    assert_eq!(
        RootHashList::try_from(too_many),
        Err(HelloError::TooManyHashes { count: 256 })
    );
    let mut list = RootHashList::try_from(vec![hash.clone(); MAX_ROOT_HASHES]).unwrap();
    assert_eq!(
        list.push(hash),
        Err(HelloError::TooManyHashes { count: 256 })
    );
}

// ---------------------------------------------------------------- HTTP on the hello port

#[test]
fn http_get_on_hello_port_is_reported() {
    let req = b"GET /status HTTP/1.1\r\nHost: sca:9971\r\nUser-Agent: curl/8\r\n\r\n";
    for i in 0..=req.len() {
        let mut a = HelloAssembler::new();
        let mut got = Vec::new();
        for part in [&req[..i], &req[i..]] {
            let p = a.push(part).unwrap();
            if p != Progress::NeedMore && p != Progress::Ignored {
                got.push(p);
            }
        }
        assert_eq!(got.len(), 1, "split {i}: {got:?}");
        let Progress::HttpGet(g) = &got[0] else {
            panic!("split {i}: {got:?}");
        };
        assert_eq!(g.request_line, "GET /status HTTP/1.1");
        assert_eq!(g.target(), "/status");
        assert!(a.is_http());
        assert_eq!(a.push(b"body"), Ok(Progress::Ignored));
        assert_eq!(
            a.finish(),
            Err(HelloError::HttpRequest {
                head_complete: true
            })
        );
    }
    // Bare line feeds (netcat, hand-typed requests) end the head too; control bytes are masked.
    let mut a = HelloAssembler::new();
    let Ok(Progress::HttpGet(g)) = a.push(b"GET /\x1b[2J\n\n") else {
        panic!()
    };
    assert_eq!(g.request_line, "GET /?[2J");
}

#[test]
fn http_request_head_is_bounded() {
    let mut a = HelloAssembler::new();
    assert_eq!(a.push(b"GET / HTTP/1.1\r\n"), Ok(Progress::NeedMore));
    let filler = vec![b'x'; MAX_HTTP_HEAD_LEN];
    assert_eq!(
        a.push(&filler),
        Err(HelloError::HttpHeadTooLong {
            max: MAX_HTTP_HEAD_LEN
        })
    );
    let mut b = HelloAssembler::new();
    assert_eq!(b.push(b"GET / HT"), Ok(Progress::NeedMore));
    assert_eq!(
        b.finish(),
        Err(HelloError::HttpRequest {
            head_complete: false
        })
    );
}

#[test]
fn diagnostic_response_is_well_formed_http() {
    let r = diagnostic_http_response(DIAGNOSTIC_PAGE_TEXT);
    let text = String::from_utf8(r).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    assert!(head.contains("Connection: close"));
    assert_eq!(body, DIAGNOSTIC_PAGE_TEXT);
}

#[test]
fn errors_repeat_after_failure() {
    let mut a = HelloAssembler::new();
    let e = a.push(&[9, 0]).unwrap_err();
    assert_eq!(e, HelloError::InvalidAdminFlag(9));
    assert_eq!(a.push(&pki(1).encode()), Err(e.clone()));
    assert_eq!(a.finish(), Err(e));
}
