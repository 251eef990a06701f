//! Parse and build throughput of amt-wsman beside Intel's Node stack, measured in one run.
//!
//! ```text
//! cargo bench -p amt-wsman --bench throughput
//! ```
//!
//! - parse: [`Response::parse`] of every recorded AMT response in
//!   ../shared/fixtures/wsman-responses (read in place, before timing), against xml2js set up as
//!   Intel's RPS sets it up for AMT responses (tests/node/bench.js);
//! - build: our typed console-side builders writing the request set of tests/node/ops.js, against
//!   Intel's wsman-messages library building the same set. Before timing, every request we build
//!   is checked to be the same document as Node's (canonical comparison, as in
//!   tests/conformance_node.rs), so both sides do the same work.
//!
//! Method (both sides): one warm-up period, then `AMTD_BENCH_RUNS` (default 5) runs of at least
//! `AMTD_BENCH_SECS` (default 1) seconds, each looping over the whole set; the figure is the
//! median run, in messages per second. A benchmark, not a test: nothing is asserted about speed.
//! Without the fixtures it prints `SKIPPED`; without Node it measures the Rust parse side only.
//!
//! `AMTD_BENCH_ONLY=parse` or `=build` measures that Rust row only and skips bench.js, for
//! profiling, e.g. `AMTD_BENCH_ONLY=build valgrind --tool=callgrind target/release/deps/throughput-*`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
mod intel_ops;

use std::hint::black_box;
use std::time::{Duration, Instant};

use amt_wsman::Response;
use intel_ops::{Builder, NodeOp, NodePeer};
use serde_json::Value as Json;

fn env_num(key: &str, default: f64) -> f64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `pass` (one pass over the whole set, returning how many messages it handled) until
/// `secs` have gone by; returns messages per second.
fn timed(pass: &mut dyn FnMut() -> usize, secs: f64) -> f64 {
    let limit = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0usize;
    loop {
        n += pass();
        let elapsed = start.elapsed();
        if elapsed >= limit {
            return n as f64 / elapsed.as_secs_f64();
        }
    }
}

/// Warm-up, then the median of `runs` timed runs.
fn measure(mut pass: impl FnMut() -> usize) -> f64 {
    let secs = env_num("AMTD_BENCH_SECS", 1.0);
    let runs = env_num("AMTD_BENCH_RUNS", 5.0).max(1.0) as usize;
    timed(&mut pass, secs);
    let mut r: Vec<f64> = (0..runs).map(|_| timed(&mut pass, secs)).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

struct NodeSide {
    /// The operations both sides build.
    ops: Vec<NodeOp>,
    builders: Vec<Builder>,
    /// Operations Node builds that we have no typed builder for (left out on both sides).
    left_out: Vec<String>,
    report: Json,
}

/// Runs gen-requests.js, makes our builders for its operations and checks each against Node's
/// XML, then runs bench.js on the operations we can build. `Err` says why there is no Node side.
fn node_side(
    peer: &NodePeer,
    fixtures: &std::path::Path,
    run_bench: bool,
) -> Result<NodeSide, String> {
    if let Some(why) = peer.missing() {
        return Err(why);
    }
    let mut ops = Vec::new();
    let mut builders = Vec::new();
    let mut left_out = Vec::new();
    for op in intel_ops::parse_ops(&peer.run("gen-requests.js", &[])?)? {
        let Ok(b) = intel_ops::our_builder(&op) else {
            left_out.push(op.name);
            continue;
        };
        let ours = b.request(op.message_id).to_xml();
        assert_eq!(
            b.xml(op.message_id),
            ours,
            "{}: direct writer differs",
            op.name
        );
        if common::canonical_doc(ours.as_bytes()) != common::canonical_doc(op.xml.as_bytes()) {
            return Err(format!(
                "{}: our request differs from Node's (see tests/conformance_node.rs)",
                op.name
            ));
        }
        ops.push(op);
        builders.push(b);
    }
    let fixtures = fixtures.to_str().ok_or("fixtures path is not UTF-8")?;
    let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
    let only = names.join(",");
    let mut args = vec![fixtures];
    if !left_out.is_empty() {
        args.extend(["--only", only.as_str()]);
    }
    let report = if run_bench {
        eprintln!("running node bench.js (about half a minute)…");
        let out = peer.run("bench.js", &args)?;
        let report: Json =
            serde_json::from_str(out.trim()).map_err(|e| format!("bench.js output: {e}"))?;
        let built: Vec<&str> = report["build"]["names"]
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        if built != names {
            return Err("bench.js and gen-requests.js build different operation sets".into());
        }
        report
    } else {
        Json::Null
    };
    Ok(NodeSide {
        ops,
        builders,
        left_out,
        report,
    })
}

fn rate(v: &Json) -> Option<f64> {
    v["msgs_per_sec"].as_f64()
}

fn row(what: &str, rust: f64, node: Option<f64>) {
    match node {
        Some(n) => println!(
            "| {what:<28} | {rust:>14.0} | {n:>14.0} | {:>8.1}× |",
            rust / n
        ),
        None => println!("| {what:<28} | {rust:>14.0} | {:>14} | {:>9} |", "—", "—"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`. Without it (`cargo test --benches` / `--all-targets` runs
    // bench targets too) this is a smoke run: every step once, no timing. Any other argument
    // (a filter) is ignored: there is one benchmark.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let Some(dir) = common::fixtures_dir("wsman-responses") else {
        println!("SKIPPED: no fixtures, nothing to measure");
        return;
    };
    let files: Vec<Vec<u8>> = common::xml_files(&dir)
        .iter()
        .map(|p| std::fs::read(p).expect("read fixture"))
        .collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    for (i, f) in files.iter().enumerate() {
        if let Err(e) = Response::parse(f) {
            panic!("fixture {i} does not parse: {e}");
        }
    }

    let only = std::env::var("AMTD_BENCH_ONLY").unwrap_or_default();
    let peer = NodePeer::locate();
    let node = node_side(&peer, &dir, only.is_empty() && !smoke);
    if smoke {
        if let Ok(n) = &node {
            for (b, op) in n.builders.iter().zip(&n.ops) {
                black_box(b.xml(op.message_id));
            }
        }
        println!(
            "smoke run: {} fixtures parsed, Node side {}; measure with `cargo bench -p amt-wsman --bench throughput`",
            files.len(),
            if node.is_ok() { "checked" } else { "absent" }
        );
        return;
    }
    if let Err(why) = &node {
        println!("Node side not measured: {why} (run ./scripts/install-peers)");
    }

    let parse = (only != "build").then(|| {
        measure(|| {
            for f in &files {
                black_box(Response::parse(black_box(f)).is_ok());
            }
            files.len()
        })
    });
    let build = node.as_ref().ok().filter(|_| only != "parse").map(|n| {
        // One output buffer, cleared per request, as a console reuses one per connection.
        let mut out = String::with_capacity(8192);
        measure(|| {
            for (b, op) in n.builders.iter().zip(&n.ops) {
                out.clear();
                b.write_xml(black_box(op.message_id), &mut out);
                black_box(out.len());
            }
            n.builders.len()
        })
    });

    println!();
    println!(
        "amt-wsman throughput: {} fixture files ({} KiB), {} request operations",
        files.len(),
        bytes / 1024,
        node.as_ref().map(|n| n.ops.len()).unwrap_or(0)
    );
    if let Ok(n) = &node {
        if !n.left_out.is_empty() {
            println!(
                "left out of the build set (no typed builder yet): {}",
                n.left_out.join(", ")
            );
        }
    }
    if let Some(n) = node.as_ref().ok().filter(|n| !n.report.is_null()) {
        println!(
            "Node {} · xml2js {} · wsman-messages {} · median of {} runs × {} s",
            n.report["node"].as_str().unwrap_or("?"),
            n.report["xml2js"].as_str().unwrap_or("?"),
            n.report["wsman_messages"].as_str().unwrap_or("?"),
            n.report["runs"],
            n.report["secs_per_run"],
        );
    }
    println!();
    println!(
        "| {:<28} | {:>14} | {:>14} | {:>9} |",
        "operation", "Rust msg/s", "Node msg/s", "ratio"
    );
    println!("|{:-<30}|{:-<16}|{:-<16}|{:-<11}|", "", "", "", "");
    let node_report = node.as_ref().ok().map(|n| &n.report);
    if let Some(parse) = parse {
        row(
            "parse (Response::parse)",
            parse,
            node_report.and_then(|r| rate(&r["parse"])),
        );
    }
    if let Some(build) = build {
        row(
            "build (typed → request XML)",
            build,
            node_report.and_then(|r| rate(&r["build"])),
        );
        // Node's strings are ropes until used; this row adds the UTF-8 encoding that sending
        // does. Our `to_xml` String already is those bytes, so the Rust figure is the same.
        row(
            "build + encode to UTF-8",
            build,
            node_report.and_then(|r| rate(&r["build_bytes"])),
        );
    }
}
