// Executions: filter by workflow, status and time; page through them.

import { h, replace, field, badge, ago, duration } from '../dom.js';
import { api, missing } from '../api.js';

const STATUSES = ['running', 'compensating', 'succeeded', 'failed', 'cancelled'];

function toLocalInput(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function render(main, _params, { signal }) {
  const q = new URLSearchParams(location.search);
  const workflow = h('select', { name: 'workflow' }, h('option', { value: '' }, 'All workflows'));
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: q.get('status') === s }, s)));
  const since = h('input', { type: 'datetime-local', name: 'since', value: toLocalInput(q.get('since')) });
  const until = h('input', { type: 'datetime-local', name: 'until', value: toLocalInput(q.get('until')) });
  const body = h('div', { class: 'table-wrap', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading executions…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const cursors = [null];
  let page = 0;
  let inflight = null;
  const names = new Map();

  api('GET', '/workflows', { signal }).then((data) => {
    for (const w of data.items || []) names.set(w.id, w.name);
    for (const a of body.querySelectorAll('a[data-workflow]')) a.textContent = names.get(a.dataset.workflow) || a.textContent;
    for (const w of data.items || []) workflow.append(h('option', { value: w.id, selected: q.get('workflow') === w.id }, w.name || w.id));
  }).catch(() => {});

  async function load() {
    if (inflight) inflight.abort();
    const mine = new AbortController();
    inflight = mine;
    signal.addEventListener('abort', () => mine.abort());
    const params = new URLSearchParams();
    const wanted = q.get('workflow');
    const wf = workflow.value || (workflow.options.length <= 1 ? wanted || '' : '');
    if (wf) params.set('workflow', wf);
    if (status.value) params.set('status', status.value);
    if (since.value) params.set('since', String(new Date(since.value).getTime()));
    if (until.value) params.set('until', String(new Date(until.value).getTime()));
    const limit = Math.min(500, Math.max(1, Number(q.get('limit')) || 25));
    if (q.get('limit')) params.set('limit', String(limit));
    history.replaceState(null, '', `/executions${params.toString() ? `?${params}` : ''}`);
    params.set('limit', String(limit));
    if (cursors[page]) params.set('cursor', cursors[page]);
    body.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', `/executions?${params}`, { signal: mine.signal });
      // Older servers ignore since/until; keep the filter true on screen.
      const from = since.value ? new Date(since.value).getTime() : -Infinity;
      const to = until.value ? new Date(until.value).getTime() : Infinity;
      const items = (data.items || []).filter((e) => e.created_at >= from && e.created_at <= to);
      cursors[page + 1] = data.nextCursor || null;
      replace(body, items.length ? table(items) : h('p', { class: 'empty' }, 'No executions match.'));
      replace(pager,
        h('button', { type: 'button', class: 'secondary', disabled: page === 0, onclick: () => { page -= 1; load(); } }, 'Previous page'),
        h('span', { class: 'muted' }, `Page ${page + 1}`),
        h('button', { type: 'button', class: 'secondary', disabled: !data.nextCursor, onclick: () => { page += 1; load(); } }, 'Next page'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(body, h('p', { class: 'error', role: 'alert' }, `Could not load executions: ${missing(e) ? 'this server lacks the executions list.' : e.message}`));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function table(items) {
    return h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Executions'),
      h('thead', {}, h('tr', {}, ['Execution', 'Workflow', 'Status', 'Started', 'Duration'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((e) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `/executions/${encodeURIComponent(e.id)}`, class: 'mono' }, e.id.slice(0, 13))),
        h('td', {}, h('a', { href: `/workflows/${encodeURIComponent(e.workflow_id)}`, 'data-workflow': e.workflow_id }, names.get(e.workflow_id) || e.workflow_id), h('span', { class: 'muted small' }, ` v${e.version}`)),
        h('td', {}, badge(e.status)),
        h('td', {}, h('time', { datetime: new Date(e.created_at).toISOString(), title: new Date(e.created_at).toLocaleString() }, ago(e.created_at))),
        h('td', {}, e.finished_at ? duration(e.finished_at - e.created_at) : '…')))));
  }

  const restart = () => { page = 0; cursors.length = 1; load(); };
  for (const el of [workflow, status, since, until]) el.addEventListener('change', restart);
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Executions'),
      h('button', { type: 'button', class: 'secondary', onclick: load }, 'Refresh')),
    h('form', { class: 'toolbar filters', 'aria-label': 'Filters', onsubmit: (e) => { e.preventDefault(); restart(); } },
      field('Workflow', workflow), field('Status', status), field('Started after', since), field('Started before', until)),
    body, pager);
  load();
}
