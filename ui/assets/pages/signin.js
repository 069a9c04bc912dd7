// Sign-in with the owner key that the first start printed, or with the
// organisation's OpenID Connect provider when the server has one
// (`serve --oidc-issuer`). A failed single sign-on comes back here; the
// server keeps its reason in a cookie and says it once, on
// GET /session/providers, so no link can put words on this page.

import { h, field } from '../dom.js';
import { api, signIn } from '../api.js';

/** The page to go to after signing in: a path on this server. */
function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') ? next : '/workflows';
}

/**
 * The single sign-on form: a plain GET to the server, which sends the
 * browser to the provider; `failure` is why the last try failed, if it did.
 */
function ssoForm(failure) {
  const tenant = h('input', { type: 'text', name: 'tenant', autocomplete: 'off', spellcheck: 'false' });
  return h('form', { class: 'card sso', method: 'get', action: '/api/v1/session/oidc' },
    h('h2', {}, 'Single sign-on'),
    h('p', { class: 'muted' }, 'Sign in with your organisation’s account. An admin must have added you with n8n-work member add.'),
    failure ? h('p', { class: 'error', role: 'alert' }, `Single sign-on failed: ${failure}`) : null,
    h('input', { type: 'hidden', name: 'next', value: nextPath() }),
    h('details', {},
      h('summary', {}, 'A member of several tenants?'),
      field('Tenant (optional)', tenant, 'Without it, you sign in to the tenant you were added to first.')),
    h('button', { type: 'submit' }, 'Sign in with SSO'));
}

export function render(main, _params, { navigate, refreshHeader }) {
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        await signIn(key.value.trim());
        key.value = '';
        refreshHeader();
        navigate(nextPath(), { replace: true });
      } catch (err) {
        error.textContent = err.status === 401
          ? 'That key is unknown, expired or revoked. Use the key `n8n-work serve` printed on its first start (also in <data dir>/cli.key).'
          : `Sign-in failed: ${err.message}`;
        button.disabled = false;
        button.textContent = 'Sign in';
        key.focus();
      }
    },
  },
  h('h1', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'The first start of n8n-work serve printed an owner key and saved it in <data dir>/cli.key.'),
  field('Owner API key', key),
  error,
  button);
  const page = h('div', { class: 'signin' }, form);
  main.append(page);
  requestAnimationFrame(() => key.focus());
  // Servers without single sign-on (or older ones) answer 404: key sign-in only.
  api('GET', '/session/providers', { quiet: true }).then((providers) => {
    if (!page.isConnected) return;
    if (providers?.oidc) page.append(ssoForm(providers.error));
    else if (providers?.error) error.textContent = `Single sign-on failed: ${providers.error}`;
  }).catch(() => {});
}
