//! IDE-R codec (AMT-PROTOCOLS.md §4.3): byte layouts as amtterm (`redir.h`, `redir.c`,
//! `ider.c`) and MeshCentral (`amt-ider-module.js`) write and read them, ATAPI packets, round
//! trips, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ider_strategies;

use amt_wire::redirection::atapi::{Cdb, Sense};
use amt_wire::redirection::ider::{ata_status, attributes, device, register_mask};
use amt_wire::redirection::*;
use amt_wire::Error;
use ider_strategies::{arb_cdb, arb_ider};
use proptest::prelude::*;

fn ider(b: &[u8]) -> IderMessage {
    match Message::decode(b).unwrap() {
        Message::Ider(m) => m,
        other => panic!("not IDE-R: {other:?}"),
    }
}

#[test]
fn meshcentral_start_ider_is_eighteen_bytes() {
    // MeshCentral: 40 00 00 00 <seq 0> rx 30000, tx 0, heartbeat 20000, version 1.
    let b = [
        0x40, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x75, 0, 0, 0x20, 0x4E, 1, 0, 0, 0,
    ];
    let m = ider(&b);
    assert_eq!(
        m,
        IderMessage::Start(StartIder {
            seq: 0,
            settings: IderSettings::MESHCENTRAL,
            version: 1,
        })
    );
    assert_eq!(Message::Ider(m).encode().unwrap(), b);
}

#[test]
fn amtterm_start_ider_layout_still_decodes() {
    // amtterm redir_ider_start: the three u16 right after the command byte, then 01 00 00 00.
    let b = [
        0x40, 100, 0, 0x10, 0x27, 0x88, 0x13, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let IderMessage::Start(s) = ider(&b) else {
        panic!()
    };
    assert_eq!(
        s.version, 0,
        "the fields land elsewhere, but it is one 18-byte message"
    );
}

#[test]
fn start_ider_reply_fields_are_where_meshcentral_reads_them() {
    let mut r = StartIderReply::new(SessionStatus::Success, 0, 8192, 4096);
    r.oem = b"OEM".to_vec();
    let b = Message::Ider(IderMessage::StartReply(r.clone()))
        .encode()
        .unwrap();
    assert_eq!(b.len(), 30 + 3);
    assert_eq!((b[0], b[1]), (0x41, 0));
    assert_eq!(u16::from_le_bytes([b[16], b[17]]), 8192, "read buffer");
    assert_eq!(u16::from_le_bytes([b[18], b[19]]), 4096, "write buffer");
    assert_eq!(b[21], 0, "protocol");
    assert_eq!(
        u32::from_le_bytes([b[25], b[26], b[27], b[28]]),
        StartIderReply::INTEL_IANA
    );
    assert_eq!(b[29], 3, "OEM length");
    assert_eq!(ider(&b), IderMessage::StartReply(r));
    // 29 bytes: the OEM length byte has not arrived yet.
    assert_eq!(Message::frame_len(&b[..29]).unwrap(), None);
    // A failure status decodes (amtterm checks byte 1).
    let mut refused = b.clone();
    refused[1] = 3;
    let IderMessage::StartReply(r) = ider(&refused) else {
        panic!()
    };
    assert_eq!(r.status, SessionStatus::Unsupported);
}

#[test]
fn set_register_state_is_amtterms_thirteen_bytes() {
    // amtterm redir_ider_config: 48 00 00 00 <seq> 03 <01 | start mode> 00 00 00.
    let b = [0x48, 0, 0, 0, 5, 0, 0, 0, 3, 0x19, 0, 0, 0];
    let m = ider(&b);
    let IderMessage::DisableEnableFeatures(f) = m else {
        panic!()
    };
    assert_eq!(f.seq, 5);
    assert_eq!(
        f.request,
        FeatureRequest::SetRegisterState(IderStartMode::Now.enable_value())
    );
    assert_eq!(IderStartMode::from_value(0x19), Some(IderStartMode::Now));
    assert_eq!(
        IderStartMode::from_value(0x09),
        Some(IderStartMode::OnReboot)
    );
    assert_eq!(IderStartMode::from_value(0x01), None);
    // Types 1 and 2 carry no value (9 bytes).
    let q = Message::Ider(IderMessage::DisableEnableFeatures(DisableEnableFeatures {
        seq: 1,
        request: FeatureRequest::GetRegisterState,
    }));
    assert_eq!(q.encode().unwrap(), [0x48, 0, 0, 0, 1, 0, 0, 0, 2]);
    // The reply is 13 bytes: type, u32 value.
    let r = ider(&[0x49, 0, 0, 0, 2, 0, 0, 0, 3, 1, 0, 0, 0]);
    assert_eq!(
        r,
        IderMessage::DisableEnableFeaturesReply(DisableEnableFeaturesReply {
            seq: 2,
            kind: FeatureType::SetRegisterState,
            value: 1,
        })
    );
}

#[test]
fn unknown_feature_type_is_a_typed_error() {
    assert!(matches!(
        Message::decode(&[0x48, 0, 0, 0, 0, 0, 0, 0, 7]),
        Err(Error::UnknownRedirectionValue { value: 7, .. })
    ));
    // The type byte has not arrived yet: wait.
    assert_eq!(
        Message::frame_len(&[0x48, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
        None
    );
}

#[test]
fn command_written_carries_the_taskfile_and_packet() {
    // READ(10) of LBA 17, one block, on the CD-ROM, DMA.
    let cdb = Cdb::Read10 { lba: 17, blocks: 1 };
    let mut b = vec![0x50, 0, 0, 0, 9, 0, 0, 0];
    b.extend_from_slice(&[0, 1, 0, 0, 0xFE, 0xFF, 0xB0, 0xA0]);
    b.extend_from_slice(&[0x28, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0]);
    let IderMessage::CommandWritten(w) = ider(&b) else {
        panic!()
    };
    assert_eq!(w.seq, 9);
    assert_eq!(w.device(), device::CDROM);
    assert!(w.dma());
    assert_eq!(w.command, ider::ATA_PACKET);
    assert_eq!(Cdb::parse(&w.packet), cdb);
    assert_eq!(cdb.encode(), w.packet);
    let floppy = CommandWritten {
        drive_select: 0xA0,
        ..w
    };
    assert_eq!(floppy.device(), device::FLOPPY);
}

#[test]
fn command_end_matches_amtterm_packet_sense() {
    // amtterm ider_packet_sense(r, 0xB0, 5, 0x21, 0): output mask 0x85|ERROR, error 0x50,
    // interrupt reason IO|CD, drive select, status DRDY|DSC|ERR, then sense/asc/ascq.
    let e = CommandEnd::new(7, device::CDROM, 5, 0x21, 0);
    let b = Message::Ider(IderMessage::CommandEnd(e)).encode().unwrap();
    let mut want = vec![0x51, 0, 0, attributes::COMPLETED, 7, 0, 0, 0];
    want.extend_from_slice(&[0; 12]);
    want.extend_from_slice(&[0x87, 0x50, 0x03, 0, 0, 0, 0xB0, 0x51]);
    want.extend_from_slice(&[5, 0x21, 0]);
    assert_eq!(b, want);
    assert_eq!(b.len(), 31);
    assert!(e.is_error());
    // Good status: no ERR, no error register, no sense.
    let ok = CommandEnd::new(8, device::CDROM, 0, 0x21, 0);
    assert!(!ok.is_error());
    assert_eq!(ok.output.mask, 0x85);
    assert_eq!(ok.output.status, ata_status::DRDY | ata_status::DSC);
    assert_eq!((ok.asc, ok.ascq), (0, 0));
}

#[test]
fn data_to_host_header_is_34_bytes_and_pio_sets_the_byte_count() {
    let data = vec![0xAB; 2048];
    let d = DataToHost::new(3, device::CDROM, data.clone(), true, false);
    let b = Message::Ider(IderMessage::DataToHost(d.clone()))
        .encode()
        .unwrap();
    assert_eq!(b.len(), 34 + 2048);
    assert_eq!(b[3], attributes::COMPLETED);
    assert_eq!(u16::from_le_bytes([b[9], b[10]]), 2048, "transfer bytes");
    // Input registers (12..20): byte count for PIO, interrupt reason IO, DRQ.
    assert_eq!(u16::from_le_bytes([b[16], b[17]]), 2048);
    assert_ne!(b[12] & register_mask::INTERRUPT, 0);
    assert_eq!(b[19] & ata_status::DRQ, ata_status::DRQ);
    // Output registers (20..28): command complete.
    assert_eq!(b[22], 3);
    assert_eq!(&b[34..], &data[..]);
    assert_eq!(ider(&b), IderMessage::DataToHost(d));
    // DMA: no byte count, DMA attribute; not completed: output registers zero.
    let dma = DataToHost::new(4, device::CDROM, vec![1, 2], false, true);
    assert_eq!(dma.input.byte_count, 0);
    assert_eq!(dma.attributes, attributes::DMA);
    assert!(!dma.completed());
    assert_eq!(dma.output, AtaRegisters::default());
}

#[test]
fn data_from_host_follows_meshcentral_layout() {
    let d = DataFromHost {
        seq: 1,
        attributes: 0,
        cable_sel: 0,
        packet_num: 0,
        reserved: [0, 0],
        data: vec![9; 512],
    };
    let b = Message::Ider(IderMessage::DataFromHost(d.clone()))
        .encode()
        .unwrap();
    assert_eq!(b.len(), 14 + 512);
    assert_eq!(u16::from_le_bytes([b[9], b[10]]), 512);
    assert_eq!(ider(&b), IderMessage::DataFromHost(d));
}

#[test]
fn eight_byte_ider_messages_and_reset() {
    for (cmd, m) in [
        (0x42, IderMessage::End(1)),
        (0x43, IderMessage::EndReply(1)),
        (0x44, IderMessage::Ping(1)),
        (0x45, IderMessage::Pong(1)),
        (0x47, IderMessage::ResetOccurredResponse(1)),
        (0x4B, IderMessage::Heartbeat(1)),
    ] {
        assert_eq!(
            Message::Ider(m.clone()).encode().unwrap(),
            [cmd, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(Message::Ider(m.clone()).command().value(), cmd);
    }
    assert_eq!(
        ider(&[0x46, 0, 0, 0, 2, 0, 0, 0, 0x10]),
        IderMessage::ResetOccurred(ResetOccurred { seq: 2, mask: 0x10 })
    );
    assert_eq!(
        ider(&[0x4A, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3]),
        IderMessage::ErrorOccurred(ErrorOccurred {
            seq: 3,
            code: 1,
            data: [2, 3]
        })
    );
}

#[test]
fn truncated_and_oversized_ider_messages_are_clear_errors() {
    let d = DataToHost::new(0, device::CDROM, vec![0; 4096], true, false);
    let b = Message::Ider(IderMessage::DataToHost(d)).encode().unwrap();
    assert_eq!(Message::decode_prefix(&b[..100]).unwrap(), None);
    assert_eq!(
        Message::decode(&b[..100]),
        Err(Error::RedirectionTruncated {
            needed: 34 + 4096,
            got: 100
        })
    );
    assert!(matches!(
        Message::decode(&[0x50, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(Error::RedirectionTruncated { needed: 28, .. })
    ));
    let too_long = DataToHost::new(0, device::CDROM, vec![0; 70_000], true, false);
    assert!(matches!(
        Message::Ider(IderMessage::DataToHost(too_long)).encode(),
        Err(Error::RedirectionFieldTooLong { .. })
    ));
    // The largest legal frame fits the decoder's bound.
    let mut biggest = vec![0x54, 0, 0, 2, 0, 0, 0, 0, 0, 0xFF, 0xFF];
    biggest.resize(34 + 65535, 0);
    assert_eq!(biggest.len(), MAX_FRAME_LEN);
    let mut dec = RedirectionDecoder::new();
    dec.push(&biggest).unwrap();
    assert!(matches!(
        dec.next_message(),
        Ok(Some(Message::Ider(IderMessage::DataToHost(_))))
    ));
    // 0x4C–0x4F and 0x55+ are not IDE-R commands.
    for c in [0x4C, 0x4F, 0x55, 0x3F] {
        assert_eq!(
            Message::decode(&[c, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::UnknownRedirectionCommand(c))
        );
    }
}

#[test]
fn ider_message_sequence_numbers_can_be_rewritten() {
    let mut m = IderMessage::CommandEnd(CommandEnd::new(0, device::CDROM, 0, 0, 0));
    m.set_seq(41);
    assert_eq!(m.seq(), 41);
    let b = Message::Ider(m).encode().unwrap();
    assert_eq!(&b[4..8], &41u32.to_le_bytes());
}

#[test]
fn atapi_packets_parse_as_meshcentral_reads_them() {
    // READ(10): LBA big-endian at 2..6, count at 7..9.
    let p = [0x28, 0, 0x00, 0x01, 0x02, 0x03, 0, 0x00, 0x10, 0, 0, 0];
    assert_eq!(
        Cdb::parse(&p),
        Cdb::Read10 {
            lba: 0x0001_0203,
            blocks: 16
        }
    );
    // MODE SENSE(10) page 0x3F (page control bits ignored), allocation length at 7..9.
    let p = [0x5A, 0, 0xFF, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0];
    assert_eq!(
        Cdb::parse(&p),
        Cdb::ModeSense10 {
            page: 0x3F,
            subpage: 0,
            alloc: 256
        }
    );
    assert_eq!(Cdb::parse(&[0; 12]), Cdb::TestUnitReady);
    assert_eq!(
        Cdb::parse(&[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Cdb::ReadCapacity
    );
    let write10 = [0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0];
    assert_eq!(Cdb::parse(&write10), Cdb::Other(write10));
    assert_eq!(Cdb::parse(&write10).opcode(), 0x2A);
}

#[test]
fn sense_data_is_fixed_format() {
    let d = Sense::LBA_OUT_OF_RANGE.fixed_format();
    assert_eq!((d[0], d[2], d[7], d[12], d[13]), (0x70, 5, 10, 0x21, 0));
    assert!(!Sense::NONE.is_error());
    assert_eq!(
        Sense::MEDIUM_NOT_PRESENT.to_string(),
        "not ready: medium not present (02/3A/00)"
    );
}

proptest! {
    #[test]
    fn every_ider_message_round_trips(m in arb_ider()) {
        let b = Message::Ider(m.clone()).encode().unwrap();
        prop_assert_eq!(Message::frame_len(&b).unwrap(), Some(b.len()));
        prop_assert_eq!(Message::decode(&b).unwrap(), Message::Ider(m));
    }

    #[test]
    fn every_ider_message_truncated_waits_for_more(m in arb_ider(), cut in 1usize..64) {
        let b = Message::Ider(m).encode().unwrap();
        let cut = cut.min(b.len() - 1);
        prop_assert_eq!(Message::decode_prefix(&b[..cut]).unwrap(), None);
    }

    #[test]
    fn every_cdb_round_trips(c in arb_cdb()) {
        prop_assert_eq!(Cdb::parse(&c.encode()), c);
    }

    #[test]
    fn any_packet_parses(p in any::<[u8; 12]>()) {
        let c = Cdb::parse(&p);
        prop_assert_eq!(c.opcode(), p[0]);
        prop_assert_eq!(Cdb::parse(&c.encode()), c);
    }
}

mod boot_images {
    use amt_wire::redirection::boot_image::*;
    use amt_wire::Error;

    fn sector(iso: &[u8], lba: u32) -> &[u8] {
        &iso[lba as usize * CD_SECTOR..(lba as usize + 1) * CD_SECTOR]
    }

    /// Follows what the BIOS reads: label, boot record, catalog, the loaded boot image bytes.
    fn boot(iso: &[u8]) -> Result<(String, BootEntry, Vec<u8>), Error> {
        let label = volume_label(sector(iso, PVD_LBA))?;
        let catalog = boot_catalog_lba(sector(iso, BOOT_RECORD_LBA))?;
        let entry = default_entry(sector(iso, catalog))?;
        let start = entry.load_rba as usize * CD_SECTOR;
        Ok((
            label,
            entry,
            iso[start..start + entry.load_bytes()].to_vec(),
        ))
    }

    #[test]
    fn minimal_el_torito_image_boots() {
        let mut image = vec![0xEB, 0x3C, 0x90];
        image.resize(2048, 0x5A);
        let iso = minimal_el_torito_iso("AMTD_TEST_BOOT", &image);
        let (label, entry, loaded) = boot(&iso).unwrap();
        assert_eq!(label, "AMTD_TEST_BOOT");
        assert_eq!(entry.media, BootMedia::NoEmulation);
        assert_eq!((entry.load_rba, entry.sector_count), (20, 4));
        assert_eq!(loaded, image);
        assert!(is_iso9660(sector(&iso, PVD_LBA)));
    }

    #[test]
    fn broken_boot_structures_are_refused_with_a_reason() {
        let iso = minimal_el_torito_iso("X", &[1; 512]);
        // Not an ISO at all.
        assert!(matches!(
            volume_label(&[0u8; 2048]),
            Err(Error::NotBootable {
                structure: "primary volume descriptor",
                ..
            })
        ));
        assert!(volume_label(&[1u8; 100]).is_err(), "short sector");
        // The PVD is not a boot record and vice versa.
        assert!(boot_catalog_lba(sector(&iso, PVD_LBA)).is_err());
        assert!(volume_label(sector(&iso, BOOT_RECORD_LBA)).is_err());
        // A wrong system identifier.
        let mut br = sector(&iso, BOOT_RECORD_LBA).to_vec();
        br[10] = b'X';
        assert!(boot_catalog_lba(&br).is_err());
        // A catalog whose checksum no longer sums to 0.
        let mut cat = sector(&iso, 19).to_vec();
        cat[5] ^= 1;
        let e = default_entry(&cat).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        // A non-bootable initial entry.
        let mut cat = sector(&iso, 19).to_vec();
        cat[32] = 0;
        assert!(default_entry(&cat).is_err());
        assert!(default_entry(&cat[..40]).is_err(), "short catalog");
        assert!(!has_boot_signature(&[0u8; 100]));
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert!(has_boot_signature(&mbr));
    }

    /// The parser against an image a real tool made: xorriso (Debian `xorriso`, installed by
    /// scripts/install-peers).
    #[test]
    fn xorriso_made_image_is_read_like_a_bios_reads_it() {
        let Some(xorriso) = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("xorriso"))
                .find(|p| p.is_file())
        }) else {
            assert!(
                std::env::var_os("AMTD_NODE_DIR").is_none(),
                "xorriso is missing; run ./scripts/install-peers"
            );
            eprintln!("SKIPPED: xorriso is missing; run ./scripts/install-peers");
            return;
        };
        let dir = std::env::temp_dir().join(format!(
            "amt-wire-xorriso-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let mut image: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
        image[510] = 0x55;
        image[511] = 0xAA;
        std::fs::write(root.join("boot.img"), &image).unwrap();
        std::fs::write(root.join("README"), b"hello").unwrap();
        let iso_path = dir.join("out.iso");
        let out = std::process::Command::new(xorriso)
            .args(["-as", "mkisofs", "-V", "XORRISO_LABEL", "-b", "boot.img"])
            .args(["-no-emul-boot", "-boot-load-size", "4", "-o"])
            .arg(&iso_path)
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let iso = std::fs::read(&iso_path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let (label, entry, loaded) = boot(&iso).unwrap();
        assert_eq!(label, "XORRISO_LABEL");
        assert_eq!(entry.media, BootMedia::NoEmulation);
        assert_eq!(entry.sector_count, 4);
        assert_eq!(entry.platform, 0);
        assert_eq!(loaded, image);
    }
}
