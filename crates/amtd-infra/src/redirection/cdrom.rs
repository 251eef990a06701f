//! A read-only ATAPI CD-ROM drive, sans-IO: answers the ATA/ATAPI commands an IDE-R device
//! writes (CommandWritten, 0x50) for a disk image of a given size. It never touches the image:
//! reads come back as [`Reply::Read`] for the caller to fetch, in whatever chunks it likes.
//!
//! Behaviour (SPC/MMC semantics; the answered set is what amtterm's `ider.c` and MeshCentral's
//! `amt-ider-module.js` answer, plus INQUIRY and REQUEST SENSE):
//! * The image is 2048-byte blocks; a last partial block reads as zero-padded.
//! * The first TEST UNIT READY after the drive appears reports UNIT ATTENTION, medium may have
//!   changed (06/28/00), as MeshCentral does and real drives do after a medium is inserted;
//!   then the drive is ready. An empty image is NOT READY, medium not present (02/3A/00).
//! * READ(10)/READ(12) outside the image: ILLEGAL REQUEST, LBA out of range (05/21/00); a
//!   zero-length read ends with good status.
//! * Writes: DATA PROTECT, write protected (07/27/00). Unknown packets: ILLEGAL REQUEST, invalid
//!   operation code (05/20/00); packets for the floppy: medium not present; ATA commands other
//!   than PACKET: invalid operation code.
//! * REQUEST SENSE returns (and clears) the sense of the last failed command.

use amt_wire::redirection::atapi::{Cdb, Sense};
use amt_wire::redirection::boot_image::CD_SECTOR;
use amt_wire::redirection::ider::{device, ATA_PACKET};
use amt_wire::redirection::CommandWritten;

/// What the drive answers to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This data, then good status.
    Data(Vec<u8>),
    /// `blocks` 2048-byte blocks of the image from `lba` (all inside the image), then good
    /// status.
    Read {
        /// First block.
        lba: u64,
        /// Number of blocks (at least 1).
        blocks: u64,
    },
    /// No data; this status ([`Sense::NONE`] for good).
    Status(Sense),
}

/// The drive.
#[derive(Debug, Clone)]
pub struct CdDrive {
    blocks: u64,
    attention: bool,
    sense: Sense,
}

/// The WRITE opcodes (refused as write protected).
const WRITES: [u8; 4] = [0x0A, 0x2A, 0x2E, 0xAA];

impl CdDrive {
    /// A drive holding an image of `image_len` bytes.
    pub fn new(image_len: u64) -> Self {
        CdDrive {
            blocks: image_len.div_ceil(CD_SECTOR as u64),
            attention: true,
            sense: Sense::NONE,
        }
    }

    /// The medium's size in 2048-byte blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    fn status(&mut self, s: Sense) -> Reply {
        self.sense = s;
        Reply::Status(s)
    }

    /// The answer to one command.
    pub fn command(&mut self, w: &CommandWritten) -> Reply {
        if w.command != ATA_PACKET {
            return self.status(Sense::INVALID_OPCODE);
        }
        if w.device() != device::CDROM {
            return self.status(Sense::MEDIUM_NOT_PRESENT);
        }
        self.packet(&Cdb::parse(&w.packet))
    }

    /// The answer to one ATAPI packet for the CD-ROM.
    pub fn packet(&mut self, cdb: &Cdb) -> Reply {
        if let Cdb::RequestSense { alloc } = *cdb {
            let s = std::mem::replace(&mut self.sense, Sense::NONE);
            return data(s.fixed_format().to_vec(), usize::from(alloc));
        }
        if let Cdb::Inquiry { evpd, alloc, .. } = *cdb {
            return if evpd {
                self.status(Sense::INVALID_FIELD)
            } else {
                self.sense = Sense::NONE;
                data(inquiry(), usize::from(alloc))
            };
        }
        if self.blocks == 0 {
            return self.status(Sense::MEDIUM_NOT_PRESENT);
        }
        let reply = match *cdb {
            Cdb::TestUnitReady => {
                if std::mem::replace(&mut self.attention, false) {
                    return self.status(Sense::MEDIUM_CHANGED);
                }
                Reply::Status(Sense::NONE)
            }
            Cdb::ReadCapacity => {
                let last = u32::try_from(self.blocks - 1).unwrap_or(u32::MAX);
                let mut d = last.to_be_bytes().to_vec();
                d.extend_from_slice(&(CD_SECTOR as u32).to_be_bytes());
                Reply::Data(d)
            }
            Cdb::Read10 { lba, blocks } => self.read(u64::from(lba), u64::from(blocks)),
            Cdb::Read12 { lba, blocks } => self.read(u64::from(lba), u64::from(blocks)),
            Cdb::PreventAllowMediumRemoval { .. } | Cdb::StartStopUnit { .. } => {
                Reply::Status(Sense::NONE)
            }
            Cdb::ModeSense6 { page, alloc, .. } => match mode_pages(page) {
                Some(pages) => {
                    // Header: mode data length, medium type, write protected, no descriptors.
                    let mut d = vec![(3 + pages.len()).min(255) as u8, 0, 0x80, 0];
                    d.extend_from_slice(&pages);
                    data(d, usize::from(alloc))
                }
                None => return self.status(Sense::INVALID_FIELD),
            },
            Cdb::ModeSense10 { page, alloc, .. } => match mode_pages(page) {
                Some(pages) => {
                    let len = (6 + pages.len()) as u16;
                    let mut d = len.to_be_bytes().to_vec();
                    d.extend_from_slice(&[0, 0x80, 0, 0, 0, 0]);
                    d.extend_from_slice(&pages);
                    data(d, usize::from(alloc))
                }
                None => return self.status(Sense::INVALID_FIELD),
            },
            Cdb::ReadToc { format, alloc, .. } => match format {
                0 => data(self.toc(), usize::from(alloc)),
                // Session information: one session, first track 1 at LBA 0.
                1 => data(
                    vec![0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0],
                    usize::from(alloc),
                ),
                _ => return self.status(Sense::INVALID_FIELD),
            },
            Cdb::GetConfiguration { alloc, .. } => {
                // Feature header (current profile 0x0008, CD-ROM) and the profile list.
                let mut d = vec![0, 0, 0, 0, 0, 0, 0x00, 0x08];
                d.extend_from_slice(&[0x00, 0x00, 0x03, 0x04, 0x00, 0x08, 0x01, 0x00]);
                let len = (d.len() - 4) as u32;
                d[..4].copy_from_slice(&len.to_be_bytes());
                data(d, usize::from(alloc))
            }
            Cdb::GetEventStatusNotification {
                polled,
                classes,
                alloc,
            } => {
                if !polled {
                    return self.status(Sense::INVALID_FIELD);
                }
                let d = if classes & 0x10 != 0 {
                    // Media class: no change, medium present.
                    vec![0, 6, 0x04, 0x10, 0x00, 0x02, 0, 0]
                } else {
                    // No event available for the requested classes.
                    vec![0, 2, 0x80, 0x10]
                };
                data(d, usize::from(alloc))
            }
            Cdb::Other(p) if WRITES.contains(&p[0]) => return self.status(Sense::WRITE_PROTECTED),
            _ => return self.status(Sense::INVALID_OPCODE),
        };
        self.sense = Sense::NONE;
        reply
    }

    fn read(&mut self, lba: u64, blocks: u64) -> Reply {
        if lba.saturating_add(blocks) > self.blocks {
            return self.status(Sense::LBA_OUT_OF_RANGE);
        }
        if blocks == 0 {
            return Reply::Status(Sense::NONE);
        }
        Reply::Read { lba, blocks }
    }

    /// READ TOC format 0: one data track from LBA 0 and the lead-out after the last block.
    fn toc(&self) -> Vec<u8> {
        let lead_out = u32::try_from(self.blocks).unwrap_or(u32::MAX).to_be_bytes();
        let mut d = vec![0, 18, 1, 1];
        d.extend_from_slice(&[0, 0x14, 1, 0, 0, 0, 0, 0]);
        d.extend_from_slice(&[0, 0x14, 0xAA, 0]);
        d.extend_from_slice(&lead_out);
        d
    }
}

fn data(mut d: Vec<u8>, alloc: usize) -> Reply {
    d.truncate(alloc);
    if d.is_empty() {
        Reply::Status(Sense::NONE)
    } else {
        Reply::Data(d)
    }
}

/// Standard INQUIRY data (36 bytes): a removable CD/DVD device.
fn inquiry() -> Vec<u8> {
    let mut d = vec![0x05, 0x80, 0x00, 0x32, 31, 0, 0, 0];
    d.extend_from_slice(b"amtd    ");
    d.extend_from_slice(b"IDE-R CD-ROM    ");
    d.extend_from_slice(b"1.0 ");
    d
}

/// Mode pages: 0x01 read error recovery, 0x2A capabilities, 0x3F both.
fn mode_pages(page: u8) -> Option<Vec<u8>> {
    let error_recovery = [0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0];
    let mut caps = vec![0x2A, 0x18, 0x01, 0x00, 0x00, 0x00, 0x29, 0x00];
    caps.resize(26, 0);
    match page {
        0x01 => Some(error_recovery.to_vec()),
        0x2A => Some(caps),
        0x3F => {
            let mut all = error_recovery.to_vec();
            all.extend_from_slice(&caps);
            Some(all)
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cmd(cdb: Cdb) -> CommandWritten {
        CommandWritten::packet(0, device::CDROM, cdb.encode())
    }

    #[test]
    fn first_test_unit_ready_reports_a_medium_change_then_ready() {
        let mut d = CdDrive::new(40 * 2048);
        assert_eq!(
            d.command(&cmd(Cdb::TestUnitReady)),
            Reply::Status(Sense::MEDIUM_CHANGED)
        );
        assert_eq!(
            d.command(&cmd(Cdb::RequestSense { alloc: 18 })),
            Reply::Data(Sense::MEDIUM_CHANGED.fixed_format().to_vec())
        );
        assert_eq!(
            d.command(&cmd(Cdb::TestUnitReady)),
            Reply::Status(Sense::NONE)
        );
    }

    #[test]
    fn capacity_and_reads_follow_the_image_size() {
        let mut d = CdDrive::new(40 * 2048 + 100);
        assert_eq!(d.blocks(), 41);
        assert_eq!(
            d.command(&cmd(Cdb::ReadCapacity)),
            Reply::Data(vec![0, 0, 0, 40, 0, 0, 8, 0])
        );
        assert_eq!(
            d.command(&cmd(Cdb::Read10 { lba: 17, blocks: 2 })),
            Reply::Read { lba: 17, blocks: 2 }
        );
        assert_eq!(
            d.command(&cmd(Cdb::Read10 { lba: 40, blocks: 2 })),
            Reply::Status(Sense::LBA_OUT_OF_RANGE)
        );
        assert_eq!(
            d.command(&cmd(Cdb::Read12 {
                lba: u32::MAX,
                blocks: u32::MAX
            })),
            Reply::Status(Sense::LBA_OUT_OF_RANGE)
        );
        assert_eq!(
            d.command(&cmd(Cdb::Read10 { lba: 3, blocks: 0 })),
            Reply::Status(Sense::NONE)
        );
    }

    #[test]
    fn no_image_writes_and_unknown_commands_get_proper_sense() {
        let mut empty = CdDrive::new(0);
        assert_eq!(
            empty.command(&cmd(Cdb::TestUnitReady)),
            Reply::Status(Sense::MEDIUM_NOT_PRESENT)
        );
        let mut d = CdDrive::new(4096);
        let write10 = [0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            d.command(&CommandWritten::packet(0, device::CDROM, write10)),
            Reply::Status(Sense::WRITE_PROTECTED)
        );
        let weird = [0xFE; 12];
        assert_eq!(
            d.command(&CommandWritten::packet(0, device::CDROM, weird)),
            Reply::Status(Sense::INVALID_OPCODE)
        );
        assert_eq!(
            d.command(&CommandWritten::packet(0, device::FLOPPY, [0; 12])),
            Reply::Status(Sense::MEDIUM_NOT_PRESENT)
        );
        let identify = CommandWritten {
            command: 0xEC,
            ..cmd(Cdb::TestUnitReady)
        };
        assert_eq!(d.command(&identify), Reply::Status(Sense::INVALID_OPCODE));
        assert_eq!(
            d.command(&cmd(Cdb::ModeSense10 {
                page: 0x05,
                subpage: 0,
                alloc: 100
            })),
            Reply::Status(Sense::INVALID_FIELD)
        );
    }

    proptest::proptest! {
        /// Any command from the device gets an answer, reads stay inside the image, and data
        /// answers are bounded.
        #[test]
        fn any_command_is_answered_within_the_image(
            len in 0u64..(1 << 40),
            packet in proptest::prelude::any::<[u8; 12]>(),
            command in proptest::prelude::any::<u8>(),
            drive in proptest::prelude::any::<u8>(),
        ) {
            let mut d = CdDrive::new(len);
            let w = CommandWritten {
                command: if command % 4 == 0 { command } else { ATA_PACKET },
                drive_select: drive,
                ..CommandWritten::packet(0, device::CDROM, packet)
            };
            for _ in 0..2 {
                match d.command(&w) {
                    Reply::Read { lba, blocks } => {
                        proptest::prop_assert!(blocks > 0 && lba + blocks <= d.blocks());
                    }
                    Reply::Data(b) => proptest::prop_assert!(!b.is_empty() && b.len() <= 512),
                    Reply::Status(_) => {}
                }
            }
        }
    }

    #[test]
    fn informational_answers_are_cut_to_the_allocation_length() {
        let mut d = CdDrive::new(4096);
        let Reply::Data(inq) = d.command(&cmd(Cdb::Inquiry {
            evpd: false,
            page: 0,
            alloc: 96,
        })) else {
            panic!()
        };
        assert_eq!(inq.len(), 36);
        assert_eq!(inq[0], 0x05, "CD/DVD device");
        let Reply::Data(short) = d.command(&cmd(Cdb::Inquiry {
            evpd: false,
            page: 0,
            alloc: 5,
        })) else {
            panic!()
        };
        assert_eq!(short.len(), 5);
        let Reply::Data(ms) = d.command(&cmd(Cdb::ModeSense10 {
            page: 0x3F,
            subpage: 0,
            alloc: 512,
        })) else {
            panic!()
        };
        assert_eq!(
            usize::from(u16::from_be_bytes([ms[0], ms[1]])) + 2,
            ms.len(),
            "mode data length"
        );
        assert_eq!(ms[3] & 0x80, 0x80, "write protected");
        let Reply::Data(toc) = d.command(&cmd(Cdb::ReadToc {
            msf: false,
            format: 0,
            track: 0,
            alloc: 100,
        })) else {
            panic!()
        };
        assert_eq!(toc.len(), 20);
        assert_eq!(&toc[16..], &[0, 0, 0, 2], "lead-out after block 1");
    }
}
