//! Listeners and sessions: the accept loop of each device port and the HTTP/1.1 session
//! that reads requests, routes `POST /wsman` to the device and writes responses.
//!
//! Each session runs in its own task under a `session` tracing span (`device.uuid`,
//! `device.ip`, `peer`, `port`). Any bytes a peer sends end in a clean answer (`400`, `404`,
//! `405`, `411`, `413`, `431`, a TLS alert) or a closed connection; a session never affects
//! another device, and each device holds at most
//! [`super::NetOptions::max_connections_per_device`] sessions at once.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::AbortHandle;
use tracing::Instrument;

use super::device::Device;
use super::http::{self, HttpResponse};
use crate::firmware::Channel;
use crate::state::Phase;

/// Opens (bind + listen) a loopback-or-namespace TCP listener with `SO_REUSEADDR`.
pub(crate) fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Brings one listener to the wanted state: opens it (and its accept loop) or closes it.
pub(crate) fn reconcile_listener(
    dev: &Arc<Device>,
    slot: &mut Option<AbortHandle>,
    want: bool,
    tls: bool,
) -> std::io::Result<()> {
    let running = slot.as_ref().is_some_and(|h| !h.is_finished());
    if want && !running {
        let opts = &dev.ctx.options;
        let port = if tls { opts.tls_port } else { opts.plain_port };
        let listener = bind(dev.addr(port), opts.listen_backlog)?;
        let task = tokio::spawn(accept_loop(Arc::clone(dev), listener, tls));
        *slot = Some(task.abort_handle());
    } else if !want {
        if let Some(h) = slot.take() {
            h.abort();
        }
    }
    Ok(())
}

/// Decrements the device's open-connection count when a session ends.
struct ConnectionGuard(Arc<Device>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0
            .stats
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(dev: Arc<Device>, listener: TcpListener, tls: bool) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(device.uuid = %dev.uuid, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let open = dev.stats.open_connections.fetch_add(1, Ordering::Relaxed);
        let guard = ConnectionGuard(Arc::clone(&dev));
        if open >= dev.ctx.options.max_connections_per_device {
            dev.stats
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            drop(guard);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let span = tracing::info_span!("session", device.uuid = %dev.uuid, device.ip = %dev.ip, %peer, port);
        let dev = Arc::clone(&dev);
        tokio::spawn(
            async move {
                let _guard = guard;
                if tls {
                    serve_tls(dev, stream).await;
                } else {
                    serve(dev, stream, Channel::Plain, false).await;
                }
            }
            .instrument(span),
        );
    }
}

async fn serve_tls(dev: Arc<Device>, stream: TcpStream) {
    let (config, verifier) = match dev.tls_config().await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "no TLS configuration; closing");
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let timeout = dev.ctx.options.handshake_timeout;
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return;
        }
    };
    let mut channel = Channel::Tls;
    if let (Some(certs), Some(v)) = (tls.get_ref().1.peer_certificates(), verifier) {
        if let Some((ee, rest)) = certs.split_first() {
            let inter: Vec<&[u8]> = rest.iter().map(|c| c.as_ref()).collect();
            let now = rustls::pki_types::UnixTime::now();
            if let Ok(cn) = v.check(ee.as_ref(), &inter, now) {
                if dev.phase() == Phase::Setup {
                    channel = Channel::TlsProvisioning { cn };
                }
            }
        }
    }
    tracing::debug!(?channel, "TLS session established");
    serve(dev, tls, channel, true).await;
}

/// Whether a request target names the WS-Man endpoint (origin or absolute form).
fn is_wsman_target(target: &str) -> bool {
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => target,
    };
    let path = path.split('?').next().unwrap_or(path);
    path == "/wsman"
}

/// True when a request body may invoke `GenerateKeyPair` (a cheap byte scan; the firmware
/// parses the request properly).
fn may_generate_key(body: &[u8]) -> bool {
    const METHOD: &[u8] = b"GenerateKeyPair";
    body.windows(METHOD.len()).any(|w| w == METHOD)
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    dev: Arc<Device>,
    mut stream: S,
    channel: Channel,
    tls: bool,
) {
    let opts = dev.ctx.options.clone();
    let limits = opts.http;
    let server = format!(
        "Intel(R) Active Management Technology {}",
        dev.persona.amt_version
    );
    let mut buf = Vec::new();
    loop {
        if !tls && !dev.plain_open() {
            tracing::debug!("plain port closed by the configuration; ending the session");
            return;
        }
        let head = match http::read_head(&mut stream, &mut buf, &limits).await {
            Ok(h) => h,
            Err(e) => {
                if let Some(status) = e.status() {
                    tracing::debug!(error = %e, status, "bad request");
                    let mut r = HttpResponse::empty(status);
                    r.close = true;
                    http::write_all(&mut stream, &r.to_bytes(&server), limits.request_timeout)
                        .await;
                }
                return;
            }
        };
        let routed = if !is_wsman_target(&head.target) {
            Some(HttpResponse::empty(404))
        } else if head.method != "POST" {
            let mut r = HttpResponse::empty(405);
            r.headers.push(("Allow", "POST".into()));
            Some(r)
        } else {
            None
        };
        if head.expect_continue && routed.is_none() {
            let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
            if !http::write_all(&mut stream, cont, limits.request_timeout).await {
                return;
            }
        }
        let body = match http::read_body(
            &mut stream,
            &mut buf,
            head.content_length,
            limits.request_timeout,
        )
        .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(error = %e, "request body incomplete");
                return;
            }
        };
        let (response, close) = match routed {
            Some(mut r) => {
                r.close = !head.keep_alive || dev.faults.connection_close;
                let close = r.close;
                (r, close)
            }
            None => {
                let ex = if may_generate_key(&body) {
                    // GenerateKeyPair makes its RSA-2048 key inline when the key pool is off
                    // or empty: a CPU-bound fraction of a second, kept off the async workers.
                    let (d, h, b, c) = (
                        Arc::clone(&dev),
                        head.clone(),
                        body.clone(),
                        channel.clone(),
                    );
                    match tokio::task::spawn_blocking(move || d.exchange(&h, &b, &c)).await {
                        Ok(ex) => ex,
                        Err(e) => {
                            tracing::error!(error = %e, "GenerateKeyPair exchange failed");
                            return;
                        }
                    }
                } else {
                    dev.exchange(&head, &body, &channel)
                };
                if ex.drop_without_reply {
                    tracing::info!(
                        "fault injection: applied, dropping the session without a reply"
                    );
                    return;
                }
                if dev.faults.slow_ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(
                        dev.faults.slow_ms,
                    )))
                    .await;
                }
                let close = ex.response.close;
                (ex.response, close)
            }
        };
        if !http::write_all(
            &mut stream,
            &response.to_bytes(&server),
            limits.request_timeout,
        )
        .await
        {
            return;
        }
        if close {
            use tokio::io::AsyncWriteExt;
            let _ = stream.shutdown().await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsman_targets() {
        assert!(is_wsman_target("/wsman"));
        assert!(is_wsman_target("http://127.0.0.1:16992/wsman"));
        assert!(is_wsman_target("/wsman?x=1"));
        assert!(!is_wsman_target("/"));
        assert!(!is_wsman_target("/wsmanx"));
        assert!(!is_wsman_target("http://host"));
    }
}
