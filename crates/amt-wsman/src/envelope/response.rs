//! Responses: what a device sends and a console parses.

use crate::fault::Fault;
use crate::ns::{self, action};
use crate::value::{close, open, EndpointReference, Instance, Prefixes};
use crate::xml::{self, escape_text, Element, Limits};
use crate::Error;

use super::Request;
use super::{expect_body, instance_body, split_envelope};

/// One item of an enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An instance (the default `EnumerateObject` mode).
    Instance(Instance),
    /// An endpoint reference (`EnumerateEPR` mode).
    Epr(EndpointReference),
    /// Both (`EnumerateObjectAndEPR` mode, wrapped in `wsman:Item`).
    Both(Instance, EndpointReference),
}

/// What a device answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    /// The instance asked for with Get.
    Get(Instance),
    /// The instance after a Put (AMT echoes it; `None` when the body was empty).
    Put(Option<Instance>),
    /// The reference to the instance a Create made.
    Create(EndpointReference),
    /// Delete succeeded. Some firmware puts an element (such as a `ReturnValue`) in the body;
    /// it is kept here.
    Delete(Option<Element>),
    /// The context of a new enumeration (and, when optimized, the first items).
    Enumerate {
        /// The enumeration context (absent when an optimized enumeration finished at once).
        context: Option<String>,
        /// Items returned with `OptimizeEnumeration`.
        items: Vec<Item>,
        /// `wsman:EndOfSequence` with `OptimizeEnumeration`.
        end_of_sequence: bool,
    },
    /// A page of an enumeration.
    Pull {
        /// The instances or references.
        items: Vec<Item>,
        /// The context for the next Pull (absent at the end).
        context: Option<String>,
        /// `EndOfSequence` was present.
        end_of_sequence: bool,
    },
    /// Release succeeded.
    Release,
    /// A method's `<Method>_OUTPUT`.
    Invoke {
        /// Method name.
        method: String,
        /// The `_OUTPUT` element.
        output: Instance,
    },
    /// A SOAP fault.
    Fault(Fault),
}

/// The header of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// `wsa:To` (AMT: the anonymous role).
    pub to: String,
    /// `wsa:RelatesTo`: the request's MessageID.
    pub relates_to: Option<String>,
    /// `wsa:Action`.
    pub action: String,
    /// Whether `Action` carries `mustUnderstand="true"` (AMT always sets it).
    pub action_must_understand: bool,
    /// `wsa:MessageID`.
    pub message_id: String,
    /// `wsman:ResourceURI`.
    pub resource_uri: Option<String>,
    /// Other header elements, kept as sent.
    pub other: Vec<Element>,
}

/// A WS-Management response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Header fields.
    pub header: ResponseHeader,
    /// The body.
    pub body: ResponseBody,
}

/// AMT's response MessageID for a counter value: `uuid:00000000-8086-8086-8086-<12 hex>`.
pub fn amt_message_id(counter: u64) -> String {
    format!(
        "uuid:00000000-8086-8086-8086-{:012X}",
        counter & 0xFFFF_FFFF_FFFF
    )
}

impl Response {
    /// The response to `request` carrying `body`, with AMT's header layout. `counter` numbers the
    /// device's messages.
    pub fn to_request(request: &Request, body: ResponseBody, counter: u64) -> Self {
        let action = match &body {
            ResponseBody::Fault(_) => action::FAULT_WSA.to_owned(),
            _ => format!("{}Response", request.action()),
        };
        Response {
            header: ResponseHeader {
                to: ns::ANONYMOUS.to_owned(),
                relates_to: Some(request.header.message_id.clone()),
                action,
                action_must_understand: true,
                message_id: amt_message_id(counter),
                resource_uri: Some(request.header.resource_uri.clone()),
                other: Vec::new(),
            },
            body,
        }
    }

    /// A response whose action is derived from its body (`…/GetResponse`, `<class>/<method>Response`,
    /// the WS-Addressing fault action…), with AMT's header layout.
    pub fn for_body(
        resource_uri: &str,
        relates_to: &str,
        body: ResponseBody,
        counter: u64,
    ) -> Self {
        let action = match &body {
            ResponseBody::Get(_) => format!("{}Response", action::GET),
            ResponseBody::Put(_) => format!("{}Response", action::PUT),
            ResponseBody::Create(_) => format!("{}Response", action::CREATE),
            ResponseBody::Delete(_) => format!("{}Response", action::DELETE),
            ResponseBody::Enumerate { .. } => format!("{}Response", action::ENUMERATE),
            ResponseBody::Pull { .. } => format!("{}Response", action::PULL),
            ResponseBody::Release => format!("{}Response", action::RELEASE),
            ResponseBody::Invoke { method, .. } => format!("{resource_uri}/{method}Response"),
            ResponseBody::Fault(_) => action::FAULT_WSA.to_owned(),
        };
        Response {
            header: ResponseHeader {
                to: ns::ANONYMOUS.to_owned(),
                relates_to: Some(relates_to.to_owned()),
                action,
                action_must_understand: true,
                message_id: amt_message_id(counter),
                resource_uri: Some(resource_uri.to_owned()),
                other: Vec::new(),
            },
            body,
        }
    }

    /// The HTTP status AMT uses for this response (200, or 400/500 for faults).
    pub fn http_status(&self) -> u16 {
        match &self.body {
            ResponseBody::Fault(f) => f.code.http_status(),
            _ => 200,
        }
    }

    /// The response as AMT firmware writes it.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(2048);
        self.write_xml(&mut out);
        out
    }

    /// Appends the response's XML to `out`.
    pub fn write_xml(&self, out: &mut String) {
        let p = Prefixes::RESPONSE;
        let class_ns = self.header.resource_uri.as_deref().unwrap_or("");
        let (g, h): (&str, Option<&str>) = match &self.body {
            ResponseBody::Get(i) => (&i.namespace, None),
            ResponseBody::Put(Some(i)) => (&i.namespace, None),
            ResponseBody::Invoke { output, .. } => (&output.namespace, None),
            ResponseBody::Create(_) => (ns::WXF, None),
            ResponseBody::Enumerate { .. } | ResponseBody::Pull { .. } => {
                (ns::WSEN, Some(class_ns))
            }
            _ => (class_ns, None),
        };
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd""#);
        if !g.is_empty() {
            out.push_str(" xmlns:g=\"");
            xml::escape_attr(out, g);
            out.push('"');
        }
        if let Some(h) = h.filter(|h| !h.is_empty()) {
            out.push_str(" xmlns:h=\"");
            xml::escape_attr(out, h);
            out.push('"');
        }
        out.push_str(r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>"#);
        escape_text(out, &self.header.to);
        out.push_str("</b:To>");
        if let Some(r) = &self.header.relates_to {
            xml::text_element(out, "b:RelatesTo", r);
        }
        if self.header.action_must_understand {
            out.push_str(r#"<b:Action a:mustUnderstand="true">"#);
        } else {
            out.push_str("<b:Action>");
        }
        escape_text(out, &self.header.action);
        out.push_str("</b:Action>");
        xml::text_element(out, "b:MessageID", &self.header.message_id);
        if let Some(r) = &self.header.resource_uri {
            xml::text_element(out, "c:ResourceURI", r);
        }
        let known = response_known(g, h);
        for e in &self.header.other {
            xml::write_element(out, e, &known);
        }
        out.push_str("</a:Header><a:Body>");
        match &self.body {
            ResponseBody::Get(i) | ResponseBody::Put(Some(i)) => write_in(out, i, "g", g, &p),
            ResponseBody::Put(None) | ResponseBody::Delete(None) | ResponseBody::Release => {}
            ResponseBody::Delete(Some(e)) => xml::write_element(out, e, &known),
            ResponseBody::Invoke { output, .. } => write_in(out, output, "g", g, &p),
            ResponseBody::Create(epr) => {
                open(out, "g", "ResourceCreated");
                epr.write_contents(out, &p);
                close(out, "g", "ResourceCreated");
            }
            ResponseBody::Enumerate {
                context,
                items,
                end_of_sequence,
            } => {
                open(out, "g", "EnumerateResponse");
                if let Some(c) = context {
                    xml::text_element(out, "g:EnumerationContext", c);
                }
                if !items.is_empty() {
                    open(out, "c", "Items");
                    write_items(out, items, h.unwrap_or(""), &p);
                    close(out, "c", "Items");
                }
                if *end_of_sequence {
                    out.push_str("<c:EndOfSequence></c:EndOfSequence>");
                }
                close(out, "g", "EnumerateResponse");
            }
            ResponseBody::Pull {
                items,
                context,
                end_of_sequence,
            } => {
                open(out, "g", "PullResponse");
                if let Some(c) = context {
                    xml::text_element(out, "g:EnumerationContext", c);
                }
                open(out, "g", "Items");
                write_items(out, items, h.unwrap_or(""), &p);
                close(out, "g", "Items");
                if *end_of_sequence {
                    out.push_str("<g:EndOfSequence></g:EndOfSequence>");
                }
                close(out, "g", "PullResponse");
            }
            ResponseBody::Fault(f) => f.write(out, "a", &known),
        }
        out.push_str("</a:Body></a:Envelope>");
    }

    /// Parses a response (console side) with the default [`Limits`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse_with(bytes, &Limits::default())
    }

    /// Parses a response (console side).
    pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let root = xml::parse(bytes, limits)?;
        let (header, body) = split_envelope(&root)?;
        let mut to = None;
        let mut relates_to = None;
        let mut action_uri = None;
        let mut action_must_understand = false;
        let mut message_id = None;
        let mut resource_uri = None;
        let mut other = Vec::new();
        for h in header.elements() {
            match (h.ns.as_deref(), h.name.as_str()) {
                (Some(ns::WSA), "To") => to = Some(h.text_trimmed()),
                (Some(ns::WSA), "RelatesTo") => relates_to = Some(h.text_trimmed()),
                (Some(ns::WSA), "Action") => {
                    action_uri = Some(h.text_trimmed());
                    action_must_understand =
                        matches!(h.attr(Some(ns::SOAP), "mustUnderstand"), Some("true" | "1"));
                }
                (Some(ns::WSA), "MessageID") => message_id = Some(h.text_trimmed()),
                (Some(ns::WSMAN), "ResourceURI") => resource_uri = Some(h.text_trimmed()),
                _ => other.push(h.clone()),
            }
        }
        let mut elems = body.elements();
        let first = elems.next();
        if let Some(extra) = elems.next() {
            return Err(Error::Unexpected {
                context: "response body",
                found: format!("second element <{}>", extra.name),
            });
        }
        let body = if let Some(f) = first.filter(|f| f.is(ns::SOAP, "Fault")) {
            ResponseBody::Fault(Fault::from_element(f)?)
        } else {
            let act = action_uri.as_deref().ok_or(Error::Missing {
                context: "response header",
                what: "wsa:Action",
            })?;
            parse_response_body(act, first)?
        };
        let action_uri = match (&body, action_uri) {
            (_, Some(a)) => a,
            (ResponseBody::Fault(_), None) => action::FAULT_WSA.to_owned(),
            (_, None) => {
                return Err(Error::Missing {
                    context: "response header",
                    what: "wsa:Action",
                })
            }
        };
        Ok(Response {
            header: ResponseHeader {
                to: to.unwrap_or_default(),
                relates_to,
                action: action_uri,
                action_must_understand,
                message_id: message_id.unwrap_or_default(),
                resource_uri,
                other,
            },
            body,
        })
    }
}

fn response_known<'a>(g: &'a str, h: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        (ns::SOAP, "a"),
        (ns::WSA, "b"),
        (ns::WSMAN, "c"),
        (ns::WST, "d"),
        (ns::WSSE, "e"),
        (ns::CIMBINDING, "f"),
        (ns::XSI, "xsi"),
    ];
    if !g.is_empty() {
        v.push((g, "g"));
    }
    if let Some(h) = h.filter(|h| !h.is_empty()) {
        v.push((h, "h"));
    }
    v
}

/// Writes an instance with prefix `pfx`, declaring it when the instance's namespace is not the
/// one `pfx` is bound to on the envelope.
fn write_in(out: &mut String, i: &Instance, pfx: &str, bound: &str, p: &Prefixes) {
    i.write(out, pfx, i.namespace != bound, p);
}

fn write_items(out: &mut String, items: &[Item], h: &str, p: &Prefixes) {
    for it in items {
        match it {
            Item::Instance(i) => write_in(out, i, "h", h, p),
            Item::Epr(e) => {
                open(out, "b", "EndpointReference");
                e.write_contents(out, p);
                close(out, "b", "EndpointReference");
            }
            Item::Both(i, e) => {
                open(out, "c", "Item");
                write_in(out, i, "h", h, p);
                open(out, "b", "EndpointReference");
                e.write_contents(out, p);
                close(out, "b", "EndpointReference");
                close(out, "c", "Item");
            }
        }
    }
}

fn parse_items(el: &Element) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    for c in el.elements() {
        if c.is(ns::WSA, "EndpointReference") {
            items.push(Item::Epr(EndpointReference::from_element(c)?));
        } else if c.is(ns::WSMAN, "Item") {
            let inst = c
                .elements()
                .find(|e| !e.is(ns::WSA, "EndpointReference"))
                .ok_or(Error::Missing {
                    context: "wsman:Item",
                    what: "instance",
                })?;
            let epr = c
                .child(ns::WSA, "EndpointReference")
                .ok_or(Error::Missing {
                    context: "wsman:Item",
                    what: "EndpointReference",
                })?;
            items.push(Item::Both(
                Instance::from_element(inst)?,
                EndpointReference::from_element(epr)?,
            ));
        } else {
            items.push(Item::Instance(Instance::from_element(c)?));
        }
    }
    Ok(items)
}

fn parse_response_body(act: &str, first: Option<&Element>) -> Result<ResponseBody, Error> {
    // Some recorded devices echo the request action without the `Response` suffix; the body
    // still tells what it is, so accept both (the header keeps the action verbatim).
    let base = act.strip_suffix("Response").unwrap_or(act);
    Ok(match base {
        action::GET => ResponseBody::Get(instance_body(first, "GetResponse")?),
        action::PUT => ResponseBody::Put(first.map(Instance::from_element).transpose()?),
        action::DELETE => ResponseBody::Delete(first.cloned()),
        action::RELEASE => ResponseBody::Release,
        action::CREATE => {
            let el = first.ok_or(Error::Missing {
                context: "CreateResponse",
                what: "ResourceCreated",
            })?;
            if el.name != "ResourceCreated" {
                return Err(Error::Unexpected {
                    context: "CreateResponse",
                    found: format!("<{}>", el.name),
                });
            }
            ResponseBody::Create(EndpointReference::from_element(el)?)
        }
        action::ENUMERATE => {
            let el = expect_body(first, ns::WSEN, "EnumerateResponse")?;
            let context = el
                .child(ns::WSEN, "EnumerationContext")
                .map(Element::text_trimmed);
            let items = match el.child(ns::WSMAN, "Items") {
                Some(i) => parse_items(i)?,
                None => Vec::new(),
            };
            ResponseBody::Enumerate {
                context,
                items,
                end_of_sequence: el.child(ns::WSMAN, "EndOfSequence").is_some(),
            }
        }
        action::PULL => {
            let el = expect_body(first, ns::WSEN, "PullResponse")?;
            let items = match el.child(ns::WSEN, "Items") {
                Some(i) => parse_items(i)?,
                None => Vec::new(),
            };
            ResponseBody::Pull {
                items,
                context: el
                    .child(ns::WSEN, "EnumerationContext")
                    .map(Element::text_trimmed),
                end_of_sequence: el.child(ns::WSEN, "EndOfSequence").is_some(),
            }
        }
        other => {
            let (class_uri, method) = other
                .rsplit_once('/')
                .ok_or_else(|| Error::UnknownAction(act.to_owned()))?;
            if method.is_empty() || class_uri.is_empty() {
                return Err(Error::UnknownAction(act.to_owned()));
            }
            let el = first.ok_or(Error::Missing {
                context: "method response body",
                what: "<Method>_OUTPUT element",
            })?;
            if el.name != format!("{method}_OUTPUT") {
                return Err(Error::BodyMismatch {
                    method: method.to_owned(),
                    body: el.name.clone(),
                });
            }
            ResponseBody::Invoke {
                method: method.to_owned(),
                output: Instance::from_element(el)?,
            }
        }
    })
}
