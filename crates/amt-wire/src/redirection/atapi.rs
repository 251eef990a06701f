//! The ATAPI command packets (SCSI CDBs, 12 bytes) carried in IDE-R CommandWritten (0x50), and
//! the sense data a console answers failures with. Both sides: the device (emulated BIOS)
//! builds packets with [`Cdb::encode`], the console reads them with [`Cdb::parse`].
//!
//! Operation codes and CDB layouts are the SCSI ones (SPC for TEST UNIT READY, REQUEST SENSE,
//! INQUIRY, MODE SENSE; SBC for READ CAPACITY(10), READ(10), READ(12); MMC for READ TOC,
//! GET CONFIGURATION, GET EVENT STATUS NOTIFICATION): all multi-byte fields are big-endian.
//! The set is what amtterm's `ider.c` and MeshCentral's `amt-ider-module.js` answer, plus
//! INQUIRY and REQUEST SENSE. Anything else parses as [`Cdb::Other`] and is answered with
//! ILLEGAL REQUEST / invalid command operation code.

/// One ATAPI command packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cdb {
    /// 0x00.
    TestUnitReady,
    /// 0x03: the sense of the last command.
    RequestSense {
        /// Allocation length.
        alloc: u8,
    },
    /// 0x12.
    Inquiry {
        /// EVPD bit: a vital product data page is asked for.
        evpd: bool,
        /// VPD page code.
        page: u8,
        /// Allocation length.
        alloc: u16,
    },
    /// 0x1A MODE SENSE(6).
    ModeSense6 {
        /// Page code (low 6 bits of byte 2).
        page: u8,
        /// Subpage code.
        subpage: u8,
        /// Allocation length.
        alloc: u8,
    },
    /// 0x1B START STOP UNIT (eject/load).
    StartStopUnit {
        /// START bit.
        start: bool,
        /// LOEJ bit.
        load_eject: bool,
    },
    /// 0x1E PREVENT ALLOW MEDIUM REMOVAL.
    PreventAllowMediumRemoval {
        /// Prevent bit.
        prevent: bool,
    },
    /// 0x23 READ FORMAT CAPACITIES (floppy).
    ReadFormatCapacities {
        /// Allocation length.
        alloc: u16,
    },
    /// 0x25 READ CAPACITY(10).
    ReadCapacity,
    /// 0x28 READ(10).
    Read10 {
        /// First logical block.
        lba: u32,
        /// Number of blocks.
        blocks: u16,
    },
    /// 0xA8 READ(12).
    Read12 {
        /// First logical block.
        lba: u32,
        /// Number of blocks.
        blocks: u32,
    },
    /// 0x43 READ TOC/PMA/ATIP.
    ReadToc {
        /// MSF addressing.
        msf: bool,
        /// Format (low 4 bits of byte 2).
        format: u8,
        /// Starting track.
        track: u8,
        /// Allocation length.
        alloc: u16,
    },
    /// 0x46 GET CONFIGURATION.
    GetConfiguration {
        /// RT field.
        rt: u8,
        /// Starting feature number.
        start: u16,
        /// Allocation length.
        alloc: u16,
    },
    /// 0x4A GET EVENT STATUS NOTIFICATION.
    GetEventStatusNotification {
        /// Polled bit.
        polled: bool,
        /// Notification class request.
        classes: u8,
        /// Allocation length.
        alloc: u16,
    },
    /// 0x5A MODE SENSE(10).
    ModeSense10 {
        /// Page code (low 6 bits of byte 2).
        page: u8,
        /// Subpage code.
        subpage: u8,
        /// Allocation length.
        alloc: u16,
    },
    /// Any other operation code (the packet is kept).
    Other([u8; 12]),
}

/// Operation codes.
pub mod opcode {
    /// TEST UNIT READY.
    pub const TEST_UNIT_READY: u8 = 0x00;
    /// REQUEST SENSE.
    pub const REQUEST_SENSE: u8 = 0x03;
    /// INQUIRY.
    pub const INQUIRY: u8 = 0x12;
    /// MODE SENSE(6).
    pub const MODE_SENSE_6: u8 = 0x1A;
    /// START STOP UNIT.
    pub const START_STOP_UNIT: u8 = 0x1B;
    /// PREVENT ALLOW MEDIUM REMOVAL.
    pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1E;
    /// READ FORMAT CAPACITIES.
    pub const READ_FORMAT_CAPACITIES: u8 = 0x23;
    /// READ CAPACITY(10).
    pub const READ_CAPACITY: u8 = 0x25;
    /// READ(10).
    pub const READ_10: u8 = 0x28;
    /// READ TOC.
    pub const READ_TOC: u8 = 0x43;
    /// GET CONFIGURATION.
    pub const GET_CONFIGURATION: u8 = 0x46;
    /// GET EVENT STATUS NOTIFICATION.
    pub const GET_EVENT_STATUS_NOTIFICATION: u8 = 0x4A;
    /// MODE SENSE(10).
    pub const MODE_SENSE_10: u8 = 0x5A;
    /// READ(12).
    pub const READ_12: u8 = 0xA8;
}

fn be16(b: &[u8; 12], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn be32(b: &[u8; 12], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl Cdb {
    /// Reads a packet. Never fails: unknown operation codes are [`Cdb::Other`].
    pub fn parse(p: &[u8; 12]) -> Cdb {
        use opcode as op;
        match p[0] {
            op::TEST_UNIT_READY => Cdb::TestUnitReady,
            op::REQUEST_SENSE => Cdb::RequestSense { alloc: p[4] },
            op::INQUIRY => Cdb::Inquiry {
                evpd: p[1] & 1 != 0,
                page: p[2],
                alloc: be16(p, 3),
            },
            op::MODE_SENSE_6 => Cdb::ModeSense6 {
                page: p[2] & 0x3F,
                subpage: p[3],
                alloc: p[4],
            },
            op::START_STOP_UNIT => Cdb::StartStopUnit {
                start: p[4] & 1 != 0,
                load_eject: p[4] & 2 != 0,
            },
            op::PREVENT_ALLOW_MEDIUM_REMOVAL => Cdb::PreventAllowMediumRemoval {
                prevent: p[4] & 1 != 0,
            },
            op::READ_FORMAT_CAPACITIES => Cdb::ReadFormatCapacities { alloc: be16(p, 7) },
            op::READ_CAPACITY => Cdb::ReadCapacity,
            op::READ_10 => Cdb::Read10 {
                lba: be32(p, 2),
                blocks: be16(p, 7),
            },
            op::READ_12 => Cdb::Read12 {
                lba: be32(p, 2),
                blocks: be32(p, 6),
            },
            op::READ_TOC => Cdb::ReadToc {
                msf: p[1] & 2 != 0,
                format: p[2] & 0x0F,
                track: p[6],
                alloc: be16(p, 7),
            },
            op::GET_CONFIGURATION => Cdb::GetConfiguration {
                rt: p[1] & 3,
                start: be16(p, 2),
                alloc: be16(p, 7),
            },
            op::GET_EVENT_STATUS_NOTIFICATION => Cdb::GetEventStatusNotification {
                polled: p[1] & 1 != 0,
                classes: p[4],
                alloc: be16(p, 7),
            },
            op::MODE_SENSE_10 => Cdb::ModeSense10 {
                page: p[2] & 0x3F,
                subpage: p[3],
                alloc: be16(p, 7),
            },
            _ => Cdb::Other(*p),
        }
    }

    /// The packet bytes (reserved and unmodelled bits zero). `parse(encode(c)) == c` for
    /// every `c` whose fields fit their bit widths.
    pub fn encode(&self) -> [u8; 12] {
        use opcode as op;
        let mut p = [0u8; 12];
        let put16 =
            |p: &mut [u8; 12], i: usize, v: u16| p[i..i + 2].copy_from_slice(&v.to_be_bytes());
        let put32 =
            |p: &mut [u8; 12], i: usize, v: u32| p[i..i + 4].copy_from_slice(&v.to_be_bytes());
        match *self {
            Cdb::TestUnitReady => p[0] = op::TEST_UNIT_READY,
            Cdb::RequestSense { alloc } => {
                p[0] = op::REQUEST_SENSE;
                p[4] = alloc;
            }
            Cdb::Inquiry { evpd, page, alloc } => {
                p[0] = op::INQUIRY;
                p[1] = u8::from(evpd);
                p[2] = page;
                put16(&mut p, 3, alloc);
            }
            Cdb::ModeSense6 {
                page,
                subpage,
                alloc,
            } => {
                p[0] = op::MODE_SENSE_6;
                p[2] = page & 0x3F;
                p[3] = subpage;
                p[4] = alloc;
            }
            Cdb::StartStopUnit { start, load_eject } => {
                p[0] = op::START_STOP_UNIT;
                p[4] = u8::from(start) | (u8::from(load_eject) << 1);
            }
            Cdb::PreventAllowMediumRemoval { prevent } => {
                p[0] = op::PREVENT_ALLOW_MEDIUM_REMOVAL;
                p[4] = u8::from(prevent);
            }
            Cdb::ReadFormatCapacities { alloc } => {
                p[0] = op::READ_FORMAT_CAPACITIES;
                put16(&mut p, 7, alloc);
            }
            Cdb::ReadCapacity => p[0] = op::READ_CAPACITY,
            Cdb::Read10 { lba, blocks } => {
                p[0] = op::READ_10;
                put32(&mut p, 2, lba);
                put16(&mut p, 7, blocks);
            }
            Cdb::Read12 { lba, blocks } => {
                p[0] = op::READ_12;
                put32(&mut p, 2, lba);
                put32(&mut p, 6, blocks);
            }
            Cdb::ReadToc {
                msf,
                format,
                track,
                alloc,
            } => {
                p[0] = op::READ_TOC;
                p[1] = u8::from(msf) << 1;
                p[2] = format & 0x0F;
                p[6] = track;
                put16(&mut p, 7, alloc);
            }
            Cdb::GetConfiguration { rt, start, alloc } => {
                p[0] = op::GET_CONFIGURATION;
                p[1] = rt & 3;
                put16(&mut p, 2, start);
                put16(&mut p, 7, alloc);
            }
            Cdb::GetEventStatusNotification {
                polled,
                classes,
                alloc,
            } => {
                p[0] = op::GET_EVENT_STATUS_NOTIFICATION;
                p[1] = u8::from(polled);
                p[4] = classes;
                put16(&mut p, 7, alloc);
            }
            Cdb::ModeSense10 {
                page,
                subpage,
                alloc,
            } => {
                p[0] = op::MODE_SENSE_10;
                p[2] = page & 0x3F;
                p[3] = subpage;
                put16(&mut p, 7, alloc);
            }
            Cdb::Other(raw) => p = raw,
        }
        p
    }

    /// The operation code.
    pub fn opcode(&self) -> u8 {
        self.encode()[0]
    }
}

/// SCSI sense: key, additional sense code and qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sense {
    /// Sense key (0 none, 2 not ready, 5 illegal request, 6 unit attention, …).
    pub key: u8,
    /// Additional sense code.
    pub asc: u8,
    /// Qualifier.
    pub ascq: u8,
}

impl Sense {
    /// No error.
    pub const NONE: Sense = Sense::new(0, 0, 0);
    /// NOT READY, MEDIUM NOT PRESENT (02/3A/00): no image served for this drive.
    pub const MEDIUM_NOT_PRESENT: Sense = Sense::new(2, 0x3A, 0);
    /// UNIT ATTENTION, NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (06/28/00): the
    /// first TEST UNIT READY after a medium was inserted (MeshCentral answers it once).
    pub const MEDIUM_CHANGED: Sense = Sense::new(6, 0x28, 0);
    /// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (05/20/00).
    pub const INVALID_OPCODE: Sense = Sense::new(5, 0x20, 0);
    /// ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (05/21/00).
    pub const LBA_OUT_OF_RANGE: Sense = Sense::new(5, 0x21, 0);
    /// ILLEGAL REQUEST, INVALID FIELD IN CDB (05/24/00).
    pub const INVALID_FIELD: Sense = Sense::new(5, 0x24, 0);
    /// MEDIUM ERROR, UNRECOVERED READ ERROR (03/11/00): the image could not be read.
    pub const READ_ERROR: Sense = Sense::new(3, 0x11, 0);
    /// DATA PROTECT, WRITE PROTECTED (07/27/00).
    pub const WRITE_PROTECTED: Sense = Sense::new(7, 0x27, 0);

    /// A sense value.
    pub const fn new(key: u8, asc: u8, ascq: u8) -> Self {
        Sense { key, asc, ascq }
    }

    /// Whether this reports an error.
    pub fn is_error(&self) -> bool {
        self.key != 0
    }

    /// Fixed-format sense data (18 bytes) as REQUEST SENSE returns it.
    pub fn fixed_format(&self) -> [u8; 18] {
        let mut d = [0u8; 18];
        d[0] = 0x70;
        d[2] = self.key & 0x0F;
        d[7] = 10;
        d[12] = self.asc;
        d[13] = self.ascq;
        d
    }
}

impl std::fmt::Display for Sense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.key, self.asc) {
            (0, _) => "no sense",
            (2, 0x3A) => "not ready: medium not present",
            (6, 0x28) => "unit attention: medium may have changed",
            (5, 0x20) => "illegal request: invalid command operation code",
            (5, 0x21) => "illegal request: logical block address out of range",
            (5, 0x24) => "illegal request: invalid field in CDB",
            (3, _) => "medium error",
            (7, _) => "data protect",
            (2, _) => "not ready",
            (5, _) => "illegal request",
            (6, _) => "unit attention",
            _ => "error",
        };
        write!(
            f,
            "{what} ({:02X}/{:02X}/{:02X})",
            self.key, self.asc, self.ascq
        )
    }
}
