#!/usr/bin/env node
// The Node side of the amt-wsman throughput benchmark (crates/amt-wsman/benches/throughput.rs
// spawns this and prints both sides in one table; see BENCHMARKS.md).
//
//   node tests/node/bench.js <fixtures dir> [--only Name1,Name2,...]
//
// Measures, in messages per second:
//  - parse: every recorded AMT response (*.xml under <fixtures dir>) parsed with xml2js, set up
//    the way Intel's RPS parses AMT responses (device-management-toolkit/rps src/HttpHandler.ts:
//    ignoreAttrs, explicitArray:false, prefixes stripped, numbers and booleans converted);
//  - build: the request set of ops.js (or the operations named after --only, when the Rust side
//    cannot build them all) built with Intel's wsman-messages library: the same operations the
//    Rust side builds;
//  - build_bytes: the same, each request then encoded to the UTF-8 bytes that go on the wire.
//
// Method: one warm-up period, then RUNS runs of at least SECS seconds each, each run looping
// over the whole set; the reported figure is the median run. Files are read before timing.
// Prints one JSON object on stdout. Environment: AMTD_BENCH_SECS (default 1), AMTD_BENCH_RUNS
// (default 5).
'use strict';

const fs = require('fs');
const path = require('path');
const xml2js = require('xml2js');
const { messages, operations } = require('./ops');

const SECS = Number(process.env.AMTD_BENCH_SECS || 1);
const RUNS = Number(process.env.AMTD_BENCH_RUNS || 5);

function xmlFiles(dir) {
  const out = [];
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop();
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.name.endsWith('.xml')) out.push(p);
    }
  }
  return out.sort();
}

// Runs `pass` (one pass over the whole set, returning how many messages it handled) until
// `secs` have gone by; returns messages per second.
function timed(pass, secs) {
  const limit = BigInt(Math.round(secs * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let elapsed = 0n;
  do {
    n += pass();
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return n / (Number(elapsed) / 1e9);
}

function measure(pass) {
  timed(pass, SECS); // warm-up (lets V8 optimise)
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(timed(pass, SECS));
  const sorted = [...runs].sort((a, b) => a - b);
  return { msgs_per_sec: sorted[Math.floor(sorted.length / 2)], runs };
}

// RPS keeps ElementName/InstanceID values with a leading zero as text; everything else that
// looks like a number becomes one.
function numbers(value, name) {
  if ((name === 'ElementName' || name === 'InstanceID') && value.length > 1 && value[0] === '0') {
    return value;
  }
  return xml2js.processors.parseNumbers(value, name);
}

function main() {
  const [dir, flag, list] = process.argv.slice(2);
  if (!dir || (flag !== undefined && (flag !== '--only' || list === undefined))) {
    process.stderr.write('usage: node bench.js <fixtures dir> [--only Name1,Name2,...]\n');
    process.exit(2);
  }
  const only = flag ? new Set(list.split(',')) : null;
  const docs = xmlFiles(dir).map((f) => fs.readFileSync(f, 'utf8'));
  const parser = new xml2js.Parser({
    ignoreAttrs: true,
    mergeAttrs: false,
    explicitArray: false,
    tagNameProcessors: [xml2js.processors.stripPrefix],
    valueProcessors: [numbers, xml2js.processors.parseBooleans],
  });
  let failed = 0;
  let sink = 0;
  // With the default `async: false` the callback runs before parseString returns.
  const parseOne = (doc) =>
    parser.parseString(doc, (err, result) => {
      if (err) failed++;
      else if (result && result.Envelope) sink++;
    });
  docs.forEach(parseOne);
  if (failed || sink !== docs.length) {
    process.stderr.write(`xml2js parsed ${sink} of ${docs.length} fixtures (${failed} failed)\n`);
    process.exit(1);
  }
  const parse = measure(() => {
    for (const d of docs) parseOne(d);
    return docs.length;
  });

  const ops = operations(messages()).filter(([name]) => !only || only.has(name));
  let bytes = 0;
  const build = measure(() => {
    for (const [, , args, make] of ops) bytes += make(args).length;
    return ops.length;
  });
  // V8 concatenates strings lazily (ropes), so `build` leaves the joining of the pieces to
  // whoever uses the string. Sending it (socket.write) encodes it to UTF-8 bytes; this figure
  // includes that step. (A Rust String already is UTF-8 bytes.)
  const buildBytes = measure(() => {
    for (const [, , args, make] of ops) bytes += Buffer.from(make(args), 'utf8').length;
    return ops.length;
  });

  const version = (pkg) =>
    JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
  const out = {
    node: process.version,
    xml2js: version('xml2js'),
    wsman_messages: version('@device-management-toolkit/wsman-messages'),
    secs_per_run: SECS,
    runs: RUNS,
    parse: { files: docs.length, ...parse },
    build: { operations: ops.length, names: ops.map((o) => o[0]), ...build },
    build_bytes: buildBytes,
    sink: sink + bytes, // keeps the work observable
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
