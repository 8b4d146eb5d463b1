/*
 * lib.js - the portal's small toolbox, shared by every view: building
 * elements (API data reaches the page only as text nodes, never as markup),
 * calling the REST API with the session's token, formatting times and
 * numbers, copy buttons, and showing an API error beside the form field it
 * names.
 */

export const $ = (id) => document.getElementById(id);

/* Builds an element. props: className, text, attrs (attributes), dataset,
 * on (event handlers), and any DOM property (type, disabled, href …).
 * Children are nodes or strings; strings become text nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'className') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) { if (av !== null && av !== undefined) el.setAttribute(a, av); }
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el[k] = v;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/* SVG elements need their namespace; attributes only. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  append(el, children);
  return el;
}

/* ---- API ---- */

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

export const session = {
  token: null,
  tenantId: null,
  /* Called once when the API answers 401: the session ended elsewhere. */
  onUnauthorized: null,
};

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function tenantPath(rest = '') {
  return `/v1/tenants/${encodeURIComponent(session.tenantId)}${rest}`;
}

/* One API call. Resolves to the parsed JSON body (null for 204); rejects
 * with an ApiError carrying the API's code, message and field. opts:
 * token (another token than the session's; null for none), timeoutMs, signal (to abandon
 * the call, e.g. the live updates' long poll at sign-out). */
export async function api(method, path, body, opts = {}) {
  const own = !('token' in opts);
  const token = own ? session.token : opts.token;
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; ctrl.abort(); }, opts.timeoutMs || 20000);
  const outer = opts.signal;
  const onOuter = () => ctrl.abort();
  if (outer) outer.addEventListener('abort', onOuter);
  init.signal = ctrl.signal;
  let resp;
  let text;
  try {
    resp = await fetch(path, init);
    text = await resp.text();
  } catch (e) {
    if (outer && outer.aborted) throw new ApiError(0, 'aborted', 'The request was abandoned.');
    const why = timedOut ? 'did not answer in time' : 'cannot be reached';
    throw new ApiError(0, 'network', `The webhook service ${why}. Check your connection and try again.`);
  } finally {
    clearTimeout(timer);
    if (outer) outer.removeEventListener('abort', onOuter);
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
    if (resp.status === 401 && own && session.onUnauthorized) session.onUnauthorized();
    throw e;
  }
  return data;
}

/* Every page of a list, up to a bound that keeps the page responsive. */
export async function listAll(path, params = {}, maxPages = 20, opts = {}) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await api('GET', path + query({ ...params, limit: 250, cursor }), undefined, opts);
    out.push(...page.data);
    if (!page.has_more || !page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

/* ---- formatting ---- */

/* Local time, the year only when it is not this one. */
export function fmtTime(iso, withSeconds = true) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false };
  if (withSeconds) opts.second = '2-digit';
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
  return d.toLocaleString(undefined, opts);
}

/* "3 min ago", for the freshness of a failure or a change. */
export function fmtAgo(iso) {
  if (!iso) return '';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/* A <time> with the exact UTC time as its tooltip. */
export function timeEl(iso) {
  return h('time', { text: fmtTime(iso), title: iso || '', attrs: iso ? { datetime: iso } : {} });
}

export function fmtRate(rate) {
  if (rate === null || rate === undefined) return '—';
  const pct = rate * 100;
  return `${pct >= 99.95 || pct === 0 ? pct.toFixed(0) : pct.toFixed(1)} %`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 1)} s` : `${Math.round(ms)} ms`;
}

/* A datetime-local input's value for a time, in the browser's zone. */
export function toLocalInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/* The RFC 3339 time of a datetime-local value, or '' when empty or bad. */
export function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/* ---- small widgets ---- */

/* A button that copies text; when the clipboard is refused (an insecure
 * origin, an embedding frame without permission) it selects the text so
 * that Ctrl+C does it. */
export function copyButton(getText, label, selectTarget) {
  const b = h('button', {
    type: 'button',
    className: 'button small secondary copy',
    text: 'Copy',
    attrs: { 'aria-label': label },
  });
  b.addEventListener('click', async () => {
    const text = typeof getText === 'function' ? getText() : getText;
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch {
      const target = typeof selectTarget === 'function' ? selectTarget() : selectTarget;
      if (target) {
        const range = document.createRange();
        range.selectNodeContents(target);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
      b.textContent = 'Selected: press Ctrl+C';
    }
    setTimeout(() => { b.textContent = 'Copy'; }, 2500);
  });
  return b;
}

/* ---- errors beside fields ---- */

/* Removes the errors a form shows. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.startsWith('err-'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  const top = form.querySelector('.form-error');
  if (top) {
    top.hidden = true;
    top.textContent = '';
  }
}

let errorSeq = 0;

/* Shows a message beside the field a dotted path names (`url`,
 * `headers.X-Name`, `event_types`): the element carrying
 * data-field="<first segment>" holds it, and its control is marked invalid
 * and described by it. Without such a field the message goes to the form's
 * own error line. Focus moves to the control, so a keyboard or screen
 * reader user lands on what to fix. */
export function showFieldError(form, fieldPath, message) {
  const name = fieldPath ? String(fieldPath).split('.')[0] : null;
  const box = name ? form.querySelector(`[data-field="${CSS.escape(name)}"]`) : null;
  if (!box) {
    const top = form.querySelector('.form-error');
    if (top) {
      top.textContent = message;
      top.hidden = false;
      top.focus();
    }
    return;
  }
  const id = `err-${++errorSeq}`;
  const p = h('p', { className: 'field-error', id, text: message });
  box.append(p);
  const control = box.querySelector('input:not([type=hidden]):not([disabled]), select, textarea');
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    const had = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', had ? `${had} ${id}` : id);
    control.focus();
  }
}
