/*
 * picker.js - the event-type picker of the endpoint form, built from the
 * catalogue (GET /v1/event-types): "All events" is an explicit choice; else
 * the types are grouped by their first segment, searchable by name and
 * description, each with its description and example payload, and ticking a
 * whole group writes its wildcard (`invoice.*`) rather than the names it
 * holds today, so types added to the group later are sent too. Names the
 * catalogue does not hold (a deeper wildcard typed through the API, say)
 * are kept as they are.
 */
import { h } from './lib.js';

let pickerSeq = 0;

function groupOf(name) {
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : '';
}

/* types: the catalogue; value: the endpoint's event_types. Returns
 * { el, value(), choosing() }: value() is the list to send ([] = all
 * events); choosing() is true when "Only the types I choose" is picked. */
export function eventTypePicker(types, value = []) {
  const id = ++pickerSeq;
  const chosen = new Set((value || []).filter((v) => v !== '*'));
  const all = !value || value.length === 0 || value.includes('*');
  const known = new Set(types.map((t) => t.name));
  const groups = new Map();
  for (const t of types) {
    const g = groupOf(t.name);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(t);
  }

  const allRadio = h('input', { type: 'radio', name: `et-mode-${id}`, value: 'all', checked: all });
  const someRadio = h('input', { type: 'radio', name: `et-mode-${id}`, value: 'some', checked: !all });
  const search = h('input', {
    type: 'search',
    className: 'picker-search',
    placeholder: 'Search event types',
    autocomplete: 'off',
    attrs: { 'aria-label': 'Search event types' },
  });
  const summary = h('p', { className: 'picker-summary small', attrs: { 'aria-live': 'polite' } });
  const list = h('div', { className: 'picker-groups' });
  const boxes = [];

  const typeRow = (t) => {
    const cb = h('input', { type: 'checkbox', value: t.name, checked: chosen.has(t.name) });
    boxes.push(cb);
    const example = t.example === null || t.example === undefined ? null : JSON.stringify(t.example, null, 2);
    return h('div', { className: 'picker-type', dataset: { name: t.name, search: `${t.name} ${t.description || ''}`.toLowerCase() } },
      h('label', { className: 'check' }, cb,
        h('span', {},
          h('span', { className: 'mono', text: t.name }),
          t.description ? h('span', { className: 'picker-desc', text: t.description }) : null)),
      example ? h('details', { className: 'picker-example' },
        h('summary', { text: 'Example', attrs: { 'aria-label': `Example payload of ${t.name}` } }),
        h('pre', { className: 'body', text: example })) : null);
  };

  for (const [g, members] of [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const wildcard = g ? `${g}.*` : null;
    const head = wildcard
      ? h('label', { className: 'check group-check' },
        h('input', { type: 'checkbox', value: wildcard, checked: chosen.has(wildcard), dataset: { group: g } }),
        h('span', {}, h('strong', { text: `All ${g} events` }), ' ', h('span', { className: 'mono small muted', text: wildcard })))
      : h('p', { className: 'group-title', text: 'Other events' });
    if (wildcard) boxes.push(head.querySelector('input'));
    list.append(h('div', { className: 'picker-group', dataset: { group: g } },
      head, h('div', { className: 'picker-members' }, ...members.sort((a, b) => a.name.localeCompare(b.name)).map(typeRow))));
  }
  const extra = [...chosen].filter((v) => !known.has(v) && !(v.endsWith('.*') && groups.has(v.slice(0, -2))));
  if (extra.length) {
    list.append(h('div', { className: 'picker-group', dataset: { group: '' } },
      h('p', { className: 'group-title', text: 'Also chosen' }),
      h('div', { className: 'picker-members' }, ...extra.map((name) => typeRow({ name, description: 'Not in the catalogue' })))));
  }
  if (!types.length) list.append(h('p', { className: 'muted small', text: 'The catalogue of event types is empty.' }));

  const body = h('div', { className: 'picker-body' }, search, list);

  const current = () => {
    if (allRadio.checked) return [];
    return boxes.filter((b) => b.checked && !b.disabled).map((b) => b.value);
  };

  /* A ticked group covers its members: they show ticked and locked. */
  const sync = () => {
    body.hidden = allRadio.checked;
    for (const gbox of list.querySelectorAll('input[data-group]')) {
      const members = gbox.closest('.picker-group').querySelectorAll('.picker-members input');
      for (const m of members) {
        if (gbox.checked) {
          if (!m.disabled) m.dataset.was = m.checked ? '1' : '';
          m.checked = true;
          m.disabled = true;
        } else if (m.disabled) {
          m.disabled = false;
          m.checked = m.dataset.was === '1';
        }
      }
    }
    const v = current();
    summary.textContent = allRadio.checked
      ? 'Every event type is sent to this endpoint, including types added later.'
      : v.length ? `Sent: ${v.join(', ')}` : 'Choose at least one event type, or All events.';
  };

  const filter = () => {
    const q = search.value.trim().toLowerCase();
    for (const g of list.querySelectorAll('.picker-group')) {
      let shown = 0;
      for (const row of g.querySelectorAll('.picker-type')) {
        const hit = !q || row.dataset.search.includes(q);
        row.hidden = !hit;
        if (hit) shown++;
      }
      g.hidden = shown === 0 && !(q && g.dataset.group.includes(q));
    }
  };

  list.addEventListener('change', sync);
  allRadio.addEventListener('change', sync);
  someRadio.addEventListener('change', sync);
  search.addEventListener('input', filter);

  const el = h('fieldset', { className: 'picker', dataset: { field: 'event_types' } },
    h('legend', { text: 'Event types' }),
    h('div', { className: 'picker-mode' },
      h('label', { className: 'check' }, allRadio, h('span', { text: 'All events' })),
      h('label', { className: 'check' }, someRadio, h('span', { text: 'Only the types I choose' }))),
    body, summary);
  sync();
  return { el, value: current, choosing: () => someRadio.checked };
}
