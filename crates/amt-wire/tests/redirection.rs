//! Redirection codec: byte layouts as amtterm and MeshCentral write them (AMT-PROTOCOLS.md
//! §4.1–4.3), round trips, streaming, and bad input. IDE-R layouts and ATAPI packets are in
//! `tests/redirection_ider.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_wire::redirection::*;
use amt_wire::Error;
use proptest::prelude::*;

#[test]
fn amtterm_sol_start_is_eight_bytes() {
    let m = Message::decode(b"\x10\x00\x00\x00SOL ").unwrap();
    let Message::StartSession(s) = m else {
        panic!("{m:?}")
    };
    assert_eq!(s.session_type().unwrap(), SessionType::Sol);
    assert_eq!(
        Message::StartSession(StartSession::new(SessionType::Kvm))
            .encode()
            .unwrap(),
        b"\x10\x01\x00\x00KVMR"
    );
}

#[test]
fn unknown_session_type_decodes_but_has_no_type() {
    let Message::StartSession(s) = Message::decode(b"\x10\x00\x00\x00ABCD").unwrap() else {
        panic!()
    };
    assert_eq!(s.session_type(), Err(Error::UnknownSessionType(*b"ABCD")));
}

#[test]
fn start_session_reply_is_thirteen_bytes_plus_oem() {
    let r = Message::StartSessionReply(StartSessionReply::new(SessionStatus::Success));
    let b = r.encode().unwrap();
    assert_eq!(b.len(), 13);
    assert_eq!(b[0], 0x11);
    let mut with_oem = b.clone();
    with_oem[12] = 2;
    with_oem.extend_from_slice(b"xy");
    let Message::StartSessionReply(d) = Message::decode(&with_oem).unwrap() else {
        panic!()
    };
    assert_eq!(d.oem, b"xy");
    assert_eq!(Message::frame_len(&b[..12]).unwrap(), None);
}

#[test]
fn amtterm_14_plain_auth_layout_is_decoded() {
    // amtterm 1.4 redir_auth: 13 00 00 00 01 <ulen+plen+2> 00 00 00 [ulen]user [plen]pass
    let mut b = vec![0x13, 0, 0, 0, 1, 5 + 8 + 2, 0, 0, 0, 5];
    b.extend_from_slice(b"admin");
    b.push(8);
    b.extend_from_slice(b"P@ssw0rd");
    let m = Message::decode(&b).unwrap();
    let Message::Authenticate(AuthenticateSession {
        request: AuthRequest::UserPassword { user, password },
    }) = &m
    else {
        panic!("{m:?}")
    };
    assert_eq!(user, "admin");
    assert_eq!(password.expose(), "P@ssw0rd");
    assert!(
        !format!("{m:?}").contains("P@ssw0rd"),
        "Debug leaks the password"
    );
    assert_eq!(m.encode().unwrap(), b);
}

#[test]
fn digest_step1_lengths_match_amtterm() {
    for (kind, extra) in [(AuthType::Digest, 8), (AuthType::DigestRfc2069, 7)] {
        let m = Message::Authenticate(AuthenticateSession {
            request: AuthRequest::Digest {
                kind,
                fields: DigestFields::step1("admin", kind),
            },
        });
        let b = m.encode().unwrap();
        let len = u32::from_le_bytes([b[5], b[6], b[7], b[8]]) as usize;
        assert_eq!(len, 5 + DIGEST_URI.len() + extra);
        assert_eq!(b.len(), 9 + len);
        assert_eq!(b[4], kind.value());
        let Message::Authenticate(AuthenticateSession {
            request: AuthRequest::Digest { fields, .. },
        }) = Message::decode(&b).unwrap()
        else {
            panic!()
        };
        assert!(fields.is_step1());
        assert_eq!(fields.uri, "/RedirectionService");
    }
}

#[test]
fn query_reply_lists_methods() {
    let b = [0x14, 0, 0, 0, 0, 3, 0, 0, 0, 1, 3, 4];
    let Message::AuthenticateReply(r) = Message::decode(&b).unwrap() else {
        panic!()
    };
    let AuthReplyData::Methods(m) = &r.data else {
        panic!()
    };
    assert!(m.offers(AuthType::Digest));
    assert_eq!(
        m.known().collect::<Vec<_>>(),
        [
            AuthType::UserPassword,
            AuthType::DigestRfc2069,
            AuthType::Digest
        ]
    );
}

#[test]
fn digest_challenge_round_trips() {
    let m = Message::AuthenticateReply(AuthenticateSessionReply {
        status: AuthStatus::Failure,
        auth_type: AuthType::Digest,
        data: AuthReplyData::Challenge {
            realm: "Digest:ABCD".into(),
            nonce: "0123456789abcdef0123456789abcdef".into(),
            qop: Some("auth".into()),
        },
    });
    assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
}

#[test]
fn amtterm_sol_start_settings() {
    let b = [
        0x20, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x03, 100, 0, 0, 0, 0x10, 0x27, 0, 0, 0x88, 0x13, 0, 0, 0,
        0,
    ];
    let Message::StartSol(s) = Message::decode(&b).unwrap() else {
        panic!()
    };
    assert_eq!(s.settings, SolSettings::AMTTERM);
    let reply = Message::StartSolReply(StartSolReply::new(SessionStatus::Success, 0, &s.settings));
    assert_eq!(reply.encode().unwrap().len(), 23);
}

#[test]
fn meshcentral_settings_message_is_decoded() {
    let b = [0x27, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0x1b, 0, 0, 0];
    assert_eq!(
        Message::decode(&b).unwrap(),
        Message::SolSettings(SolSettingsMessage {
            seq: 7,
            data: [0, 0, 0x1b, 0, 0, 0]
        })
    );
}

#[test]
fn sol_data_split_across_segments_is_parsed() {
    let m = Message::DataToHost(SolData {
        seq: 0,
        data: b"root\r".to_vec(),
    });
    let b = m.encode().unwrap();
    let mut d = RedirectionDecoder::new();
    for byte in &b {
        assert_eq!(d.next_message().unwrap(), None);
        d.push(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(d.next_message().unwrap(), Some(m));
    assert_eq!(d.buffered(), 0);
}

#[test]
fn unknown_command_is_a_typed_error() {
    assert_eq!(
        Message::decode_prefix(b"\x01GET / HTTP/1.1\r\n"),
        Err(Error::UnknownRedirectionCommand(1))
    );
    // `G` is 0x47 (IDE-R ResetOccurredResponse): an HTTP request frames as IDE-R messages,
    // which the session rejects because none of them may come first.
    assert!(matches!(
        Message::decode_prefix(b"GET / HTTP/1.1\r\n"),
        Ok(Some((
            Message::Ider(IderMessage::ResetOccurredResponse(_)),
            8
        )))
    ));
    let mut d = RedirectionDecoder::new();
    d.push(&[0x99]).unwrap();
    assert!(d.next_message().is_err());
    assert!(d.push(&[0x10]).is_err(), "a failed decoder stays failed");
}

#[test]
fn oversized_auth_data_is_refused_before_buffering() {
    let b = [0x13, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        Message::frame_len(&b),
        Err(Error::RedirectionFieldTooLong { .. })
    ));
}

#[test]
fn decoder_buffer_is_bounded() {
    let mut d = RedirectionDecoder::new();
    let chunk = vec![0x28u8; 60_000];
    let mut result = Ok(());
    for _ in 0..4 {
        result = d.push(&chunk);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(Error::RedirectionBufferFull { .. })));
}

#[test]
fn malformed_digest_data_is_refused() {
    // Type 4 with a string length running past the end.
    let b = [0x13, 0, 0, 0, 4, 2, 0, 0, 0, 9, b'a'];
    assert!(matches!(
        Message::decode(&b),
        Err(Error::MalformedAuthData { .. })
    ));
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

mod ider_strategies;

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => arb_session_or_sol_message(),
        1 => ider_strategies::arb_ider().prop_map(Message::Ider),
    ]
}

fn arb_session_or_sol_message() -> impl Strategy<Value = Message> {
    let seq = any::<u32>();
    let status = proptest::sample::select(SessionStatus::ALL.to_vec());
    let digest = (
        proptest::sample::select(vec![AuthType::Digest, AuthType::DigestRfc2069]),
        (text(), text(), text(), text()),
        (text(), text(), text(), proptest::option::of(text())),
    )
        .prop_map(
            |(kind, (user, realm, nonce, uri), (cnonce, nc, response, qop))| {
                Message::Authenticate(AuthenticateSession {
                    request: AuthRequest::Digest {
                        kind,
                        fields: DigestFields {
                            user,
                            realm,
                            nonce,
                            uri,
                            cnonce,
                            nc,
                            response,
                            qop,
                        },
                    },
                })
            },
        );
    prop_oneof![
        (any::<u8>(), any::<[u8; 4]>())
            .prop_map(|(flags, tag)| Message::StartSession(StartSession { flags, tag })),
        (
            status.clone(),
            any::<[u8; 8]>(),
            proptest::collection::vec(any::<u8>(), 0..255)
        )
            .prop_map(|(status, info, oem)| Message::StartSessionReply(
                StartSessionReply { status, info, oem }
            )),
        Just(Message::EndSession),
        Just(Message::Authenticate(AuthenticateSession {
            request: AuthRequest::Query
        })),
        (text(), text()).prop_map(|(user, p)| Message::Authenticate(AuthenticateSession {
            request: AuthRequest::UserPassword {
                user,
                password: PlainPassword::new(p)
            }
        })),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|t| Message::Authenticate(
            AuthenticateSession {
                request: AuthRequest::Kerberos(t)
            }
        )),
        digest,
        proptest::collection::vec(1u8..5, 0..6).prop_map(|m| Message::AuthenticateReply(
            AuthenticateSessionReply {
                status: AuthStatus::Success,
                auth_type: AuthType::Query,
                data: AuthReplyData::Methods(AuthMethods(m)),
            }
        )),
        (text(), text(), proptest::option::of(text())).prop_map(|(realm, nonce, qop)| {
            Message::AuthenticateReply(AuthenticateSessionReply {
                status: AuthStatus::Failure,
                auth_type: AuthType::Digest,
                data: AuthReplyData::Challenge { realm, nonce, qop },
            })
        }),
        proptest::sample::select(AuthStatus::ALL.to_vec()).prop_map(|status| {
            Message::AuthenticateReply(AuthenticateSessionReply {
                status,
                auth_type: AuthType::UserPassword,
                data: AuthReplyData::None,
            })
        }),
        (seq, any::<[u16; 6]>(), any::<u32>()).prop_map(|(seq, v, reserved)| {
            Message::StartSol(StartSol {
                seq,
                settings: SolSettings {
                    max_tx_buffer: v[0],
                    tx_timeout: v[1],
                    tx_overflow_timeout: v[2],
                    host_session_rx_timeout: v[3],
                    host_fifo_rx_flush_timeout: v[4],
                    heartbeat_interval: v[5],
                },
                reserved,
            })
        }),
        (status, seq, any::<[u8; 15]>()).prop_map(|(status, seq, payload)| {
            Message::StartSolReply(StartSolReply {
                status,
                seq,
                payload,
            })
        }),
        seq.prop_map(Message::EndSol),
        seq.prop_map(Message::EndSolReply),
        seq.prop_map(Message::KeepAlivePing),
        seq.prop_map(Message::KeepAlivePong),
        seq.prop_map(Message::Heartbeat),
        (seq, any::<[u8; 6]>())
            .prop_map(|(seq, data)| Message::SolSettings(SolSettingsMessage { seq, data })),
        (seq, proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(seq, data)| Message::DataToHost(SolData { seq, data })),
        (seq, proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(seq, data)| Message::DataFromHost(SolData { seq, data })),
        (seq, any::<u8>(), any::<u8>()).prop_map(|(seq, control, status)| {
            Message::ControlsFromHost(ControlsFromHost {
                seq,
                control,
                status,
            })
        }),
    ]
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(m in arb_message()) {
        let b = m.encode().unwrap();
        prop_assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn any_segmentation_yields_the_same_messages(
        ms in proptest::collection::vec(arb_message(), 1..6),
        cuts in proptest::collection::vec(1usize..40, 1..50),
    ) {
        let mut stream = Vec::new();
        for m in &ms {
            m.encode_into(&mut stream).unwrap();
        }
        let mut d = RedirectionDecoder::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut cuts = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cuts.next().unwrap()).min(rest.len());
            d.push(&rest[..n]).unwrap();
            rest = &rest[n..];
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, ms);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(Some((m, len))) = Message::decode_prefix(&b) {
            prop_assert!(len <= b.len());
            // Whatever decodes re-encodes to a message that decodes to the same value.
            let again = m.encode().unwrap();
            prop_assert_eq!(Message::decode(&again).unwrap(), m);
        }
        let mut d = RedirectionDecoder::new();
        if d.push(&b).is_ok() {
            while let Ok(Some(_)) = d.next_message() {}
        }
    }
}
