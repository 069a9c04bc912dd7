// The UI in a real browser against a real `n8n-work serve`.
//
//   N8N_WORK_URL=http://127.0.0.1:5678 N8N_WORK_KEY=nwk_... node ui/tests/ui.mjs
//
// Optional: N8N_WORK_SCREENSHOTS (a folder; default target/ui-screenshots),
// CHROMIUM (default /usr/bin/chromium). Exits non-zero on the first
// failed expectation, naming it.
//
// The Marketplace part needs a signed plugin in the server's registry
// (tests/e2e/ui.rs publishes the built-in Slack node with the CLI):
// N8N_WORK_PLUGIN_REPOSITORY (default/slack), N8N_WORK_PLUGIN_DIGEST (0.1.0,
// as `node publish` printed it), N8N_WORK_PLUGIN_UPGRADE_DIGEST (0.2.0, which
// asks for one more origin) and N8N_WORK_PLUGIN_PUBLIC_KEY (the signing
// key's .pub PEM). Without them that part is skipped, saying so.

import { readFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const base = process.env.N8N_WORK_URL;
const key = process.env.N8N_WORK_KEY;
if (!base || !key) {
  console.error('set N8N_WORK_URL and N8N_WORK_KEY (the server and its owner key)');
  process.exit(2);
}
const plugin = {
  repository: process.env.N8N_WORK_PLUGIN_REPOSITORY,
  digest: process.env.N8N_WORK_PLUGIN_DIGEST,
  upgradeDigest: process.env.N8N_WORK_PLUGIN_UPGRADE_DIGEST,
  publicKey: process.env.N8N_WORK_PLUGIN_PUBLIC_KEY,
};
const shots = process.env.N8N_WORK_SCREENSHOTS || join(repo, 'target', 'ui-screenshots');
// Only this run's screenshots: the folder is the test's own.
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });
const taken = [];
const TIMEOUT = 20_000;

async function rest(method, path, body, type = 'application/json') {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': type },
    body,
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A marketplace route (/v2/_marketplace/...) with the owner key. */
async function marketRest(method, path, body) {
  const response = await fetch(`${base}/v2/_marketplace${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
  taken.push(`${name}.png`);
}

/** No serious or critical axe-core violations on the page as it is. */
async function accessible(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`), [],
    `${name}: accessibility violations`);
}

/** The page fits the viewport's width: no horizontal scrolling. */
async function fitsWidth(page, name) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${name}: page is ${scroll}px wide in a ${width}px window`);
}

const step = (text) => console.log(`- ${text}`);

const hello = readFileSync(join(repo, 'examples', 'hello.yaml'), 'utf8');
const branch = readFileSync(join(repo, 'examples', 'if-branch.yaml'), 'utf8');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox'],
});
const failures = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  step('signing in: a wrong key is refused, the owner key lets you in');
  await page.goto(base);
  await page.waitForURL(/\/signin/);
  await page.getByLabel('Owner API key').fill('nwk_wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'unknown, expired or revoked' }).waitFor();
  await accessible(page, 'sign-in');
  await shot(page, '01-sign-in');
  await page.getByLabel('Owner API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/workflows$/);
  await page.getByRole('heading', { name: 'Workflows', level: 1 }).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'n8n_work_session');
  assert.ok(session, 'signing in sets the session cookie');
  assert.ok(session.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the key is not kept in the page');

  step('workflows pushed over the API show in the list; search narrows it');
  const created = await rest('POST', '/workflows', hello, 'application/yaml');
  await rest('POST', '/workflows', branch, 'application/yaml');
  await rest('POST', `/workflows/${created.id}/activate`, '{}');
  await page.reload();
  const helloRow = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'hello', exact: true }) });
  await helloRow.waitFor();
  await helloRow.getByText('v1').first().waitFor();
  await helloRow.getByText('example').waitFor();
  await page.getByLabel('Search workflows').fill('if-br');
  await page.getByRole('link', { name: 'hello', exact: true }).waitFor({ state: 'detached' });
  await page.getByRole('link', { name: 'if-branch' }).waitFor();
  await accessible(page, 'workflows');
  await shot(page, '02-workflows');

  step('the graph: auto layout, edges labelled by port');
  await page.getByRole('link', { name: 'if-branch' }).click();
  await page.waitForURL(/\/workflows\/[^/]+$/);
  const node = (id) => page.locator(`svg.graph g.node[data-node="${id}"]`);
  await node('large').waitFor();
  const box = async (id) => node(id).boundingBox();
  assert.ok((await box('large')).x > (await box('start')).x, 'the if node sits right of its trigger');
  assert.ok((await box('together')).x > (await box('approve')).x, 'merge sits right of its branches');
  assert.notEqual((await box('approve')).y, (await box('ship')).y, 'branches are stacked, not overlapping');
  const edgeLabels = await page.locator('svg.graph .edge-label').allTextContents();
  assert.ok(edgeLabels.includes('true') && edgeLabels.includes('false'), `if edges labelled true/false: ${edgeLabels}`);
  assert.equal(await page.locator('svg.graph .node.kind-trigger').count(), 1, 'the trigger is coloured as one');
  await shot(page, '03-workflow-graph');
  const before = await box('large');
  await page.getByRole('button', { name: 'Zoom in' }).click();
  const after = await box('large');
  assert.ok(after.width > before.width, 'zoom in makes nodes larger');
  const canvas = await page.locator('svg.graph').boundingBox();
  await page.mouse.move(canvas.x + 12, canvas.y + canvas.height - 12);
  await page.mouse.down();
  await page.mouse.move(canvas.x + 92, canvas.y + canvas.height - 52, { steps: 6 });
  await page.mouse.up();
  const panned = await box('large');
  assert.ok(Math.abs(panned.x - after.x - 80) < 2 && Math.abs(panned.y - after.y + 40) < 2,
    `dragging the background pans the graph: ${JSON.stringify([after, panned])}`);

  step('positions a workflow carries are kept');
  const placed = await rest('POST', '/workflows', JSON.stringify({
    name: 'placed',
    nodes: [
      { id: 'top', type: 'manual', position: { x: 100, y: 0 } },
      { id: 'below', type: 'noop', position: { x: 100, y: 400 } },
    ],
    connections: [{ from: 'top', to: 'below' }],
  }));
  await page.goto(`${base}/workflows/${placed.id}`);
  await node('below').waitFor();
  const [top, below] = [await box('top'), await box('below')];
  assert.ok(Math.abs(top.x - below.x) < 1 && below.y > top.y + top.height,
    `nodes sit where the workflow put them, one above the other: ${JSON.stringify([top, below])}`);
  await page.mouse.move(below.x + 30, below.y + 20);
  await page.mouse.down();
  await page.mouse.move(below.x + 230, below.y + 20, { steps: 8 });
  await page.mouse.up();
  await page.getByRole('button', { name: 'Save as new version' }).click();
  await page.getByText('version 2').first().waitFor();
  const moved = (await rest('GET', `/workflows/${placed.id}`)).definition.nodes.find((n) => n.id === 'below').position;
  const movedX = Array.isArray(moved) ? moved[0] : moved.x;
  assert.ok(movedX > 150, `dragging a node saves its new position: ${JSON.stringify(moved)}`);

  step('running hello with input lights its nodes up');
  await page.goto(`${base}/workflows/${created.id}`);
  await node('greet').waitFor();
  await page.getByLabel('Input (JSON object or array of objects)').fill('{"body": {"name": "Ada"}}');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.locator('svg.graph g.node[data-node="greet"].st-done').waitFor();
  await page.locator('svg.graph g.node[data-node="hook"].st-done').waitFor();
  await page.locator('.run-status .badge.st-succeeded').waitFor();
  await accessible(page, 'workflow editor');
  await shot(page, '04-workflow-run');

  step('a run started by the webhook lights the open graph up too');
  const firstRun = await page.getByRole('link', { name: 'Open the execution' }).getAttribute('href');
  const hook = await fetch(`${base}/webhook/hello`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name": "Hook"}' });
  assert.deepEqual(await hook.json(), { greeting: 'hello Hook' });
  const latest = (await rest('GET', `/executions?workflow=${created.id}&limit=1`)).items[0].id;
  assert.notEqual(`/executions/${latest}`, firstRun);
  await page.locator(`.run-status a[href="/executions/${latest}"]`).waitFor();
  await page.locator('.run-status .badge.st-succeeded').waitFor();
  await page.locator('svg.graph g.node[data-node="greet"].st-done').waitFor();

  step('the execution: timeline and step data');
  await page.getByRole('link', { name: 'Open the execution' }).click();
  await page.waitForURL(/\/executions\/[^/]+$/);
  await page.locator('svg.gantt .bar.st-done[data-node="greet"]').waitFor();
  await page.locator('.run-graph svg.graph g.node[data-node="greet"].st-done').waitFor();
  await page.getByRole('button', { name: 'greet', exact: true }).click();
  await page.locator('.step-detail pre.json').filter({ hasText: 'hello Hook' }).waitFor();
  await page.locator('.step-detail pre.json').filter({ hasText: '"Hook"' }).first().waitFor();
  await accessible(page, 'execution');
  await shot(page, '05-execution');

  step('executions list with a status filter');
  await page.getByRole('link', { name: 'Executions', exact: true }).click();
  await page.getByRole('heading', { name: 'Executions', level: 1 }).waitFor();
  await page.locator('table.list .badge.st-succeeded').first().waitFor();
  await page.getByLabel('Status').selectOption('failed');
  await page.getByText('No executions match.').waitFor();
  await page.getByLabel('Status').selectOption('succeeded');
  await page.locator('table.list .badge.st-succeeded').first().waitFor();
  await page.getByLabel('Workflow').selectOption({ label: 'placed' });
  await page.getByText('No executions match.').waitFor();
  await page.getByLabel('Workflow').selectOption({ label: 'hello' });
  await page.locator('table.list tbody tr').first().waitFor();
  const shownWorkflows = await page.locator('table.list tbody td a[data-workflow]').allTextContents();
  assert.ok(shownWorkflows.length >= 2 && shownWorkflows.every((n) => n === 'hello'), `only hello's runs: ${shownWorkflows}`);
  await page.getByLabel('Started after').fill('2099-01-01T00:00');
  await page.getByText('No executions match.').waitFor();
  await page.getByLabel('Started after').fill('');
  await page.locator('table.list tbody tr').first().waitFor();
  await page.goto(`${base}/executions?limit=1`);
  const firstPage = await page.locator('table.list tbody a.mono').first().textContent();
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.getByText('Page 2').waitFor();
  const secondPage = await page.locator('table.list tbody a.mono').first().textContent();
  assert.notEqual(secondPage, firstPage, 'the next page shows other executions');
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.getByText('Page 1').waitFor();
  assert.equal(await page.locator('table.list tbody a.mono').first().textContent(), firstPage);
  await accessible(page, 'executions');
  await shot(page, '06-executions');

  step('a failed run: read the step error, fix the cause, retry from the start');
  const gated = await rest('POST', '/workflows', [
    'name: gated',
    'nodes:',
    '  - {id: start, type: manual}',
    `  - {id: check, type: if, params: {condition: '{{ $vars.gate == "open" }}'}}`,
    '  - {id: pass, type: set, params: {fields: {passed: true}}}',
    "  - {id: closed, type: stop-and-error, params: {message: 'the gate is closed'}}",
    'connections:',
    '  - {from: start, to: check}',
    '  - {from: check, port: true, to: pass}',
    '  - {from: check, port: false, to: closed}',
  ].join('\n'), 'application/yaml');
  const failed = await rest('POST', `/workflows/${gated.id}/run?wait=false`, '{}');
  await page.goto(`${base}/executions/${failed.executionId}`);
  await page.locator('.summary .badge.st-failed').waitFor();
  await page.locator('svg.gantt .bar.st-failed[data-node="closed"]').waitFor();
  await page.getByRole('button', { name: 'closed', exact: true }).click();
  await page.locator('.step-error').filter({ hasText: 'the gate is closed' }).waitFor();
  await accessible(page, 'failed step');
  await shot(page, '07-failed-step');
  await rest('PUT', '/variables/gate', '{"value": "open"}');
  await page.getByRole('button', { name: 'Retry from the start' }).click();
  await page.waitForURL((url) => url.pathname.startsWith('/executions/') && !url.pathname.endsWith(failed.executionId));
  await page.locator('.summary .badge.st-succeeded').waitFor();
  await page.locator('svg.gantt .bar.st-done[data-node="pass"]').waitFor();

  step('a failed step, its cause fixed, retried from that step in the same run');
  const shouty = await rest('POST', '/workflows', [
    'name: shouty',
    'nodes:',
    '  - {id: start, type: manual}',
    `  - {id: shout, type: set, params: {fields: {word: '{{ $vars.word.toUpperCase() }}'}}}`,
    'connections:',
    '  - {from: start, to: shout}',
  ].join('\n'), 'application/yaml');
  const broken = await rest('POST', `/workflows/${shouty.id}/run?wait=false`, '{}');
  await page.goto(`${base}/executions/${broken.executionId}`);
  await page.locator('.summary .badge.st-failed').waitFor();
  await page.getByRole('button', { name: 'shout', exact: true }).click();
  await page.locator('.step-error').waitFor();
  await rest('PUT', '/variables/word', '{"value": "loud"}');
  await page.getByRole('button', { name: 'Retry from the failed step' }).click();
  await page.locator('.summary .badge.st-succeeded').waitFor();
  assert.ok(page.url().endsWith(`/executions/${broken.executionId}`), 'retrying from the failed step goes on in the same run');
  await page.getByRole('button', { name: 'shout', exact: true }).last().click();
  await page.locator('.step-detail pre.json').filter({ hasText: '"LOUD"' }).waitFor();

  step('a run parked on a Wait: the open page follows it when resumed; another is cancelled from its page');
  const parked = await rest('POST', '/workflows', [
    'name: parked',
    'nodes:',
    '  - {id: start, type: manual}',
    '  - {id: pause, type: wait, params: {resume: call}}',
    '  - {id: after, type: set, params: {fields: {resumed: true}}}',
    'connections:',
    '  - {from: start, to: pause}',
    '  - {from: pause, to: after}',
  ].join('\n'), 'application/yaml');
  const resumed = await rest('POST', `/workflows/${parked.id}/run?wait=false`, '{}');
  await page.goto(`${base}/executions/${resumed.executionId}`);
  await page.locator('svg.gantt .bar.st-waiting[data-node="pause"]').waitFor();
  const resumeUrl = await page.locator('.steps code').filter({ hasText: '/resume/' }).textContent();
  const resumeCall = await fetch(new URL(resumeUrl, base), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.ok(resumeCall.ok, `resuming the Wait: ${resumeCall.status}`);
  // The open page follows the run as it goes on: no reload.
  await page.locator('svg.gantt .bar.st-done[data-node="after"]').waitFor();
  await page.locator('.summary .badge.st-succeeded').waitFor();

  const waiting = await rest('POST', `/workflows/${parked.id}/run?wait=false`, '{}');
  await page.goto(`${base}/executions/${waiting.executionId}`);
  await page.locator('svg.gantt .bar.st-waiting[data-node="pause"]').waitFor();
  await page.getByText('Waiting for a call').waitFor();
  await accessible(page, 'waiting run');
  await shot(page, '08-waiting');
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await page.locator('.summary .badge.st-cancelled').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Cancel', exact: true }).count(), 0, 'a cancelled run offers no Cancel');

  step('a broken expression shows as a problem on its node');
  await page.goto(`${base}/workflows/${created.id}`);
  await node('greet').click();
  await page.getByRole('heading', { name: /^greet/ }).waitFor();
  const value = page.getByLabel('fields: value of greeting');
  await value.fill('{{ "hello " + ');
  await value.press('Tab');
  await page.locator('svg.graph g.node[data-node="greet"].has-problem').waitFor();
  await page.locator('.node-problems').waitFor();
  assert.equal(await page.locator('svg.graph g.node.has-problem').count(), 1, 'only greet is marked');
  await shot(page, '09-validation');
  await value.fill('{{ "hi " + $json.body.name }}');
  await value.press('Tab');
  await page.locator('svg.graph g.node[data-node="greet"].has-problem').waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Preview this expression' }).click();
  await page.locator('output.preview').filter({ hasText: '"hi Hook"' }).waitFor();

  step('run this node on pinned input');
  await page.getByText('Run this node on pinned input').click();
  await page.getByLabel('Pinned input items (JSON array)').fill('[{"body": {"name": "Bo"}}]');
  await page.getByRole('button', { name: 'Run this node' }).click();
  await page.locator('.node-run-result pre.json').filter({ hasText: 'hello Bo' }).waitFor();
  await shot(page, '10-run-node');

  step('save as a new version, compare the two');
  await page.getByRole('button', { name: 'Save as new version' }).click();
  await page.getByText('version 2').first().waitFor();
  await page.getByRole('button', { name: 'Activate v2' }).click();
  await page.getByText('active: v2').waitFor();
  assert.equal((await rest('GET', `/workflows/${created.id}`)).activeVersion, 2, 'activating from the editor reaches the server');
  await page.getByRole('tab', { name: 'Versions' }).click();
  await page.getByRole('button', { name: 'Compare' }).click();
  await page.locator('pre.diff .d-add').filter({ hasText: 'hi ' }).waitFor();
  await page.locator('pre.diff .d-del').filter({ hasText: 'hello ' }).waitFor();
  await accessible(page, 'versions');
  await shot(page, '11-versions');
  await page.getByRole('tab', { name: 'YAML / JSON' }).click();
  const source = await page.getByLabel(/Workflow source/).inputValue();
  assert.match(source, /^name: hello$/m, 'the YAML view shows the workflow');
  await accessible(page, 'source');
  await shot(page, '12-source');

  step('a workflow built in the editor, without YAML, runs');
  await page.goto(`${base}/workflows/new`);
  await page.getByLabel('Workflow name').fill('built-here');
  await page.getByLabel('Node type').selectOption('set');
  await page.getByLabel('Connect after').selectOption('start');
  await page.locator('form').getByRole('button', { name: 'Add node' }).click();
  await page.getByRole('heading', { name: /^set/ }).waitFor();
  await page.getByRole('button', { name: 'Add to fields' }).click();
  await page.getByLabel('fields: name 1').fill('greeting');
  await page.getByLabel('fields: name 1').press('Tab');
  await page.getByLabel('fields: value of greeting').fill('{{ "hi " + $json.who }}');
  await page.getByLabel('fields: value of greeting').press('Tab');
  assert.equal(await page.locator('svg.graph .edge').count(), 1, 'start connects to set');
  const [added, view] = [await box('set'), await page.locator('svg.graph').boundingBox()];
  assert.ok(added.x >= view.x && added.x + added.width <= view.x + view.width && added.y >= view.y && added.y + added.height <= view.y + view.height,
    `an added node is in view: ${JSON.stringify([added, view])}`);
  await accessible(page, 'new workflow');
  await shot(page, '13-new-workflow');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/\/workflows\/(?!new$)[^/]+$/);
  await node('set').waitFor();
  await page.getByLabel('Input (JSON object or array of objects)').fill('{"who": "Cy"}');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.locator('svg.graph g.node[data-node="set"].st-done').waitFor();
  await page.getByRole('link', { name: 'Open the execution' }).click();
  await page.getByRole('button', { name: 'set', exact: true }).click();
  await page.locator('.step-detail pre.json').filter({ hasText: 'hi Cy' }).waitFor();
  await shot(page, '13-new-workflow-ran');

  step('credentials: create one, give it to a node, see who uses it, update it, delete it; its value never comes back');
  const secret = 's3cret-ui-token';
  await page.getByRole('link', { name: 'Credentials', exact: true }).click();
  await page.getByRole('heading', { name: 'Credentials', level: 1 }).waitFor();
  await page.getByText('No credentials yet.').waitFor();
  await page.getByLabel('Credential name').fill('crm');
  await page.getByLabel('Credential type').fill('http-bearer');
  await page.getByLabel('Credential type').press('Tab');
  assert.equal(await page.getByLabel('Field 1 name').inputValue(), 'token', 'a known type brings its fields');
  assert.equal(await page.getByLabel('Field 1 value').getAttribute('type'), 'password', 'values are typed into password boxes');
  await page.getByLabel('Field 1 value').fill(secret);
  await page.getByRole('button', { name: 'Create credential' }).click();
  const credRow = page.locator('tr[data-credential="crm"]');
  await credRow.getByText('no workflow').waitFor();
  await credRow.getByText('http-bearer').waitFor();
  assert.equal(await page.getByLabel('Field 1 value').inputValue(), '', 'the form is emptied after creating');

  const synced = await rest('POST', '/workflows', [
    'name: crm-sync',
    'nodes:',
    '  - {id: start, type: manual}',
    "  - {id: call, type: 'builtin:http', params: {url: 'https://crm.example.com/me'}, egress: ['https://crm.example.com']}",
    'connections:',
    '  - {from: start, to: call}',
  ].join('\n'), 'application/yaml');
  await page.goto(`${base}/workflows/${synced.id}`);
  await node('call').click();
  await page.getByRole('heading', { name: /^call/ }).waitFor();
  const slot = page.getByLabel('Credential for auth');
  await slot.locator('option[value="crm"]').waitFor({ state: 'attached' });
  await slot.selectOption('crm');
  await page.getByRole('button', { name: 'Save as new version' }).click();
  await page.getByText('version 2').first().waitFor();
  const saved = (await rest('GET', `/workflows/${synced.id}`)).definition.nodes.find((n) => n.id === 'call');
  assert.deepEqual(saved.credentials, { auth: 'crm' }, 'the picked credential is saved on the node');

  await slot.scrollIntoViewIfNeeded();
  await accessible(page, 'node credentials');
  await shot(page, '15-node-credential');
  await page.getByRole('link', { name: 'Manage credentials' }).click();
  await credRow.getByRole('link', { name: 'crm-sync' }).waitFor();
  assert.ok(!(await page.content()).includes(secret), 'the value is not on the page');
  await accessible(page, 'credentials');
  await shot(page, '15-credentials');

  await page.getByRole('button', { name: 'Edit crm' }).click();
  await page.getByRole('heading', { name: 'Edit crm' }).waitFor();
  assert.equal(await page.getByLabel('Credential name').inputValue(), 'crm');
  assert.equal(await page.getByLabel('Field 1 value').inputValue(), '', 'editing never shows the stored value');
  await page.getByLabel('Credential type').fill('http-header');
  await page.getByLabel('Credential type').press('Tab');
  assert.equal(await page.getByLabel('Field 2 name').inputValue(), 'value', 'the new type brings its fields');
  await page.getByLabel('Field 1 value').fill('X-Api-Key');
  await page.getByLabel('Field 2 value').fill('n3w-ui-token');
  await accessible(page, 'credential edit');
  await shot(page, '16-credential-edit');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await credRow.getByText('http-header').waitFor();
  await page.getByRole('heading', { name: 'New credential' }).waitFor();
  const listed = await rest('GET', '/credentials');
  assert.equal(listed.items.length, 1);
  assert.equal(listed.items[0].type, 'http-header', 'the update reached the server');
  assert.ok(!JSON.stringify(listed).includes('n3w-ui-token'), 'the API never returns values');

  await page.getByRole('button', { name: 'Delete crm' }).click();
  await credRow.getByText('Used by 1 workflow').waitFor();
  await accessible(page, 'credential delete confirmation');
  await page.getByRole('button', { name: 'Yes, delete crm' }).click();
  await page.getByText('No credentials yet.').waitFor();
  assert.deepEqual((await rest('GET', '/credentials')).items, [], 'the credential is gone');

  if (plugin.digest) {
    step('marketplace: the published plugin shows unverified; installing it is refused until its key is trusted');
    await page.getByRole('link', { name: 'Marketplace', exact: true }).click();
    await page.waitForURL(/\/marketplace$/);
    await page.getByRole('heading', { name: 'Marketplace', level: 1 }).waitFor();
    await page.getByText('No trusted publisher keys').waitFor();
    await page.getByText('No install requests yet.').waitFor();
    await page.getByText('No plugins installed in your tenant.').waitFor();
    await page.getByLabel('Search plugins').fill('no-such-plugin');
    await page.getByText('No plugin matches.').waitFor();
    await page.getByLabel('Search plugins').fill('slack');
    const card = page.locator(`article[data-plugin="${plugin.repository}"]`);
    await card.waitFor();
    assert.match(page.url(), /\?q=slack$/, 'the search is in the address');
    await card.getByRole('heading', { name: 'Slack', level: 3 }).waitFor();
    await card.getByText('Posts a message to a Slack channel').waitFor();
    await card.locator('.plugin-head .badge.st-unverified').waitFor();
    await card.locator('.publisher').getByText('unknown — no key your tenant trusts').waitFor();
    await card.getByText('0 installs').waitFor();
    await card.getByRole('heading', { name: 'What 0.2.0 may do' }).waitFor();
    for (const capability of ['https://slack.com', 'https://hooks.slack.com', 'https://files.slack.com', 'slack-bot-token', 'slack-webhook']) {
      await card.locator('dl.caps').getByText(capability, { exact: true }).waitFor();
    }
    const versionRow = card.locator('tr[data-version="0.1.0"]');
    const upgradeRow = card.locator('tr[data-version="0.2.0"]');
    assert.equal(await versionRow.locator('code.digest').getAttribute('title'), plugin.digest, 'the 0.1.0 row names the digest node publish printed');
    assert.equal(await upgradeRow.locator('code.digest').getAttribute('title'), plugin.upgradeDigest, 'the 0.2.0 row names the digest plugin publish printed');
    assert.deepEqual(await card.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.version)), ['0.2.0', '0.1.0'], 'newest version first');
    await page.getByLabel('Category', { exact: true }).fill('no-such-category');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('No plugin matches.').waitFor();
    await page.getByLabel('Category', { exact: true }).fill('communication');
    await page.getByLabel('Tag', { exact: true }).fill('chat');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await card.locator('.tag', { hasText: 'communication' }).waitFor();
    await card.locator('.tag', { hasText: 'chat' }).waitFor();
    assert.match(page.url(), /[?&]category=communication/, 'the filters are in the address');
    await page.getByLabel('Category', { exact: true }).fill('');
    await page.getByLabel('Tag', { exact: true }).fill('');
    await card.getByRole('button', { name: 'Ask to install slack 0.1.0' }).click();
    await card.getByRole('alert').filter({ hasText: 'signed, but by no trusted key' }).waitFor();
    assert.deepEqual((await marketRest('GET', '/tenants/default/requests')).requests, [], 'a refused ask leaves no request');

    step("marketplace: trusting the publisher's key verifies the plugin");
    await page.getByLabel('Publisher name').fill('Broken');
    await page.getByLabel('Public key (PEM)').fill('-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----');
    await page.getByRole('button', { name: 'Trust this key' }).click();
    await page.locator('form.trust-key').getByRole('alert').filter({ hasText: 'Not trusted' }).waitFor();
    await page.getByLabel('Publisher name').fill('UI test publisher');
    await page.getByLabel('Public key (PEM)').fill(plugin.publicKey);
    await page.getByRole('button', { name: 'Trust this key' }).click();
    await page.locator('ul.trusted-keys li[data-key="UI test publisher"]').waitFor();
    await card.locator('.plugin-head .badge.st-verified').waitFor();
    assert.equal(await card.locator('.publisher').textContent(), 'Publisher: UI test publisher — your tenant trusts the key that signed it.');
    await versionRow.locator('.badge.st-verified').waitFor();
    const policy = await marketRest('GET', '/tenants/default/policy');
    assert.deepEqual(policy.trustedKeys.map((k) => [k.name, k.publicKeyPem.trim()]), [['UI test publisher', plugin.publicKey.trim()]], 'the key reached the tenant policy');
    assert.equal(policy.allowUnsigned, false, 'unsigned plugins stay refused');

    step('marketplace: ask to install 0.1.0, approve it (a rejection needs a reason), see it installed at the published digest');
    await card.getByRole('button', { name: 'Ask to install slack 0.1.0' }).click();
    const first = page.locator('article.request[data-request="1"]');
    await first.locator('.badge.st-waiting').filter({ hasText: 'pending' }).waitFor();
    assert.equal(await first.locator('code.digest').textContent(), plugin.digest, 'the request pins the published digest');
    await first.getByText('signed by UI test publisher').waitFor();
    await versionRow.getByRole('link', { name: 'Request #1 waits for approval' }).waitFor();
    await page.getByRole('link', { name: 'Install requests (1 pending)' }).waitFor();
    await first.getByRole('button', { name: /^Reject request #1/ }).click();
    await first.getByRole('alert').filter({ hasText: 'A rejection needs a reason' }).waitFor();
    await accessible(page, 'marketplace request');
    await first.scrollIntoViewIfNeeded();
    await shot(page, '18-marketplace-request');
    await first.getByLabel('Reason for request #1').fill('needed for the alerts workflow');
    await first.getByRole('button', { name: /^Approve request #1/ }).click();
    await first.locator('.badge.st-succeeded').filter({ hasText: 'approved' }).waitFor();
    await first.getByText('needed for the alerts workflow').waitFor();
    const installedRow = page.locator(`tr[data-installed="${plugin.repository}"]`);
    await installedRow.locator('code.digest').filter({ hasText: plugin.digest }).waitFor();
    await installedRow.getByText('0.1.0', { exact: true }).waitFor();
    await card.getByText('installed 0.1.0').waitFor();
    await card.getByText('1 install', { exact: true }).waitFor();
    await versionRow.getByText('Installed', { exact: true }).waitFor();
    await upgradeRow.getByText('Asks for more than 0.1.0: reaches https://files.slack.com').waitFor();
    const audit = page.locator('table.audit');
    for (const action of ['policy', 'request', 'approve', 'install']) await audit.locator(`tr[data-action="${action}"]`).first().waitFor();
    await audit.locator('tr[data-action="approve"]').getByText('needed for the alerts workflow').waitFor();
    let installed = (await marketRest('GET', '/tenants/default/installed')).installed;
    assert.deepEqual(installed.map((i) => [i.repository, i.version, i.digest]), [[plugin.repository, '0.1.0', plugin.digest]], 'the server has it installed');
    await accessible(page, 'marketplace');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, '18-marketplace');

    step('marketplace: an upgrade asking for more waits, and shows what it adds');
    await upgradeRow.getByRole('button', { name: 'Ask to install slack 0.2.0' }).click();
    const upgrade = page.locator('article.request[data-request="2"]');
    await upgrade.locator('.badge.st-waiting').waitFor();
    await upgrade.getByText('upgrade from 0.1.0').waitFor();
    assert.deepEqual(await upgrade.locator('ul.diff-lines li').allTextContents(), ['+ reaches https://files.slack.com'], 'the upgrade shows only the capability it adds');
    assert.equal(await upgrade.locator('code.digest').textContent(), plugin.upgradeDigest);
    await accessible(page, 'marketplace upgrade');
    await upgrade.scrollIntoViewIfNeeded();
    await shot(page, '18-marketplace-upgrade');
    await upgrade.getByRole('button', { name: /^Approve request #2/ }).click();
    await installedRow.locator('code.digest').filter({ hasText: plugin.upgradeDigest }).waitFor();
    await installedRow.getByText('https://files.slack.com').waitFor();
    await audit.locator('tr[data-action="upgrade"]').waitFor();
    await card.getByText('installed 0.2.0').waitFor();
    installed = (await marketRest('GET', '/tenants/default/installed')).installed;
    assert.deepEqual(installed.map((i) => [i.version, i.digest]), [['0.2.0', plugin.upgradeDigest]], 'the upgrade is installed, pinned');
    await page.locator('#market-installed').scrollIntoViewIfNeeded();
    await shot(page, '18-marketplace-installed');

    step('marketplace: remove it; ask again and reject, with a reason');
    await installedRow.getByRole('button', { name: 'Remove slack' }).click();
    await installedRow.getByRole('button', { name: 'Yes, remove slack' }).click();
    await page.getByText('No plugins installed in your tenant.').waitFor();
    await audit.locator('tr[data-action="remove"]').waitFor();
    await card.getByRole('button', { name: 'Ask to install slack 0.1.0' }).click();
    const third = page.locator('article.request[data-request="3"]');
    await third.locator('.badge.st-waiting').waitFor();
    await third.getByLabel('Reason for request #3').fill('not this quarter');
    await third.getByRole('button', { name: /^Reject request #3/ }).click();
    await third.locator('.badge.st-failed').filter({ hasText: 'rejected' }).waitFor();
    await third.getByText('not this quarter').waitFor();
    await audit.locator('tr[data-action="reject"]').getByText('not this quarter').waitFor();
    assert.deepEqual((await marketRest('GET', '/tenants/default/installed')).installed, [], 'a rejection installs nothing');
    await accessible(page, 'marketplace after a rejection');
  } else {
    step('marketplace: skipped (set N8N_WORK_PLUGIN_REPOSITORY, N8N_WORK_PLUGIN_DIGEST, N8N_WORK_PLUGIN_UPGRADE_DIGEST and N8N_WORK_PLUGIN_PUBLIC_KEY; tests/e2e/ui.rs does)');
  }

  step('layout holds at 1280x800 and 1920x1080 on every page');
  const pages = [
    ['workflows', '/workflows'],
    ['workflow', `/workflows/${created.id}`],
    ['executions', '/executions'],
    ['execution', `/executions/${latest}`],
    ['credentials', '/credentials'],
    ['marketplace', '/marketplace'],
  ];
  for (const [width, height] of [[1280, 800], [1920, 1080]]) {
    await page.setViewportSize({ width, height });
    for (const [name, path] of pages) {
      await page.goto(base + path);
      await page.locator('h1').first().waitFor();
      await page.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
      await fitsWidth(page, `${path} at ${width}x${height}`);
      if (width === 1920) await shot(page, `17-${name}-1920x1080`);
    }
  }
  step('a slow request blocks nothing: pages say they are loading and stay usable');
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const slow = /\/api\/v1\/executions(\?|\/[^/]+$)/;
  await page.route(slow, async (route) => { await held; await route.continue().catch(() => {}); });
  await page.goto(`${base}/executions`);
  await page.getByText('Loading executions…').waitFor();
  await page.getByLabel('Status').selectOption('failed');
  await page.goto(`${base}/executions/${latest}`);
  await page.getByText('Loading the execution…').waitFor();
  await page.getByRole('link', { name: 'Workflows', exact: true }).click();
  await page.getByRole('link', { name: 'hello', exact: true }).waitFor();
  release();
  await page.unroute(slow);

  assert.deepEqual(consoleErrors, [], 'no uncaught errors in the page');

  step('keyboard only: open a workflow and select a node at 1280x800');
  const keys = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const kp = await keys.newPage();
  kp.setDefaultTimeout(TIMEOUT);
  await kp.goto(base);
  await kp.waitForURL(/\/signin/);
  await kp.waitForFunction(() => document.activeElement?.name === 'key');
  await kp.keyboard.type(key);
  await kp.keyboard.press('Enter');
  await kp.getByRole('heading', { name: 'Workflows', level: 1 }).waitFor();
  const tabTo = async (test, what) => {
    for (let i = 0; i < 60; i += 1) {
      await kp.keyboard.press('Tab');
      if (await kp.evaluate(test)) return;
    }
    assert.fail(`Tab never reached ${what}`);
  };
  await kp.getByRole('link', { name: 'hello', exact: true }).waitFor();
  await tabTo(() => document.activeElement?.textContent === 'hello' && document.activeElement.tagName === 'A', 'the hello link');
  await kp.keyboard.press('Enter');
  await kp.locator('svg.graph g.node[data-node="greet"]').waitFor();
  await tabTo(() => document.activeElement?.dataset?.node === 'greet', 'the greet node');
  await kp.keyboard.press('Enter');
  await kp.getByRole('heading', { name: /^greet/ }).waitFor();
  const focused = await kp.evaluate(() => {
    const el = document.activeElement;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.bottom <= window.innerHeight + 1;
  });
  assert.ok(focused, 'the focused node is visible');
  await shot(kp, '14-keyboard');

  step('keyboard only: create and delete a credential');
  await kp.goto(`${base}/credentials`);
  await kp.getByRole('heading', { name: 'Credentials', level: 1 }).waitFor();
  await kp.getByText('No credentials yet.').waitFor();
  await tabTo(() => document.activeElement?.name === 'credential-name', 'the credential name');
  await kp.keyboard.type('kb');
  await tabTo(() => document.activeElement?.name === 'field-value', 'the first value');
  await kp.keyboard.type('kb-secret-value');
  await kp.keyboard.press('Enter');
  await kp.locator('tr[data-credential="kb"]').waitFor();
  assert.equal(await kp.evaluate(() => document.activeElement?.name), 'credential-name', 'focus returns to a fresh form');
  await tabTo(() => document.activeElement?.getAttribute('aria-label') === 'Delete kb', 'Delete kb');
  await kp.keyboard.press('Enter');
  assert.equal(await kp.evaluate(() => document.activeElement?.textContent), 'Yes, delete kb', 'focus moves to the confirmation');
  await kp.keyboard.press('Enter');
  await kp.getByText('No credentials yet.').waitFor();

  if (plugin.digest) {
    step('keyboard only: search the marketplace, ask to install, approve');
    await kp.goto(`${base}/marketplace`);
    await kp.getByRole('heading', { name: 'Marketplace', level: 1 }).waitFor();
    await kp.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
    await tabTo(() => document.activeElement?.name === 'q', 'the plugin search');
    await kp.keyboard.type('slack');
    await kp.keyboard.press('Enter');
    // The search's own answer, not the list that was there before it.
    await kp.waitForFunction(() => new URLSearchParams(location.search).get('q') === 'slack');
    await kp.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
    await kp.locator(`article[data-plugin="${plugin.repository}"] .badge.st-verified`).first().waitFor();
    await tabTo(() => document.activeElement?.getAttribute('aria-label') === 'Ask to install slack 0.1.0', 'Ask to install slack 0.1.0');
    await kp.keyboard.press('Enter');
    await kp.locator('article.request[data-request="4"] .badge.st-waiting').waitFor();
    await kp.waitForFunction(() => document.activeElement?.id === 'request-4-title');
    await tabTo(() => document.activeElement?.name === 'reason', 'the reason for request #4');
    await kp.keyboard.type('approved from the keyboard');
    await tabTo(() => (document.activeElement?.getAttribute('aria-label') || '').startsWith('Approve request #4'), 'Approve request #4');
    await kp.keyboard.press('Enter');
    await kp.locator(`tr[data-installed="${plugin.repository}"]`).waitFor();
    await kp.waitForFunction(() => document.activeElement?.id === 'request-4-title');
    assert.equal((await marketRest('GET', '/tenants/default/installed')).installed[0]?.digest, plugin.digest, 'installed from the keyboard');
  }
} catch (e) {
  failures.push(e);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`UI test failed: ${failures[0].stack || failures[0]}`);
  process.exit(1);
}
const listed = readdirSync(shots).filter((f) => f.endsWith('.png')).sort();
assert.deepEqual(listed, [...taken].sort(), 'every screenshot taken is in the folder');
console.log(`UI test passed; ${listed.length} screenshots in ${shots}:\n${listed.map((f) => `  ${f}`).join('\n')}`);
