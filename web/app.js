/*
 * app.js - the tenant portal: signs in (a sign-in link's `#token=…`, a
 * pasted link or token, or the operator's admin key, which lists the
 * tenants and opens one with a portal session of its own), then drives the
 * views (home, endpoints, one endpoint, deliveries with the delivery panel,
 * events) through the REST API. The view and its filters live in the
 * address (`?view=deliveries&status=failed…`), so a link reproduces a view
 * and a reload keeps it. One long poll on `/changes` keeps every view live:
 * changed deliveries and endpoints are merged into what is shown, never by
 * reloading whole lists. Data from the API reaches the page only as text.
 */
import {
  $, h, api, listAll, query, tenantPath, session, ApiError, fmtTime, fmtAgo, timeEl, fmtRate, fmtMs,
  toLocalInput, fromLocalInput, UUID_RE, copyButton, clearErrors, showFieldError,
} from './lib.js';
import { volumeChart, latencyChart } from './chart.js';
import { eventTypePicker } from './picker.js';

const TOKEN_KEY = 'hookd.portal.token';
const TENANT_KEY = 'hookd.portal.tenant';
const OPERATOR_KEY = 'hookd.portal.operator';
const STATUSES = ['pending', 'sending', 'succeeded', 'failed'];
const VIEWS = ['home', 'endpoints', 'endpoint', 'deliveries', 'events'];
const FILTERS = ['status', 'endpoint', 'type', 'after', 'before', 'q'];
const PAGE = 50;
const LIVE_WAIT_S = 25;
const SESSION_TTL_S = 8 * 3600;
const DAY_MS = 86400000;

const state = {
  me: null,
  view: null,
  params: new URLSearchParams(),
  endpoints: [],
  endpointById: new Map(),
  endpointsLoaded: false,
  eventTypes: null,
  dl: { items: [], cursor: null, seq: 0, key: null, loaded: false, f: {} },
  endpointPage: null,
  detail: { id: null, seq: 0, opener: null },
  events: { items: [], cursor: null, seq: 0 },
  live: { gen: 0, ctrl: null, ok: false },
  timers: new Map(),
  messageTimer: null,
};

const canWrite = () => !(state.me && state.me.session && state.me.session.scope === 'read');

/* Runs fn once, ms after the last call with the same key: bursts of live
 * changes cost one reload of a summary. */
function later(key, fn, ms) {
  clearTimeout(state.timers.get(key));
  state.timers.set(key, setTimeout(() => { state.timers.delete(key); guard(fn); }, ms));
}

/* Runs fn ms after the first call of a burst, however many calls follow
 * meanwhile: a view that live updates keep changing is still redrawn. */
function soon(key, fn, ms) {
  if (!state.timers.has(key)) later(key, fn, ms);
}

/* ---- branding ---- */

function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

function mix(hex, toward, t) {
  const a = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const b = [1, 3, 5].map((i) => parseInt(toward.slice(i, i + 2), 16));
  return `#${a.map((v, i) => Math.round(v + (b[i] - v) * t).toString(16).padStart(2, '0')).join('')}`;
}

/* The accent as text on a background: darkened or lightened just enough
 * to pass WCAG AA (4.5:1), whatever colour the operator chose. */
function readableOn(accent, bg) {
  const toward = luminance(bg) > 0.5 ? '#000000' : '#ffffff';
  for (let t = 0; t <= 1; t += 0.05) {
    const c = mix(accent, toward, t);
    if (contrast(c, bg) >= 4.5) return c;
  }
  return toward;
}

async function loadBranding() {
  let cfg;
  try {
    cfg = await api('GET', '/v1/portal/config', undefined, { token: null });
  } catch {
    return; /* the portal works with its own name and colour */
  }
  if (cfg && typeof cfg.product_name === 'string' && cfg.product_name) {
    $('product-name').textContent = cfg.product_name;
    document.title = cfg.product_name;
  }
  const accent = cfg && /^#[0-9a-fA-F]{6}$/.test(cfg.accent_color || '') ? cfg.accent_color.toLowerCase() : null;
  if (accent) {
    const root = document.documentElement.style;
    const fg = contrast(accent, '#ffffff') >= contrast(accent, '#111111') ? '#ffffff' : '#111111';
    const button = contrast(accent, fg) >= 4.5 ? accent : readableOn(accent, fg);
    root.setProperty('--accent', button);
    root.setProperty('--accent-fg', fg);
    root.setProperty('--accent-text-light', readableOn(accent, '#ffffff'));
    root.setProperty('--accent-text-dark', readableOn(accent, '#1b1f27'));
  }
}

/* ---- messages ---- */

function showMessage(content, kind = 'error') {
  const box = $('message');
  clearTimeout(state.messageTimer);
  box.className = `message ${kind}`;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  $('message-text').replaceChildren(...[].concat(content));
  box.hidden = false;
  if (kind === 'success') state.messageTimer = setTimeout(hideMessage, 8000);
}

function hideMessage() {
  clearTimeout(state.messageTimer);
  $('message').hidden = true;
}

function showError(e) {
  if (!(e instanceof ApiError)) {
    console.error(e);
    showMessage(`Something went wrong in the page: ${e && e.message ? e.message : e}`);
    return;
  }
  if (e.status === 401 || e.code === 'aborted') return;
  showMessage(e.message);
}

async function guard(fn) {
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

/* ---- the dialog ---- */

/* Opens the page's one modal dialog. onSubmit(form) may throw an ApiError:
 * its message then shows beside the field it names and the dialog stays
 * open. The browser moves focus into the dialog, Escape closes it, and
 * focus returns to the control that opened it. */
function openDialog({ title, body, submit = 'Save', danger = false, onSubmit, wide = false }) {
  const dlg = $('dialog');
  const form = $('dialog-form');
  const opener = document.activeElement;
  clearErrors(form);
  $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(...[].concat(body));
  const btn = $('dialog-submit');
  btn.textContent = submit;
  btn.className = danger ? 'button danger' : 'button';
  btn.disabled = false;
  dlg.classList.toggle('wide', wide);
  const close = () => {
    if (dlg.open) dlg.close();
  };
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    btn.disabled = true;
    try {
      const keep = await onSubmit(form);
      if (keep !== 'keep') close();
    } catch (e) {
      if (e instanceof ApiError) {
        if (e.status !== 401) showFieldError(form, e.field, e.message);
      } else {
        showError(e);
      }
    } finally {
      btn.disabled = false;
    }
  };
  /* A save may redraw the opener (the endpoint's actions are rebuilt):
   * focus then goes to the button with the same name in the same place. */
  const home = opener && opener.closest ? opener.closest('[id]') : null;
  const homeId = home ? home.id : null;
  const label = opener ? opener.textContent : '';
  dlg.onclose = () => {
    form.onsubmit = null;
    let back = opener && opener.isConnected ? opener : null;
    if (!back && homeId && $(homeId)) back = [...$(homeId).querySelectorAll('button, a')].find((b) => b.textContent === label) || null;
    if (back && typeof back.focus === 'function') back.focus();
  };
  dlg.showModal();
  const first = $('dialog-body').querySelector('input:not([type=hidden]):not([type=radio]), select, textarea, input[type=radio]:checked');
  (first || btn).focus();
}

/* A client-side check failed: the same display as the API's errors. */
function fieldError(field, message) {
  return new ApiError(422, 'validation_failed', message, field);
}

/* ---- session ---- */

/* Takes the token from the link's fragment, then removes the fragment so
 * that the token does not linger in the address bar, the history or a
 * bookmark. The query (the view) stays. */
function readFragment() {
  if (!location.hash || location.hash.length < 2) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    const tenant = params.get('tenant');
    if (tenant) sessionStorage.setItem(TENANT_KEY, tenant);
    else sessionStorage.removeItem(TENANT_KEY);
  }
  history.replaceState(null, '', location.pathname + location.search);
}

function showOnly(id) {
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== id;
}

function showSignIn(reason) {
  stopLive();
  state.me = null;
  session.token = null;
  session.tenantId = null;
  document.body.classList.remove('read-only');
  $('nav').hidden = true;
  $('nav-toggle').hidden = true;
  $('tenant-name').textContent = '';
  $('read-only-badge').hidden = true;
  $('signin-reason').textContent = reason || '';
  $('signin-reason').hidden = !reason;
  showOnly('view-signin');
}

/* Ends the portal session on the server (a session token), then forgets
 * it here. An operator's own key is kept when only the tenant is left. */
async function endSession(keepOperator) {
  const token = session.token;
  const wasSession = state.me && state.me.session;
  stopLive();
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TENANT_KEY);
  if (!keepOperator) sessionStorage.removeItem(OPERATOR_KEY);
  if (token && wasSession) {
    try {
      await api('DELETE', '/v1/me/session', undefined, { token });
    } catch (e) {
      if (e.status !== 401) showMessage(`Signed out here, but the service did not confirm it: ${e.message}`);
    }
  }
}

async function signOut() {
  await endSession(false);
  showSignIn('You signed out. Open your sign-in link again to come back.');
  history.replaceState(null, '', location.pathname);
}

async function boot() {
  readFragment();
  await loadBranding();
  session.onUnauthorized = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn('Your sign-in link is no longer valid: it may have expired or been signed out. Ask for a new one.');
  };
  session.token = sessionStorage.getItem(TOKEN_KEY);
  if (!session.token) {
    if (sessionStorage.getItem(OPERATOR_KEY)) {
      await showTenants();
      return;
    }
    showSignIn('');
    return;
  }
  await startSession();
}

async function startSession() {
  let me;
  try {
    me = await api('GET', '/v1/me');
  } catch (e) {
    if (e.status !== 401) {
      showSignIn('The portal could not check your sign-in link.');
      showError(e);
    }
    return;
  }
  if (me && me.role === 'tenant' && me.tenant_id) {
    session.tenantId = me.tenant_id;
  } else if (me && me.role === 'admin') {
    const tenant = sessionStorage.getItem(TENANT_KEY);
    if (!tenant) {
      /* The admin key alone: the operator picks a tenant. */
      sessionStorage.setItem(OPERATOR_KEY, session.token);
      sessionStorage.removeItem(TOKEN_KEY);
      session.token = null;
      await showTenants();
      return;
    }
    session.tenantId = tenant;
  } else {
    showSignIn('This sign-in link does not lead to a tenant.');
    return;
  }
  state.me = me;
  if (me.tenant_name) {
    $('tenant-name').textContent = me.tenant_name;
  } else {
    try {
      const t = await api('GET', tenantPath());
      $('tenant-name').textContent = t.name || '';
    } catch (e) {
      if (e.status === 404) {
        showSignIn('The account this link belongs to does not exist any more.');
        return;
      }
      showError(e);
    }
  }
  document.body.classList.toggle('read-only', !canWrite());
  $('read-only-badge').hidden = canWrite();
  $('nav').hidden = false;
  $('nav-toggle').hidden = false;
  $('switch-tenant').hidden = !sessionStorage.getItem(OPERATOR_KEY);
  state.endpointsLoaded = false;
  state.dl = { items: [], cursor: null, seq: 0, key: null, loaded: false, f: {} };
  state.events = { items: [], cursor: null, seq: 0 };
  startLive();
  route();
}

/* ---- sign-in forms ---- */

async function signInWithLink(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  const raw = form.elements.link.value.trim();
  let token = raw;
  const at = raw.indexOf('#');
  if (at >= 0) token = new URLSearchParams(raw.slice(at + 1)).get('token') || '';
  if (!token) {
    showFieldError(form, 'link', raw ? 'This link holds no token: it should end with #token=…' : 'Paste your sign-in link or its token.');
    return;
  }
  let me;
  try {
    me = await api('GET', '/v1/me', undefined, { token });
  } catch (e) {
    showFieldError(form, 'link', e.status === 401 ? 'This link is not valid any more: it may have expired or been signed out.' : e.message);
    return;
  }
  form.reset();
  if (me.role === 'admin') {
    sessionStorage.setItem(OPERATOR_KEY, token);
    await showTenants();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.removeItem(TENANT_KEY);
  session.token = token;
  await startSession();
}

async function signInOperator(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  const key = form.elements.admin_key.value.trim();
  if (!key) {
    showFieldError(form, 'admin_key', 'Enter the admin key the service was started with (HOOKD_ADMIN_KEY).');
    return;
  }
  let me;
  try {
    me = await api('GET', '/v1/me', undefined, { token: key });
  } catch (e) {
    showFieldError(form, 'admin_key', e.status === 401 ? 'This key is not the admin key.' : e.message);
    return;
  }
  if (me.role !== 'admin') {
    showFieldError(form, 'admin_key', 'This is a tenant key, not the admin key. Paste it under "With a sign-in link" instead.');
    return;
  }
  form.reset();
  sessionStorage.setItem(OPERATOR_KEY, key);
  await showTenants();
}

async function showTenants() {
  const key = sessionStorage.getItem(OPERATOR_KEY);
  stopLive();
  state.me = null;
  $('nav').hidden = true;
  $('nav-toggle').hidden = true;
  $('tenant-name').textContent = 'Operator';
  $('read-only-badge').hidden = true;
  document.body.classList.remove('read-only');
  showOnly('view-tenants');
  let tenants;
  try {
    tenants = await listAll('/v1/tenants', {}, 20, { token: key });
  } catch (e) {
    sessionStorage.removeItem(OPERATOR_KEY);
    showSignIn(e.status === 401 ? 'The admin key is not valid any more.' : e.message);
    return;
  }
  state.tenants = tenants;
  renderTenants();
  $('tenants-title').focus();
}

function renderTenants() {
  const q = $('tenant-search').value.trim().toLowerCase();
  const shown = (state.tenants || []).filter((t) => !q || t.name.toLowerCase().includes(q) || t.id.includes(q));
  $('tenant-list').replaceChildren(...shown.map((t) => h('li', { className: 'card item tenant-item', dataset: { tenantId: t.id } },
    h('div', { className: 'item-main' },
      h('strong', { text: t.name }),
      h('div', { className: 'id', text: t.id }),
      h('div', { className: 'small muted' }, 'Created ', timeEl(t.created_at))),
    h('button', {
      type: 'button',
      className: 'button',
      text: 'Open portal',
      attrs: { 'aria-label': `Open the portal of ${t.name}` },
      on: { click: () => guard(() => openTenant(t)) },
    }))));
  $('tenants-empty').hidden = shown.length > 0;
}

async function openTenant(t) {
  const key = sessionStorage.getItem(OPERATOR_KEY);
  const scope = $('tenant-scope').value;
  const body = { ttl_seconds: SESSION_TTL_S };
  if (scope === 'read') body.scope = 'read';
  const made = await api('POST', `/v1/tenants/${encodeURIComponent(t.id)}/portal-sessions`, body, { token: key });
  sessionStorage.setItem(TOKEN_KEY, made.token);
  sessionStorage.removeItem(TENANT_KEY);
  session.token = made.token;
  history.pushState(null, '', `${location.pathname}?view=home`);
  await startSession();
}

async function switchTenant() {
  await endSession(true);
  history.replaceState(null, '', location.pathname);
  await showTenants();
}

/* ---- routing ---- */

function currentRoute() {
  const p = new URLSearchParams(location.search);
  const view = VIEWS.includes(p.get('view')) ? p.get('view') : 'home';
  return { view, p };
}

/* Goes to a view; params are its query. replace: no new history entry
 * (filters typed, a panel opened). */
function go(params, { replace = false, focus = false } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const url = `${location.pathname}?${q.toString()}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route(focus);
}

function route(focus = false) {
  if (!state.me) return;
  const { view, p } = currentRoute();
  const prev = state.view;
  state.view = view;
  state.params = p;
  showOnly(`view-${view}`);
  for (const t of document.querySelectorAll('.tab')) {
    const on = t.dataset.view === view || (view === 'endpoint' && t.dataset.view === 'endpoints');
    if (on) t.setAttribute('aria-current', 'page');
    else t.removeAttribute('aria-current');
  }
  closeMenu();
  if (view !== 'deliveries') hideDetail();
  if (view === 'home') guard(renderHome);
  else if (view === 'endpoints') guard(renderEndpointsView);
  else if (view === 'endpoint') guard(() => renderEndpointPage(prev !== 'endpoint' || state.endpointPage !== p.get('id')));
  else if (view === 'deliveries') guard(enterDeliveries);
  else if (view === 'events') guard(() => loadEvents(true));
  if (focus) {
    const h1 = document.querySelector(`#view-${view} h1`);
    if (h1) {
      h1.tabIndex = -1;
      h1.focus();
    }
  }
}

/* In-page links (?view=…) navigate without a reload. */
function onLinkClick(ev) {
  const a = ev.target.closest('a[href^="?"]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  if (!state.me) return;
  ev.preventDefault();
  const p = Object.fromEntries(new URLSearchParams(a.getAttribute('href').slice(1)));
  if (a.dataset.deliveryId && state.view === 'deliveries') {
    openDelivery(a.dataset.deliveryId, a);
    return;
  }
  go(p, { focus: a.classList.contains('tab') });
}

function closeMenu() {
  $('nav').classList.remove('open');
  $('nav-toggle').setAttribute('aria-expanded', 'false');
}

/* ---- shared data ---- */

async function loadEndpoints() {
  const list = await listAll(tenantPath('/endpoints'));
  setEndpoints(list);
  return list;
}

function setEndpoints(list) {
  state.endpoints = list;
  state.endpointById = new Map(list.map((e) => [e.id, e]));
  state.endpointsLoaded = true;
  renderFilterOptions();
}

async function ensureEndpoints() {
  if (!state.endpointsLoaded) await loadEndpoints();
}

async function eventTypes() {
  if (!state.eventTypes) state.eventTypes = await listAll('/v1/event-types', {}, 4);
  return state.eventTypes;
}

function endpointLabel(id) {
  const ep = state.endpointById.get(id);
  return ep ? ep.url : id ? `${id.slice(0, 8)}… (deleted)` : '—';
}

function shortUrl(url) {
  return url.replace(/^https?:\/\//, '');
}

function statusBadge(status) {
  const known = STATUSES.includes(status) ? status : 'unknown';
  return h('span', { className: `badge status-${known}`, text: status || 'unknown' });
}

function codeBadge(code) {
  const cls = code >= 200 && code < 300 ? 'ok' : code >= 300 && code < 500 ? 'warn' : 'bad';
  return h('span', { className: `badge code-${cls}`, text: `HTTP ${code}` });
}

function enabledBadge(ep) {
  return ep.enabled
    ? h('span', { className: 'badge enabled', text: 'enabled' })
    : h('span', { className: 'badge disabled', text: 'disabled' });
}

function typeChips(types) {
  const list = Array.isArray(types) ? types.filter((t) => t !== '*') : [];
  return list.length === 0
    ? h('span', { className: 'muted', text: 'All events' })
    : h('span', { className: 'chips' }, list.map((t) => h('span', { className: 'chip mono', text: t })));
}

function field(label, ...value) {
  return [h('dt', { text: label }), h('dd', {}, ...value)];
}

function headerLines(headers) {
  if (!headers) return '';
  const lines = [];
  if (Array.isArray(headers)) {
    for (const item of headers) {
      if (Array.isArray(item)) lines.push(`${item[0]}: ${item[1]}`);
      else if (item && typeof item === 'object') lines.push(`${item.name}: ${item.value}`);
      else lines.push(String(item));
    }
  } else if (typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  } else {
    lines.push(String(headers));
  }
  return lines.join('\n');
}

/* A body as readable text: JSON pretty-printed, anything else as it is. */
function pretty(text) {
  if (typeof text !== 'string') return text === null || text === undefined ? '' : JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function stats(params) {
  return api('GET', tenantPath('/stats') + query(params));
}

/* An endpoint's success rate in a stats answer: the server's, or the same
 * figure from its counts. */
function successRate(st) {
  if (st.success_rate !== undefined) return st.success_rate;
  const settled = (st.succeeded || 0) + (st.failed || 0);
  return settled ? st.succeeded / settled : null;
}

/* Does this stats answer carry latency and last failures? (A server
 * without them leaves the keys out; the portal then leaves those figures
 * out rather than show them as missing.) */
const hasLatency = (s) => 'latency_p50_ms' in s;
const hasLastFailure = (s) => (s.endpoints || []).some((e) => 'last_failure_at' in e);

/* ---- live updates ---- */

function stopLive() {
  state.live.gen++;
  if (state.live.ctrl) state.live.ctrl.abort();
  state.live.ctrl = null;
  state.live.ok = false;
  setLiveState('');
}

function setLiveState(text, kind = '') {
  const el = $('live-state');
  el.textContent = text;
  el.className = `live ${kind}`;
}

function startLive() {
  stopLive();
  const gen = state.live.gen;
  const ctrl = new AbortController();
  state.live.ctrl = ctrl;
  liveLoop(gen, ctrl.signal);
}

/* The long poll: each answer carries what changed since the cursor and
 * the cursor to ask with next. On an error it waits, longer each time, and
 * asks again; a 401 ends the session (handled by api()). */
async function liveLoop(gen, signal) {
  let cursor = null;
  let backoff = 1000;
  let resync = false;
  while (gen === state.live.gen) {
    try {
      const r = await api('GET', tenantPath('/changes') + query({ cursor, wait: cursor ? LIVE_WAIT_S : 0 }),
        undefined, { signal, timeoutMs: (LIVE_WAIT_S + 15) * 1000 });
      if (gen !== state.live.gen) return;
      const first = cursor === null;
      cursor = r.cursor;
      backoff = 1000;
      state.live.ok = true;
      setLiveState('Live', 'on');
      if (!first) applyChanges(r);
      else if (resync) resyncView();
      resync = false;
    } catch (e) {
      if (gen !== state.live.gen || e.status === 401 || e.code === 'aborted') return;
      if (e.status === 422 && cursor !== null) {
        /* A cursor the server no longer keeps (older than its change log):
         * start afresh and read the view again, since changes were missed. */
        cursor = null;
        resync = true;
        continue;
      }
      state.live.ok = false;
      setLiveState('Live updates paused: reconnecting…', 'off');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30000);
    }
  }
}

function resyncView() {
  state.dl.loaded = false;
  route();
  if (state.detail.id) guard(refreshDetail);
}

function applyChanges({ deliveries = [], endpoints = [] }) {
  if (endpoints.length) {
    const byId = new Map(state.endpointById);
    for (const ep of endpoints) byId.set(ep.id, ep);
    if (state.endpointsLoaded) setEndpoints([...byId.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1)));
    if (state.view === 'endpoints') renderEndpointList();
    /* The open endpoint is read again with its figures rather than drawn
     * from the feed: the feed's copy may carry a blocked banner that the
     * health panel beside it has not counted yet. */
    if (state.view === 'endpoint' && endpoints.some((e) => e.id === state.params.get('id'))) {
      soon('endpoint-head', refreshEndpointHead, 300);
    }
    if (state.view === 'home') later('home', renderHome, 400);
  }
  if (deliveries.length) {
    mergeDeliveries(deliveries);
    if (state.view === 'home') later('home', renderHome, 1500);
    if (state.view === 'endpoint' && deliveries.some((d) => d.endpoint_id === state.params.get('id'))) {
      soon('endpoint-head', refreshEndpointHead, 300);
    }
    if (state.detail.id && deliveries.some((d) => d.id === state.detail.id)) later('detail', refreshDetail, 150);
  }
}

/* ---- home ---- */

async function renderHome() {
  const since = new Date(Date.now() - DAY_MS).toISOString();
  const [s] = await Promise.all([stats({ since }), loadEndpoints()]);
  if (state.view !== 'home') return;
  const settled = (s.totals.succeeded || 0) + (s.totals.failed || 0);
  const rate = settled ? s.totals.succeeded / settled : null;
  const tile = (label, value, cls = '') => h('div', { className: `tile card ${cls}` },
    h('div', { className: 'tile-label', text: label }), h('div', { className: 'tile-value', text: value }));
  $('home-tiles').replaceChildren(...[
    tile('Waiting to be sent', String(s.pending ?? s.totals.pending ?? 0), 'waiting'),
    tile('Succeeded', String(s.totals.succeeded || 0)),
    tile('Failed', String(s.totals.failed || 0), s.totals.failed ? 'alert' : ''),
    tile('Success rate', fmtRate(rate)),
    hasLatency(s) ? tile('Latency p50 / p95', `${fmtMs(s.latency_p50_ms)} / ${fmtMs(s.latency_p95_ms)}`) : null,
  ].filter(Boolean));
  $('home-chart').replaceChildren(volumeChart(s.buckets || [], { hourly: true, title: 'Deliveries per hour, last 24 hours' }));

  const disabled = state.endpoints.filter((e) => !e.enabled);
  $('home-alerts').replaceChildren(...(disabled.length ? [h('div', { className: 'callout bad', attrs: { role: 'status' } },
    h('strong', { text: disabled.length === 1 ? 'One endpoint is disabled: it receives nothing.' : `${disabled.length} endpoints are disabled: they receive nothing.` }),
    h('ul', {}, ...disabled.map((e) => h('li', {},
      h('a', { href: `?view=endpoint&id=${e.id}`, className: 'url', text: e.url }),
      e.disabled_reason ? h('span', { text: ` — ${e.disabled_reason}` }) : null))))] : []));

  const byEp = new Map((s.endpoints || []).map((x) => [x.endpoint_id, x]));
  $('home-endpoints').replaceChildren(...state.endpoints.map((e) => {
    const st = byEp.get(e.id) || {};
    return h('li', { className: 'health-item', dataset: { endpointId: e.id } },
      h('div', { className: 'item-main' },
        h('a', { href: `?view=endpoint&id=${e.id}`, className: 'url', text: e.url }),
        h('div', { className: 'small' }, enabledBadge(e),
          !e.enabled && e.disabled_reason ? h('span', { className: 'reason', text: ` ${e.disabled_reason}` }) : null)),
      h('div', { className: 'health-figures' },
        h('div', {}, h('span', { className: 'small muted', text: 'Success rate ' }), h('strong', { className: 'rate', text: fmtRate(successRate(st)) })),
        h('div', {}, h('span', { className: 'small muted', text: 'Waiting ' }), h('strong', { text: String(st.pending || 0) })),
        !hasLastFailure(s) ? null : h('div', { className: 'last-failure' },
          h('span', { className: 'small muted', text: 'Last failure ' }),
          st.last_failure_at
            ? h('span', {}, h('span', { text: fmtAgo(st.last_failure_at), title: st.last_failure_at }), ' ',
              h('span', { className: 'error-text', text: st.last_failure_error || '' }))
            : h('span', { text: 'none' }))));
  }));
  $('home-endpoints-empty').hidden = state.endpoints.length > 0;
}

/* ---- endpoints ---- */

async function renderEndpointsView() {
  await loadEndpoints();
  if (state.view !== 'endpoints') return;
  renderEndpointList();
  if (state.params.get('add') === '1' && canWrite()) {
    go({ view: 'endpoints' }, { replace: true });
    await addEndpoint();
  }
}

function renderEndpointList() {
  $('endpoint-list').replaceChildren(...state.endpoints.map((ep) => h('li', { className: 'card item', dataset: { endpointId: ep.id } },
    h('div', { className: 'item-main' },
      h('a', { href: `?view=endpoint&id=${ep.id}`, className: 'url item-title', text: ep.url }),
      ep.description ? h('div', { className: 'muted small description', text: ep.description }) : null,
      h('div', { className: 'item-meta' }, enabledBadge(ep),
        !ep.enabled && ep.disabled_reason ? h('span', { className: 'reason small', text: ep.disabled_reason }) : null,
        typeChips(ep.event_types))),
    h('a', { href: `?view=endpoint&id=${ep.id}`, className: 'button secondary', text: 'Open', attrs: { 'aria-label': `Open ${ep.url}` } }))));
  $('endpoints-empty').hidden = state.endpoints.length > 0;
}

/* The endpoint form, for adding (ep null) and editing. */
async function endpointForm(ep) {
  const types = await eventTypes();
  const picker = eventTypePicker(types, ep ? ep.event_types : []);
  const input = (name, props, label, hint) => {
    const id = `ef-${name}`;
    return h('div', { className: 'field', dataset: { field: name } },
      h('label', { htmlFor: id, text: label }),
      hint ? h('span', { className: 'hint', id: `${id}-hint`, text: hint }) : null,
      h('input', { id, name, autocomplete: 'off', ...props, attrs: hint ? { 'aria-describedby': `${id}-hint` } : {} }));
  };
  const headerRows = h('div', { className: 'header-rows' });
  const addHeaderRow = (name = '', value = '') => {
    const n = headerRows.children.length + 1;
    const row = h('div', { className: 'header-row' },
      h('input', { type: 'text', className: 'h-name', value: name, placeholder: 'X-Name', autocomplete: 'off', attrs: { 'aria-label': `Header ${n} name` } }),
      h('input', { type: 'text', className: 'h-value', value, placeholder: 'value', autocomplete: 'off', attrs: { 'aria-label': `Header ${n} value` } }),
      h('button', {
        type: 'button',
        className: 'icon-button',
        text: '×',
        attrs: { 'aria-label': `Remove header ${n}` },
        on: { click: () => row.remove() },
      }));
    headerRows.append(row);
    return row;
  };
  for (const [k, v] of Object.entries((ep && ep.headers) || {})) addHeaderRow(k, v);
  const headers = h('fieldset', { className: 'headers-field', dataset: { field: 'headers' } },
    h('legend', { text: 'Extra headers' }),
    h('span', { className: 'hint', text: 'Sent with every request, e.g. an authorization your receiver checks.' }),
    headerRows,
    h('button', {
      type: 'button',
      className: 'button small secondary',
      text: 'Add header',
      on: { click: () => addHeaderRow().querySelector('input').focus() },
    }));
  const fifo = !!(ep && ep.ordering === 'fifo');
  const orderRadio = (value, checked, label) => h('label', { className: 'check' },
    h('input', { type: 'radio', name: 'ordering', value, checked }), h('span', { text: label }));
  const orderingField = h('fieldset', { className: 'ordering-field', dataset: { field: 'ordering' } },
    h('legend', { text: 'Delivery order' }),
    h('div', { className: 'picker-mode' },
      orderRadio('unordered', !fifo, 'Any order, several at once'),
      orderRadio('fifo', fifo, 'In order, one at a time')),
    h('span', { className: 'hint', text: 'In order sends one delivery at a time, in the order the events were created, whatever the max concurrency: a delivery waiting for a retry holds the ones behind it until it succeeds or you skip it.' }));
  const body = [
    input('url', { type: 'url', value: ep ? ep.url : '', placeholder: 'https://example.com/webhooks', required: true }, 'URL'),
    input('description', { type: 'text', value: (ep && ep.description) || '' }, 'Description (optional)'),
    picker.el,
    headers,
    orderingField,
    h('div', { className: 'form-row' },
      input('max_concurrency', { type: 'number', min: 1, max: 100, value: ep ? ep.max_concurrency : 10 }, 'Max concurrency',
        'Requests in flight at once, 1–100'),
      input('rate_limit', { type: 'number', min: 1, value: ep && ep.rate_limit ? ep.rate_limit : '' }, 'Rate limit',
        'Requests per second; empty for no limit')),
  ];
  /* The body to send, or a thrown field error for what the browser can tell. */
  const read = (form) => {
    const f = form.elements;
    const url = f.url.value.trim();
    if (!url) throw fieldError('url', 'Enter the URL your webhooks should go to.');
    if (picker.choosing() && picker.value().length === 0) throw fieldError('event_types', 'Choose at least one event type, or All events.');
    const hdrs = {};
    for (const row of headerRows.children) {
      const name = row.querySelector('.h-name').value.trim();
      const value = row.querySelector('.h-value').value;
      if (!name && !value) continue;
      if (!name) throw fieldError('headers', 'Give every header a name, or remove the row.');
      hdrs[name] = value;
    }
    const mc = f.max_concurrency.value.trim();
    const rl = f.rate_limit.value.trim();
    const out = {
      url,
      description: f.description.value.trim(),
      event_types: picker.value(),
      headers: hdrs,
      rate_limit: rl === '' ? null : Number(rl),
      ordering: f.ordering.value === 'fifo' ? 'fifo' : 'unordered',
    };
    if (mc !== '') out.max_concurrency = Number(mc);
    if (!ep && out.rate_limit === null) delete out.rate_limit;
    return out;
  };
  return { body, read };
}

async function addEndpoint() {
  const { body, read } = await endpointForm(null);
  openDialog({
    title: 'Add an endpoint',
    body,
    submit: 'Add endpoint',
    wide: true,
    onSubmit: async (form) => {
      const created = await api('POST', tenantPath('/endpoints'), read(form));
      showMessage(`Added ${created.url}`, 'success');
      await loadEndpoints();
      go({ view: 'endpoint', id: created.id });
    },
  });
}

async function editEndpoint(ep) {
  const { body, read } = await endpointForm(ep);
  openDialog({
    title: 'Edit the endpoint',
    body,
    submit: 'Save changes',
    wide: true,
    onSubmit: async (form) => {
      const updated = await api('PATCH', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}`), read(form));
      upsertEndpoint(updated);
      renderEndpointHead(updated);
      showMessage('Saved.', 'success');
    },
  });
}

function upsertEndpoint(ep) {
  const list = state.endpoints.filter((e) => e.id !== ep.id);
  list.push(ep);
  list.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  setEndpoints(list);
}

/* ---- one endpoint ---- */

async function renderEndpointPage(fresh) {
  const id = state.params.get('id');
  state.endpointPage = id;
  if (fresh) {
    $('endpoint-secret').replaceChildren();
    $('endpoint-charts').replaceChildren();
  }
  let ep;
  try {
    ep = await api('GET', tenantPath(`/endpoints/${encodeURIComponent(id || '-')}`));
  } catch (e) {
    if (e.status === 404) {
      showMessage('This endpoint does not exist any more.');
      go({ view: 'endpoints' }, { replace: true });
      return;
    }
    throw e;
  }
  const [health] = await Promise.all([endpointStats(id), ensureEndpoints()]);
  upsertEndpoint(ep);
  if (state.view !== 'endpoint' || state.params.get('id') !== id) return;
  renderEndpointHealth(id, health);
  renderEndpointHead(ep);
  if (fresh) renderSecret(ep, null);
}

function renderEndpointHead(ep) {
  $('endpoint-title').textContent = ep.url;
  $('endpoint-status').replaceChildren(enabledBadge(ep));
  $('endpoint-description').textContent = ep.description || '';
  $('endpoint-description').hidden = !ep.description;
  const act = (text, fn, cls = 'button secondary') => h('button', {
    type: 'button', className: cls, text, on: { click: () => guard(() => fn(ep)) },
  });
  const actions = [];
  if (canWrite()) {
    actions.push(act('Edit', editEndpoint), act('Send test event', sendTest), act('Recover failed since…', recoverFailed),
      act(ep.enabled ? 'Disable' : 'Enable', toggleEndpoint), act('Delete', deleteEndpoint, 'button danger-outline'));
  }
  actions.push(h('a', { className: 'button secondary', href: `?view=deliveries&endpoint=${ep.id}`, text: 'View deliveries' }));
  replaceKeepingFocus($('endpoint-actions'), ...actions);
  renderBlocked(ep);
  const headers = Object.entries(ep.headers || {});
  $('endpoint-details').replaceChildren(
    ...field('URL', h('span', { className: 'url', text: ep.url })),
    ...field('Description', ep.description || h('span', { className: 'muted', text: 'none' })),
    ...field('Event types', typeChips(ep.event_types)),
    ...field('Extra headers', headers.length
      ? h('pre', { className: 'inline-pre', text: headers.map(([k, v]) => `${k}: ${v}`).join('\n') })
      : h('span', { className: 'muted', text: 'none' })),
    ...field('Delivery order', ep.ordering === 'fifo' ? 'In order, one at a time' : 'Any order'),
    ...field('Max concurrency', concurrencyText(ep)),
    ...field('Rate limit', ep.rate_limit ? `${ep.rate_limit} per second` : 'No limit'),
    ...field('Created', timeEl(ep.created_at)),
    ...field('Updated', timeEl(ep.updated_at)),
    ...field('Endpoint id', h('span', { className: 'id', text: ep.id })));
  const status = $('endpoint-health').querySelector('[data-k=status]');
  if (status) status.replaceChildren(enabledBadge(ep), !ep.enabled && ep.disabled_reason ? h('div', { className: 'reason small', text: ep.disabled_reason }) : '');
  $('endpoint-secret-card').hidden = !canWrite();
}

/* Replaces el's children; when keyboard focus was on one of its controls,
 * it moves to the new control of the same name. Live updates redraw the
 * endpoint's actions and banner while someone may be tabbing through them
 * or has just closed a dialog opened from them. */
function replaceKeepingFocus(el, ...children) {
  const had = el.contains(document.activeElement) ? document.activeElement.textContent : null;
  el.replaceChildren(...children);
  if (had === null) return;
  const same = [...el.querySelectorAll('button, a')].find((b) => b.textContent === had);
  if (same) same.focus();
}

/* What the endpoint may have in flight: a fifo endpoint one at a time;
 * another its max_concurrency, or less while its receiver struggles
 * (current_concurrency, lowered by 429, 503 and timeouts). */
function concurrencyText(ep) {
  if (ep.ordering === 'fifo') return `1 at a time, in order (${ep.max_concurrency} at once in any order)`;
  const cur = ep.current_concurrency;
  if (typeof cur === 'number' && cur < ep.max_concurrency) {
    return h('span', {},
      h('strong', { className: 'throttled', text: `Sending ${cur} at once of max ${ep.max_concurrency}` }),
      h('span', { className: 'small muted block', text: 'Lowered after answers of 429 or 503, or timeouts; it grows back as requests succeed.' }));
  }
  return `${ep.max_concurrency} at once`;
}

/* The banner of a fifo endpoint held behind a delivery waiting for its
 * retry, with what it is waiting for and the two ways past it. */
function renderBlocked(ep) {
  const box = $('endpoint-blocked');
  const b = ep.blocked_by;
  if (!b) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const why = b.last_status_code !== null && b.last_status_code !== undefined
    ? `its last attempt got HTTP ${b.last_status_code}`
    : `its last attempt failed: ${b.last_error || 'no answer'}`;
  const link = h('a', { className: 'id', href: `?view=deliveries&endpoint=${ep.id}&delivery=${b.delivery_id}`, text: b.delivery_id });
  const act = (text, fn, cls) => h('button', { type: 'button', className: cls, text, on: { click: () => guard(() => fn(b)) } });
  replaceKeepingFocus(box,
    h('p', { className: 'blocked-text' },
      h('strong', { text: 'Blocked behind delivery ' }), link,
      h('span', { text: ` (attempt ${b.attempt_count}; ${why}; next try ` }), timeEl(b.next_attempt_at), h('span', { text: ').' })),
    h('p', { className: 'small', text: 'Deliveries to this endpoint go in order, so the ones after it wait. Retry it now, or skip it to let the rest go.' }),
    canWrite() ? h('div', { className: 'blocked-actions' },
      act('Retry it now', retryBlocking, 'button small'),
      act('Skip it', skipBlocking, 'button small danger-outline')) : null);
  box.hidden = false;
}

async function retryBlocking(b) {
  try {
    await api('POST', tenantPath(`/deliveries/${encodeURIComponent(b.delivery_id)}/replay`));
    showMessage('Retrying it now: the endpoint moves on when it succeeds.', 'success');
  } catch (e) {
    if (e.status !== 409) throw e;
    showMessage(`Not retried: ${e.message}`);
  }
  await refreshEndpointHead();
}

/* Asks first: a skipped delivery is not sent again unless replayed. */
function confirmSkip(deliveryId, after) {
  openDialog({
    title: 'Skip this delivery?',
    body: [h('p', {}, 'Delivery ', h('span', { className: 'id', text: deliveryId }),
      ' ends failed now, marked "skipped", and is not sent again unless you replay it. Deliveries behind it on an in-order endpoint go next.')],
    submit: 'Skip delivery',
    danger: true,
    onSubmit: async () => {
      try {
        await api('POST', tenantPath(`/deliveries/${encodeURIComponent(deliveryId)}/skip`));
        showMessage('Skipped.', 'success');
      } catch (e) {
        if (e.status !== 409) throw e;
        showMessage(`Not skipped: ${e.message}`);
      }
      await after();
    },
  });
}

function skipBlocking(b) {
  confirmSkip(b.delivery_id, refreshEndpointHead);
}

/* Reads the open endpoint and its figures again, and draws them together:
 * whether it is blocked follows its deliveries, which live updates report,
 * not the endpoint itself, and the health panel must tell the same story
 * as the banner above it. */
async function refreshEndpointHead() {
  const id = state.params.get('id');
  if (state.view !== 'endpoint' || !id) return;
  let ep, health;
  try {
    [ep, health] = await Promise.all([api('GET', tenantPath(`/endpoints/${encodeURIComponent(id)}`)), endpointStats(id)]);
  } catch (e) {
    if (e.status === 404) return;
    throw e;
  }
  if (state.view !== 'endpoint' || state.params.get('id') !== id) return;
  upsertEndpoint(ep);
  renderEndpointHealth(id, health);
  renderEndpointHead(ep);
}

/* The endpoint's figures: the last 24 hours for the health panel, and the
 * last 7 days too when the charts show them. */
async function endpointStats(id) {
  const range = state.params.get('range') === '7d' ? '7d' : '24h';
  const now = Date.now();
  const [day, week] = await Promise.all([
    stats({ since: new Date(now - DAY_MS).toISOString(), endpoint_id: id }),
    range === '7d' ? stats({ since: new Date(now - 7 * DAY_MS).toISOString(), endpoint_id: id }) : null,
  ]);
  return { range, day, week };
}

/* Waiting is every delivery of the endpoint waiting now (the answer's
 * pending, read from the queue), not only those created in the last 24
 * hours: a delivery holding an in-order endpoint may be older. The last
 * failure is likewise the last failed attempt started in the last 24
 * hours, whatever the age of its delivery; the success rate and its
 * counts are of the deliveries created in them. */
function renderEndpointHealth(id, { range, day, week }) {
  for (const b of document.querySelectorAll('#view-endpoint .seg')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
  const ep = state.endpointById.get(id);
  const mine = (day.endpoints || []).find((x) => x.endpoint_id === id) || {};
  const waiting = day.pending ?? mine.pending ?? 0;
  $('endpoint-health').replaceChildren(
    h('dt', { text: 'Status' }),
    h('dd', { dataset: { k: 'status' } }, ep ? enabledBadge(ep) : '',
      ep && !ep.enabled && ep.disabled_reason ? h('div', { className: 'reason small', text: ep.disabled_reason }) : ''),
    ...field('Success rate, 24 h', h('strong', { className: 'rate', text: fmtRate(successRate(mine)) }),
      h('span', { className: 'small muted', text: ` (of the deliveries created in 24 h: ${mine.succeeded || 0} succeeded, ${mine.failed || 0} failed)` })),
    ...field('Waiting', String(waiting)),
    ...(!hasLastFailure(day) ? [] : field('Last failure', mine.last_failure_at
      ? h('span', {}, timeEl(mine.last_failure_at), ' ', h('span', { className: 'error-text', text: mine.last_failure_error || '' }))
      : 'no failed attempt in 24 h')));
  const s = week || day;
  const hourly = range === '24h';
  $('endpoint-charts').replaceChildren(...[
    h('div', {}, h('h3', { text: hourly ? 'Deliveries per hour' : 'Deliveries per day' }),
      volumeChart(s.buckets || [], { hourly, title: hourly ? 'Deliveries per hour, last 24 hours' : 'Deliveries per day, last 7 days' })),
    hasLatency(s) ? h('div', {}, h('h3', { text: 'Latency' }),
      latencyChart(s.buckets || [], { hourly, p50: s.latency_p50_ms, p95: s.latency_p95_ms })) : null,
  ].filter(Boolean));
}

/* The secret card: hidden until asked for; rotate shows the new key and
 * until when the previous one still signs. */
function renderSecret(ep, shown, previousUntil) {
  const box = $('endpoint-secret');
  if (!canWrite()) {
    box.replaceChildren();
    return;
  }
  const rotate = h('button', { type: 'button', className: 'button secondary', text: 'Rotate secret', on: { click: () => guard(() => rotateSecret(ep)) } });
  if (!shown) {
    box.replaceChildren(
      h('p', { className: 'small muted', text: 'Your receiver checks each request\'s signature with this secret.' }),
      h('div', { className: 'actions-bar' },
        h('button', { type: 'button', className: 'button secondary', text: 'Reveal secret', on: { click: () => guard(() => revealSecret(ep)) } }),
        rotate));
    return;
  }
  const code = h('code', { className: 'secret', text: shown });
  box.replaceChildren(
    h('div', { className: 'secret-line' }, code),
    h('div', { className: 'actions-bar' },
      copyButton(shown, 'Copy the signing secret', code),
      h('button', { type: 'button', className: 'button secondary', text: 'Hide secret', on: { click: () => renderSecret(ep, null) } }),
      rotate),
    previousUntil ? h('p', { className: 'notice ok previous-until' }, 'Secret rotated. The previous secret still signs until ', timeEl(previousUntil),
      ': update your receiver before then.') : null);
}

async function revealSecret(ep) {
  const got = await api('GET', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}/secret`));
  renderSecret(ep, got.key);
}

function rotateSecret(ep) {
  openDialog({
    title: 'Rotate the signing secret?',
    body: h('p', { text: `A new secret signs the requests to ${ep.url} from now on. The current one keeps signing beside it for 24 hours, so your receiver can switch without missing a request.` }),
    submit: 'Rotate secret',
    onSubmit: async () => {
      const got = await api('POST', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}/secret/rotate`), {});
      renderSecret(ep, got.key, got.previous_expires_at);
    },
  });
}

async function toggleEndpoint(ep) {
  const updated = await api('PATCH', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}`), { enabled: !ep.enabled });
  upsertEndpoint(updated);
  renderEndpointHead(updated);
  showMessage(`${updated.enabled ? 'Enabled' : 'Disabled'} ${updated.url}`, 'success');
}

function deleteEndpoint(ep) {
  openDialog({
    title: 'Delete this endpoint?',
    body: [h('p', {}, 'Delete ', h('strong', { className: 'url', text: ep.url }), '?'),
      h('p', { text: 'It stops receiving webhooks at once and its waiting deliveries end as failed. This cannot be undone.' })],
    submit: 'Delete endpoint',
    danger: true,
    onSubmit: async () => {
      await api('DELETE', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}`));
      setEndpoints(state.endpoints.filter((e) => e.id !== ep.id));
      showMessage(`Deleted ${ep.url}`, 'success');
      go({ view: 'endpoints' }, { replace: true });
    },
  });
}

async function sendTest(ep) {
  const types = (await eventTypes()).filter((t) => !t.archived);
  const names = types.map((t) => t.name);
  if (!names.includes('hookd.ping')) names.unshift('hookd.ping');
  const byName = new Map(types.map((t) => [t.name, t]));
  const select = h('select', { id: 'test-type', name: 'event_type' }, ...names.map((n) => h('option', { value: n, text: n })));
  const example = h('pre', { className: 'body', id: 'test-example' });
  const showExample = () => {
    const t = byName.get(select.value);
    example.textContent = t && t.example !== null && t.example !== undefined
      ? JSON.stringify(t.example, null, 2) : '(the event\'s built-in test payload)';
  };
  select.addEventListener('change', showExample);
  showExample();
  openDialog({
    title: 'Send a test event',
    body: [
      h('p', { className: 'small', text: `Sends one event to ${ep.url} alone, whatever its event types.` }),
      h('div', { className: 'field', dataset: { field: 'event_type' } }, h('label', { htmlFor: 'test-type', text: 'Event type' }), select),
      h('div', { className: 'attempt-label', text: 'Payload (the type\'s example)' }), example,
    ],
    submit: 'Send test event',
    onSubmit: async () => {
      const dl = await api('POST', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}/test`), { event_type: select.value });
      showMessage([`Test event ${select.value} sent to ${ep.url}. `,
        h('a', { href: `?view=deliveries&endpoint=${ep.id}&delivery=${dl.id}`, text: 'Follow its delivery' })], 'success');
    },
  });
}

function recoverFailed(ep) {
  const input = h('input', { id: 'recover-since', name: 'since', type: 'datetime-local', value: toLocalInput(new Date(Date.now() - DAY_MS)), max: toLocalInput(new Date()) });
  openDialog({
    title: 'Recover failed deliveries',
    body: [
      h('p', { text: `Sends again every failed delivery to ${ep.url} created since the time you pick, e.g. once you fixed the receiver.` }),
      h('div', { className: 'field', dataset: { field: 'since' } }, h('label', { htmlFor: 'recover-since', text: 'Failed since (your local time)' }), input),
    ],
    submit: 'Recover',
    onSubmit: async () => {
      const since = fromLocalInput(input.value);
      if (!since) throw fieldError('since', 'Pick a date and time.');
      const r = await api('POST', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}/recover`), { since });
      const n = r.replayed || 0;
      showMessage([n === 0 ? `No failed delivery since ${fmtTime(since, false)}: nothing to re-send. ` : `Re-sent ${n} failed ${n === 1 ? 'delivery' : 'deliveries'} created since ${fmtTime(since, false)}. `,
        n ? h('a', { href: `?view=deliveries&endpoint=${ep.id}`, text: 'Watch them' }) : null], 'success');
    },
  });
}

/* ---- deliveries ---- */

function renderFilterOptions() {
  const sel = $('f-endpoint');
  /* the address is the truth: a stale choice must not outlive a link */
  const want = state.view === 'deliveries' ? state.params.get('endpoint') || '' : sel.value;
  const opts = [h('option', { value: '', text: 'All' })];
  for (const ep of state.endpoints) opts.push(h('option', { value: ep.id, text: shortUrl(ep.url) }));
  if (want && !state.endpointById.has(want)) opts.push(h('option', { value: want, text: `${want.slice(0, 8)}… (deleted)` }));
  sel.replaceChildren(...opts);
  sel.value = want;
}

async function renderTypeOptions() {
  const sel = $('f-type');
  const want = state.params.get('type') || '';
  const names = (await eventTypes()).map((t) => t.name);
  if (!names.includes('hookd.ping')) names.push('hookd.ping');
  if (want && !names.includes(want)) names.push(want);
  sel.replaceChildren(h('option', { value: '', text: 'All' }), ...names.sort().map((n) => h('option', { value: n, text: n })));
  sel.value = want;
}

function filtersFromUrl() {
  const p = state.params;
  const out = {};
  for (const k of FILTERS) out[k] = p.get(k) || '';
  return out;
}

/* The filters as the API's query. */
function apiFilters(f) {
  return {
    status: f.status,
    endpoint_id: f.endpoint,
    event_type: f.type,
    created_after: f.after,
    created_before: f.before,
    search: f.q,
  };
}

function fillFilterForm(f) {
  const form = $('delivery-filters');
  form.elements.status.value = f.status;
  form.elements.q.value = f.q;
  form.elements.after.value = f.after ? toLocalInput(new Date(f.after)) : '';
  form.elements.before.value = f.before ? toLocalInput(new Date(f.before)) : '';
  renderFilterOptions();
}

async function enterDeliveries() {
  await ensureEndpoints();
  await renderTypeOptions();
  const f = filtersFromUrl();
  fillFilterForm(f);
  const key = JSON.stringify(f);
  if (key !== state.dl.key || !state.dl.loaded) {
    state.dl.key = key;
    await loadDeliveries(true);
  }
  const want = state.params.get('delivery');
  if (want && want !== state.detail.id) await openDelivery(want, null, false);
  else if (!want && state.detail.id) hideDetail();
}

/* The filter form into the address, then the list. */
function applyFilterForm() {
  const form = $('delivery-filters');
  clearErrors(form);
  const e = form.elements;
  const q = e.q.value.trim();
  if (q && !UUID_RE.test(q)) {
    showFieldError(form, 'search', 'Paste a whole id: 36 characters like 0190f0c4-7b1e-7cc2-9a51-3f4e2d1c0b9a.');
    return;
  }
  const after = fromLocalInput(e.after.value);
  const before = fromLocalInput(e.before.value);
  if (after && before && after > before) {
    showFieldError(form, 'created_before', 'Pick an end after the start.');
    return;
  }
  go({
    view: 'deliveries',
    status: e.status.value,
    endpoint: e.endpoint.value,
    type: e.type.value,
    after,
    before,
    q,
  }, { replace: true });
}

async function loadDeliveries(reset) {
  const d = state.dl;
  const seq = ++d.seq;
  const f = filtersFromUrl();
  const params = { ...apiFilters(f), limit: PAGE };
  if (!reset) params.cursor = d.cursor;
  let page;
  try {
    page = await api('GET', tenantPath('/deliveries') + query(params));
  } catch (e) {
    if (e.status === 422 && seq === d.seq) {
      showFieldError($('delivery-filters'), e.field, e.message);
      d.items = [];
      d.cursor = null;
      renderDeliveries();
      return;
    }
    throw e;
  }
  if (seq !== d.seq) return; /* a newer load replaced this one */
  d.loaded = true;
  d.f = f;
  if (reset) {
    d.items = page.data;
    d.cursor = page.has_more ? page.next_cursor : null;
    renderDeliveries();
  } else {
    const have = new Set(d.items.map((x) => x.id));
    const fresh = page.data.filter((x) => !have.has(x.id));
    d.items = d.items.concat(fresh);
    d.cursor = page.has_more ? page.next_cursor : null;
    $('delivery-list').append(...fresh.map(deliveryRow));
    $('deliveries-more').hidden = !d.cursor;
  }
}

function renderDeliveries() {
  const d = state.dl;
  $('delivery-list').replaceChildren(...d.items.map(deliveryRow));
  $('deliveries-empty').hidden = d.items.length > 0;
  $('deliveries-more').hidden = !d.cursor;
}

function lastResult(dl) {
  if (dl.last_status_code !== null && dl.last_status_code !== undefined) return codeBadge(dl.last_status_code);
  if (dl.last_error) return h('span', { className: 'error-text', text: dl.last_error, title: dl.last_error });
  return h('span', { className: 'muted', text: '—' });
}

function deliveryHref(id) {
  const p = new URLSearchParams(location.search);
  p.set('view', 'deliveries');
  p.set('delivery', id);
  return `?${p.toString()}`;
}

function rowCells(dl) {
  return [
    h('span', { className: 'c-status' }, statusBadge(dl.status)),
    h('span', { className: 'c-type mono', text: dl.event_type }),
    h('span', { className: 'c-endpoint url ellipsis', text: shortUrl(endpointLabel(dl.endpoint_id)), title: endpointLabel(dl.endpoint_id) }),
    h('span', { className: 'c-attempts num' }, String(dl.attempt_count),
      h('span', { className: 'word', text: dl.attempt_count === 1 ? ' attempt' : ' attempts' })),
    h('span', { className: 'c-result' }, lastResult(dl)),
    h('span', { className: 'c-created nowrap' }, timeEl(dl.created_at)),
  ];
}

function deliveryRow(dl) {
  return h('li', { className: dl.id === state.detail.id ? 'selected' : '', dataset: { deliveryId: dl.id, status: dl.status } },
    h('a', { className: 'dl-row', href: deliveryHref(dl.id), dataset: { deliveryId: dl.id } }, ...rowCells(dl)));
}

/* Does a delivery belong in the list the filters show? */
function matchesFilters(dl, f) {
  if (f.status && dl.status !== f.status) return false;
  if (f.endpoint && dl.endpoint_id !== f.endpoint) return false;
  if (f.type && dl.event_type !== f.type) return false;
  if (f.after && dl.created_at < f.after) return false;
  if (f.before && dl.created_at > f.before) return false;
  if (f.q && dl.id !== f.q.toLowerCase() && dl.event_id !== f.q.toLowerCase()) return false;
  return true;
}

const newer = (a, b) => a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id);

/* Live changes into the list: a known delivery is updated in place (its
 * row element kept, so focus and scroll stay); a new one that the filters
 * show is inserted where it sorts, unless it sorts below the pages loaded
 * so far. The browser's scroll anchoring keeps what the reader looks at
 * still while rows are inserted above it. A delivery whose new status no
 * longer matches a status filter stays until the list is filtered again:
 * rows do not vanish under the reader's eyes. The list is kept up to date
 * while another view is shown, so coming back shows it current. */
function mergeDeliveries(changed) {
  const d = state.dl;
  if (!d.loaded) return;
  const f = d.f;
  const list = $('delivery-list');
  for (const dl of changed) {
    const i = d.items.findIndex((x) => x.id === dl.id);
    if (i >= 0) {
      d.items[i] = dl;
      const li = list.querySelector(`li[data-delivery-id="${CSS.escape(dl.id)}"]`);
      if (li) {
        li.dataset.status = dl.status;
        li.firstElementChild.replaceChildren(...rowCells(dl));
      }
      continue;
    }
    if (!matchesFilters(dl, f)) continue;
    let at = d.items.findIndex((x) => newer(dl, x));
    if (at < 0) {
      if (d.cursor) continue; /* older than everything loaded: a later page holds it */
      at = d.items.length;
    }
    const row = deliveryRow(dl);
    row.classList.add('fresh');
    const before = d.items[at] ? list.querySelector(`li[data-delivery-id="${CSS.escape(d.items[at].id)}"]`) : null;
    d.items.splice(at, 0, dl);
    list.insertBefore(row, before);
  }
  $('deliveries-empty').hidden = d.items.length > 0;
}

function hideDetail() {
  state.detail.id = null;
  state.detail.seq++;
  $('delivery-detail').hidden = true;
  $('view-deliveries').classList.remove('with-detail');
  for (const li of $('delivery-list').querySelectorAll('li.selected')) li.classList.remove('selected');
}

/* Closes the panel and gives focus back to the row that opened it. */
function closeDetail() {
  const id = state.detail.id;
  const opener = state.detail.opener;
  hideDetail();
  const p = new URLSearchParams(location.search);
  p.delete('delivery');
  history.replaceState(null, '', `?${p.toString()}`);
  const row = opener && opener.isConnected ? opener
    : id ? $('delivery-list').querySelector(`a[data-delivery-id="${CSS.escape(id)}"]`) : null;
  if (row) row.focus();
}

async function openDelivery(id, opener, focus = true) {
  if (state.detail.id !== id) $('replay-result').hidden = true;
  state.detail.id = id;
  state.detail.opener = opener || $('delivery-list').querySelector(`a[data-delivery-id="${CSS.escape(id)}"]`);
  const p = new URLSearchParams(location.search);
  if (p.get('delivery') !== id) {
    p.set('delivery', id);
    history.replaceState(null, '', `?${p.toString()}`);
    state.params = p;
  }
  for (const li of $('delivery-list').querySelectorAll('li')) li.classList.toggle('selected', li.dataset.deliveryId === id);
  await refreshDetail();
  const panel = $('delivery-detail');
  if (focus && !panel.hidden && state.detail.id === id) $('detail-title').focus();
}

/* Reads the open delivery and its attempts. The delivery first, its
 * attempts after: an outcome commits its status and its attempt together,
 * so attempts read later include the attempt behind a final status. */
async function refreshDetail() {
  const id = state.detail.id;
  if (!id) return;
  const seq = ++state.detail.seq;
  const base = tenantPath(`/deliveries/${encodeURIComponent(id)}`);
  let dl;
  try {
    dl = await api('GET', base);
  } catch (e) {
    if (e.status === 404) {
      showMessage('No such delivery: it may belong to another account or have been removed.');
      if (seq === state.detail.seq) closeDetail();
      return;
    }
    throw e;
  }
  const attempts = await listAll(`${base}/attempts`, {}, 4);
  const ev = attempts.length ? null : await api('GET', tenantPath(`/events/${encodeURIComponent(dl.event_id)}`)).catch(() => null);
  if (seq !== state.detail.seq || state.detail.id !== id) return;
  renderDetail(dl, attempts, ev);
  const i = state.dl.items.findIndex((x) => x.id === dl.id);
  if (i >= 0) mergeDeliveries([dl]);
}

function copyBlock(label, text, copyLabel) {
  const pre = h('pre', { className: 'body', text: text === '' ? '(empty)' : text });
  return h('div', { className: 'copy-block' },
    h('div', { className: 'attempt-label' }, h('span', { text: label }), copyButton(() => pre.dataset.raw ?? text, copyLabel, pre)),
    pre);
}

function renderDetail(dl, attempts, ev) {
  const fields = [
    ...field('Status', statusBadge(dl.status)),
    ...field('Event type', h('span', { className: 'mono', text: dl.event_type })),
    ...field('Endpoint', h('a', { href: `?view=endpoint&id=${dl.endpoint_id}`, className: 'url', text: endpointLabel(dl.endpoint_id) })),
    ...field('Attempts', String(dl.attempt_count)),
    ...field('Created', timeEl(dl.created_at)),
  ];
  if (dl.status === 'pending' && dl.next_attempt_at) fields.push(...field('Next attempt', timeEl(dl.next_attempt_at)));
  if (dl.completed_at) fields.push(...field('Completed', timeEl(dl.completed_at)));
  fields.push(...field('Delivery id', h('span', { className: 'id', text: dl.id })));
  fields.push(...field('Event id (webhook-id)', h('span', { className: 'id', text: dl.event_id })));
  $('detail-fields').replaceChildren(...fields);
  $('detail-endpoint').href = `?view=endpoint&id=${dl.endpoint_id}`;

  const replay = $('detail-replay');
  replay.hidden = !canWrite();
  replay.textContent = dl.status === 'pending' ? 'Retry now' : 'Replay';
  replay.disabled = dl.status === 'sending';
  replay.title = dl.status === 'sending' ? 'It is being sent right now' : dl.status === 'pending' ? 'Send it now instead of waiting for the next retry' : 'Send this event to the endpoint again';
  const skip = $('detail-skip');
  skip.hidden = !canWrite() || (dl.status !== 'pending' && dl.status !== 'sending');
  skip.disabled = dl.status === 'sending';
  skip.title = dl.status === 'sending' ? 'It is being sent right now' : 'End it failed without another attempt';

  const last = attempts[attempts.length - 1];
  const req = last && last.request ? last.request : null;
  const reqBox = $('detail-request');
  if (req) {
    const method = req.method || 'POST';
    const body = typeof req.body === 'string' ? req.body : '';
    const bodyBlock = copyBlock('Body', pretty(body), 'Copy the request body');
    bodyBlock.querySelector('pre').dataset.raw = body;
    reqBox.replaceChildren(
      h('p', { className: 'small muted', text: `As sent in attempt #${last.number}.` }),
      copyBlock('Method and URL', `${method} ${req.url || endpointLabel(dl.endpoint_id)}`, 'Copy the method and URL'),
      copyBlock('Headers', headerLines(req.headers), 'Copy the request headers'),
      bodyBlock);
  } else {
    reqBox.replaceChildren(
      h('p', { className: 'small muted', text: 'Not sent yet. Its payload:' }),
      ev ? copyBlock('Payload', JSON.stringify(ev.payload, null, 2), 'Copy the payload') : h('p', { className: 'muted', text: '—' }));
  }

  $('attempts').replaceChildren(...attempts.map(attemptItem));
  $('attempts-empty').hidden = attempts.length > 0;
  const panel = $('delivery-detail');
  const opening = panel.hidden;
  panel.hidden = false;
  $('view-deliveries').classList.add('with-detail');
  /* On a narrow screen the panel sits above the list: bring it into view. */
  if (opening && window.matchMedia('(max-width: 1000px)').matches) panel.scrollIntoView({ block: 'start' });
}

/* Where an attempt's time went, phase by phase, and the address it
 * reached; nothing for attempts recorded before hookd kept them. TLS shows
 * only when a handshake took place (not over plain HTTP, nor on a reused
 * connection); another phase that did not happen shows 0. */
function attemptTimings(a) {
  const t = a.timings;
  if (!t && !a.remote_ip) return null;
  const ms = (v) => (typeof v === 'number' ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms` : '—');
  const parts = t ? [['DNS', t.dns_ms], ['connect', t.connect_ms], ['TLS', t.tls_ms], ['first byte', t.ttfb_ms], ['total', t.total_ms]]
    .filter(([k, v]) => k !== 'TLS' || (typeof v === 'number' && v > 0)) : [];
  return h('div', { className: 'attempt-timings muted small' },
    ...parts.map(([k, v]) => h('span', { dataset: { phase: k }, text: `${k} ${ms(v)}` })),
    a.remote_ip ? h('span', { className: 'remote-ip', text: a.remote_ip }) : null);
}

function attemptItem(a) {
  const resp = a.response || {};
  const req = a.request || {};
  const outcome = a.status_code !== null && a.status_code !== undefined
    ? codeBadge(a.status_code)
    : h('span', { className: 'badge code-bad', text: 'no response' });
  const body = typeof resp.body === 'string' ? resp.body : resp.body === null || resp.body === undefined ? '' : JSON.stringify(resp.body);
  const respHeaders = headerLines(resp.headers);
  const reqHeaders = headerLines(req.headers);
  return h('li', { className: 'attempt', dataset: { number: a.number } },
    h('div', { className: 'attempt-head' },
      h('span', { className: 'attempt-no', text: `#${a.number}` }),
      outcome,
      h('span', { className: 'muted small' }, timeEl(a.started_at)),
      h('span', { className: 'muted small', text: a.duration_ms === null || a.duration_ms === undefined ? '' : `${a.duration_ms} ms` })),
    attemptTimings(a),
    a.error ? h('div', { className: 'error-text', text: a.error }) : null,
    h('div', { className: 'attempt-label' },
      h('span', { text: 'Response body' }),
      resp.truncated ? h('span', { className: 'badge truncated', text: 'cut at 4 KiB' }) : null),
    h('pre', { className: 'body resp-body', text: body === '' ? '(empty)' : pretty(body) }),
    respHeaders ? h('details', {}, h('summary', { text: 'Response headers' }), h('pre', { text: respHeaders })) : null,
    reqHeaders ? h('details', {}, h('summary', { text: 'Request headers of this attempt' }), h('pre', { text: reqHeaders })) : null);
}

async function replayDelivery() {
  const id = state.detail.id;
  if (!id) return;
  const note = $('replay-result');
  const button = $('detail-replay');
  const retry = button.textContent === 'Retry now';
  button.disabled = true;
  try {
    await api('POST', tenantPath(`/deliveries/${encodeURIComponent(id)}/replay`));
    note.className = 'notice ok';
    note.textContent = retry ? 'Retrying now: the result shows here when it comes.' : 'Replay queued: the result shows here when it comes.';
    note.hidden = false;
  } catch (e) {
    if (e.status === 409) {
      note.className = 'notice warn';
      note.textContent = `Not sent: ${e.message}`;
      note.hidden = false;
    } else {
      showError(e);
    }
  }
  await refreshDetail();
}

function skipDelivery() {
  const id = state.detail.id;
  if (id) confirmSkip(id, refreshDetail);
}

/* ---- events ---- */

async function loadEvents(reset) {
  const ev = state.events;
  const seq = ++ev.seq;
  const params = { limit: PAGE };
  if (!reset) params.cursor = ev.cursor;
  const page = await api('GET', tenantPath('/events') + query(params));
  if (seq !== ev.seq) return;
  ev.items = reset ? page.data : ev.items.concat(page.data);
  ev.cursor = page.has_more ? page.next_cursor : null;
  if (reset) $('event-list').replaceChildren(...ev.items.map(eventItem));
  else $('event-list').append(...page.data.map(eventItem));
  $('events-empty').hidden = ev.items.length > 0;
  $('events-more').hidden = !ev.cursor;
}

function eventItem(e) {
  return h('li', { className: 'card event-item', dataset: { eventId: e.id } },
    h('details', {},
      h('summary', {},
        h('span', { className: 'mono ev-type', text: e.event_type }),
        h('span', { className: 'small muted' }, timeEl(e.created_at)),
        h('span', { className: 'id ev-id', text: e.id })),
      h('div', { className: 'event-body' },
        copyBlock('Payload', JSON.stringify(e.payload, null, 2), 'Copy the payload'),
        e.idempotency_key ? h('div', { className: 'small muted', text: `Idempotency key: ${e.idempotency_key}` }) : null,
        h('a', { className: 'button small secondary', href: `?view=deliveries&q=${e.id}`, text: 'Its deliveries' }))));
}

/* ---- wiring ---- */

function wire() {
  document.addEventListener('click', onLinkClick);
  window.addEventListener('popstate', () => route());
  $('message-close').addEventListener('click', hideMessage);
  $('sign-out').addEventListener('click', () => guard(signOut));
  $('switch-tenant').addEventListener('click', () => guard(switchTenant));
  $('operator-sign-out').addEventListener('click', () => guard(signOut));
  $('nav-toggle').addEventListener('click', () => {
    const open = !$('nav').classList.contains('open');
    $('nav').classList.toggle('open', open);
    $('nav-toggle').setAttribute('aria-expanded', String(open));
  });
  $('nav').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('nav').classList.contains('open')) {
      closeMenu();
      $('nav-toggle').focus();
    }
  });
  $('link-form').addEventListener('submit', (e) => guard(() => signInWithLink(e)));
  $('operator-form').addEventListener('submit', (e) => guard(() => signInOperator(e)));
  $('tenant-search').addEventListener('input', renderTenants);

  $('endpoint-add').addEventListener('click', () => guard(addEndpoint));
  for (const b of document.querySelectorAll('#view-endpoint .seg')) {
    b.addEventListener('click', () => go({ view: 'endpoint', id: state.params.get('id'), range: b.dataset.range === '7d' ? '7d' : '' }, { replace: true }));
  }

  const filters = $('delivery-filters');
  filters.addEventListener('submit', (e) => { e.preventDefault(); applyFilterForm(); });
  filters.addEventListener('change', (e) => { if (e.target.name !== 'q') applyFilterForm(); });
  $('filters-clear').addEventListener('click', () => { filters.reset(); go({ view: 'deliveries' }, { replace: true }); });
  $('deliveries-more').addEventListener('click', () => guard(() => loadDeliveries(false)));
  $('detail-close').addEventListener('click', closeDetail);
  $('delivery-detail').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      closeDetail();
    }
  });
  $('detail-replay').addEventListener('click', () => guard(replayDelivery));
  $('detail-skip').addEventListener('click', () => guard(skipDelivery));
  $('events-more').addEventListener('click', () => guard(() => loadEvents(false)));

  $('dialog-close').addEventListener('click', () => $('dialog').close());
  $('dialog-cancel').addEventListener('click', () => $('dialog').close());

  /* A new sign-in link opened in this tab replaces the session. */
  window.addEventListener('hashchange', () => {
    if (/(^#|&)token=/.test(location.hash)) location.reload();
  });
}

wire();
boot().catch(showError);
