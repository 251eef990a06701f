//! Namespace URIs, action URIs and resource-URI schemas used on the wire.
//!
//! Sources: AMT-PROTOCOLS.md §3.3 (go-wsman-messages `internal/message/constants.go`, recorded
//! fixtures), DSP0226 (WS-Management 1.0) and the W3C SOAP 1.2 / WS-Addressing 2004/08 specs.

/// SOAP 1.2 envelope namespace.
pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing (2004/08, the member submission AMT uses).
pub const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// WS-Management (DMTF DSP0226).
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
/// WS-Enumeration (2004/09).
pub const WSEN: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
/// WS-Transfer (2004/09).
pub const WXF: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
/// WS-Trust 2005/02 (declared by AMT in every response).
pub const WST: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
/// WS-Security secext (declared by AMT in every response).
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Management CIM binding.
pub const CIMBINDING: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
/// XML Schema instance (`xsi:nil`, `xsi:type`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// XML Schema.
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema";
/// The CIM common schema namespace (`Datetime`, `Interval`… wrappers).
pub const CIM_COMMON: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";

/// The anonymous WS-Addressing endpoint (`ReplyTo`, and `To` in responses).
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// Resource-URI base of `AMT_*` classes.
pub const AMT_BASE: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
/// Resource-URI base of `CIM_*` classes.
pub const CIM_BASE: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
/// Resource-URI base of `IPS_*` classes.
pub const IPS_BASE: &str = "http://intel.com/wbem/wscim/1/ips-schema/1/";

/// WS-Transfer and WS-Enumeration action URIs.
pub mod action {
    /// WS-Transfer Get.
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    /// WS-Transfer Put.
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    /// WS-Transfer Create.
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    /// WS-Transfer Delete.
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    /// WS-Enumeration Enumerate.
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    /// WS-Enumeration Pull.
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    /// WS-Enumeration Release.
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    /// WS-Addressing fault action (what AMT sends with SOAP faults).
    pub const FAULT_WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    /// WS-Management fault action.
    pub const FAULT_WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
}

/// The three class schemas AMT serves, by resource-URI base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    /// Intel `AMT_*` classes.
    Amt,
    /// DMTF `CIM_*` classes.
    Cim,
    /// Intel `IPS_*` classes.
    Ips,
}

impl Schema {
    /// The resource-URI base.
    pub const fn base(self) -> &'static str {
        match self {
            Schema::Amt => AMT_BASE,
            Schema::Cim => CIM_BASE,
            Schema::Ips => IPS_BASE,
        }
    }

    /// The schema a class name belongs to, from its prefix.
    pub fn of_class(class: &str) -> Option<Schema> {
        if class.starts_with("AMT_") {
            Some(Schema::Amt)
        } else if class.starts_with("CIM_") {
            Some(Schema::Cim)
        } else if class.starts_with("IPS_") {
            Some(Schema::Ips)
        } else {
            None
        }
    }
}

/// The resource URI of a class (`AMT_GeneralSettings` → `http://intel.com/…/AMT_GeneralSettings`).
/// Names without a known prefix are returned unchanged (they are taken to be full URIs).
pub fn resource_uri(class: &str) -> String {
    match Schema::of_class(class) {
        Some(s) => format!("{}{}", s.base(), class),
        None => class.to_owned(),
    }
}

/// The class name of a resource URI (its last path segment).
pub fn class_of(resource_uri: &str) -> &str {
    resource_uri.rsplit('/').next().unwrap_or(resource_uri)
}
