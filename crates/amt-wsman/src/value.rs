//! The generic value model: endpoint references, selector sets, and class instances.
//!
//! Every typed class and method body in [`crate::classes`] converts to and from an
//! [`Instance`]: a class (or `METHOD_INPUT`/`METHOD_OUTPUT`) element with its properties in
//! document order. Arrays are repeated properties with the same name. Property values that
//! are neither text, nil, nor an endpoint reference are kept as a parsed XML [`Element`], so
//! nothing a device sends is ever dropped.

use crate::ns;
use crate::xml::{self, escape_attr, escape_text, Element, Node};
use crate::Error;

/// Prefixes in scope where an instance is written, so that EPRs and `xsi:nil` can be emitted.
#[derive(Debug, Clone, Copy)]
pub struct Prefixes {
    /// Prefix bound to WS-Addressing.
    pub wsa: &'static str,
    /// Prefix bound to WS-Management.
    pub wsman: &'static str,
    /// Prefix bound to XML Schema instance.
    pub xsi: &'static str,
}

impl Prefixes {
    /// The prefixes Intel's console libraries declare on request envelopes (`a:`, `w:`).
    pub const REQUEST: Prefixes = Prefixes {
        wsa: "a",
        wsman: "w",
        xsi: "xsi",
    };
    /// The prefixes AMT firmware declares on response envelopes (`b:`, `c:`).
    pub const RESPONSE: Prefixes = Prefixes {
        wsa: "b",
        wsman: "c",
        xsi: "xsi",
    };

    fn known(&self) -> [(&'static str, &'static str); 3] {
        [
            (ns::WSA, self.wsa),
            (ns::WSMAN, self.wsman),
            (ns::XSI, self.xsi),
        ]
    }
}

/// One `Selector` of a `SelectorSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The `Name` attribute.
    pub name: String,
    /// The selector's value.
    pub value: SelectorValue,
}

/// The value of a selector: text, or a nested endpoint reference (association keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorValue {
    /// Plain text value.
    Text(String),
    /// An `EndpointReference` (used by association classes such as AMT_TLSCredentialContext).
    Epr(Box<EndpointReference>),
}

/// A WS-Management `SelectorSet`: the key of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectorSet(pub Vec<Selector>);

impl SelectorSet {
    /// An empty selector set.
    pub fn new() -> Self {
        SelectorSet(Vec::new())
    }

    /// A selector set with one text selector.
    pub fn one(name: &str, value: &str) -> Self {
        SelectorSet(vec![Selector {
            name: name.to_owned(),
            value: SelectorValue::Text(value.to_owned()),
        }])
    }

    /// Adds a text selector (builder style).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.push(Selector {
            name: name.to_owned(),
            value: SelectorValue::Text(value.to_owned()),
        });
        self
    }

    /// True when there are no selectors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text value of a selector by name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| match &s.value {
                SelectorValue::Text(t) => Some(t.as_str()),
                SelectorValue::Epr(_) => None,
            })
    }

    /// The text value of a required selector, or [`Error::MissingSelector`].
    pub fn require(&self, class: &str, name: &str) -> Result<&str, Error> {
        self.get(name).ok_or_else(|| Error::MissingSelector {
            class: crate::ns::class_of(class).to_owned(),
            selector: name.to_owned(),
        })
    }

    /// Writes `<w:SelectorSet>…</w:SelectorSet>` (nothing when empty).
    pub fn write(&self, out: &mut String, p: &Prefixes) {
        if self.0.is_empty() {
            return;
        }
        open(out, p.wsman, "SelectorSet");
        for s in &self.0 {
            out.push('<');
            out.push_str(p.wsman);
            out.push_str(":Selector Name=\"");
            escape_attr(out, &s.name);
            out.push_str("\">");
            match &s.value {
                SelectorValue::Text(t) => escape_text(out, t),
                SelectorValue::Epr(epr) => {
                    open(out, p.wsa, "EndpointReference");
                    epr.write_contents(out, p);
                    close(out, p.wsa, "EndpointReference");
                }
            }
            close(out, p.wsman, "Selector");
        }
        close(out, p.wsman, "SelectorSet");
    }

    /// Reads a `SelectorSet` element.
    pub fn from_element(el: &Element) -> Result<Self, Error> {
        let mut out = Vec::new();
        for s in el.elements() {
            if !s.is(ns::WSMAN, "Selector") {
                return Err(Error::Unexpected {
                    context: "SelectorSet",
                    found: s.name.clone(),
                });
            }
            // DSP0226 uses an unqualified `Name`; some clients (the `amt` PyPI package's
            // amtctrl) qualify it with the WS-Management namespace.
            let name = s
                .attr(None, "Name")
                .or_else(|| s.attr(Some(ns::WSMAN), "Name"))
                .ok_or(Error::Missing {
                    context: "Selector",
                    what: "Name attribute",
                })?
                .to_owned();
            let value = match s.child(ns::WSA, "EndpointReference") {
                Some(e) => SelectorValue::Epr(Box::new(EndpointReference::from_element(e)?)),
                None => SelectorValue::Text(s.text()),
            };
            out.push(Selector { name, value });
        }
        Ok(SelectorSet(out))
    }
}

/// A WS-Addressing endpoint reference: how one instance points at another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointReference {
    /// The `Address` (AMT uses the anonymous role or `/wsman`).
    pub address: String,
    /// The `ResourceURI` of the referenced class.
    pub resource_uri: Option<String>,
    /// The key of the referenced instance.
    pub selectors: SelectorSet,
}

impl EndpointReference {
    /// A reference to an instance of `class` (short name or full URI) with the anonymous address.
    pub fn to_class(class: &str, selectors: SelectorSet) -> Self {
        EndpointReference {
            address: ns::ANONYMOUS.to_owned(),
            resource_uri: Some(ns::resource_uri(class)),
            selectors,
        }
    }

    /// Writes `<a:Address>…</a:Address><a:ReferenceParameters>…</a:ReferenceParameters>`.
    pub fn write_contents(&self, out: &mut String, p: &Prefixes) {
        open(out, p.wsa, "Address");
        escape_text(out, &self.address);
        close(out, p.wsa, "Address");
        if self.resource_uri.is_some() || !self.selectors.is_empty() {
            open(out, p.wsa, "ReferenceParameters");
            if let Some(uri) = &self.resource_uri {
                open(out, p.wsman, "ResourceURI");
                escape_text(out, uri);
                close(out, p.wsman, "ResourceURI");
            }
            self.selectors.write(out, p);
            close(out, p.wsa, "ReferenceParameters");
        }
    }

    /// True when an element looks like an EPR (it has a WS-Addressing `Address` child).
    pub fn looks_like(el: &Element) -> bool {
        el.child(ns::WSA, "Address").is_some()
            && el
                .elements()
                .all(|c| c.is(ns::WSA, "Address") || c.is(ns::WSA, "ReferenceParameters"))
            && el.attrs.is_empty()
    }

    /// Reads an element whose children are `Address` and `ReferenceParameters`.
    pub fn from_element(el: &Element) -> Result<Self, Error> {
        let address = el
            .child(ns::WSA, "Address")
            .ok_or(Error::Missing {
                context: "EndpointReference",
                what: "Address",
            })?
            .text_trimmed();
        let mut resource_uri = None;
        let mut selectors = SelectorSet::new();
        if let Some(rp) = el.child(ns::WSA, "ReferenceParameters") {
            for c in rp.elements() {
                if c.is(ns::WSMAN, "ResourceURI") {
                    resource_uri = Some(c.text_trimmed());
                } else if c.is(ns::WSMAN, "SelectorSet") {
                    selectors = SelectorSet::from_element(c)?;
                } else {
                    return Err(Error::Unexpected {
                        context: "ReferenceParameters",
                        found: c.name.clone(),
                    });
                }
            }
        }
        Ok(EndpointReference {
            address,
            resource_uri,
            selectors,
        })
    }
}

/// The value of one property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text content, exactly as sent.
    Text(String),
    /// `xsi:nil="true"`.
    Nil,
    /// An endpoint reference (association end, method argument such as `KeyPair`).
    Epr(EndpointReference),
    /// Anything else (for example a CIM `<Datetime>` wrapper), kept as parsed XML.
    Element(Element),
}

impl Value {
    /// The text, when this is a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// One property (one element) of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The property's local name.
    pub name: String,
    /// Its value.
    pub value: Value,
}

impl Property {
    /// A text property.
    pub fn text(name: &str, value: impl Into<String>) -> Self {
        Property {
            name: name.to_owned(),
            value: Value::Text(value.into()),
        }
    }
}

/// An instance of a class, or a method's `_INPUT`/`_OUTPUT` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The element's local name (`AMT_GeneralSettings`, `AdminSetup_INPUT`, …).
    pub name: String,
    /// The element's namespace: the class's resource URI.
    pub namespace: String,
    /// Properties in document order; arrays are repeated names.
    pub properties: Vec<Property>,
}

impl Instance {
    /// An empty instance of `class` in the class's own namespace.
    pub fn of_class(class: &str) -> Self {
        Instance {
            name: ns::class_of(class).to_owned(),
            namespace: ns::resource_uri(class),
            properties: Vec::new(),
        }
    }

    /// The first property with this name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }

    /// The text of the first property with this local name in any namespace (for reading
    /// recordings from firmware or tools that put properties in the wrong namespace).
    pub fn get_text_any_ns(&self, name: &str) -> Option<String> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| match &p.value {
                Value::Text(t) => Some(t.clone()),
                Value::Element(e) if !e.has_element_children() => Some(e.text()),
                _ => None,
            })
    }

    /// The text of the first property with this name.
    pub fn get_text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_text)
    }

    /// All values of a (repeated) property.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.properties
            .iter()
            .filter(move |p| p.name == name)
            .map(|p| &p.value)
    }

    /// Appends a text property (builder style).
    pub fn with_text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.properties.push(Property::text(name, value));
        self
    }

    /// Reads an instance element. Property elements must be in the instance's namespace.
    pub fn from_element(el: &Element) -> Result<Self, Error> {
        let namespace = el.ns.clone().unwrap_or_default();
        let mut properties = Vec::with_capacity(el.children.len());
        for c in &el.children {
            let c = match c {
                Node::Element(c) => c,
                Node::Text(t) => {
                    return Err(Error::Unexpected {
                        context: "instance",
                        found: format!("text {:?}", truncate(t)),
                    })
                }
            };
            // A property in a foreign namespace is kept whole (so nothing is lost); typed
            // conversion rejects it with `Error::WrongNamespace`.
            let value = if c.ns.as_deref().unwrap_or_default() != namespace {
                Value::Element(c.clone())
            } else {
                value_of(c)?
            };
            properties.push(Property {
                name: c.name.clone(),
                value,
            });
        }
        Ok(Instance {
            name: el.name.clone(),
            namespace,
            properties,
        })
    }

    /// Writes the instance as `<pfx:Name xmlns:pfx="ns">…</pfx:Name>`. When `declare` is false
    /// the prefix is assumed to be declared already.
    pub fn write(&self, out: &mut String, pfx: &str, declare: bool, p: &Prefixes) {
        out.push('<');
        out.push_str(pfx);
        out.push(':');
        out.push_str(&self.name);
        if declare {
            out.push_str(" xmlns:");
            out.push_str(pfx);
            out.push_str("=\"");
            escape_attr(out, &self.namespace);
            out.push('"');
        }
        out.push('>');
        for prop in &self.properties {
            write_property(out, pfx, &self.namespace, prop, p);
        }
        close(out, pfx, &self.name);
    }
}

pub(crate) fn write_property(
    out: &mut String,
    pfx: &str,
    namespace: &str,
    prop: &Property,
    p: &Prefixes,
) {
    match &prop.value {
        Value::Text(t) => {
            out.push('<');
            out.push_str(pfx);
            out.push(':');
            out.push_str(&prop.name);
            out.push('>');
            escape_text(out, t);
            close(out, pfx, &prop.name);
        }
        Value::Nil => {
            out.push('<');
            out.push_str(pfx);
            out.push(':');
            out.push_str(&prop.name);
            out.push(' ');
            out.push_str(p.xsi);
            out.push_str(":nil=\"true\"/>");
        }
        Value::Epr(epr) => {
            open_q(out, pfx, &prop.name);
            epr.write_contents(out, p);
            close(out, pfx, &prop.name);
        }
        Value::Element(e) => {
            let known = p.known();
            let mut scope: Vec<(&str, &str)> = known.to_vec();
            scope.push((namespace, pfx));
            xml::write_element(out, e, &scope);
        }
    }
}

fn value_of(c: &Element) -> Result<Value, Error> {
    if !c.has_element_children() {
        if c.attr(Some(ns::XSI), "nil") == Some("true") && c.children.is_empty() {
            return Ok(Value::Nil);
        }
        if c.attrs.is_empty() {
            return Ok(Value::Text(c.text()));
        }
        return Ok(Value::Element(c.clone()));
    }
    if EndpointReference::looks_like(c) {
        if let Ok(epr) = EndpointReference::from_element(c) {
            return Ok(Value::Epr(epr));
        }
    }
    Ok(Value::Element(c.clone()))
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

pub(crate) fn open(out: &mut String, pfx: &str, name: &str) {
    open_q(out, pfx, name)
}

pub(crate) fn open_q(out: &mut String, pfx: &str, name: &str) {
    out.push('<');
    if !pfx.is_empty() {
        out.push_str(pfx);
        out.push(':');
    }
    out.push_str(name);
    out.push('>');
}

pub(crate) fn close(out: &mut String, pfx: &str, name: &str) {
    out.push_str("</");
    if !pfx.is_empty() {
        out.push_str(pfx);
        out.push(':');
    }
    out.push_str(name);
    out.push('>');
}
