//! Serving a disk image over IDE-R (M5): open an `IDER` session, StartIDERRedirection,
//! enable the drives (DisableEnableFeatures SET_REGISTER_STATE), then answer whatever the
//! device's BIOS or OS asks the virtual CD-ROM ([`super::cdrom::CdDrive`]) from the image file.
//!
//! Image reads are bounded: only the blocks a command asks for are read, one chunk of the
//! device's read buffer (at most 8192 bytes, see the 0x41 reply) at a time, so memory does not
//! grow with the request or the image. The device's heartbeats are echoed (as amtterm does),
//! its pings answered, and a host reset acknowledged (ResetOccurredResponse). The device's
//! sequence numbers must count up by one from its 0x41 (MeshCentral enforces the same).
//!
//! [`IderServer::next_event`] runs the session until something worth reporting happened;
//! [`ImageInfo`] says what a BIOS will read to boot the image, so a caller can tell when the
//! device has read it.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amt_wire::redirection::atapi::{Cdb, Sense};
use amt_wire::redirection::boot_image::{self, BOOT_RECORD_LBA, CD_SECTOR, PVD_LBA};
use amt_wire::redirection::ider::device;
use amt_wire::redirection::{
    CommandEnd, CommandWritten, DataToHost, DisableEnableFeatures, FeatureRequest, FeatureType,
    IderMessage, IderSettings, IderStartMode, Message, SessionStatus, SessionType, StartIder,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::cdrom::{CdDrive, Reply};
use super::{Connection, RedirectionError, RedirectionTarget};

/// The largest chunk sent in one DataToHost, whatever the device announces.
pub const MAX_CHUNK: usize = 8192;

/// What a BIOS reads to boot an image, found by reading it the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Bytes.
    pub size: u64,
    /// 2048-byte blocks (the last one possibly partial).
    pub blocks: u64,
    /// The ISO 9660 volume label.
    pub label: Option<String>,
    /// The first block of the boot image (El Torito load RBA, or 0 for a boot sector), when
    /// the image is bootable.
    pub boot_lba: Option<u64>,
    /// Why the image is not bootable, when it is not.
    pub not_bootable: Option<String>,
}

impl ImageInfo {
    /// Reads the volume descriptors and boot catalog of the image at `path`.
    ///
    /// # Errors
    /// [`RedirectionError::Image`] when the file cannot be read.
    pub async fn inspect(path: &Path) -> Result<ImageInfo, RedirectionError> {
        let err = |source| RedirectionError::Image {
            path: path.display().to_string(),
            source,
        };
        let mut f = tokio::fs::File::open(path).await.map_err(err)?;
        let size = f.metadata().await.map_err(err)?.len();
        let blocks = size.div_ceil(CD_SECTOR as u64);
        let mut info = ImageInfo {
            size,
            blocks,
            label: None,
            boot_lba: None,
            not_bootable: None,
        };
        let pvd = read_block(&mut f, size, u64::from(PVD_LBA))
            .await
            .map_err(err)?;
        if !boot_image::is_iso9660(&pvd) {
            let first = read_block(&mut f, size, 0).await.map_err(err)?;
            if boot_image::has_boot_signature(&first) {
                info.boot_lba = Some(0);
            } else {
                info.not_bootable =
                    Some("no ISO 9660 volume and no boot signature in sector 0".into());
            }
            return Ok(info);
        }
        info.label = boot_image::volume_label(&pvd)
            .ok()
            .filter(|l| !l.is_empty());
        let br = read_block(&mut f, size, u64::from(BOOT_RECORD_LBA))
            .await
            .map_err(err)?;
        let entry = match boot_image::boot_catalog_lba(&br) {
            Ok(lba) => {
                let cat = read_block(&mut f, size, u64::from(lba))
                    .await
                    .map_err(err)?;
                boot_image::default_entry(&cat)
            }
            Err(e) => Err(e),
        };
        match entry {
            Ok(e) => info.boot_lba = Some(u64::from(e.load_rba)),
            Err(e) => info.not_bootable = Some(e.to_string()),
        }
        Ok(info)
    }
}

/// One 2048-byte block (zero-padded past the end of the file; all zeros beyond it).
async fn read_block(f: &mut tokio::fs::File, size: u64, lba: u64) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0u8; CD_SECTOR];
    let start = lba.saturating_mul(CD_SECTOR as u64);
    if start >= size {
        return Ok(b);
    }
    f.seek(SeekFrom::Start(start)).await?;
    let want = (size - start).min(CD_SECTOR as u64) as usize;
    f.read_exact(&mut b[..want]).await?;
    Ok(b)
}

/// What happened on the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IderEvent {
    /// The host reset its IDE bus (reboot); acknowledged.
    Reset,
    /// The drive answered a command with data or good status.
    Answered {
        /// The command.
        cdb: Cdb,
    },
    /// Blocks of the image were sent.
    Served {
        /// First block.
        lba: u64,
        /// Number of blocks.
        blocks: u64,
    },
    /// A command failed with this sense (not necessarily a problem: the first TEST UNIT READY
    /// reports a medium change).
    Refused {
        /// The command (`None`: not an ATAPI packet for the CD-ROM).
        cdb: Option<Cdb>,
        /// The sense.
        sense: Sense,
    },
    /// The device reported an error (0x4A) with this code.
    DeviceError(u8),
    /// The device ended IDE-R (0x43) or the session.
    Ended,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IderStats {
    /// Commands answered.
    pub commands: u64,
    /// Blocks sent.
    pub blocks_served: u64,
    /// Image bytes sent.
    pub bytes_served: u64,
}

/// An IDE-R session serving one image as the CD-ROM.
pub struct IderServer {
    conn: Connection,
    drive: CdDrive,
    file: tokio::fs::File,
    path: PathBuf,
    size: u64,
    chunk: usize,
    seq: u32,
    device_seq: u32,
    /// Counters.
    pub stats: IderStats,
}

impl std::fmt::Debug for IderServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IderServer")
            .field("peer", &self.conn.peer())
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn ider(m: IderMessage) -> Message {
    Message::Ider(m)
}

impl IderServer {
    /// Opens an IDE-R session to `target`, starts IDE-R and enables the drives with `mode`
    /// (OnReboot: the host sees the CD from its next reset).
    ///
    /// # Errors
    /// The image cannot be opened; connection, authentication or refusal by the device.
    pub async fn start(
        target: &RedirectionTarget,
        image: &Path,
        mode: IderStartMode,
    ) -> Result<IderServer, RedirectionError> {
        let err = |source| RedirectionError::Image {
            path: image.display().to_string(),
            source,
        };
        let file = tokio::fs::File::open(image).await.map_err(err)?;
        let size = file.metadata().await.map_err(err)?.len();
        let conn = Connection::open(target, SessionType::Ider).await?;
        let mut s = IderServer {
            conn,
            drive: CdDrive::new(size),
            file,
            path: image.to_owned(),
            size,
            chunk: MAX_CHUNK,
            seq: 0,
            device_seq: 0,
            stats: IderStats::default(),
        };
        s.send(IderMessage::Start(StartIder {
            seq: 0,
            settings: IderSettings::MESHCENTRAL,
            version: 1,
        }))
        .await?;
        match s
            .conn
            .recv_timeout(target.timeout, "starting IDE-R")
            .await?
        {
            Message::Ider(IderMessage::StartReply(r)) => {
                if r.status != SessionStatus::Success {
                    return Err(RedirectionError::Refused {
                        what: "IDE-R",
                        status: r.status,
                    });
                }
                s.device_seq = r.seq.wrapping_add(1);
                s.chunk = usize::from(r.read_buffer).clamp(512, MAX_CHUNK);
                tracing::debug!(
                    read_buffer = r.read_buffer,
                    protocol = r.protocol,
                    "IDE-R started"
                );
            }
            other => return Err(super::unexpected("StartIDERRedirectionReply", &other)),
        }
        s.send(IderMessage::DisableEnableFeatures(DisableEnableFeatures {
            seq: 0,
            request: FeatureRequest::SetRegisterState(mode.enable_value()),
        }))
        .await?;
        loop {
            match s
                .recv_ider(target.timeout, "enabling the IDE-R drives")
                .await?
            {
                IderMessage::DisableEnableFeaturesReply(r)
                    if r.kind == FeatureType::SetRegisterState =>
                {
                    if r.value != 1 {
                        return Err(RedirectionError::Refused {
                            what: "enabling the IDE-R drives",
                            status: SessionStatus::Error,
                        });
                    }
                    break;
                }
                IderMessage::Heartbeat(_) => s.send(IderMessage::Heartbeat(0)).await?,
                other => {
                    return Err(super::unexpected(
                        "DisableEnableFeaturesReply",
                        &ider(other),
                    ))
                }
            }
        }
        Ok(s)
    }

    /// The device.
    pub fn peer(&self) -> &str {
        self.conn.peer()
    }

    /// The served image's size in 2048-byte blocks.
    pub fn blocks(&self) -> u64 {
        self.drive.blocks()
    }

    async fn send(&mut self, mut m: IderMessage) -> Result<(), RedirectionError> {
        m.set_seq(self.seq);
        self.seq = self.seq.wrapping_add(1);
        self.conn.send(&ider(m)).await
    }

    async fn recv_ider(
        &mut self,
        limit: Duration,
        during: &'static str,
    ) -> Result<IderMessage, RedirectionError> {
        let m = self.conn.recv_timeout(limit, during).await?;
        self.check(m)
    }

    fn check(&mut self, m: Message) -> Result<IderMessage, RedirectionError> {
        let Message::Ider(m) = m else {
            return Err(super::unexpected("an IDE-R message", &m));
        };
        if m.seq() != self.device_seq {
            return Err(RedirectionError::OutOfSequence {
                expected: self.device_seq,
                got: m.seq(),
            });
        }
        self.device_seq = self.device_seq.wrapping_add(1);
        Ok(m)
    }

    /// Runs the session until something worth reporting happens (answers commands,
    /// heartbeats and resets on the way).
    ///
    /// # Errors
    /// The connection failed or the device broke the protocol; image read errors are answered
    /// to the device as MEDIUM ERROR and reported here as [`RedirectionError::Image`].
    pub async fn next_event(&mut self) -> Result<IderEvent, RedirectionError> {
        loop {
            let m = match self.conn.recv().await {
                Err(RedirectionError::Closed { .. }) => return Ok(IderEvent::Ended),
                other => other?,
            };
            let m = match m {
                Message::EndSession => return Ok(IderEvent::Ended),
                m => self.check(m)?,
            };
            match m {
                IderMessage::Heartbeat(_) => self.send(IderMessage::Heartbeat(0)).await?,
                IderMessage::Ping(_) => self.send(IderMessage::Pong(0)).await?,
                IderMessage::Pong(_) | IderMessage::DisableEnableFeaturesReply(_) => {}
                IderMessage::ResetOccurred(_) => {
                    self.send(IderMessage::ResetOccurredResponse(0)).await?;
                    return Ok(IderEvent::Reset);
                }
                IderMessage::ErrorOccurred(e) => return Ok(IderEvent::DeviceError(e.code)),
                IderMessage::EndReply(_) => return Ok(IderEvent::Ended),
                IderMessage::CommandWritten(w) => return self.command(&w).await,
                IderMessage::DataFromHost(_) => {
                    // A write's data: the medium is read-only.
                    let end = CommandEnd::new(0, device::CDROM, 7, 0x27, 0);
                    self.send(IderMessage::CommandEnd(end)).await?;
                }
                other => return Err(super::unexpected("an IDE-R device message", &ider(other))),
            }
        }
    }

    async fn command(&mut self, w: &CommandWritten) -> Result<IderEvent, RedirectionError> {
        self.stats.commands += 1;
        let dev = w.device();
        let cdb =
            (w.command == amt_wire::redirection::ider::ATA_PACKET).then(|| Cdb::parse(&w.packet));
        match self.drive.command(w) {
            Reply::Status(s) if s.is_error() => {
                let end = CommandEnd::new(0, dev, s.key, s.asc, s.ascq);
                self.send(IderMessage::CommandEnd(end)).await?;
                Ok(IderEvent::Refused { cdb, sense: s })
            }
            Reply::Status(_) => {
                self.send(IderMessage::CommandEnd(CommandEnd::new(0, dev, 0, 0, 0)))
                    .await?;
                Ok(answered(cdb))
            }
            Reply::Data(d) => {
                let chunks: Vec<Vec<u8>> = d.chunks(self.chunk).map(<[u8]>::to_vec).collect();
                let last = chunks.len().saturating_sub(1);
                for (i, c) in chunks.into_iter().enumerate() {
                    let m = DataToHost::new(0, dev, c, i == last, w.dma());
                    self.send(IderMessage::DataToHost(m)).await?;
                }
                Ok(answered(cdb))
            }
            Reply::Read { lba, blocks } => {
                if let Err(source) = self.serve_blocks(dev, w.dma(), lba, blocks).await {
                    let s = Sense::READ_ERROR;
                    let end = CommandEnd::new(0, dev, s.key, s.asc, s.ascq);
                    self.send(IderMessage::CommandEnd(end)).await?;
                    return Err(RedirectionError::Image {
                        path: self.path.display().to_string(),
                        source,
                    });
                }
                Ok(IderEvent::Served { lba, blocks })
            }
        }
    }

    /// Sends `blocks` blocks from `lba` in chunks, the last one completing the command. Only
    /// I/O errors of the image come back as `Err` (sending errors end the session).
    async fn serve_blocks(
        &mut self,
        dev: u8,
        dma: bool,
        lba: u64,
        blocks: u64,
    ) -> std::io::Result<()> {
        let start = lba * CD_SECTOR as u64;
        let total = blocks * CD_SECTOR as u64;
        self.file
            .seek(SeekFrom::Start(start.min(self.size)))
            .await?;
        let mut sent = 0u64;
        while sent < total {
            let n = (total - sent).min(self.chunk as u64) as usize;
            let mut buf = vec![0u8; n];
            let pos = start + sent;
            let in_file = self.size.saturating_sub(pos).min(n as u64) as usize;
            self.file.read_exact(&mut buf[..in_file]).await?;
            sent += n as u64;
            let m = DataToHost::new(0, dev, buf, sent == total, dma);
            if let Err(e) = self.send(IderMessage::DataToHost(m)).await {
                return Err(std::io::Error::other(e.to_string()));
            }
        }
        self.stats.blocks_served += blocks;
        self.stats.bytes_served += total;
        Ok(())
    }

    /// Disables the drives, ends IDE-R (0x42, waiting up to 2 s for 0x43) and the session.
    pub async fn stop(mut self) {
        let _ = self
            .send(IderMessage::DisableEnableFeatures(DisableEnableFeatures {
                seq: 0,
                request: FeatureRequest::SetRegisterState(0),
            }))
            .await;
        let _ = self.send(IderMessage::End(0)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(m)) = tokio::time::timeout_at(deadline, self.conn.recv()).await {
            if matches!(m, Message::Ider(IderMessage::EndReply(_))) {
                break;
            }
        }
        self.conn.close().await;
    }
}

fn answered(cdb: Option<Cdb>) -> IderEvent {
    match cdb {
        Some(cdb) => IderEvent::Answered { cdb },
        None => IderEvent::Refused {
            cdb: None,
            sense: Sense::INVALID_OPCODE,
        },
    }
}
