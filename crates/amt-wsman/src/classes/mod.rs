//! Typed AMT / CIM / IPS classes and method bodies, named as AMT names them.
//!
//! Every type here converts to and from the generic [`Instance`] without loss: properties this
//! implementation does not model are kept in the struct's `extra` list and written back out.
//! Wire constants (power states, return values, realms, modes) are enums built with
//! [`wire_enum!`](crate::wire_enum); a value a device sends that is not defined becomes
//! [`Error::UnknownEnumValue`], never a panic.
//!
//! - [`Typed`]: anything with a class and an element name that maps to an [`Instance`].
//! - [`WsmanClass`]: a class instance (Get/Put/Create/Pull bodies).
//! - [`MethodInput`] / [`MethodOutput`]: `<Method>_INPUT` / `<Method>_OUTPUT` bodies.
//! - [`Call`]: a request decoded into a typed operation (what the device side dispatches on).

use crate::envelope::{write_request_head, ActionRef, Operation, Request, RequestHead};
use crate::ns::action;
use crate::value::{Instance, Property, SelectorSet, Value};
use crate::Error;

mod field;
#[doc(hidden)]
pub use field::{__write_display_prop, __write_text_prop};
pub use field::{CimDateTime, FieldError, FieldType, Prop};

#[macro_use]
mod macros;

pub mod amt;
pub mod call;
pub mod cim;
pub mod ips;

pub use call::{Call, KnownClass, MethodCall, MethodResult, TypedInstance};

/// A typed view of an [`Instance`].
pub trait Typed: Sized {
    /// The class that defines this element (`AMT_GeneralSettings`).
    const CLASS: &'static str;
    /// The element's local name (the class name, or `<Method>_INPUT` / `_OUTPUT`).
    const ELEMENT: &'static str;
    /// Converts from the generic representation.
    fn from_instance(i: &Instance) -> Result<Self, Error>;
    /// Converts to the generic representation (known properties in schema order, then extras).
    fn to_instance(&self) -> Instance;
    /// The class's resource URI.
    fn resource_uri() -> String {
        crate::ns::resource_uri(Self::CLASS)
    }
    /// The class's resource URI (the element's namespace), computed once.
    fn namespace() -> &'static str;
    /// Writes `<pfx:ELEMENT xmlns:pfx="…">…</pfx:ELEMENT>` straight to XML, without building an
    /// [`Instance`] (the request builders' fast path).
    fn write_element(&self, out: &mut String, pfx: &str);
    /// Writes only the property elements (prefix `pfx` already bound to [`Typed::namespace`]).
    fn write_props(&self, out: &mut String, pfx: &str);
}

/// The fixed text around a method call's body, computed once per method: everything before
/// the MessageID, between it and the selectors, and from `</Header>` to the body's properties.
#[doc(hidden)]
#[derive(Debug)]
pub struct MethodEnvelope {
    head: String,
    mid: String,
    body_open: String,
    body_close: String,
}

impl MethodEnvelope {
    /// The envelope pieces for method input `T`.
    pub fn of<T: MethodInput>() -> Self {
        let ns = T::namespace();
        let mut text = String::new();
        let empty = SelectorSet::new();
        let mut h = RequestHead::intel(ActionRef::Method(ns, T::METHOD), ns, 0, &empty);
        h.message_id = crate::envelope::MessageIdRef::Text("\u{1}");
        write_request_head(&mut text, h);
        let (head, mid) = text.split_once('\u{1}').unwrap_or((&text, ""));
        let mut body_open = String::from("</Header><Body>");
        __open_element(&mut body_open, "h", T::ELEMENT, ns);
        let mut body_close = String::new();
        __close_element(&mut body_close, "h", T::ELEMENT);
        body_close.push_str("</Body></Envelope>");
        MethodEnvelope {
            head: head.to_owned(),
            mid: mid.to_owned(),
            body_open,
            body_close,
        }
    }

    /// Writes a whole request: the fixed pieces, the message ID, the selectors and the body
    /// properties `props` writes.
    pub fn write(
        &self,
        message_id: u64,
        selectors: &SelectorSet,
        out: &mut String,
        props: impl FnOnce(&mut String),
    ) {
        out.push_str(&self.head);
        out.push_str(itoa::Buffer::new().format(message_id));
        out.push_str(&self.mid);
        selectors.write(out, &crate::value::Prefixes::REQUEST);
        out.push_str(&self.body_open);
        props(out);
        out.push_str(&self.body_close);
    }
}

fn direct_request(
    out: &mut String,
    action: ActionRef<'_>,
    resource_uri: &str,
    message_id: u64,
    selectors: &SelectorSet,
) {
    write_request_head(
        out,
        RequestHead::intel(action, resource_uri, message_id, selectors),
    );
    out.push_str("</Header>");
}

/// A class instance.
pub trait WsmanClass: Typed {
    /// A Get request for this class.
    fn get(message_id: u64, selectors: SelectorSet) -> Request {
        Request::new(Self::CLASS, message_id, Operation::Get).with_selectors(selectors)
    }
    /// An Enumerate request for this class.
    fn enumerate(message_id: u64) -> Request {
        Request::new(
            Self::CLASS,
            message_id,
            Operation::Enumerate(Default::default()),
        )
    }
    /// A Pull request for this class.
    fn pull(message_id: u64, context: &str) -> Request {
        Request::new(
            Self::CLASS,
            message_id,
            Operation::Pull(crate::envelope::Pull {
                context: context.to_owned(),
                max_elements: Some(999),
                max_characters: Some(99999),
            }),
        )
    }
    /// A Put request carrying this instance.
    fn put(&self, message_id: u64, selectors: SelectorSet) -> Request {
        Request::new(Self::CLASS, message_id, Operation::Put(self.to_instance()))
            .with_selectors(selectors)
    }
    /// A Create request carrying this instance.
    fn create(&self, message_id: u64) -> Request {
        Request::new(
            Self::CLASS,
            message_id,
            Operation::Create(self.to_instance()),
        )
    }
    /// A Delete request for the instance with these selectors.
    fn delete(message_id: u64, selectors: SelectorSet) -> Request {
        Request::new(Self::CLASS, message_id, Operation::Delete).with_selectors(selectors)
    }

    /// The XML of [`WsmanClass::get`], written directly.
    fn get_xml(message_id: u64, selectors: &SelectorSet) -> String {
        let mut out = String::with_capacity(2048);
        Self::write_get_xml(message_id, selectors, &mut out);
        out
    }

    /// Appends the XML of `get` to `out` (reuse one buffer across requests).
    fn write_get_xml(message_id: u64, selectors: &SelectorSet, out: &mut String) {
        direct_request(
            out,
            ActionRef::Uri(action::GET),
            Self::namespace(),
            message_id,
            selectors,
        );
        out.push_str("<Body></Body></Envelope>");
    }

    /// The XML of [`WsmanClass::delete`], written directly.
    fn delete_xml(message_id: u64, selectors: &SelectorSet) -> String {
        let mut out = String::with_capacity(2048);
        Self::write_delete_xml(message_id, selectors, &mut out);
        out
    }

    /// Appends the XML of `delete` to `out` (reuse one buffer across requests).
    fn write_delete_xml(message_id: u64, selectors: &SelectorSet, out: &mut String) {
        direct_request(
            out,
            ActionRef::Uri(action::DELETE),
            Self::namespace(),
            message_id,
            selectors,
        );
        out.push_str("<Body></Body></Envelope>");
    }

    /// The XML of [`WsmanClass::enumerate`], written directly.
    fn enumerate_xml(message_id: u64) -> String {
        let mut out = String::with_capacity(2048);
        Self::write_enumerate_xml(message_id, &mut out);
        out
    }

    /// Appends the XML of `enumerate` to `out` (reuse one buffer across requests).
    fn write_enumerate_xml(message_id: u64, out: &mut String) {
        direct_request(
            out,
            ActionRef::Uri(action::ENUMERATE),
            Self::namespace(),
            message_id,
            &SelectorSet::new(),
        );
        out.push_str(r#"<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" /></Body></Envelope>"#);
    }

    /// The XML of [`WsmanClass::pull`], written directly.
    fn pull_xml(message_id: u64, context: &str) -> String {
        let mut out = String::with_capacity(2048);
        Self::write_pull_xml(message_id, context, &mut out);
        out
    }

    /// Appends the XML of `pull` to `out` (reuse one buffer across requests).
    fn write_pull_xml(message_id: u64, context: &str, out: &mut String) {
        direct_request(
            out,
            ActionRef::Uri(action::PULL),
            Self::namespace(),
            message_id,
            &SelectorSet::new(),
        );
        out.push_str(r#"<Body><Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>"#);
        crate::xml::escape_text(out, context);
        out.push_str("</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull></Body></Envelope>");
    }

    /// The XML of [`WsmanClass::put`], written directly.
    fn put_xml(&self, message_id: u64, selectors: &SelectorSet) -> String {
        let mut out = String::with_capacity(4096);
        self.write_put_xml(message_id, selectors, &mut out);
        out
    }

    /// Appends the XML of `put` to `out` (reuse one buffer across requests).
    fn write_put_xml(&self, message_id: u64, selectors: &SelectorSet, out: &mut String) {
        direct_request(
            out,
            ActionRef::Uri(action::PUT),
            Self::namespace(),
            message_id,
            selectors,
        );
        out.push_str("<Body>");
        self.write_element(out, "h");
        out.push_str("</Body></Envelope>");
    }

    /// The XML of [`WsmanClass::create`], written directly.
    fn create_xml(&self, message_id: u64) -> String {
        let mut out = String::with_capacity(4096);
        self.write_create_xml(message_id, &mut out);
        out
    }

    /// Appends the XML of `create` to `out` (reuse one buffer across requests).
    fn write_create_xml(&self, message_id: u64, out: &mut String) {
        direct_request(
            out,
            ActionRef::Uri(action::CREATE),
            Self::namespace(),
            message_id,
            &SelectorSet::new(),
        );
        out.push_str("<Body>");
        self.write_element(out, "h");
        out.push_str("</Body></Envelope>");
    }
}

/// A method's input body.
pub trait MethodInput: Typed {
    /// The method name.
    const METHOD: &'static str;
    /// The request invoking this method on the instance selected by `selectors`.
    fn request(&self, message_id: u64, selectors: SelectorSet) -> Request {
        Request::new(
            Self::CLASS,
            message_id,
            Operation::Invoke {
                method: Self::METHOD.to_owned(),
                input: self.to_instance(),
            },
        )
        .with_selectors(selectors)
    }

    /// The XML of [`MethodInput::request`], written directly (no intermediate [`Request`]).
    fn request_xml(&self, message_id: u64, selectors: &SelectorSet) -> String {
        let mut out = String::with_capacity(4096);
        self.write_request_xml(message_id, selectors, &mut out);
        out
    }

    /// Appends the XML of `request` to `out` (reuse one buffer across requests).
    fn write_request_xml(&self, message_id: u64, selectors: &SelectorSet, out: &mut String) {
        let ns = Self::namespace();
        direct_request(
            out,
            ActionRef::Method(ns, Self::METHOD),
            ns,
            message_id,
            selectors,
        );
        out.push_str("<Body>");
        self.write_element(out, "h");
        out.push_str("</Body></Envelope>");
    }
}

/// A method's output body.
pub trait MethodOutput: Typed {
    /// The method name.
    const METHOD: &'static str;
    /// The raw `ReturnValue`, when the output carries one.
    fn return_code(&self) -> Option<u32>;
}

#[doc(hidden)]
pub fn __emit_extra(out: &mut Vec<Property>, extra: &[Property]) {
    out.extend_from_slice(extra);
}

#[doc(hidden)]
pub fn __field_error(element: &str, property: &str, e: FieldError) -> Error {
    match e {
        FieldError::Invalid { expected, found } => Error::InvalidValue {
            class: element.to_owned(),
            property: property.to_owned(),
            value: found,
            expected,
        },
        FieldError::UnknownEnum { type_name, value } => {
            Error::UnknownEnumValue { type_name, value }
        }
        FieldError::Repeated => Error::BadProperty {
            class: element.to_owned(),
            property: property.to_owned(),
            problem: "repeated",
        },
    }
}

#[doc(hidden)]
pub fn __return_code(i: &Instance) -> Option<u32> {
    i.get_text("ReturnValue")
        .and_then(|t| t.trim().parse().ok())
}

#[doc(hidden)]
pub fn __foreign(i: &Instance, p: &Property) -> bool {
    match &p.value {
        Value::Element(e) => e.name == p.name && e.ns.as_deref().unwrap_or_default() != i.namespace,
        _ => false,
    }
}

#[doc(hidden)]
pub fn __open_element(out: &mut String, pfx: &str, element: &str, ns: &str) {
    out.push('<');
    out.push_str(pfx);
    out.push(':');
    out.push_str(element);
    out.push_str(" xmlns:");
    out.push_str(pfx);
    out.push_str("=\"");
    crate::xml::escape_attr(out, ns);
    out.push_str("\">");
}

#[doc(hidden)]
pub fn __close_element(out: &mut String, pfx: &str, element: &str) {
    out.push_str("</");
    out.push_str(pfx);
    out.push(':');
    out.push_str(element);
    out.push('>');
}

#[doc(hidden)]
pub fn __write_extra(out: &mut String, pfx: &str, ns: &str, extra: &[Property]) {
    for p in extra {
        crate::value::write_property(out, pfx, ns, p, &crate::value::Prefixes::REQUEST);
    }
}
