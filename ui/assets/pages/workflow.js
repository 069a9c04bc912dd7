// One workflow: the graph, the editor around it, runs that light it up,
// its source, and its versions.

import { h, replace, field, toast, badge, jsonBlock, debounce, ago } from '../dom.js';
import { api, follow, missing, lacks } from '../api.js';
import { drawGraph, kindOf, portsOf, readPosition } from '../graph.js';
import { schemaForm } from '../schema-form.js';
import { toYaml } from '../yaml.js';
import { diffLines } from '../diff.js';

const CONTROL_TYPES = ['manual', 'webhook', 'schedule', 'set', 'if', 'switch', 'merge', 'filter', 'loop',
  'wait', 'respond', 'noop', 'execute-workflow', 'stop-and-error'];
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Loads the node catalog once per page load; null when the server lacks it. */
let catalogPromise = null;
function loadCatalog() {
  catalogPromise ||= api('GET', '/nodes')
    .then((data) => new Map((data.items || []).map((n) => [n.type, n])))
    .catch((e) => {
      if (missing(e)) lacks('the node catalog (parameter forms fall back to JSON)');
      catalogPromise = null;
      return null;
    });
  return catalogPromise;
}

/** The node a problem concerns: its `node`, or the index in `nodes[3]...`. */
function problemNode(problem, workflow) {
  if (problem.node) return problem.node;
  const m = /^nodes\[(\d+)\]/.exec(problem.path || '');
  return m ? workflow.nodes[Number(m[1])]?.id ?? null : null;
}

export function render(main, { id }, { signal, navigate }) {
  const stops = [];
  let wf = null;
  let meta = { id, version: null, activeVersion: null };
  let catalog = null;
  let graph = null;
  let selected = null;
  let dirty = false;
  let problems = [];
  let lastExecution = null;
  let tab = 'editor';

  const title = h('h1', {}, id ? id : 'New workflow');
  const info = h('p', { class: 'muted meta', 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions' });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Workflow views' });
  const panels = h('div', { class: 'tab-panels' }, h('p', { class: 'muted' }, 'Loading the workflow…'));
  const problemList = h('div', { class: 'problems', 'aria-live': 'polite' });
  const graphHost = h('div', { class: 'graph-host' });
  const side = h('aside', { class: 'side', 'aria-label': 'Inspector' });
  const nameInput = h('input', { type: 'text', name: 'workflow-name', required: true, spellcheck: 'false' });
  nameInput.addEventListener('change', () => { wf.name = nameInput.value.trim(); title.textContent = wf.name || 'New workflow'; validate(); });
  const runBox = h('section', { class: 'run-box', 'aria-labelledby': 'run-title' });

  main.append(h('div', { class: 'page-head' }, h('div', {}, title, info), actions), tabs, panels);

  // ---- loading --------------------------------------------------------
  async function load() {
    // The catalog and the workflow load at the same time.
    const catalogLoad = loadCatalog();
    if (!id) {
      catalog = await catalogLoad;
      wf = { name: '', description: '', nodes: [{ id: 'start', type: 'manual' }], connections: [] };
      dirty = true;
      show();
      return;
    }
    try {
      const [data, cat] = await Promise.all([api('GET', `/workflows/${encodeURIComponent(id)}`, { signal }), catalogLoad]);
      catalog = cat;
      wf = data.definition;
      meta = { id: data.id, version: data.version, activeVersion: data.activeVersion ?? null, name: data.name };
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(panels, h('p', { class: 'error', role: 'alert' }, missing(e)
        ? 'This server cannot return a workflow definition yet (GET /api/v1/workflows/{id}); the graph needs it.'
        : `Could not load workflow ${id}: ${e.message}`));
      return;
    }
    api('GET', `/executions?workflow=${encodeURIComponent(id)}&limit=1`, { signal })
      .then((d) => { lastExecution = lastExecution ?? d.items?.[0]?.id ?? null; })
      .catch(() => {});
    show();
    // Runs started elsewhere (a webhook, a schedule, the CLI) light the
    // graph up too. The stream replays earlier events first; only runs
    // that start from now on are followed.
    const opened = Date.now() - 2000;
    stops.push(follow(`/workflows/${encodeURIComponent(id)}/events`, (name, data) => {
      if (name === 'run.started' && data.executionId && (data.at ?? 0) >= opened && tab === 'editor') watch(data.executionId);
    }, async () => true));
  }

  function show() {
    wf.nodes ||= [];
    wf.connections ||= [];
    title.textContent = wf.name || 'New workflow';
    headInfo();
    drawTabs();
    validate();
  }

  function headInfo() {
    replace(info,
      meta.version ? `version ${meta.version}` : 'not saved yet',
      ' · ',
      meta.activeVersion ? `active: v${meta.activeVersion}` : 'inactive',
      dirty ? ' · unsaved changes' : '');
    replace(actions,
      meta.version ? null : field('Workflow name', nameInput, 'Shown in lists; saving again under the same name adds a version.'),
      h('button', { type: 'button', class: 'save-button', onclick: save, 'aria-keyshortcuts': 'Control+S', disabled: saving }, saving ? 'Saving…' : meta.version ? 'Save as new version' : 'Save'),
      meta.version && meta.activeVersion !== meta.version ? h('button', { type: 'button', class: 'secondary', onclick: () => activate(meta.version) }, `Activate v${meta.version}`) : null,
      meta.activeVersion ? h('button', { type: 'button', class: 'secondary', onclick: deactivate }, 'Deactivate') : null);
  }

  function changed({ redraw = true } = {}) {
    dirty = true;
    headInfo();
    const runButton = runBox.querySelector('.run-button');
    if (runButton && meta.version) runButton.textContent = 'Save and run';
    if (redraw && graph) graph.update(wf);
    validate();
  }

  // ---- tabs -------------------------------------------------------------
  function drawTabs() {
    const names = [['editor', 'Editor'], ['source', 'YAML / JSON'], ['versions', 'Versions']];
    replace(tabs, names.map(([key, label], i) => h('button', {
      type: 'button', role: 'tab', id: `tab-${key}`, 'aria-selected': String(tab === key), 'aria-controls': 'tab-panel',
      tabindex: tab === key ? 0 : -1,
      onclick: () => { tab = key; drawTabs(); },
      onkeydown: (e) => {
        const dir = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
        if (!dir) return;
        tab = names[(i + dir + names.length) % names.length][0];
        drawTabs();
        tabs.querySelector('[aria-selected="true"]').focus();
      },
    }, label)));
    panels.replaceChildren();
    const panel = h('div', { id: 'tab-panel', role: 'tabpanel', 'aria-labelledby': `tab-${tab}` });
    panels.append(panel);
    if (tab === 'editor') editorTab(panel);
    else if (tab === 'source') sourceTab(panel);
    else versionsTab(panel);
  }

  // ---- editor -----------------------------------------------------------
  function editorTab(panel) {
    const zoom = h('div', { class: 'zoom', role: 'toolbar', 'aria-label': 'Zoom' },
      h('button', { type: 'button', class: 'small secondary', 'aria-label': 'Zoom in', onclick: () => graph.zoomIn() }, '+'),
      h('button', { type: 'button', class: 'small secondary', 'aria-label': 'Zoom out', onclick: () => graph.zoomOut() }, '−'),
      h('button', { type: 'button', class: 'small secondary', onclick: () => graph.fit() }, 'Fit'));
    const legend = h('p', { class: 'legend small muted' },
      h('span', { class: 'swatch kind-trigger' }), 'trigger ',
      h('span', { class: 'swatch kind-control' }), 'control ',
      h('span', { class: 'swatch kind-component' }), 'component');
    panel.append(h('div', { class: 'editor' },
      h('section', { class: 'canvas', 'aria-label': 'Graph' }, zoom, graphHost, legend, problemList),
      side));
    graph = drawGraph(graphHost, wf, {
      catalog,
      editable: true,
      onSelect: (nodeId) => { selected = nodeId; inspector(); },
      onMove: (nodeId, p) => {
        // The first move pins every node where the layout put it, so the
        // others do not jump when the layout is no longer automatic.
        const drawn = graph.positions();
        for (const n of wf.nodes) if (!readPosition(n) && drawn.has(n.id)) n.position = positionLike(drawn.get(n.id));
        const node = wf.nodes.find((n) => n.id === nodeId);
        if (node) { node.position = positionLike(p); changed({ redraw: false }); }
      },
      onConnect: (from, port, to) => connect(from, port, to),
      onDelete: (nodeId) => removeNode(nodeId),
    });
    graph.setProblems(problemMap());
    if (selected) graph.select(selected, { quiet: true });
    inspector();
  }

  /** A position in the form this workflow already uses. */
  function positionLike(p) {
    const sample = wf.nodes.find((n) => n.position)?.position;
    return Array.isArray(sample) ? [p.x, p.y] : { x: p.x, y: p.y };
  }

  function problemMap() {
    const map = new Map();
    for (const p of problems) {
      const node = problemNode(p, wf);
      if (node) (map.get(node) || map.set(node, []).get(node)).push(p.message);
    }
    return map;
  }

  function connect(from, port, to, input) {
    if (from === to) { toast('A node cannot connect to itself here.', 'error'); return; }
    const exists = wf.connections.some((c) => c.from === from && c.to === to && String(c.port ?? 'main') === port && (c.input ?? '') === (input ?? ''));
    if (exists) return;
    const c = { from, to };
    if (port && port !== 'main') c.port = port;
    if (input) c.input = input;
    wf.connections.push(c);
    changed();
    toast(`Connected ${from}${port && port !== 'main' ? ` (${port})` : ''} → ${to}`);
  }

  function removeNode(nodeId) {
    wf.nodes = wf.nodes.filter((n) => n.id !== nodeId);
    wf.connections = wf.connections.filter((c) => c.from !== nodeId && c.to !== nodeId);
    if (selected === nodeId) selected = null;
    changed();
    inspector();
    toast(`Removed ${nodeId}`);
  }

  function addNode(type, after) {
    const base = type.replace(/^builtin:/, '').replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'node';
    let n = 1;
    let nodeId = base;
    while (wf.nodes.some((x) => x.id === nodeId)) { n += 1; nodeId = `${base}-${n}`; }
    const node = { id: nodeId, type };
    if (wf.nodes.some(readPosition)) {
      const ref = after && readPosition(wf.nodes.find((x) => x.id === after) || {});
      const base2 = ref || { x: 0, y: 0 };
      node.position = positionLike({ x: base2.x + 260, y: base2.y });
    }
    wf.nodes.push(node);
    if (after) {
      const from = wf.nodes.find((x) => x.id === after);
      const port = portsOf(from, wf, catalog)[0] || 'main';
      const c = { from: after, to: nodeId };
      if (port !== 'main') c.port = port;
      wf.connections.push(c);
    }
    selected = nodeId;
    changed();
    graph.select(nodeId, { quiet: true });
    graph.reveal(nodeId);
    inspector();
    side.querySelector('input[name="node-id"]')?.focus();
  }

  function inspector() {
    side.replaceChildren();
    side.append(runSection(), addSection());
    const node = wf.nodes.find((n) => n.id === selected);
    if (!node) {
      side.append(h('section', { class: 'card' }, h('h2', {}, 'Node'),
        h('p', { class: 'muted' }, 'Select a node in the graph (Tab to it, then Enter) to edit it.')));
      return;
    }
    side.append(nodeSection(node));
  }

  function addSection() {
    const types = catalog ? [...catalog.values()] : CONTROL_TYPES.map((t) => ({ type: t, name: t, kind: kindOf(t) }))
      .concat([{ type: 'builtin:http', name: 'HTTP request', kind: 'component' }]);
    const select = h('select', { name: 'add-type' },
      ['trigger', 'control', 'component'].map((kind) => h('optgroup', { label: kind },
        types.filter((t) => (t.kind || kindOf(t.type)) === kind).map((t) => h('option', { value: t.type }, t.name && t.name !== t.type ? `${t.name} (${t.type})` : t.type)))));
    const after = h('select', { name: 'add-after' }, h('option', { value: '' }, '— not connected —'),
      wf.nodes.map((n) => h('option', { value: n.id, selected: n.id === selected }, n.id)));
    return h('details', { class: 'card', open: wf.nodes.length <= 1 || undefined },
      h('summary', {}, h('h2', {}, 'Add node')),
      h('form', { onsubmit: (e) => { e.preventDefault(); addNode(select.value, after.value || null); } },
        field('Node type', select), field('Connect after', after), h('button', { type: 'submit' }, 'Add node')));
  }

  function nodeSection(node) {
    const box = h('section', { class: 'card node-card', 'aria-labelledby': 'node-title' });
    const described = catalog?.get(node.type);
    const mine = problemMap().get(node.id) || [];
    const idInput = h('input', { type: 'text', name: 'node-id', value: node.id, spellcheck: 'false', required: true });
    idInput.addEventListener('change', () => {
      const next = idInput.value.trim();
      if (!next || next === node.id) { idInput.value = node.id; return; }
      if (wf.nodes.some((n) => n.id === next)) { toast(`There is already a node \`${next}\`.`, 'error'); idInput.value = node.id; return; }
      const old = node.id;
      node.id = next;
      for (const c of wf.connections) { if (c.from === old) c.from = next; if (c.to === old) c.to = next; }
      for (const n of wf.nodes) if (n.compensate === old) n.compensate = next;
      selected = next;
      changed();
      graph.select(next, { quiet: true });
    });
    const params = schemaForm(described?.params || null, node.params || {}, (next) => {
      node.params = next;
      changed({ redraw: false });
    }, { preview: (template) => previewExpression(template, node.id), label: 'Parameters' });
    const onError = h('select', { name: 'on-error' }, ['stop', 'continue', 'error-output'].map((v) => h('option', { value: v, selected: (node.onError || 'stop') === v }, v)));
    onError.addEventListener('change', () => { if (onError.value === 'stop') delete node.onError; else node.onError = onError.value; changed(); });
    const attempts = h('input', { type: 'number', min: 1, name: 'retry-attempts', value: node.retry?.maxAttempts ?? '' });
    attempts.addEventListener('change', () => {
      const v = Number(attempts.value);
      if (!attempts.value || v <= 1) delete node.retry; else node.retry = { ...(node.retry || {}), maxAttempts: v };
      changed({ redraw: false });
    });
    const outgoing = wf.connections.filter((c) => c.from === node.id);
    const ports = portsOf(node, wf, catalog);
    const portList = h('datalist', { id: 'port-options' }, ports.map((p) => h('option', { value: p })));
    const portInput = h('input', { type: 'text', name: 'connect-port', list: 'port-options', value: ports[0] || 'main', spellcheck: 'false' });
    const target = h('select', { name: 'connect-to' }, wf.nodes.filter((n) => n.id !== node.id).map((n) => h('option', { value: n.id }, n.id)));
    const input = h('input', { type: 'text', name: 'connect-input', placeholder: 'for merge: 0, 1…', spellcheck: 'false' });

    box.append(
      h('h2', { id: 'node-title' }, node.id, ' ', h('span', { class: `kind kind-${kindOf(node.type)}` }, node.type)),
      described?.description ? h('p', { class: 'muted small' }, described.description) : null,
      nodeProblems(node.id, mine),
      field('Node id', idInput, 'Connections and $("id") expressions use it.'),
      credentialSection(node, described),
      h('h3', {}, 'Parameters'),
      params,
      h('details', {}, h('summary', {}, 'Errors and retries'), field('On error', onError), field('Attempts (with retries)', attempts)),
      h('h3', {}, 'Connections out'),
      outgoing.length ? h('ul', { class: 'conns' }, outgoing.map((c) => h('li', {},
        `${c.port ?? 'main'} → ${c.to}${c.input ? ` (input ${c.input})` : ''} `,
        h('button', { type: 'button', class: 'small ghost', 'aria-label': `Remove connection ${c.port ?? 'main'} to ${c.to}`, onclick: () => {
          wf.connections = wf.connections.filter((k) => k !== c);
          changed();
          inspector();
        } }, 'Remove')))) : h('p', { class: 'muted small' }, 'None.'),
      target.options.length ? h('form', { class: 'connect', onsubmit: (e) => { e.preventDefault(); connect(node.id, portInput.value.trim() || 'main', target.value, input.value.trim() || undefined); inspector(); } },
        portList, field('From port', portInput), field('To node', target), field('Into input (optional)', input),
        h('button', { type: 'submit', class: 'secondary' }, 'Connect')) : null,
      runNodeSection(node),
      h('button', { type: 'button', class: 'danger', onclick: () => removeNode(node.id) }, `Remove ${node.id}`));
    return box;
  }

  /** The stored credentials (names and types only), once per page. */
  let credentialsPromise = null;
  function loadCredentials() {
    credentialsPromise ||= api('GET', '/credentials', { signal }).then((d) => d.items || []).catch(() => []);
    return credentialsPromise;
  }

  /** One picker per credential slot the node type has (or the node names). */
  function credentialSection(node, described) {
    const slots = described?.credentials || [];
    const named = Object.keys(node.credentials || {}).filter((n) => !slots.some((sl) => sl.name === n));
    if (!slots.length && !named.length) return null;
    const box = h('fieldset', { class: 'group creds' }, h('legend', {}, 'Credentials'));
    for (const slot of [...slots, ...named.map((name) => ({ name, types: [], unknown: true }))]) {
      const current = node.credentials?.[slot.name] || '';
      const select = h('select', { name: `credential-${slot.name}` },
        h('option', { value: '' }, slot.required ? '— choose one —' : '— none —'),
        current ? h('option', { value: current, selected: true }, current) : null);
      loadCredentials().then((list) => {
        for (const c of list) {
          if (c.name === current) { select.querySelector(`option[value="${CSS.escape(current)}"]`).textContent = `${c.name} (${c.type})`; continue; }
          if (slot.types?.length && !slot.types.includes(c.type)) continue;
          select.append(h('option', { value: c.name }, `${c.name} (${c.type})`));
        }
      });
      select.addEventListener('change', () => {
        node.credentials = { ...(node.credentials || {}) };
        if (select.value) node.credentials[slot.name] = select.value;
        else delete node.credentials[slot.name];
        if (!Object.keys(node.credentials).length) delete node.credentials;
        changed({ redraw: false });
      });
      const hint = slot.unknown
        ? `${node.type} has no slot \`${slot.name}\`.`
        : [slot.description ? slot.description.replace(/\.?$/, '.') : '', slot.types?.length ? `Accepts ${slot.types.join(', ')}.` : ''].filter(Boolean).join(' ');
      box.append(field(`Credential for ${slot.name}`, select, hint || null));
    }
    box.append(h('p', { class: 'hint' }, 'Values stay in the vault. ', h('a', { href: '/credentials' }, 'Manage credentials')));
    return box;
  }

  /** The problem list in the node card; updated in place so focus stays put. */
  function nodeProblems(nodeId, list) {
    const box = h('div', { class: 'node-problems-box', 'data-node': nodeId });
    if (list.length) box.append(h('ul', { class: 'node-problems', 'aria-label': `Problems of ${nodeId}` }, list.map((m) => h('li', {}, m))));
    return box;
  }

  async function previewExpression(template, nodeId) {
    try {
      return await api('POST', '/expressions/preview', { body: { template, executionId: lastExecution, node: nodeId } });
    } catch (e) {
      if (missing(e)) return { error: 'This server cannot preview expressions yet (POST /api/v1/expressions/preview).' };
      throw e;
    }
  }

  // ---- run this node ----------------------------------------------------
  function runNodeSection(node) {
    const pinned = h('textarea', { name: 'pinned-input', rows: 4, class: 'code', spellcheck: 'false', value: '[{}]' });
    const out = h('div', { class: 'node-run-result', 'aria-live': 'polite' });
    const fromRun = h('button', { type: 'button', class: 'small ghost' }, 'Use input from the last run');
    fromRun.addEventListener('click', async () => {
      if (!lastExecution) { out.textContent = 'No run of this workflow yet.'; return; }
      try {
        const ex = await api('GET', `/executions/${encodeURIComponent(lastExecution)}`);
        const step = (ex.steps || []).filter((s) => s.node_id === node.id).pop();
        if (!step) { out.textContent = `The last run did not reach ${node.id}.`; return; }
        const data = await api('GET', `/executions/${encodeURIComponent(lastExecution)}/steps/${step.seq}`);
        const items = Array.isArray(data.input) ? data.input : Object.values(data.input || {}).flat();
        pinned.value = JSON.stringify(items.map((i) => i?.json ?? i), null, 2);
      } catch (e) {
        out.textContent = missing(e) ? 'This server cannot return step data yet.' : e.message;
      }
    });
    const run = h('button', { type: 'button', class: 'secondary' }, 'Run this node');
    run.addEventListener('click', async () => {
      let items;
      try {
        items = JSON.parse(pinned.value || '[]');
        if (!Array.isArray(items)) items = [items];
      } catch (e) { replace(out, h('p', { class: 'error' }, `Pinned input is not JSON: ${e.message}`)); return; }
      if (!meta.version) { replace(out, h('p', { class: 'error' }, 'Save the workflow first: the node runs as saved.')); return; }
      if (dirty) toast('The node runs as last saved; save to include your changes.');
      run.disabled = true;
      replace(out, h('p', { class: 'muted' }, `Running ${node.id}…`));
      try {
        const result = await api('POST', `/workflows/${encodeURIComponent(meta.id)}/nodes/${encodeURIComponent(node.id)}/run`, { body: { items } });
        replace(out,
          result.error ? h('p', { class: 'error', role: 'alert' }, `Error: ${result.error.message}`) : h('p', { class: 'ok' }, 'Ran.'),
          Object.entries(result.outputs || {}).map(([port, list]) => [h('h4', {}, `Output ${port} (${list.length} item${list.length === 1 ? '' : 's'})`), jsonBlock(list, `Output ${port}`)]),
          result.logs?.length ? [h('h4', {}, 'Logs'), jsonBlock(result.logs, 'Logs')] : null);
        out.scrollIntoView({ block: 'nearest' });
      } catch (e) {
        replace(out, h('p', { class: 'error', role: 'alert' }, missing(e) ? 'This server cannot run a single node yet (POST /api/v1/workflows/{id}/nodes/{node}/run).' : e.message));
      } finally {
        run.disabled = false;
      }
    });
    return h('details', { class: 'run-node' }, h('summary', {}, 'Run this node on pinned input'),
      field('Pinned input items (JSON array)', pinned), h('div', { class: 'row' }, run, fromRun), out);
  }

  // ---- run the workflow -------------------------------------------------
  let runInputText = '{}';
  let runStatus = null;
  function runSection() {
    const input = h('textarea', { name: 'run-input', rows: 3, class: 'code', spellcheck: 'false', value: runInputText });
    input.addEventListener('input', () => { runInputText = input.value; });
    const status = runStatus || h('div', { class: 'run-status', 'aria-live': 'polite' });
    runStatus = status;
    const button = h('button', { type: 'submit', class: 'run-button' }, dirty && meta.version ? 'Save and run' : 'Run');
    replace(runBox,
      h('h2', { id: 'run-title' }, 'Run'),
      h('form', { onsubmit: (e) => { e.preventDefault(); startRun(input.value, button); } },
        field('Input (JSON object or array of objects)', input), button),
      status);
    return runBox;
  }

  async function startRun(text, button) {
    let input;
    try { input = JSON.parse(text || '{}'); } catch (e) { replace(runStatus, h('p', { class: 'error', role: 'alert' }, `The input is not JSON: ${e.message}`)); return; }
    button.disabled = true;
    try {
      if (!meta.version) {
        // A new workflow gets its own page once saved; run from there.
        if (await save()) toast('Saved. Press Run again to start it.');
        return;
      }
      if (dirty && !(await save())) return;
      let started;
      try {
        started = await api('POST', `/workflows/${encodeURIComponent(meta.id)}/run?wait=false`, { body: input });
      } catch (e) {
        if (!missing(e)) throw e;
        started = await api('POST', `/workflows/${encodeURIComponent(meta.id)}/executions`, { body: input });
      }
      watch(started.executionId);
    } catch (e) {
      replace(runStatus, h('p', { class: 'error', role: 'alert' }, `The run did not start: ${e.message}`));
    } finally {
      button.disabled = false;
    }
  }

  let watching = null;
  function watch(executionId) {
    if (watching === executionId) return;
    watching = executionId;
    lastExecution = executionId;
    graph?.clearStatuses();
    const link = h('a', { href: `/executions/${encodeURIComponent(executionId)}` }, 'Open the execution');
    const state = h('span', { class: 'run-state' }, badge('running'));
    replace(runStatus, h('p', {}, state, ' ', link));
    const finish = (status) => replace(state, badge(status));
    const stop = follow(`/executions/${encodeURIComponent(executionId)}/events`, (name, data) => {
      if (name === 'step.started' && data.node) graph?.setStatus(data.node, 'running');
      if (name === 'step.finished' && data.node) graph?.setStatus(data.node, data.status || 'done');
      if (name === 'run.finished') { finish(data.status || 'succeeded'); return true; }
      return false;
    }, async () => {
      const ex = await api('GET', `/executions/${encodeURIComponent(executionId)}`);
      for (const step of ex.steps || []) graph?.setStatus(step.node_id, step.status);
      if (FINAL.has(ex.execution.status)) { finish(ex.execution.status); return true; }
      return false;
    });
    stops.push(stop);
  }

  // ---- validate, save, activate ----------------------------------------
  let validateMissing = false;
  const validate = debounce(async () => {
    if (validateMissing || !wf) return;
    try {
      const data = await api('POST', '/workflows/validate', { body: wf, signal });
      showProblems(data.problems || []);
    } catch (e) {
      if (missing(e)) { validateMissing = true; lacks('live validation (problems show when you save)'); }
      else if (e.status === 422) showProblems(e.details || []);
    }
  }, 350);

  function showProblems(list) {
    problems = list;
    graph?.setProblems(problemMap());
    replace(problemList, list.length
      ? [h('h2', {}, `${list.length} problem${list.length > 1 ? 's' : ''}`), h('ul', {}, list.map((p) => {
        const node = problemNode(p, wf);
        return h('li', {}, node ? h('button', { type: 'button', class: 'link', onclick: () => { selected = node; graph.select(node, { quiet: true }); inspector(); graph.focusNode(node); } }, node) : null,
          node ? ': ' : '', p.message || '', p.path && !node ? h('span', { class: 'muted small' }, ` (${p.path})`) : null);
      }))]
      : []);
    const box = side.querySelector('.node-problems-box');
    if (box) box.replaceWith(nodeProblems(box.dataset.node, problemMap().get(box.dataset.node) || []));
  }

  let saving = false;
  async function save() {
    if (!wf.name) {
      toast('Name the workflow first.', 'error');
      nameInput.focus();
      return false;
    }
    // One save at a time: a second click while the first is on its way
    // would add a second version.
    if (saving) return false;
    saving = true;
    const button = actions.querySelector('.save-button');
    if (button) { button.disabled = true; button.textContent = 'Saving…'; }
    try {
      const body = wf;
      const result = meta.version
        ? await api('PUT', `/workflows/${encodeURIComponent(meta.id)}`, { body })
        : await api('POST', '/workflows', { body });
      dirty = false;
      showProblems([]);
      toast(`Saved ${result.name || wf.name} as version ${result.version}`);
      if (!meta.version) {
        navigate(`/workflows/${encodeURIComponent(result.id)}`, { replace: true });
        return true;
      }
      meta.version = result.version;
      headInfo();
      if (runStatus) inspector();
      return true;
    } catch (e) {
      if (e.status === 422) {
        showProblems((Array.isArray(e.details) ? e.details : []).map((p) => ({ ...p, message: p.message || e.message })));
        toast(`Not saved: ${e.message}`, 'error');
      } else {
        toast(`Not saved: ${missing(e) ? 'this server cannot save a new version of a workflow yet (PUT /api/v1/workflows/{id}).' : e.message}`, 'error');
      }
      return false;
    } finally {
      saving = false;
      if (button?.isConnected) { button.disabled = false; button.textContent = meta.version ? 'Save as new version' : 'Save'; }
    }
  }

  async function activate(version) {
    try {
      const r = await api('POST', `/workflows/${encodeURIComponent(meta.id)}/activate`, { body: { version } });
      meta.activeVersion = r.activeVersion ?? version;
      headInfo();
      toast(`Version ${meta.activeVersion} is active`);
      if (tab === 'versions') drawTabs();
    } catch (e) { toast(`Not activated: ${e.message}`, 'error'); }
  }

  async function deactivate() {
    try {
      await api('POST', `/workflows/${encodeURIComponent(meta.id)}/deactivate`);
      meta.activeVersion = null;
      headInfo();
      toast('Deactivated');
      if (tab === 'versions') drawTabs();
    } catch (e) { toast(`Not deactivated: ${missing(e) ? 'this server cannot deactivate yet.' : e.message}`, 'error'); }
  }

  // ---- source -----------------------------------------------------------
  let sourceFormat = 'yaml';
  function sourceTab(panel) {
    const area = h('textarea', { name: 'source', class: 'code source', spellcheck: 'false', rows: 24,
      value: sourceFormat === 'yaml' ? toYaml(wf) : JSON.stringify(wf, null, 2) });
    const error = h('p', { class: 'error', role: 'alert' });
    const formatPick = h('fieldset', { class: 'inline' }, h('legend', {}, 'Format'),
      ['yaml', 'json'].map((f) => {
        const r = h('input', { type: 'radio', name: 'format', id: `format-${f}`, value: f, checked: sourceFormat === f });
        r.addEventListener('change', () => { sourceFormat = f; drawTabs(); });
        return h('label', { for: `format-${f}` }, r, f.toUpperCase());
      }));
    const apply = h('button', { type: 'button', class: 'secondary', disabled: sourceFormat === 'yaml' }, 'Apply to the editor');
    apply.addEventListener('click', () => {
      try { wf = JSON.parse(area.value); error.textContent = ''; changed(); toast('Applied'); } catch (e) { error.textContent = `Not JSON: ${e.message}`; }
    });
    const saveText = h('button', { type: 'button' }, 'Save this text as a new version');
    saveText.addEventListener('click', async () => {
      try {
        const contentType = sourceFormat === 'json' ? 'application/json' : 'application/yaml';
        const r = meta.version
          ? await api('PUT', `/workflows/${encodeURIComponent(meta.id)}`, { text: area.value, contentType })
          : await api('POST', '/workflows', { text: area.value, contentType });
        toast(`Saved version ${r.version}`);
        dirty = false;
        if (!meta.version || r.id !== meta.id) { navigate(`/workflows/${encodeURIComponent(r.id)}`, { replace: true }); return; }
        const data = await api('GET', `/workflows/${encodeURIComponent(meta.id)}`);
        wf = data.definition;
        meta.version = data.version;
        show();
      } catch (e) {
        const where = Array.isArray(e.details) ? e.details.map((d) => `${d.line ? `line ${d.line}: ` : ''}${d.message || ''}`).filter(Boolean) : [];
        error.textContent = `Not saved: ${e.message}${where.length ? ` (${where.join('; ')})` : ''}`;
      }
    });
    panel.append(h('div', { class: 'source-view' }, formatPick,
      field(`Workflow source (${sourceFormat.toUpperCase()})`, area, sourceFormat === 'yaml' ? 'YAML edits take effect when saved; JSON can also be applied to the editor first.' : null),
      error, h('div', { class: 'row' }, saveText, apply)));
  }

  // ---- versions ---------------------------------------------------------
  function versionsTab(panel) {
    if (!meta.version) { panel.append(h('p', { class: 'muted' }, 'Save the workflow to start its version history.')); return; }
    const list = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading versions…'));
    const diffOut = h('div', { class: 'diff-out' });
    panel.append(h('div', { class: 'versions' }, h('h2', {}, 'Versions'), list, diffOut));
    api('GET', `/workflows/${encodeURIComponent(meta.id)}/versions`, { signal }).then((data) => {
      const items = data.items || [];
      const pick = (name, v) => h('select', { name }, items.map((i) => h('option', { value: i.version, selected: i.version === v }, `v${i.version}`)));
      const others = items.map((i) => i.version).filter((v) => v !== meta.version);
      const a = pick('compare-a', others.length ? Math.max(...others) : meta.version);
      const b = pick('compare-b', meta.version);
      replace(list,
        h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Version', 'Created', 'Active', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, items.map((i) => h('tr', {},
            h('th', { scope: 'row' }, `v${i.version}`), h('td', {}, ago(i.createdAt)),
            h('td', {}, i.active ? h('span', { class: 'badge st-active' }, 'active') : ''),
            h('td', {}, i.active ? null : h('button', { type: 'button', class: 'small secondary', onclick: () => activate(i.version) }, `Activate v${i.version}`)))))),
        h('form', { class: 'row compare', onsubmit: async (e) => {
          e.preventDefault();
          try {
            const [x, y] = await Promise.all([a.value, b.value].map((v) => api('GET', `/workflows/${encodeURIComponent(meta.id)}/versions/${v}`)));
            const diff = diffLines(toYaml(x.definition), toYaml(y.definition));
            replace(diffOut, h('h3', {}, `v${a.value} → v${b.value}`),
              h('pre', { class: 'diff', tabindex: 0, 'aria-label': `Differences from v${a.value} to v${b.value}` },
                diff.map(([op, line]) => h('span', { class: `d-${op}` }, `${op === 'add' ? '+ ' : op === 'del' ? '- ' : '  '}${line}\n`))));
          } catch (err) { replace(diffOut, h('p', { class: 'error' }, err.message)); }
        } }, field('Compare', a), field('with', b), h('button', { type: 'submit', class: 'secondary' }, 'Compare')));
    }).catch((e) => {
      if (e.name === 'AbortError') return;
      replace(list, h('p', { class: 'error' }, missing(e) ? 'This server cannot list versions yet (GET /api/v1/workflows/{id}/versions).' : e.message));
    });
  }

  const onLeave = (e) => { if (dirty && wf?.nodes?.length) { e.preventDefault(); e.returnValue = ''; } };
  window.addEventListener('beforeunload', onLeave);
  stops.push(() => window.removeEventListener('beforeunload', onLeave));
  const onKey = (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 's') { e.preventDefault(); save(); }
  };
  document.addEventListener('keydown', onKey);
  stops.push(() => document.removeEventListener('keydown', onKey));

  load();
  return () => stops.forEach((f) => f());
}
