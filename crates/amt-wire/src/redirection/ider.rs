//! IDE redirection (IDE-R), commands 0x40–0x54 (AMT-PROTOCOLS.md §4.3): the console opens an
//! IDE-R session after authentication, enables the virtual drives, and then answers the ATA
//! commands the device's BIOS or OS writes to them (ATAPI packets for the CD-ROM, see
//! [`super::atapi`]).
//!
//! Every IDE-R message has an 8-byte header: command, two reserved bytes, an attributes byte
//! (byte 1 is the status in 0x41), and a u32 sequence number. Each side numbers the messages
//! it sends from 0 at StartIDERRedirection (MeshCentral checks the device's numbers and closes
//! on a gap). Lengths, all little-endian:
//!
//! | command | length |
//! |---|---|
//! | 0x40 StartIDERRedirection | 18: header + u16 rx timeout, u16 tx timeout, u16 heartbeat, u32 version |
//! | 0x41 reply | 30 + OEM length (byte 29) |
//! | 0x42/0x43 end + reply, 0x44/0x45 keep-alive, 0x47 reset response, 0x4B heartbeat | 8 |
//! | 0x46 reset occurred | 9 (byte 8: reset mask) |
//! | 0x48 disable/enable features | 9 + 4 for type 3 (SET_REGISTER_STATE) |
//! | 0x49 reply | 13: type, u32 value |
//! | 0x4A error occurred | 11 |
//! | 0x50 command written | 28: ATA taskfile + 12-byte packet |
//! | 0x51 command end, 0x52 get data from host | 31 |
//! | 0x53 data from host | 14 + u16 length (bytes 9..11) |
//! | 0x54 data to host | 34 + u16 length (bytes 9..11) |
//!
//! # Sources and uncertain facts
//!
//! * Command numbers, lengths (18, 30, 8, 9, 13, 31), register masks, status bits, interrupt
//!   reasons, start modes and the device selectors: amtterm `RedirectionConstants.h`; message
//!   structs (0x50, 0x51, 0x54): amtterm `redir.h`; flows: amtterm `redir.c`/`ider.c` (1.7+)
//!   and MeshCentral `amt-ider-module.js`.
//! * 0x40: MeshCentral writes the 8-byte header then rx timeout 30000, tx timeout 0,
//!   heartbeat 20000, version 1. amtterm writes the three u16 values straight after the command
//!   byte (`40 <tx> <rx> <hb> 01 00…`), which this layout reads as odd sequence and timeout
//!   values; real firmware accepts both, so the device side must not reject odd values.
//! * 0x41: MeshCentral reads major/minor version at 8/9, firmware version at 10/11, the read
//!   and write buffer sizes at 16..18 and 18..20, a protocol byte at 21 (it refuses anything
//!   but 0; amtterm prints the same byte as "features"), IANA number at 25..29 and the OEM
//!   length at 29. Bytes 12..16, 20 and 22..25 are unexplained and kept as they came.
//! * 0x48: MeshCentral: "If type is REGS_TOGGLE (3), 4 bytes of data must be provided"; types
//!   1 and 2 carry none. The 0x49 answer to type 3 is 1 on success (MeshCentral logs anything
//!   else as a toggle failure); the answer to type 2 has bit 1 set while IDE-R is enabled.
//! * 0x53: MeshCentral reads the length at 9..11 and a 14-byte header; amtterm reads it at
//!   8..10 with a 10-byte header. This crate follows MeshCentral (the same place as 0x54's
//!   transfer length).
//! * 0x54 registers for a PIO transfer: MeshCentral puts the byte count in the input
//!   registers for PIO and 0 for DMA; amtterm does the opposite. The ATA rule (the byte count
//!   register tells the host how much a PIO DRQ block holds) agrees with MeshCentral, which
//!   [`DataToHost::new`] follows.

use super::{Command, SessionStatus, MAX_IDER_DATA_LEN};
use crate::Error;

/// Device-select values (the drive/head register): bit 4 selects the CD-ROM.
pub mod device {
    /// The virtual floppy (master).
    pub const FLOPPY: u8 = 0xA0;
    /// The virtual CD-ROM (slave).
    pub const CDROM: u8 = 0xB0;
}

/// Bits of [`AtaRegisters::mask`]: which registers the message sets.
pub mod register_mask {
    /// Raise the interrupt.
    pub const INTERRUPT: u8 = 0x01;
    /// Error register.
    pub const ERROR: u8 = 0x02;
    /// Sector count (interrupt reason for ATAPI).
    pub const SECTOR_COUNT: u8 = 0x04;
    /// Sector number.
    pub const SECTOR_NUMBER: u8 = 0x08;
    /// Byte count, low byte.
    pub const BYTE_COUNT_LSB: u8 = 0x10;
    /// Byte count, high byte.
    pub const BYTE_COUNT_MSB: u8 = 0x20;
    /// Drive select.
    pub const DRIVE_SELECT: u8 = 0x40;
    /// Status.
    pub const STATUS: u8 = 0x80;
}

/// ATA status register bits.
pub mod ata_status {
    /// Busy.
    pub const BSY: u8 = 0x80;
    /// Drive ready.
    pub const DRDY: u8 = 0x40;
    /// Drive fault.
    pub const DF: u8 = 0x20;
    /// Seek complete.
    pub const DSC: u8 = 0x10;
    /// Data request.
    pub const DRQ: u8 = 0x08;
    /// Corrected data.
    pub const CORR: u8 = 0x04;
    /// Index.
    pub const IDX: u8 = 0x02;
    /// Error (the sense key is in the error register's high nibble).
    pub const ERR: u8 = 0x01;
}

/// ATAPI interrupt reason bits (in the sector count register).
pub mod interrupt_reason {
    /// Transfer towards the host.
    pub const IO: u8 = 0x02;
    /// Command/status phase (set with IO: command complete).
    pub const CD: u8 = 0x01;
}

/// Bits of the attributes byte (byte 3) of 0x51–0x54.
pub mod attributes {
    /// The transfer uses DMA.
    pub const DMA: u8 = 0x01;
    /// The command is complete with this message.
    pub const COMPLETED: u8 = 0x02;
}

/// The ATA command ATAPI packets arrive with.
pub const ATA_PACKET: u8 = 0xA0;

/// Bit 0 of a SET_REGISTER_STATE value: enable the IDE-R drives.
pub const FEATURE_ENABLE: u32 = 0x01;

wire_u8_enum! {
    /// When the device starts redirecting (bits 3–4 of a SET_REGISTER_STATE value).
    IderStartMode, "IDE-R start mode" {
        /// 0x08: at the next host reboot.
        OnReboot = 0x08,
        /// 0x10: once the host's drive is idle.
        Graceful = 0x10,
        /// 0x18: now.
        Now = 0x18,
    }
}

impl IderStartMode {
    /// The SET_REGISTER_STATE value enabling IDE-R in this mode.
    pub fn enable_value(self) -> u32 {
        FEATURE_ENABLE | u32::from(self.value())
    }

    /// The mode a SET_REGISTER_STATE value asks for (`None` when bits 3–4 are 0).
    pub fn from_value(v: u32) -> Option<Self> {
        Self::try_from((v & 0x18) as u8).ok()
    }
}

wire_u8_enum! {
    /// Byte 8 of 0x48/0x49.
    FeatureType, "IDE-R feature request type" {
        /// 1: which features the device supports (REGS_AVAIL).
        GetSupported = 1,
        /// 2: the register state (REGS_STATUS; bit 1: enabled).
        GetRegisterState = 2,
        /// 3: set the register state (REGS_TOGGLE; [`FEATURE_ENABLE`] | start mode).
        SetRegisterState = 3,
    }
}

/// The three u16 settings of StartIDERRedirection (0x40), in wire order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IderSettings {
    /// Milliseconds of console silence the device tolerates (MeshCentral 30000).
    pub rx_timeout: u16,
    /// Milliseconds (MeshCentral 0).
    pub tx_timeout: u16,
    /// Milliseconds between heartbeats (MeshCentral 20000).
    pub heartbeat_interval: u16,
}

impl IderSettings {
    /// The values MeshCentral sends.
    pub const MESHCENTRAL: IderSettings = IderSettings {
        rx_timeout: 30000,
        tx_timeout: 0,
        heartbeat_interval: 20000,
    };
}

/// 0x40 StartIDERRedirection (18 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartIder {
    /// Sequence number (0: the console's first IDE-R message).
    pub seq: u32,
    /// Timeouts.
    pub settings: IderSettings,
    /// Protocol version (1).
    pub version: u32,
}

/// 0x41 StartIDERRedirectionReply (30 bytes + OEM data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartIderReply {
    /// Byte 1.
    pub status: SessionStatus,
    /// Sequence number.
    pub seq: u32,
    /// Bytes 8, 9: IDE-R protocol version.
    pub version: (u8, u8),
    /// Bytes 10, 11: firmware version.
    pub firmware: (u8, u8),
    /// Bytes 12..16 (meaning not public).
    pub reserved_12: [u8; 4],
    /// Bytes 16..18: the most data the device takes in one 0x54 (MeshCentral refuses > 8192).
    pub read_buffer: u16,
    /// Bytes 18..20: the most data it sends in one 0x53.
    pub write_buffer: u16,
    /// Byte 20 (meaning not public).
    pub reserved_20: u8,
    /// Byte 21: protocol (MeshCentral requires 0; amtterm prints it as "features").
    pub protocol: u8,
    /// Bytes 22..25 (meaning not public).
    pub reserved_22: [u8; 3],
    /// Bytes 25..29: IANA enterprise number.
    pub iana: u32,
    /// OEM data (length in byte 29).
    pub oem: Vec<u8>,
}

impl StartIderReply {
    /// Intel's IANA enterprise number (343).
    pub const INTEL_IANA: u32 = 343;

    /// A reply with these buffer sizes, version 1.0, protocol 0, Intel's IANA number.
    pub fn new(status: SessionStatus, seq: u32, read_buffer: u16, write_buffer: u16) -> Self {
        StartIderReply {
            status,
            seq,
            version: (1, 0),
            firmware: (1, 0),
            reserved_12: [0; 4],
            read_buffer,
            write_buffer,
            reserved_20: 0,
            protocol: 0,
            reserved_22: [0; 3],
            iana: Self::INTEL_IANA,
            oem: Vec::new(),
        }
    }
}

/// 0x46 ResetOccurred (9 bytes): the host reset its IDE bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetOccurred {
    /// Sequence number.
    pub seq: u32,
    /// Which devices were reset.
    pub mask: u8,
}

/// What a DisableEnableFeatures (0x48) asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureRequest {
    /// Type 1 (no data).
    GetSupported,
    /// Type 2 (no data).
    GetRegisterState,
    /// Type 3 with its value ([`IderStartMode::enable_value`], or 0 to disable).
    SetRegisterState(u32),
}

impl FeatureRequest {
    /// The type byte.
    pub fn kind(&self) -> FeatureType {
        match self {
            FeatureRequest::GetSupported => FeatureType::GetSupported,
            FeatureRequest::GetRegisterState => FeatureType::GetRegisterState,
            FeatureRequest::SetRegisterState(_) => FeatureType::SetRegisterState,
        }
    }
}

/// 0x48 DisableEnableFeatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisableEnableFeatures {
    /// Sequence number.
    pub seq: u32,
    /// The request.
    pub request: FeatureRequest,
}

/// 0x49 DisableEnableFeaturesReply (13 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisableEnableFeaturesReply {
    /// Sequence number.
    pub seq: u32,
    /// What it answers.
    pub kind: FeatureType,
    /// The value (type 3: 1 on success; type 2: bit 1 while enabled).
    pub value: u32,
}

/// 0x4A ErrorOccurred (11 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorOccurred {
    /// Sequence number.
    pub seq: u32,
    /// Byte 8 (MeshCentral logs it as the abort reason).
    pub code: u8,
    /// Bytes 9, 10.
    pub data: [u8; 2],
}

/// 0x50 CommandWritten (28 bytes): the host wrote an ATA command to a redirected drive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandWritten {
    /// Sequence number.
    pub seq: u32,
    /// Byte 8: cable select.
    pub cable_sel: u8,
    /// Byte 9: features register (bit 0: DMA).
    pub feature: u8,
    /// Byte 10.
    pub sector_count: u8,
    /// Byte 11.
    pub sector_number: u8,
    /// Bytes 12..14: byte count limit the host set for PIO transfers.
    pub byte_count: u16,
    /// Byte 14: drive select ([`device`]; bit 4 selects the CD-ROM).
    pub drive_select: u8,
    /// Byte 15: the ATA command ([`ATA_PACKET`] for ATAPI).
    pub command: u8,
    /// Bytes 16..28: the ATAPI command packet (CDB), see [`super::atapi::Cdb`].
    pub packet: [u8; 12],
}

impl CommandWritten {
    /// An ATAPI PACKET command for `device` ([`device::CDROM`] or [`device::FLOPPY`]), PIO,
    /// with the host's byte count limit at 0xFFFE.
    pub fn packet(seq: u32, device: u8, packet: [u8; 12]) -> Self {
        CommandWritten {
            seq,
            cable_sel: 0,
            feature: 0,
            sector_count: 0,
            sector_number: 0,
            byte_count: 0xFFFE,
            drive_select: device,
            command: ATA_PACKET,
            packet,
        }
    }

    /// The addressed drive: [`device::CDROM`] when bit 4 of drive select is set, else
    /// [`device::FLOPPY`] (amtterm and MeshCentral decide the same way).
    pub fn device(&self) -> u8 {
        if self.drive_select & 0x10 != 0 {
            device::CDROM
        } else {
            device::FLOPPY
        }
    }

    /// Whether the host asked for DMA.
    pub fn dma(&self) -> bool {
        self.feature & 1 != 0
    }
}

/// The eight ATA registers in 0x51–0x54 (input: the state during a transfer, output: the
/// state after the command), in wire order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AtaRegisters {
    /// [`register_mask`] bits: which of the others are set.
    pub mask: u8,
    /// Error register (the sense key in the high nibble).
    pub error: u8,
    /// Sector count (ATAPI interrupt reason, [`interrupt_reason`]).
    pub sector_count: u8,
    /// Sector number.
    pub sector_number: u8,
    /// Byte count (low byte first).
    pub byte_count: u16,
    /// Drive select.
    pub drive_select: u8,
    /// Status ([`ata_status`]).
    pub status: u8,
}

impl AtaRegisters {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.mask, self.error, self.sector_count, self.sector_number]);
        out.extend_from_slice(&self.byte_count.to_le_bytes());
        out.extend_from_slice(&[self.drive_select, self.status]);
    }

    fn read(b: &[u8]) -> Self {
        AtaRegisters {
            mask: b[0],
            error: b[1],
            sector_count: b[2],
            sector_number: b[3],
            byte_count: u16::from_le_bytes([b[4], b[5]]),
            drive_select: b[6],
            status: b[7],
        }
    }

    /// The registers at the end of a command: interrupt raised, "command complete" interrupt
    /// reason, DRDY|DSC, and with a non-zero sense key ERR and the key in the error register.
    pub fn completion(device: u8, sense_key: u8) -> Self {
        let mut r = AtaRegisters {
            mask: register_mask::INTERRUPT | register_mask::SECTOR_COUNT | register_mask::STATUS,
            error: 0,
            sector_count: interrupt_reason::IO | interrupt_reason::CD,
            sector_number: 0,
            byte_count: 0,
            drive_select: device,
            status: ata_status::DRDY | ata_status::DSC,
        };
        if sense_key != 0 {
            r.mask |= register_mask::ERROR;
            r.error = sense_key << 4;
            r.status |= ata_status::ERR;
        }
        r
    }
}

/// 0x51 CommandEndResponse and 0x52 GetDataFromHost (31 bytes each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandEnd {
    /// Sequence number.
    pub seq: u32,
    /// Byte 3 ([`attributes`]).
    pub attributes: u8,
    /// Byte 8.
    pub cable_sel: u8,
    /// Bytes 9..11: for 0x52, how many bytes the console wants.
    pub transfer_bytes: u16,
    /// Byte 11.
    pub packet_num: u8,
    /// Bytes 12..20.
    pub input: AtaRegisters,
    /// Bytes 20..28.
    pub output: AtaRegisters,
    /// Byte 28: SCSI sense key.
    pub sense_key: u8,
    /// Byte 29: additional sense code.
    pub asc: u8,
    /// Byte 30: additional sense code qualifier.
    pub ascq: u8,
}

impl CommandEnd {
    /// The end of a command on `device`: good status when `sense_key` is 0, else CHECK
    /// CONDITION with this sense (ERR set, the key in the error register).
    pub fn new(seq: u32, device: u8, sense_key: u8, asc: u8, ascq: u8) -> Self {
        let (asc, ascq) = if sense_key == 0 { (0, 0) } else { (asc, ascq) };
        CommandEnd {
            seq,
            attributes: attributes::COMPLETED,
            cable_sel: 0,
            transfer_bytes: 0,
            packet_num: 0,
            input: AtaRegisters::default(),
            output: AtaRegisters::completion(device, sense_key),
            sense_key,
            asc,
            ascq,
        }
    }

    /// Whether the command failed (ERR in the output status, or a sense key).
    pub fn is_error(&self) -> bool {
        self.output.status & ata_status::ERR != 0 || self.sense_key != 0
    }
}

/// 0x53 DataFromHost (14 bytes + data): what the host wrote (floppy writes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFromHost {
    /// Sequence number.
    pub seq: u32,
    /// Byte 3.
    pub attributes: u8,
    /// Byte 8.
    pub cable_sel: u8,
    /// Byte 11.
    pub packet_num: u8,
    /// Bytes 12..14 (meaning not public).
    pub reserved: [u8; 2],
    /// The data (length in bytes 9..11).
    pub data: Vec<u8>,
}

/// 0x54 DataToHost (34 bytes + data): data for the host's read; with
/// [`attributes::COMPLETED`] it also ends the command (good status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataToHost {
    /// Sequence number.
    pub seq: u32,
    /// Byte 3 ([`attributes`]).
    pub attributes: u8,
    /// Byte 8.
    pub cable_sel: u8,
    /// Byte 11.
    pub packet_num: u8,
    /// Bytes 12..20: registers during the transfer.
    pub input: AtaRegisters,
    /// Bytes 20..28: registers after it (when completed).
    pub output: AtaRegisters,
    /// Byte 28.
    pub sense_key: u8,
    /// Byte 29.
    pub asc: u8,
    /// Byte 30.
    pub ascq: u8,
    /// The data (at most [`MAX_IDER_DATA_LEN`] bytes; length in bytes 9..11).
    pub data: Vec<u8>,
}

impl DataToHost {
    /// Data for a read on `device`: DRQ with "to host" interrupt reason and, for PIO, the byte
    /// count in the input registers; when `completed`, good completion registers too.
    pub fn new(seq: u32, device: u8, data: Vec<u8>, completed: bool, dma: bool) -> Self {
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        let mut input = AtaRegisters {
            mask: register_mask::SECTOR_COUNT
                | register_mask::DRIVE_SELECT
                | register_mask::STATUS
                | register_mask::BYTE_COUNT_LSB
                | register_mask::BYTE_COUNT_MSB,
            error: 0,
            sector_count: interrupt_reason::IO,
            sector_number: 0,
            byte_count: if dma { 0 } else { len },
            drive_select: device,
            status: ata_status::DRDY | ata_status::DSC | ata_status::DRQ,
        };
        if !dma {
            input.mask |= register_mask::INTERRUPT;
        }
        let mut attrs = 0;
        if completed {
            attrs |= attributes::COMPLETED;
        }
        if dma {
            attrs |= attributes::DMA;
        }
        DataToHost {
            seq,
            attributes: attrs,
            cable_sel: 0,
            packet_num: 0,
            input,
            output: if completed {
                AtaRegisters::completion(device, 0)
            } else {
                AtaRegisters::default()
            },
            sense_key: 0,
            asc: 0,
            ascq: 0,
            data,
        }
    }

    /// Whether this message ends the command.
    pub fn completed(&self) -> bool {
        self.attributes & attributes::COMPLETED != 0
    }
}

/// Every IDE-R message (0x40–0x54), both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IderMessage {
    /// 0x40 console → device.
    Start(StartIder),
    /// 0x41 device → console.
    StartReply(StartIderReply),
    /// 0x42 console → device, with its sequence number.
    End(u32),
    /// 0x43 device → console.
    EndReply(u32),
    /// 0x44 either way.
    Ping(u32),
    /// 0x45 either way.
    Pong(u32),
    /// 0x46 device → console.
    ResetOccurred(ResetOccurred),
    /// 0x47 console → device.
    ResetOccurredResponse(u32),
    /// 0x48 console → device.
    DisableEnableFeatures(DisableEnableFeatures),
    /// 0x49 device → console.
    DisableEnableFeaturesReply(DisableEnableFeaturesReply),
    /// 0x4A device → console.
    ErrorOccurred(ErrorOccurred),
    /// 0x4B either way.
    Heartbeat(u32),
    /// 0x50 device → console.
    CommandWritten(CommandWritten),
    /// 0x51 console → device.
    CommandEnd(CommandEnd),
    /// 0x52 console → device: send me the data of a write.
    GetDataFromHost(CommandEnd),
    /// 0x53 device → console.
    DataFromHost(DataFromHost),
    /// 0x54 console → device.
    DataToHost(DataToHost),
}

/// IDE-R command bytes.
pub(super) mod cmd {
    pub const START: u8 = 0x40;
    pub const START_REPLY: u8 = 0x41;
    pub const END: u8 = 0x42;
    pub const END_REPLY: u8 = 0x43;
    pub const PING: u8 = 0x44;
    pub const PONG: u8 = 0x45;
    pub const RESET_OCCURRED: u8 = 0x46;
    pub const RESET_RESPONSE: u8 = 0x47;
    pub const FEATURES: u8 = 0x48;
    pub const FEATURES_REPLY: u8 = 0x49;
    pub const ERROR_OCCURRED: u8 = 0x4A;
    pub const HEARTBEAT: u8 = 0x4B;
    pub const COMMAND_WRITTEN: u8 = 0x50;
    pub const COMMAND_END: u8 = 0x51;
    pub const GET_DATA: u8 = 0x52;
    pub const DATA_FROM_HOST: u8 = 0x53;
    pub const DATA_TO_HOST: u8 = 0x54;
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn head(out: &mut Vec<u8>, cmd: u8, byte1: u8, attributes: u8, seq: u32) {
    out.extend_from_slice(&[cmd, byte1, 0, attributes]);
    out.extend_from_slice(&seq.to_le_bytes());
}

fn data_len(len: usize) -> Result<u16, Error> {
    u16::try_from(len).map_err(|_| Error::RedirectionFieldTooLong {
        field: "IDE-R data",
        len,
        max: MAX_IDER_DATA_LEN,
    })
}

impl IderMessage {
    /// The command.
    pub fn command(&self) -> Command {
        use Command as C;
        match self {
            IderMessage::Start(_) => C::StartIderRedirection,
            IderMessage::StartReply(_) => C::StartIderRedirectionReply,
            IderMessage::End(_) => C::EndIderRedirection,
            IderMessage::EndReply(_) => C::EndIderRedirectionReply,
            IderMessage::Ping(_) => C::IderKeepAlivePing,
            IderMessage::Pong(_) => C::IderKeepAlivePong,
            IderMessage::ResetOccurred(_) => C::IderResetOccurred,
            IderMessage::ResetOccurredResponse(_) => C::IderResetOccurredResponse,
            IderMessage::DisableEnableFeatures(_) => C::IderDisableEnableFeatures,
            IderMessage::DisableEnableFeaturesReply(_) => C::IderDisableEnableFeaturesReply,
            IderMessage::ErrorOccurred(_) => C::IderErrorOccurred,
            IderMessage::Heartbeat(_) => C::IderHeartbeat,
            IderMessage::CommandWritten(_) => C::IderCommandWritten,
            IderMessage::CommandEnd(_) => C::IderCommandEndResponse,
            IderMessage::GetDataFromHost(_) => C::IderGetDataFromHost,
            IderMessage::DataFromHost(_) => C::IderDataFromHost,
            IderMessage::DataToHost(_) => C::IderDataToHost,
        }
    }

    /// The sequence number (bytes 4..8).
    pub fn seq(&self) -> u32 {
        match self {
            IderMessage::Start(m) => m.seq,
            IderMessage::StartReply(m) => m.seq,
            IderMessage::End(s)
            | IderMessage::EndReply(s)
            | IderMessage::Ping(s)
            | IderMessage::Pong(s)
            | IderMessage::ResetOccurredResponse(s)
            | IderMessage::Heartbeat(s) => *s,
            IderMessage::ResetOccurred(m) => m.seq,
            IderMessage::DisableEnableFeatures(m) => m.seq,
            IderMessage::DisableEnableFeaturesReply(m) => m.seq,
            IderMessage::ErrorOccurred(m) => m.seq,
            IderMessage::CommandWritten(m) => m.seq,
            IderMessage::CommandEnd(m) | IderMessage::GetDataFromHost(m) => m.seq,
            IderMessage::DataFromHost(m) => m.seq,
            IderMessage::DataToHost(m) => m.seq,
        }
    }

    /// Sets the sequence number (senders number their messages as they send them).
    pub fn set_seq(&mut self, seq: u32) {
        match self {
            IderMessage::Start(m) => m.seq = seq,
            IderMessage::StartReply(m) => m.seq = seq,
            IderMessage::End(s)
            | IderMessage::EndReply(s)
            | IderMessage::Ping(s)
            | IderMessage::Pong(s)
            | IderMessage::ResetOccurredResponse(s)
            | IderMessage::Heartbeat(s) => *s = seq,
            IderMessage::ResetOccurred(m) => m.seq = seq,
            IderMessage::DisableEnableFeatures(m) => m.seq = seq,
            IderMessage::DisableEnableFeaturesReply(m) => m.seq = seq,
            IderMessage::ErrorOccurred(m) => m.seq = seq,
            IderMessage::CommandWritten(m) => m.seq = seq,
            IderMessage::CommandEnd(m) | IderMessage::GetDataFromHost(m) => m.seq = seq,
            IderMessage::DataFromHost(m) => m.seq = seq,
            IderMessage::DataToHost(m) => m.seq = seq,
        }
    }

    /// Appends the wire bytes.
    ///
    /// # Errors
    /// [`Error::RedirectionFieldTooLong`] for data over [`MAX_IDER_DATA_LEN`] bytes or OEM data
    /// over 255 bytes.
    pub(super) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let c = self.command().value();
        match self {
            IderMessage::Start(s) => {
                head(out, c, 0, 0, s.seq);
                for v in [
                    s.settings.rx_timeout,
                    s.settings.tx_timeout,
                    s.settings.heartbeat_interval,
                ] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.extend_from_slice(&s.version.to_le_bytes());
            }
            IderMessage::StartReply(r) => {
                let oem =
                    u8::try_from(r.oem.len()).map_err(|_| Error::RedirectionFieldTooLong {
                        field: "OEM data",
                        len: r.oem.len(),
                        max: 255,
                    })?;
                head(out, c, r.status.value(), 0, r.seq);
                out.extend_from_slice(&[r.version.0, r.version.1, r.firmware.0, r.firmware.1]);
                out.extend_from_slice(&r.reserved_12);
                out.extend_from_slice(&r.read_buffer.to_le_bytes());
                out.extend_from_slice(&r.write_buffer.to_le_bytes());
                out.push(r.reserved_20);
                out.push(r.protocol);
                out.extend_from_slice(&r.reserved_22);
                out.extend_from_slice(&r.iana.to_le_bytes());
                out.push(oem);
                out.extend_from_slice(&r.oem);
            }
            IderMessage::End(s)
            | IderMessage::EndReply(s)
            | IderMessage::Ping(s)
            | IderMessage::Pong(s)
            | IderMessage::ResetOccurredResponse(s)
            | IderMessage::Heartbeat(s) => head(out, c, 0, 0, *s),
            IderMessage::ResetOccurred(r) => {
                head(out, c, 0, 0, r.seq);
                out.push(r.mask);
            }
            IderMessage::DisableEnableFeatures(f) => {
                head(out, c, 0, 0, f.seq);
                out.push(f.request.kind().value());
                if let FeatureRequest::SetRegisterState(v) = f.request {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            IderMessage::DisableEnableFeaturesReply(r) => {
                head(out, c, 0, 0, r.seq);
                out.push(r.kind.value());
                out.extend_from_slice(&r.value.to_le_bytes());
            }
            IderMessage::ErrorOccurred(e) => {
                head(out, c, 0, 0, e.seq);
                out.push(e.code);
                out.extend_from_slice(&e.data);
            }
            IderMessage::CommandWritten(w) => {
                head(out, c, 0, 0, w.seq);
                out.extend_from_slice(&[w.cable_sel, w.feature, w.sector_count, w.sector_number]);
                out.extend_from_slice(&w.byte_count.to_le_bytes());
                out.extend_from_slice(&[w.drive_select, w.command]);
                out.extend_from_slice(&w.packet);
            }
            IderMessage::CommandEnd(e) | IderMessage::GetDataFromHost(e) => {
                head(out, c, 0, e.attributes, e.seq);
                out.push(e.cable_sel);
                out.extend_from_slice(&e.transfer_bytes.to_le_bytes());
                out.push(e.packet_num);
                e.input.write(out);
                e.output.write(out);
                out.extend_from_slice(&[e.sense_key, e.asc, e.ascq]);
            }
            IderMessage::DataFromHost(d) => {
                let len = data_len(d.data.len())?;
                head(out, c, 0, d.attributes, d.seq);
                out.push(d.cable_sel);
                out.extend_from_slice(&len.to_le_bytes());
                out.push(d.packet_num);
                out.extend_from_slice(&d.reserved);
                out.extend_from_slice(&d.data);
            }
            IderMessage::DataToHost(d) => {
                let len = data_len(d.data.len())?;
                head(out, c, 0, d.attributes, d.seq);
                out.push(d.cable_sel);
                out.extend_from_slice(&len.to_le_bytes());
                out.push(d.packet_num);
                d.input.write(out);
                d.output.write(out);
                out.extend_from_slice(&[d.sense_key, d.asc, d.ascq, 0, 0, 0]);
                out.extend_from_slice(&d.data);
            }
        }
        Ok(())
    }

    /// The length of the IDE-R message at the start of `buf` (its first byte is an IDE-R
    /// command), `Ok(None)` while that cannot be told yet.
    ///
    /// # Errors
    /// [`Error::UnknownRedirectionValue`] for a 0x48 with an unknown type.
    pub(super) fn frame_len(buf: &[u8]) -> Result<Option<usize>, Error> {
        let Some(&c) = buf.first() else {
            return Ok(None);
        };
        let len = match c {
            cmd::START => 18,
            cmd::START_REPLY => match buf.get(29) {
                None => return Ok(None),
                Some(&oem) => 30 + usize::from(oem),
            },
            cmd::END
            | cmd::END_REPLY
            | cmd::PING
            | cmd::PONG
            | cmd::RESET_RESPONSE
            | cmd::HEARTBEAT => 8,
            cmd::RESET_OCCURRED => 9,
            cmd::FEATURES => match buf.get(8) {
                None => return Ok(None),
                Some(&t) => match FeatureType::try_from(t)? {
                    FeatureType::SetRegisterState => 13,
                    FeatureType::GetSupported | FeatureType::GetRegisterState => 9,
                },
            },
            cmd::FEATURES_REPLY => 13,
            cmd::ERROR_OCCURRED => 11,
            cmd::COMMAND_WRITTEN => 28,
            cmd::COMMAND_END | cmd::GET_DATA => 31,
            cmd::DATA_FROM_HOST | cmd::DATA_TO_HOST => {
                if buf.len() < 11 {
                    return Ok(None);
                }
                let header = if c == cmd::DATA_TO_HOST { 34 } else { 14 };
                header + usize::from(u16_at(buf, 9))
            }
            other => return Err(Error::UnknownRedirectionCommand(other)),
        };
        Ok(Some(len))
    }

    /// Decodes one whole frame whose length [`IderMessage::frame_len`] checked.
    ///
    /// # Errors
    /// An unknown status or feature type.
    pub(super) fn decode_frame(b: &[u8]) -> Result<IderMessage, Error> {
        let seq = u32_at(b, 4);
        Ok(match b[0] {
            cmd::START => IderMessage::Start(StartIder {
                seq,
                settings: IderSettings {
                    rx_timeout: u16_at(b, 8),
                    tx_timeout: u16_at(b, 10),
                    heartbeat_interval: u16_at(b, 12),
                },
                version: u32_at(b, 14),
            }),
            cmd::START_REPLY => IderMessage::StartReply(StartIderReply {
                status: SessionStatus::try_from(b[1])?,
                seq,
                version: (b[8], b[9]),
                firmware: (b[10], b[11]),
                reserved_12: [b[12], b[13], b[14], b[15]],
                read_buffer: u16_at(b, 16),
                write_buffer: u16_at(b, 18),
                reserved_20: b[20],
                protocol: b[21],
                reserved_22: [b[22], b[23], b[24]],
                iana: u32_at(b, 25),
                oem: b[30..].to_vec(),
            }),
            cmd::END => IderMessage::End(seq),
            cmd::END_REPLY => IderMessage::EndReply(seq),
            cmd::PING => IderMessage::Ping(seq),
            cmd::PONG => IderMessage::Pong(seq),
            cmd::RESET_RESPONSE => IderMessage::ResetOccurredResponse(seq),
            cmd::HEARTBEAT => IderMessage::Heartbeat(seq),
            cmd::RESET_OCCURRED => IderMessage::ResetOccurred(ResetOccurred { seq, mask: b[8] }),
            cmd::FEATURES => {
                let request = match FeatureType::try_from(b[8])? {
                    FeatureType::GetSupported => FeatureRequest::GetSupported,
                    FeatureType::GetRegisterState => FeatureRequest::GetRegisterState,
                    FeatureType::SetRegisterState => FeatureRequest::SetRegisterState(u32_at(b, 9)),
                };
                IderMessage::DisableEnableFeatures(DisableEnableFeatures { seq, request })
            }
            cmd::FEATURES_REPLY => {
                IderMessage::DisableEnableFeaturesReply(DisableEnableFeaturesReply {
                    seq,
                    kind: FeatureType::try_from(b[8])?,
                    value: u32_at(b, 9),
                })
            }
            cmd::ERROR_OCCURRED => IderMessage::ErrorOccurred(ErrorOccurred {
                seq,
                code: b[8],
                data: [b[9], b[10]],
            }),
            cmd::COMMAND_WRITTEN => {
                let mut packet = [0u8; 12];
                packet.copy_from_slice(&b[16..28]);
                IderMessage::CommandWritten(CommandWritten {
                    seq,
                    cable_sel: b[8],
                    feature: b[9],
                    sector_count: b[10],
                    sector_number: b[11],
                    byte_count: u16_at(b, 12),
                    drive_select: b[14],
                    command: b[15],
                    packet,
                })
            }
            c @ (cmd::COMMAND_END | cmd::GET_DATA) => {
                let e = CommandEnd {
                    seq,
                    attributes: b[3],
                    cable_sel: b[8],
                    transfer_bytes: u16_at(b, 9),
                    packet_num: b[11],
                    input: AtaRegisters::read(&b[12..20]),
                    output: AtaRegisters::read(&b[20..28]),
                    sense_key: b[28],
                    asc: b[29],
                    ascq: b[30],
                };
                if c == cmd::COMMAND_END {
                    IderMessage::CommandEnd(e)
                } else {
                    IderMessage::GetDataFromHost(e)
                }
            }
            cmd::DATA_FROM_HOST => IderMessage::DataFromHost(DataFromHost {
                seq,
                attributes: b[3],
                cable_sel: b[8],
                packet_num: b[11],
                reserved: [b[12], b[13]],
                data: b[14..].to_vec(),
            }),
            cmd::DATA_TO_HOST => IderMessage::DataToHost(DataToHost {
                seq,
                attributes: b[3],
                cable_sel: b[8],
                packet_num: b[11],
                input: AtaRegisters::read(&b[12..20]),
                output: AtaRegisters::read(&b[20..28]),
                sense_key: b[28],
                asc: b[29],
                ascq: b[30],
                data: b[34..].to_vec(),
            }),
            other => return Err(Error::UnknownRedirectionCommand(other)),
        })
    }
}
