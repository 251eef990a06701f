// Benchmark of the web console's live stream (GET /api/v1/events), run by scripts/bench-web
// against a running `amtd lab`: how long a snapshot of the fleet takes to arrive, and how long a
// change takes to reach every open stream. Prints figures; measures, asserts nothing.
//
// Environment: AMTD_URL (http://host:port), AMTD_TOKEN, AMTD_STREAMS (concurrent streams, default
// 64), AMTD_ROUNDS (changes to time, default 20).
'use strict';

const http = require('http');

const base = new URL(process.env.AMTD_URL);
const token = process.env.AMTD_TOKEN;
const streams = Number(process.env.AMTD_STREAMS || '64');
const rounds = Number(process.env.AMTD_ROUNDS || '20');
const auth = { Authorization: 'Bearer ' + token };

function open(onEvent) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host: base.hostname, port: base.port, path: '/api/v1/events', headers: Object.assign({ Accept: 'text/event-stream' }, auth) }, (res) => {
      if (res.statusCode !== 200) { reject(new Error('status ' + res.statusCode)); return; }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'snapshot') resolve({ req, ms: Number(process.hrtime.bigint() - started) / 1e6, rows: JSON.parse(data).length });
          else if (data) onEvent(event, data);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function post(path, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: base.hostname, port: base.port, path, method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) }, auth) }, (res) => {
      let out = '';
      res.on('data', (c) => { out += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(out)) : reject(new Error(res.statusCode + ' ' + out))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function main() {
  // Snapshot latency, one stream at a time.
  const snaps = [];
  let rows = 0;
  for (let i = 0; i < 10; i++) {
    const s = await open(() => {});
    snaps.push(s.ms);
    rows = s.rows;
    s.req.destroy();
  }
  // Change → every stream: N streams open; a power status read of one device changes its row
  // (last contact); time until all N streams carried that device's event.
  const waiting = new Map();
  const conns = [];
  for (let i = 0; i < streams; i++) {
    conns.push(await open((event, data) => {
      if (event !== 'device') return;
      const row = JSON.parse(data);
      const w = waiting.get(row.uuid);
      if (w && row.last_contact >= w.since) {
        w.got.add(i);
        if (w.got.size === streams) w.done();
      }
    }));
  }
  const devices = JSON.parse(await new Promise((resolve, reject) => {
    http.get({ host: base.hostname, port: base.port, path: '/api/v1/devices', headers: auth }, (res) => {
      let out = '';
      res.on('data', (c) => { out += c; });
      res.on('end', () => resolve(out));
    }).on('error', reject);
  }));
  const lat = [];
  for (let r = 0; r < rounds; r++) {
    const uuid = devices[r % devices.length].uuid;
    const since = Math.floor(Date.now() / 1000);
    const t0 = process.hrtime.bigint();
    const all = new Promise((resolve) => waiting.set(uuid, { since, got: new Set(), done: resolve }));
    await post('/api/v1/power', { targets: { devices: [uuid] }, action: 'status' });
    const tAnswer = process.hrtime.bigint();
    await all;
    waiting.delete(uuid);
    lat.push({ total: Number(process.hrtime.bigint() - t0) / 1e6, afterAnswer: Number(process.hrtime.bigint() - tAnswer) / 1e6 });
    await new Promise((res) => setTimeout(res, 1100)); // next second, so last_contact moves
  }
  for (const c of conns) c.req.destroy();
  const f = (x) => x.toFixed(1);
  console.log(`fleet rows in the snapshot: ${rows}`);
  console.log(`snapshot (connect → snapshot event), 10 streams one after another: median ${f(pct(snaps, 0.5))} ms, max ${f(Math.max(...snaps))} ms`);
  const after = lat.map((l) => l.afterAnswer);
  const total = lat.map((l) => l.total);
  console.log(`change → all ${streams} open streams (${rounds} changes): after the power answer median ${f(pct(after, 0.5))} ms, p95 ${f(pct(after, 0.95))} ms; request → all streams median ${f(pct(total, 0.5))} ms`);
}

main().catch((e) => { console.error(e); process.exit(1); });
