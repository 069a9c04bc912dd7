// Marketplace: search the plugins published to this server's registry,
// ask to install one, and, as an admin, decide install requests, remove
// installed plugins and set the tenant's trust policy (which publisher keys
// it trusts, whether unsigned plugins may be installed). The tenant's
// marketplace audit list is at the bottom.
//
// The marketplace's routes are not under /api/v1 but at /v2/_marketplace/,
// beside the registry; the session cookie works there too.

import { h, append, replace, field, toast, ago, uid, debounce } from '../dom.js';
import { api, session, ApiProblem } from '../api.js';

// api() puts its path after /api/v1; two `..` segments lead back to the
// site's root (the browser resolves them before sending), so these calls
// keep api()'s headers, session handling and error shape.
const MARKET = '/../../v2/_marketplace';
const market = (method, path, options) => api(method, MARKET + path, options);

/** The default role of each action this page offers (the server decides). */
const RANK = { viewer: 0, operator: 1, editor: 2, admin: 3, owner: 4 };

const STATUS_CLASS = { pending: 'st-waiting', approved: 'st-succeeded', rejected: 'st-failed' };

function shortDigest(digest) {
  const [algo, hex = ''] = String(digest || '').split(':');
  return hex ? `${algo}:${hex.slice(0, 12)}…` : String(digest || '—');
}

function originText(origin) {
  return origin.startsWith('param:') ? `the URL in its “${origin.slice(6)}” parameter` : origin;
}

/** What a plugin may do: the origins it reaches and the credential types it uses. */
function capabilities(caps) {
  const egress = caps?.egress || [];
  const types = caps?.credentialTypes || [];
  if (!egress.length && !types.length) return h('p', { class: 'muted small caps' }, 'Reaches no network and uses no credentials.');
  return h('dl', { class: 'facts caps' },
    h('dt', {}, 'Reaches'),
    h('dd', {}, egress.length ? h('ul', { class: 'inline-list' }, egress.map((o) => h('li', {}, h('code', {}, originText(o))))) : 'no network'),
    h('dt', {}, 'Credentials'),
    h('dd', {}, types.length ? types.map((t) => h('span', { class: 'tag' }, t)) : 'none'));
}

/** Capabilities as lines: "reaches ORIGIN", "uses TYPE credentials". */
function capabilityLines(caps) {
  return [
    ...(caps?.egress || []).map((o) => `reaches ${originText(o)}`),
    ...(caps?.credentialTypes || []).map((t) => `uses ${t} credentials`),
  ];
}

/** What `caps` asks for that `approved` does not grant, as lines. */
function beyond(caps, approved) {
  return capabilityLines({
    egress: (caps?.egress || []).filter((o) => !(approved?.egress || []).includes(o)),
    credentialTypes: (caps?.credentialTypes || []).filter((t) => !(approved?.credentialTypes || []).includes(t)),
  });
}

/** What an upgrade asks for beyond the approved version, as added lines. */
function addedCapabilities(added) {
  const lines = capabilityLines(added);
  if (!lines.length) return h('p', { class: 'small ok' }, 'Asks for nothing beyond the installed version.');
  return h('div', { class: 'cap-diff' },
    h('p', { class: 'small' }, h('strong', {}, `Adds ${lines.length} capabilit${lines.length === 1 ? 'y' : 'ies'} beyond the installed version:`)),
    h('ul', { class: 'diff-lines', 'aria-label': 'Added capabilities' },
      lines.map((l) => h('li', { class: 'd-add' }, h('span', { 'aria-hidden': 'true' }, '+ '), l))));
}

function verifiedBadge(version) {
  return version?.verified
    ? h('span', { class: 'badge st-verified' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'verified')
    : h('span', { class: 'badge st-unverified' }, 'unverified');
}

function publisherText(version) {
  if (version?.verified) return [h('strong', {}, version.publisher), ' — your tenant trusts the key that signed it.'];
  if (version?.publisher) return [h('strong', {}, version.publisher), ' — signed with a key your tenant does not trust yet.'];
  return 'unknown — no key your tenant trusts, or this marketplace knows, signed it.';
}

function problem(e, what) {
  if (e instanceof ApiProblem && e.status === 403) return `Your key may not ${what}: ${e.message}`;
  return `Could not ${what}: ${e.message}`;
}

export function render(main, _params, { signal }) {
  const params = new URLSearchParams(location.search);
  const rank = RANK[session.role];
  // Without a known role (or with a custom one) every control shows and the
  // server says no; by default only admins install, decide and set trust.
  const admin = rank === undefined || rank >= RANK.admin;
  let tenant = session.tenant;

  const state = { plugins: null, requests: [], installed: [], policy: null, audit: [] };
  let confirming = null;

  const words = h('input', { type: 'search', name: 'q', value: params.get('q') || '', placeholder: 'slack, http, …', spellcheck: 'false', autocomplete: 'off' });
  const tag = h('input', { type: 'text', name: 'tag', value: params.get('tag') || '', spellcheck: 'false', autocomplete: 'off' });
  const category = h('input', { type: 'text', name: 'category', value: params.get('category') || '', spellcheck: 'false', autocomplete: 'off' });

  const pluginsBody = h('div', { class: 'market-plugins', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading plugins…'));
  const requestsBody = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading install requests…'));
  const installedBody = h('div', { class: 'table-wrap', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading installed plugins…'));
  const policyBody = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading the trust policy…'));
  const auditBody = h('div', { class: 'table-wrap', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading the audit list…'));
  const pendingCount = h('span', { class: 'count' });
  const pluginErrors = new Map();

  const tenantPath = (rest) => `/tenants/${encodeURIComponent(tenant)}${rest}`;

  // A section is busy while any of its loads is in flight.
  const loads = new Map();
  async function busy(body, fn) {
    loads.set(body, (loads.get(body) || 0) + 1);
    body.setAttribute('aria-busy', 'true');
    try {
      await fn();
    } finally {
      loads.set(body, loads.get(body) - 1);
      if (!loads.get(body)) body.removeAttribute('aria-busy');
    }
  }

  // Plugins ---------------------------------------------------------------

  let searching = null;
  async function loadPlugins() {
    // A search typed just before leaving the page must not touch the next one.
    if (signal.aborted) return;
    const mine = new AbortController();
    if (searching) searching.abort();
    searching = mine;
    signal.addEventListener('abort', () => mine.abort());
    const query = new URLSearchParams();
    for (const [name, input] of [['q', words], ['tag', tag], ['category', category]]) {
      if (input.value.trim()) query.set(name, input.value.trim());
    }
    const url = new URL(location.href);
    for (const name of ['q', 'tag', 'category']) {
      if (query.has(name)) url.searchParams.set(name, query.get(name)); else url.searchParams.delete(name);
    }
    history.replaceState(null, '', url.pathname + url.search + url.hash);
    if (tenant) query.set('tenant', tenant);
    await busy(pluginsBody, async () => {
      try {
        const data = await market('GET', `/search?${query}`, { signal: mine.signal });
        if (!Array.isArray(data?.plugins)) throw new Error('this server has no marketplace (GET /v2/_marketplace/search)');
        state.plugins = data.plugins;
        pluginErrors.clear();
        drawPlugins();
      } catch (e) {
        if (e.name === 'AbortError') return;
        replace(pluginsBody, h('p', { class: 'error', role: 'alert' }, problem(e, 'search the marketplace')));
      }
    });
  }

  function drawPlugins() {
    const plugins = state.plugins;
    if (!plugins) return;
    const searched = [words, tag, category].some((i) => i.value.trim());
    if (!plugins.length) {
      replace(pluginsBody, h('p', { class: 'empty' }, searched
        ? 'No plugin matches. Try fewer words, or clear the tag and category.'
        : 'No plugins published yet. Publish one with `n8n-work node publish` or `n8n-work plugin publish`.'));
      return;
    }
    // A redraw (a search or a list arriving) keeps the keyboard where it was.
    const focused = pluginsBody.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    replace(pluginsBody,
      h('p', { class: 'muted small' }, `${plugins.length} plugin${plugins.length === 1 ? '' : 's'}`),
      h('ul', { class: 'cards' }, plugins.map((p) => h('li', {}, pluginCard(p)))));
    if (focused) pluginsBody.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
  }

  function pluginCard(p) {
    const newest = p.versions?.[0];
    const titleId = uid('plugin');
    const installed = state.installed.find((i) => i.repository === p.repository);
    const error = h('p', { class: 'error', role: 'alert' }, pluginErrors.get(p.repository) || '');
    return h('article', { class: 'card plugin', 'data-plugin': p.repository, 'aria-labelledby': titleId },
      h('div', { class: 'plugin-head' },
        h('h3', { id: titleId }, p.displayName || p.name),
        verifiedBadge(newest),
        installed ? h('span', { class: 'badge st-succeeded' }, `installed ${installed.version}`) : null,
        h('span', { class: 'spacer' }),
        h('span', { class: 'small muted installs' }, `${p.installs} install${p.installs === 1 ? '' : 's'}`)),
      h('p', { class: 'mono small muted' }, p.repository, p.name && !p.repository.endsWith(`/${p.name}`) ? ` · node ${p.name}` : null),
      p.description ? h('p', {}, p.description) : null,
      h('p', { class: 'small publisher' }, h('span', { class: 'muted' }, 'Publisher: '), publisherText(newest)),
      p.categories?.length || p.tags?.length
        ? h('p', { class: 'small' },
          p.categories?.length ? [h('span', { class: 'muted' }, 'Categories: '), p.categories.map((c) => h('span', { class: 'tag' }, c))] : null,
          p.tags?.length ? [h('span', { class: 'muted' }, ' Tags: '), p.tags.map((t) => h('span', { class: 'tag' }, t))] : null)
        : null,
      h('h4', {}, `What ${newest?.version || 'it'} may do`),
      capabilities(newest?.capabilities),
      h('div', { class: 'table-wrap' }, h('table', { class: 'list compact versions' },
        h('caption', { class: 'sr-only' }, `Versions of ${p.displayName || p.name}`),
        h('thead', {}, h('tr', {}, ['Version', 'Digest', 'Signature', 'In your tenant'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, (p.versions || []).map((v) => versionRow(p, v, installed))))),
      error);
  }

  function versionRow(p, v, installed) {
    const pending = state.requests.find((r) => r.status === 'pending' && r.repository === p.repository && r.digest === v.digest);
    // Against the installed version: what this one would add (the request
    // will wait for an admin if anything).
    const more = installed && installed.digest !== v.digest ? beyond(v.capabilities, installed.capabilities) : [];
    let action = null;
    if (installed?.digest === v.digest) action = h('span', { class: 'small ok' }, 'Installed');
    else if (pending) action = h('a', { href: `#request-${pending.id}`, class: 'small' }, `Request #${pending.id} waits for approval`);
    else if (admin) {
      const newer = installed && p.versions.indexOf(v) < p.versions.findIndex((x) => x.digest === installed.digest || x.version === installed.version);
      const button = h('button', {
        type: 'button',
        class: 'small',
        'aria-label': `Ask to install ${p.name} ${v.version}`,
        onclick: () => requestInstall(p, v, button),
      }, !installed ? 'Ask to install' : newer ? 'Ask to upgrade' : 'Ask to switch to it');
      action = button;
    }
    return h('tr', { 'data-version': v.version },
      h('th', { scope: 'row' }, v.version, v.tag !== v.version ? h('span', { class: 'muted small' }, ` (tag ${v.tag})`) : null),
      h('td', {}, h('code', { class: 'digest short', title: v.digest }, shortDigest(v.digest))),
      h('td', {}, verifiedBadge(v), ' ', h('span', { class: 'small' }, v.publisher ? `by ${v.publisher}` : 'publisher unknown')),
      h('td', {}, action,
        more.length ? h('p', { class: 'small more' }, `Asks for more than ${installed.version}: `, more.join(', ')) : null));
  }

  async function requestInstall(p, v, button) {
    const reference = `${p.repository}:${v.tag}`;
    button.disabled = true;
    button.textContent = 'Asking…';
    pluginErrors.delete(p.repository);
    try {
      const outcome = await market('POST', tenantPath('/requests'), { body: { reference } });
      toast(outcome.status === 'pending'
        ? `Asked to install ${p.name} ${v.version}: request #${outcome.request.id} waits for an admin`
        : outcome.status === 'installed'
          ? `Installed ${p.name} ${v.version}: it asks for nothing beyond what was approved`
          : `${p.name} ${v.version} is already installed`);
      await Promise.all([loadRequests(), loadInstalled(), loadAudit()]);
      if (outcome.status === 'pending') main.querySelector(`#request-${outcome.request.id} h3`)?.focus();
    } catch (e) {
      // A refusal says why and what to do (trust the publisher's key, say).
      pluginErrors.set(p.repository, e.code === 'refused' || e.code === 'tampered'
        ? e.message.replace(/^install refused/, 'Not asked: the install would be refused')
        : problem(e, `ask to install ${reference}`));
      drawPlugins();
      main.querySelector(`[data-plugin="${CSS.escape(p.repository)}"] tr[data-version="${CSS.escape(v.version)}"] button`)?.focus();
    }
  }

  // Install requests ------------------------------------------------------

  async function loadRequests() {
    await busy(requestsBody, async () => {
      try {
        const data = await market('GET', tenantPath('/requests'), { signal });
        state.requests = data?.requests || [];
        drawRequests();
        drawPlugins();
      } catch (e) {
        if (e.name === 'AbortError') return;
        replace(requestsBody, h('p', { class: 'error', role: 'alert' }, problem(e, 'load the install requests')));
      }
    });
  }

  function drawRequests() {
    const pending = state.requests.filter((r) => r.status === 'pending');
    pendingCount.textContent = pending.length ? ` (${pending.length} pending)` : '';
    if (!state.requests.length) {
      replace(requestsBody, h('p', { class: 'empty' }, 'No install requests yet. Ask to install a plugin above.'));
      return;
    }
    // Waiting ones first, then the decided ones, newest first.
    const ordered = [...pending.reverse(), ...state.requests.filter((r) => r.status !== 'pending').reverse()];
    replace(requestsBody, h('ul', { class: 'cards' }, ordered.map((r) => h('li', {}, requestCard(r)))));
  }

  function requestCard(r) {
    const titleId = `request-${r.id}-title`;
    const error = h('p', { class: 'error', role: 'alert' });
    return h('article', { class: `card request ${r.status}`, id: `request-${r.id}`, 'data-request': r.id, 'aria-labelledby': titleId },
      h('div', { class: 'plugin-head' },
        h('h3', { id: titleId, tabindex: -1 }, `#${r.id} ${r.repository} ${r.version}`),
        h('span', { class: `badge ${STATUS_CLASS[r.status] || ''}` }, r.status),
        r.upgradesFrom ? h('span', { class: 'tag' }, `upgrade from ${r.upgradesFrom}`) : null),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Reference'), h('dd', {}, h('code', {}, `${r.repository}:${r.reference}`)),
        h('dt', {}, 'Digest'), h('dd', {}, h('code', { class: 'digest' }, r.digest)),
        h('dt', {}, 'Signature'), h('dd', {}, r.verification),
        h('dt', {}, 'Asked by'), h('dd', {}, r.requestedBy),
        r.decidedBy ? [h('dt', {}, r.status === 'rejected' ? 'Rejected by' : 'Approved by'), h('dd', {}, r.decidedBy)] : null,
        r.reason ? [h('dt', {}, 'Reason'), h('dd', { class: 'reason' }, r.reason)] : null),
      r.addedCapabilities ? addedCapabilities(r.addedCapabilities) : null,
      h('h4', {}, 'Asks for'),
      capabilities(r.capabilities),
      r.status === 'pending' && admin ? decision(r, error) : null,
      r.status === 'pending' && !admin ? h('p', { class: 'muted small' }, 'An admin of your tenant decides this request.') : null,
      error);
  }

  function decision(r, error) {
    const reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off' });
    const label = `${r.repository} ${r.version}`;
    const approve = h('button', { type: 'button', 'aria-label': `Approve request #${r.id} (${label})`, onclick: () => decide('approve') }, 'Approve');
    const reject = h('button', { type: 'button', class: 'danger', 'aria-label': `Reject request #${r.id} (${label})`, onclick: () => decide('reject') }, 'Reject');
    async function decide(how) {
      error.textContent = '';
      if (how === 'reject' && !reason.value.trim()) {
        error.textContent = 'A rejection needs a reason: say why, so the person who asked knows.';
        reason.setAttribute('aria-invalid', 'true');
        reason.focus();
        return;
      }
      reason.removeAttribute('aria-invalid');
      approve.disabled = true;
      reject.disabled = true;
      (how === 'approve' ? approve : reject).textContent = how === 'approve' ? 'Approving…' : 'Rejecting…';
      try {
        await market('POST', tenantPath(`/requests/${encodeURIComponent(r.id)}/${how}`), { body: { reason: reason.value.trim() } });
        toast(how === 'approve' ? `Approved: ${label} is installed` : `Rejected request #${r.id}`);
        await Promise.all([loadRequests(), loadInstalled(), loadAudit(), how === 'approve' ? loadPlugins() : null]);
        main.querySelector(`#request-${r.id} h3`)?.focus();
      } catch (e) {
        error.textContent = e.code === 'refused' || e.code === 'tampered'
          ? `Not installed: ${e.message}`
          : problem(e, `${how} request #${r.id}`);
        approve.disabled = false;
        reject.disabled = false;
        approve.textContent = 'Approve';
        reject.textContent = 'Reject';
      }
    }
    return h('fieldset', { class: 'group decision' },
      h('legend', {}, `Decide request #${r.id}`),
      field(`Reason for request #${r.id}`, reason, 'Needed to reject; kept with an approval too. Both go to the audit list.'),
      h('div', { class: 'row' }, approve, reject));
  }

  // Installed plugins -----------------------------------------------------

  async function loadInstalled() {
    await busy(installedBody, async () => {
      try {
        const data = await market('GET', tenantPath('/installed'), { signal });
        state.installed = data?.installed || [];
        drawInstalled();
        drawPlugins();
      } catch (e) {
        if (e.name === 'AbortError') return;
        replace(installedBody, h('p', { class: 'error', role: 'alert' }, problem(e, 'load the installed plugins')));
      }
    });
  }

  function drawInstalled() {
    if (!state.installed.length) {
      replace(installedBody, h('p', { class: 'empty' }, 'No plugins installed in your tenant.'));
      return;
    }
    replace(installedBody, h('table', { class: 'list installed' },
      h('caption', { class: 'sr-only' }, 'Installed plugins'),
      h('thead', {}, h('tr', {}, ['Plugin', 'Version', 'Pinned digest', 'Approved for', 'Approved by', admin ? 'Actions' : null].filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, state.installed.map((i) => h('tr', { 'data-installed': i.repository },
        h('th', { scope: 'row' }, i.name, h('br'), h('span', { class: 'mono small muted' }, i.repository)),
        h('td', {}, i.version),
        h('td', {}, h('code', { class: 'digest' }, i.digest)),
        h('td', {}, capabilities(i.capabilities)),
        h('td', {}, i.approvedBy),
        admin ? h('td', { class: 'row-actions' }, confirming === i.repository
          ? [h('span', { class: 'small' }, 'Workflows using it stop running. '),
            h('button', { type: 'button', class: 'small danger', onclick: () => removeInstalled(i) }, `Yes, remove ${i.name}`),
            h('button', { type: 'button', class: 'small secondary', onclick: () => { confirming = null; drawInstalled(); focusInstalled(i.repository, 'Remove'); } }, 'Keep')]
          : h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove ${i.name}`, onclick: () => { confirming = i.repository; drawInstalled(); focusInstalled(i.repository, 'Yes, remove'); } }, 'Remove')) : null)))));
  }

  function focusInstalled(repository, label) {
    const row = installedBody.querySelector(`tr[data-installed="${CSS.escape(repository)}"]`);
    [...(row?.querySelectorAll('button') || [])].find((b) => (b.getAttribute('aria-label') || b.textContent).startsWith(label))?.focus();
  }

  async function removeInstalled(i) {
    try {
      await market('DELETE', tenantPath(`/installed?repository=${encodeURIComponent(i.repository)}`));
      toast(`Removed ${i.name}`);
      confirming = null;
      await Promise.all([loadInstalled(), loadAudit()]);
      main.querySelector('#market-installed-title')?.focus();
    } catch (e) {
      toast(problem(e, `remove ${i.name}`), 'error');
    }
  }

  // Trust policy ----------------------------------------------------------

  async function loadPolicy() {
    await busy(policyBody, async () => {
      try {
        state.policy = await market('GET', tenantPath('/policy'), { signal });
        drawPolicy();
      } catch (e) {
        if (e.name === 'AbortError') return;
        replace(policyBody, h('p', { class: 'error', role: 'alert' }, problem(e, 'load the trust policy')));
      }
    });
  }

  async function savePolicy(next, done) {
    await market('PUT', tenantPath('/policy'), { body: next });
    toast(done);
    await Promise.all([loadPolicy(), loadPlugins(), loadAudit()]);
  }

  function drawPolicy() {
    const policy = state.policy || { trustedKeys: [], allowUnsigned: false };
    const keys = policy.trustedKeys || [];
    const keyList = keys.length
      ? h('ul', { class: 'trusted-keys' }, keys.map((k, index) => h('li', { 'data-key': k.name },
        h('div', { class: 'row' },
          h('strong', {}, k.name),
          h('span', { class: 'spacer' }),
          admin ? h('button', {
            type: 'button',
            class: 'small danger',
            'aria-label': `Stop trusting ${k.name}`,
            onclick: async (e) => {
              const button = e.currentTarget;
              button.disabled = true;
              try {
                await savePolicy({ ...policy, trustedKeys: keys.filter((_, i) => i !== index) }, `Your tenant no longer trusts ${k.name}`);
                main.querySelector('#market-policy-title')?.focus();
              } catch (err) {
                toast(problem(err, 'change the trust policy'), 'error');
                button.disabled = false;
              }
            },
          }, 'Stop trusting') : null),
        h('details', {}, h('summary', {}, `Public key of ${k.name}`), h('pre', { class: 'json pem', tabindex: 0, 'aria-label': `Public key of ${k.name}` }, k.publicKeyPem.trim())))))
      : h('p', { class: 'empty' }, 'No trusted publisher keys: no plugin shows as verified, and signed plugins cannot be installed.');

    const unsigned = h('p', { class: 'small' }, h('strong', {}, 'Unsigned plugins: '), policy.allowUnsigned ? 'may be installed.' : 'refused.');
    if (!admin) {
      replace(policyBody, keyList, unsigned, h('p', { class: 'muted small' }, 'An admin of your tenant sets the trust policy.'));
      return;
    }

    const name = h('input', { type: 'text', name: 'key-name', required: true, autocomplete: 'off', spellcheck: 'false' });
    const pem = h('textarea', { name: 'key-pem', required: true, rows: 5, spellcheck: 'false', placeholder: '-----BEGIN PUBLIC KEY-----' });
    const keyError = h('p', { class: 'error', role: 'alert' });
    const add = h('button', { type: 'submit' }, 'Trust this key');
    const keyForm = h('form', {
      class: 'trust-key',
      'aria-labelledby': 'market-trust-key-title',
      onsubmit: async (e) => {
        e.preventDefault();
        keyError.textContent = '';
        const record = { name: name.value.trim(), publicKeyPem: pem.value.trim() };
        if (!record.name) { keyError.textContent = 'Give the key a name: the publisher it belongs to.'; name.focus(); return; }
        if (!record.publicKeyPem.includes('BEGIN PUBLIC KEY')) {
          keyError.textContent = 'Paste the whole public key, from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----.';
          pem.focus();
          return;
        }
        if (keys.some((k) => k.name === record.name)) {
          keyError.textContent = `Your tenant already trusts a key named “${record.name}”; stop trusting it first, or pick another name.`;
          name.focus();
          return;
        }
        add.disabled = true;
        add.textContent = 'Saving…';
        try {
          await savePolicy({ ...policy, trustedKeys: [...keys, record] }, `Your tenant now trusts ${record.name}`);
          policyBody.querySelector('input[name="key-name"]')?.focus();
        } catch (err) {
          keyError.textContent = err.status === 400 ? `Not trusted: ${err.message}` : problem(err, 'change the trust policy');
          add.disabled = false;
          add.textContent = 'Trust this key';
        }
      },
    },
    h('h3', { id: 'market-trust-key-title' }, 'Trust a publisher key'),
    field('Publisher name', name, 'Shown as the publisher of what this key signed.'),
    field('Public key (PEM)', pem, 'The KEY.pub file `n8n-work plugin keygen` wrote.'),
    keyError,
    add);

    const allow = h('input', { type: 'checkbox', name: 'allow-unsigned', checked: policy.allowUnsigned });
    allow.id = uid('allow');
    const unsignedError = h('p', { class: 'error', role: 'alert' });
    const saveUnsigned = h('button', { type: 'submit', class: 'secondary' }, 'Save');
    const unsignedForm = h('form', {
      class: 'unsigned',
      onsubmit: async (e) => {
        e.preventDefault();
        unsignedError.textContent = '';
        if (allow.checked === policy.allowUnsigned) { unsignedError.textContent = 'Nothing changed.'; return; }
        saveUnsigned.disabled = true;
        try {
          await savePolicy({ ...policy, allowUnsigned: allow.checked }, allow.checked ? 'Unsigned plugins may now be installed' : 'Unsigned plugins are now refused');
          policyBody.querySelector('input[name="allow-unsigned"]')?.focus();
        } catch (err) {
          unsignedError.textContent = problem(err, 'change the trust policy');
          saveUnsigned.disabled = false;
        }
      },
    },
    h('div', { class: 'field checkbox' },
      allow,
      h('label', { for: allow.id }, 'Allow installing unsigned plugins'),
      h('span', { class: 'hint' }, 'Off by default: anyone who can publish could then offer code your tenant runs. A signed plugin still needs a trusted key.')),
    unsignedError,
    saveUnsigned);

    replace(policyBody, keyList, unsigned, h('div', { class: 'card policy-forms' }, keyForm, unsignedForm));
  }

  // Audit -----------------------------------------------------------------

  async function loadAudit() {
    await busy(auditBody, async () => {
      try {
        const data = await market('GET', tenantPath('/audit'), { signal });
        state.audit = data?.audit || [];
        drawAudit();
      } catch (e) {
        if (e.name === 'AbortError') return;
        replace(auditBody, h('p', { class: e.status === 403 ? 'muted' : 'error', role: 'alert' }, problem(e, 'read the audit list')));
      }
    });
  }

  function drawAudit() {
    if (!state.audit.length) {
      replace(auditBody, h('p', { class: 'empty' }, 'Nothing happened in the marketplace for your tenant yet.'));
      return;
    }
    replace(auditBody, h('table', { class: 'list compact audit' },
      h('caption', { class: 'sr-only' }, 'Marketplace audit list, newest first'),
      h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Plugin', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, [...state.audit].reverse().map((a) => h('tr', { 'data-action': a.action },
        h('td', {}, h('time', { datetime: new Date(a.at * 1000).toISOString(), title: new Date(a.at * 1000).toLocaleString() }, ago(a.at * 1000))),
        h('td', { class: 'mono small' }, a.actor),
        h('th', { scope: 'row' }, h('span', { class: 'tag' }, a.action)),
        h('td', {}, a.repository ? [a.repository, a.digest ? [h('br'), h('code', { class: 'small', title: a.digest }, shortDigest(a.digest))] : null] : h('span', { class: 'muted' }, '—')),
        h('td', {}, a.detail || ''))))));
  }

  // The page --------------------------------------------------------------

  /** Everything; plugin cards redraw as the tenant's installs and requests arrive. */
  function loadAll() {
    return Promise.all([loadPlugins(), loadInstalled(), loadRequests(), loadPolicy(), loadAudit()]);
  }

  async function start() {
    if (!tenant) {
      // A bearer-key session: the keys list names the caller's tenant.
      try {
        const data = await api('GET', '/keys', { signal });
        tenant = data?.items?.[0]?.tenant || null;
      } catch { /* said below */ }
    }
    if (!tenant) {
      const why = h('p', { class: 'error', role: 'alert' }, 'Could not tell which tenant you are signed in to; sign out and in again.');
      for (const body of [requestsBody, installedBody, policyBody, auditBody]) replace(body, why.cloneNode(true));
      await loadPlugins();
      return;
    }
    await loadAll();
  }

  const section = (id, title, ...children) => h('section', { class: 'market-section', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, tabindex: -1 }, title), ...children);

  words.addEventListener('input', debounce(loadPlugins, 250));
  append(main, [
    h('div', { class: 'page-head' },
      h('div', {},
        h('h1', {}, 'Marketplace'),
        h('p', { class: 'muted' }, 'Plugins published to this server’s registry. Installing one is your tenant admin’s decision, pinned to the digest they approved.')),
      h('div', { class: 'row' },
        tenant ? h('span', { class: 'small muted' }, `Tenant ${tenant}${session.role ? ` · ${session.role}` : ''}`) : null,
        h('button', { type: 'button', class: 'secondary', onclick: () => (tenant ? loadAll() : loadPlugins()) }, 'Refresh'))),
    h('nav', { class: 'in-page', 'aria-label': 'Marketplace sections' },
      h('a', { href: '#market-plugins' }, 'Plugins'),
      h('a', { href: '#market-requests' }, 'Install requests', pendingCount),
      h('a', { href: '#market-installed' }, 'Installed'),
      h('a', { href: '#market-policy' }, 'Trust policy'),
      h('a', { href: '#market-audit' }, 'Audit')),
    admin ? null : h('p', { class: 'notice-box small' }, `You are signed in as ${session.role}: you can browse. By default only admins ask for installs, decide them and set the trust policy.`),
    h('div', { class: 'market-grid' },
      section('market-plugins', 'Plugins',
        h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Plugin search', onsubmit: (e) => { e.preventDefault(); loadPlugins(); } },
          field('Search plugins', words, 'Words in the name or description'),
          field('Tag', tag, 'A keyword or a version'),
          field('Category', category, 'Such as communication'),
          h('button', { type: 'submit' }, 'Search')),
        pluginsBody),
      section('market-policy', 'Trust policy',
        h('p', { class: 'muted small' }, 'A plugin is verified when a key your tenant trusts signed it; only verified plugins (and unsigned ones, if allowed) can be installed.'),
        policyBody)),
    section('market-requests', 'Install requests', requestsBody),
    section('market-installed', 'Installed plugins', installedBody),
    section('market-audit', 'Audit', h('p', { class: 'muted small' }, 'What happened in the marketplace for your tenant: requests, decisions, installs, removals and policy changes.'), auditBody)]);
  start();
}
