//! Platform event log records (`AMT_MessageLog.GetRecords`): the 21-byte IPMI Platform Event
//! Trap layout of [`EventRecord`] (time stamp `u32` little-endian, device address, sensor type,
//! event type, event offset, source type, severity, sensor number, entity, entity instance,
//! eight bytes of event data), described in words.
//!
//! [`decode_event`] checks the length and splits the bytes; [`describe_event`] names the sensor
//! and entity and turns the sensor-specific offset (event type 0x6F) and event data into a
//! sentence. Unknown sensors, entities and offsets are shown by number, never refused: a log
//! from newer firmware must still read. Sources: see [the module docs](super).

use amt_wsman::classes::amt::EventRecord;

use crate::Error;

/// Splits one record's raw bytes (exactly [`EventRecord::LEN`]).
///
/// # Errors
/// [`Error::EventRecordLength`] for any other length.
pub fn decode_event(bytes: &[u8]) -> Result<EventRecord, Error> {
    if bytes.len() != EventRecord::LEN {
        return Err(Error::EventRecordLength { len: bytes.len() });
    }
    EventRecord::decode(bytes).map_err(|_| Error::EventRecordLength { len: bytes.len() })
}

/// A record in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDescription {
    /// The sensor type's name (`System Boot / Restart Initiated`), or `sensor type 0xNN`.
    pub sensor: String,
    /// The entity's name (`System firmware (BIOS)`), or `entity 0xNN`.
    pub entity: String,
    /// What kind of event type byte it is (`sensor-specific`, `threshold`, `generic`, `OEM`).
    pub event_type: &'static str,
    /// The severity's name (`Critical`, …), or `Unknown (0xNN)`.
    pub severity: String,
    /// What happened.
    pub description: String,
}

/// Describes a decoded record. Never fails: unknown values are shown by number.
pub fn describe_event(r: &EventRecord) -> EventDescription {
    let sensor = sensor_name(r.event_sensor_type).map_or_else(
        || format!("sensor type 0x{:02X}", r.event_sensor_type),
        str::to_owned,
    );
    let entity =
        entity_name(r.entity).map_or_else(|| format!("entity 0x{:02X}", r.entity), str::to_owned);
    let severity = severity_name(r.event_severity).map_or_else(
        || format!("Unknown (0x{:02X})", r.event_severity),
        str::to_owned,
    );
    let (event_type, description) = match r.event_type {
        0x6F => ("sensor-specific", sensor_specific(r, &sensor)),
        0x01 => (
            "threshold",
            format!(
                "{sensor}: {}",
                THRESHOLD
                    .get(usize::from(r.event_offset))
                    .copied()
                    .unwrap_or("threshold event")
            ),
        ),
        0x02..=0x0C => (
            "generic",
            format!(
                "{sensor}: generic event type 0x{:02X}, offset {}",
                r.event_type, r.event_offset
            ),
        ),
        0x70..=0x7F => (
            "OEM",
            format!(
                "{sensor}: OEM event type 0x{:02X}, offset {}",
                r.event_type, r.event_offset
            ),
        ),
        other => (
            "unspecified",
            format!(
                "{sensor}: event type 0x{other:02X}, offset {}",
                r.event_offset
            ),
        ),
    };
    EventDescription {
        sensor,
        entity,
        event_type,
        severity,
        description,
    }
}

/// The sentence for a sensor-specific (0x6F) event.
fn sensor_specific(r: &EventRecord, sensor: &str) -> String {
    let offset = r.event_offset;
    let d = &r.event_data;
    match r.event_sensor_type {
        0x06 => {
            // AMT counts failed authentications in data bytes 2-3 (go-wsman-messages).
            let what = pick(PLATFORM_SECURITY, offset).unwrap_or("platform security violation");
            let count = u16::from_le_bytes([d[1], d[2]]);
            if count > 0 {
                format!(
                    "{what}: authentication failed {count} times (the system may be under \
                     attack)"
                )
            } else {
                what.to_owned()
            }
        }
        0x0F => {
            let code = d[1];
            match offset {
                0 => format!(
                    "System firmware error: {}",
                    pick(FIRMWARE_ERROR, code)
                        .map_or_else(|| format!("code 0x{code:02X}"), str::to_owned)
                ),
                1 => format!(
                    "System firmware hang: {}",
                    pick(FIRMWARE_PROGRESS, code)
                        .map_or_else(|| format!("code 0x{code:02X}"), str::to_owned)
                ),
                2 => pick(FIRMWARE_PROGRESS, code).map_or_else(
                    || format!("System firmware progress code 0x{code:02X}"),
                    str::to_owned,
                ),
                _ => format!("{sensor}: offset {offset}"),
            }
        }
        0x12 if d[0] == 0xAA => {
            // AMT agent presence: a watchdog GUID in data bytes 2-7, its new state in byte 8.
            let state = match d[7] {
                1 => "not started",
                2 => "stopped",
                4 => "running",
                8 => "expired",
                16 => "suspended",
                _ => "an unknown state",
            };
            format!(
                "Agent watchdog {:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}… changed to {state}",
                d[4], d[3], d[2], d[1], d[6], d[5]
            )
        }
        t => match offsets(t).and_then(|table| pick(table, offset)) {
            Some(text) => text.to_owned(),
            None => format!("{sensor}: offset {offset}"),
        },
    }
}

fn pick(table: &[&'static str], index: u8) -> Option<&'static str> {
    table
        .get(usize::from(index))
        .copied()
        .filter(|s| !s.is_empty())
}

/// IPMI table 42-3, sensor type codes.
pub fn sensor_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "Temperature",
        0x02 => "Voltage",
        0x03 => "Current",
        0x04 => "Fan",
        0x05 => "Physical Security (Chassis Intrusion)",
        0x06 => "Platform Security Violation Attempt",
        0x07 => "Processor",
        0x08 => "Power Supply",
        0x09 => "Power Unit",
        0x0A => "Cooling Device",
        0x0B => "Other Units-based Sensor",
        0x0C => "Memory",
        0x0D => "Drive Slot (Bay)",
        0x0E => "POST Memory Resize",
        0x0F => "System Firmware Progress",
        0x10 => "Event Logging Disabled",
        0x11 => "Watchdog 1",
        0x12 => "System Event",
        0x13 => "Critical Interrupt",
        0x14 => "Button / Switch",
        0x15 => "Module / Board",
        0x16 => "Microcontroller / Coprocessor",
        0x17 => "Add-in Card",
        0x18 => "Chassis",
        0x19 => "Chip Set",
        0x1A => "Other FRU",
        0x1B => "Cable / Interconnect",
        0x1C => "Terminator",
        0x1D => "System Boot / Restart Initiated",
        0x1E => "Boot Error",
        0x1F => "Base OS Boot / Installation Status",
        0x20 => "OS Stop / Shutdown",
        0x21 => "Slot / Connector",
        0x22 => "System ACPI Power State",
        0x23 => "Watchdog 2",
        0x24 => "Platform Alert",
        0x25 => "Entity Presence",
        0x26 => "Monitor ASIC / IC",
        0x27 => "LAN",
        0x28 => "Management Subsystem Health",
        0x29 => "Battery",
        0x2A => "Session Audit",
        0x2B => "Version Change",
        0x2C => "FRU State",
        _ => return None,
    })
}

/// IPMI table 43-13, entity ID codes.
pub fn entity_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x00 => "Unspecified",
        0x01 => "Other",
        0x02 => "Unknown",
        0x03 => "Processor",
        0x04 => "Disk or disk bay",
        0x05 => "Peripheral bay",
        0x06 => "System management module",
        0x07 => "System board",
        0x08 => "Memory module",
        0x09 => "Processor module",
        0x0A => "Power supply",
        0x0B => "Add-in card",
        0x0C => "Front panel board",
        0x0D => "Back panel board",
        0x0E => "Power system board",
        0x0F => "Drive backplane",
        0x10 => "System internal expansion board",
        0x11 => "Other system board",
        0x12 => "Processor board",
        0x13 => "Power unit",
        0x14 => "Power module",
        0x15 => "Power management board",
        0x16 => "Chassis back panel board",
        0x17 => "System chassis",
        0x18 => "Sub-chassis",
        0x19 => "Other chassis board",
        0x1A => "Disk drive bay",
        0x1B => "Peripheral bay",
        0x1C => "Device bay",
        0x1D => "Fan / cooling device",
        0x1E => "Cooling unit",
        0x1F => "Cable / interconnect",
        0x20 => "Memory device",
        0x21 => "System management software",
        0x22 => "System firmware (BIOS)",
        0x23 => "Operating system",
        0x24 => "System bus",
        0x25 => "Group",
        0x26 => "Remote management controller (Intel ME)",
        0x27 => "External environment",
        0x28 => "Battery",
        0x29 => "Processing blade",
        0x2A => "Connectivity switch",
        0x2B => "Processor/memory module",
        0x2C => "I/O module",
        0x2D => "Processor/IO module",
        0x2E => "Management controller firmware",
        0x2F => "IPMI channel",
        0x30 => "PCI bus",
        0x31 => "PCI Express bus",
        0x32 => "SCSI bus",
        0x33 => "SATA/SAS bus",
        0x34 => "Processor front-side bus",
        0x35 => "Real-time clock",
        _ => return None,
    })
}

/// PET event severity (a bit each).
pub fn severity_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x00 => "Unspecified",
        0x01 => "Monitor",
        0x02 => "Information",
        0x04 => "OK",
        0x08 => "Non-critical",
        0x10 => "Critical",
        0x20 => "Non-recoverable",
        _ => return None,
    })
}

/// Threshold event offsets (event type 0x01).
const THRESHOLD: &[&str] = &[
    "lower non-critical, going low",
    "lower non-critical, going high",
    "lower critical, going low",
    "lower critical, going high",
    "lower non-recoverable, going low",
    "lower non-recoverable, going high",
    "upper non-critical, going low",
    "upper non-critical, going high",
    "upper critical, going low",
    "upper critical, going high",
    "upper non-recoverable, going low",
    "upper non-recoverable, going high",
];

const PLATFORM_SECURITY: &[&str] = &[
    "Secure mode (front panel lockout) violation attempt",
    "Pre-boot password violation: user password",
    "Pre-boot password violation: setup password",
    "Pre-boot password violation: network boot password",
    "Other pre-boot password violation",
    "Out-of-band access password violation",
];

/// System firmware error codes (sensor 0x0F offset 0, data byte 2).
const FIRMWARE_ERROR: &[&str] = &[
    "unspecified",
    "no system memory is installed",
    "no usable system memory",
    "unrecoverable hard-disk/ATAPI/IDE device failure",
    "unrecoverable system-board failure",
    "unrecoverable diskette subsystem failure",
    "unrecoverable hard-disk controller failure",
    "unrecoverable PS/2 or USB keyboard failure",
    "removable boot media not found",
    "unrecoverable video controller failure",
    "no video device detected",
    "firmware (BIOS) ROM corruption detected",
    "CPU voltage mismatch",
    "CPU speed matching failure",
];

/// System firmware progress codes (sensor 0x0F offsets 1 and 2, data byte 2).
const FIRMWARE_PROGRESS: &[&str] = &[
    "Unspecified firmware progress",
    "Memory initialization",
    "Hard-disk initialization",
    "Secondary processor(s) initialization",
    "User authentication",
    "User-initiated system setup",
    "USB resource configuration",
    "PCI resource configuration",
    "Option ROM initialization",
    "Video initialization",
    "Cache initialization",
    "SM Bus initialization",
    "Keyboard controller initialization",
    "Embedded controller/management controller initialization",
    "Docking station attachment",
    "Enabling docking station",
    "Docking station ejection",
    "Disabling docking station",
    "Calling operating system wake-up vector",
    "Starting operating system boot process",
    "Baseboard or motherboard initialization",
    "",
    "Floppy initialization",
    "Keyboard test",
    "Pointing device test",
    "Primary processor initialization",
];

/// Sensor-specific offsets of the sensor types AMT platforms report (IPMI table 42-3).
fn offsets(sensor: u8) -> Option<&'static [&'static str]> {
    Some(match sensor {
        0x05 => &[
            "General chassis intrusion",
            "Drive bay intrusion",
            "I/O card area intrusion",
            "Processor area intrusion",
            "LAN leash lost (system unplugged from the LAN)",
            "Unauthorized dock",
            "Fan area intrusion",
        ],
        0x07 => &[
            "Processor IERR",
            "Processor thermal trip",
            "Processor FRB1/BIST failure",
            "Processor FRB2/hang in POST",
            "Processor FRB3/startup failure",
            "Processor configuration error",
            "Uncorrectable CPU-complex error",
            "Processor presence detected",
            "Processor disabled",
            "Terminator presence detected",
            "Processor automatically throttled",
            "Machine check exception",
        ],
        0x08 => &[
            "Power supply presence detected",
            "Power supply failure detected",
            "Power supply predictive failure",
            "Power supply input lost",
            "Power supply input lost or out of range",
            "Power supply input out of range but present",
            "Power supply configuration error",
        ],
        0x0C => &[
            "Correctable memory ECC error",
            "Uncorrectable memory ECC error",
            "Memory parity error",
            "Memory scrub failed",
            "Memory device disabled",
            "Correctable ECC logging limit reached",
            "Memory presence detected",
            "Memory configuration error",
            "Memory spare",
        ],
        0x10 => &[
            "Correctable memory error logging disabled",
            "Event type logging disabled",
            "Log area reset/cleared",
            "All event logging disabled",
            "Event log full",
            "Event log almost full",
        ],
        0x12 => &[
            "System reconfigured",
            "OEM system boot event",
            "Undetermined system hardware failure",
            "Entry added to the auxiliary log",
            "Platform event filter action",
            "Time stamp clock synchronised",
        ],
        0x13 => &[
            "Front panel NMI / diagnostic interrupt",
            "Bus timeout",
            "I/O channel check NMI",
            "Software NMI",
            "PCI PERR",
            "PCI SERR",
            "EISA fail-safe timeout",
            "Bus correctable error",
            "Bus uncorrectable error",
            "Fatal NMI",
            "Bus fatal error",
            "Bus degraded",
        ],
        0x1D => &[
            "System boot initiated by power up",
            "System boot initiated by hard reset",
            "System boot initiated by warm reset",
            "User requested PXE boot",
            "Automatic boot to diagnostic",
            "OS initiated hard reset",
            "OS initiated warm reset",
            "System restart",
        ],
        0x1E => &[
            "No bootable media",
            "Non-bootable diskette left in drive",
            "PXE server not found",
            "Invalid boot sector",
            "Timeout waiting for a boot source selection",
        ],
        0x1F => &[
            "Boot completed: A: (floppy)",
            "Boot completed: C: (hard drive)",
            "Boot completed: PXE",
            "Boot completed: diagnostic",
            "Boot completed: CD-ROM",
            "Boot completed: ROM",
            "Boot completed: boot device not specified",
            "Base OS installation started",
            "Base OS installation completed",
            "Base OS installation aborted",
            "Base OS installation failed",
        ],
        0x20 => &[
            "Critical stop during OS load",
            "Run-time critical stop",
            "OS graceful stop",
            "OS graceful shutdown",
            "Soft shutdown initiated by the platform event filter",
            "Agent not responding",
        ],
        0x22 => &[
            "S0/G0: working",
            "S1: sleeping, context maintained",
            "S2: sleeping, processor context lost",
            "S3: sleeping (suspend to RAM)",
            "S4: sleeping (suspend to disk)",
            "S5/G2: soft off",
            "S4/S5: soft off",
            "G3: mechanical off",
            "Sleeping in S1, S2 or S3",
            "G1: sleeping",
            "S5 entered by override",
            "Legacy ON state",
            "Legacy OFF state",
            "",
            "Unknown power state",
        ],
        0x23 => &[
            "Watchdog timer expired",
            "Watchdog hard reset",
            "Watchdog power down",
            "Watchdog power cycle",
            "",
            "",
            "",
            "",
            "Watchdog timer interrupt",
        ],
        0x25 => &["Entity present", "Entity absent", "Entity disabled"],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw bytes of a base64 record (amt-wsman's decoder does the base64).
    fn b64(s: &str) -> Vec<u8> {
        EventRecord::decode_b64(s).unwrap().encode().to_vec()
    }

    #[test]
    fn recorded_records_decode_into_words() {
        let r = decode_event(&b64("Y8iYZf8GbwVoEP8mYaoKAAAAAAAA")).unwrap();
        let d = describe_event(&r);
        assert_eq!(r.time_stamp, 0x6598_c863);
        assert_eq!(d.sensor, "Platform Security Violation Attempt");
        assert_eq!(d.severity, "Critical");
        assert_eq!(d.entity, "Remote management controller (Intel ME)");
        assert_eq!(
            d.description,
            "Out-of-band access password violation: authentication failed 10 times (the \
             system may be under attack)"
        );

        let r = decode_event(&b64("IgYBZf8PbwJoAf8iAEAHAAAAAAAA")).unwrap();
        let d = describe_event(&r);
        assert_eq!(d.sensor, "System Firmware Progress");
        assert_eq!(d.entity, "System firmware (BIOS)");
        assert_eq!(d.severity, "Monitor");
        assert_eq!(d.description, "PCI resource configuration");
        assert_eq!(d.event_type, "sensor-specific");
    }

    #[test]
    fn wrong_lengths_are_refused() {
        assert_eq!(
            decode_event(&[0; 20]),
            Err(Error::EventRecordLength { len: 20 })
        );
        assert_eq!(
            decode_event(&[0; 22]),
            Err(Error::EventRecordLength { len: 22 })
        );
        assert!(decode_event(&[]).is_err());
    }

    #[test]
    fn unknown_values_are_shown_by_number() {
        let r = EventRecord {
            time_stamp: 1,
            device_address: 0,
            event_sensor_type: 0xC0,
            event_type: 0x6F,
            event_offset: 9,
            event_source_type: 0x68,
            event_severity: 0x03,
            sensor_number: 0,
            entity: 0x99,
            entity_instance: 0,
            event_data: [0; 8],
        };
        let d = describe_event(&r);
        assert_eq!(d.sensor, "sensor type 0xC0");
        assert_eq!(d.entity, "entity 0x99");
        assert_eq!(d.severity, "Unknown (0x03)");
        assert_eq!(d.description, "sensor type 0xC0: offset 9");
    }

    #[test]
    fn boot_records_name_what_booted() {
        let mut r = EventRecord {
            time_stamp: 0,
            device_address: 0xFF,
            event_sensor_type: 0x1D,
            event_type: 0x6F,
            event_offset: 3,
            event_source_type: 0x68,
            event_severity: 2,
            sensor_number: 0xFF,
            entity: 0x22,
            entity_instance: 0,
            event_data: [0; 8],
        };
        assert_eq!(describe_event(&r).description, "User requested PXE boot");
        r.event_sensor_type = 0x1F;
        r.event_offset = 2;
        assert_eq!(describe_event(&r).description, "Boot completed: PXE");
        r.event_sensor_type = 0x0F;
        r.event_offset = 0;
        r.event_data[1] = 0x08;
        assert_eq!(
            describe_event(&r).description,
            "System firmware error: removable boot media not found"
        );
    }
}
