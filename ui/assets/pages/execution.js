// One execution: a live Gantt timeline of its steps, each step's data,
// retry and cancel.

import { h, s, replace, badge, duration, bytes, jsonBlock, toast, ago } from '../dom.js';
import { api, follow, missing } from '../api.js';
import { drawGraph } from '../graph.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const ROW = 26;
const LABEL_W = 170;

/** A step's run time: what the runtime measured, else its timestamps. */
function stepMs(st) {
  if (st.usage?.duration_us) return st.usage.duration_us / 1000;
  if (st.started_at && st.finished_at) return st.finished_at - st.started_at;
  return null;
}

export function render(main, { id }, { signal, navigate }) {
  const stops = [];
  let data = null;
  let selectedSeq = null;
  let ticker = null;
  let workflowName = null;

  const title = h('h1', {}, 'Execution ', h('span', { class: 'mono' }, id.slice(0, 13)));
  const summary = h('div', { class: 'summary', 'aria-live': 'polite' }, h('span', { class: 'muted' }, 'Loading the execution…'));
  const actions = h('div', { class: 'actions' });
  const timeline = h('section', { class: 'timeline card', 'aria-labelledby': 'timeline-title' });
  const graphBox = h('section', { class: 'card run-graph', 'aria-label': 'The run on its graph' });
  let graph = null;
  const stepsBox = h('section', { class: 'steps card', 'aria-labelledby': 'steps-title' });
  const detail = h('section', { class: 'step-detail card', 'aria-labelledby': 'step-title', 'aria-live': 'polite' });
  main.append(h('div', { class: 'page-head' }, h('div', {}, title, summary), actions),
    h('div', { class: 'execution-grid' }, h('div', {}, graphBox, timeline, stepsBox), detail));
  replace(detail, h('h2', { id: 'step-title' }, 'Step'), h('p', { class: 'muted' }, 'Choose a step to see its data.'));

  async function load() {
    try {
      data = await api('GET', `/executions/${encodeURIComponent(id)}`, { signal });
      if (workflowName === null) {
        workflowName = '';
        api('GET', `/workflows/${encodeURIComponent(data.execution.workflow_id)}`, { signal })
          .then((w) => { workflowName = w.name; if (data) draw(); })
          .catch(() => { workflowName = data.execution.workflow_id; });
        const { workflow_id: wid, version } = data.execution;
        api('GET', `/workflows/${encodeURIComponent(wid)}/versions/${version}`, { signal })
          .then((v) => {
            const host = h('div', { class: 'graph-host small-graph' });
            replace(graphBox, host);
            graph = drawGraph(host, v.definition, {
              onSelect: (node) => {
                const last = (data.steps || []).filter((st) => st.node_id === node).pop();
                if (last) selectStep(last.seq);
              },
            });
            paintGraph();
          })
          .catch(() => graphBox.remove());
      }
    } catch (e) {
      if (e.name === 'AbortError') return false;
      replace(summary, h('p', { class: 'error', role: 'alert' }, `Could not load the execution: ${e.message}`));
      return true;
    }
    draw();
    return FINAL.has(data.execution.status);
  }

  function draw() {
    const ex = data.execution;
    const end = ex.finished_at || Date.now();
    replace(summary,
      badge(ex.status), ' ',
      h('a', { href: `/workflows/${encodeURIComponent(ex.workflow_id)}` }, workflowName || 'workflow'), ` v${ex.version} · started ${ago(ex.created_at)} · `,
      ex.finished_at ? `took ${duration(end - ex.created_at)}` : 'running',
      ex.error ? h('p', { class: 'error', role: 'alert' }, `Error: ${ex.error.message || JSON.stringify(ex.error)}`) : null);
    const failed = ex.status === 'failed';
    replace(actions,
      failed ? h('button', { type: 'button', onclick: () => retry('failed') }, 'Retry from the failed step') : null,
      FINAL.has(ex.status) ? h('button', { type: 'button', class: 'secondary', onclick: () => retry('start') }, 'Retry from the start') : null,
      FINAL.has(ex.status) ? null : h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Cancel'));
    drawTimeline();
    drawSteps();
    paintGraph();
    const resume = Object.entries(data.resumeUrls || {});
    if (resume.length) {
      stepsBox.append(h('h3', {}, 'Waiting for a call'), h('ul', {}, resume.map(([node, url]) => h('li', {}, `${node}: POST `, h('code', {}, url)))));
    }
    if (!FINAL.has(ex.status) && !ticker) {
      // Running bars grow with the clock between events.
      ticker = setInterval(() => { if (data && !FINAL.has(data.execution.status)) drawTimeline(); }, 500);
      stops.push(() => clearInterval(ticker));
    }
    if (selectedSeq !== null) {
      const step = data.steps.find((st) => st.seq === selectedSeq);
      if (step && detail.dataset.status !== step.status) showStep(step);
    }
  }

  function paintGraph() {
    if (!graph || !data) return;
    graph.clearStatuses();
    for (const st of data.steps || []) graph.setStatus(st.node_id, st.status);
  }

  function drawTimeline() {
    const ex = data.execution;
    const steps = data.steps || [];
    const t0 = ex.created_at;
    const t1 = Math.max(ex.finished_at || Date.now(), ...steps.map((st) => st.finished_at || 0), t0 + 1);
    const width = 720;
    const span = t1 - t0;
    const x = (t) => LABEL_W + ((t - t0) / span) * (width - LABEL_W - 10);
    const height = steps.length * ROW + 30;
    const ticks = 5;
    const svg = s('svg', { class: 'gantt', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Timeline of ${steps.length} steps over ${duration(span)}` },
      Array.from({ length: ticks + 1 }, (_, i) => {
        const t = t0 + (span * i) / ticks;
        return s('g', { class: 'tick' }, s('line', { x1: x(t), x2: x(t), y1: 0, y2: height - 18 }),
          s('text', { x: x(t), y: height - 4, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' }, `+${duration(t - t0)}`));
      }),
      steps.map((st, i) => {
        const start = st.started_at || st.created_at;
        // A step parked on a Wait stays open until the run goes on.
        const parked = st.status === 'waiting' && !FINAL.has(ex.status);
        const stop = (!parked && st.finished_at) || (FINAL.has(ex.status) ? start : Date.now());
        const y = i * ROW + 4;
        return s('g', { class: `bar st-${st.status}`, 'data-seq': st.seq, 'data-node': st.node_id },
          s('text', { x: 4, y: y + 14, class: 'bar-label' }, `${st.node_id}${st.iteration ? ` #${st.iteration}` : ''}`),
          s('rect', { x: x(start), y, width: Math.max(3, x(stop) - x(start)), height: ROW - 8, rx: 3 }),
          s('title', {}, `${st.node_id}: ${st.status}, ${duration(stop - start)}`));
      }));
    svg.addEventListener('click', (e) => {
      const bar = e.target.closest('.bar');
      if (bar) selectStep(Number(bar.dataset.seq));
    });
    replace(timeline, h('h2', { id: 'timeline-title' }, 'Timeline'), svg);
  }

  function drawSteps() {
    const steps = data.steps || [];
    replace(stepsBox, h('h2', { id: 'steps-title' }, 'Steps'),
      steps.length ? h('table', { class: 'list compact' },
        h('thead', {}, h('tr', {}, ['#', 'Node', 'Status', 'Attempts', 'Duration', 'Fuel', 'Memory'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, steps.map((st) => h('tr', { class: st.seq === selectedSeq ? 'selected' : '' },
          h('td', {}, st.seq),
          h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link', 'aria-pressed': String(st.seq === selectedSeq), onclick: () => selectStep(st.seq) }, st.node_id, st.iteration ? ` #${st.iteration}` : '')),
          h('td', {}, badge(st.status)),
          h('td', {}, st.attempt),
          h('td', {}, duration(stepMs(st))),
          h('td', {}, st.usage?.fuel ? st.usage.fuel.toLocaleString() : '—'),
          h('td', {}, st.usage?.peak_memory_bytes ? bytes(st.usage.peak_memory_bytes) : '—'))))) : h('p', { class: 'muted' }, 'No steps yet.'));
  }

  function selectStep(seq) {
    selectedSeq = seq;
    drawSteps();
    const step = data.steps.find((st) => st.seq === seq);
    if (step) showStep(step);
  }

  async function showStep(step) {
    detail.dataset.status = step.status;
    const head = [
      h('h2', { id: 'step-title' }, `Step ${step.seq}: ${step.node_id}`),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, badge(step.status)),
        h('dt', {}, 'Attempts'), h('dd', {}, step.attempt),
        h('dt', {}, 'Duration'), h('dd', {}, duration(stepMs(step))),
        h('dt', {}, 'Fuel'), h('dd', {}, step.usage?.fuel ? step.usage.fuel.toLocaleString() : '—'),
        h('dt', {}, 'Peak memory'), h('dd', {}, step.usage?.peak_memory_bytes ? bytes(step.usage.peak_memory_bytes) : '—'),
        h('dt', {}, 'Egress'), h('dd', {}, `${step.usage?.egress_requests ?? 0} requests, ${bytes(step.usage?.egress_bytes ?? 0)}`)),
      step.error ? h('div', { class: 'step-error', role: 'alert' }, h('h3', {}, 'Error'), h('p', {}, step.error.message || ''), jsonBlock(step.error, 'Error details')) : null,
    ];
    replace(detail, head, h('p', { class: 'muted' }, 'Loading step data…'));
    try {
      const d = await api('GET', `/executions/${encodeURIComponent(id)}/steps/${step.seq}`, { signal });
      if (selectedSeq !== step.seq) return;
      const outputs = Object.entries(d.outputs || {});
      const inputs = Array.isArray(d.input) ? [['items', d.input]] : Object.entries(d.input || {});
      replace(detail, head,
        h('h3', {}, 'Input'), inputs.length ? inputs.map(([name, items]) => [h('h4', {}, `${name} (${items.length} item${items.length === 1 ? '' : 's'})`), jsonBlock(items, `Input ${name}`)]) : h('p', { class: 'muted' }, 'None.'),
        h('h3', {}, 'Output'), outputs.length ? outputs.map(([port, items]) => [h('h4', {}, `${port} (${items.length} item${items.length === 1 ? '' : 's'})`), jsonBlock(items, `Output ${port}`)]) : h('p', { class: 'muted' }, ['done', 'failed', 'cancelled'].includes(step.status) ? 'None.' : 'None yet.'),
        d.logs?.length ? [h('h3', {}, 'Logs'), jsonBlock(d.logs, 'Logs')] : null);
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(detail, head, h('p', { class: 'error' }, missing(e) ? 'This server cannot return step data yet (GET /api/v1/executions/{id}/steps/{seq}).' : e.message));
    }
  }

  async function retry(from) {
    try {
      const r = await api('POST', `/executions/${encodeURIComponent(id)}/retry`, { body: { from } });
      toast(`Retrying ${from === 'failed' ? 'from the failed step' : 'from the start'}`);
      navigate(`/executions/${encodeURIComponent(r.executionId)}`);
    } catch (e) {
      toast(`Not retried: ${missing(e) ? 'this server cannot retry yet.' : e.message}`, 'error');
    }
  }

  async function cancel() {
    try {
      await api('POST', `/executions/${encodeURIComponent(id)}/cancel`);
      toast('Cancelled');
      load();
    } catch (e) { toast(`Not cancelled: ${e.message}`, 'error'); }
  }

  let stopFollowing = null;
  const refresh = (() => {
    let pending = false;
    return () => {
      if (pending) return;
      pending = true;
      // One reload per animation frame however many events arrive; the
      // stream stops once the run, as stored, has ended (its replayed
      // history may hold an earlier run.finished of a retried run).
      requestAnimationFrame(async () => {
        pending = false;
        if (await load() && stopFollowing) { stopFollowing(); stopFollowing = null; }
      });
    };
  })();

  load().then((done) => {
    if (done || signal.aborted) return;
    stopFollowing = follow(`/executions/${encodeURIComponent(id)}/events`, () => { refresh(); return false; }, load);
    stops.push(() => stopFollowing?.());
  });
  return () => stops.forEach((f) => f());
}
