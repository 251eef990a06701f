//! IDE-R sessions on the redirection port: the device side of AMT-PROTOCOLS.md §4.3 on the
//! [`amt_wire::redirection::ider`] codec, with the emulated BIOS ([`crate::ider::BootReader`])
//! as the initiator of the virtual CD-ROM.
//!
//! Decisions, with the reason:
//! * After authentication an `IDER` session takes StartIDERRedirection (0x40) and answers 0x41
//!   with read and write buffers of [`BUFFER_SIZE`] (MeshCentral refuses more than 8192), protocol
//!   0 and Intel's IANA number. One IDE-R session per device; a second gets status 2 (busy) at
//!   StartRedirectionSession.
//! * DisableEnableFeatures: type 1 answers 1 (register state can be set), type 2 answers bit 1
//!   while the drives are enabled, type 3 with bit 0 enables them (any start mode) and answers 1
//!   (MeshCentral treats anything else as a failure), without bit 0 disables them.
//! * While enabled, every host reset (a power action that boots the host) is announced with
//!   ResetOccurred (0x46, mask 1); after the console's 0x47 the BIOS boots from the CD when the
//!   boot options chose IDE-R CD, issuing its ATAPI commands as CommandWritten (0x50, drive
//!   0xB0, PIO). A boot that finds no enabled session waits [`BOOT_WAIT`] for one (a console may
//!   reboot first and connect after), then fails with "no bootable media".
//! * The device numbers its IDE-R messages from 0 (the 0x41). The console's numbers are not
//!   checked: amtterm counts every message it sent since the session began.
//! * A CommandEnd or DataToHost with no command outstanding, GetDataFromHost (the BIOS never
//!   writes) or any non-IDE-R message closes the session; so does an ended boot's session
//!   closing mid-read, which the event log records as a failed boot.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use amt_wire::redirection::atapi::{Cdb, Sense};
use amt_wire::redirection::ider::device;
use amt_wire::redirection::{
    CommandEnd, CommandWritten, DataToHost, DisableEnableFeaturesReply, FeatureRequest,
    IderMessage, IderSettings, IderStartMode, Message, ResetOccurred, SessionStatus,
    StartIderReply,
};
use tokio::sync::mpsc;

use super::{lock, Device};
use crate::firmware::manage::audit_events;
use crate::firmware::manage::HostBoot;
use crate::firmware::{Caller, Env};
use crate::ider::{BootOutcome, BootReader, DriveAnswer, Next};

/// Read and write buffer sizes announced in 0x41.
pub const BUFFER_SIZE: u16 = 8192;
/// How long a host booting from IDE-R waits for an enabled IDE-R session.
pub const BOOT_WAIT: Duration = Duration::from_secs(10);

/// What the host tells an IDE-R session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEvent {
    /// The host reset; `boot_cd`: its BIOS boots from the IDE-R CD.
    Reset {
        /// Boot from the IDE-R CD after the reset handshake.
        boot_cd: bool,
    },
}

/// Records an outcome in the event log, keeps it for [`super::DeviceRedirection::last_ider_boot`]
/// and persists the state.
pub(crate) fn record_boot(dev: &Device, outcome: BootOutcome) {
    let mut rnd = |b: &mut [u8]| super::random_fill(b);
    let env = Env {
        now: super::unix_now(),
        random: &mut rnd,
    };
    tracing::info!(device.uuid = %dev.uuid, result = %outcome.describe(), "IDE-R boot");
    dev.with_firmware(|fw| crate::ider::record(fw, &env, &outcome));
    *lock(&dev.redirection.last_ider_boot) = Some(outcome);
    dev.persist();
}

/// The host booted (power on or reset): tell the enabled IDE-R session, or, when the boot
/// options chose the IDE-R CD and no session is enabled, wait [`BOOT_WAIT`] for one.
pub(crate) fn host_booted(dev: &Arc<Device>) {
    let boot = dev.with_firmware(|fw| fw.last_host_boot());
    let boot_cd = boot == Some(HostBoot::IderCd);
    if boot == Some(HostBoot::IderFloppy) {
        record_boot(
            dev,
            BootOutcome::Failed {
                reason: "the emulated BIOS boots IDE-R CDs only, not floppies".into(),
            },
        );
    }
    let tx = lock(&dev.redirection.ider_events).clone();
    if let Some(tx) = tx {
        if tx.send(HostEvent::Reset { boot_cd }).is_ok() {
            return;
        }
    }
    if !boot_cd {
        return;
    }
    let generation = {
        let mut p = lock(&dev.redirection.pending_boot);
        let g = p.map_or(1, |g| g.wrapping_add(1));
        *p = Some(g);
        g
    };
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        lock(&dev.redirection.pending_boot).take();
        record_boot(dev, no_session());
        return;
    };
    let dev = Arc::clone(dev);
    rt.spawn(async move {
        tokio::time::sleep(BOOT_WAIT).await;
        let expired = {
            let mut p = lock(&dev.redirection.pending_boot);
            let expired = *p == Some(generation);
            if expired {
                *p = None;
            }
            expired
        };
        if expired {
            record_boot(&dev, no_session());
        }
    });
}

fn no_session() -> BootOutcome {
    BootOutcome::Failed {
        reason: format!(
            "no bootable media: no IDE-R session served a CD within {} s",
            BOOT_WAIT.as_secs()
        ),
    }
}

/// Releases the device's IDE-R claim (and the host event channel) and audits the close.
struct IderClaim {
    dev: Arc<Device>,
    caller: Caller,
}

impl Drop for IderClaim {
    fn drop(&mut self) {
        let r = &self.dev.redirection;
        lock(&r.ider_events).take();
        r.ider_open.store(false, Ordering::Relaxed);
        super::audit(&self.dev, &self.caller, audit_events::IDER_SESSION_CLOSED);
    }
}

/// A boot in progress.
struct BootRun {
    reader: BootReader,
    outstanding: bool,
}

/// One IDE-R session after 0x41.
pub(super) struct IderSession {
    dev: Arc<Device>,
    /// The console's timeouts.
    pub settings: IderSettings,
    seq: u32,
    enabled: Option<IderStartMode>,
    events_rx: Option<mpsc::UnboundedReceiver<HostEvent>>,
    awaiting_reset: Option<bool>,
    boot: Option<BootRun>,
    _claim: IderClaim,
}

/// Whether the session goes on.
pub(super) type Handled = Result<Vec<Message>, &'static str>;

impl IderSession {
    /// Claims the device's IDE-R drive for this session (`None`: another session has it).
    pub fn open(dev: &Arc<Device>, settings: IderSettings, caller: Caller) -> Option<Self> {
        if dev.redirection.ider_open.swap(true, Ordering::Relaxed) {
            return None;
        }
        super::audit(dev, &caller, audit_events::IDER_SESSION_OPENED);
        Some(IderSession {
            dev: Arc::clone(dev),
            settings,
            seq: 0,
            enabled: None,
            events_rx: None,
            awaiting_reset: None,
            boot: None,
            _claim: IderClaim {
                dev: Arc::clone(dev),
                caller,
            },
        })
    }

    fn stamp(&mut self, mut m: IderMessage) -> Message {
        m.set_seq(self.seq);
        self.seq = self.seq.wrapping_add(1);
        Message::Ider(m)
    }

    /// The 0x41 answer (the device's first IDE-R message).
    pub fn start_reply(&mut self) -> Message {
        let r = StartIderReply::new(SessionStatus::Success, 0, BUFFER_SIZE, BUFFER_SIZE);
        self.stamp(IderMessage::StartReply(r))
    }

    /// A heartbeat (0x4B).
    pub fn heartbeat(&mut self) -> Message {
        self.stamp(IderMessage::Heartbeat(0))
    }

    /// The receiver of host events, once the drives were enabled (taken by the session loop).
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<HostEvent>> {
        self.events_rx.take()
    }

    /// A console message.
    pub fn handle(&mut self, m: IderMessage) -> Handled {
        match m {
            IderMessage::Ping(seq) => Ok(vec![self.stamp(IderMessage::Pong(seq))]),
            IderMessage::Pong(_) | IderMessage::Heartbeat(_) => Ok(vec![]),
            IderMessage::End(_) => {
                self.disable();
                let reply = self.stamp(IderMessage::EndReply(0));
                Ok(vec![reply])
            }
            IderMessage::DisableEnableFeatures(f) => Ok(vec![self.features(f.request)]),
            IderMessage::ResetOccurredResponse(_) => match self.awaiting_reset.take() {
                Some(true) => Ok(self.start_boot()),
                Some(false) => Ok(vec![]),
                None => Err("ResetOccurredResponse without a reset"),
            },
            IderMessage::CommandEnd(e) => self.command_end(&e),
            IderMessage::DataToHost(d) => self.data_to_host(d),
            IderMessage::GetDataFromHost(_) => Err("GetDataFromHost: the BIOS never writes"),
            _ => Err("a message only a device sends"),
        }
    }

    fn features(&mut self, request: FeatureRequest) -> Message {
        let value = match request {
            FeatureRequest::GetSupported => 1,
            FeatureRequest::GetRegisterState => {
                if self.enabled.is_some() {
                    2
                } else {
                    0
                }
            }
            FeatureRequest::SetRegisterState(v) => {
                if v & 1 != 0 {
                    let mode = IderStartMode::from_value(v).unwrap_or(IderStartMode::Now);
                    self.enable(mode);
                } else {
                    self.disable();
                }
                1
            }
        };
        self.stamp(IderMessage::DisableEnableFeaturesReply(
            DisableEnableFeaturesReply {
                seq: 0,
                kind: request.kind(),
                value,
            },
        ))
    }

    fn enable(&mut self, mode: IderStartMode) {
        tracing::info!(?mode, "IDE-R drives enabled");
        self.enabled = Some(mode);
        let (tx, rx) = mpsc::unbounded_channel();
        let r = &self.dev.redirection;
        if lock(&r.pending_boot).take().is_some() {
            // The host is already waiting to boot from this CD.
            let _ = tx.send(HostEvent::Reset { boot_cd: true });
        }
        *lock(&r.ider_events) = Some(tx);
        self.events_rx = Some(rx);
    }

    fn disable(&mut self) {
        if self.enabled.take().is_some() {
            tracing::info!("IDE-R drives disabled");
        }
        lock(&self.dev.redirection.ider_events).take();
        if self.boot.take().is_some() {
            record_boot(
                &self.dev,
                BootOutcome::Failed {
                    reason: "the console disabled IDE-R during boot".into(),
                },
            );
        }
    }

    /// A host event: announce the reset; the boot starts when the console acknowledges it.
    pub fn host_event(&mut self, ev: HostEvent) -> Vec<Message> {
        let HostEvent::Reset { boot_cd } = ev;
        if self.enabled.is_none() {
            return vec![];
        }
        if self.boot.take().is_some() {
            record_boot(
                &self.dev,
                BootOutcome::Failed {
                    reason: "the host was reset during the IDE-R boot".into(),
                },
            );
        }
        self.awaiting_reset = Some(boot_cd);
        vec![self.stamp(IderMessage::ResetOccurred(ResetOccurred {
            seq: 0,
            mask: 1,
        }))]
    }

    fn start_boot(&mut self) -> Vec<Message> {
        let mut reader = BootReader::new();
        let cdb = reader.start();
        self.boot = Some(BootRun {
            reader,
            outstanding: true,
        });
        vec![self.command(cdb)]
    }

    fn command(&mut self, cdb: Cdb) -> Message {
        tracing::debug!(?cdb, "BIOS writes an ATAPI command");
        self.stamp(IderMessage::CommandWritten(CommandWritten::packet(
            0,
            device::CDROM,
            cdb.encode(),
        )))
    }

    fn step(&mut self, next: Next) -> Handled {
        match next {
            Next::Wait => Ok(vec![]),
            Next::Command(cdb) => {
                if let Some(b) = self.boot.as_mut() {
                    b.outstanding = true;
                }
                Ok(vec![self.command(cdb)])
            }
            Next::Done(outcome) => {
                self.boot = None;
                record_boot(&self.dev, outcome);
                Ok(vec![])
            }
        }
    }

    fn answer(&mut self, a: DriveAnswer, ends: bool) -> Handled {
        let Some(b) = self.boot.as_mut().filter(|b| b.outstanding) else {
            return Err("an answer with no command outstanding");
        };
        if ends {
            b.outstanding = false;
        }
        let next = b.reader.answer(a);
        self.step(next)
    }

    fn command_end(&mut self, e: &CommandEnd) -> Handled {
        let key = if e.sense_key != 0 {
            e.sense_key
        } else if e.is_error() {
            // ERR without a sense key: the error register's high nibble, else HARDWARE ERROR.
            match e.output.error >> 4 {
                0 => 4,
                k => k,
            }
        } else {
            0
        };
        let sense = Sense::new(key, e.asc, e.ascq);
        self.answer(
            DriveAnswer::End(if key == 0 { Sense::NONE } else { sense }),
            true,
        )
    }

    fn data_to_host(&mut self, d: DataToHost) -> Handled {
        let completed = d.completed();
        let sense = Sense::new(d.sense_key, d.asc, d.ascq);
        let mut out = self.answer(DriveAnswer::Data(d.data), false)?;
        if completed && self.boot.as_ref().is_some_and(|b| b.outstanding) {
            out.extend(self.answer(DriveAnswer::End(sense), true)?);
        }
        Ok(out)
    }
}

impl Drop for IderSession {
    fn drop(&mut self) {
        if self.boot.take().is_some() {
            record_boot(
                &self.dev,
                BootOutcome::Failed {
                    reason: "the IDE-R session closed during boot".into(),
                },
            );
        }
    }
}

/// The device's answer to a second IDE-R start on a session that already has one, or one
/// that lost the race for the drive.
pub(super) fn busy_reply() -> Message {
    Message::Ider(IderMessage::StartReply(StartIderReply::new(
        SessionStatus::Busy,
        0,
        BUFFER_SIZE,
        BUFFER_SIZE,
    )))
}
