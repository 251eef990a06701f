#!/usr/bin/env node
// Builds WS-Management requests with Intel's own message library
// (@device-management-toolkit/wsman-messages, the one Intel's RPS and MPS use) and prints them
// as JSON for crates/amt-wsman/tests/conformance_node.rs:
//
//   [{ "name", "class", "action", "message_id", "xml", "args" }, ...]
//
// The operations and their arguments are in ops.js. `args` holds the argument values passed to
// the library, under stable names the Rust side reads back; `message_id` is the MessageID the
// library put in that request's header (a per-schema counter, see ops.js). The output is the
// same on every run.
'use strict';

const { messages, operations } = require('./ops');

function tag(xml, name) {
  const m = xml.match(new RegExp(`<a:${name}>([^<]*)</a:${name}>`));
  if (!m) throw new Error(`no <a:${name}> in generated request`);
  return m[1];
}

const out = operations(messages()).map(([name, cls, args, build]) => {
  const before = JSON.stringify(args);
  const xml = build(args);
  // bench.js builds from the same `args` over and over; the library must not have changed them.
  if (JSON.stringify(args) !== before) throw new Error(`${name}: the library modified its arguments`);
  return { name, class: cls, action: tag(xml, 'Action'), message_id: tag(xml, 'MessageID'), xml, args };
});

process.stdout.write(JSON.stringify(out, null, 1) + '\n');
