/*
 * app.js - the tenant portal's behaviour: takes the token from the sign-in
 * link (`#token=…&tenant=…`), keeps it in sessionStorage and drops it from
 * the address bar, finds the tenant, and drives the three views (endpoints,
 * deliveries with their attempts and replay, events) through the REST API.
 * Every API error is shown in the message area. Data from the API reaches
 * the page only as text nodes (textContent), never as markup.
 */

const TOKEN_KEY = 'hookd.portal.token';
const TENANT_KEY = 'hookd.portal.tenant';
const VIEW_KEY = 'hookd.portal.view';
const VIEWS = ['endpoints', 'deliveries', 'events'];
const STATUSES = ['pending', 'sending', 'succeeded', 'failed'];
const REQUEST_TIMEOUT_MS = 20000;
const POLL_MS = 1500;
const PAGE = 50;

const state = {
  token: null,
  tenantId: null,
  view: null,
  endpoints: [],
  endpointById: new Map(),
  endpointsLoaded: false,
  deliveries: { items: [], cursor: null, seq: 0 },
  events: { items: [], cursor: null, seq: 0, open: new Set() },
  detail: { id: null, timer: null, seq: 0 },
  messageTimer: null,
};

const $ = (id) => document.getElementById(id);

/* Builds an element. props: className, text, title, attrs (attributes),
 * dataset, on (event handlers), and any DOM property (type, disabled …).
 * Children are nodes or strings; strings become text nodes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'className') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) el.setAttribute(a, av);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

/* ---- API ---- */

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

function tenantPath(rest = '') {
  return `/v1/tenants/${encodeURIComponent(state.tenantId)}${rest}`;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/* One API call. Resolves to the parsed JSON body (null for 204); rejects
 * with an ApiError carrying the API's error code, message and field. A 401
 * ends the session: the link has expired or the key was revoked. */
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
  init.signal = ctrl.signal;
  let resp;
  let text;
  try {
    resp = await fetch(path, init);
    text = await resp.text();
  } catch (e) {
    const why = e && e.name === 'AbortError' ? 'did not answer in time' : 'cannot be reached';
    throw new ApiError(0, 'network', `The webhook service ${why}. Check your connection and try again.`);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = data && typeof data.error === 'object' && data.error ? data.error : {};
    const e = new ApiError(resp.status, err.code || `http_${resp.status}`,
      err.message || `The webhook service answered ${resp.status}.`, err.field);
    if (resp.status === 401) {
      signOut('Your sign-in link is no longer valid: it may have expired.');
    }
    throw e;
  }
  return data;
}

/* Every page of a list, up to a bound that keeps the page responsive. */
async function listAll(path, params = {}, maxPages = 20) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await api('GET', path + query({ ...params, limit: 250, cursor }));
    out.push(...page.data);
    if (!page.has_more || !page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

/* ---- messages ---- */

function showMessage(text, kind = 'error', detail = null) {
  const box = $('message');
  clearTimeout(state.messageTimer);
  box.className = `message ${kind}`;
  const t = $('message-text');
  t.replaceChildren(text);
  if (detail) t.append(h('span', { className: 'message-detail', text: detail }));
  box.hidden = false;
  if (kind === 'success') state.messageTimer = setTimeout(hideMessage, 5000);
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
  if (e.status === 401) return; /* the signed-out screen says it */
  const bits = [];
  if (e.field) bits.push(`field: ${e.field}`);
  if (e.code && e.code !== 'network') bits.push(`code: ${e.code}`);
  showMessage(e.message, 'error', bits.length ? bits.join(' · ') : null);
}

/* Runs an action, showing its error if it fails. */
async function guard(fn) {
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

/* ---- formatting ---- */

/* Local time, the year only when it is not this one; the exact UTC time
 * is in the element's title. */
function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
  return d.toLocaleString(undefined, opts);
}

function timeEl(iso) {
  return h('time', { text: fmtTime(iso), title: iso || '', attrs: iso ? { datetime: iso } : {} });
}

function statusBadge(status) {
  const known = STATUSES.includes(status) ? status : 'unknown';
  return h('span', { className: `badge status-${known}`, text: status || 'unknown' });
}

function codeBadge(code) {
  const cls = code >= 200 && code < 300 ? 'ok' : code >= 300 && code < 500 ? 'warn' : 'bad';
  return h('span', { className: `badge code-${cls}`, text: `HTTP ${code}` });
}

function endpointLabel(id) {
  const ep = state.endpointById.get(id);
  return ep ? ep.url : id ? `${id.slice(0, 8)}… (deleted)` : '—';
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
    for (const [k, v] of Object.entries(headers)) {
      for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
    }
  } else {
    lines.push(String(headers));
  }
  return lines.join('\n');
}

/* ---- session ---- */

/* Takes the token (and, for an operator's key, the tenant) from the link's
 * fragment, then removes the fragment so the token does not linger in the
 * address bar, the history or a bookmark. */
function readFragment() {
  if (!location.hash || location.hash.length < 2) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    const tenant = params.get('tenant');
    if (tenant) sessionStorage.setItem(TENANT_KEY, tenant);
    else sessionStorage.removeItem(TENANT_KEY);
    sessionStorage.removeItem(VIEW_KEY);
  }
  history.replaceState(null, '', location.pathname + location.search);
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TENANT_KEY);
  sessionStorage.removeItem(VIEW_KEY);
  state.token = null;
  state.tenantId = null;
  stopPolling();
  showSignedOut(reason);
}

function showSignedOut(reason) {
  for (const s of document.querySelectorAll('.view')) s.hidden = true;
  $('tabs').hidden = true;
  $('sign-out').hidden = true;
  $('tenant-name').textContent = '';
  $('signed-out-reason').textContent = reason;
  $('view-signed-out').hidden = false;
}

async function boot() {
  readFragment();
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (!state.token) {
    showSignedOut('This page opens from a sign-in link.');
    return;
  }
  let me;
  try {
    me = await api('GET', '/v1/me');
  } catch (e) {
    if (e.status !== 401) {
      showSignedOut('The portal could not check your sign-in link.');
      showError(e);
    }
    return;
  }
  if (me && me.role === 'tenant' && me.tenant_id) {
    state.tenantId = me.tenant_id;
  } else if (me && me.role === 'admin') {
    state.tenantId = sessionStorage.getItem(TENANT_KEY);
    if (!state.tenantId) {
      showSignedOut('This link names no tenant: an operator key needs "&tenant=<id>" in the link.');
      return;
    }
  } else {
    showSignedOut('This sign-in link does not lead to a tenant.');
    return;
  }
  try {
    const tenant = await api('GET', tenantPath());
    $('tenant-name').textContent = tenant.name || '';
  } catch (e) {
    if (e.status === 404) {
      showSignedOut('The account this link belongs to does not exist any more.');
      return;
    }
    showError(e);
  }
  $('tabs').hidden = false;
  $('sign-out').hidden = false;
  loadEventTypeHint();
  const saved = sessionStorage.getItem(VIEW_KEY);
  showView(VIEWS.includes(saved) ? saved : 'endpoints');
}

/* ---- views ---- */

function showView(name) {
  state.view = name;
  sessionStorage.setItem(VIEW_KEY, name);
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${name}`;
  for (const t of document.querySelectorAll('.tab')) {
    const on = t.dataset.view === name;
    t.classList.toggle('active', on);
    t.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  if (name !== 'deliveries') stopPolling();
  if (name === 'endpoints') guard(loadEndpoints);
  else if (name === 'deliveries') guard(enterDeliveries);
  else if (name === 'events') guard(() => loadEvents(true));
}

/* ---- endpoints ---- */

async function loadEndpoints() {
  const list = await listAll(tenantPath('/endpoints'));
  setEndpoints(list);
  renderEndpoints();
}

function setEndpoints(list) {
  state.endpoints = list;
  state.endpointById = new Map(list.map((e) => [e.id, e]));
  state.endpointsLoaded = true;
  renderEndpointFilter();
}

function renderEndpoints() {
  const body = $('endpoints-body');
  body.replaceChildren(...state.endpoints.map(endpointRow));
  $('endpoints-empty').hidden = state.endpoints.length > 0;
}

function endpointRow(ep) {
  const types = Array.isArray(ep.event_types) ? ep.event_types : [];
  const secretBox = h('div', { className: 'secret-box', hidden: true });
  const status = ep.enabled
    ? h('span', { className: 'badge enabled', text: 'enabled' })
    : h('span', { className: 'badge disabled', text: 'disabled' });

  const toggle = h('button', {
    type: 'button',
    className: 'button small secondary',
    text: ep.enabled ? 'Disable' : 'Enable',
    on: { click: () => guard(() => toggleEndpoint(ep)) },
  });
  const reveal = h('button', {
    type: 'button',
    className: 'button small secondary',
    text: 'Reveal secret',
    on: { click: () => guard(() => toggleSecret(ep, secretBox, reveal)) },
  });
  const deliveries = h('button', {
    type: 'button',
    className: 'button small secondary',
    text: 'Deliveries',
    on: { click: () => showDeliveriesFor({ endpoint_id: ep.id }) },
  });
  const del = h('button', {
    type: 'button',
    className: 'button small danger',
    text: 'Delete',
    on: { click: () => guard(() => deleteEndpoint(ep)) },
  });

  return h('tr', { dataset: { endpointId: ep.id } },
    h('td', { className: 'url-cell' },
      h('div', { className: 'url', text: ep.url }),
      ep.description ? h('div', { className: 'muted small', text: ep.description }) : null,
      h('div', { className: 'id small', text: ep.id }),
      secretBox),
    h('td', {},
      status,
      !ep.enabled && ep.disabled_reason ? h('div', { className: 'reason small', text: ep.disabled_reason }) : null),
    h('td', {},
      types.length === 0
        ? h('span', { className: 'muted', text: 'All events' })
        : h('div', { className: 'chips' }, types.map((t) => h('span', { className: 'chip', text: t })))),
    h('td', { className: 'actions' }, toggle, reveal, deliveries, del));
}

async function toggleEndpoint(ep) {
  const updated = await api('PATCH', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}`), { enabled: !ep.enabled });
  const list = state.endpoints.map((e) => (e.id === updated.id ? updated : e));
  setEndpoints(list);
  renderEndpoints();
  showMessage(`${updated.enabled ? 'Enabled' : 'Disabled'} ${updated.url}`, 'success');
}

async function toggleSecret(ep, box, button) {
  if (!box.hidden) {
    box.hidden = true;
    box.replaceChildren();
    button.textContent = 'Reveal secret';
    return;
  }
  const got = await api('GET', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}/secret`));
  const code = h('code', { className: 'secret', text: got.key });
  const copy = h('button', {
    type: 'button',
    className: 'button small secondary',
    text: 'Copy',
    on: {
      click: async () => {
        try {
          await navigator.clipboard.writeText(got.key);
          copy.textContent = 'Copied';
        } catch {
          const range = document.createRange();
          range.selectNodeContents(code);
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          copy.textContent = 'Selected: press Ctrl+C';
        }
      },
    },
  });
  box.replaceChildren(h('span', { className: 'small muted', text: 'Signing secret ' }), code, copy);
  box.hidden = false;
  button.textContent = 'Hide secret';
}

async function deleteEndpoint(ep) {
  if (!window.confirm(`Delete the endpoint ${ep.url}?\n\nIts pending deliveries end as failed. This cannot be undone.`)) return;
  await api('DELETE', tenantPath(`/endpoints/${encodeURIComponent(ep.id)}`));
  showMessage(`Deleted ${ep.url}`, 'success');
  await loadEndpoints();
}

function clearInvalid(form) {
  for (const el of form.querySelectorAll('.invalid')) {
    el.classList.remove('invalid');
    el.removeAttribute('aria-invalid');
  }
}

async function createEndpoint(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearInvalid(form);
  const f = form.elements;
  const url = f.url.value.trim();
  if (!url) {
    f.url.classList.add('invalid');
    f.url.focus();
    showMessage('Enter the URL your webhooks should go to.', 'error', 'field: url');
    return;
  }
  const body = { url };
  const description = f.description.value.trim();
  if (description) body.description = description;
  const types = f.event_types.value.split(',').map((s) => s.trim()).filter(Boolean);
  if (types.length) body.event_types = types;
  const mc = f.max_concurrency.value.trim();
  if (mc !== '') body.max_concurrency = Number(mc);
  const submit = form.querySelector('button[type=submit]');
  submit.disabled = true;
  try {
    const created = await api('POST', tenantPath('/endpoints'), body);
    form.reset();
    showMessage(`Added ${created.url}`, 'success');
    await loadEndpoints();
  } catch (e) {
    const name = e.field ? e.field.split('.')[0] : null;
    if (name && f[name] && f[name].classList) {
      f[name].classList.add('invalid');
      f[name].setAttribute('aria-invalid', 'true');
      f[name].focus();
    }
    showError(e);
  } finally {
    submit.disabled = false;
  }
}

/* The known event types under the form; a click adds one to the field. */
async function loadEventTypeHint() {
  let types;
  try {
    types = await listAll('/v1/event-types', {}, 4);
  } catch {
    return; /* the hint is a convenience; the form works without it */
  }
  const hint = $('event-type-hint');
  if (!types.length) {
    hint.replaceChildren();
    return;
  }
  const input = $('endpoint-form').elements.event_types;
  hint.replaceChildren(h('span', { text: 'Known types: ' }),
    ...types.map((t) => h('button', {
      type: 'button',
      className: 'chip add',
      text: t.name,
      title: t.description || '',
      on: {
        click: () => {
          const have = input.value.split(',').map((s) => s.trim()).filter(Boolean);
          if (!have.includes(t.name)) have.push(t.name);
          input.value = have.join(', ');
        },
      },
    })));
}

/* ---- deliveries ---- */

function renderEndpointFilter() {
  const sel = $('delivery-filters').elements.endpoint_id;
  const current = sel.value;
  const opts = [h('option', { value: '', text: 'All' })];
  for (const ep of state.endpoints) opts.push(h('option', { value: ep.id, text: ep.url }));
  if (current && !state.endpointById.has(current)) opts.push(h('option', { value: current, text: `${current.slice(0, 8)}… (deleted)` }));
  sel.replaceChildren(...opts);
  sel.value = current;
}

function deliveryFilters() {
  const f = $('delivery-filters').elements;
  return {
    status: f.status.value,
    endpoint_id: f.endpoint_id.value,
    event_id: $('delivery-event-filter').dataset.eventId || '',
  };
}

async function enterDeliveries() {
  if (!state.endpointsLoaded) await loadEndpoints();
  await loadDeliveries(true);
}

function showDeliveriesFor({ endpoint_id = '', event_id = '' }) {
  const f = $('delivery-filters').elements;
  f.status.value = '';
  f.endpoint_id.value = endpoint_id;
  setEventFilter(event_id);
  closeDetail();
  showView('deliveries');
}

function setEventFilter(eventId) {
  const chip = $('delivery-event-filter');
  if (!eventId) {
    chip.hidden = true;
    delete chip.dataset.eventId;
    chip.replaceChildren();
    return;
  }
  chip.dataset.eventId = eventId;
  chip.replaceChildren(
    h('span', { text: `Event ${eventId.slice(0, 8)}…`, title: eventId }),
    h('button', {
      type: 'button',
      className: 'chip-x',
      text: '×',
      attrs: { 'aria-label': 'Clear the event filter' },
      on: { click: () => { setEventFilter(''); guard(() => loadDeliveries(true)); } },
    }));
  chip.hidden = false;
}

async function loadDeliveries(reset) {
  const d = state.deliveries;
  const seq = ++d.seq;
  const params = { ...deliveryFilters(), limit: PAGE };
  if (!reset) params.cursor = d.cursor;
  const page = await api('GET', tenantPath('/deliveries') + query(params));
  if (seq !== d.seq) return; /* a newer load replaced this one */
  d.items = reset ? page.data : d.items.concat(page.data);
  d.cursor = page.has_more ? page.next_cursor : null;
  renderDeliveries();
}

function renderDeliveries() {
  const d = state.deliveries;
  $('deliveries-body').replaceChildren(...d.items.map(deliveryRow));
  $('deliveries-empty').hidden = d.items.length > 0;
  $('deliveries-more').hidden = !d.cursor;
}

function lastResult(dl) {
  if (dl.last_status_code !== null && dl.last_status_code !== undefined) return codeBadge(dl.last_status_code);
  if (dl.last_error) return h('span', { className: 'error-text', text: dl.last_error, title: dl.last_error });
  return h('span', { className: 'muted', text: '—' });
}

function deliveryRow(dl) {
  const tr = h('tr', {
    className: dl.id === state.detail.id ? 'selected' : '',
    dataset: { deliveryId: dl.id },
    tabIndex: 0,
    on: {
      click: () => guard(() => openDelivery(dl.id)),
      keydown: (e) => { if (e.key === 'Enter') guard(() => openDelivery(dl.id)); },
    },
  },
  h('td', {}, statusBadge(dl.status)),
  h('td', { className: 'mono', text: dl.event_type }),
  h('td', { className: 'url ellipsis', text: endpointLabel(dl.endpoint_id).replace(/^https?:\/\//, ''), title: endpointLabel(dl.endpoint_id) }),
  h('td', { className: 'num col-attempts', text: dl.attempt_count }),
  h('td', { className: 'last-result' }, lastResult(dl)),
  h('td', { className: 'nowrap col-created' }, timeEl(dl.created_at)));
  return tr;
}

function stopPolling() {
  clearTimeout(state.detail.timer);
  state.detail.timer = null;
}

function closeDetail() {
  stopPolling();
  state.detail.id = null;
  state.detail.seq++;
  $('delivery-detail').hidden = true;
  $('view-deliveries').classList.remove('with-detail');
  for (const tr of $('deliveries-body').querySelectorAll('tr.selected')) tr.classList.remove('selected');
}

async function openDelivery(id) {
  if (state.detail.id !== id) $('replay-result').hidden = true;
  state.detail.id = id;
  for (const tr of $('deliveries-body').querySelectorAll('tr')) {
    tr.classList.toggle('selected', tr.dataset.deliveryId === id);
  }
  await refreshDetail();
}

/* Reloads the open delivery and its attempts; keeps reloading while it is
 * pending or sending so that a retry or a replay shows up by itself. */
async function refreshDetail() {
  stopPolling();
  const id = state.detail.id;
  if (!id) return;
  const seq = ++state.detail.seq;
  const base = tenantPath(`/deliveries/${encodeURIComponent(id)}`);
  /* The delivery first, its attempts after: an outcome commits its status
   * and its attempt together, so attempts read later include the attempt
   * behind a final status. Read the other way round (or at once), a
   * delivery could show as succeeded with its last attempt missing, and
   * the reloading would stop there. */
  const dl = await api('GET', base);
  const attempts = await listAll(`${base}/attempts`, {}, 4);
  if (seq !== state.detail.seq || state.detail.id !== id) return;
  renderDetail(dl, attempts);
  const i = state.deliveries.items.findIndex((x) => x.id === dl.id);
  if (i >= 0) {
    state.deliveries.items[i] = dl;
    const old = $('deliveries-body').querySelector(`tr[data-delivery-id="${CSS.escape(dl.id)}"]`);
    if (old) old.replaceWith(deliveryRow(dl));
  }
  if ((dl.status === 'pending' || dl.status === 'sending') && state.view === 'deliveries') {
    state.detail.timer = setTimeout(() => guard(refreshDetail), POLL_MS);
  }
}

function field(label, ...value) {
  return [h('dt', { text: label }), h('dd', {}, ...value)];
}

function renderDetail(dl, attempts) {
  const fields = [
    ...field('Status', statusBadge(dl.status)),
    ...field('Event type', h('span', { className: 'mono', text: dl.event_type })),
    ...field('Endpoint', h('span', { className: 'url', text: endpointLabel(dl.endpoint_id) })),
    ...field('Attempts', String(dl.attempt_count)),
    ...field('Created', timeEl(dl.created_at)),
  ];
  if (dl.status === 'pending' && dl.next_attempt_at) fields.push(...field('Next attempt', timeEl(dl.next_attempt_at)));
  if (dl.completed_at) fields.push(...field('Completed', timeEl(dl.completed_at)));
  fields.push(...field('Delivery id', h('span', { className: 'id', text: dl.id })));
  fields.push(...field('Event id', h('span', { className: 'id', text: dl.event_id })));
  $('detail-fields').replaceChildren(...fields);

  const replay = $('detail-replay');
  const can = dl.status === 'failed' || dl.status === 'succeeded';
  replay.disabled = !can;
  replay.title = can ? 'Send this event to the endpoint again' : 'A delivery in progress cannot be replayed';

  $('attempts').replaceChildren(...attempts.map(attemptItem));
  $('attempts-empty').hidden = attempts.length > 0;
  const panel = $('delivery-detail');
  const opening = panel.hidden;
  panel.hidden = false;
  $('view-deliveries').classList.add('with-detail');
  /* On a narrow screen the panel sits above the list: bring it into view. */
  if (opening && window.matchMedia('(max-width: 960px)').matches) panel.scrollIntoView({ block: 'start' });
}

function attemptItem(a) {
  const resp = a.response || {};
  const req = a.request || {};
  const outcome = a.status_code !== null && a.status_code !== undefined
    ? codeBadge(a.status_code)
    : h('span', { className: 'badge code-bad', text: 'no response' });
  const body = typeof resp.body === 'string' ? resp.body : resp.body === null || resp.body === undefined ? '' : JSON.stringify(resp.body);
  const reqHeaders = headerLines(req.headers);
  const respHeaders = headerLines(resp.headers);
  return h('li', { className: 'attempt', dataset: { number: a.number } },
    h('div', { className: 'attempt-head' },
      h('span', { className: 'attempt-no', text: `#${a.number}` }),
      outcome,
      h('span', { className: 'muted small' }, timeEl(a.started_at)),
      h('span', { className: 'muted small', text: a.duration_ms === null || a.duration_ms === undefined ? '' : `${a.duration_ms} ms` })),
    a.error ? h('div', { className: 'error-text', text: a.error }) : null,
    h('div', { className: 'attempt-label' },
      h('span', { text: 'Response body' }),
      resp.truncated ? h('span', { className: 'badge truncated', text: 'truncated at 4 KiB' }) : null),
    h('pre', { className: 'body', text: body === '' ? '(empty)' : body }),
    respHeaders ? h('details', {}, h('summary', { text: 'Response headers' }), h('pre', { text: respHeaders })) : null,
    reqHeaders || req.url
      ? h('details', {}, h('summary', { text: 'Request' }),
        h('pre', { text: [req.url ? `POST ${req.url}` : '', reqHeaders].filter(Boolean).join('\n') }))
      : null);
}

async function replayDelivery() {
  const id = state.detail.id;
  if (!id) return;
  const note = $('replay-result');
  const button = $('detail-replay');
  button.disabled = true;
  try {
    await api('POST', tenantPath(`/deliveries/${encodeURIComponent(id)}/replay`));
    note.className = 'notice ok';
    note.textContent = 'Replay queued: the delivery is pending again and will be sent shortly.';
    note.hidden = false;
  } catch (e) {
    if (e.status === 409) {
      note.className = 'notice warn';
      note.textContent = `Not replayed: ${e.message}`;
      note.hidden = false;
    } else {
      showError(e);
    }
  }
  await refreshDetail();
}

/* ---- events ---- */

async function loadEvents(reset) {
  const ev = state.events;
  const seq = ++ev.seq;
  const params = { limit: PAGE };
  if (!reset) params.cursor = ev.cursor;
  const page = await api('GET', tenantPath('/events') + query(params));
  if (seq !== ev.seq) return;
  if (reset) ev.open.clear();
  ev.items = reset ? page.data : ev.items.concat(page.data);
  ev.cursor = page.has_more ? page.next_cursor : null;
  renderEvents();
}

function renderEvents() {
  const ev = state.events;
  const rows = [];
  for (const e of ev.items) {
    const open = ev.open.has(e.id);
    rows.push(h('tr', {
      className: open ? 'selected' : '',
      dataset: { eventId: e.id },
      tabIndex: 0,
      attrs: { 'aria-expanded': open ? 'true' : 'false' },
      on: {
        click: () => togglePayload(e.id),
        keydown: (k) => { if (k.key === 'Enter') togglePayload(e.id); },
      },
    },
    h('td', { className: 'mono', text: e.event_type }),
    h('td', { className: 'nowrap' }, timeEl(e.created_at)),
    h('td', { className: 'id', text: e.id }),
    h('td', { className: 'actions' },
      h('button', {
        type: 'button',
        className: 'button small secondary',
        text: 'Deliveries',
        on: { click: (k) => { k.stopPropagation(); showDeliveriesFor({ event_id: e.id }); } },
      }))));
    if (open) {
      rows.push(h('tr', { className: 'payload-row' },
        h('td', { colSpan: 4 },
          h('div', { className: 'attempt-label', text: 'Payload' }),
          h('pre', { className: 'body', text: JSON.stringify(e.payload, null, 2) }),
          e.idempotency_key ? h('div', { className: 'small muted', text: `Idempotency key: ${e.idempotency_key}` }) : null)));
    }
  }
  $('events-body').replaceChildren(...rows);
  $('events-empty').hidden = ev.items.length > 0;
  $('events-more').hidden = !ev.cursor;
}

function togglePayload(id) {
  const open = state.events.open;
  if (open.has(id)) open.delete(id);
  else open.add(id);
  renderEvents();
}

/* ---- wiring ---- */

function wire() {
  for (const t of document.querySelectorAll('.tab')) {
    t.setAttribute('role', 'tab');
    t.addEventListener('click', () => { hideMessage(); showView(t.dataset.view); });
  }
  $('message-close').addEventListener('click', hideMessage);
  $('sign-out').addEventListener('click', () => signOut('You signed out. Open your sign-in link again to come back.'));

  const form = $('endpoint-form');
  form.addEventListener('submit', createEndpoint);
  form.addEventListener('input', (e) => {
    e.target.classList.remove('invalid');
    e.target.removeAttribute('aria-invalid');
  });
  $('endpoints-refresh').addEventListener('click', () => guard(loadEndpoints));

  const filters = $('delivery-filters');
  filters.addEventListener('change', () => { closeDetail(); guard(() => loadDeliveries(true)); });
  filters.addEventListener('submit', (e) => e.preventDefault());
  $('deliveries-refresh').addEventListener('click', () => guard(async () => {
    await loadDeliveries(true);
    if (state.detail.id) await refreshDetail();
  }));
  $('deliveries-more').addEventListener('click', () => guard(() => loadDeliveries(false)));
  $('detail-close').addEventListener('click', closeDetail);
  $('detail-refresh').addEventListener('click', () => guard(refreshDetail));
  $('detail-replay').addEventListener('click', () => guard(replayDelivery));

  $('events-refresh').addEventListener('click', () => guard(() => loadEvents(true)));
  $('events-more').addEventListener('click', () => guard(() => loadEvents(false)));

  /* A new sign-in link opened in this tab replaces the session. */
  window.addEventListener('hashchange', () => {
    if (/(^#|&)token=/.test(location.hash)) location.reload();
  });
}

wire();
boot().catch(showError);
