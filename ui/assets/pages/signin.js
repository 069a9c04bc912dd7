// Sign-in with the owner key that the first start printed.

import { h, field } from '../dom.js';
import { signIn } from '../api.js';

export function render(main, _params, { navigate, refreshHeader }) {
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', {
    class: 'card signin',
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        await signIn(key.value.trim());
        key.value = '';
        refreshHeader();
        const next = new URLSearchParams(location.search).get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/workflows', { replace: true });
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
  main.append(form);
  requestAnimationFrame(() => key.focus());
}
