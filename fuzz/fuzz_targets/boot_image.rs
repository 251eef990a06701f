//! Fuzz target for what the emulated BIOS parses from an IDE-R medium the console serves
//! (`amt_wire::redirection::boot_image`) and for ATAPI command packets
//! (`amt_wire::redirection::atapi::Cdb`), both of which come from the peer.
//!
//! The input is read as sectors: the first 2048 bytes as a primary volume descriptor, then a
//! boot record, then a boot catalog. Nothing may panic; a parsed packet re-encodes to a packet
//! that parses to the same value.
#![no_main]

use amt_wire::redirection::atapi::Cdb;
use amt_wire::redirection::boot_image::{
    boot_catalog_lba, default_entry, has_boot_signature, is_iso9660, volume_label, CD_SECTOR,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sector = |i: usize| data.get(i * CD_SECTOR..).unwrap_or(&[]);
    let _ = is_iso9660(sector(0));
    let _ = volume_label(sector(0));
    let _ = boot_catalog_lba(sector(1));
    if let Ok(entry) = default_entry(sector(2)) {
        assert!(entry.load_bytes() >= 512);
    }
    let _ = has_boot_signature(data);
    for chunk in data.chunks_exact(12) {
        let mut p = [0u8; 12];
        p.copy_from_slice(chunk);
        let cdb = Cdb::parse(&p);
        assert_eq!(Cdb::parse(&cdb.encode()), cdb, "re-encoded packet parses the same");
    }
});
