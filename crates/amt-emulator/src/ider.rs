//! The emulated host BIOS booting from the IDE-R CD-ROM, sans-IO: the ATAPI commands it
//! writes to the redirected drive and what it makes of the answers.
//!
//! A BIOS boots a CD the El Torito way: TEST UNIT READY until the drive is ready (a first
//! UNIT ATTENTION "medium may have changed" is normal), READ CAPACITY (2048-byte blocks), then
//! READ(10) of the primary volume descriptor (sector 16, for the label), the boot record
//! volume descriptor (sector 17), the boot catalog it points to, and the boot image's first
//! sectors (as many as the catalog's initial entry loads, at most [`MAX_LOAD_BYTES`]). An
//! image without an ISO 9660 volume at sector 16 (or too small to have one) is read as a plain
//! disk image: sector 0 must end in the 55 AA boot signature. The result goes to the event log
//! ([`record`]): `IDE-R boot from CD "LABEL" …, sha256 …` with the hash of the loaded bytes,
//! or `IDE-R boot failed: …` with the BIOS "no bootable media" boot error.
//!
//! [`BootReader`] only sees packets and answers: the network front
//! (`net/redirection/ider.rs`) frames them as IDE-R messages. Every answer is bounded: data
//! beyond what a command asked for ends the boot with an error.

use amt_wire::redirection::atapi::{Cdb, Sense};
use amt_wire::redirection::boot_image::{
    self, BootEntry, BootMedia, BOOT_RECORD_LBA, CD_SECTOR, PVD_LBA,
};
use sha2::{Digest, Sha256};

use crate::firmware::manage::logs::{self, bios_event};
use crate::firmware::{Env, Firmware};

/// Most bytes of a boot image the BIOS loads (64 KiB, a real-mode segment).
pub const MAX_LOAD_BYTES: usize = 64 * 1024;
/// TEST UNIT READY attempts before the drive counts as not ready.
pub const MAX_READY_ATTEMPTS: u32 = 5;

/// How the medium was booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootKind {
    /// El Torito: the catalog's initial entry.
    ElTorito(BootEntry),
    /// No ISO 9660 volume: the 512-byte boot sector at LBA 0.
    BootSector,
}

/// What the BIOS made of the IDE-R medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    /// It loaded a boot image.
    Booted {
        /// The ISO 9660 volume label, if the medium has one.
        label: Option<String>,
        /// El Torito or a plain boot sector.
        kind: BootKind,
        /// SHA-256 of the loaded bytes.
        sha256: [u8; 32],
        /// How many bytes were loaded.
        loaded: usize,
        /// The medium's size in 2048-byte blocks (READ CAPACITY).
        blocks: u64,
    },
    /// It could not boot.
    Failed {
        /// Why, for the event log.
        reason: String,
    },
}

impl BootOutcome {
    /// The event log text.
    pub fn describe(&self) -> String {
        match self {
            BootOutcome::Booted {
                label,
                kind,
                sha256,
                loaded,
                blocks,
            } => {
                let label = label
                    .as_deref()
                    .map_or_else(|| "(no volume label)".to_owned(), |l| format!("\"{l}\""));
                let how = match kind {
                    BootKind::ElTorito(e) => format!(
                        "El Torito {}, {loaded} bytes at LBA {}",
                        match e.media {
                            BootMedia::NoEmulation => "no emulation",
                            BootMedia::HardDisk => "hard disk emulation",
                            _ => "floppy emulation",
                        },
                        e.load_rba
                    ),
                    BootKind::BootSector => format!("boot sector, {loaded} bytes at LBA 0"),
                };
                format!(
                    "IDE-R boot from CD {label} ({how}, {blocks} blocks), sha256 {}",
                    hex::encode(sha256)
                )
            }
            BootOutcome::Failed { reason } => format!("IDE-R boot failed: {reason}"),
        }
    }
}

/// What the drive answered to the outstanding command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveAnswer {
    /// Data for the host (more may follow before the end).
    Data(Vec<u8>),
    /// The command ended with this sense (good status: [`Sense::NONE`]).
    End(Sense),
}

/// What the BIOS does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Write this command to the drive.
    Command(Cdb),
    /// Wait for more of the answer.
    Wait,
    /// Booting is over.
    Done(BootOutcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    TestUnitReady,
    ReadCapacity,
    ReadPvd,
    ReadBootRecord,
    ReadCatalog,
    ReadImage,
    ReadBootSector,
    Finished,
}

/// The BIOS reading an IDE-R CD-ROM (see the module docs).
#[derive(Debug)]
pub struct BootReader {
    step: Step,
    attempts: u32,
    expected: usize,
    data: Vec<u8>,
    blocks: u64,
    label: Option<String>,
    entry: Option<BootEntry>,
    /// Sectors read with READ(10).
    pub sectors_read: u64,
}

impl Default for BootReader {
    fn default() -> Self {
        Self::new()
    }
}

fn fail(reason: impl Into<String>) -> Next {
    Next::Done(BootOutcome::Failed {
        reason: reason.into(),
    })
}

impl BootReader {
    /// A BIOS about to boot from the IDE-R CD.
    pub fn new() -> Self {
        BootReader {
            step: Step::TestUnitReady,
            attempts: 0,
            expected: 0,
            data: Vec::new(),
            blocks: 0,
            label: None,
            entry: None,
            sectors_read: 0,
        }
    }

    /// The first command.
    pub fn start(&mut self) -> Cdb {
        self.step = Step::TestUnitReady;
        self.attempts = 1;
        self.expected = 0;
        Cdb::TestUnitReady
    }

    fn read(&mut self, step: Step, lba: u32, blocks: u16) -> Next {
        self.step = step;
        self.expected = usize::from(blocks) * CD_SECTOR;
        self.data.clear();
        self.sectors_read += u64::from(blocks);
        Next::Command(Cdb::Read10 { lba, blocks })
    }

    fn finish(&mut self, next: Next) -> Next {
        if matches!(next, Next::Done(_)) {
            self.step = Step::Finished;
        }
        next
    }

    /// Feeds the drive's answer to the outstanding command.
    pub fn answer(&mut self, a: DriveAnswer) -> Next {
        if self.step == Step::Finished {
            return Next::Wait;
        }
        let next = match a {
            DriveAnswer::Data(d) => {
                if self.data.len().saturating_add(d.len()) > self.expected {
                    fail(format!(
                        "the drive sent more data than the {} bytes asked for",
                        self.expected
                    ))
                } else {
                    self.data.extend_from_slice(&d);
                    Next::Wait
                }
            }
            DriveAnswer::End(sense) => self.ended(sense),
        };
        self.finish(next)
    }

    fn ended(&mut self, sense: Sense) -> Next {
        match self.step {
            Step::TestUnitReady => {
                if !sense.is_error() {
                    self.step = Step::ReadCapacity;
                    self.expected = 8;
                    self.data.clear();
                    return Next::Command(Cdb::ReadCapacity);
                }
                if sense == Sense::MEDIUM_NOT_PRESENT {
                    return fail(format!("no medium in the IDE-R CD-ROM ({sense})"));
                }
                if self.attempts >= MAX_READY_ATTEMPTS {
                    return fail(format!("the IDE-R CD-ROM never became ready ({sense})"));
                }
                self.attempts += 1;
                Next::Command(Cdb::TestUnitReady)
            }
            Step::ReadCapacity => {
                if sense.is_error() || self.data.len() != 8 {
                    return fail(format!(
                        "READ CAPACITY failed ({sense}, {} bytes)",
                        self.data.len()
                    ));
                }
                let d = &self.data;
                let last = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                let block = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
                if block as usize != CD_SECTOR {
                    return fail(format!("the CD-ROM reports {block}-byte blocks"));
                }
                self.blocks = u64::from(last) + 1;
                if self.blocks > u64::from(PVD_LBA) {
                    self.read(Step::ReadPvd, PVD_LBA, 1)
                } else {
                    self.read(Step::ReadBootSector, 0, 1)
                }
            }
            Step::ReadPvd => {
                let iso = !sense.is_error()
                    && self.data.len() == CD_SECTOR
                    && boot_image::is_iso9660(&self.data);
                if !iso {
                    // No ISO 9660 volume (or no sector 16): a plain disk image.
                    return self.read(Step::ReadBootSector, 0, 1);
                }
                self.label = boot_image::volume_label(&self.data)
                    .ok()
                    .filter(|l| !l.is_empty());
                self.read(Step::ReadBootRecord, BOOT_RECORD_LBA, 1)
            }
            Step::ReadBootRecord => {
                if sense.is_error() {
                    return fail(format!("reading the boot record failed ({sense})"));
                }
                match boot_image::boot_catalog_lba(&self.data) {
                    Ok(lba) if u64::from(lba) < self.blocks => self.read(Step::ReadCatalog, lba, 1),
                    Ok(lba) => fail(format!(
                        "the boot catalog (LBA {lba}) lies beyond the medium"
                    )),
                    Err(e) => fail(format!("no El Torito boot record ({e})")),
                }
            }
            Step::ReadCatalog => {
                if sense.is_error() {
                    return fail(format!("reading the boot catalog failed ({sense})"));
                }
                match boot_image::default_entry(&self.data) {
                    Ok(entry) => {
                        let bytes = entry.load_bytes().min(MAX_LOAD_BYTES);
                        let blocks = bytes.div_ceil(CD_SECTOR) as u16;
                        if u64::from(entry.load_rba) + u64::from(blocks) > self.blocks {
                            return fail(format!(
                                "the boot image (LBA {}) lies beyond the medium",
                                entry.load_rba
                            ));
                        }
                        self.entry = Some(entry);
                        self.read(Step::ReadImage, entry.load_rba, blocks)
                    }
                    Err(e) => fail(e.to_string()),
                }
            }
            Step::ReadImage => {
                let Some(entry) = self.entry else {
                    return fail("internal: no boot entry");
                };
                if sense.is_error() || self.data.len() != self.expected {
                    return fail(format!(
                        "reading the boot image failed ({sense}, {} of {} bytes)",
                        self.data.len(),
                        self.expected
                    ));
                }
                let loaded = entry.load_bytes().min(MAX_LOAD_BYTES);
                Next::Done(BootOutcome::Booted {
                    label: self.label.clone(),
                    kind: BootKind::ElTorito(entry),
                    sha256: Sha256::digest(&self.data[..loaded]).into(),
                    loaded,
                    blocks: self.blocks,
                })
            }
            Step::ReadBootSector => {
                if sense.is_error() || self.data.len() != CD_SECTOR {
                    return fail(format!("reading sector 0 failed ({sense})"));
                }
                if !boot_image::has_boot_signature(&self.data) {
                    return fail(
                        "no bootable media: no El Torito boot record and no boot signature \
                         in sector 0",
                    );
                }
                Next::Done(BootOutcome::Booted {
                    label: None,
                    kind: BootKind::BootSector,
                    sha256: Sha256::digest(&self.data[..512]).into(),
                    loaded: 512,
                    blocks: self.blocks,
                })
            }
            Step::Finished => Next::Wait,
        }
    }
}

/// Writes the outcome to the event log as the BIOS reports it: a successful boot as "OS boot
/// process started" progress and the `IDE-R boot from …` record, a failure as the "no bootable
/// media" boot error (sensor 0x1E) and the `IDE-R boot failed: …` record.
pub fn record(fw: &mut Firmware, env: &Env<'_>, outcome: &BootOutcome) {
    const INFO: u8 = 2;
    const NON_CRITICAL: u8 = 8;
    let text = outcome.describe();
    match outcome {
        BootOutcome::Booted { .. } => {
            logs::event(fw, env, bios_event(0x1F, 4, INFO, [0, 0]), &text);
        }
        BootOutcome::Failed { .. } => {
            logs::event(fw, env, bios_event(0x1E, 0, NON_CRITICAL, [0, 0]), &text);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use amt_wire::redirection::boot_image::minimal_el_torito_iso;

    /// A console answering from `image` (2048-byte sectors), the first TEST UNIT READY with a
    /// UNIT ATTENTION.
    fn drive(image: &[u8], cdb: Cdb, first: bool) -> Vec<DriveAnswer> {
        let blocks = image.len() / CD_SECTOR;
        match cdb {
            Cdb::TestUnitReady if first => vec![DriveAnswer::End(Sense::MEDIUM_CHANGED)],
            Cdb::TestUnitReady => vec![DriveAnswer::End(Sense::NONE)],
            Cdb::ReadCapacity => {
                let mut d = (blocks as u32 - 1).to_be_bytes().to_vec();
                d.extend_from_slice(&2048u32.to_be_bytes());
                vec![DriveAnswer::Data(d), DriveAnswer::End(Sense::NONE)]
            }
            Cdb::Read10 { lba, blocks: n } => {
                let (lba, n) = (lba as usize, usize::from(n));
                if lba + n > blocks {
                    return vec![DriveAnswer::End(Sense::LBA_OUT_OF_RANGE)];
                }
                image[lba * CD_SECTOR..(lba + n) * CD_SECTOR]
                    .chunks(1000)
                    .map(|c| DriveAnswer::Data(c.to_vec()))
                    .chain([DriveAnswer::End(Sense::NONE)])
                    .collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn boot(image: &[u8]) -> (BootOutcome, Vec<Cdb>) {
        let mut r = BootReader::new();
        let mut cdb = r.start();
        let mut seen = vec![cdb];
        let mut first = true;
        loop {
            let mut next = Next::Wait;
            for a in drive(image, cdb, first) {
                next = r.answer(a);
            }
            first = false;
            match next {
                Next::Command(c) => {
                    cdb = c;
                    seen.push(c);
                }
                Next::Done(o) => return (o, seen),
                Next::Wait => panic!("stalled after {seen:?}"),
            }
        }
    }

    #[test]
    fn el_torito_cd_boots_and_the_loaded_bytes_are_hashed() {
        let boot_image = vec![0x42; 2048];
        let iso = minimal_el_torito_iso("AMTD_BOOT", &boot_image);
        let (outcome, cdbs) = boot(&iso);
        let BootOutcome::Booted {
            label,
            sha256,
            loaded,
            ..
        } = &outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(label.as_deref(), Some("AMTD_BOOT"));
        assert_eq!(*loaded, 2048);
        assert_eq!(*sha256, <[u8; 32]>::from(Sha256::digest(&boot_image)));
        assert_eq!(
            cdbs,
            [
                Cdb::TestUnitReady,
                Cdb::TestUnitReady,
                Cdb::ReadCapacity,
                Cdb::Read10 { lba: 16, blocks: 1 },
                Cdb::Read10 { lba: 17, blocks: 1 },
                Cdb::Read10 { lba: 19, blocks: 1 },
                Cdb::Read10 { lba: 20, blocks: 1 },
            ]
        );
        let text = outcome.describe();
        assert!(
            text.starts_with("IDE-R boot from CD \"AMTD_BOOT\""),
            "{text}"
        );
        assert!(
            text.contains(&hex::encode(Sha256::digest(&boot_image))),
            "{text}"
        );
    }

    #[test]
    fn a_small_plain_image_boots_from_its_boot_sector() {
        let mut img = vec![0u8; 4 * CD_SECTOR];
        img[510] = 0x55;
        img[511] = 0xAA;
        let (outcome, cdbs) = boot(&img);
        assert!(matches!(
            outcome,
            BootOutcome::Booted {
                kind: BootKind::BootSector,
                label: None,
                ..
            }
        ));
        assert_eq!(cdbs.last(), Some(&Cdb::Read10 { lba: 0, blocks: 1 }));
        // A large plain image: sector 16 is read, is no ISO volume, then sector 0.
        let mut big = vec![0u8; 40 * CD_SECTOR];
        big[510] = 0x55;
        big[511] = 0xAA;
        let (outcome, cdbs) = boot(&big);
        assert!(matches!(outcome, BootOutcome::Booted { .. }));
        assert!(cdbs.contains(&Cdb::Read10 { lba: 16, blocks: 1 }));
        // Without the signature: not bootable.
        let (outcome, _) = boot(&vec![0u8; 4 * CD_SECTOR]);
        assert!(
            outcome.describe().contains("no bootable media"),
            "{outcome:?}"
        );
    }

    #[test]
    fn no_medium_and_too_much_data_end_the_boot() {
        let mut r = BootReader::new();
        r.start();
        let o = r.answer(DriveAnswer::End(Sense::MEDIUM_NOT_PRESENT));
        assert!(matches!(o, Next::Done(BootOutcome::Failed { .. })), "{o:?}");
        let mut r = BootReader::new();
        r.start();
        assert_eq!(
            r.answer(DriveAnswer::End(Sense::NONE)),
            Next::Command(Cdb::ReadCapacity)
        );
        let o = r.answer(DriveAnswer::Data(vec![0; 4096]));
        let Next::Done(BootOutcome::Failed { reason }) = o else {
            panic!("{o:?}")
        };
        assert!(reason.contains("more data"), "{reason}");
        assert_eq!(r.answer(DriveAnswer::End(Sense::NONE)), Next::Wait);
        // Never ready.
        let mut r = BootReader::new();
        r.start();
        let mut last = Next::Wait;
        for _ in 0..MAX_READY_ATTEMPTS {
            last = r.answer(DriveAnswer::End(Sense::MEDIUM_CHANGED));
        }
        assert!(matches!(last, Next::Done(BootOutcome::Failed { .. })));
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever a console answers, the BIOS never panics, never asks for more than the
        /// bounded number of commands, and ends with an outcome or waits.
        #[test]
        fn arbitrary_answers_end_in_an_outcome(
            answers in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..3000).prop_map(DriveAnswer::Data),
                    (0u8..8, any::<u8>(), any::<u8>())
                        .prop_map(|(k, a, q)| DriveAnswer::End(Sense::new(k, a, q))),
                ],
                0..40,
            )
        ) {
            let mut r = BootReader::new();
            r.start();
            let mut done = false;
            for a in answers {
                match r.answer(a) {
                    Next::Done(_) => {
                        prop_assert!(!done, "two outcomes");
                        done = true;
                    }
                    Next::Command(_) => prop_assert!(!done, "commands after the outcome"),
                    Next::Wait => {}
                }
            }
            prop_assert!(r.sectors_read <= 64);
        }
    }

    #[test]
    fn a_catalog_pointing_past_the_end_is_refused() {
        let mut iso = minimal_el_torito_iso("X", &[1; 2048]);
        let c = 19 * CD_SECTOR;
        iso[c + 40..c + 44].copy_from_slice(&1000u32.to_le_bytes());
        let (outcome, _) = boot(&iso);
        assert!(
            outcome.describe().contains("beyond the medium"),
            "{outcome:?}"
        );
    }
}
