//! Shared helpers for the integration tests: locating ../shared/fixtures and canonical XML.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::PathBuf;

use amt_wsman::xml::{self, Element, Limits, Node};

/// The recorded fixtures folder, or `None` (with a message on stderr) when it is absent.
pub fn fixtures_dir(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("AMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: fixtures folder {} is absent (CI always has ../shared/fixtures; set AMTD_FIXTURES to point elsewhere)",
            dir.display()
        );
        None
    }
}

/// Every `*.xml` under `dir`, sorted.
pub fn xml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read fixtures dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "xml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A canonical form for comparing documents: namespaces resolved (prefixes ignored), text
/// trimmed, attributes sorted, and sibling elements stably sorted by (namespace, name) so that
/// property order does not matter while array order does.
pub fn canonical(e: &Element) -> Element {
    let mut c = e.clone();
    canon(&mut c);
    c
}

fn canon(e: &mut Element) {
    e.attrs
        .retain(|a| a.ns.as_deref() != Some("http://www.w3.org/XML/1998/namespace"));
    e.attrs
        .sort_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
    let mut kids = std::mem::take(&mut e.children);
    for k in kids.iter_mut() {
        match k {
            Node::Element(c) => canon(c),
            Node::Text(t) => *t = t.trim().to_owned(),
        }
    }
    kids.retain(|k| !matches!(k, Node::Text(t) if t.is_empty()));
    // An empty SelectorSet means "no selectors" (DSP0226); we do not write empty ones.
    kids.retain(|k| {
        !matches!(k, Node::Element(c) if c.name == "SelectorSet" && c.children.is_empty()
            && c.ns.as_deref() == Some("http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"))
    });
    kids.sort_by(|a, b| match (a, b) {
        (Node::Element(x), Node::Element(y)) => (&x.ns, &x.name).cmp(&(&y.ns, &y.name)),
        (Node::Text(_), Node::Element(_)) => std::cmp::Ordering::Less,
        (Node::Element(_), Node::Text(_)) => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    });
    e.children = kids;
    if e.text_qname_ns.is_some() {
        // Compare QName text by (namespace, local name): rewrite as {ns}local.
        let t = e.text();
        let local = t.rsplit(':').next().unwrap_or(&t).to_owned();
        let ns = e.text_qname_ns.take().unwrap_or_default();
        e.children = vec![Node::Text(format!("{{{ns}}}{local}"))];
    }
}

/// Parses and canonicalises a document.
pub fn canonical_doc(bytes: &[u8]) -> Element {
    canonical(&xml::parse(bytes, &Limits::default()).expect("well-formed XML"))
}
