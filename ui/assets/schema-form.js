// A node's parameter form, generated from its JSON Schema (the node's
// `describe()`). Unknown shapes fall back to a JSON field, so every schema
// stays editable.

import { h, field, uid } from './dom.js';

function resolve(schema, root) {
  if (schema && schema.$ref && root) {
    const path = schema.$ref.replace(/^#\//, '').split('/');
    let target = root;
    for (const part of path) target = target?.[part];
    return target ? { ...target, ...schema, $ref: undefined } : schema;
  }
  if (schema && Array.isArray(schema.anyOf || schema.oneOf)) {
    const options = (schema.anyOf || schema.oneOf).filter((o) => o.type !== 'null');
    if (options.length === 1) return { ...resolve(options[0], root), description: schema.description ?? options[0].description };
  }
  return schema || {};
}

function typeOf(schema) {
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  if (t) return t;
  if (schema.enum) return 'enum';
  if (schema.properties) return 'object';
  return null;
}

/**
 * The form for `value` under `schema`. `onChange(next)` gets the whole new
 * value after each edit. `preview(template)` (optional) evaluates an
 * expression and resolves to {value} or {error}.
 */
export function schemaForm(schema, value, onChange, { preview, label = 'Parameters' } = {}) {
  const root = schema;
  let current = structuredClone(value ?? {});
  const emit = () => onChange(structuredClone(current));

  function control(sch, get, set, name, required) {
    sch = resolve(sch, root);
    const type = typeOf(sch);
    const title = `${sch.title || name}${required ? ' (required)' : ''}`;
    const hint = sch.description;
    const v = get();
    if (sch.enum) {
      const select = h('select', { name, required },
        required ? null : h('option', { value: '' }, '—'),
        sch.enum.map((opt) => h('option', { value: JSON.stringify(opt), selected: JSON.stringify(opt) === JSON.stringify(v ?? sch.default) }, String(opt))));
      select.addEventListener('change', () => { set(select.value === '' ? undefined : JSON.parse(select.value)); emit(); });
      return field(title, select, hint);
    }
    if (type === 'boolean') {
      const box = h('input', { type: 'checkbox', name, checked: Boolean(v ?? sch.default) });
      box.addEventListener('change', () => { set(box.checked); emit(); });
      box.id = uid();
      return h('div', { class: 'field checkbox' }, box, h('label', { for: box.id }, title), hint ? h('span', { class: 'hint' }, hint) : null);
    }
    if (type === 'integer' || type === 'number') {
      // Numbers may also be expressions; a text field keeps both possible.
      const input = h('input', { type: 'text', inputmode: 'decimal', name, value: v ?? '', placeholder: sch.default !== undefined ? String(sch.default) : '' });
      input.addEventListener('change', () => {
        const text = input.value.trim();
        if (text === '') set(undefined);
        else if (!Number.isNaN(Number(text))) set(type === 'integer' ? Math.trunc(Number(text)) : Number(text));
        else set(text);
        emit();
      });
      return field(title, input, hint);
    }
    if (type === 'string') {
      return stringField(title, hint, name, v ?? '', sch, (text) => { set(text === '' ? undefined : text); emit(); });
    }
    if (type === 'object' && sch.properties) {
      const obj = () => { let o = get(); if (!o || typeof o !== 'object') { o = {}; set(o); } return o; };
      const req = new Set(sch.required || []);
      return h('fieldset', { class: 'group' }, h('legend', {}, title), hint ? h('p', { class: 'hint' }, hint) : null,
        Object.entries(sch.properties).map(([k, sub]) => control(sub, () => obj()[k], (x) => {
          const o = obj();
          if (x === undefined) delete o[k]; else o[k] = x;
        }, k, req.has(k))));
    }
    if (type === 'object') {
      return keyValue(title, hint, get() || {}, (next) => { set(next); emit(); });
    }
    return jsonField(title, hint, name, v, (next) => { set(next); emit(); });
  }

  function stringField(title, hint, name, v, sch, commit) {
    const multiline = (sch.maxLength ?? 0) > 200 || String(v).includes('\n') || sch.format === 'textarea';
    const input = multiline ? h('textarea', { name, rows: 3, value: v }) : h('input', { type: 'text', name, value: v, spellcheck: 'false' });
    input.addEventListener('change', () => commit(input.value));
    const wrap = field(title, input, hint);
    if (preview) wrap.append(previewButton(input));
    return wrap;
  }

  function previewButton(input) {
    const out = h('output', { class: 'preview', 'aria-live': 'polite' });
    const button = h('button', { type: 'button', class: 'small ghost', 'aria-label': 'Preview this expression' }, 'Preview');
    button.addEventListener('click', async () => {
      out.textContent = '…';
      out.className = 'preview';
      try {
        const result = await preview(input.value);
        if (result.error) { out.textContent = String(result.error.message || result.error); out.classList.add('bad'); }
        else out.textContent = `= ${JSON.stringify(result.value)}`;
      } catch (e) { out.textContent = e.message; out.classList.add('bad'); }
    });
    const sync = () => { button.hidden = !input.value.includes('{{'); };
    input.addEventListener('input', sync);
    sync();
    return h('div', { class: 'preview-row' }, button, out);
  }

  function keyValue(label, hint, obj, commit) {
    const title = label.replace(' (required)', '');
    const rows = h('div', { class: 'kv-rows' });
    const entries = Object.entries(obj).map(([k, v]) => ({ k, v }));
    const save = () => {
      const next = {};
      for (const e of entries) if (e.k) next[e.k] = e.v;
      commit(next);
    };
    const draw = () => {
      rows.replaceChildren();
      entries.forEach((entry, i) => {
        const name = h('input', { type: 'text', value: entry.k, 'aria-label': `${title}: name ${i + 1}`, spellcheck: 'false' });
        const text = typeof entry.v === 'string' ? entry.v : JSON.stringify(entry.v);
        const val = h('input', { type: 'text', value: text, 'aria-label': `${title}: value of ${entry.k || `field ${i + 1}`}`, spellcheck: 'false' });
        name.addEventListener('change', () => { entry.k = name.value.trim(); val.setAttribute('aria-label', `${title}: value of ${entry.k}`); save(); });
        val.addEventListener('change', () => {
          // Plain text stays text; JSON literals (numbers, true, objects) are read as such.
          try { entry.v = /^[\d\-[{"tfn]/.test(val.value) && !val.value.includes('{{') ? JSON.parse(val.value) : val.value; } catch { entry.v = val.value; }
          save();
        });
        const remove = h('button', { type: 'button', class: 'small ghost', 'aria-label': `Remove ${entry.k || `field ${i + 1}`}` }, '✕');
        remove.addEventListener('click', () => { entries.splice(i, 1); save(); draw(); });
        rows.append(h('div', { class: 'kv' }, name, val, remove, preview ? previewButton(val) : null));
      });
    };
    draw();
    const add = h('button', { type: 'button', class: 'small' }, `Add to ${title}`);
    add.addEventListener('click', () => { entries.push({ k: '', v: '' }); draw(); rows.querySelector('.kv:last-child input')?.focus(); });
    return h('fieldset', { class: 'group' }, h('legend', {}, label), hint ? h('p', { class: 'hint' }, hint) : null, rows, add);
  }

  function jsonField(title, hint, name, v, commit) {
    const area = h('textarea', { name, rows: 3, class: 'code', spellcheck: 'false', value: v === undefined ? '' : JSON.stringify(v, null, 2) });
    const error = h('span', { class: 'error small', role: 'alert' });
    area.addEventListener('change', () => {
      if (area.value.trim() === '') { error.textContent = ''; commit(undefined); return; }
      try { const parsed = JSON.parse(area.value); error.textContent = ''; commit(parsed); } catch (e) { error.textContent = `Not JSON: ${e.message}`; }
    });
    const wrap = field(`${title} (JSON)`, area, hint);
    wrap.append(error);
    return wrap;
  }

  const form = h('div', { class: 'schema-form' });
  const top = resolve(schema, root);
  if (typeOf(top) === 'object' && top.properties) {
    const req = new Set(top.required || []);
    const entries = Object.entries(top.properties);
    if (!entries.length) form.append(h('p', { class: 'muted' }, 'This node takes no parameters.'));
    for (const [k, sub] of entries) {
      form.append(control(sub, () => current[k], (x) => { if (x === undefined) delete current[k]; else current[k] = x; }, k, req.has(k)));
    }
  } else {
    form.append(jsonField(label, 'No schema describes these parameters; write them as JSON.', 'params', current, (next) => { current = next ?? {}; }));
    form.lastChild.querySelector('textarea').addEventListener('change', emit);
  }
  return form;
}
