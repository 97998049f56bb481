// Herald admin dashboard: polls the admin API and renders what it returns.
// Everything from the server is inserted as text, never as markup.
'use strict';

const API = '/admin/api/';
const WINDOW = 300; // samples kept for the charts: 5 minutes at one a second

const $ = (sel) => document.querySelector(sel);

// api calls the admin API. Every request carries the header the server
// requires of state-changing calls; a lost session goes back to the login.
async function api(path, body) {
  return call(API + path, body);
}

async function call(url, body) {
  const opts = { headers: { 'X-Herald-Admin': '1' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(url, opts);
  if (res.status === 401) {
    location.href = '/admin/login';
    throw new Error('session ended');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const msg = data.error && data.error.message ? data.error.message : res.statusText;
    throw new Error(msg);
  }
  return data;
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

function fmtInt(n) { return Number(n).toLocaleString('en-US'); }

// count says how many of a thing: "1 user", "2 users", "0 users".
function count(n, one, many = one + 's') {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

function fmtRate(r) {
  if (r === null || r === undefined) return '–';
  return r < 10 ? r.toFixed(1) : fmtInt(Math.round(r));
}

function fmtUptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
  const m = Math.floor(s % 3600 / 60), sec = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

// sparkline draws values (nulls skipped) as a small SVG line with a soft
// area under it; label describes it for screen readers.
function sparkline(values, label, cls, w = 120, h = 28) {
  const NS = 'http://www.w3.org/2000/svg';
  const pad = 2;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('width', w);
  svg.setAttribute('height', h);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.classList.add('spark', cls);
  // A faint baseline spans the whole window, so a young series reads as
  // recent rather than squeezed.
  const base = document.createElementNS(NS, 'line');
  base.setAttribute('x1', pad);
  base.setAttribute('x2', w - pad);
  base.setAttribute('y1', h - pad);
  base.setAttribute('y2', h - pad);
  base.setAttribute('class', 'base');
  svg.append(base);
  const pts = values.map((v, i) => [i, v]).filter(([, v]) => v !== null);
  if (pts.length < 2) return svg;
  const maxV = Math.max(1, ...pts.map(([, v]) => v));
  // The window grows to five minutes; until then a minute's width, so that
  // a fresh page still draws a readable line, newest sample at the right.
  const span = Math.max(60, values.length);
  const offset = span - values.length;
  const px = (i) => pad + (w - 2 * pad) * (i + offset) / (span - 1);
  const py = (v) => h - pad - (h - 2 * pad) * v / maxV;
  const line = pts.map(([i, v]) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
  const area = document.createElementNS(NS, 'polygon');
  area.setAttribute('points', `${px(pts[0][0]).toFixed(1)},${h - pad} ${line} ${px(pts[pts.length - 1][0]).toFixed(1)},${h - pad}`);
  area.setAttribute('class', 'area');
  const pl = document.createElementNS(NS, 'polyline');
  pl.setAttribute('points', line);
  pl.setAttribute('class', 'line');
  svg.append(area, pl);
  return svg;
}

// series keeps the last WINDOW samples of a node's (or the cluster's)
// connections and message rates (published and delivered per second),
// and the readings of the cumulative counters the rates derive from.
const series = new Map();

// rateOf turns a cumulative counter into a rate against the previous
// reading; a counter that went down means the node restarted, and the next
// reading starts over.
function rateOf(prev, cur, field) {
  const was = prev && prev[field], now = cur[field];
  if (typeof now !== 'number' || typeof was !== 'number' || cur.t <= prev.t || now < was) return null;
  return (now - was) / ((cur.t - prev.t) / 1000);
}

function record(key, node, now) {
  let s = series.get(key);
  if (!s) { s = { clients: [], rate: [], out: [], last: null }; series.set(key, s); }
  const cur = { published: node.published, delivered: node.delivered, t: now };
  s.clients.push(node.clients);
  s.rate.push(rateOf(s.last, cur, 'published'));
  s.out.push(rateOf(s.last, cur, 'delivered'));
  s.last = cur;
  if (s.clients.length > WINDOW) { s.clients.shift(); s.rate.shift(); s.out.shift(); }
  return s;
}

const CLUSTER = Symbol('cluster'); // the series of the whole cluster

function sum(nodes, field) {
  let total = 0;
  for (const n of nodes) {
    if (typeof n[field] !== 'number') return undefined;
    total += n[field];
  }
  return total;
}

const last = (a) => a[a.length - 1];

let nodesBusy = false;
async function refreshNodes() {
  if (nodesBusy) return;
  nodesBusy = true;
  try {
    const { nodes } = await api('nodes');
    const now = Date.now();
    const seen = new Set([CLUSTER]);
    const rows = nodes.map((n) => {
      const name = n.name || '(unnamed)';
      seen.add(name);
      const s = record(name, n, now);
      return el('tr', {},
        el('th', { scope: 'row', textContent: name }),
        el('td', { textContent: n.version || '–' }),
        el('td', { textContent: fmtUptime(n.uptime) }),
        el('td', { className: 'num', textContent: fmtInt(n.clients) }),
        el('td', { className: 'num', textContent: fmtInt(n.users) }),
        el('td', { className: 'num', textContent: fmtInt(n.channels) }),
        el('td', { className: 'num', textContent: fmtInt(n.subs) }),
        el('td', { className: 'num', textContent: fmtRate(last(s.rate)) }),
        el('td', { className: 'num', textContent: fmtRate(last(s.out)) }),
        el('td', {}, sparkline(s.clients, `Connections of ${name} over the last minutes`, 'blue')),
        el('td', {}, sparkline(s.rate, `Messages published per second on ${name} over the last minutes`, 'green')),
      );
    });
    for (const key of series.keys()) if (!seen.has(key)) series.delete(key);
    $('#nodes tbody').replaceChildren(...rows);

    const c = record(CLUSTER, {
      clients: sum(nodes, 'clients'), published: sum(nodes, 'published'), delivered: sum(nodes, 'delivered'),
    }, now);
    $('#total-nodes').textContent = fmtInt(nodes.length);
    $('#nodes-sub').textContent = nodes.length === 1 ? 'single node' : 'cluster, this node first';
    const users = sum(nodes, 'users');
    $('#users-sub').textContent = users === undefined ? '' : count(users, 'user');
    $('#total-connections').textContent = fmtInt(last(c.clients));
    $('#total-subs').textContent = fmtInt(sum(nodes, 'subs'));
    $('#total-rate').textContent = fmtRate(last(c.rate));
    $('#total-out').textContent = last(c.out) === null ? '' : fmtRate(last(c.out)) + ' delivered/s';
    $('#spark-connections').replaceChildren(sparkline(c.clients, 'Cluster connections over the last minutes', 'blue', 160, 36));
    $('#spark-rate').replaceChildren(sparkline(c.rate, 'Cluster messages published per second over the last minutes', 'green', 160, 36));
    $('#live-dot').className = 'dot ok';
    $('#live-text').textContent = 'Live · updated ' + new Date(now).toLocaleTimeString('en-GB');
  } catch (err) {
    $('#live-dot').className = 'dot bad';
    $('#live-text').textContent = 'Not updating: ' + err.message;
  } finally {
    nodesBusy = false;
  }
}

// channelPattern turns the search box into the API's pattern: words match
// anywhere in a name unless the operator wrote their own "*".
function channelPattern() {
  const q = $('#channel-filter').value.trim();
  if (!q) return '';
  return q.includes('*') ? q : `*${q}*`;
}

let channelsBusy = false;
async function refreshChannels() {
  if (channelsBusy) return;
  channelsBusy = true;
  try {
    const pattern = channelPattern();
    const { channels, total } = await api('channels?pattern=' + encodeURIComponent(pattern));
    const rows = channels.map((c) => {
      const link = el('button', { type: 'button', className: 'link', textContent: c.name, title: 'Inspect ' + c.name });
      link.addEventListener('click', () => inspect(c.name, 'presence'));
      return el('tr', {}, el('td', {}, link), el('td', { className: 'num', textContent: fmtInt(c.subscribers) }));
    });
    $('#channels tbody').replaceChildren(...rows);
    const shown = channels.length < total ? `showing ${fmtInt(channels.length)} of ` : '';
    $('#channels-summary').textContent = total === 0
      ? (pattern ? 'No active channel matches.' : 'No active channels.')
      : `${shown}${count(total, 'active channel')}${pattern ? ' matching ' + pattern : ''}`;
  } catch (err) {
    $('#channels-summary').textContent = 'Could not list channels: ' + err.message;
  } finally {
    channelsBusy = false;
  }
}

function fillTable(table, head, rows) {
  $(table + ' thead').replaceChildren(el('tr', {}, ...head.map((h) => el('th', { scope: 'col', textContent: h }))));
  $(table + ' tbody').replaceChildren(...rows.map((r) => el('tr', {}, ...r.map((v) => el('td', { textContent: v })))));
}

// publisher names who published: no info means the server API (a backend
// or this console); info with an empty user an anonymous connection.
function publisher(info) {
  if (!info) return '(server)';
  return info.user || '(anonymous)';
}

// inspecting is what the inspector shows, {channel, what}, so that a
// publish can refresh the history it changed; inspectSeq drops the answer
// of a request a newer one overtook.
let inspecting = null;
let inspectSeq = 0;

async function inspect(channel, what) {
  $('#inspect-channel').value = channel;
  const seq = ++inspectSeq;
  inspecting = { channel, what };
  const status = $('#inspect-status');
  status.className = 'muted';
  status.textContent = 'Loading…';
  try {
    const q = encodeURIComponent(channel);
    if (what === 'presence') {
      const { clients } = await api('presence?channel=' + q);
      if (seq !== inspectSeq) return;
      fillTable('#inspect-result', ['User', 'Client', 'Info'],
        clients.map((c) => [c.user || '(anonymous)', c.client, c.info ? JSON.stringify(c.info) : '']));
      status.textContent = `${count(clients.length, 'connection')} present in ${channel}`;
    } else {
      const res = await api('history?channel=' + q + '&limit=50');
      if (seq !== inspectSeq) return;
      const pubs = res.publications || [];
      fillTable('#inspect-result', ['Offset', 'Time', 'From', 'Data'],
        pubs.map((p) => [String(p.offset), p.ts ? new Date(p.ts).toLocaleTimeString('en-GB') : '',
          publisher(p.info),
          p.data !== undefined ? JSON.stringify(p.data) : `(binary, ${count((p.b64 || '').length, 'base64 character')})`]));
      status.textContent = `Latest ${count(pubs.length, 'publication')} of ${channel} · offset ${res.offset}, epoch ${res.epoch}`;
    }
  } catch (err) {
    if (seq !== inspectSeq) return;
    fillTable('#inspect-result', [], []);
    status.className = 'error';
    status.textContent = err.message;
  }
}

function showStatus(node, ok, text) {
  node.className = 'status ' + (ok ? 'ok' : 'error');
  node.textContent = text;
}

async function publish(ev) {
  ev.preventDefault();
  const status = $('#pub-status');
  const channel = $('#pub-channel').value.trim();
  let data;
  try {
    data = JSON.parse($('#pub-data').value);
  } catch (err) {
    showStatus(status, false, 'Data is not valid JSON.');
    return;
  }
  try {
    const res = await api('publish', { channel, data });
    showStatus(status, true, res.offset ? `Published at offset ${res.offset}.` : 'Published.');
    refreshChannels();
    // The history on display is of this channel: show what was just added.
    if (inspecting && inspecting.what === 'history' && inspecting.channel === channel) inspect(channel, 'history');
  } catch (err) {
    showStatus(status, false, 'Not published: ' + err.message);
  }
}

async function disconnect(ev) {
  ev.preventDefault();
  const user = $('#dc-user').value.trim();
  if (!confirm(`Disconnect every connection of ${user}?`)) return;
  try {
    await api('disconnect', { user });
    showStatus($('#dc-status'), true, `Disconnected ${user}.`);
  } catch (err) {
    showStatus($('#dc-status'), false, 'Not disconnected: ' + err.message);
  }
}

async function setupLogLevel() {
  const sel = $('#log-level');
  try {
    const { level } = await api('loglevel');
    sel.value = level;
    sel.disabled = false;
  } catch (err) {
    sel.title = 'Log level: ' + err.message;
    return;
  }
  sel.addEventListener('change', async () => {
    try {
      const { level } = await api('loglevel', { level: sel.value });
      sel.value = level;
    } catch (err) {
      alert('Log level not changed: ' + err.message);
    }
  });
}

function init() {
  $('#publish').addEventListener('submit', publish);
  $('#publish').addEventListener('input', () => { $('#pub-status').textContent = ''; });
  $('#disconnect').addEventListener('submit', disconnect);
  $('#inspect').addEventListener('submit', (ev) => {
    ev.preventDefault();
    inspect($('#inspect-channel').value.trim(), ev.submitter ? ev.submitter.value : 'presence');
  });
  $('#channel-search').addEventListener('submit', (ev) => { ev.preventDefault(); refreshChannels(); });
  $('#channel-filter').addEventListener('input', () => refreshChannels());
  $('#logout').addEventListener('click', async () => {
    await call('/admin/logout', {}).catch(() => {});
    location.href = '/admin/login';
  });
  setupLogLevel();
  refreshNodes();
  refreshChannels();
  setInterval(refreshNodes, 1000);
  setInterval(refreshChannels, 2000);
}

init();
