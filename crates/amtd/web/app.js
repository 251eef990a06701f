// amtd web console. Plain JavaScript, no framework, no inline code (the page's
// Content-Security-Policy forbids it). It uses only the REST API under /api/v1: a session
// cookie from POST /api/v1/login and the CSRF token that answer carries (kept in this tab's
// sessionStorage) on every state change.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const main = $('main');
  const CSRF_KEY = 'amtd.csrf';
  const state = { me: null, rows: new Map(), events: null, listeners: new Set(), sol: null };

  // ---- DOM helpers ---------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function when(secs) {
    if (secs === null || secs === undefined) return '';
    const d = new Date(secs * 1000);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function ago(secs) {
    if (!secs) return '';
    const s = Math.max(0, Math.round(Date.now() / 1000 - secs));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  function toast(text, bad) {
    const t = $('toast');
    t.textContent = text;
    t.className = bad ? 'show bad' : 'show';
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.className = ''; }, 6000);
  }

  /// A table: columns are [label, row => cell content].
  function table(rows, columns, opts) {
    opts = opts || {};
    const head = h('tr', {}, columns.map(([label]) => h('th', { text: label })));
    const body = h('tbody', {});
    for (const row of rows) {
      const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(row) : {},
        columns.map(([, f]) => {
          const v = f(row);
          return h('td', {}, v instanceof Node ? v : (v === null || v === undefined ? '' : String(v)));
        }));
      if (opts.onRow) tr.addEventListener('click', () => opts.onRow(row));
      body.append(tr);
    }
    if (!rows.length) {
      body.append(h('tr', {}, h('td', { colspan: columns.length, class: 'empty', text: opts.empty || 'Nothing here yet.' })));
    }
    return h('table', { class: 'grid', 'data-testid': opts.testid }, h('thead', {}, head), body);
  }

  function badge(status) {
    return h('span', { class: 'badge s-' + String(status || 'unknown').replace(/[^a-z]/g, ''), text: status || 'unknown' });
  }

  // ---- API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') {
      headers['X-CSRF-Token'] = sessionStorage.getItem(CSRF_KEY) || '';
      if (body !== undefined) headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (res.status === 401 && path !== '/api/v1/login') {
      showLogin('Your session has ended; sign in again.');
      throw new ApiError(401, 'not signed in');
    }
    if (!res.ok) {
      const msg = (data && data.error) || (typeof data === 'string' && data) || res.statusText;
      throw new ApiError(res.status, msg);
    }
    return data;
  }

  function can(role) {
    const order = ['viewer', 'operator', 'administrator'];
    return state.me && order.indexOf(state.me.role) >= order.indexOf(role);
  }

  // ---- login ----------------------------------------------------------------------------------

  function showLogin(message) {
    stopEvents();
    closeSol();
    state.me = null;
    $('nav').hidden = true;
    $('who').hidden = true;
    main.hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('login-user').focus();
  }

  async function login(ev) {
    ev.preventDefault();
    const user = $('login-user').value;
    const password = $('login-password').value;
    $('login-error').textContent = '';
    try {
      const r = await api('POST', '/api/v1/login', { user, password });
      sessionStorage.setItem(CSRF_KEY, r.csrf_token);
      $('login-password').value = '';
      await start();
    } catch (e) {
      $('login-error').textContent = e.status === 429
        ? 'Too many failed sign-ins; wait a minute and try again.'
        : e.status === 401 ? 'Wrong user name or password.' : 'Sign-in failed: ' + e.message;
    }
  }

  async function logout() {
    try { await api('POST', '/api/v1/logout'); } catch (_) { /* the session may be gone */ }
    sessionStorage.removeItem(CSRF_KEY);
    showLogin('Signed out.');
  }

  async function start() {
    let me;
    try {
      me = await api('GET', '/api/v1/me');
    } catch (e) {
      if (e.status !== 401) showLogin('The server did not answer: ' + e.message);
      return;
    }
    if (me.via === 'session' && !sessionStorage.getItem(CSRF_KEY)) {
      // A session from another tab: this tab has no CSRF token, so it signs in itself.
      showLogin('Sign in to use this tab.');
      return;
    }
    state.me = me;
    $('login').hidden = true;
    $('nav').hidden = false;
    $('who').hidden = false;
    $('who-name').textContent = me.user + ' (' + me.role + ')';
    main.hidden = false;
    startEvents();
    route();
  }

  // ---- live fleet (server-sent events) ------------------------------------------------------

  function startEvents() {
    stopEvents();
    const es = new EventSource('/api/v1/events');
    state.events = es;
    es.addEventListener('snapshot', (m) => {
      state.rows.clear();
      for (const r of JSON.parse(m.data)) state.rows.set(r.uuid, r);
      notify(null);
    });
    es.addEventListener('device', (m) => {
      const r = JSON.parse(m.data);
      state.rows.set(r.uuid, r);
      notify(r.uuid);
    });
    es.addEventListener('removed', (m) => {
      const r = JSON.parse(m.data);
      state.rows.delete(r.uuid);
      notify(r.uuid);
    });
    es.addEventListener('store-error', (m) => {
      toast('The server could not read the fleet: ' + JSON.parse(m.data).error, true);
    });
    es.addEventListener('open', () => setLive(true));
    es.addEventListener('error', () => {
      setLive(false);
      // A refused reconnection (the session ended) closes the stream for good: /me then
      // answers 401 and the sign-in form comes back.
      if (es.readyState === EventSource.CLOSED && state.events === es) {
        api('GET', '/api/v1/me').then(() => startEvents()).catch(() => {});
      }
    });
  }

  function stopEvents() {
    if (state.events) state.events.close();
    state.events = null;
  }

  function setLive(on) {
    const el = document.querySelector('[data-testid=live]');
    if (el) { el.textContent = on ? 'live' : 'reconnecting…'; el.className = on ? 'live on' : 'live'; }
  }

  function notify(uuid) {
    for (const f of state.listeners) f(uuid);
  }

  function listen(f) {
    state.listeners.add(f);
    return () => state.listeners.delete(f);
  }

  // ---- router ---------------------------------------------------------------------------------

  let leave = null;

  function route() {
    if (!state.me) return;
    if (leave) { leave(); leave = null; }
    closeSol();
    const parts = (location.hash || '#/devices').slice(2).split('/');
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.classList.toggle('active', a.dataset.nav === parts[0] || (parts[0] === 'device' && a.dataset.nav === 'devices'));
    }
    main.replaceChildren();
    const view = {
      devices: devicesView,
      device: () => (parts[2] === 'sol' ? solView(parts[1]) : deviceView(parts[1])),
      hellos: hellosView,
      readiness: readinessView,
      pki: pkiView,
    }[parts[0]] || devicesView;
    leave = view() || null;
  }

  // ---- devices --------------------------------------------------------------------------------

  const STATUSES = ['waiting', 'provisioning', 'provisioned', 'failed'];

  function statusOf(r) { return r.status || r.state; }

  function devicesView() {
    const search = h('input', { type: 'search', placeholder: 'Search FQDN, UUID, address, profile, firmware…', 'data-testid': 'device-search' });
    const filter = h('select', { 'data-testid': 'device-filter' },
      h('option', { value: '', text: 'All states' }),
      STATUSES.map((s) => h('option', { value: s, text: s })));
    const counts = h('div', { class: 'counts', 'data-testid': 'device-counts' });
    const holder = h('div', {});
    main.append(
      h('div', { class: 'bar' }, h('h1', { text: 'Devices' }), h('span', { class: 'live', 'data-testid': 'live', text: state.events && state.events.readyState === 1 ? 'live' : 'connecting…' })),
      h('div', { class: 'bar' }, search, filter), counts, holder);
    if (state.events && state.events.readyState === 1) setLive(true);
    const render = () => {
      const q = search.value.trim().toLowerCase();
      const f = filter.value;
      const all = [...state.rows.values()].sort((a, b) => (a.fqdn || a.uuid).localeCompare(b.fqdn || b.uuid));
      const tally = {};
      for (const r of all) tally[statusOf(r)] = (tally[statusOf(r)] || 0) + 1;
      counts.replaceChildren(
        h('span', { 'data-testid': 'count-total', text: all.length + ' devices' }),
        ...STATUSES.map((s) => h('span', { class: 'count' }, badge(s), ' ', h('b', { 'data-testid': 'count-' + s, text: String(tally[s] || 0) }))));
      const rows = all.filter((r) => (!f || statusOf(r) === f) && (!q || [r.fqdn, r.uuid, r.address, r.profile, r.firmware_version, statusOf(r)]
        .some((v) => v && String(v).toLowerCase().includes(q))));
      holder.replaceChildren(table(rows, [
        ['State', (r) => badge(statusOf(r))],
        ['FQDN', (r) => r.fqdn || '—'],
        ['UUID', (r) => h('code', { text: r.uuid })],
        ['Address', (r) => r.address || ''],
        ['Firmware', (r) => r.firmware_version || ''],
        ['Profile', (r) => r.profile || ''],
        ['Power', (r) => r.power_state || ''],
        ['Last contact', (r) => ago(Math.max(r.last_contact || 0, r.updated_at || 0))],
      ], {
        testid: 'devices', empty: 'No devices yet: they appear when their hello arrives.',
        rowAttrs: (r) => ({ 'data-uuid': r.uuid, 'data-status': statusOf(r), class: 'clickable' }),
        onRow: (r) => { location.hash = '#/device/' + r.uuid; },
      }));
    };
    search.addEventListener('input', render);
    filter.addEventListener('change', render);
    render();
    return listen(render);
  }

  // ---- one device -----------------------------------------------------------------------------

  function section(title, ...content) {
    return h('section', { class: 'card' }, h('h2', {}, title), ...content);
  }

  /// Shows `f(answer)` in `el` when `p` settles, unless a newer load of `el` started since
  /// (a slow answer to an older search never replaces a newer one).
  function loading(el, p, f) {
    const ticket = (el.loadTicket || 0) + 1;
    el.loadTicket = ticket;
    el.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
    p.then((v) => { if (el.loadTicket === ticket) el.replaceChildren(f(v)); }).catch((e) => {
      if (el.loadTicket === ticket) el.replaceChildren(h('p', { class: 'error', text: e.message }));
    });
  }

  /// A device's newest amtd audit records: the API pages in chain order (oldest first), so
  /// this follows `next_after` to the end (at most 20 pages of 1000) and keeps the last 100.
  async function latestAudit(uuid) {
    let after = null;
    let last = [];
    for (let page = 0; page < 20; page++) {
      const r = await api('GET', '/api/v1/audit?device=' + uuid + '&limit=1000' + (after === null ? '' : '&after=' + after));
      last = last.concat(r.records).slice(-100);
      if (r.next_after === null || r.next_after === undefined) break;
      after = r.next_after;
    }
    return last.reverse();
  }

  function confirmAction(text) {
    const dlg = $('confirm');
    $('confirm-text').textContent = text;
    return new Promise((resolve) => {
      dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
      dlg.returnValue = '';
      dlg.showModal();
    });
  }

  const PHASE_WORDS = {
    hello: 'Hello received', fqdn: 'FQDN found', certificate: 'Certificate issued',
  };

  function deviceView(uuid) {
    const head = h('div', {});
    const power = h('span', { 'data-testid': 'power-state', class: 'power', text: '…' });
    const actions = h('div', { class: 'actions' });
    const timeline = h('div', {});
    const inventory = h('div', {});
    const certs = h('div', {});
    const events = h('div', {});
    const amtAudit = h('div', {});
    const serverAudit = h('div', {});
    main.append(
      h('p', {}, h('a', { href: '#/devices', text: '← Devices' })),
      head,
      section('Power', h('p', {}, 'Power state: ', power, ' ', h('button', { type: 'button', class: 'link', 'data-testid': 'power-refresh', onclick: () => readPower() }, 'refresh')), actions),
      section('Provisioning timeline', timeline),
      section('Hardware inventory', inventory),
      section('Certificates', certs),
      section('Event log', events),
      section('Audit log (device)', amtAudit),
      section('Audit log (amtd)', serverAudit));

    const renderHead = (d) => {
      const row = state.rows.get(uuid) || {};
      head.replaceChildren(
        h('h1', {}, d.fqdn || uuid, ' ', badge(statusOf(row.status ? row : d))),
        h('dl', { class: 'facts' },
          h('dt', { text: 'UUID' }), h('dd', {}, h('code', { text: uuid })),
          h('dt', { text: 'Address' }), h('dd', { text: d.address || '' }),
          h('dt', { text: 'Firmware' }), h('dd', { text: d.firmware_version || '' }),
          h('dt', { text: 'Profile' }), h('dd', { text: d.profile || '' }),
          h('dt', { text: 'Stored state' }), h('dd', { text: d.state }),
          row.reason ? [h('dt', { text: 'Why it failed' }), h('dd', { class: 'error', text: row.reason })] : null));
    };

    const renderTimeline = (d) => {
      const runs = new Map((d.runs || []).map((r) => [r.run_id, r]));
      const steps = d.timeline || [];
      if (!steps.length) return h('p', { class: 'muted', text: 'No provisioning run yet.' });
      // The last step a run reached is where it stopped: a failed run's reason goes there.
      const last = new Map();
      for (const t of steps) last.set(t.run_id, t);
      return table(steps, [
        ['Run', (t) => String(t.run_id).slice(0, 8)],
        ['#', (t) => t.seq],
        ['Step', (t) => PHASE_WORDS[t.phase] || t.phase],
        ['When', (t) => when(t.at)],
        ['Detail', (t) => t.reason || ''],
        ['Result', (t) => {
          const run = runs.get(t.run_id);
          if (!run || last.get(t.run_id) !== t) return 'ok';
          if (run.outcome === 'failed') return h('span', { class: 'error', 'data-testid': 'failed-step', text: 'failed: ' + (run.reason || 'no reason recorded') });
          if (!run.finished_at) return h('span', { class: 'muted', text: 'in progress' });
          return run.outcome || 'ok';
        }],
      ], { testid: 'timeline', rowAttrs: (t) => ({ class: runs.get(t.run_id) && runs.get(t.run_id).outcome === 'failed' && last.get(t.run_id) === t ? 'failed-row' : null }) });
    };

    let detail = null;
    const loadDevice = () => api('GET', '/api/v1/devices/' + uuid).then((d) => {
      detail = d;
      renderHead(d);
      timeline.replaceChildren(renderTimeline(d));
    }).catch((e) => head.replaceChildren(h('p', { class: 'error', text: e.message })));
    loadDevice();

    const readPower = () => api('GET', '/api/v1/devices/' + uuid + '/power').then((p) => {
      power.textContent = p.power_state || 'unknown';
    }).catch((e) => { power.textContent = 'unreachable (' + e.message + ')'; });
    readPower();

    if (can('operator')) {
      const act = async (label, path, body) => {
        if (!await confirmAction(label + ' — ' + (detail && detail.fqdn || uuid) + '?')) return;
        try {
          const r = await api('POST', path, Object.assign({ targets: { devices: [uuid] } }, body));
          const res = (r.results || [])[0];
          if (res && !res.ok) toast(label + ' failed: ' + res.error, true);
          else {
            toast(label + ': done');
            if (res && res.result && res.result.power_state) power.textContent = res.result.power_state;
          }
          setTimeout(readPower, 1500);
        } catch (e) { toast(label + ' failed: ' + e.message, true); }
      };
      for (const [a, label] of [['on', 'Power on'], ['off', 'Power off'], ['reset', 'Reset'], ['cycle', 'Power cycle']]) {
        actions.append(h('button', { type: 'button', 'data-testid': 'power-' + a, class: a === 'off' ? 'danger' : '', onclick: () => act(label, '/api/v1/power', { action: a }) }, label));
      }
      const boot = h('select', { 'data-testid': 'boot-select' },
        [['pxe', 'Network (PXE)'], ['bios', 'BIOS setup'], ['ider-cd', 'IDE-R CD'], ['ider-floppy', 'IDE-R floppy']]
          .map(([v, t]) => h('option', { value: v, text: t })));
      actions.append(h('span', { class: 'sep' }), 'Next boot: ', boot,
        h('button', { type: 'button', 'data-testid': 'boot-set', onclick: () => act('Set next boot to ' + boot.selectedOptions[0].text, '/api/v1/boot', { next_boot: boot.value }) }, 'Set'),
        h('span', { class: 'sep' }),
        h('a', { class: 'button', href: '#/device/' + uuid + '/sol', 'data-testid': 'open-sol' }, 'Serial-over-LAN console'));
    } else {
      actions.append(h('p', { class: 'muted', text: 'Power, boot and SOL need the operator role.' }));
    }

    const readInventory = () => loading(inventory, api('GET', '/api/v1/devices/' + uuid + '/inventory').catch((e) => {
      if (e.status !== 404) throw e;
      return { items: {}, missing: true };
    }), (inv) => {
      if (inv.missing) {
        return h('div', {}, h('p', { class: 'muted', text: 'No inventory read yet.' }),
          can('operator') ? h('button', { type: 'button', 'data-testid': 'inventory-read', onclick: async () => {
            try {
              await api('POST', '/api/v1/inventory/refresh', { targets: { devices: [uuid] } });
            } catch (e) { toast('Inventory read failed: ' + e.message, true); }
            readInventory();
          } }, 'Read the inventory now') : null);
      }
      const items = inv.items || {};
      const names = Object.keys(items);
      if (!names.length) return h('p', { class: 'muted', text: 'No inventory read yet.' });
      return h('div', {}, h('p', { class: 'muted', text: 'Read ' + when(inv.read_at) }),
        names.map((n) => h('details', {}, h('summary', { text: n }),
          h('dl', { class: 'facts' }, Object.entries(items[n] || {}).map(([k, v]) => [h('dt', { text: k }), h('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) })])))));
    });
    readInventory();
    loading(certs, api('GET', '/api/v1/pki/certificates?q=' + encodeURIComponent(uuid)), (r) => certTable(r.certificates));
    loading(events, api('GET', '/api/v1/devices/' + uuid + '/events?limit=50'), (r) => logTable(r.entries));
    loading(amtAudit, api('GET', '/api/v1/devices/' + uuid + '/audit-log?limit=50'), (r) => logTable(r.entries));
    if (!can('administrator')) serverAudit.replaceChildren(h('p', { class: 'muted', text: 'The audit log needs the administrator role.' }));
    else loading(serverAudit, latestAudit(uuid), (records) => table(records, [
      ['#', (a) => a.seq], ['When', (a) => when(Math.floor(a.at_ms / 1000))], ['Who', (a) => a.actor], ['What', (a) => a.action], ['Result', (a) => a.result],
    ], { testid: 'server-audit', empty: 'No audited actions on this device.' }));

    return listen((changed) => {
      if (changed && changed !== uuid) return;
      const row = state.rows.get(uuid);
      if (row && row.power_state) power.textContent = row.power_state;
      if (detail && row && (row.updated_at !== detail.updated_at || statusOf(row) !== (detail._status || ''))) {
        detail._status = statusOf(row);
        loadDevice();
      }
    });
  }

  function logTable(entries) {
    entries = entries || [];
    if (!entries.length) return h('p', { class: 'muted', text: 'Empty.' });
    const keys = [...new Set(entries.flatMap((e) => Object.keys(e)))].slice(0, 7);
    return table(entries, keys.map((k) => [k, (e) => (typeof e[k] === 'object' && e[k] !== null ? JSON.stringify(e[k]) : e[k])]));
  }

  /// The revocation reasons an administrator picks from (amt-pki's RevocationReason names).
  const REASONS = ['unspecified', 'key-compromise', 'decommissioned'];

  function certTable(list, reload, reasonOf) {
    const revoke = async (c) => {
      const reason = reasonOf ? reasonOf() : 'unspecified';
      if (!await confirmAction('Revoke certificate ' + c.serial + ' (' + c.subject + ') as ' + reason + '? The CRLs are published and pushed to the devices.')) return;
      try {
        await api('POST', '/api/v1/certificates/' + c.serial + '/revoke', { reason });
        toast('Revoked ' + c.serial);
      } catch (e) { toast('Revoke failed: ' + e.message, true); }
      if (reload) reload();
    };
    return table(Array.isArray(list) ? list : [], [
      ['Serial', (c) => h('code', { text: c.serial })],
      ['Subject', (c) => c.subject],
      ['Purpose', (c) => c.purpose || ''],
      ['Issuer', (c) => c.issuer || ''],
      ['Not after', (c) => when(c.not_after)],
      ['Status', (c) => h('span', {}, badge(c.status), c.revocation_reason ? ' ' + c.revocation_reason + ', ' + when(c.revoked_at) : '')],
      ['Device', (c) => (c.device ? h('a', { href: '#/device/' + c.device, text: String(c.device).slice(0, 8) }) : '')],
      ['', (c) => (reload && can('administrator') && c.status === 'valid' && c.issuer !== 'root'
        ? h('button', { type: 'button', class: 'danger', 'data-testid': 'revoke-' + c.serial, onclick: (e) => { e.stopPropagation(); revoke(c); } }, 'Revoke') : '')],
    ], { testid: 'certificates', empty: 'No certificates.' });
  }

  // ---- SOL ------------------------------------------------------------------------------------

  function closeSol() {
    if (state.sol) {
      try { state.sol.ws.close(1000, 'closed by user'); } catch (_) { /* already closed */ }
      try { state.sol.term.dispose(); } catch (_) { /* gone */ }
      state.sol = null;
    }
  }

  function solView(uuid) {
    const status = h('span', { 'data-testid': 'sol-status', class: 'muted', text: 'connecting…' });
    const screen = h('div', { class: 'terminal', 'data-testid': 'sol-terminal' });
    main.append(
      h('p', {}, h('a', { href: '#/device/' + uuid, text: '← Device' })),
      h('div', { class: 'bar' }, h('h1', { text: 'Serial-over-LAN' }), status,
        h('button', { type: 'button', 'data-testid': 'sol-close', onclick: () => { closeSol(); status.textContent = 'closed'; } }, 'Disconnect')),
      screen);
    if (window.AMTD_NO_TERMINAL || !window.Terminal) {
      status.textContent = window.AMTD_NO_TERMINAL || 'xterm.js did not load';
      return null;
    }
    const term = new window.Terminal({ cols: 80, rows: 25, convertEol: false, cursorBlink: true, scrollback: 2000 });
    // The canvas renderer is loaded before open(), so xterm never creates its DOM renderer:
    // that one writes <style> elements, which the Content-Security-Policy (no unsafe-inline)
    // refuses. The addon waits for open() itself.
    if (window.CanvasAddon) term.loadAddon(new window.CanvasAddon.CanvasAddon());
    term.open(screen);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(proto + '//' + location.host + '/api/v1/devices/' + uuid + '/sol');
    ws.binaryType = 'arraybuffer';
    state.sol = { ws, term };
    // Everything the terminal has shown, as text (the browser tests read it).
    screen.dataset.text = '';
    const decoder = new TextDecoder();
    ws.addEventListener('message', (m) => {
      if (typeof m.data === 'string') {
        let s;
        try { s = JSON.parse(m.data); } catch (_) { return; }
        if (s.type === 'status') {
          status.textContent = s.state + (s.reason ? ': ' + s.reason : '');
          status.dataset.state = s.state;
        }
        return;
      }
      const bytes = new Uint8Array(m.data);
      term.write(bytes);
      screen.dataset.text = (screen.dataset.text + decoder.decode(bytes, { stream: true })).slice(-8192);
    });
    ws.addEventListener('close', (e) => {
      if (status.dataset.state !== 'closed') {
        status.textContent = 'closed' + (e.reason ? ': ' + e.reason : '');
        status.dataset.state = 'closed';
      }
    });
    const encoder = new TextEncoder();
    term.onData((d) => { if (ws.readyState === 1) ws.send(encoder.encode(d)); });
    term.focus();
    return null;
  }

  // ---- hellos ---------------------------------------------------------------------------------

  function hellosView() {
    const holder = h('div', {});
    main.append(h('h1', { text: 'Recent hellos' }), holder);
    const load = () => loading(holder, api('GET', '/api/v1/hellos'), (list) => table(list, [
      ['Received', (x) => when(x.received_at)],
      ['Source', (x) => x.source],
      ['Device', (x) => (x.uuid ? h('a', { href: '#/device/' + x.uuid, text: x.uuid }) : '')],
      ['Retry', (x) => x.retry_count],
      ['Outcome', (x) => h('span', { class: /reject|fail|malformed|limit/i.test(x.outcome || '') ? 'error' : '', text: x.outcome })],
      ['Count', (x) => x.count],
    ], { testid: 'hellos', empty: 'No hellos received yet.' }));
    load();
    const timer = setInterval(load, 10000);
    return () => clearInterval(timer);
  }

  // ---- readiness (amtd check) -----------------------------------------------------------------

  const MARK = { pass: '✓', fail: '✗', warn: '⚠', skipped: '–' };

  function readinessView() {
    const holder = h('div', {});
    const run = can('administrator')
      ? h('button', { type: 'button', 'data-testid': 'check-run', onclick: async () => {
        run.disabled = true;
        try { renderReport(await api('POST', '/api/v1/check')); } catch (e) { toast('Check failed: ' + e.message, true); }
        run.disabled = false;
      } }, 'Run the check now') : null;
    main.append(h('div', { class: 'bar' }, h('h1', { text: 'Readiness (amtd check)' }), run), holder);
    const renderReport = (r) => {
      const teams = (r && r.teams) || [];
      if (!teams.length) {
        holder.replaceChildren(h('p', { class: 'muted', text: 'No report yet.' + (run ? ' Run the check.' : '') }));
        return;
      }
      holder.replaceChildren(
        h('p', { class: 'muted', 'data-testid': 'check-summary', text: 'Ran ' + when(r.ran_at) + (r.ran_by ? ' by ' + r.ran_by : '') + (r.summary ? ' — ' + r.summary : '') }),
        ...teams.map((t) => section([h('span', { class: 'mark m-' + t.status, text: MARK[t.status] || t.status }), ' ', t.title || t.team],
          table(t.checks || [], [
            ['', (i) => h('span', { class: 'mark m-' + i.status, text: MARK[i.status] || i.status })],
            ['Check', (i) => i.title || i.id],
            ['Result', (i) => i.detail || ''],
            ['Fix (who and what)', (i) => i.fix || ''],
          ], { testid: 'check-' + t.team }))));
    };
    api('GET', '/api/v1/check').then(renderReport).catch((e) => {
      holder.replaceChildren(h('p', { class: e.status === 404 ? 'muted' : 'error', text: e.status === 404 ? 'No report yet.' : e.message }));
    });
    return null;
  }

  // ---- PKI ------------------------------------------------------------------------------------

  function pkiView() {
    const cas = h('div', {});
    const crls = h('div', {});
    const certs = h('div', {});
    const q = h('input', { type: 'search', placeholder: 'Search subject, SAN, serial, device UUID…', 'data-testid': 'cert-search' });
    const reason = h('select', { 'data-testid': 'revoke-reason' }, REASONS.map((r) => h('option', { value: r, text: r })));
    const status = h('select', { 'data-testid': 'cert-status' }, ['', 'valid', 'revoked', 'expired', 'pending'].map((s) => h('option', { value: s, text: s || 'any status' })));
    main.append(
      h('h1', { text: 'PKI' }),
      section('Trust files',
        h('ul', { class: 'downloads' },
          h('li', {}, h('a', { href: '/api/v1/trust/chain.pem', download: 'amtd-chain.pem', 'data-testid': 'download-chain' }, 'CA chain (PEM, issuing CA first, root last)')),
          h('li', {}, h('a', { href: '/api/v1/trust/mtls-bundle.pem', download: 'amtd-mtls-bundle.pem', 'data-testid': 'download-mtls' }, 'Mutual-TLS bundle (PEM)')),
          h('li', {}, h('a', { href: '/api/v1/trust/redirection.pem', download: 'amtd-redirection.pem', 'data-testid': 'download-redirection' }, 'Redirection (SOL/IDE-R) trust file (PEM)')))),
      section('Certificate authorities', cas),
      section('Revocation lists', crls),
      section('Issued certificates', h('div', { class: 'bar' }, q, status,
        can('administrator') ? h('label', {}, 'Revocation reason ', reason) : null), certs));
    loading(cas, api('GET', '/api/v1/pki/cas'), (r) => table(r.cas || r, [
      ['Role', (c) => c.role], ['Subject', (c) => c.subject], ['Serial', (c) => h('code', { text: c.serial })],
      ['Not after', (c) => when(c.not_after)], ['SHA-256', (c) => h('code', { class: 'small', text: c.sha256 || c.fingerprint_sha256 || '' })],
    ], { testid: 'cas' }));
    const loadCrls = () => loading(crls, api('GET', '/api/v1/pki/crls'), (r) => table(r.crls || r, [
      ['CA', (c) => c.role], ['Number', (c) => c.crl_number ?? ''], ['Entries', (c) => c.entries ?? ''],
      ['This update', (c) => when(c.this_update)], ['Next update', (c) => when(c.next_update)],
      ['Download', (c) => h('a', { href: c.path, download: c.role + '.crl', text: c.path })],
      ['', (c) => (c.overdue ? h('span', { class: 'error', text: c.error || 'overdue' }) : 'current')],
    ], { testid: 'crls' }));
    loadCrls();
    const load = () => {
      const p = new URLSearchParams();
      if (q.value.trim()) p.set('q', q.value.trim());
      if (status.value) p.set('status', status.value);
      p.set('limit', '200');
      loading(certs, api('GET', '/api/v1/pki/certificates?' + p), (r) => h('div', {},
        h('p', { class: 'muted', text: r.total + ' matching' + (r.next ? ' (first ' + r.certificates.length + ' shown)' : '') }),
        certTable(r.certificates, () => { load(); loadCrls(); }, () => reason.value)));
    };
    let timer = null;
    q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 250); });
    status.addEventListener('change', load);
    load();
    return null;
  }

  // ---- start ----------------------------------------------------------------------------------

  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  start();
}());
