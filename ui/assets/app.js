// The app shell: sign-in gate, navigation, and a router over history.pushState.
// Each page module exports `render(main, params, ctx)` and may return a
// function that stops what it started (streams, timers, requests).

import { h, replace } from './dom.js';
import { restore, session, signOut, whenSignedOut } from './api.js';

const ROUTES = [
  { pattern: /^\/signin$/, page: 'signin', title: 'Sign in', open: true },
  { pattern: /^\/workflows\/?$/, page: 'workflows', title: 'Workflows' },
  { pattern: /^\/workflows\/new$/, page: 'workflow', title: 'New workflow', params: () => ({ id: null }) },
  { pattern: /^\/workflows\/([^/]+)$/, page: 'workflow', title: 'Workflow', params: (m) => ({ id: decodeURIComponent(m[1]) }) },
  { pattern: /^\/executions\/?$/, page: 'executions', title: 'Executions' },
  { pattern: /^\/executions\/([^/]+)$/, page: 'execution', title: 'Execution', params: (m) => ({ id: decodeURIComponent(m[1]) }) },
  { pattern: /^\/credentials\/?$/, page: 'credentials', title: 'Credentials' },
  { pattern: /^\/marketplace\/?$/, page: 'marketplace', title: 'Marketplace' },
];

const main = document.getElementById('main');
const top = document.getElementById('top');
let stopPage = null;
let controller = null;
let known = null;

export function navigate(path, { replace: swap = false } = {}) {
  if (swap) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

function header() {
  const here = location.pathname;
  const link = (href, label) => h('a', { href, class: here.startsWith(href) ? 'current' : '', 'aria-current': here.startsWith(href) ? 'page' : false }, label);
  const notices = [...session.notices];
  replace(top,
    h('a', { href: '/workflows', class: 'brand', 'aria-label': 'n8n-work home' }, h('img', { src: '/assets/icon.svg', alt: '', width: 24, height: 24 }), 'n8n-work'),
    session.mode ? h('nav', { 'aria-label': 'Main' }, link('/workflows', 'Workflows'), link('/executions', 'Executions'), link('/credentials', 'Credentials'), link('/marketplace', 'Marketplace')) : null,
    h('span', { class: 'spacer' }),
    session.mode ? h('button', { type: 'button', class: 'ghost', onclick: async () => { await signOut(); navigate('/signin'); } }, 'Sign out') : null,
    notices.length ? h('p', { class: 'notice', role: 'note' }, `This server does not offer ${notices.join('; ')}.`) : null);
}

async function route() {
  if (stopPage) { try { stopPage(); } catch { /* the page is gone anyway */ } stopPage = null; }
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  if (known === null) known = await restore();
  let path = location.pathname;
  if (path === '/' || path === '') { history.replaceState(null, '', '/workflows'); path = '/workflows'; }
  let match = null;
  let found = ROUTES.find((r) => (match = path.match(r.pattern)));
  if (!found) {
    header();
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '/workflows' }, 'Go to workflows')));
    return;
  }
  if (!found.open && !session.mode) {
    history.replaceState(null, '', `/signin?next=${encodeURIComponent(path + location.search)}`);
    found = ROUTES[0];
  }
  document.title = `${found.title} · n8n-work`;
  header();
  main.setAttribute('aria-busy', 'true');
  try {
    const module = await import(`./pages/${found.page}.js`);
    if (signal.aborted) return;
    replace(main);
    main.className = `page-${found.page}`;
    stopPage = module.render(main, found.params ? found.params(match) : {}, { signal, navigate, refreshHeader: header }) || null;
  } catch (e) {
    replace(main, h('h1', {}, 'This page failed to load'), h('p', { class: 'error' }, String(e?.message || e)));
  } finally {
    main.removeAttribute('aria-busy');
  }
  // Move focus to the page's heading so keyboard and screen-reader users
  // start at the new content.
  const heading = main.querySelector('h1');
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

// Same-origin links route in the page.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || a.hasAttribute('download')) return;
  if (url.hash && url.pathname === location.pathname) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);
document.addEventListener('n8n-notices', header);
whenSignedOut(() => navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, { replace: true }));

route();
