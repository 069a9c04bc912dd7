// Credentials: list them with the workflows that use them; create, update
// and delete. Values are write-only: the API never returns them, and the
// forms here never fill them in.

import { h, replace, field, toast, ago } from '../dom.js';
import { api, missing } from '../api.js';

/** The fields each known credential type has, in order. */
const KNOWN_FIELDS = {
  'http-bearer': ['token'],
  'http-basic': ['user', 'password'],
  'http-header': ['name', 'value'],
  'slack-bot-token': ['token'],
  'slack-webhook': ['url'],
  // The server gets and refreshes the tokens; nodes see only an access token.
  oauth2: ['grant', 'tokenUrl', 'authUrl', 'clientId', 'clientSecret', 'scopes'],
};

/** The credential types the node catalog names, plus the known ones. */
async function knownTypes(signal) {
  const types = new Set(Object.keys(KNOWN_FIELDS));
  try {
    const data = await api('GET', '/nodes', { signal });
    for (const node of data.items || []) {
      for (const slot of node.credentials || []) for (const t of slot.types || []) types.add(t);
    }
  } catch { /* the known ones will do */ }
  return [...types].sort();
}

export function render(main, _params, { signal }) {
  const body = h('div', { class: 'table-wrap', 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading credentials…'));
  const formBox = h('div', { class: 'cred-form-box' });
  const typeList = h('datalist', { id: 'credential-types' });
  let items = [];
  let editing = null;
  let confirming = null;

  knownTypes(signal).then((types) => replace(typeList, types.map((t) => h('option', { value: t }))));

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', '/credentials', { signal });
      items = data.items || [];
      draw();
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(body, h('p', { class: 'error', role: 'alert' }, e.code === 'no_vault'
        ? 'This server runs without a credential vault, so it cannot store credentials.'
        : missing(e) ? 'This server has no credentials API yet (GET /api/v1/credentials).' : `Could not load credentials: ${e.message}`));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function draw() {
    if (!items.length) {
      replace(body, h('p', { class: 'empty' }, 'No credentials yet. Create one above; a node names it in its credentials (e.g. `credentials: {auth: NAME}`).'));
      return;
    }
    replace(body, h('table', { class: 'list credentials' },
      h('caption', { class: 'sr-only' }, 'Credentials'),
      h('thead', {}, h('tr', {}, ['Name', 'Type', 'Used by', 'Updated', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((c) => h('tr', { 'data-credential': c.name, class: editing?.id === c.id ? 'selected' : '' },
        h('th', { scope: 'row' }, c.name),
        h('td', {}, h('span', { class: 'tag' }, c.type)),
        h('td', { class: 'used-by' }, c.usedBy?.length
          ? h('ul', { class: 'inline-list' }, c.usedBy.map((w) => h('li', {}, h('a', { href: `/workflows/${encodeURIComponent(w.id)}` }, w.name || w.id))))
          : h('span', { class: 'muted' }, 'no workflow')),
        h('td', {}, h('time', { datetime: new Date(c.updated_at).toISOString(), title: new Date(c.updated_at).toLocaleString() }, ago(c.updated_at))),
        h('td', { class: 'row-actions' }, confirming === c.id
          ? [h('span', { class: 'small' }, c.usedBy?.length ? `Used by ${c.usedBy.length} workflow${c.usedBy.length > 1 ? 's' : ''}; their runs will fail. ` : 'Delete? '),
            h('button', { type: 'button', class: 'small danger', onclick: () => remove(c) }, `Yes, delete ${c.name}`),
            h('button', { type: 'button', class: 'small secondary', onclick: () => { confirming = null; draw(); focusRow(c.name, 'Delete'); } }, 'Keep')]
          : [c.type === 'oauth2' ? h('button', { type: 'button', class: 'small secondary', 'aria-label': `Authorize ${c.name} with its provider`, onclick: () => authorize(c) }, 'Authorize') : null,
            h('button', { type: 'button', class: 'small secondary', 'aria-label': `Edit ${c.name}`, onclick: () => { editing = c; confirming = null; drawForm(); draw(); } }, 'Edit'),
            h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${c.name}`, onclick: () => { confirming = c.id; draw(); focusRow(c.name, 'Yes, delete'); } }, 'Delete')]))))));
  }

  // An authorization-code OAuth2 credential: off to the provider, which
  // sends the person back to the server's callback.
  async function authorize(c) {
    try {
      const { url } = await api('POST', `/credentials/${encodeURIComponent(c.id)}/oauth2/authorize`);
      location.assign(url);
    } catch (e) {
      toast(`Not authorized: ${e.message}`, 'error');
    }
  }

  async function remove(c) {
    try {
      await api('DELETE', `/credentials/${encodeURIComponent(c.id)}`);
      toast(`Deleted ${c.name}`);
      confirming = null;
      if (editing?.id === c.id) { editing = null; drawForm(); }
      await load();
      main.querySelector('#cred-list-title')?.focus();
    } catch (e) {
      toast(`Not deleted: ${e.message}`, 'error');
    }
  }

  function focusRow(name, label) {
    const row = body.querySelector(`tr[data-credential="${CSS.escape(name)}"]`);
    const button = [...(row?.querySelectorAll('button') || [])].find((b) => (b.getAttribute('aria-label') || b.textContent).startsWith(label));
    button?.focus();
  }

  /** The create form, or the edit form for `editing`. */
  function drawForm() {
    const existing = editing;
    const name = h('input', { type: 'text', name: 'credential-name', required: true, spellcheck: 'false', autocomplete: 'off', value: existing?.name || '' });
    const type = h('input', { type: 'text', name: 'credential-type', required: !existing, list: 'credential-types', spellcheck: 'false', autocomplete: 'off', value: existing?.type || 'http-bearer' });
    const rowsBox = h('div', { class: 'cred-fields' });
    const error = h('p', { class: 'error', role: 'alert' });
    let rows = [];

    function drawRows() {
      replace(rowsBox, rows.map((row, i) => h('div', { class: 'kv cred-row' },
        field(`Field ${i + 1} name`, row.name),
        field(`Field ${i + 1} value`, row.value),
        h('button', { type: 'button', class: 'small ghost', 'aria-label': `Remove field ${i + 1}`, onclick: () => { rows.splice(i, 1); drawRows(); } }, 'Remove'))));
    }
    function makeRow(fieldName = '') {
      return {
        name: h('input', { type: 'text', name: 'field-name', spellcheck: 'false', autocomplete: 'off', value: fieldName }),
        // Write-only: a password box, never filled from the server.
        value: h('input', { type: 'password', name: 'field-value', autocomplete: 'new-password', spellcheck: 'false' }),
      };
    }
    function rowsForType() {
      // The type's fields first (keeping what was typed in them), then any
      // other field the user added and filled.
      const wanted = KNOWN_FIELDS[type.value.trim()] || [];
      const known = new Set(Object.values(KNOWN_FIELDS).flat());
      const byName = new Map(rows.map((r) => [r.name.value.trim(), r]));
      const extra = rows.filter((r) => !wanted.includes(r.name.value.trim())
        && (r.value.value || (r.name.value.trim() && !known.has(r.name.value.trim()))));
      rows = [...wanted.map((f) => byName.get(f) || makeRow(f)), ...extra];
      if (!rows.length) rows = [makeRow()];
      drawRows();
    }
    type.addEventListener('change', rowsForType);
    rowsForType();

    const submit = h('button', { type: 'submit' }, existing ? 'Save changes' : 'Create credential');
    const form = h('form', {
      class: 'card cred-form',
      'aria-labelledby': 'cred-form-title',
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        const value = {};
        for (const r of rows) {
          const k = r.name.value.trim();
          if (!k && !r.value.value) continue;
          if (!k) { error.textContent = 'Every value needs a field name.'; r.name.focus(); return; }
          value[k] = r.value.value;
        }
        const filled = Object.values(value).some((v) => v !== '');
        if (!existing && !filled) { error.textContent = 'Give the credential at least one field value.'; rows[0]?.value.focus(); return; }
        const payload = existing ? {} : { name: name.value.trim(), type: type.value.trim(), value };
        if (existing) {
          if (name.value.trim() !== existing.name) payload.name = name.value.trim();
          if (type.value.trim() && type.value.trim() !== existing.type) payload.type = type.value.trim();
          if (filled) payload.value = value;
          if (!Object.keys(payload).length) { error.textContent = 'Nothing changed.'; return; }
        }
        submit.disabled = true;
        submit.textContent = existing ? 'Saving…' : 'Creating…';
        try {
          const saved = existing
            ? await api('PUT', `/credentials/${encodeURIComponent(existing.id)}`, { body: payload })
            : await api('POST', '/credentials', { body: payload });
          toast(existing ? `Saved ${saved.name}${payload.value ? ' with its new value' : ''}` : `Created ${saved.name}`);
          editing = null;
          drawForm();
          await load();
          // Keyboard users carry on where they were: the edited row, or a
          // fresh form for the next credential.
          if (existing) focusRow(saved.name, 'Edit');
          else formBox.querySelector('input[name="credential-name"]')?.focus();
        } catch (err) {
          error.textContent = err.status === 409
            ? `There is already a credential named “${payload.name}”; pick another name or edit that one.`
            : `Not saved: ${err.message}`;
          submit.disabled = false;
          submit.textContent = existing ? 'Save changes' : 'Create credential';
        }
      },
    },
    h('h2', { id: 'cred-form-title' }, existing ? `Edit ${existing.name}` : 'New credential'),
    h('div', { class: 'row' },
      field('Credential name', name, existing?.usedBy?.length
        ? `Used by name in ${existing.usedBy.map((w) => w.name || w.id).join(', ')}; renaming it breaks their runs until they name it anew.`
        : 'Nodes name it: credentials: {slot: NAME}.'),
      field('Credential type', type, 'e.g. http-bearer, http-basic, http-header')),
    typeList,
    h('fieldset', { class: 'group' },
      h('legend', {}, existing ? 'New value (write-only)' : 'Value (write-only)'),
      h('p', { class: 'hint' }, existing
        ? 'The stored value is never shown. Leave these empty to keep it; fill them to replace the whole value.'
        : 'Stored encrypted; it is never shown again, only given to the nodes that name it.'),
      rowsBox,
      h('button', { type: 'button', class: 'small secondary', onclick: () => { rows.push(makeRow()); drawRows(); rows[rows.length - 1].name.focus(); } }, 'Add field')),
    error,
    h('div', { class: 'row' }, submit,
      existing ? h('button', { type: 'button', class: 'secondary', onclick: () => { const was = existing.name; editing = null; drawForm(); draw(); focusRow(was, 'Edit'); } }, 'Cancel editing') : null));
    replace(formBox, form);
    if (existing) name.focus();
  }

  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Credentials'),
        h('p', { class: 'muted' }, 'Secrets that nodes use (API tokens, passwords). Values are encrypted and never shown back.')),
      h('button', { type: 'button', class: 'secondary', onclick: load }, 'Refresh')),
    h('div', { class: 'credentials-page' }, formBox, h('section', { 'aria-labelledby': 'cred-list-title' }, h('h2', { id: 'cred-list-title', tabindex: -1 }, 'Stored credentials'), body)));
  drawForm();
  load();
}
