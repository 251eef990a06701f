//! What a BIOS reads from an IDE-R CD to boot it: the ISO 9660 primary volume descriptor (for
//! the label), the El Torito boot record volume descriptor, the boot catalog's validation and
//! initial entries, and where the boot image lies. For images without a boot record, the
//! classic boot sector (0x55AA at 510). The emulated firmware reads these over IDE-R; the
//! console uses the same code to describe the image it serves.
//!
//! Sources: ECMA-119 (ISO 9660) §8.4 primary volume descriptor (type 1, `CD001`, version 1,
//! volume identifier at bytes 40..72) and §8.2 boot record (type 0); the El Torito Bootable
//! CD-ROM Format Specification 1.0 (Phoenix/IBM, 1995) §2.0 boot record volume descriptor
//! (sector 17, system identifier `EL TORITO SPECIFICATION`, boot catalog sector as a
//! little-endian u32 at 0x47), §2.1 validation entry (header 1, key `55 AA` at 0x1E, the
//! 16-bit little-endian words of the entry sum to 0), §2.2 initial/default entry (indicator
//! 0x88 bootable, media type, load segment, system type, sector count of 512-byte virtual
//! sectors, load RBA). Every function takes the sector bytes it needs and never panics.

use crate::Error;

/// A CD-ROM sector.
pub const CD_SECTOR: usize = 2048;
/// The primary volume descriptor's sector.
pub const PVD_LBA: u32 = 16;
/// The El Torito boot record volume descriptor's sector.
pub const BOOT_RECORD_LBA: u32 = 17;
/// The boot record's system identifier.
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";

fn bad(structure: &'static str, reason: &'static str) -> Error {
    Error::NotBootable { structure, reason }
}

fn descriptor<'a>(sector: &'a [u8], kind: u8, structure: &'static str) -> Result<&'a [u8], Error> {
    let d = sector
        .get(..CD_SECTOR)
        .ok_or_else(|| bad(structure, "shorter than a 2048-byte sector"))?;
    if &d[1..6] != b"CD001" || d[6] != 1 {
        return Err(bad(
            structure,
            "no ISO 9660 volume descriptor (CD001, version 1)",
        ));
    }
    if d[0] != kind {
        return Err(bad(structure, "another volume descriptor type"));
    }
    Ok(d)
}

/// The volume identifier of a primary volume descriptor (sector [`PVD_LBA`]), trailing spaces
/// and NULs trimmed; bytes outside printable ASCII become `?`.
///
/// # Errors
/// [`Error::NotBootable`] when the sector is short or not a primary volume descriptor.
pub fn volume_label(pvd: &[u8]) -> Result<String, Error> {
    let d = descriptor(pvd, 1, "primary volume descriptor")?;
    let id: String = d[40..72]
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    Ok(id.trim_end_matches([' ', '?']).to_owned())
}

/// Whether a sector holds an ISO 9660 volume descriptor (any type).
pub fn is_iso9660(sector: &[u8]) -> bool {
    sector.len() >= 7 && &sector[1..6] == b"CD001" && sector[6] == 1
}

/// The boot catalog's sector from an El Torito boot record (sector [`BOOT_RECORD_LBA`]).
///
/// # Errors
/// [`Error::NotBootable`] when the sector is not an El Torito boot record.
pub fn boot_catalog_lba(boot_record: &[u8]) -> Result<u32, Error> {
    let d = descriptor(boot_record, 0, "boot record")?;
    let id = &d[7..39];
    if !id.starts_with(EL_TORITO_ID) || id[EL_TORITO_ID.len()..].iter().any(|&b| b != 0) {
        return Err(bad("boot record", "not the El Torito system identifier"));
    }
    Ok(u32::from_le_bytes([d[0x47], d[0x48], d[0x49], d[0x4A]]))
}

/// El Torito boot media types (initial entry byte 1, low nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMedia {
    /// 0: no emulation (the image is loaded as is).
    NoEmulation,
    /// 1: 1.2 MB floppy emulation.
    Floppy12,
    /// 2: 1.44 MB floppy emulation.
    Floppy144,
    /// 3: 2.88 MB floppy emulation.
    Floppy288,
    /// 4: hard disk emulation.
    HardDisk,
}

/// The initial/default entry of a boot catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootEntry {
    /// Validation entry platform id (0 x86, 1 PowerPC, 2 Mac, 0xEF EFI).
    pub platform: u8,
    /// Media type.
    pub media: BootMedia,
    /// Load segment (0 means the BIOS default 0x7C0).
    pub load_segment: u16,
    /// System type (partition type byte).
    pub system_type: u8,
    /// Virtual 512-byte sectors the BIOS loads (no emulation).
    pub sector_count: u16,
    /// The boot image's first CD sector.
    pub load_rba: u32,
}

impl BootEntry {
    /// Bytes the BIOS loads: `sector_count` × 512 (at least one sector) without emulation,
    /// the emulated disk's first 512-byte sector otherwise.
    pub fn load_bytes(&self) -> usize {
        match self.media {
            BootMedia::NoEmulation => usize::from(self.sector_count.max(1)) * 512,
            _ => 512,
        }
    }
}

/// The bootable initial entry of a boot catalog sector.
///
/// # Errors
/// [`Error::NotBootable`] when the validation entry is wrong (header, key, checksum) or the
/// initial entry is not bootable or names an unknown media type.
pub fn default_entry(catalog: &[u8]) -> Result<BootEntry, Error> {
    let c = catalog
        .get(..64)
        .ok_or_else(|| bad("boot catalog", "shorter than two entries"))?;
    let v = &c[..32];
    if v[0] != 1 {
        return Err(bad("boot catalog", "validation entry header is not 1"));
    }
    if v[0x1E] != 0x55 || v[0x1F] != 0xAA {
        return Err(bad("boot catalog", "validation entry key is not 55 AA"));
    }
    let sum = v.chunks_exact(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    if sum != 0 {
        return Err(bad(
            "boot catalog",
            "validation entry checksum does not sum to 0",
        ));
    }
    let e = &c[32..64];
    if e[0] != 0x88 {
        return Err(bad("boot catalog", "the initial entry is not bootable"));
    }
    let media = match e[1] & 0x0F {
        0 => BootMedia::NoEmulation,
        1 => BootMedia::Floppy12,
        2 => BootMedia::Floppy144,
        3 => BootMedia::Floppy288,
        4 => BootMedia::HardDisk,
        _ => return Err(bad("boot catalog", "unknown boot media type")),
    };
    Ok(BootEntry {
        platform: v[1],
        media,
        load_segment: u16::from_le_bytes([e[2], e[3]]),
        system_type: e[4],
        sector_count: u16::from_le_bytes([e[6], e[7]]),
        load_rba: u32::from_le_bytes([e[8], e[9], e[10], e[11]]),
    })
}

/// Whether the first 512 bytes end in the boot signature `55 AA` (a plain disk image's boot
/// sector, or a floppy-emulation boot image).
pub fn has_boot_signature(sector: &[u8]) -> bool {
    sector.get(510..512) == Some(&[0x55, 0xAA][..])
}

/// A validation entry with a correct checksum for `platform` and `id` (at most 24 bytes),
/// as image builders write it.
pub fn validation_entry(platform: u8, id: &[u8]) -> [u8; 32] {
    let mut v = [0u8; 32];
    v[0] = 1;
    v[1] = platform;
    let n = id.len().min(24);
    v[4..4 + n].copy_from_slice(&id[..n]);
    v[0x1E] = 0x55;
    v[0x1F] = 0xAA;
    let sum = v.chunks_exact(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    let check = 0u16.wrapping_sub(sum).to_le_bytes();
    v[0x1C] = check[0];
    v[0x1D] = check[1];
    v
}

/// A minimal bootable El Torito image: primary volume descriptor labelled `label` (at most 32
/// bytes, space padded), boot record, set terminator, boot catalog (sector 19, platform x86,
/// no emulation) and `boot` as the boot image from sector 20, padded to whole CD sectors.
/// No directory tree: enough for a BIOS, not for an operating system. For tests and demos.
pub fn minimal_el_torito_iso(label: &str, boot: &[u8]) -> Vec<u8> {
    const CATALOG: u32 = 19;
    const IMAGE: u32 = 20;
    let boot_sectors = boot.len().div_ceil(CD_SECTOR).max(1);
    let total = IMAGE as usize + boot_sectors;
    let mut iso = vec![0u8; total * CD_SECTOR];
    let at = |lba: u32| lba as usize * CD_SECTOR;
    // Primary volume descriptor.
    let p = at(PVD_LBA);
    iso[p] = 1;
    iso[p + 1..p + 6].copy_from_slice(b"CD001");
    iso[p + 6] = 1;
    iso[p + 8..p + 72].fill(b' ');
    let l = label.as_bytes();
    let n = l.len().min(32);
    iso[p + 40..p + 40 + n].copy_from_slice(&l[..n]);
    iso[p + 80..p + 84].copy_from_slice(&(total as u32).to_le_bytes());
    iso[p + 84..p + 88].copy_from_slice(&(total as u32).to_be_bytes());
    iso[p + 128..p + 130].copy_from_slice(&(CD_SECTOR as u16).to_le_bytes());
    iso[p + 130..p + 132].copy_from_slice(&(CD_SECTOR as u16).to_be_bytes());
    iso[p + 881] = 1;
    // Boot record.
    let b = at(BOOT_RECORD_LBA);
    iso[b + 1..b + 6].copy_from_slice(b"CD001");
    iso[b + 6] = 1;
    iso[b + 7..b + 7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
    iso[b + 0x47..b + 0x4B].copy_from_slice(&CATALOG.to_le_bytes());
    // Set terminator.
    let t = at(18);
    iso[t] = 255;
    iso[t + 1..t + 6].copy_from_slice(b"CD001");
    iso[t + 6] = 1;
    // Boot catalog.
    let c = at(CATALOG);
    iso[c..c + 32].copy_from_slice(&validation_entry(0, b"amtd"));
    iso[c + 32] = 0x88;
    let count = u16::try_from(boot.len().div_ceil(512).max(1)).unwrap_or(u16::MAX);
    iso[c + 38..c + 40].copy_from_slice(&count.to_le_bytes());
    iso[c + 40..c + 44].copy_from_slice(&IMAGE.to_le_bytes());
    // Boot image.
    let i = at(IMAGE);
    iso[i..i + boot.len()].copy_from_slice(boot);
    iso
}
