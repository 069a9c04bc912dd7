// Workflows: search, active version, last run, tags.

import { h, replace, field, ago, badge, debounce } from '../dom.js';
import { api } from '../api.js';

export function render(main, _params, { signal }) {
  const params = new URLSearchParams(location.search);
  const search = h('input', { type: 'search', name: 'search', value: params.get('search') || '', placeholder: 'Name or tag' });
  const body = h('div', { class: 'table-wrap', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading workflows…'));
  let current = null;

  async function load() {
    const q = search.value.trim();
    const mine = new AbortController();
    if (current) current.abort();
    current = mine;
    signal.addEventListener('abort', () => mine.abort());
    body.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', `/workflows${q ? `?search=${encodeURIComponent(q)}` : ''}`, { signal: mine.signal });
      // Older servers ignore `search`; filtering here too costs nothing.
      const needle = q.toLowerCase();
      const items = (data.items || []).filter((w) => !needle
        || [w.name, w.id, ...(w.tags || [])].some((t) => String(t ?? '').toLowerCase().includes(needle)));
      const url = new URL(location.href);
      if (q) url.searchParams.set('search', q); else url.searchParams.delete('search');
      history.replaceState(null, '', url.pathname + url.search);
      replace(body, items.length ? table(items) : h('p', { class: 'empty' }, q
        ? `No workflow matches “${q}”.`
        : 'No workflows yet. Create one, or push YAML with POST /api/v1/workflows.'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(body, h('p', { class: 'error', role: 'alert' }, `Could not load workflows: ${e.message}`));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function table(items) {
    return h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Workflows'),
      h('thead', {}, h('tr', {}, ['Name', 'Tags', 'Version', 'Active', 'Last run', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((w) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `/workflows/${encodeURIComponent(w.id)}` }, w.name || w.id)),
        h('td', {}, (w.tags || []).map((t) => h('span', { class: 'tag' }, t))),
        h('td', {}, w.version ?? '—'),
        h('td', {}, w.activeVersion ? h('span', { class: 'badge st-active' }, `v${w.activeVersion}`) : h('span', { class: 'muted' }, 'inactive')),
        h('td', {}, w.lastRun
          ? h('a', { href: `/executions/${encodeURIComponent(w.lastRun.executionId)}` }, badge(w.lastRun.status), ' ', ago(w.lastRun.startedAt))
          : h('span', { class: 'muted' }, w.lastRun === null ? 'never' : '—')),
        h('td', {}, w.updatedAt ? ago(w.updatedAt) : '—')))));
  }

  main.append(
    h('div', { class: 'page-head' },
      h('h1', {}, 'Workflows'),
      h('a', { class: 'button', href: '/workflows/new' }, 'New workflow')),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } }, field('Search workflows', search)),
    body);
  search.addEventListener('input', debounce(load, 250));
  load();
}
