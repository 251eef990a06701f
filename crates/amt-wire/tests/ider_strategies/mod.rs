//! Proptest strategies for IDE-R messages and ATAPI packets (shared by `redirection.rs` and
//! `redirection_ider.rs`).
#![allow(dead_code)]

use amt_wire::redirection::atapi::Cdb;
use amt_wire::redirection::*;
use proptest::prelude::*;

pub fn arb_regs() -> impl Strategy<Value = AtaRegisters> {
    (any::<[u8; 6]>(), any::<u16>()).prop_map(|(b, byte_count)| AtaRegisters {
        mask: b[0],
        error: b[1],
        sector_count: b[2],
        sector_number: b[3],
        byte_count,
        drive_select: b[4],
        status: b[5],
    })
}

pub fn arb_command_end() -> impl Strategy<Value = CommandEnd> {
    (
        any::<u32>(),
        any::<[u8; 3]>(),
        any::<u16>(),
        arb_regs(),
        arb_regs(),
        any::<[u8; 3]>(),
    )
        .prop_map(|(seq, b, transfer_bytes, input, output, s)| CommandEnd {
            seq,
            attributes: b[0],
            cable_sel: b[1],
            transfer_bytes,
            packet_num: b[2],
            input,
            output,
            sense_key: s[0],
            asc: s[1],
            ascq: s[2],
        })
}

pub fn arb_ider() -> impl Strategy<Value = IderMessage> {
    let seq = any::<u32>();
    let status = proptest::sample::select(SessionStatus::ALL.to_vec());
    let data = proptest::collection::vec(any::<u8>(), 0..600);
    prop_oneof![
        (seq, any::<[u16; 3]>(), any::<u32>()).prop_map(|(seq, v, version)| {
            IderMessage::Start(StartIder {
                seq,
                settings: IderSettings {
                    rx_timeout: v[0],
                    tx_timeout: v[1],
                    heartbeat_interval: v[2],
                },
                version,
            })
        }),
        (
            (status, seq, any::<[u8; 4]>(), any::<[u8; 4]>()),
            (
                any::<[u16; 2]>(),
                any::<[u8; 2]>(),
                any::<[u8; 3]>(),
                any::<u32>()
            ),
            proptest::collection::vec(any::<u8>(), 0..255),
        )
            .prop_map(|((status, seq, v, r12), (bufs, b, r22, iana), oem)| {
                IderMessage::StartReply(StartIderReply {
                    status,
                    seq,
                    version: (v[0], v[1]),
                    firmware: (v[2], v[3]),
                    reserved_12: r12,
                    read_buffer: bufs[0],
                    write_buffer: bufs[1],
                    reserved_20: b[0],
                    protocol: b[1],
                    reserved_22: r22,
                    iana,
                    oem,
                })
            }),
        seq.prop_map(IderMessage::End),
        seq.prop_map(IderMessage::EndReply),
        seq.prop_map(IderMessage::Ping),
        seq.prop_map(IderMessage::Pong),
        seq.prop_map(IderMessage::ResetOccurredResponse),
        seq.prop_map(IderMessage::Heartbeat),
        (seq, any::<u8>())
            .prop_map(|(seq, mask)| IderMessage::ResetOccurred(ResetOccurred { seq, mask })),
        (
            seq,
            prop_oneof![
                Just(FeatureRequest::GetSupported),
                Just(FeatureRequest::GetRegisterState),
                any::<u32>().prop_map(FeatureRequest::SetRegisterState),
            ]
        )
            .prop_map(|(seq, request)| IderMessage::DisableEnableFeatures(
                DisableEnableFeatures { seq, request }
            )),
        (
            seq,
            proptest::sample::select(FeatureType::ALL.to_vec()),
            any::<u32>()
        )
            .prop_map(
                |(seq, kind, value)| IderMessage::DisableEnableFeaturesReply(
                    DisableEnableFeaturesReply { seq, kind, value }
                )
            ),
        (seq, any::<[u8; 3]>()).prop_map(|(seq, b)| IderMessage::ErrorOccurred(ErrorOccurred {
            seq,
            code: b[0],
            data: [b[1], b[2]],
        })),
        (seq, any::<[u8; 6]>(), any::<u16>(), any::<[u8; 12]>()).prop_map(
            |(seq, b, byte_count, packet)| IderMessage::CommandWritten(CommandWritten {
                seq,
                cable_sel: b[0],
                feature: b[1],
                sector_count: b[2],
                sector_number: b[3],
                byte_count,
                drive_select: b[4],
                command: b[5],
                packet,
            })
        ),
        arb_command_end().prop_map(IderMessage::CommandEnd),
        arb_command_end().prop_map(IderMessage::GetDataFromHost),
        (seq, any::<[u8; 5]>(), data.clone()).prop_map(|(seq, b, data)| {
            IderMessage::DataFromHost(DataFromHost {
                seq,
                attributes: b[0],
                cable_sel: b[1],
                packet_num: b[2],
                reserved: [b[3], b[4]],
                data,
            })
        }),
        (seq, any::<[u8; 6]>(), arb_regs(), arb_regs(), data).prop_map(
            |(seq, b, input, output, data)| {
                IderMessage::DataToHost(DataToHost {
                    seq,
                    attributes: b[0],
                    cable_sel: b[1],
                    packet_num: b[2],
                    input,
                    output,
                    sense_key: b[3],
                    asc: b[4],
                    ascq: b[5],
                    data,
                })
            }
        ),
    ]
}

pub fn arb_cdb() -> impl Strategy<Value = Cdb> {
    prop_oneof![
        Just(Cdb::TestUnitReady),
        any::<u8>().prop_map(|alloc| Cdb::RequestSense { alloc }),
        (any::<bool>(), any::<u8>(), any::<u16>()).prop_map(|(evpd, page, alloc)| Cdb::Inquiry {
            evpd,
            page,
            alloc
        }),
        (0u8..64, any::<u8>(), any::<u8>()).prop_map(|(page, subpage, alloc)| Cdb::ModeSense6 {
            page,
            subpage,
            alloc
        }),
        (any::<bool>(), any::<bool>())
            .prop_map(|(start, load_eject)| Cdb::StartStopUnit { start, load_eject }),
        any::<bool>().prop_map(|prevent| Cdb::PreventAllowMediumRemoval { prevent }),
        any::<u16>().prop_map(|alloc| Cdb::ReadFormatCapacities { alloc }),
        Just(Cdb::ReadCapacity),
        (any::<u32>(), any::<u16>()).prop_map(|(lba, blocks)| Cdb::Read10 { lba, blocks }),
        (any::<u32>(), any::<u32>()).prop_map(|(lba, blocks)| Cdb::Read12 { lba, blocks }),
        (any::<bool>(), 0u8..16, any::<u8>(), any::<u16>()).prop_map(
            |(msf, format, track, alloc)| Cdb::ReadToc {
                msf,
                format,
                track,
                alloc
            }
        ),
        (0u8..4, any::<u16>(), any::<u16>()).prop_map(|(rt, start, alloc)| Cdb::GetConfiguration {
            rt,
            start,
            alloc
        }),
        (any::<bool>(), any::<u8>(), any::<u16>()).prop_map(|(polled, classes, alloc)| {
            Cdb::GetEventStatusNotification {
                polled,
                classes,
                alloc,
            }
        }),
        (0u8..64, any::<u8>(), any::<u16>()).prop_map(|(page, subpage, alloc)| Cdb::ModeSense10 {
            page,
            subpage,
            alloc
        }),
        any::<[u8; 12]>()
            .prop_filter("an unmodelled opcode", |p| matches!(
                Cdb::parse(p),
                Cdb::Other(_)
            ))
            .prop_map(Cdb::Other),
    ]
}
