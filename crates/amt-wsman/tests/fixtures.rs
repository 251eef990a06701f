//! Every recorded real-device response parses into typed values without loss.
//!
//! Reads ../shared/fixtures/wsman-responses in place (recorded AMT responses, anonymised, from
//! device-management-toolkit/go-wsman-messages). Skips with a message when the folder is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use amt_wsman::classes::{MethodResult, TypedInstance};
use amt_wsman::{Item, Response, ResponseBody};

fn instances(body: &ResponseBody) -> Vec<&amt_wsman::Instance> {
    match body {
        ResponseBody::Get(i) | ResponseBody::Put(Some(i)) => vec![i],
        ResponseBody::Invoke { output, .. } => vec![output],
        ResponseBody::Pull { items, .. } | ResponseBody::Enumerate { items, .. } => items
            .iter()
            .filter_map(|it| match it {
                Item::Instance(i) | Item::Both(i, _) => Some(i),
                Item::Epr(_) => None,
            })
            .collect(),
        _ => vec![],
    }
}

fn sorted(i: &amt_wsman::Instance) -> amt_wsman::Instance {
    let mut i = i.clone();
    i.properties.sort_by(|a, b| a.name.cmp(&b.name));
    i
}

#[test]
fn every_recorded_response_parses_without_loss() {
    let Some(dir) = common::fixtures_dir("wsman-responses") else {
        return;
    };
    let files = common::xml_files(&dir);
    assert!(
        files.len() > 200,
        "expected the whole corpus, found {}",
        files.len()
    );
    let mut typed = 0usize;
    let mut failures = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        let bytes = std::fs::read(f).expect("read fixture");
        if rel.ends_with("getuuid-bad.xml") || rel.ends_with("getuuid.xml") {
            // The UUID recordings: the good one decodes to 16 bytes, the bad one must not.
            let r = Response::parse(&bytes).expect("getuuid envelope parses");
            let ResponseBody::Invoke { output, .. } = &r.body else {
                panic!("{rel}: not a method response");
            };
            let uuid = output.get_text_any_ns("UUID").unwrap_or_default();
            let decoded = amt_wsman::classes::amt::decode_uuid_b64(&uuid);
            assert_eq!(decoded.is_ok(), !rel.contains("-bad"), "{rel}: {decoded:?}");
        }
        let resp = match Response::parse(&bytes) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{rel}: parse error: {e}"));
                continue;
            }
        };
        // 1. Lossless at the document level: our own serialisation is the same document.
        let ours = resp.to_xml();
        if common::canonical_doc(&bytes) != common::canonical_doc(ours.as_bytes()) {
            let a = format!("{:#?}", common::canonical_doc(&bytes));
            let b = format!("{:#?}", common::canonical_doc(ours.as_bytes()));
            let diff: Vec<String> = a
                .lines()
                .zip(b.lines())
                .filter(|(x, y)| x != y)
                .take(6)
                .map(|(x, y)| format!("  recorded: {x}\n  ours:     {y}"))
                .collect();
            failures.push(format!(
                "{rel}: re-serialised document differs:\n{}",
                diff.join("\n")
            ));
            continue;
        }
        match Response::parse(ours.as_bytes()) {
            Ok(again) if again == resp => {}
            Ok(_) => failures.push(format!("{rel}: build -> parse is not the same value")),
            Err(e) => failures.push(format!("{rel}: our own output does not parse: {e}")),
        }
        // 2. Lossless at the typed level: known classes convert and convert back.
        if let ResponseBody::Invoke { method, output } = &resp.body {
            let class = resp.header.resource_uri.as_deref().unwrap_or_default();
            match MethodResult::decode(class, method, output) {
                Ok(t) => {
                    typed += 1;
                    if sorted(&t.to_instance()) != sorted(output) {
                        failures.push(format!("{rel}: typed {method} output loses data"));
                    }
                }
                Err(amt_wsman::Error::UnknownAction(_)) => {}
                Err(e) => failures.push(format!("{rel}: typed {method} output: {e}")),
            }
        }
        for inst in instances(&resp.body) {
            if inst.name.ends_with("_OUTPUT") {
                continue;
            }
            match TypedInstance::from_instance(inst) {
                Ok(t) => {
                    typed += 1;
                    if sorted(&t.to_instance()) != sorted(inst) {
                        failures.push(format!("{rel}: typed {} loses data", inst.name));
                    }
                }
                Err(amt_wsman::Error::UnknownClass(_)) => {}
                Err(e) => failures.push(format!("{rel}: typed {}: {e}", inst.name)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{} fixtures, {typed} typed instances", files.len());
}
