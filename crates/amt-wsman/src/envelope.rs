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

use std::borrow::Cow;

use crate::fault::Fault;
use crate::ns::{self, action};
use crate::value::{close, open, EndpointReference, Instance, Prefixes, SelectorSet};
use crate::xml::{self, escape_text, Element, Limits};
use crate::Error;

/// `Enumerate` options (DSP0226 §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enumerate {
    /// `wsman:EnumerationMode`.
    pub mode: Option<EnumerationMode>,
    /// `wsman:OptimizeEnumeration`: return the first items in the EnumerateResponse.
    pub optimize: bool,
    /// `wsman:MaxElements` (with `optimize`).
    pub max_elements: Option<u32>,
    /// A `wsman:Filter`, kept as sent (AMT supports none for the classes amtd uses).
    pub filter: Option<Element>,
}

/// `wsman:EnumerationMode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumerationMode {
    /// `EnumerateEPR`: endpoint references only.
    EnumerateEpr,
    /// `EnumerateObjectAndEPR`: instances and their references.
    EnumerateObjectAndEpr,
}

impl EnumerationMode {
    const fn wire(self) -> &'static str {
        match self {
            EnumerationMode::EnumerateEpr => "EnumerateEPR",
            EnumerationMode::EnumerateObjectAndEpr => "EnumerateObjectAndEPR",
        }
    }
}

/// `Pull` arguments (WS-Enumeration §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// The context returned by Enumerate or the previous Pull.
    pub context: String,
    /// `MaxElements`.
    pub max_elements: Option<u32>,
    /// `MaxCharacters`.
    pub max_characters: Option<u32>,
}

/// What a request asks the device to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// WS-Transfer Get.
    Get,
    /// WS-Transfer Put with the new representation.
    Put(Instance),
    /// WS-Transfer Create with the new instance.
    Create(Instance),
    /// WS-Transfer Delete.
    Delete,
    /// WS-Enumeration Enumerate.
    Enumerate(Enumerate),
    /// WS-Enumeration Pull.
    Pull(Pull),
    /// WS-Enumeration Release.
    Release {
        /// The context to release.
        context: String,
    },
    /// A class method (`<ResourceURI>/<Method>`), with its `<Method>_INPUT` body.
    Invoke {
        /// Method name.
        method: String,
        /// The `_INPUT` element.
        input: Instance,
    },
}

/// The WS-Addressing / WS-Management header of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// `wsa:To` (AMT consoles send `/wsman`).
    pub to: String,
    /// `wsman:ResourceURI`.
    pub resource_uri: String,
    /// `wsa:MessageID` (Intel's libraries send a decimal counter).
    pub message_id: String,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: String,
    /// `wsman:OperationTimeout` (xs:duration, e.g. `PT60S`).
    pub operation_timeout: Option<String>,
    /// `wsman:SelectorSet`.
    pub selectors: SelectorSet,
    /// Other header elements (OptionSet, Locale, MaxEnvelopeSize…), kept as sent.
    pub other: Vec<Element>,
}

/// A WS-Management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Header fields.
    pub header: RequestHeader,
    /// The operation.
    pub op: Operation,
}

impl Request {
    /// A request on `class` (a short class name such as `AMT_GeneralSettings`, or a full resource
    /// URI) with Intel's defaults: `To` `/wsman`, anonymous `ReplyTo`, `PT60S` timeout.
    pub fn new(class: &str, message_id: u64, op: Operation) -> Self {
        Request {
            header: RequestHeader {
                to: "/wsman".to_owned(),
                resource_uri: ns::resource_uri(class),
                message_id: message_id.to_string(),
                reply_to: ns::ANONYMOUS.to_owned(),
                operation_timeout: Some("PT60S".to_owned()),
                selectors: SelectorSet::new(),
                other: Vec::new(),
            },
            op,
        }
    }

    /// Sets the selector set (builder style).
    pub fn with_selectors(mut self, selectors: SelectorSet) -> Self {
        self.header.selectors = selectors;
        self
    }

    /// The class name (last segment of the resource URI).
    pub fn class(&self) -> &str {
        ns::class_of(&self.header.resource_uri)
    }

    /// The `wsa:Action` URI of this request.
    pub fn action(&self) -> Cow<'_, str> {
        match &self.op {
            Operation::Get => Cow::Borrowed(action::GET),
            Operation::Put(_) => Cow::Borrowed(action::PUT),
            Operation::Create(_) => Cow::Borrowed(action::CREATE),
            Operation::Delete => Cow::Borrowed(action::DELETE),
            Operation::Enumerate(_) => Cow::Borrowed(action::ENUMERATE),
            Operation::Pull(_) => Cow::Borrowed(action::PULL),
            Operation::Release { .. } => Cow::Borrowed(action::RELEASE),
            Operation::Invoke { method, .. } => {
                Cow::Owned(format!("{}/{}", self.header.resource_uri, method))
            }
        }
    }

    fn action_static(&self) -> &'static str {
        match &self.op {
            Operation::Get => action::GET,
            Operation::Put(_) => action::PUT,
            Operation::Create(_) => action::CREATE,
            Operation::Delete => action::DELETE,
            Operation::Enumerate(_) => action::ENUMERATE,
            Operation::Pull(_) => action::PULL,
            Operation::Release { .. } => action::RELEASE,
            Operation::Invoke { .. } => "",
        }
    }

    /// The request as Intel's console libraries write it.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(self.size_hint());
        self.write_xml(&mut out);
        out
    }

    /// A capacity guess for the request's XML (envelope boilerplate plus body text).
    fn size_hint(&self) -> usize {
        let body = match &self.op {
            Operation::Put(i) | Operation::Create(i) | Operation::Invoke { input: i, .. } => i
                .properties
                .iter()
                .map(|p| match &p.value {
                    crate::Value::Text(t) => t.len() + 2 * p.name.len() + 16,
                    _ => 256,
                })
                .sum::<usize>(),
            _ => 128,
        };
        900 + 2 * self.header.resource_uri.len() + body
    }

    /// Appends the request's XML to `out`.
    pub fn write_xml(&self, out: &mut String) {
        let p = Prefixes::REQUEST;
        let method = match &self.op {
            Operation::Invoke { method, .. } => Some(method.as_str()),
            _ => None,
        };
        write_request_head(
            out,
            RequestHead {
                action: match method {
                    Some(_) => ActionRef::Method(&self.header.resource_uri, method.unwrap_or("")),
                    None => ActionRef::Uri(self.action_static()),
                },
                to: &self.header.to,
                resource_uri: &self.header.resource_uri,
                message_id: MessageIdRef::Text(&self.header.message_id),
                reply_to: &self.header.reply_to,
                operation_timeout: self.header.operation_timeout.as_deref(),
                selectors: &self.header.selectors,
            },
        );
        for e in &self.header.other {
            xml::write_element(out, e, &request_known());
        }
        out.push_str("</Header>");
        match &self.op {
            Operation::Get | Operation::Delete => out.push_str("<Body></Body>"),
            Operation::Put(i) | Operation::Create(i) => {
                out.push_str("<Body>");
                i.write(out, "h", true, &p);
                out.push_str("</Body>");
            }
            Operation::Enumerate(e) => {
                if e == &Enumerate::default() {
                    out.push_str(r#"<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" /></Body>"#);
                } else {
                    out.push_str(r#"<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration">"#);
                    if e.optimize {
                        out.push_str("<w:OptimizeEnumeration/>");
                    }
                    if let Some(m) = e.max_elements {
                        xml::text_element(out, "w:MaxElements", &m.to_string());
                    }
                    if let Some(m) = e.mode {
                        xml::text_element(out, "w:EnumerationMode", m.wire());
                    }
                    if let Some(f) = &e.filter {
                        xml::write_element(out, f, &request_known());
                    }
                    out.push_str("</Enumerate></Body>");
                }
            }
            Operation::Pull(pull) => {
                out.push_str(r#"<Body><Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>"#);
                escape_text(out, &pull.context);
                out.push_str("</EnumerationContext>");
                if let Some(m) = pull.max_elements {
                    xml::text_element(out, "MaxElements", &m.to_string());
                }
                if let Some(m) = pull.max_characters {
                    xml::text_element(out, "MaxCharacters", &m.to_string());
                }
                out.push_str("</Pull></Body>");
            }
            Operation::Release { context } => {
                out.push_str(r#"<Body><Release xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>"#);
                escape_text(out, context);
                out.push_str("</EnumerationContext></Release></Body>");
            }
            Operation::Invoke { input, .. } => {
                out.push_str("<Body>");
                input.write(out, "h", true, &p);
                out.push_str("</Body>");
            }
        }
        out.push_str("</Envelope>");
    }

    /// Parses a request (device side) with the default [`Limits`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse_with(bytes, &Limits::default())
    }

    /// Parses a request (device side).
    pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let root = xml::parse(bytes, limits)?;
        let (header, body) = split_envelope(&root)?;
        let mut action_uri = None;
        let mut to = None;
        let mut resource_uri = None;
        let mut message_id = None;
        let mut reply_to = None;
        let mut operation_timeout = None;
        let mut selectors = SelectorSet::new();
        let mut other = Vec::new();
        for h in header.elements() {
            match (h.ns.as_deref(), h.name.as_str()) {
                (Some(ns::WSA), "Action") => action_uri = Some(h.text_trimmed()),
                (Some(ns::WSA), "To") => to = Some(h.text_trimmed()),
                (Some(ns::WSA), "MessageID") => message_id = Some(h.text_trimmed()),
                (Some(ns::WSA), "ReplyTo") => {
                    reply_to = h.child(ns::WSA, "Address").map(Element::text_trimmed)
                }
                (Some(ns::WSMAN), "ResourceURI") => resource_uri = Some(h.text_trimmed()),
                (Some(ns::WSMAN), "OperationTimeout") => operation_timeout = Some(h.text_trimmed()),
                (Some(ns::WSMAN), "SelectorSet") => selectors = SelectorSet::from_element(h)?,
                _ => other.push(h.clone()),
            }
        }
        let action_uri = action_uri.ok_or(Error::Missing {
            context: "request header",
            what: "wsa:Action",
        })?;
        let resource_uri = resource_uri.ok_or(Error::Missing {
            context: "request header",
            what: "wsman:ResourceURI",
        })?;
        let message_id = message_id.ok_or(Error::Missing {
            context: "request header",
            what: "wsa:MessageID",
        })?;
        let mut body_elems = body.elements();
        let first = body_elems.next();
        if let Some(extra) = body_elems.next() {
            return Err(Error::Unexpected {
                context: "request body",
                found: format!("second element <{}>", extra.name),
            });
        }
        let op = match action_uri.as_str() {
            action::GET => empty_body(first, Operation::Get)?,
            action::DELETE => empty_body(first, Operation::Delete)?,
            action::PUT => Operation::Put(instance_body(first, "Put")?),
            action::CREATE => Operation::Create(instance_body(first, "Create")?),
            action::ENUMERATE => Operation::Enumerate(parse_enumerate(first)?),
            action::PULL => Operation::Pull(parse_pull(first)?),
            action::RELEASE => {
                let el = expect_body(first, ns::WSEN, "Release")?;
                Operation::Release {
                    context: required_child_text(el, ns::WSEN, "EnumerationContext", "Release")?,
                }
            }
            other_action => {
                let Some((class_uri, method)) = other_action.rsplit_once('/') else {
                    return Err(Error::UnknownAction(other_action.to_owned()));
                };
                if method.is_empty()
                    || !(class_uri.starts_with(ns::AMT_BASE)
                        || class_uri.starts_with(ns::CIM_BASE)
                        || class_uri.starts_with(ns::IPS_BASE))
                {
                    return Err(Error::UnknownAction(other_action.to_owned()));
                }
                let el = first.ok_or(Error::Missing {
                    context: "method request body",
                    what: "<Method>_INPUT element",
                })?;
                let expected = format!("{method}_INPUT");
                if el.name != expected {
                    return Err(Error::BodyMismatch {
                        method: method.to_owned(),
                        body: el.name.clone(),
                    });
                }
                Operation::Invoke {
                    method: method.to_owned(),
                    input: Instance::from_element(el)?,
                }
            }
        };
        Ok(Request {
            header: RequestHeader {
                to: to.unwrap_or_default(),
                resource_uri,
                message_id,
                reply_to: reply_to.unwrap_or_else(|| ns::ANONYMOUS.to_owned()),
                operation_timeout,
                selectors,
                other,
            },
            op,
        })
    }
}

/// The `wsa:Action` of a request being written.
#[derive(Debug, Clone, Copy)]
pub enum ActionRef<'a> {
    /// A fixed action URI (transfer/enumeration).
    Uri(&'a str),
    /// A method: `<resource URI>/<method>`.
    Method(&'a str, &'a str),
}

/// The `wsa:MessageID` of a request being written.
#[derive(Debug, Clone, Copy)]
pub enum MessageIdRef<'a> {
    /// Intel's decimal counter.
    Num(u64),
    /// Any text.
    Text(&'a str),
}

/// Everything in a request's header, borrowed, for writing without building a [`Request`].
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The action.
    pub action: ActionRef<'a>,
    /// `wsa:To` (`/wsman`).
    pub to: &'a str,
    /// The resource URI.
    pub resource_uri: &'a str,
    /// The message ID.
    pub message_id: MessageIdRef<'a>,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: &'a str,
    /// `wsman:OperationTimeout`.
    pub operation_timeout: Option<&'a str>,
    /// The selector set.
    pub selectors: &'a SelectorSet,
}

impl<'a> RequestHead<'a> {
    /// Intel's defaults (`/wsman`, anonymous ReplyTo, `PT60S`) for a resource and message ID.
    pub fn intel(
        action: ActionRef<'a>,
        resource_uri: &'a str,
        message_id: u64,
        selectors: &'a SelectorSet,
    ) -> Self {
        RequestHead {
            action,
            to: "/wsman",
            resource_uri,
            message_id: MessageIdRef::Num(message_id),
            reply_to: ns::ANONYMOUS,
            operation_timeout: Some("PT60S"),
            selectors,
        }
    }
}

/// Writes the XML declaration, the `Envelope` start tag and the whole `Header` up to (not
/// including) `</Header>`, in Intel's layout. Shared by [`Request::write_xml`] and the typed
/// builders' direct writers (`classes::WsmanClass::get_xml` …).
pub fn write_request_head(out: &mut String, h: RequestHead<'_>) {
    out.push_str(concat!(
        r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">"#,
        "<Header><a:Action>"
    ));
    match h.action {
        ActionRef::Uri(u) => escape_text(out, u),
        ActionRef::Method(uri, method) => {
            escape_text(out, uri);
            out.push('/');
            escape_text(out, method);
        }
    }
    out.push_str("</a:Action><a:To>");
    escape_text(out, h.to);
    out.push_str("</a:To><w:ResourceURI>");
    escape_text(out, h.resource_uri);
    out.push_str("</w:ResourceURI><a:MessageID>");
    match h.message_id {
        MessageIdRef::Num(n) => out.push_str(itoa::Buffer::new().format(n)),
        MessageIdRef::Text(t) => escape_text(out, t),
    }
    out.push_str("</a:MessageID><a:ReplyTo><a:Address>");
    escape_text(out, h.reply_to);
    out.push_str("</a:Address></a:ReplyTo>");
    if let Some(t) = h.operation_timeout {
        xml::text_element(out, "w:OperationTimeout", t);
    }
    h.selectors.write(out, &Prefixes::REQUEST);
}

fn request_known() -> [(&'static str, &'static str); 5] {
    [
        (ns::SOAP, ""),
        (ns::WSA, "a"),
        (ns::WSMAN, "w"),
        (ns::XSI, "xsi"),
        (ns::XSD, "xsd"),
    ]
}

fn split_envelope(root: &Element) -> Result<(&Element, &Element), Error> {
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

fn empty_body(first: Option<&Element>, op: Operation) -> Result<Operation, Error> {
    match first {
        None => Ok(op),
        Some(e) => Err(Error::Unexpected {
            context: "Get/Delete body",
            found: format!("<{}>", e.name),
        }),
    }
}

fn instance_body(first: Option<&Element>, what: &'static str) -> Result<Instance, Error> {
    let el = first.ok_or(Error::Missing {
        context: what,
        what: "instance element in Body",
    })?;
    Instance::from_element(el)
}

fn expect_body<'a>(
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

fn required_child_text(
    el: &Element,
    ns_uri: &str,
    name: &'static str,
    context: &'static str,
) -> Result<String, Error> {
    el.child(ns_uri, name)
        .map(Element::text_trimmed)
        .filter(|t| !t.is_empty())
        .ok_or(Error::Missing {
            context,
            what: name,
        })
}

fn parse_u32(el: &Element, context: &str) -> Result<u32, Error> {
    let t = el.text_trimmed();
    t.parse().map_err(|_| Error::InvalidValue {
        class: context.to_owned(),
        property: el.name.clone(),
        value: t.chars().take(40).collect(),
        expected: "unsigned 32-bit integer",
    })
}

fn parse_enumerate(first: Option<&Element>) -> Result<Enumerate, Error> {
    let el = expect_body(first, ns::WSEN, "Enumerate")?;
    let mut e = Enumerate::default();
    for c in el.elements() {
        match (c.ns.as_deref(), c.name.as_str()) {
            (Some(ns::WSMAN), "OptimizeEnumeration") => e.optimize = true,
            (Some(ns::WSMAN), "MaxElements") => e.max_elements = Some(parse_u32(c, "Enumerate")?),
            (Some(ns::WSMAN), "EnumerationMode") => {
                e.mode = Some(match c.text_trimmed().as_str() {
                    "EnumerateEPR" => EnumerationMode::EnumerateEpr,
                    "EnumerateObjectAndEPR" => EnumerationMode::EnumerateObjectAndEpr,
                    other => {
                        return Err(Error::InvalidValue {
                            class: "Enumerate".into(),
                            property: "EnumerationMode".into(),
                            value: other.chars().take(40).collect(),
                            expected: "EnumerateEPR or EnumerateObjectAndEPR",
                        })
                    }
                })
            }
            (Some(ns::WSMAN), "Filter") => e.filter = Some(c.clone()),
            (Some(ns::WSEN), "Expires") => {}
            _ => {
                return Err(Error::Unexpected {
                    context: "Enumerate",
                    found: format!("<{}>", c.name),
                })
            }
        }
    }
    Ok(e)
}

fn parse_pull(first: Option<&Element>) -> Result<Pull, Error> {
    let el = expect_body(first, ns::WSEN, "Pull")?;
    let context = required_child_text(el, ns::WSEN, "EnumerationContext", "Pull")?;
    let mut pull = Pull {
        context,
        max_elements: None,
        max_characters: None,
    };
    for c in el.elements() {
        match (c.ns.as_deref(), c.name.as_str()) {
            (Some(ns::WSEN), "EnumerationContext") => {}
            (Some(ns::WSEN), "MaxElements") => pull.max_elements = Some(parse_u32(c, "Pull")?),
            (Some(ns::WSEN), "MaxCharacters") => pull.max_characters = Some(parse_u32(c, "Pull")?),
            (Some(ns::WSEN), "MaxTime") => {}
            _ => {
                return Err(Error::Unexpected {
                    context: "Pull",
                    found: format!("<{}>", c.name),
                })
            }
        }
    }
    Ok(pull)
}

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
