// The customs officer's console. No framework, no build step: it reads the
// zone API with the officer's bearer token and follows GET /v1/stream (read
// with fetch so the token travels in the Authorization header, never in a
// URL). Every text from the API is put in the page as text, never as HTML.
'use strict';
(function () {
  const TOKEN_KEY = 'bondgate.token';
  const LANG_KEY = 'bondgate.lang';
  const TRANSIT_MARK = 40; // minutes: the first GEnx-1B's direct entry
  const QUEUE_STATUSES = ['submitted', 'inspection'];
  const MOVE_STATUSES = ['cleared', 'crossed', 'arrived'];
  const CROSSINGS_PER_GATE = 8;
  // A visit whose work ended (repaired or unrepairable) more than this long
  // ago and has not departed is overdue for departure.
  const VISIT_OVERDUE_DAYS = 30;
  const VISIT_STATUSES = ['in_repair', 'repaired', 'unrepairable'];
  const KINDS = [['aircraft', 'aircraft'], ['engines', 'engine'], ['parts_batches', 'parts'], ['equipment', 'equipment']];

  const st = {
    token: null,
    lang: localStorage.getItem(LANG_KEY) || 'zh-CN',
    lastId: null,        // last stream event ID received (Last-Event-ID)
    conn: 'off',
    behindSince: null,
    decls: new Map(),    // id → pre-declaration
    crossings: new Map(), // id → crossing
    alarms: new Map(),   // id → open alarm
    gates: new Map(),    // id → gate board
    entries: null,       // temporary entries due soon; null: panel hidden
    scraps: null,        // scrap requests waiting for customs; null: panel hidden
    visits: null,        // id → maintenance visit in the zone; null: panel hidden
    writeoffs: new Map(), // id → submitted write-off period
    stream: null,        // AbortController of the open stream
    statsPeriod: 'last12',
  };

  // ---------- helpers ----------
  const $ = (id) => document.getElementById(id);
  function t(key, vars) {
    return window.i18nText(st.lang, key, vars);
  }
  function hasText(key) {
    return (window.I18N[st.lang] || {})[key] !== undefined || window.I18N['zh-CN'][key] !== undefined;
  }
  function tOr(key, fallback) {
    const dict = window.I18N[st.lang] || {};
    return dict[key] !== undefined ? dict[key] : fallback;
  }
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'fk') el.dataset.fk = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, v);
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // keepFocus wraps a render function: the element that had the keyboard
  // focus (marked with data-fk) has it again after the render.
  function keepFocus(render) {
    return function () {
      const a = document.activeElement;
      const key = a && a.dataset ? a.dataset.fk : undefined;
      render();
      if (key) {
        const el = document.querySelector('[data-fk="' + CSS.escape(key) + '"]');
        if (el && el !== document.activeElement) el.focus();
      }
    };
  }
  // Dates are written YYYY-MM-DD HH:MM in both languages (local time): a
  // locale's 12/01 reads as December in one and January in the other.
  const pad2 = (n) => String(n).padStart(2, '0');
  function fmtDate(v) {
    const d = new Date(v);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate());
  }
  function fmtTime(v, seconds) {
    if (!v) return '—';
    const d = new Date(v);
    return fmtDate(d) + ' ' + pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + (seconds ? ':' + pad2(d.getSeconds()) : '');
  }
  // fmtClock is a board's short time: the clock alone today, else the date too.
  function fmtClock(v) {
    const d = new Date(v);
    return fmtDate(d) === fmtDate(new Date()) ? pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()) : fmtTime(d);
  }
  function fmtSpan(ms) {
    const sec = Math.max(0, Math.floor(ms / 1000));
    if (sec < 60) return t('ago.s', { n: sec });
    const min = Math.floor(sec / 60);
    if (min < 60) return t('ago.m', { n: min });
    if (min < 48 * 60) return t('ago.h', { h: Math.floor(min / 60), m: min % 60 });
    return t('ago.d', { n: Math.floor(min / 1440) });
  }
  function objectLabel(o) {
    if (!o) return '—';
    const kind = t('kind.' + o.kind);
    const id = o.esn || o.registration || o.part_number || o.description || '';
    const model = o.model || o.type || '';
    return [kind, id, model].filter(Boolean).join(' · ');
  }
  function statusBadge(status) {
    return h('span', { class: 'badge st-' + status }, t('status.' + status));
  }
  function decisionBadge(d) {
    return h('span', { class: 'badge dec-' + d }, t('decision.' + d));
  }

  // ---------- API ----------
  class APIError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }
  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: 'Bearer ' + st.token, Accept: 'application/json' }, cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (resp.status === 401) {
      signOut(t('err.session'));
      throw new APIError(401, t('err.session'));
    }
    if (!resp.ok) {
      let msg = (data && (data.detail || data.title)) || resp.statusText;
      if (data && Array.isArray(data.errors)) msg += ': ' + data.errors.map((e) => e.field + ' ' + e.message).join('; ');
      throw new APIError(resp.status, msg);
    }
    return data;
  }
  async function listAll(path, maxPages) {
    let items = [];
    let cursor = '';
    for (let i = 0; i < maxPages; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api('GET', path + (cursor ? sep + 'cursor=' + encodeURIComponent(cursor) : ''));
      items = items.concat(page.items || []);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    return items;
  }
  function showBanner(msg) {
    const b = $('banner');
    b.textContent = msg;
    b.hidden = !msg;
  }

  // ---------- sign-in ----------
  function takeFragmentToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  async function signIn(token) {
    st.token = token;
    try {
      await api('GET', '/v1/alarms?state=open&limit=1');
    } catch (e) {
      st.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(e.status === 403 ? t('signin.role') : (e.status === 401 ? t('signin.bad') : e.message));
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('signin').hidden = true;
    $('main').hidden = false;
    $('signout').hidden = false;
    st.lastId = null;
    streamLoop();
    loadStats();
    loadTransit();
  }
  function showSignIn(err) {
    $('signin').hidden = false;
    $('main').hidden = true;
    $('signout').hidden = true;
    $('signin-error').textContent = err || '';
    setConn('off');
    $('token').value = '';
    $('token').focus();
  }
  function signOut(msg) {
    st.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (st.stream) st.stream.abort();
    st.stream = null;
    st.decls.clear(); st.crossings.clear(); st.alarms.clear(); st.gates.clear();
    showSignIn(msg);
  }

  // ---------- live stream ----------
  function setConn(c) {
    st.conn = c;
    if (c === 'live') st.behindSince = null;
    renderConn();
  }
  function renderConn() {
    const el = $('conn');
    el.className = 'conn conn-' + st.conn;
    if (st.conn === 'behind') {
      const secs = st.behindSince ? Math.round((Date.now() - st.behindSince) / 1000) : 0;
      el.textContent = t('conn.behind', { s: secs });
    } else {
      el.textContent = t('conn.' + st.conn);
    }
  }
  async function streamLoop() {
    let backoff = 1000;
    while (st.token) {
      const ctrl = new AbortController();
      st.stream = ctrl;
      let watchdog = null;
      const kick = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => ctrl.abort(), 45000); // heartbeats come every 15 s
      };
      try {
        if (st.conn !== 'behind') setConn('connecting');
        const headers = { Authorization: 'Bearer ' + st.token, Accept: 'text/event-stream' };
        if (st.lastId !== null) headers['Last-Event-ID'] = String(st.lastId);
        kick();
        const resp = await fetch('/v1/stream', { headers, signal: ctrl.signal, cache: 'no-store' });
        if (resp.status === 401 || resp.status === 403) {
          clearTimeout(watchdog);
          signOut(t('err.session'));
          return;
        }
        if (!resp.ok || !resp.body) throw new Error('stream answered ' + resp.status);
        if (st.lastId !== null) setConn('catchup');
        await readSSE(resp.body, (ev) => { backoff = 1000; onStreamEvent(ev); }, kick);
        throw new Error('stream ended');
      } catch (e) {
        clearTimeout(watchdog);
        if (!st.token || st.stream !== ctrl) return;
        if (!st.behindSince) st.behindSince = Date.now();
        setConn('behind');
        await sleep(backoff + Math.random() * 500);
        backoff = Math.min(backoff * 2, 30000);
      }
    }
  }
  // readSSE parses a text/event-stream body (WHATWG rules) and calls onEvent
  // with {id, event, data} for each event; onData on every chunk.
  async function readSSE(body, onEvent, onData) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let ev = { id: null, event: '', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onData();
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1);
        if (line === '') {
          if (ev.data.length) onEvent({ id: ev.id, event: ev.event || 'message', data: ev.data.join('\n') });
          ev = { id: null, event: '', data: [] };
          continue;
        }
        if (line[0] === ':') continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'data') ev.data.push(val);
        else if (field === 'event') ev.event = val;
        else if (field === 'id') ev.id = val;
      }
    }
  }
  function onStreamEvent(ev) {
    if (ev.id !== null && ev.id !== '') st.lastId = Number(ev.id);
    let data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    switch (ev.event) {
      case 'ready':
        setConn('live');
        if (!data.resumed) loadLists();
        break;
      case 'reset':
        setConn('reset');
        break;
      case 'declaration':
        upsertDecl(data.record);
        renderQueue();
        if (data.record.status === 'arrived') loadTransit(); // a new transit time
        break;
      case 'crossing':
        st.crossings.set(data.record.id, data.record);
        renderGates();
        break;
      case 'alarm':
        if (data.record.state === 'open') st.alarms.set(data.record.id, data.record);
        else st.alarms.delete(data.record.id);
        renderAlarms();
        break;
      case 'temporary_entry':
        if (st.entries) loadEntries();
        break;
      case 'gate':
        st.gates.set(data.id, data);
        renderGates();
        break;
      case 'visit':
        if (!st.visits) break;
        if (VISIT_STATUSES.includes(data.record.status)) st.visits.set(data.record.id, data.record);
        else st.visits.delete(data.record.id);
        renderVisits();
        break;
      case 'writeoff':
        if (data.record.status === 'submitted') st.writeoffs.set(data.record.id, data.record);
        else st.writeoffs.delete(data.record.id);
        renderWriteOffs();
        break;
    }
  }

  // ---------- loading ----------
  function upsertDecl(d) {
    const old = st.decls.get(d.id);
    if (old && old.version > d.version) return;
    st.decls.set(d.id, d);
  }
  async function loadLists() {
    try {
      const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
      const [gates, crossings, alarms, ...decls] = await Promise.all([
        api('GET', '/v1/gates'),
        listAll('/v1/crossings?limit=500&since=' + encodeURIComponent(since), 10),
        listAll('/v1/alarms?state=open&limit=500', 2),
        ...QUEUE_STATUSES.concat(MOVE_STATUSES).map((s) => listAll('/v1/predeclarations?limit=500&status=' + s, 2)),
      ]);
      for (const g of gates.items || []) st.gates.set(g.id, g);
      for (const x of crossings) st.crossings.set(x.id, x);
      st.alarms.clear();
      for (const a of alarms) st.alarms.set(a.id, a);
      const fresh = new Map();
      for (const list of decls) for (const d of list) fresh.set(d.id, d);
      for (const [id, d] of st.decls) {
        const f = fresh.get(id);
        if (f && d.version > f.version) fresh.set(id, d);
      }
      st.decls = fresh;
      showBanner('');
    } catch (e) {
      if (st.token) showBanner(t('err.load', { e: e.message }));
    }
    renderAll();
    loadEntries();
  }
  async function loadEntries() {
    const due = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
    try {
      const items = await listAll('/v1/temporary-entries?limit=500&due_before=' + encodeURIComponent(due), 4);
      st.entries = items.filter((e) => e.status !== 'reexported');
    } catch (e) {
      st.entries = null; // not offered by this API: hide the panel
    }
    renderEntries();
    loadScraps();
    loadMaintenance();
  }
  // Scrap requests wait for customs; the panel lists them with the decision.
  async function loadScraps() {
    try {
      const lots = await listAll('/v1/parts/lots?limit=500', 4);
      st.scraps = [];
      for (const l of lots) for (const m of l.movements || []) {
        if (m.kind === 'scrap' && m.status === 'pending') st.scraps.push({ lot: l, m });
      }
    } catch (e) {
      st.scraps = null;
    }
    renderScraps();
  }
  function renderScraps() {
    const panel = $('scraps-panel');
    if (!st.scraps) { panel.hidden = true; return; }
    panel.hidden = false;
    $('scraps').tBodies[0].replaceChildren(...st.scraps.map(({ lot, m }) => {
      const err = h('span', { class: 'error small', role: 'alert' });
      const decide = (decision) => async () => {
        const body = { decision };
        if (decision === 'reject') {
          body.reason = window.prompt(t('scraps.reason')) || '';
          if (!body.reason.trim()) return;
        }
        try {
          await api('POST', '/v1/parts/lots/' + encodeURIComponent(lot.id) + '/movements/' + encodeURIComponent(m.id) + '/approval', body);
          loadScraps();
        } catch (e) { err.textContent = e.message; }
      };
      return h('tr', { 'data-id': m.id },
        h('td', {}, lot.part_number + ' ' + (lot.description || '')),
        h('td', {}, lot.firm),
        h('td', {}, String(m.quantity) + ' ' + lot.unit),
        h('td', {}, fmtTime(m.at)),
        h('td', {},
          h('button', { type: 'button', class: 'primary', fk: 'sa:' + m.id, onclick: decide('approve') }, t('scraps.approve')),
          h('button', { type: 'button', fk: 'sr:' + m.id, onclick: decide('reject') }, t('scraps.reject')), err));
    }));
    $('scraps-empty').hidden = st.scraps.length > 0;
  }

  // ---------- bonded maintenance ----------
  // Visits in the zone (in repair, finished but not departed) and the
  // write-off periods submitted to customs; the stream keeps both current.
  async function loadMaintenance() {
    try {
      const [visits, writeoffs] = await Promise.all([
        Promise.all(VISIT_STATUSES.map((s) => listAll('/v1/maintenance/visits?limit=500&status=' + s, 4))),
        listAll('/v1/writeoffs?status=submitted', 1),
      ]);
      st.visits = new Map();
      for (const list of visits) for (const v of list) st.visits.set(v.id, v);
      st.writeoffs = new Map(writeoffs.map((w) => [w.id, w]));
    } catch (e) {
      st.visits = null; // not offered by this API: hide the panel
    }
    renderVisits();
    renderWriteOffs();
  }
  function visitOverdue(v) {
    return VISIT_STATUSES.slice(1).includes(v.status) && v.outcome_at &&
      Date.now() - new Date(v.outcome_at) > VISIT_OVERDUE_DAYS * 86400000;
  }
  const renderVisits = keepFocus(() => renderVisitsNow());
  function renderVisitsNow() {
    const panel = $('visits-panel');
    if (!st.visits) { panel.hidden = true; return; }
    panel.hidden = false;
    // Overdue first, then those waiting to leave, then in repair; oldest first.
    const rank = (v) => (visitOverdue(v) ? 0 : v.status === 'in_repair' ? 2 : 1);
    const since = (v) => v.outcome_at || v.entered_at || v.created_at;
    const rows = [...st.visits.values()].sort((a, b) => rank(a) - rank(b) || new Date(since(a)) - new Date(since(b)));
    $('visits').tBodies[0].replaceChildren(...rows.map((v) => {
      const over = visitOverdue(v);
      const flag = over ? t('visits.overdue') : v.status !== 'in_repair' ? t('visits.waiting') : (v.deposit === 'exempt' ? t('visits.exempt') : '');
      return h('tr', { 'data-id': v.id, 'data-status': v.status, class: over ? 'overdue' : '' },
        h('td', {}, objectLabel(v.object)),
        h('td', {}, v.firm),
        h('td', {}, v.customer),
        h('td', {}, statusBadge(v.status)),
        h('td', { class: 'small' }, fmtTime(since(v))),
        h('td', { class: over ? 'over' : (v.status !== 'in_repair' ? 'warn' : 'muted') }, flag));
    }));
    $('visits-count').textContent = rows.length ? String(rows.length) : '';
    $('visits-empty').hidden = rows.length > 0;
  }
  const renderWriteOffs = keepFocus(() => renderWriteOffsNow());
  function renderWriteOffsNow() {
    if (!st.visits) return;
    const rows = [...st.writeoffs.values()].sort((a, b) => new Date(a.submitted_at) - new Date(b.submitted_at));
    $('writeoffs').tBodies[0].replaceChildren(...rows.map((w) => {
      const err = h('span', { class: 'error small', role: 'alert' });
      const decide = (decision) => async () => {
        const body = { decision };
        if (decision === 'return') {
          body.reason = window.prompt(t('writeoffs.reason')) || '';
          if (!body.reason.trim()) return;
        }
        try {
          await api('POST', '/v1/writeoffs/' + encodeURIComponent(w.id) + '/decision', body);
          st.writeoffs.delete(w.id);
          renderWriteOffs();
          loadMaintenance();
        } catch (e) { err.textContent = e.message; }
      };
      const sum = w.summary || {};
      return h('tr', { 'data-id': w.id },
        h('td', {}, w.firm),
        h('td', { class: 'small' }, w.from + ' – ' + w.to),
        h('td', { class: 'small' }, fmtTime(w.submitted_at)),
        h('td', { class: 'small' }, t('writeoffs.summary', { o: sum.visits_opened || 0, d: sum.visits_departed || 0, c: sum.visits_carried_over || 0 })),
        h('td', {},
          h('button', { type: 'button', class: 'primary', fk: 'wv:' + w.id, onclick: decide('verify') }, t('writeoffs.verify')),
          h('button', { type: 'button', fk: 'wr:' + w.id, onclick: decide('return') }, t('writeoffs.return')), err));
    }));
    $('writeoffs-count').textContent = rows.length ? String(rows.length) : '';
    $('writeoffs-empty').hidden = rows.length > 0;
  }

  // ---------- gate board ----------
  const renderGates = keepFocus(() => renderGatesNow());
  function renderGatesNow() {
    const root = $('gates');
    root.replaceChildren();
    if (st.gates.size === 0) {
      root.append(h('p', { class: 'muted' }, t('gates.none')));
      return;
    }
    const byGate = new Map();
    for (const x of st.crossings.values()) {
      if (!byGate.has(x.gate)) byGate.set(x.gate, []);
      byGate.get(x.gate).push(x);
    }
    for (const g of [...st.gates.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const status = g.status || {};
      const link = !g.reachable ? 'unreachable' : status.link;
      const sensors = status.sensors || [];
      const xs = (byGate.get(g.id) || []).sort((a, b) => new Date(b.time) - new Date(a.time)).slice(0, CROSSINGS_PER_GATE);
      const depth = status.outbox_depth || 0;
      root.append(h('article', { class: 'gate card', 'data-gate': g.id },
        h('header', { class: 'gate-head' },
          h('h3', {}, g.id),
          h('span', { class: 'badge link-' + link }, t('gate.link') + ' ' + t('gate.' + link))),
        g.problem ? h('p', { class: 'error small' }, g.problem) : null,
        h('dl', { class: 'facts' },
          h('dt', {}, t('gate.clearances')), h('dd', {}, g.reachable ? String(status.clearances ?? '—') : '—'),
          h('dt', {}, t('gate.outbox')), h('dd', { class: depth > 0 ? 'warn' : '' },
            g.reachable ? String(depth) : '—',
            depth > 0 && g.backlog_since ? ' · ' + t('gate.outbox.age', { d: fmtSpan(Date.now() - new Date(g.backlog_since)) }) : '')),
        h('div', { class: 'sensors', 'aria-label': t('gate.sensors') },
          sensors.map((x) => h('span', { class: 'sensor ' + (x.ok ? 'ok' : 'bad'), title: x.problem || '' },
            x.device_id + ' ' + (x.ok ? t('gate.sensor.ok') : t('gate.sensor.bad')) +
            (x.last_seen ? ' · ' + t('gate.sensor.seen', { d: fmtSpan(Date.now() - new Date(x.last_seen)) }) : '')))),
        h('h4', {}, t('gate.crossings')),
        xs.length === 0 ? h('p', { class: 'muted small' }, t('gate.nocrossings')) :
          h('ul', { class: 'crossings' }, xs.map((x) => h('li', {},
            h('button', { type: 'button', class: 'crossing dec-' + x.decision, 'data-crossing': x.id, fk: 'x:' + x.id, onclick: () => showCrossing(x.id) },
              h('span', { class: 'x-time', title: fmtTime(x.time, true) }, fmtClock(x.time)),
              h('span', { class: 'x-dec' }, t('decision.' + x.decision)),
              h('span', { class: 'x-id' }, x.identity ? x.identity.value : (x.object_class || '—')),
              h('span', { class: 'x-dir' }, t('dir.' + x.direction)),
              x.release_note ? h('span', { class: 'x-note' }, x.release_note) : null))))));
    }
  }
  function showCrossing(id) {
    const x = st.crossings.get(id);
    if (!x) return;
    const row = (k, ...v) => [h('dt', {}, t(k)), h('dd', {}, ...v)];
    const body = h('dl', { class: 'detail' },
      row('x.id', h('code', {}, x.id)),
      row('x.gate', x.gate + ' / ' + x.segment),
      row('x.decision', decisionBadge(x.decision)),
      row('x.direction', t('dir.' + x.direction)),
      row('x.class', x.object_class || '—'),
      row('x.time', fmtTime(x.time, true)),
      row('x.decided', fmtTime(x.decided_at, true)),
      row('x.identity', x.identity ? (hasText('read.' + x.identity.kind) ? t('read.' + x.identity.kind) : x.identity.kind) + ': ' + x.identity.value : '—'),
      row('x.tracks', (x.track_ids || []).join(', ') || '—'),
      row('x.events', h('ul', { class: 'plain' }, (x.event_ids || []).map((e) => h('li', {}, h('code', {}, e))))),
      row('x.snapshot', x.snapshot ? h('code', {}, x.snapshot) : '—'),
      row('x.clearance', x.clearance_id ?
        h('button', { type: 'button', class: 'link', onclick: () => showDeclaration(x.clearance_id) }, x.clearance_id + ' — ' + t('x.open')) :
        t('x.noclearance')),
      row('x.note', x.release_note ? noteLink(x.clearance_id, x.release_note) : '—'));
    openDetail(t('x.title') + ' ' + x.gate, body);
  }

  // The release note (核放单): its number opens the printable page, read
  // with the token and written into a new tab (which keeps this page's CSP).
  function noteLink(id, number) {
    return h('button', { type: 'button', class: 'link note-link', 'data-note': number, onclick: () => printNote(id) },
      number + ' — ' + t('x.print'));
  }
  async function printNote(id) {
    const w = window.open('', '_blank');
    try {
      const resp = await fetch('/v1/predeclarations/' + encodeURIComponent(id) + '/release-note',
        { headers: { Authorization: 'Bearer ' + st.token, Accept: 'text/html' }, cache: 'no-store' });
      if (!resp.ok) throw new Error(resp.status + ' ' + resp.statusText);
      const html = await resp.text();
      if (!w) return;
      w.document.open();
      w.document.write(html);
      w.document.close();
    } catch (e) {
      if (w) w.close();
      showBanner(t('err.load', { e: e.message }));
    }
  }

  // ---------- queue and timeline ----------
  const renderQueue = keepFocus(() => renderQueueNow());
  function renderQueueNow() {
    const now = Date.now();
    const queue = [...st.decls.values()].filter((d) => QUEUE_STATUSES.includes(d.status))
      .sort((a, b) => new Date(a.created_at) - new Date(b.created_at));
    const tb = $('queue').tBodies[0];
    tb.replaceChildren(...queue.map((d) => {
      const acts = [h('button', { type: 'button', class: 'primary', 'data-act': 'clear', fk: 'clear:' + d.id, onclick: () => decide(d.id, 'clear') }, t('act.clear'))];
      if (d.status === 'submitted') acts.push(h('button', { type: 'button', 'data-act': 'inspect', fk: 'inspect:' + d.id, onclick: () => decide(d.id, 'inspect') }, t('act.inspect')));
      acts.push(h('button', { type: 'button', class: 'danger', 'data-act': 'reject', fk: 'reject:' + d.id, onclick: () => decide(d.id, 'reject') }, t('act.reject')));
      return h('tr', { 'data-id': d.id, 'data-status': d.status },
        h('td', { class: 'waiting', 'data-since': d.created_at }, fmtSpan(now - new Date(d.created_at))),
        h('td', {}, h('button', { type: 'button', class: 'link', fk: 'open:' + d.id, onclick: () => showDeclaration(d.id) }, objectLabel(d.object))),
        h('td', {}, d.firm),
        h('td', {}, d.gate + ' · ' + t('dir.' + d.direction)),
        h('td', { class: 'small' }, fmtTime(d.window.from) + ' – ' + fmtTime(d.window.to)),
        h('td', {}, statusBadge(d.status)),
        h('td', { class: 'actions' }, acts));
    }));
    $('queue-count').textContent = queue.length ? '(' + queue.length + ')' : '';
    $('queue-empty').hidden = queue.length > 0;

    const moves = [...st.decls.values()].filter((d) => MOVE_STATUSES.includes(d.status))
      .sort((a, b) => new Date(b.updated_at) - new Date(a.updated_at));
    $('moves').tBodies[0].replaceChildren(...moves.map((d) => h('tr', { 'data-id': d.id, 'data-status': d.status },
      h('td', {}, statusBadge(d.status)),
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => showDeclaration(d.id) }, objectLabel(d.object))),
      h('td', {}, d.firm),
      h('td', {}, d.gate + ' · ' + t('dir.' + d.direction)),
      h('td', {}, transitCell(d)),
      h('td', { class: 'actions' }, d.status === 'cleared' ?
        h('button', { type: 'button', class: 'danger', 'data-act': 'revoke', fk: 'revoke:' + d.id, onclick: () => decide(d.id, 'revoke') }, t('act.revoke')) :
        h('button', { type: 'button', fk: 'tl:' + d.id, onclick: () => showDeclaration(d.id) }, t('act.timeline'))))));
    $('moves-count').textContent = moves.length ? '(' + moves.length + ')' : '';
    $('moves-empty').hidden = moves.length > 0;
  }
  function transitMinutes(d) {
    if (d.transit_minutes != null) return { m: d.transit_minutes, done: true };
    if (d.crossed_at) return { m: (Date.now() - new Date(d.crossed_at)) / 60000, done: false };
    return null;
  }
  function transitCell(d) {
    const tm = transitMinutes(d);
    if (!tm) return '—';
    return h('span', { class: tm.m > TRANSIT_MARK ? 'over' : 'within' }, t('min', { n: Math.round(tm.m) }));
  }
  function timelineSVG(d) {
    const tm = transitMinutes(d);
    if (!tm) return null;
    const w = 320, scale = Math.max(60, tm.m * 1.15), x = (v) => 10 + (w - 20) * Math.min(v, scale) / scale;
    return s('svg', { viewBox: '0 0 ' + w + ' 44', class: 'transit-bar', role: 'img',
      'aria-label': t(tm.done ? 'tl.transit' : 'tl.elapsed', { m: Math.round(tm.m) }) },
      s('rect', { x: 10, y: 12, width: w - 20, height: 14, class: 'bar-bg' }),
      s('rect', { x: 10, y: 12, width: Math.max(1, x(tm.m) - 10), height: 14, class: tm.m > TRANSIT_MARK ? 'bar-over' : 'bar-ok' }),
      s('line', { x1: x(TRANSIT_MARK), x2: x(TRANSIT_MARK), y1: 6, y2: 32, class: 'mark' }),
      s('text', { x: x(TRANSIT_MARK), y: 42, 'text-anchor': 'middle', class: 'axis' }, '40'));
  }
  async function showDeclaration(id) {
    let d = st.decls.get(id);
    try {
      d = await api('GET', '/v1/predeclarations/' + encodeURIComponent(id));
      upsertDecl(d);
    } catch (e) {
      if (!d) { showBanner(t('err.load', { e: e.message })); return; }
    }
    const hist = d.history || [];
    const find = (...actions) => hist.find((x) => actions.includes(x.action));
    const decided = find('clear', 'reject');
    const steps = [
      ['tl.submitted', d.created_at, null],
      ['tl.decided', decided ? decided.at : null, decided ? t('status.' + decided.to) + ' · ' + decided.actor : null],
      ['tl.crossed', d.crossed_at, d.crossing_id || null],
      ['tl.arrived', d.arrived_at, null],
    ];
    const tm = transitMinutes(d);
    const body = h('div', {},
      h('p', {}, statusBadge(d.status), ' ', objectLabel(d.object), ' · ', d.firm, ' · ', d.gate, ' · ', t('dir.' + d.direction)),
      h('ol', { class: 'timeline' }, steps.map(([k, at, note]) => h('li', { class: at ? 'done' : 'todo' },
        h('span', { class: 'tl-step' }, t(k)), h('span', { class: 'tl-at' }, at ? fmtTime(at, true) : '—'),
        note ? h('span', { class: 'tl-note' }, note) : null))),
      d.release_note ? h('p', { class: 'tl-release' }, t('x.note') + ' ', noteLink(d.id, d.release_note.number)) : null,
      tm ? h('p', { class: tm.m > TRANSIT_MARK ? 'over' : 'within' }, t(tm.done ? 'tl.transit' : 'tl.elapsed', { m: Math.round(tm.m) })) : null,
      timelineSVG(d),
      h('h3', {}, t('tl.history')),
      h('ul', { class: 'plain small' }, hist.map((x) => h('li', {},
        fmtTime(x.at, true), ' · ', x.action, ' · ', x.actor, x.reason ? ' · ' + x.reason : ''))));
    openDetail(t('d.title', { id: d.id }), body);
  }

  // ---------- decisions ----------
  let pending = null;
  function decide(id, action) {
    const d = st.decls.get(id);
    pending = { id, action };
    $('decide-title').textContent = t('decide.title.' + action);
    $('decide-what').textContent = d ? objectLabel(d.object) + ' · ' + d.firm + ' · ' + d.id : id;
    $('decide-reason-label').textContent = t(action === 'clear' ? 'decide.reason.optional' : 'decide.reason');
    $('decide-reason').value = '';
    $('decide-reason').required = action !== 'clear';
    $('decide-error').textContent = '';
    $('decide-ok').textContent = t('act.' + action);
    $('decide-ok').className = action === 'clear' ? 'primary' : 'danger';
    $('decide').showModal();
    $('decide-reason').focus();
  }
  async function submitDecision(ev) {
    ev.preventDefault();
    if (!pending) return;
    const reason = $('decide-reason').value.trim();
    if (pending.action !== 'clear' && !reason) {
      $('decide-error').textContent = t('decide.need');
      $('decide-reason').focus();
      return;
    }
    $('decide-ok').disabled = true;
    try {
      const body = { decision: pending.action };
      if (reason) body.reason = reason;
      const d = await api('POST', '/v1/predeclarations/' + encodeURIComponent(pending.id) + '/decision', body);
      upsertDecl(d);
      renderQueue();
      pending = null;
      $('decide').close();
    } catch (e) {
      $('decide-error').textContent = e.message;
    } finally {
      $('decide-ok').disabled = false;
    }
  }

  // ---------- alarms ----------
  const notes = new Map(); // alarm ID → the note being typed
  const renderAlarms = keepFocus(() => renderAlarmsNow());
  function renderAlarmsNow() {
    const list = [...st.alarms.values()].sort((a, b) => new Date(b.time) - new Date(a.time));
    $('alarms').replaceChildren(...list.map((a) => {
      const noteId = 'note-' + a.id;
      const note = h('input', { id: noteId, type: 'text', maxlength: '2000', class: 'note', fk: 'note:' + a.id,
        'aria-label': t('alarm.note'), placeholder: t('alarm.note'), oninput: (ev) => { notes.set(a.id, ev.target.value); } });
      note.value = notes.get(a.id) || '';
      const err = h('span', { class: 'error small', role: 'alert' });
      const form = h('form', { class: 'ack', onsubmit: async (ev) => {
        ev.preventDefault();
        const text = note.value.trim();
        if (!text) { err.textContent = t('alarm.note.need'); note.focus(); return; }
        try {
          const done = await api('POST', '/v1/alarms/' + encodeURIComponent(a.id) + '/ack', { note: text });
          if (done.state !== 'open') st.alarms.delete(a.id);
          notes.delete(a.id);
          renderAlarms();
        } catch (e) {
          err.textContent = e.message;
        }
      } }, note, h('button', { type: 'submit', class: 'primary', fk: 'ack:' + a.id }, t('act.ack')), err);
      return h('li', { class: 'alarm sev-' + a.severity, 'data-alarm': a.id },
        h('div', { class: 'alarm-head' },
          h('span', { class: 'badge sev-' + a.severity }, t('sev.' + a.severity)),
          h('strong', {}, tOr('alarm.' + a.kind, a.kind)),
          h('span', { class: 'muted small' }, [a.gate, fmtTime(a.time)].filter(Boolean).join(' · '))),
        h('p', { class: 'alarm-msg', title: a.message }, alarmText(a),
          a.crossing_id && st.crossings.has(a.crossing_id) ?
            h('button', { type: 'button', class: 'link alarm-link', fk: 'ax:' + a.id, onclick: () => showCrossing(a.crossing_id) }, t('alarm.crossing')) : null),
        form);
    }));
    $('alarm-count').textContent = list.length ? '(' + list.length + ')' : '';
    $('alarms-empty').hidden = list.length > 0;
  }

  // alarmText words an alarm in the page's language from its kind and
  // params; an alarm without them (an older gate) keeps the server's text.
  const PARAM_WORDS = { direction: 'dir.', identity_kind: 'read.', object_class: 'class.', object_kind: 'kind.', service: 'svc.' };
  function alarmText(a) {
    const p = a.params;
    if (!p || typeof p !== 'object') return a.message;
    let key = 'alarmmsg.' + a.kind;
    if (p.object_class && hasText(key + '.class')) key += '.class';
    if (!hasText(key)) return a.message;
    const v = {};
    for (const [k, val] of Object.entries(p)) {
      const s = String(val);
      if (PARAM_WORDS[k]) v[k] = hasText(PARAM_WORDS[k] + s) ? t(PARAM_WORDS[k] + s) : s;
      else if (k === 'since' || k === 'deadline') v[k] = fmtTime(s);
      else v[k] = s;
    }
    let text = t(key, v);
    if (/\{[a-z_]+\}/.test(text)) return a.message; // a param the wording needs is missing
    if (p.code) text += t('alarmmsg.code', { code: p.code });
    if (p.detail) text += t('alarmmsg.detail', { detail: p.detail });
    return text;
  }

  // ---------- temporary entries ----------
  function renderEntries() {
    const panel = $('entries-panel');
    if (st.entries === null) { panel.hidden = true; return; }
    panel.hidden = false;
    const rows = [...st.entries].sort((a, b) => new Date(a.reexport_deadline) - new Date(b.reexport_deadline));
    $('entries').tBodies[0].replaceChildren(...rows.map((e) => {
      const days = Math.floor((new Date(e.reexport_deadline) - Date.now()) / 86400000);
      return h('tr', { 'data-id': e.id },
        h('td', {}, objectLabel(e.object)),
        h('td', {}, e.owner),
        h('td', {}, fmtDate(e.reexport_deadline)),
        h('td', { class: days < 0 ? 'over' : (days <= 7 ? 'warn' : '') }, days < 0 ? t('entries.overdue') : t('entries.days', { n: days })),
        h('td', {}, statusBadge(e.status)));
    }));
    $('entries-empty').hidden = rows.length > 0;
  }

  // ---------- statistics ----------
  function periodMonths() {
    const months = [];
    if (st.statsPeriod === 'last12') {
      const now = new Date();
      for (let i = 11; i >= 0; i--) months.push(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1)));
    } else {
      const y = Number(st.statsPeriod);
      for (let m = 0; m < 12; m++) months.push(new Date(Date.UTC(y, m, 1)));
    }
    return months;
  }
  function fillPeriods() {
    const sel = $('period');
    const y = new Date().getUTCFullYear();
    const opts = [['last12', t('stats.last12')]];
    for (let i = 0; i < 3; i++) opts.push([String(y - i), t('stats.year', { y: y - i })]);
    sel.replaceChildren(...opts.map(([v, label]) => h('option', { value: v, selected: v === st.statsPeriod }, label)));
  }
  let statsData = null;
  async function loadStats() {
    const months = periodMonths();
    try {
      statsData = await Promise.all(months.map((m) => {
        const to = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1));
        return api('GET', '/v1/stats?from=' + m.toISOString().slice(0, 10) + '&to=' + to.toISOString().slice(0, 10))
          .then((x) => ({ month: m, stats: x }));
      }));
    } catch (e) {
      statsData = null;
    }
    renderStats();
  }
  let transitSamples = [];
  async function loadTransit() {
    try {
      const lists = await Promise.all(['arrived', 'closed'].map((s) => api('GET', '/v1/predeclarations?limit=500&status=' + s)));
      transitSamples = lists.flatMap((l) => l.items || []).filter((d) => d.transit_minutes != null).map((d) => d.transit_minutes);
    } catch (e) {
      transitSamples = [];
    }
    renderStats();
  }
  function monthLabel(m) {
    return st.lang === 'en' ? m.toLocaleDateString('en-GB', { month: 'short', timeZone: 'UTC' }) : (m.getUTCMonth() + 1) + '月';
  }
  // niceCeil rounds a chart's top up to 2, 4, 5 or 10 times a power of ten
  // (at least 2), so the three ticks (0, half, top) read cleanly.
  function niceCeil(v) {
    if (v <= 2) return 2;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 4, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function barChart(el, groups, seriesNames, opts) {
    // Zero is a figure (nothing waited, nothing entered); only no figure at
    // all (null: nothing to measure) is "no data".
    if (!groups.some((g) => g.values.some((v) => typeof v === 'number' && isFinite(v)))) {
      el.replaceChildren(h('p', { class: 'muted' }, t('stats.nodata')));
      return;
    }
    // groups: [{label, values:[…]}]; stacked when opts.stacked.
    const W = 360, H = 180, L = 34, B = 22, T = 8;
    const totals = groups.map((g) => opts.stacked ? g.values.reduce((a, b) => a + (b || 0), 0) : Math.max(0, ...g.values.map((v) => v || 0)));
    const maxV = niceCeil(Math.max(...totals, 0));
    const y = (v) => T + (H - T - B) * (1 - v / maxV);
    const bw = (W - L - 4) / Math.max(1, groups.length);
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': opts.label });
    for (const v of [0, maxV / 2, maxV]) {
      svg.append(s('line', { x1: L, x2: W, y1: y(v), y2: y(v), class: 'grid' }),
        s('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(Math.round(v * 10) / 10)));
    }
    groups.forEach((g, i) => {
      const x0 = L + 2 + i * bw;
      if (opts.stacked) {
        let acc = 0;
        g.values.forEach((v, k) => {
          if (!v) return;
          svg.append(s('rect', { x: x0 + 1, y: y(acc + v), width: Math.max(1, bw - 3), height: y(acc) - y(acc + v), class: 'series-' + k },
            s('title', {}, g.label + ' · ' + seriesNames[k] + ': ' + v)));
          acc += v;
        });
      } else {
        const n = g.values.length, sw = Math.max(1, (bw - 3) / n);
        g.values.forEach((v, k) => {
          if (v == null) return;
          // A zero gets a 2-unit stub on the axis so it reads as measured.
          const top = v > 0 ? y(v) : y(0) - 2;
          svg.append(s('rect', { x: x0 + 1 + k * sw, y: top, width: Math.max(1, sw - 1), height: y(0) - top, class: 'series-' + k + (v > 0 ? '' : ' zero') },
            s('title', {}, g.label + ' · ' + seriesNames[k] + ': ' + (Math.round(v * 10) / 10))));
        });
      }
      if (groups.length <= 13 || i % 2 === 0) {
        // A histogram labels its bins' edges, a calendar its months' middles.
        const lx = opts.edgeLabels ? x0 : x0 + bw / 2;
        svg.append(s('text', { x: lx, y: H - 6, 'text-anchor': 'middle', class: 'axis' }, g.label));
      }
    });
    if (opts.mark) {
      const mx = opts.markX ? opts.markX(opts.mark, L, W) : null;
      if (mx !== null) {
        svg.append(s('line', { x1: mx, x2: mx, y1: T, y2: H - B, class: 'mark' }),
          s('text', { x: mx + 3, y: T + 10, class: 'axis mark-label' }, String(opts.mark)));
      }
    }
    el.replaceChildren(svg);
  }
  function legend(el, names) {
    el.replaceChildren(...names.map((n, k) => h('span', { class: 'key' }, h('span', { class: 'swatch series-' + k }), n)));
  }
  function renderStats() {
    const kindNames = KINDS.map(([, k]) => t('kind.' + k));
    if (statsData) {
      barChart($('chart-monthly'), statsData.map((m) => ({ label: monthLabel(m.month), values: KINDS.map(([f]) => m.stats[f].count) })),
        kindNames, { stacked: true, label: t('stats.monthly') });
      legend($('legend-monthly'), kindNames);
      const waitNames = [t('stats.median'), t('stats.p90')];
      barChart($('chart-waiting'), statsData.map((m) => ({ label: monthLabel(m.month),
        values: [m.stats.green_channel.decision_median_minutes, m.stats.green_channel.decision_p90_minutes] })),
      waitNames, { label: t('stats.waiting') });
      legend($('legend-waiting'), waitNames);
      if (!$('chart-monthly').querySelector('svg')) $('legend-monthly').replaceChildren();
      if (!$('chart-waiting').querySelector('svg')) $('legend-waiting').replaceChildren();
    } else {
      $('chart-monthly').replaceChildren(h('p', { class: 'muted' }, t('stats.nodata')));
      $('chart-waiting').replaceChildren(h('p', { class: 'muted' }, t('stats.nodata')));
      $('legend-monthly').replaceChildren();
      $('legend-waiting').replaceChildren();
    }
    // Transit histogram: 10-minute bins up to 120, the 40-minute mark drawn.
    const bins = [];
    for (let b = 0; b < 12; b++) bins.push({ label: String(b * 10), values: [0] });
    bins.push({ label: '120+', values: [0] });
    for (const m of transitSamples) bins[Math.min(12, Math.floor(m / 10))].values[0]++;
    if (transitSamples.length) {
      barChart($('chart-transit'), bins, [t('stats.transit')], { label: t('stats.transit'), mark: TRANSIT_MARK, edgeLabels: true,
        markX: (v, L, W) => L + 2 + (W - L - 4) * (v / 10) / bins.length });
      $('transit-note').textContent = t('stats.transit.note', { n: transitSamples.length, w: transitSamples.filter((m) => m <= TRANSIT_MARK).length });
    } else {
      $('chart-transit').replaceChildren(h('p', { class: 'muted' }, t('stats.nodata')));
      $('transit-note').textContent = '';
    }
  }

  // ---------- dialogs, language, rendering ----------
  function openDetail(title, body) {
    $('detail-title').textContent = title;
    $('detail-body').replaceChildren(body);
    if (!$('detail').open) $('detail').showModal();
    $('detail-close').focus();
  }
  function applyLang() {
    document.documentElement.lang = st.lang;
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    document.title = 'bondgate · ' + t('title');
    $('lang').textContent = st.lang === 'en' ? '中文' : 'English';
    fillPeriods();
    renderConn();
    if (st.token) renderAll();
  }
  function renderAll() {
    renderGates();
    renderQueue();
    renderAlarms();
    renderEntries();
    renderVisits();
    renderWriteOffs();
    renderStats();
  }

  function init() {
    takeFragmentToken();
    $('lang').addEventListener('click', () => {
      st.lang = st.lang === 'en' ? 'zh-CN' : 'en';
      localStorage.setItem(LANG_KEY, st.lang);
      applyLang();
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('signin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const tok = $('token').value.trim();
      if (tok) signIn(tok);
    });
    $('decide-form').addEventListener('submit', submitDecision);
    $('decide-cancel').addEventListener('click', () => { pending = null; $('decide').close(); });
    $('detail-close').addEventListener('click', () => $('detail').close());
    $('period').addEventListener('change', (ev) => { st.statsPeriod = ev.target.value; loadStats(); });
    // Waiting times, backlog ages and the behind counter move on their own.
    setInterval(() => {
      if (!st.token) return;
      for (const td of document.querySelectorAll('td.waiting')) td.textContent = fmtSpan(Date.now() - new Date(td.dataset.since));
    }, 1000 * 15);
    setInterval(() => { if (st.conn === 'behind') renderConn(); }, 1000);
    setInterval(() => { if (st.token) { loadStats(); loadTransit(); } }, 10 * 60 * 1000);
    applyLang();
    const tok = sessionStorage.getItem(TOKEN_KEY);
    if (tok) signIn(tok);
    else showSignIn('');
  }
  init();
})();
