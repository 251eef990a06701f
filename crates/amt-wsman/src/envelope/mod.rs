//! SOAP 1.2 envelopes with WS-Addressing and WS-Management headers, both directions.
//!
//! - Console side: [`Request::to_xml`] builds requests in the exact layout of Intel's own
//!   libraries (header order Action, To, ResourceURI, MessageID, ReplyTo, OperationTimeout,
//!   SelectorSet; AMT-PROTOCOLS.md §3.3); [`Response::parse`] reads what a device answers.
//! - Device side: [`Request::parse`] reads what a console sends; [`Response::to_xml`] answers in
//!   the layout AMT firmware uses (prefixes `a:`…`h:`, `uuid:00000000-8086-8086-8086-…`
//!   message IDs; recorded fixtures).
//!
//! Parsing resolves namespaces (prefixes are free), enforces [`Limits`], and reports what is
//! wrong as an [`Error`]; it never panics.

mod request;
mod response;

pub use request::*;
pub use response::*;

use crate::ns;
use crate::value::Instance;
use crate::xml::Element;
use crate::Error;

pub(super) fn split_envelope(root: &Element) -> Result<(&Element, &Element), Error> {
    if root.name != "Envelope" {
        return Err(Error::NotAnEnvelope(format!(
            "root element is <{}>",
            root.name
        )));
    }
    if root.ns.as_deref() != Some(ns::SOAP) {
        return Err(Error::WrongNamespace {
            element: "Envelope".into(),
            expected: ns::SOAP.into(),
            found: root.ns.clone().unwrap_or_default(),
        });
    }
    let mut header = None;
    let mut body = None;
    for c in root.elements() {
        if c.is(ns::SOAP, "Header") && header.is_none() && body.is_none() {
            header = Some(c);
        } else if c.is(ns::SOAP, "Body") && body.is_none() {
            body = Some(c);
        } else {
            return Err(Error::NotAnEnvelope(format!(
                "unexpected <{}> in Envelope",
                c.name
            )));
        }
    }
    if !root.text().trim().is_empty() {
        return Err(Error::NotAnEnvelope("text directly inside Envelope".into()));
    }
    match (header, body) {
        (Some(h), Some(b)) => Ok((h, b)),
        (None, _) => Err(Error::NotAnEnvelope("no SOAP Header".into())),
        (_, None) => Err(Error::NotAnEnvelope("no SOAP Body".into())),
    }
}

pub(super) fn instance_body(
    first: Option<&Element>,
    what: &'static str,
) -> Result<Instance, Error> {
    let el = first.ok_or(Error::Missing {
        context: what,
        what: "instance element in Body",
    })?;
    Instance::from_element(el)
}

pub(super) fn expect_body<'a>(
    first: Option<&'a Element>,
    ns_uri: &'static str,
    name: &'static str,
) -> Result<&'a Element, Error> {
    let el = first.ok_or(Error::Missing {
        context: "Body",
        what: name,
    })?;
    if el.name != name {
        return Err(Error::Unexpected {
            context: "Body",
            found: format!("<{}> where <{name}> was expected", el.name),
        });
    }
    if el.ns.as_deref() != Some(ns_uri) {
        return Err(Error::WrongNamespace {
            element: name.into(),
            expected: ns_uri.into(),
            found: el.ns.clone().unwrap_or_default(),
        });
    }
    Ok(el)
}
