//! The WS-Man transport over plain HTTP against an in-test AMT-like server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use amtd_infra::transport::{
    DeviceEndpoint, Malformed, TransportConfig, TransportError, WsmanConnection,
};
use common::{echo_body, Action, Options, Server, PASSWORD, USER};

const ENVELOPE: &[u8] =
    b"<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\"><Body/></Envelope>";

fn connect(server: &Server, password: &str, config: TransportConfig) -> WsmanConnection {
    let endpoint = DeviceEndpoint::http("127.0.0.1").with_port(server.port());
    WsmanConnection::new(endpoint, USER, password.into(), config).unwrap()
}

fn quick_config() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    }
}

#[tokio::test]
async fn digest_challenge_is_answered_then_request_succeeds() {
    let server = Server::echo().await;
    let conn = connect(&server, PASSWORD, quick_config());

    let response = conn.post(ENVELOPE).await.unwrap();

    assert_eq!(response.status, 200);
    assert_eq!(response.body, echo_body(ENVELOPE));
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "one bare request, one with credentials");
    assert!(seen[0].authorization.is_none());
    let auth = seen[1].authorization.as_deref().unwrap();
    assert!(auth.starts_with("Digest "));
    assert!(auth.contains("uri=\"/wsman\""));
    assert_eq!(seen[1].nc().as_deref(), Some("00000001"));
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/wsman");
        assert_eq!(
            request.host.as_deref(),
            Some(format!("127.0.0.1:{}", server.port()).as_str())
        );
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/soap+xml; charset=utf-8")
        );
        assert_eq!(request.transfer_encoding, None, "never chunked on send");
        assert_eq!(request.body, ENVELOPE);
    }
    assert_eq!(
        server.connection_count(),
        1,
        "the 401 kept the connection alive"
    );
}

#[tokio::test]
async fn second_request_is_authenticated_preemptively_with_next_nc() {
    let server = Server::echo().await;
    let conn = connect(&server, PASSWORD, quick_config());

    conn.post(b"one").await.unwrap();
    let response = conn.post(b"two").await.unwrap();

    assert_eq!(response.body, echo_body(b"two"));
    let seen = server.requests();
    assert_eq!(seen.len(), 3, "no second challenge round trip");
    assert!(seen[2].authorization.is_some());
    assert_eq!(seen[2].nc().as_deref(), Some("00000002"));
    assert_eq!(
        server.connection_count(),
        1,
        "keep-alive reused the connection"
    );
}

#[tokio::test]
async fn stale_nonce_is_retried_once_and_succeeds() {
    let server = Server::echo().await;
    // The device forgets its nonces right before checking our credentials: it answers the
    // correct response with a stale=true challenge.
    server.forget_nonces_before_request(2);
    let conn = connect(&server, PASSWORD, quick_config());

    let response = conn.post(ENVELOPE).await.unwrap();

    assert_eq!(response.status, 200);
    let seen = server.requests();
    assert_eq!(seen.len(), 3, "bare, stale, fresh");
    assert_eq!(
        seen[2].nc().as_deref(),
        Some("00000001"),
        "nc restarts on the new nonce"
    );
}

#[tokio::test]
async fn stale_nonce_on_preemptive_request_is_retried() {
    let server = Server::echo().await;
    let conn = connect(&server, PASSWORD, quick_config());
    conn.post(b"one").await.unwrap();
    server.forget_nonces_before_request(3);

    let response = conn.post(b"two").await.unwrap();

    assert_eq!(response.body, echo_body(b"two"));
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn wrong_password_fails_after_exactly_one_retry() {
    let server = Server::echo().await;
    let conn = connect(&server, "not-the-password", quick_config());

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(error, TransportError::AuthFailed { attempts: 2 }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(
        server.request_count(),
        2,
        "one bare request and one retry, no more"
    );

    // The next call starts over and again costs exactly two requests.
    let again = conn.post(ENVELOPE).await.unwrap_err();
    assert!(
        matches!(again, TransportError::AuthFailed { .. }),
        "{again:?}"
    );
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn auth_error_message_never_contains_the_password() {
    let server = Server::echo().await;
    let conn = connect(&server, "Hunter2-secret", quick_config());
    let error = conn.post(ENVELOPE).await.unwrap_err();
    let text = format!("{error} {error:?} {conn:?}");
    assert!(!text.contains("Hunter2-secret"), "{text}");
}

#[tokio::test]
async fn unauthorized_without_digest_challenge_is_reported() {
    let options = Options {
        auth: None,
        ..Options::default()
    };
    let server = Server::start(options, |_| Action::Raw {
        bytes:
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        close: false,
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(error, TransportError::AuthChallenge { source: None }),
        "{error:?}"
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn soap_fault_with_http_500_is_a_response_not_an_error() {
    let server = Server::start(Options::default(), |_| Action::Reply {
        status: 500,
        body: b"<Fault/>".to_vec(),
        close: false,
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    let response = conn.post(ENVELOPE).await.unwrap();

    assert_eq!(response.status, 500);
    assert!(!response.is_success());
    assert_eq!(response.body, b"<Fault/>");
}

#[tokio::test]
async fn connection_close_after_every_response_still_serves_consecutive_requests() {
    let options = Options {
        close_after_each: true,
        ..Options::default()
    };
    let server = Server::start(options, |seen| Action::ok(echo_body(&seen.body))).await;
    let conn = connect(&server, PASSWORD, quick_config());

    for i in 0..3 {
        let body = format!("request {i}");
        let response = conn.post(body.as_bytes()).await.unwrap();
        assert_eq!(response.body, echo_body(body.as_bytes()));
    }

    // 401 + 200, then two preemptive requests: every one on its own connection.
    assert_eq!(server.request_count(), 4);
    assert_eq!(server.connection_count(), 4);
    let seen = server.requests();
    assert_eq!(
        seen[3].nc().as_deref(),
        Some("00000003"),
        "the nonce outlives connections"
    );
}

#[tokio::test]
async fn connection_silently_closed_while_idle_is_replaced() {
    // The device closes after each response without saying `Connection: close`.
    let server = Server::start(Options::default(), |seen| Action::Raw {
        bytes: format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            seen.body.len(),
            String::from_utf8_lossy(&seen.body)
        )
        .into_bytes(),
        close: true,
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    conn.post(b"first").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = conn.post(b"second").await.unwrap();

    assert_eq!(response.body, b"second");
    assert_eq!(server.connection_count(), 2);
}

#[tokio::test]
async fn idle_timeout_reopens_the_connection() {
    let server = Server::echo().await;
    let config = TransportConfig {
        idle_timeout: Duration::from_millis(50),
        ..quick_config()
    };
    let conn = connect(&server, PASSWORD, config);

    conn.post(b"one").await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    conn.post(b"two").await.unwrap();

    assert_eq!(server.connection_count(), 2);
    assert_eq!(
        server.request_count(),
        3,
        "the nonce was kept across the reconnect"
    );
}

#[tokio::test]
async fn chunked_response_is_reassembled() {
    let server = Server::start(Options::default(), |_| Action::Raw {
        bytes: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/soap+xml\r\n\r\n\
                 6\r\n<Envel\r\n9;ext=1\r\nope><Body\r\n3\r\n/><\r\n0\r\n\r\n"
            .to_vec(),
        close: false,
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    let first = conn.post(ENVELOPE).await.unwrap();
    let second = conn.post(ENVELOPE).await.unwrap();

    assert_eq!(first.body, b"<Envelope><Body/><");
    assert_eq!(second, first);
    assert_eq!(
        server.connection_count(),
        1,
        "a chunked response keeps the connection"
    );
}

#[tokio::test]
async fn read_to_close_response_is_accepted() {
    let server = Server::start(Options::default(), |_| Action::Raw {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n\r\n<Envelope/>".to_vec(),
        close: true,
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    assert_eq!(conn.post(ENVELOPE).await.unwrap().body, b"<Envelope/>");
    assert_eq!(conn.post(ENVELOPE).await.unwrap().body, b"<Envelope/>");
}

#[tokio::test]
async fn oversize_response_is_rejected() {
    let config = TransportConfig {
        max_response_bytes: 1024,
        ..quick_config()
    };
    let server = Server::start(Options::default(), |_| Action::ok(vec![b'x'; 4096])).await;
    let conn = connect(&server, PASSWORD, config);

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(error, TransportError::ResponseTooLarge { limit: 1024 }),
        "{error:?}"
    );
    assert!(error.request_may_have_been_processed());
}

#[tokio::test]
async fn oversize_chunked_response_is_rejected() {
    let config = TransportConfig {
        max_response_bytes: 1024,
        ..quick_config()
    };
    let server = Server::start(Options::default(), |_| {
        let mut bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..8 {
            bytes.extend_from_slice(b"200\r\n");
            bytes.extend_from_slice(&[b'y'; 0x200]);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        Action::Raw {
            bytes,
            close: false,
        }
    })
    .await;
    let conn = connect(&server, PASSWORD, config);

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(error, TransportError::ResponseTooLarge { limit: 1024 }),
        "{error:?}"
    );
}

#[tokio::test]
async fn silent_device_times_out_after_the_request_was_sent() {
    let server = Server::start(Options::default(), |_| Action::Hang).await;
    let config = TransportConfig {
        request_timeout: Duration::from_millis(300),
        ..quick_config()
    };
    let conn = connect(&server, PASSWORD, config);

    let started = Instant::now();
    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(
            error,
            TransportError::Timeout {
                after_send: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.request_may_have_been_processed());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn per_call_timeout_overrides_the_default() {
    let server = Server::start(Options::default(), |_| Action::Hang).await;
    let conn = connect(&server, PASSWORD, quick_config());

    let error = conn
        .post_with_timeout(ENVELOPE, Duration::from_millis(200))
        .await
        .unwrap_err();

    assert!(
        matches!(error, TransportError::Timeout { after, .. } if after == Duration::from_millis(200)),
        "{error:?}"
    );
}

#[tokio::test]
async fn eof_after_send_is_reported_as_closed_after_send() {
    let server = Server::start(Options::default(), |_| Action::Close).await;
    let conn = connect(&server, PASSWORD, quick_config());

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(error, TransportError::ConnectionClosed { after_send: true }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(error.request_may_have_been_processed());
    assert_eq!(
        server.request_count(),
        2,
        "the device got the authenticated request"
    );

    // The connection is gone; the next call reconnects and authenticates preemptively.
    let again = conn.post(ENVELOPE).await.unwrap_err();
    assert!(matches!(
        again,
        TransportError::ConnectionClosed { after_send: true }
    ));
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn response_cut_off_mid_body_is_malformed() {
    let server = Server::start(Options::default(), |_| Action::Raw {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<Envelope>".to_vec(),
        close: true,
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(
            error,
            TransportError::MalformedResponse {
                problem: Malformed::TruncatedBody
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn cancelled_call_leaves_the_connection_usable_for_the_next() {
    // The first authenticated request hangs; every later one is answered.
    let server = Server::start(Options::default(), |seen| {
        if seen.number == 2 {
            Action::Hang
        } else {
            Action::ok(echo_body(&seen.body))
        }
    })
    .await;
    let conn = connect(&server, PASSWORD, quick_config());

    let cancelled = tokio::time::timeout(Duration::from_millis(200), conn.post(b"slow")).await;
    assert!(cancelled.is_err(), "the call should have been cancelled");
    let response = conn.post(b"next").await.unwrap();

    assert_eq!(response.body, echo_body(b"next"));
    assert_eq!(
        server.connection_count(),
        2,
        "the abandoned connection was not reused"
    );
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn refused_connection_is_a_retryable_connect_error() {
    // Bind and release a port so that nothing listens on it.
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = DeviceEndpoint::http("127.0.0.1").with_port(port);
    let conn = WsmanConnection::new(endpoint, USER, PASSWORD.into(), quick_config()).unwrap();

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(!error.request_may_have_been_processed());
}

#[tokio::test]
async fn concurrent_posts_are_serialized_on_one_connection() {
    let server = Server::echo().await;
    let conn = Arc::new(connect(&server, PASSWORD, quick_config()));

    let mut tasks = Vec::new();
    for i in 0..8 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("call {i}");
            let response = conn.post(body.as_bytes()).await.unwrap();
            assert_eq!(response.body, echo_body(body.as_bytes()));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    assert_eq!(server.max_in_flight(), 1);
    assert_eq!(server.connection_count(), 1);
    assert_eq!(
        server.request_count(),
        9,
        "one challenge, then eight preemptive requests"
    );
}

#[tokio::test]
async fn invalid_host_is_rejected_before_connecting() {
    let endpoint = DeviceEndpoint::http("127.0.0.1:16992");
    let error = WsmanConnection::new(endpoint, USER, PASSWORD.into(), quick_config()).unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidEndpoint { .. }),
        "{error:?}"
    );
}
