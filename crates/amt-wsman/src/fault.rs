//! SOAP 1.2 faults as typed values, both directions.
//!
//! AMT answers errors with a SOAP fault whose `Code/Value` is `Sender` or `Receiver` and whose
//! `Subcode/Value` is a qualified name from WS-Addressing, WS-Management, WS-Enumeration or
//! WS-Transfer; clients key on the subcode (AMT-PROTOCOLS.md §3.3, go-wsman-messages
//! `pkg/amterror`). The HTTP status that carries a fault is 400 for `Sender` and 500 for
//! `Receiver` (SOAP 1.2 HTTP binding, W3C SOAP 1.2 part 2 §7.5.2).

use crate::ns;
use crate::value::{close, open};
use crate::xml::{self, escape_attr, escape_text, Element};
use crate::Error;

/// The SOAP 1.2 fault code (`env:Code/env:Value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// `VersionMismatch`: not a SOAP 1.2 envelope.
    VersionMismatch,
    /// `MustUnderstand`: a mandatory header was not understood.
    MustUnderstand,
    /// `DataEncodingUnknown`.
    DataEncodingUnknown,
    /// `Sender`: the request was wrong.
    Sender,
    /// `Receiver`: the service failed.
    Receiver,
}

impl FaultCode {
    /// Local name on the wire.
    pub const fn local_name(self) -> &'static str {
        match self {
            FaultCode::VersionMismatch => "VersionMismatch",
            FaultCode::MustUnderstand => "MustUnderstand",
            FaultCode::DataEncodingUnknown => "DataEncodingUnknown",
            FaultCode::Sender => "Sender",
            FaultCode::Receiver => "Receiver",
        }
    }

    fn from_local(s: &str) -> Option<Self> {
        Some(match s {
            "VersionMismatch" => FaultCode::VersionMismatch,
            "MustUnderstand" => FaultCode::MustUnderstand,
            "DataEncodingUnknown" => FaultCode::DataEncodingUnknown,
            "Sender" => FaultCode::Sender,
            "Receiver" => FaultCode::Receiver,
            _ => return None,
        })
    }

    /// The HTTP status that carries this fault (SOAP 1.2 HTTP binding).
    pub const fn http_status(self) -> u16 {
        match self {
            FaultCode::Sender | FaultCode::DataEncodingUnknown => 400,
            _ => 500,
        }
    }
}

macro_rules! subcodes {
    ($( $(#[$doc:meta])* $variant:ident => ($ns:expr, $local:literal) ),* $(,)?) => {
        /// A fault subcode: the qualified name clients key their error handling on.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Subcode {
            $( $(#[$doc])* $variant, )*
            /// Any other qualified name.
            Other {
                /// Namespace URI of the subcode.
                ns: String,
                /// Local name of the subcode.
                local: String,
            },
        }

        impl Subcode {
            /// The namespace and local name on the wire.
            pub fn qname(&self) -> (&str, &str) {
                match self {
                    $( Subcode::$variant => ($ns, $local), )*
                    Subcode::Other { ns, local } => (ns, local),
                }
            }

            /// The typed subcode for a qualified name.
            pub fn from_qname(ns: &str, local: &str) -> Self {
                $( if ns == $ns && local == $local { return Subcode::$variant; } )*
                Subcode::Other { ns: ns.to_owned(), local: local.to_owned() }
            }
        }
    };
}

subcodes! {
    /// `wsa:DestinationUnreachable`: unknown resource URI or `To`.
    DestinationUnreachable => (ns::WSA, "DestinationUnreachable"),
    /// `wsa:ActionNotSupported`: unknown action or method.
    ActionNotSupported => (ns::WSA, "ActionNotSupported"),
    /// `wsa:EndpointUnavailable`: the service is busy.
    EndpointUnavailable => (ns::WSA, "EndpointUnavailable"),
    /// `wsa:InvalidMessageInformationHeader`.
    InvalidMessageInformationHeader => (ns::WSA, "InvalidMessageInformationHeader"),
    /// `wsa:MessageInformationHeaderRequired`: a required header is missing.
    MessageInformationHeaderRequired => (ns::WSA, "MessageInformationHeaderRequired"),
    /// `wsman:AccessDenied`: the user's realms do not allow this.
    AccessDenied => (ns::WSMAN, "AccessDenied"),
    /// `wsman:AlreadyExists`.
    AlreadyExists => (ns::WSMAN, "AlreadyExists"),
    /// `wsman:CannotProcessFilter`.
    CannotProcessFilter => (ns::WSMAN, "CannotProcessFilter"),
    /// `wsman:Concurrency`.
    Concurrency => (ns::WSMAN, "Concurrency"),
    /// `wsman:EncodingLimit`: a size limit was exceeded.
    EncodingLimit => (ns::WSMAN, "EncodingLimit"),
    /// `wsman:InternalError`.
    InternalError => (ns::WSMAN, "InternalError"),
    /// `wsman:InvalidOptions`.
    InvalidOptions => (ns::WSMAN, "InvalidOptions"),
    /// `wsman:InvalidParameter`.
    InvalidParameter => (ns::WSMAN, "InvalidParameter"),
    /// `wsman:InvalidSelectors`: missing, unknown or wrong selectors.
    InvalidSelectors => (ns::WSMAN, "InvalidSelectors"),
    /// `wsman:SchemaValidationError`: the body does not fit the class schema.
    SchemaValidationError => (ns::WSMAN, "SchemaValidationError"),
    /// `wsman:TimedOut`.
    TimedOut => (ns::WSMAN, "TimedOut"),
    /// `wsman:UnsupportedFeature`.
    UnsupportedFeature => (ns::WSMAN, "UnsupportedFeature"),
    /// `wsen:InvalidEnumerationContext`: unknown or expired enumeration context.
    InvalidEnumerationContext => (ns::WSEN, "InvalidEnumerationContext"),
    /// `wsen:TimedOut` for enumerations.
    EnumerationTimedOut => (ns::WSEN, "TimedOut"),
    /// `wxf:InvalidRepresentation`: a Put/Create body is not a valid instance.
    InvalidRepresentation => (ns::WXF, "InvalidRepresentation"),
}

/// A SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `Code/Value`.
    pub code: FaultCode,
    /// `Code/Subcode/Value`, when present.
    pub subcode: Option<Subcode>,
    /// `Reason/Text`.
    pub reason: String,
    /// The children of `Detail` (for WS-Management, usually one `wsman:FaultDetail` URI).
    pub detail: Vec<Element>,
}

/// WS-Management `FaultDetail` URI base (DSP0226 annex).
pub const FAULT_DETAIL_BASE: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/";

impl Fault {
    /// A fault with a subcode and reason and no detail.
    pub fn new(code: FaultCode, subcode: Subcode, reason: impl Into<String>) -> Self {
        Fault {
            code,
            subcode: Some(subcode),
            reason: reason.into(),
            detail: Vec::new(),
        }
    }

    /// Adds a `wsman:FaultDetail` URI (full URI, or a name relative to [`FAULT_DETAIL_BASE`]).
    pub fn with_fault_detail(mut self, detail: &str) -> Self {
        let uri = if detail.contains("://") {
            detail.to_owned()
        } else {
            format!("{FAULT_DETAIL_BASE}{detail}")
        };
        let mut el = Element::new(Some(ns::WSMAN), "FaultDetail");
        el.push_text(uri);
        self.detail.push(el);
        self
    }

    /// The `wsman:FaultDetail` URI, when present.
    pub fn fault_detail(&self) -> Option<String> {
        self.detail
            .iter()
            .find(|e| e.is(ns::WSMAN, "FaultDetail"))
            .map(Element::text_trimmed)
    }

    /// `wsman:AccessDenied` (the authenticated user lacks the realm).
    pub fn access_denied() -> Self {
        Fault::new(
            FaultCode::Sender,
            Subcode::AccessDenied,
            "The sender was not authorized to access the resource.",
        )
    }

    /// `wsa:DestinationUnreachable` (unknown resource URI), AMT's wording.
    pub fn destination_unreachable() -> Self {
        Fault::new(
            FaultCode::Sender,
            Subcode::DestinationUnreachable,
            "No route can be determined to reach the destination role defined by the WSAddressing To.",
        )
    }

    /// `wsa:ActionNotSupported`.
    pub fn action_not_supported(action: &str) -> Self {
        Fault::new(
            FaultCode::Sender,
            Subcode::ActionNotSupported,
            format!("The action is not supported by the service: {action}"),
        )
    }

    /// `wsman:InvalidSelectors`.
    pub fn invalid_selectors() -> Self {
        Fault::new(
            FaultCode::Sender,
            Subcode::InvalidSelectors,
            "The Selectors for the resource were not valid.",
        )
        .with_fault_detail("InsufficientSelectors")
    }

    /// `wsman:SchemaValidationError`.
    pub fn schema_validation(reason: impl Into<String>) -> Self {
        Fault::new(FaultCode::Sender, Subcode::SchemaValidationError, reason)
    }

    /// `wsen:InvalidEnumerationContext`.
    pub fn invalid_enumeration_context() -> Self {
        Fault::new(
            FaultCode::Receiver,
            Subcode::InvalidEnumerationContext,
            "The supplied enumeration context is invalid.",
        )
    }

    /// `wsman:InternalError`.
    pub fn internal_error(reason: impl Into<String>) -> Self {
        Fault::new(FaultCode::Receiver, Subcode::InternalError, reason)
    }

    /// Reads a `soap:Fault` element.
    pub fn from_element(el: &Element) -> Result<Self, Error> {
        let code_el = el.child(ns::SOAP, "Code").ok_or(Error::Missing {
            context: "Fault",
            what: "Code",
        })?;
        let value = code_el.child(ns::SOAP, "Value").ok_or(Error::Missing {
            context: "Fault/Code",
            what: "Value",
        })?;
        let text = value.text_trimmed();
        let local = text.rsplit(':').next().unwrap_or(&text);
        let code = FaultCode::from_local(local).ok_or_else(|| Error::InvalidValue {
            class: "Fault".into(),
            property: "Code".into(),
            value: text.clone(),
            expected: "SOAP 1.2 fault code",
        })?;
        let subcode = match code_el
            .child(ns::SOAP, "Subcode")
            .and_then(|s| s.child(ns::SOAP, "Value"))
        {
            Some(v) => {
                let t = v.text_trimmed();
                let (ns, local) = match (&v.text_qname_ns, t.split_once(':')) {
                    (Some(ns), Some((_, local))) => (ns.clone(), local.to_owned()),
                    _ => (String::new(), t.clone()),
                };
                Some(Subcode::from_qname(&ns, &local))
            }
            None => None,
        };
        let reason = el
            .child(ns::SOAP, "Reason")
            .and_then(|r| r.child(ns::SOAP, "Text"))
            .map(Element::text)
            .unwrap_or_default();
        let detail = el
            .child(ns::SOAP, "Detail")
            .map(|d| d.elements().cloned().collect())
            .unwrap_or_default();
        Ok(Fault {
            code,
            subcode,
            reason,
            detail,
        })
    }

    /// Writes the `Fault` element. `soap` is the prefix bound to SOAP 1.2 and `known` maps other
    /// namespace URIs already declared to their prefixes.
    pub fn write(&self, out: &mut String, soap: &str, known: &[(&str, &str)]) {
        open(out, soap, "Fault");
        open(out, soap, "Code");
        open(out, soap, "Value");
        out.push_str(soap);
        out.push(':');
        out.push_str(self.code.local_name());
        close(out, soap, "Value");
        if let Some(sub) = &self.subcode {
            let (sns, local) = sub.qname();
            open(out, soap, "Subcode");
            match known.iter().find(|(u, _)| *u == sns) {
                Some((_, p)) => {
                    open(out, soap, "Value");
                    out.push_str(p);
                }
                None => {
                    out.push('<');
                    out.push_str(soap);
                    out.push_str(":Value xmlns:s=\"");
                    escape_attr(out, sns);
                    out.push_str("\">s");
                }
            }
            out.push(':');
            escape_text(out, local);
            close(out, soap, "Value");
            close(out, soap, "Subcode");
        }
        close(out, soap, "Code");
        open(out, soap, "Reason");
        out.push('<');
        out.push_str(soap);
        out.push_str(":Text xml:lang=\"en-US\">");
        escape_text(out, &self.reason);
        close(out, soap, "Text");
        close(out, soap, "Reason");
        open(out, soap, "Detail");
        for d in &self.detail {
            xml::write_element(out, d, known);
        }
        close(out, soap, "Detail");
        close(out, soap, "Fault");
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subcode {
            Some(s) => write!(
                f,
                "{} fault {}: {}",
                self.code.local_name(),
                s.qname().1,
                self.reason
            ),
            None => write!(f, "{} fault: {}", self.code.local_name(), self.reason),
        }
    }
}

impl From<&Error> for Fault {
    /// The fault a device answers when a request fails to decode (DSP0226 §14 fault table):
    /// unknown actions → `ActionNotSupported`, unknown classes → `DestinationUnreachable`,
    /// missing selectors → `InvalidSelectors`, oversize input → `EncodingLimit`, anything else
    /// in the message → `SchemaValidationError`.
    fn from(e: &Error) -> Self {
        use crate::xml::XmlError;
        match e {
            Error::UnknownAction(a) => Fault::action_not_supported(a),
            Error::UnknownClass(_) => Fault::destination_unreachable(),
            Error::MissingSelector { .. } => Fault::invalid_selectors(),
            Error::Xml(XmlError::TooLarge { .. })
            | Error::Xml(XmlError::TooDeep { .. })
            | Error::Xml(XmlError::TooManyElements { .. })
            | Error::Xml(XmlError::TooManyAttributes { .. }) => Fault::new(
                FaultCode::Sender,
                Subcode::EncodingLimit,
                format!("The request exceeds an encoding limit: {e}"),
            ),
            Error::NotAnEnvelope(_) => Fault::new(
                FaultCode::Sender,
                Subcode::InvalidMessageInformationHeader,
                e.to_string(),
            ),
            Error::WrongNamespace { element, .. } if element == "Envelope" => Fault::new(
                FaultCode::Sender,
                Subcode::InvalidMessageInformationHeader,
                e.to_string(),
            ),
            Error::Missing { .. } => Fault::new(
                FaultCode::Sender,
                Subcode::MessageInformationHeaderRequired,
                e.to_string(),
            ),
            _ => Fault::schema_validation(e.to_string()),
        }
    }
}
