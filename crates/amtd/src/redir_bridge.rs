//! `amtd sol <uuid>` through the server: a WebSocket client of `GET
//! /api/v1/devices/{uuid}/sol` ([`crate::server::api_sol`]) with the API's bearer token.
//!
//! The server sends JSON status text frames (`connecting`, `connected`, `closed` with a
//! reason) and the host's serial output as binary frames; keystrokes go up as binary frames.
//! The terminal handling is `amtd sol`'s: raw mode on a TTY from the moment the session is
//! connected, Ctrl-] q to quit, and in pipe mode the session stays until the host has been
//! quiet for `--linger-ms` after stdin ended.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::{Escape, RawMode, Typed, HELP};
use crate::client::{Api, ServerArgs};

/// Largest frame or message taken from the server.
const MAX_MESSAGE: usize = 1 << 20;

/// Runs the session through the server's bridge.
pub(super) fn run(uuid: &str, server: &ServerArgs, linger_ms: u64) -> Result<()> {
    let uuid = uuid.to_ascii_lowercase();
    let api = Api::find(server)?;
    let rt = super::runtime()?;
    let result = rt.block_on(session(&api, &uuid, Duration::from_millis(linger_ms)));
    // The stdin reader thread may be blocked in read(2): do not wait for it.
    rt.shutdown_background();
    result
}

/// A status frame from the server.
fn status(text: &str) -> Option<(String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["type"] != "status" {
        return None;
    }
    Some((
        v["state"].as_str()?.to_owned(),
        v["reason"].as_str().map(str::to_owned),
    ))
}

/// The connection to the API: TCP, or TLS over it (the server's certificate checked as
/// every other CLI command checks it: server.json's CA file or `--cacert`).
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// Opens the WebSocket; a refusal becomes the server's message.
async fn open(api: &Api, uuid: &str) -> Result<Socket> {
    let (host, token) = api.parts();
    let tls = api.tls_client();
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://{host}/api/v1/devices/{uuid}/sol");
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad API address {host:?}"))?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).context("bad API token")?,
    );
    let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(host))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to the API at {host} timed out"))?
        .with_context(|| format!("connecting to the API at {host} (is the server running?)"))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = match tls {
        None => Box::new(tcp),
        Some((config, name)) => {
            let tls = tokio::time::timeout(
                Duration::from_secs(10),
                tokio_rustls::TlsConnector::from(config).connect(name, tcp),
            )
            .await
            .map_err(|_| anyhow::anyhow!("the TLS handshake with the API at {host} timed out"))?
            .with_context(|| {
                format!(
                    "TLS handshake with the API at {host} failed (its certificate is checked \
                     against server.json's ca_file, or --cacert)"
                )
            })?;
            Box::new(tls)
        }
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status();
            let body = response.body().as_deref().unwrap_or_default();
            let msg = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "no details".into());
            bail!("the server answered {}: {msg}", status.as_u16())
        }
        Err(e) => Err(e).context("opening the SOL WebSocket"),
    }
}

/// Why the loop ended.
enum End {
    /// We ended it (quit, input ended, signal).
    Ours(&'static str),
    /// The server closed it, with its reason.
    Theirs(String),
}

async fn session(api: &Api, uuid: &str, linger: Duration) -> Result<()> {
    let (host, _) = api.parts();
    let mut ws = open(api, uuid).await?;
    // Until connected: only status frames matter; a close before is a refusal.
    loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Err(_) => bail!("the server did not connect the session within 60 s"),
            Ok(None) => bail!("the server closed the connection before the session started"),
            Ok(Some(Err(e))) => return Err(e).context("the SOL WebSocket failed"),
            Ok(Some(Ok(Message::Text(t)))) => match status(t.as_str()) {
                Some((state, _)) if state == "connected" => break,
                Some((state, reason)) if state == "closed" => {
                    bail!(
                        "SOL on {uuid} through the server: {}",
                        reason.unwrap_or_else(|| "closed".into())
                    )
                }
                _ => {}
            },
            Ok(Some(Ok(Message::Close(_)))) => {
                bail!("the server closed the connection before the session started")
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let raw = RawMode::enable()?;
    let interactive = raw.is_some();
    eprint!(
        "Connected to {uuid} through the server ({host}, SOL).{}\r\n",
        if interactive {
            " Ctrl-] q quits, Ctrl-] ? help."
        } else {
            ""
        }
    );
    let mut stdin_rx = crate::redir_cmd::stdin_chunks();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut escape = Escape::default();
    let mut stdin_open = true;
    let mut last_output = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stdout = std::io::stdout();
    let end: Result<End> = loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(d))) => {
                    stdout.write_all(&d)?;
                    stdout.flush()?;
                    last_output = Instant::now();
                }
                Some(Ok(Message::Text(t))) => {
                    if let Some((state, reason)) = status(t.as_str()) {
                        if state == "closed" {
                            break Ok(End::Theirs(reason.unwrap_or_else(|| "closed".into())));
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    break Ok(End::Theirs("the server closed the connection".into()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("the SOL WebSocket failed")),
            },
            chunk = stdin_rx.recv(), if stdin_open => match chunk {
                Some(bytes) => {
                    let (send, quit) = match escape.feed(&bytes) {
                        Typed::Send(b) => (b, false),
                        Typed::Quit(b) => (b, true),
                        Typed::Help(b) => {
                            eprint!("{HELP}");
                            (b, false)
                        }
                    };
                    if !send.is_empty() {
                        if let Err(e) = ws.send(Message::Binary(send.into())).await {
                            break Err(anyhow::Error::new(e).context("sending keystrokes"));
                        }
                    }
                    if quit {
                        break Ok(End::Ours("quit"));
                    }
                }
                None => {
                    stdin_open = false;
                    last_output = last_output.max(Instant::now());
                }
            },
            _ = tick.tick(), if !stdin_open => {
                if last_output.elapsed() >= linger {
                    break Ok(End::Ours("input ended"));
                }
            }
            _ = term.recv() => break Ok(End::Ours("terminated")),
            _ = hup.recv() => break Ok(End::Ours("hung up")),
        }
    };
    drop(raw);
    match end? {
        End::Ours(reason) => {
            // Close, and wait briefly for the server's last status (the session is audited
            // when it ends).
            let _ = ws.send(Message::Close(None)).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
            eprintln!("\r\n[amtd sol] {reason}; disconnected from {uuid}");
            Ok(())
        }
        End::Theirs(reason) => {
            eprintln!("\r\n[amtd sol] the server closed the session: {reason}");
            bail!("the SOL session on {uuid} ended: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_frames_are_read_and_other_text_is_not() {
        assert_eq!(
            status(r#"{"type":"status","state":"connected"}"#),
            Some(("connected".into(), None))
        );
        assert_eq!(
            status(r#"{"type":"status","state":"closed","reason":"idle timeout"}"#),
            Some(("closed".into(), Some("idle timeout".into())))
        );
        assert_eq!(status("login: "), None);
        assert_eq!(status(r#"{"type":"other","state":"x"}"#), None);
    }
}
