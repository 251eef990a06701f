//! Serial-over-LAN (M4): a session run by its own task, driven through channels, so a
//! terminal can wait on the keyboard and the device at once.
//!
//! [`SolSession::start`] opens a `SOL ` session, authenticates and sends StartSOLRedirection
//! with amtterm's settings (heartbeat every 5 s, host session timeout 10 s). The task then:
//! forwards [`SolSession::send`] bytes as DataToHost (at most [`MAX_SEND`] bytes per
//! message), reports the host's output and control-line changes as [`SolEvent`]s, echoes the
//! device's heartbeats (0x2B) and answers keep-alive pings (as amtterm does, which keeps the
//! device's idle timer from expiring while nobody types), and on [`SolSession::close`] ends
//! SOL (0x22, waiting up to 2 s for 0x23) and the session (0x12).

use std::time::Duration;

use amt_wire::redirection::{Message, SessionStatus, SessionType, SolData, SolSettings, StartSol};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Connection, RedirectionError, RedirectionTarget};

/// Most bytes sent in one DataToHost (amtterm's MaxTxBuffer).
pub const MAX_SEND: usize = 1000;

/// What the host did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolEvent {
    /// Serial output.
    Data(Vec<u8>),
    /// Control lines and status changed ([`amt_wire::redirection::control_bits`],
    /// [`amt_wire::redirection::status_bits`]).
    Controls {
        /// Control bits.
        control: u8,
        /// Status bits.
        status: u8,
    },
}

/// A running SOL session.
#[derive(Debug)]
pub struct SolSession {
    input: mpsc::Sender<Vec<u8>>,
    output: mpsc::Receiver<SolEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), RedirectionError>>,
    peer: String,
}

impl SolSession {
    /// Connects, authenticates and starts SOL.
    ///
    /// # Errors
    /// Connection, authentication, or the device refusing SOL (disabled, busy).
    pub async fn start(target: &RedirectionTarget) -> Result<SolSession, RedirectionError> {
        let mut conn = Connection::open(target, SessionType::Sol).await?;
        conn.send(&Message::StartSol(StartSol {
            seq: 0,
            settings: SolSettings::AMTTERM,
            reserved: 0,
        }))
        .await?;
        match conn.recv_timeout(target.timeout, "starting SOL").await? {
            Message::StartSolReply(r) if r.status == SessionStatus::Success => {}
            Message::StartSolReply(r) => {
                return Err(RedirectionError::Refused {
                    what: "SOL",
                    status: r.status,
                })
            }
            other => return Err(super::unexpected("StartSOLRedirectionReply", &other)),
        }
        let peer = conn.peer().to_owned();
        let (input, input_rx) = mpsc::channel(64);
        let (output_tx, output) = mpsc::channel(64);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(conn, input_rx, output_tx, stop_rx));
        Ok(SolSession {
            input,
            output,
            stop: Some(stop),
            task,
            peer,
        })
    }

    /// The device.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Types `bytes` on the host's serial console.
    ///
    /// # Errors
    /// [`RedirectionError::Closed`] when the session has ended.
    pub async fn send(&self, bytes: &[u8]) -> Result<(), RedirectionError> {
        for chunk in bytes.chunks(MAX_SEND) {
            self.input
                .send(chunk.to_vec())
                .await
                .map_err(|_| RedirectionError::Closed {
                    during: "sending keystrokes",
                })?;
        }
        Ok(())
    }

    /// A handle that types on the host's console while [`SolSession::recv`] is being awaited
    /// (a relay waits on both directions at once).
    pub fn input(&self) -> SolInput {
        SolInput(self.input.clone())
    }

    /// The next event; `None` once the session has ended (see [`SolSession::close`] for why).
    pub async fn recv(&mut self) -> Option<SolEvent> {
        self.output.recv().await
    }

    /// Ends SOL and the session, and reports how the session ended.
    ///
    /// # Errors
    /// What ended the session, if it was not this call.
    pub async fn close(mut self) -> Result<(), RedirectionError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        drop(self.input);
        self.output.close();
        match self.task.await {
            Ok(r) => r,
            Err(_) => Err(RedirectionError::Closed {
                during: "the SOL session (its task failed)",
            }),
        }
    }
}

/// Types on a running session's host console (see [`SolSession::input`]).
#[derive(Debug, Clone)]
pub struct SolInput(mpsc::Sender<Vec<u8>>);

impl SolInput {
    /// Types `bytes`, in messages of at most [`MAX_SEND`] bytes. Cancel-safe for input of at
    /// most [`MAX_SEND`] bytes (one message): when the future is dropped before it completes,
    /// nothing was sent.
    ///
    /// # Errors
    /// [`RedirectionError::Closed`] when the session has ended.
    pub async fn send(&self, bytes: &[u8]) -> Result<(), RedirectionError> {
        for chunk in bytes.chunks(MAX_SEND) {
            self.0
                .send(chunk.to_vec())
                .await
                .map_err(|_| RedirectionError::Closed {
                    during: "sending keystrokes",
                })?;
        }
        Ok(())
    }
}

async fn run(
    mut conn: Connection,
    mut input: mpsc::Receiver<Vec<u8>>,
    output: mpsc::Sender<SolEvent>,
    mut stop: oneshot::Receiver<()>,
) -> Result<(), RedirectionError> {
    let mut seq = 0u32;
    let result = loop {
        tokio::select! {
            m = conn.recv() => {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => break Err(e),
                };
                let event = match m {
                    Message::DataFromHost(d) => Some(SolEvent::Data(d.data)),
                    Message::ControlsFromHost(c) => Some(SolEvent::Controls {
                        control: c.control,
                        status: c.status,
                    }),
                    Message::Heartbeat(s) => {
                        if let Err(e) = conn.send(&Message::Heartbeat(s)).await {
                            break Err(e);
                        }
                        None
                    }
                    Message::KeepAlivePing(s) => {
                        if let Err(e) = conn.send(&Message::KeepAlivePong(s)).await {
                            break Err(e);
                        }
                        None
                    }
                    Message::KeepAlivePong(_) => None,
                    Message::EndSolReply(_) | Message::EndSession => {
                        break Err(RedirectionError::Closed { during: "SOL (the device ended it)" });
                    }
                    other => break Err(super::unexpected("SOL data", &other)),
                };
                if let Some(ev) = event {
                    if output.send(ev).await.is_err() {
                        break Ok(());
                    }
                }
            }
            bytes = input.recv() => {
                let Some(data) = bytes else { break Ok(()) };
                seq = seq.wrapping_add(1);
                if let Err(e) = conn.send(&Message::DataToHost(SolData { seq, data })).await {
                    break Err(e);
                }
            }
            _ = &mut stop => break Ok(()),
        }
    };
    if result.is_ok() {
        // End SOL politely: 0x22, then 0x23 (skipping output still in flight), then 0x12.
        seq = seq.wrapping_add(1);
        if conn.send(&Message::EndSol(seq)).await.is_ok() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Ok(m)) = tokio::time::timeout_at(deadline, conn.recv()).await {
                if matches!(m, Message::EndSolReply(_)) {
                    break;
                }
            }
        }
        conn.close().await;
    }
    result
}
