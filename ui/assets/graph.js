// The workflow as an SVG graph: layout, pan/zoom, node status colours.

import { s } from './dom.js';

export const NODE_W = 170;
export const NODE_H = 56;
const GAP_X = 90;
const GAP_Y = 40;

const TRIGGERS = new Set(['webhook', 'schedule', 'manual']);
const CONTROLS = new Set(['if', 'set', 'switch', 'merge', 'wait', 'respond', 'noop', 'filter',
  'loop', 'execute-workflow', 'stop-and-error']);

/** trigger, control or component: the colour a node gets. */
export function kindOf(type) {
  if (TRIGGERS.has(type)) return 'trigger';
  if (CONTROLS.has(type)) return 'control';
  return 'component';
}

/** A node's position as written (`[x, y]` or `{x, y}`), or null. */
export function readPosition(node) {
  const p = node.position;
  if (Array.isArray(p) && p.length === 2 && p.every(Number.isFinite)) return { x: p[0], y: p[1] };
  if (p && Number.isFinite(p.x) && Number.isFinite(p.y)) return { x: p.x, y: p.y };
  return null;
}

/**
 * Where each node goes: its own position when it has one; otherwise by
 * layers (longest path from the triggers), ordered to follow their parents.
 */
export function layout(workflow) {
  const nodes = workflow.nodes || [];
  const ids = nodes.map((n) => n.id);
  const incoming = new Map(ids.map((id) => [id, []]));
  const outgoing = new Map(ids.map((id) => [id, []]));
  for (const c of workflow.connections || []) {
    if (!incoming.has(c.to) || !outgoing.has(c.from)) continue;
    incoming.get(c.to).push(c.from);
    outgoing.get(c.from).push(c.to);
  }
  // Depth-first from the roots; edges back to a node on the stack (loops)
  // are left out of the layering.
  const layer = new Map();
  const onStack = new Set();
  const visit = (id, depth) => {
    if (onStack.has(id)) return;
    if ((layer.get(id) ?? -1) >= depth) return;
    layer.set(id, depth);
    onStack.add(id);
    for (const next of outgoing.get(id)) visit(next, depth + 1);
    onStack.delete(id);
  };
  const roots = ids.filter((id) => incoming.get(id).length === 0);
  for (const id of roots.length ? roots : ids.slice(0, 1)) visit(id, 0);
  for (const id of ids) if (!layer.has(id)) visit(id, 0);

  const columns = [];
  for (const id of ids) {
    const l = layer.get(id);
    (columns[l] ||= []).push(id);
  }
  const row = new Map();
  columns.forEach((column, l) => {
    if (l > 0) {
      const mean = (id) => {
        const parents = incoming.get(id).filter((p) => row.has(p));
        return parents.length ? parents.reduce((a, p) => a + row.get(p), 0) / parents.length : 0;
      };
      column.sort((a, b) => mean(a) - mean(b));
    }
    column.forEach((id, i) => row.set(id, i - (column.length - 1) / 2));
  });
  const out = new Map();
  for (const node of nodes) {
    const own = readPosition(node);
    out.set(node.id, own || {
      x: layer.get(node.id) * (NODE_W + GAP_X),
      y: row.get(node.id) * (NODE_H + GAP_Y),
    });
  }
  return out;
}

/** The output ports a node shows: its type's ports plus any in use. */
export function portsOf(node, workflow, catalog) {
  const ports = [];
  const add = (p) => { if (!ports.includes(p)) ports.push(p); };
  const described = catalog?.get(node.type)?.outputs;
  if (Array.isArray(described) && described.length) described.forEach(add);
  else if (node.type === 'if') { add('true'); add('false'); }
  else add('main');
  // Switch: each rule's output is a port.
  for (const rule of Array.isArray(node.params?.rules) ? node.params.rules : []) if (rule?.output) add(String(rule.output));
  for (const c of workflow.connections || []) if (c.from === node.id) add(String(c.port ?? 'main'));
  if (node.onError === 'error-output') add('error');
  return ports;
}

function portY(index, count) {
  return NODE_H / 2 + (index - (count - 1) / 2) * Math.min(18, (NODE_H - 12) / Math.max(1, count - 1));
}

/**
 * Draws `workflow` into `host`. Options: catalog (Map type -> description),
 * editable, onSelect(id), onMove(id, {x, y}), onConnect(from, port, to),
 * onDelete(id). Returns a handle to update statuses and problems.
 */
export function drawGraph(host, workflow, options = {}) {
  const svg = s('svg', {
    class: 'graph', role: 'group', tabindex: 0,
    'aria-label': `Graph of ${workflow.name || 'the workflow'}: arrow keys pan, + and - zoom, 0 fits; Tab moves between nodes`,
  });
  const defs = s('defs', {},
    s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' })));
  const viewport = s('g', { class: 'viewport' });
  const edgeLayer = s('g', { class: 'edges' });
  const nodeLayer = s('g', { class: 'nodes' });
  const dragLine = s('path', { class: 'drag-line', d: '' });
  viewport.append(edgeLayer, nodeLayer, dragLine);
  svg.append(defs, viewport);
  const controls = s('g', { class: 'zoom-hint' });
  svg.append(controls);
  host.replaceChildren(svg);

  let view = { x: 40, y: 40, k: 1 };
  let positions = layout(workflow);
  const nodeEls = new Map();
  const statuses = new Map();
  let problems = new Map();
  let selected = null;

  const apply = () => viewport.setAttribute('transform', `translate(${view.x} ${view.y}) scale(${view.k})`);

  function edgePath(c) {
    const from = workflow.nodes.find((n) => n.id === c.from);
    const a = positions.get(c.from);
    const b = positions.get(c.to);
    if (!from || !a || !b) return null;
    const ports = portsOf(from, workflow, options.catalog);
    const i = Math.max(0, ports.indexOf(String(c.port ?? 'main')));
    const x1 = a.x + NODE_W;
    const y1 = a.y + portY(i, ports.length);
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const dx = Math.max(40, Math.abs(x2 - x1) / 2);
    return { d: `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`, mx: (x1 + x2) / 2, my: (y1 + y2) / 2 };
  }

  function render() {
    edgeLayer.replaceChildren();
    nodeLayer.replaceChildren();
    nodeEls.clear();
    for (const c of workflow.connections || []) {
      const path = edgePath(c);
      if (!path) continue;
      const port = String(c.port ?? 'main');
      const label = [port !== 'main' ? port : null, c.input ? `→ in ${c.input}` : null].filter(Boolean).join(' ');
      edgeLayer.append(s('g', { class: `edge port-${port.replace(/[^\w-]/g, '_')}`, 'data-from': c.from, 'data-to': c.to, 'data-port': port },
        s('path', { d: path.d, 'marker-end': 'url(#arrow)' }),
        label ? s('text', { x: path.mx, y: path.my - 6, class: 'edge-label', 'text-anchor': 'middle' }, label) : null));
    }
    for (const node of workflow.nodes || []) {
      const p = positions.get(node.id);
      const kind = kindOf(node.type);
      const ports = portsOf(node, workflow, options.catalog);
      const g = s('g', {
        class: `node kind-${kind}`, transform: `translate(${p.x} ${p.y})`, tabindex: 0, role: 'button',
        'data-node': node.id, 'aria-label': `${node.id}, ${node.type}`,
      },
      s('rect', { width: NODE_W, height: NODE_H, rx: 8, class: 'body' }),
      s('rect', { width: 6, height: NODE_H, rx: 3, class: 'stripe' }),
      s('text', { x: 16, y: 23, class: 'title' }, clip(node.id, 18)),
      s('text', { x: 16, y: 42, class: 'subtitle' }, clip(node.type, 22)),
      s('circle', { cx: 0, cy: NODE_H / 2, r: 5, class: 'in-port' }),
      ports.map((port, i) => s('g', { class: 'out-port', 'data-port': port },
        s('circle', { cx: NODE_W, cy: portY(i, ports.length), r: 6 }),
        ports.length > 1 || port !== 'main'
          ? s('text', { x: NODE_W - 10, y: portY(i, ports.length) + 4, 'text-anchor': 'end', class: 'port-label' }, port)
          : null)),
      s('g', { class: 'problem-badge' }, s('circle', { cx: NODE_W - 4, cy: 4, r: 9 }), s('text', { x: NODE_W - 4, y: 8, 'text-anchor': 'middle' }, '!')),
      s('title', {}, `${node.id} (${node.type})`));
      nodeEls.set(node.id, g);
      wireNode(g, node);
      nodeLayer.append(g);
    }
    refreshClasses();
  }

  function refreshClasses() {
    for (const [id, g] of nodeEls) {
      g.classList.toggle('selected', id === selected);
      for (const cls of [...g.classList]) if (cls.startsWith('st-')) g.classList.remove(cls);
      const st = statuses.get(id);
      if (st) g.classList.add(`st-${st}`);
      const list = problems.get(id);
      g.classList.toggle('has-problem', Boolean(list?.length));
      const title = g.querySelector('title');
      const node = workflow.nodes.find((n) => n.id === id);
      const parts = [`${id}, ${node?.type}`];
      if (st) parts.push(`status ${st}`);
      if (list?.length) parts.push(`${list.length} problem${list.length > 1 ? 's' : ''}: ${list.join('; ')}`);
      g.setAttribute('aria-label', parts.join(', '));
      if (title) title.textContent = parts.join('\n');
    }
  }

  function toGraph(event) {
    const r = svg.getBoundingClientRect();
    return { x: (event.clientX - r.left - view.x) / view.k, y: (event.clientY - r.top - view.y) / view.k };
  }

  function wireNode(g, node) {
    g.addEventListener('click', (e) => { e.stopPropagation(); select(node.id); });
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(node.id); }
      if ((e.key === 'Delete' || e.key === 'Backspace') && options.editable && options.onDelete) {
        e.preventDefault(); options.onDelete(node.id);
      }
    });
    if (!options.editable) return;
    g.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      e.stopPropagation();
      const portEl = e.target.closest('.out-port');
      const start = toGraph(e);
      if (portEl && options.onConnect) {
        const port = portEl.dataset.port;
        const origin = positions.get(node.id);
        const move = (ev) => {
          const p = toGraph(ev);
          dragLine.setAttribute('d', `M ${origin.x + NODE_W} ${start.y} L ${p.x} ${p.y}`);
        };
        const up = (ev) => {
          window.removeEventListener('pointermove', move);
          window.removeEventListener('pointerup', up);
          dragLine.setAttribute('d', '');
          const p = toGraph(ev);
          for (const [id, q] of positions) {
            if (id !== node.id && p.x >= q.x && p.x <= q.x + NODE_W && p.y >= q.y && p.y <= q.y + NODE_H) {
              options.onConnect(node.id, port, id);
              return;
            }
          }
        };
        window.addEventListener('pointermove', move);
        window.addEventListener('pointerup', up);
        return;
      }
      const origin = { ...positions.get(node.id) };
      let moved = false;
      const move = (ev) => {
        const p = toGraph(ev);
        const next = { x: Math.round(origin.x + p.x - start.x), y: Math.round(origin.y + p.y - start.y) };
        if (!moved && Math.hypot(next.x - origin.x, next.y - origin.y) < 3) return;
        moved = true;
        positions.set(node.id, next);
        g.setAttribute('transform', `translate(${next.x} ${next.y})`);
        for (const edge of edgeLayer.children) {
          if (edge.dataset.from === node.id || edge.dataset.to === node.id) {
            const c = workflow.connections.find((k) => k.from === edge.dataset.from && k.to === edge.dataset.to && String(k.port ?? 'main') === edge.dataset.port);
            const path = c && edgePath(c);
            if (path) {
              edge.querySelector('path').setAttribute('d', path.d);
              const t = edge.querySelector('text');
              if (t) { t.setAttribute('x', path.mx); t.setAttribute('y', path.my - 6); }
            }
          }
        }
      };
      const up = () => {
        window.removeEventListener('pointermove', move);
        window.removeEventListener('pointerup', up);
        if (moved && options.onMove) options.onMove(node.id, positions.get(node.id));
      };
      window.addEventListener('pointermove', move);
      window.addEventListener('pointerup', up);
    });
  }

  function select(id, { quiet } = {}) {
    selected = id;
    refreshClasses();
    if (!quiet && options.onSelect) options.onSelect(id);
  }

  function fit() {
    const r = svg.getBoundingClientRect();
    if (!positions.size || !r.width) return;
    const xs = [...positions.values()];
    const minX = Math.min(...xs.map((p) => p.x));
    const minY = Math.min(...xs.map((p) => p.y));
    const maxX = Math.max(...xs.map((p) => p.x + NODE_W));
    const maxY = Math.max(...xs.map((p) => p.y + NODE_H));
    const k = Math.min(1.4, Math.max(0.2, Math.min((r.width - 80) / (maxX - minX), (r.height - 80) / (maxY - minY))));
    view = { k, x: (r.width - (maxX - minX) * k) / 2 - minX * k, y: (r.height - (maxY - minY) * k) / 2 - minY * k };
    apply();
  }

  function zoom(factor, cx, cy) {
    const r = svg.getBoundingClientRect();
    const x = cx ?? r.width / 2;
    const y = cy ?? r.height / 2;
    const k = Math.min(3, Math.max(0.15, view.k * factor));
    view = { k, x: x - ((x - view.x) * k) / view.k, y: y - ((y - view.y) * k) / view.k };
    apply();
  }

  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    zoom(e.deltaY < 0 ? 1.1 : 1 / 1.1, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  svg.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || e.target.closest('.node')) return;
    const start = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
    svg.classList.add('panning');
    const move = (ev) => { view.x = start.vx + ev.clientX - start.x; view.y = start.vy + ev.clientY - start.y; apply(); };
    const up = () => {
      svg.classList.remove('panning');
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  });
  svg.addEventListener('keydown', (e) => {
    if (e.target !== svg) return;
    const step = 40;
    const keys = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (keys[e.key]) { view.x += keys[e.key][0]; view.y += keys[e.key][1]; apply(); e.preventDefault(); }
    else if (e.key === '+' || e.key === '=') { zoom(1.2); e.preventDefault(); }
    else if (e.key === '-') { zoom(1 / 1.2); e.preventDefault(); }
    else if (e.key === '0') { fit(); e.preventDefault(); }
  });

  render();
  apply();
  requestAnimationFrame(fit);

  return {
    svg,
    /** Redraws after the workflow changed; keeps moved positions. */
    update(next) {
      const kept = positions;
      workflow = next;
      positions = layout(workflow);
      for (const [id, p] of kept) if (positions.has(id) && !readPosition(workflow.nodes.find((n) => n.id === id) || {})) positions.set(id, p);
      render();
    },
    /** Fits the graph to the view when node `id` is (partly) outside it. */
    reveal(id) {
      const p = positions.get(id);
      const r = svg.getBoundingClientRect();
      if (!p || !r.width) return;
      const [left, top] = [view.x + p.x * view.k, view.y + p.y * view.k];
      const [right, bottom] = [left + NODE_W * view.k, top + NODE_H * view.k];
      if (left < 0 || top < 0 || right > r.width || bottom > r.height) fit();
    },
    /** Where each node is drawn now. */
    positions: () => new Map(positions),
    setStatus(id, status) { statuses.set(id, status); refreshClasses(); },
    clearStatuses() { statuses.clear(); refreshClasses(); },
    /** Map node id -> list of messages. */
    setProblems(map) { problems = map; refreshClasses(); },
    select,
    focusNode(id) { nodeEls.get(id)?.focus(); },
    zoomIn: () => zoom(1.2),
    zoomOut: () => zoom(1 / 1.2),
    fit,
  };
}

function clip(text, n) {
  const t = String(text ?? '');
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}
