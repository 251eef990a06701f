// Browser test of amtd's web console: headless Debian Chromium driven by playwright-core.
// Started by crates/amtd/tests/web_console.rs against a running `amtd lab`; it prints one JSON
// line of findings on stdout and exits non-zero (with a screenshot of the failing page) when a
// step does not happen.
//
// Environment: AMTD_URL (the console), AMTD_USER, AMTD_PASSWORD, AMTD_DEVICES (fleet size),
// AMTD_RELEASE_FILE (written once the waiting fleet has been seen: the lab then provisions it),
// AMTD_ARTIFACTS (directory for screenshots and the downloaded trust chain), CHROMIUM (default
// /usr/bin/chromium), AMTD_SPKI (optional, for an https console: the base64 SHA-256 of the
// listener certificate's public key, the one key Chromium is told to accept).
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const url = process.env.AMTD_URL;
const user = process.env.AMTD_USER || 'admin';
const password = process.env.AMTD_PASSWORD;
const devices = Number(process.env.AMTD_DEVICES || '3');
const out = process.env.AMTD_ARTIFACTS || '.';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP = 60000;

const findings = { steps: [], csp_violations: [], console_errors: [] };
let page;
let shot = 0;

async function snap(name) {
  shot += 1;
  const file = path.join(out, String(shot).padStart(2, '0') + '-' + name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function step(name) {
  findings.steps.push(name);
  process.stderr.write('browser: ' + name + '\n');
}

async function main() {
  fs.mkdirSync(out, { recursive: true });
  const args = ['--no-sandbox', '--disable-dev-shm-usage'];
  // An https console: accept exactly the listener's key (no blanket certificate-error bypass).
  if (process.env.AMTD_SPKI) args.push('--ignore-certificate-errors-spki-list=' + process.env.AMTD_SPKI);
  const browser = await chromium.launch({ executablePath, headless: true, args });
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1400, height: 1000 },
  });
  page = await context.newPage();
  page.setDefaultTimeout(STEP);
  page.on('console', (m) => {
    const t = m.text();
    if (/Content.Security.Policy/i.test(t)) findings.csp_violations.push(t);
    else if (m.type() === 'error') findings.console_errors.push(t);
  });
  page.on('pageerror', (e) => findings.console_errors.push('page error: ' + e.message));

  // 1. Log in.
  await page.goto(url);
  await page.waitForSelector('#login-form', { state: 'visible' });
  await snap('login');
  await page.fill('#login-user', user);
  await page.fill('#login-password', 'wrong password!!');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  findings.wrong_password_message = await page.textContent('#login-error');
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('[data-testid=devices]');
  findings.who = await page.textContent('#who-name');
  const cookie = (await context.cookies()).find((c) => c.name === 'amtd_session');
  findings.session_cookie = cookie ? { secure: cookie.secure, httpOnly: cookie.httpOnly, sameSite: cookie.sameSite } : null;
  step('logged in as ' + findings.who);

  // 2. Watch the fleet get provisioned, without reloading the page.
  await page.evaluate(() => { window.__sameDocument = 'yes'; });
  await page.waitForSelector('[data-testid=live].on');
  const provisioned = async () => Number((await page.textContent('[data-testid=count-provisioned]')).trim());
  findings.provisioned_at_login = await provisioned();
  await snap('fleet-waiting');
  // The lab holds the fleet's hellos until this file exists: let it provision now.
  if (process.env.AMTD_RELEASE_FILE) fs.writeFileSync(process.env.AMTD_RELEASE_FILE, 'go');
  const seen = new Set();
  const deadline = Date.now() + 180000;
  for (;;) {
    for (const s of await page.$$eval('[data-testid=devices] tr[data-status]', (rows) => rows.map((r) => r.dataset.status))) seen.add(s);
    if ((await provisioned()) >= devices) break;
    if (Date.now() > deadline) throw new Error('the table never showed ' + devices + ' provisioned devices');
    await page.waitForTimeout(100);
  }
  // The sample that ended the loop was taken after the last status read: read them once more.
  for (const s of await page.$$eval('[data-testid=devices] tr[data-status]', (rows) => rows.map((r) => r.dataset.status))) seen.add(s);
  findings.statuses_seen = [...seen];
  findings.same_document = await page.evaluate(() => window.__sameDocument);
  await snap('fleet-provisioned');
  step('fleet provisioned: ' + (await provisioned()) + ' devices, statuses seen ' + findings.statuses_seen.join(','));

  // Search narrows the table.
  await page.fill('[data-testid=device-search]', 'amtdev00002');
  findings.rows_after_search = await page.$$eval('[data-testid=devices] tr[data-uuid]', (r) => r.length);
  await page.fill('[data-testid=device-search]', '');

  // 3. Open a device; power it off and on again with confirmations, watching the state change.
  const uuid = await page.getAttribute('[data-testid=devices] tr[data-uuid]', 'data-uuid');
  findings.device = uuid;
  await page.click('[data-testid=devices] tr[data-uuid="' + uuid + '"]');
  await page.waitForSelector('[data-testid=timeline]');
  await page.waitForFunction(() => document.querySelector('[data-testid=power-state]').textContent === 'on');
  findings.timeline_steps = await page.$$eval('[data-testid=timeline] tbody tr', (r) => r.length);
  await snap('device');
  step('device page: ' + findings.timeline_steps + ' timeline steps, power on');

  const power = async (action, expect) => {
    await page.click('[data-testid=power-' + action + ']');
    await page.waitForSelector('#confirm[open]');
    findings['confirm_' + action] = await page.textContent('#confirm-text');
    await page.click('#confirm-ok');
    await page.waitForFunction((want) => document.querySelector('[data-testid=power-state]').textContent === want, expect);
  };
  // A cancelled confirmation does nothing.
  await page.click('[data-testid=power-off]');
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-cancel');
  await page.waitForTimeout(1500);
  findings.after_cancel = await page.textContent('[data-testid=power-state]');
  await power('off', 'off');
  await snap('powered-off');
  findings.table_power_after_off = await page.evaluate(async (id) => {
    location.hash = '#/devices';
    for (let i = 0; i < 100; i++) {
      const row = document.querySelector('[data-testid=devices] tr[data-uuid="' + id + '"]');
      if (row && row.children[6].textContent === 'off') return 'off';
      await new Promise((r) => setTimeout(r, 100));
    }
    const row = document.querySelector('[data-testid=devices] tr[data-uuid="' + id + '"]');
    return row ? row.children[6].textContent : 'missing';
  }, uuid);
  await page.click('[data-testid=devices] tr[data-uuid="' + uuid + '"]');
  await page.waitForFunction(() => document.querySelector('[data-testid=power-state]').textContent === 'off');
  await power('on', 'on');
  await power('cycle', 'on');
  await snap('power-cycled');
  step('power off → on → cycle seen on the page');

  // 4. SOL in the browser: the emulated host's login prompt.
  await page.click('[data-testid=open-sol]');
  await page.waitForSelector('[data-testid=sol-terminal] .xterm');
  await page.waitForFunction(() => /login: $/.test(document.querySelector('[data-testid=sol-terminal]').dataset.text || ''), null, { timeout: 90000 });
  findings.sol_status = await page.textContent('[data-testid=sol-status]');
  await page.keyboard.type('root\r');
  await page.waitForFunction(() => /Password: ?$/.test(document.querySelector('[data-testid=sol-terminal]').dataset.text || ''));
  findings.sol_text = (await page.getAttribute('[data-testid=sol-terminal]', 'data-text')).slice(-400);
  await snap('sol');
  await page.click('[data-testid=sol-close]');
  step('SOL showed the login prompt and answered a typed user name');

  // 5. PKI: download the PEM trust chain (its order is checked by the Rust side with openssl).
  await page.goto(url + '#/pki');
  await page.waitForSelector('[data-testid=cas] tbody tr');
  await page.waitForSelector('[data-testid=certificates] tbody tr');
  await snap('pki');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('[data-testid=download-chain]'),
  ]);
  const chain = path.join(out, 'chain.pem');
  await download.saveAs(chain);
  findings.chain_file = chain;
  findings.chain_suggested_name = download.suggestedFilename();
  step('downloaded the trust chain');

  // 6. Hellos and readiness pages render.
  await page.goto(url + '#/hellos');
  await page.waitForSelector('[data-testid=hellos] tbody tr');
  findings.hello_rows = await page.$$eval('[data-testid=hellos] tbody tr', (r) => r.length);
  await snap('hellos');
  // Readiness: run the check (administrator) and read the per-team report.
  await page.goto(url + '#/readiness');
  await page.click('[data-testid=check-run]');
  await page.waitForSelector('[data-testid=check-summary]', { timeout: 120000 });
  findings.check_teams = await page.$$eval('table[data-testid^=check-]', (t) => t.map((x) => x.dataset.testid.slice(6)));
  await snap('readiness');
  // PKI: revoke one device certificate from the page; its status and the CRL count follow.
  await page.goto(url + '#/pki');
  await page.fill('[data-testid=cert-search]', 'amtdev00003');
  await page.selectOption('[data-testid=revoke-reason]', 'decommissioned');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=certificates] tbody tr [data-testid^=revoke-]').length === 1);
  await page.click('[data-testid=certificates] tbody tr [data-testid^=revoke-]');
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok');
  // The table is reloaded after the revocation (it shows "Loading…" in between).
  await page.waitForFunction(() => /revoked decommissioned/.test(document.querySelector('[data-testid=certificates] tbody')?.textContent || ''));
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=crls] tbody tr')].some((r) => r.children[0].textContent === 'issuing' && r.children[2].textContent === '1'));
  findings.revoked_on_page = true;
  await snap('pki-revoked');

  // 7. Log out: the API refuses the old session.
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  findings.after_logout = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  await snap('logged-out');
  await browser.close();
}

main().then(() => {
  process.stdout.write(JSON.stringify(findings) + '\n');
}).catch(async (e) => {
  findings.error = String(e && e.stack || e);
  try { if (page) findings.failure_screenshot = await snap('failure'); } catch (_) { /* page gone */ }
  process.stdout.write(JSON.stringify(findings) + '\n');
  process.exit(1);
});
