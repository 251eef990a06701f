//! Requests: what a console sends and a device parses.

use std::borrow::Cow;

use crate::ns::{self, action};
use crate::value::{Instance, Prefixes, SelectorSet};
use crate::xml::{self, escape_text, Element, Limits};
use crate::Error;

use super::{expect_body, instance_body, split_envelope};

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

fn empty_body(first: Option<&Element>, op: Operation) -> Result<Operation, Error> {
    match first {
        None => Ok(op),
        Some(e) => Err(Error::Unexpected {
            context: "Get/Delete body",
            found: format!("<{}>", e.name),
        }),
    }
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
