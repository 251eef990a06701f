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
use crate::value::{EndpointReference, Instance, Property, SelectorSet, Value};
use crate::xml::Element;
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
        let mut out = String::with_capacity(1024);
        direct_request(
            &mut out,
            ActionRef::Uri(action::GET),
            Self::namespace(),
            message_id,
            selectors,
        );
        out.push_str("<Body></Body></Envelope>");
        out
    }

    /// The XML of [`WsmanClass::delete`], written directly.
    fn delete_xml(message_id: u64, selectors: &SelectorSet) -> String {
        let mut out = String::with_capacity(1024);
        direct_request(
            &mut out,
            ActionRef::Uri(action::DELETE),
            Self::namespace(),
            message_id,
            selectors,
        );
        out.push_str("<Body></Body></Envelope>");
        out
    }

    /// The XML of [`WsmanClass::enumerate`], written directly.
    fn enumerate_xml(message_id: u64) -> String {
        let mut out = String::with_capacity(1024);
        direct_request(
            &mut out,
            ActionRef::Uri(action::ENUMERATE),
            Self::namespace(),
            message_id,
            &SelectorSet::new(),
        );
        out.push_str(r#"<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" /></Body></Envelope>"#);
        out
    }

    /// The XML of [`WsmanClass::pull`], written directly.
    fn pull_xml(message_id: u64, context: &str) -> String {
        let mut out = String::with_capacity(1024);
        direct_request(
            &mut out,
            ActionRef::Uri(action::PULL),
            Self::namespace(),
            message_id,
            &SelectorSet::new(),
        );
        out.push_str(r#"<Body><Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>"#);
        crate::xml::escape_text(&mut out, context);
        out.push_str("</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull></Body></Envelope>");
        out
    }

    /// The XML of [`WsmanClass::put`], written directly.
    fn put_xml(&self, message_id: u64, selectors: &SelectorSet) -> String {
        let mut out = String::with_capacity(2048);
        direct_request(
            &mut out,
            ActionRef::Uri(action::PUT),
            Self::namespace(),
            message_id,
            selectors,
        );
        out.push_str("<Body>");
        self.write_element(&mut out, "h");
        out.push_str("</Body></Envelope>");
        out
    }

    /// The XML of [`WsmanClass::create`], written directly.
    fn create_xml(&self, message_id: u64) -> String {
        let mut out = String::with_capacity(2048);
        direct_request(
            &mut out,
            ActionRef::Uri(action::CREATE),
            Self::namespace(),
            message_id,
            &SelectorSet::new(),
        );
        out.push_str("<Body>");
        self.write_element(&mut out, "h");
        out.push_str("</Body></Envelope>");
        out
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
        let mut out = String::with_capacity(2048);
        let ns = Self::namespace();
        direct_request(
            &mut out,
            ActionRef::Method(ns, Self::METHOD),
            ns,
            message_id,
            selectors,
        );
        out.push_str("<Body>");
        self.write_element(&mut out, "h");
        out.push_str("</Body></Envelope>");
        out
    }
}

/// A method's output body.
pub trait MethodOutput: Typed {
    /// The method name.
    const METHOD: &'static str;
    /// The raw `ReturnValue`, when the output carries one.
    fn return_code(&self) -> Option<u32>;
}

/// Converts a class instance held in a response body into its typed form.
pub fn typed<T: Typed>(i: &Instance) -> Result<T, Error> {
    T::from_instance(i)
}

/// The `Datetime` form many CIM properties wrap their value in; exposed for callers building
/// instances by hand.
pub fn datetime_element(ns: &str, value: &str) -> Element {
    CimDateTime::datetime(value).to_element(ns)
}

#[doc(hidden)]
pub fn __emit_extra(out: &mut Vec<Property>, extra: &[Property]) {
    out.extend_from_slice(extra);
}

#[doc(hidden)]
pub fn __epr(v: &Value) -> Option<&EndpointReference> {
    match v {
        Value::Epr(e) => Some(e),
        _ => None,
    }
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
