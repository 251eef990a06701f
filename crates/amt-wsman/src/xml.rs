//! A small, bounded, namespace-resolved XML tree and an escaping writer.
//!
//! WS-Management messages are small documents, so we parse them into a tree with every name
//! already resolved to its namespace URI. The reader is hardened for untrusted input:
//! - DOCTYPE declarations are refused outright, so no entity can be declared (no billion laughs,
//!   no external entities). Only the five predefined entities and character references are
//!   expanded.
//! - Processing instructions other than the XML declaration are refused.
//! - Input size, nesting depth, element count and attribute count are capped ([`Limits`]).
//!
//! Text that looks like a qualified name (`prefix:local`, as in SOAP fault codes) keeps the
//! namespace its prefix had in scope, so fault subcodes can be resolved after parsing.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Caps applied while reading untrusted XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
}

impl Default for Limits {
    /// Generous for AMT (the largest real responses — audit log pages, certificate lists — are
    /// well under 1 MiB) and small enough that a hostile peer cannot exhaust memory.
    fn default() -> Self {
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 48,
            max_elements: 50_000,
            max_attributes: 64,
        }
    }
}

/// Why a document could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The document is larger than [`Limits::max_bytes`].
    #[error("document is {size} bytes, limit is {limit}")]
    TooLarge {
        /// Size of the offered document.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Elements are nested deeper than [`Limits::max_depth`].
    #[error("elements nested deeper than {limit}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// More elements than [`Limits::max_elements`].
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The configured limit.
        limit: usize,
    },
    /// An element carries more attributes than [`Limits::max_attributes`].
    #[error("element <{element}> has more than {limit} attributes")]
    TooManyAttributes {
        /// Local name of the element.
        element: String,
        /// The configured limit.
        limit: usize,
    },
    /// The document has a DOCTYPE (entity declarations are never accepted).
    #[error("DOCTYPE declarations are not accepted")]
    DoctypeRejected,
    /// The document has a processing instruction other than the XML declaration.
    #[error("processing instructions are not accepted")]
    ProcessingInstructionRejected,
    /// The document is not UTF-8.
    #[error("document is not valid UTF-8")]
    NotUtf8,
    /// A prefix is used that no `xmlns:` declaration binds.
    #[error("unbound namespace prefix in <{name}>")]
    UnboundPrefix {
        /// The qualified name as written.
        name: String,
    },
    /// The document has no root element.
    #[error("document has no root element")]
    Empty,
    /// Content after the root element.
    #[error("content after the root element")]
    TrailingContent,
    /// Any other well-formedness error (mismatched tags, bad escapes, unknown entities…).
    #[error("malformed XML at byte {position}: {message}")]
    Malformed {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What the reader reported.
        message: String,
    },
}

/// An attribute with its resolved namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Namespace URI, or `None` for an unprefixed attribute.
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Unescaped value.
    pub value: String,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (unescaped). Whitespace-only text between child elements is dropped.
    Text(String),
}

/// An element with its resolved namespace and its children in document order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI, or `None` when the element is in no namespace.
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Attributes other than namespace declarations.
    pub attrs: Vec<Attribute>,
    /// Children in document order.
    pub children: Vec<Node>,
    /// When the element's whole text is `prefix:local` and `prefix` was bound in scope, the
    /// namespace it was bound to (used for QName-valued content such as fault codes).
    pub text_qname_ns: Option<String>,
}

impl Element {
    /// A new empty element.
    pub fn new(ns: Option<&str>, name: &str) -> Self {
        Element {
            ns: ns.map(str::to_owned),
            name: name.to_owned(),
            ..Default::default()
        }
    }

    /// True when this element has namespace `ns` and local name `name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// Child elements in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// The first child element with this local name, whatever its namespace.
    pub fn child_local(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// True when the element has at least one child element.
    pub fn has_element_children(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Element(_)))
    }

    /// The concatenated character data of the direct children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// The trimmed text, for values where surrounding whitespace is not significant.
    pub fn text_trimmed(&self) -> String {
        self.text().trim().to_owned()
    }

    /// The value of an attribute by namespace (or `None` for unprefixed) and local name.
    pub fn attr(&self, ns: Option<&str>, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && a.ns.as_deref() == ns)
            .map(|a| a.value.as_str())
    }

    /// Appends a child element.
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Appends text.
    pub fn push_text(&mut self, text: impl Into<String>) {
        self.children.push(Node::Text(text.into()));
    }
}

/// Parses a whole document into its root element, enforcing `limits`.
pub fn parse(input: &[u8], limits: &Limits) -> Result<Element, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().expand_empty_elements = false;
    reader.config_mut().check_end_names = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;

    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| malformed(pos, e))?;
        match ev {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::TrailingContent);
            }
            Event::Start(ref start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let el = open_element(&reader, start, limits)?;
                stack.push(el);
            }
            Event::Empty(ref start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let el = open_element(&reader, start, limits)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(mut el) = stack.pop() else {
                    return Err(XmlError::Malformed {
                        position: pos,
                        message: "unexpected end tag".into(),
                    });
                };
                finish_element(&mut el);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| malformed(pos, e))?;
                match stack.last_mut() {
                    Some(parent) => {
                        if !s.is_empty() {
                            let text = s.into_owned();
                            if parent.children.is_empty() {
                                parent.text_qname_ns = resolve_text_qname(&reader, &text);
                            } else {
                                parent.text_qname_ns = None;
                            }
                            push_text(parent, text);
                        }
                    }
                    None => {
                        if !s.trim().is_empty() {
                            return Err(XmlError::Malformed {
                                position: pos,
                                message: "text outside the root element".into(),
                            });
                        }
                    }
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(|_| XmlError::NotUtf8)?;
                match stack.last_mut() {
                    Some(parent) => push_text(parent, s.to_owned()),
                    None => {
                        return Err(XmlError::Malformed {
                            position: pos,
                            message: "CDATA outside the root element".into(),
                        })
                    }
                }
            }
            Event::DocType(_) => return Err(XmlError::DoctypeRejected),
            Event::PI(_) => return Err(XmlError::ProcessingInstructionRejected),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed {
            position: reader.buffer_position(),
            message: "unexpected end of document (unclosed elements)".into(),
        });
    }
    root.ok_or(XmlError::Empty)
}

fn malformed(position: u64, e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed {
        position,
        message: e.to_string(),
    }
}

fn push_text(parent: &mut Element, text: String) {
    if let Some(Node::Text(prev)) = parent.children.last_mut() {
        prev.push_str(&text);
    } else {
        parent.children.push(Node::Text(text));
    }
}

/// Drops whitespace-only text between child elements (formatting, not content).
fn finish_element(el: &mut Element) {
    if el.has_element_children() {
        el.children.retain(|n| match n {
            Node::Text(t) => !t.trim().is_empty(),
            Node::Element(_) => true,
        });
        el.text_qname_ns = None;
    }
}

fn ns_of(r: ResolveResult<'_>, qname: &[u8]) -> Result<Option<String>, XmlError> {
    match r {
        ResolveResult::Bound(ns) => std::str::from_utf8(ns.as_ref())
            .map(|s| Some(s.to_owned()))
            .map_err(|_| XmlError::NotUtf8),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(XmlError::UnboundPrefix {
            name: String::from_utf8_lossy(qname).into_owned(),
        }),
    }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    limits: &Limits,
) -> Result<Element, XmlError> {
    let (res, local) = reader.resolve_element(start.name());
    let ns = ns_of(res, start.name().as_ref())?;
    let name = std::str::from_utf8(local.as_ref())
        .map_err(|_| XmlError::NotUtf8)?
        .to_owned();
    let mut attrs = Vec::new();
    let mut n_attrs = 0usize;
    for a in start.attributes() {
        let a = a.map_err(|e| malformed(reader.buffer_position(), e))?;
        n_attrs += 1;
        if n_attrs > limits.max_attributes {
            return Err(XmlError::TooManyAttributes {
                element: name,
                limit: limits.max_attributes,
            });
        }
        let key = a.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let (res, local) = reader.resolve_attribute(a.key);
        let ans = ns_of(res, key)?;
        let value = a
            .unescape_value()
            .map_err(|e| malformed(reader.buffer_position(), e))?
            .into_owned();
        attrs.push(Attribute {
            ns: ans,
            name: std::str::from_utf8(local.as_ref())
                .map_err(|_| XmlError::NotUtf8)?
                .to_owned(),
            value,
        });
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
        text_qname_ns: None,
    })
}

fn resolve_text_qname(reader: &NsReader<&[u8]>, text: &str) -> Option<String> {
    let t = text.trim();
    let (prefix, local) = t.split_once(':')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    if !ok(prefix) || !ok(local) {
        return None;
    }
    let (res, _) = reader.resolve_element(quick_xml::name::QName(t.as_bytes()));
    match res {
        ResolveResult::Bound(ns) => std::str::from_utf8(ns.as_ref()).ok().map(str::to_owned),
        _ => None,
    }
}

/// Escapes text content (`&`, `<`, `>`). Runs of plain text are copied whole; the search for
/// the three special bytes is vectorised (`memchr3`), which matters for kilobytes of base64.
pub fn escape_text(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for i in memchr::memchr3_iter(b'&', b'<', b'>', bytes) {
        let rep = match bytes[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Escapes an attribute value (`&`, `<`, `>`, `"`).
pub fn escape_attr(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Writes `<p:name>text</p:name>` with the text escaped.
pub fn text_element(out: &mut String, qname: &str, text: &str) {
    out.push('<');
    out.push_str(qname);
    out.push('>');
    escape_text(out, text);
    out.push_str("</");
    out.push_str(qname);
    out.push('>');
}

/// Serialises a parsed element back to XML. Namespaces are declared with generated prefixes
/// (`n0`, `n1`, …) wherever a namespace is first used; `known` gives prefixes that are already
/// declared by an enclosing element (URI → prefix).
pub fn write_element(out: &mut String, el: &Element, known: &[(&str, &str)]) {
    let mut scope: Vec<(String, String)> = known
        .iter()
        .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
        .collect();
    write_rec(out, el, &mut scope);
}

fn prefix_for(scope: &mut Vec<(String, String)>, uri: &str, decls: &mut String) -> String {
    if let Some((_, p)) = scope.iter().rev().find(|(u, _)| u == uri) {
        return p.clone();
    }
    let p = format!("n{}", scope.len());
    decls.push_str(" xmlns:");
    decls.push_str(&p);
    decls.push_str("=\"");
    escape_attr(decls, uri);
    decls.push('"');
    scope.push((uri.to_owned(), p.clone()));
    p
}

fn write_rec(out: &mut String, el: &Element, scope: &mut Vec<(String, String)>) {
    let depth = scope.len();
    let mut decls = String::new();
    let qname = match &el.ns {
        Some(uri) => {
            let p = prefix_for(scope, uri, &mut decls);
            format!("{p}:{}", el.name)
        }
        None => el.name.clone(),
    };
    let mut attrs = String::new();
    for a in &el.attrs {
        attrs.push(' ');
        if let Some(uri) = &a.ns {
            let p = prefix_for(scope, uri, &mut decls);
            attrs.push_str(&p);
            attrs.push(':');
        }
        attrs.push_str(&a.name);
        attrs.push_str("=\"");
        escape_attr(&mut attrs, &a.value);
        attrs.push('"');
    }
    // A QName-valued text needs its prefix declared here.
    let mut text_prefix: Option<(String, String)> = None;
    if let Some(uri) = &el.text_qname_ns {
        let text = el.text();
        if let Some((_, local)) = text.trim().split_once(':') {
            let p = prefix_for(scope, uri, &mut decls);
            text_prefix = Some((p, local.to_owned()));
        }
    }
    out.push('<');
    out.push_str(&qname);
    out.push_str(&decls);
    out.push_str(&attrs);
    if el.children.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        if let Some((p, local)) = text_prefix {
            out.push_str(&p);
            out.push(':');
            escape_text(out, &local);
        } else {
            for c in &el.children {
                match c {
                    Node::Element(e) => write_rec(out, e, scope),
                    Node::Text(t) => escape_text(out, t),
                }
            }
        }
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
    }
    scope.truncate(depth);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, XmlError> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn resolves_namespaces_and_drops_formatting_whitespace() {
        let e = p(
            r#"<a:E xmlns:a="urn:a" xmlns="urn:d"> <B x="1">t &amp; u</B>
            <a:C/></a:E>"#,
        )
        .unwrap();
        assert!(e.is("urn:a", "E"));
        let b = e.child("urn:d", "B").unwrap();
        assert_eq!(b.text(), "t & u");
        assert_eq!(b.attr(None, "x"), Some("1"));
        assert!(e.child("urn:a", "C").is_some());
        assert_eq!(e.children.len(), 2);
    }

    #[test]
    fn doctype_is_rejected_billion_laughs() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(p(bomb), Err(XmlError::DoctypeRejected));
    }

    #[test]
    fn external_entity_is_rejected() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
        assert_eq!(p(xxe), Err(XmlError::DoctypeRejected));
        // Without a DOCTYPE an undeclared entity is simply malformed.
        assert!(matches!(
            p("<foo>&xxe;</foo>"),
            Err(XmlError::Malformed { .. })
        ));
    }

    #[test]
    fn depth_cap_is_enforced() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(p(&deep), Err(XmlError::TooDeep { limit: 48 }));
    }

    #[test]
    fn size_cap_is_enforced() {
        let l = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse(b"<aaaaaaaaaaaaaaaaa/>", &l),
            Err(XmlError::TooLarge { .. })
        ));
    }

    #[test]
    fn element_count_cap_is_enforced() {
        let l = Limits {
            max_elements: 5,
            ..Limits::default()
        };
        let doc = format!("<r>{}</r>", "<x/>".repeat(10));
        assert_eq!(
            parse(doc.as_bytes(), &l),
            Err(XmlError::TooManyElements { limit: 5 })
        );
    }

    #[test]
    fn unbound_prefix_and_mismatched_tags_are_errors() {
        assert!(matches!(p("<x:a/>"), Err(XmlError::UnboundPrefix { .. })));
        assert!(matches!(p("<a></b>"), Err(XmlError::Malformed { .. })));
        assert!(matches!(p("<a>"), Err(XmlError::Malformed { .. })));
        assert_eq!(p(""), Err(XmlError::Empty));
        assert_eq!(p("<a/><b/>"), Err(XmlError::TrailingContent));
        assert_eq!(
            p("<?foo bar?><a/>"),
            Err(XmlError::ProcessingInstructionRejected)
        );
    }

    #[test]
    fn qname_text_keeps_its_namespace() {
        let e = p(r#"<V xmlns:b="urn:b">b:DestinationUnreachable</V>"#).unwrap();
        assert_eq!(e.text_qname_ns.as_deref(), Some("urn:b"));
        let e = p(r#"<V>Digest:F3EB5547</V>"#).unwrap();
        assert_eq!(e.text_qname_ns, None);
    }

    #[test]
    fn write_then_parse_is_identity() {
        let src = r#"<a:E xmlns:a="urn:a" xmlns:b="urn:b"><b:F b:k="v&quot;">x &lt; y</b:F><V>b:Q</V><a:G/></a:E>"#;
        let e = p(src).unwrap();
        let mut out = String::new();
        write_element(&mut out, &e, &[]);
        // QName text may get a different prefix; compare it by (namespace, local name).
        fn unprefix(e: &mut Element) {
            if e.text_qname_ns.is_some() {
                let local = e.text().rsplit(':').next().unwrap_or_default().to_owned();
                e.children = vec![Node::Text(local)];
            }
            for c in e.children.iter_mut() {
                if let Node::Element(c) = c {
                    unprefix(c);
                }
            }
        }
        let (mut a, mut b) = (p(&out).unwrap(), e);
        unprefix(&mut a);
        unprefix(&mut b);
        assert_eq!(a, b);
    }
}
