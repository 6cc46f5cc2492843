// /ui/login: paste an API key; the server checks it and keeps it as an HttpOnly cookie (scripts never hold it).

import { api } from '../api.js';
import { clear, field, h, toast, fill } from '../dom.js';
import { config } from '../config.js';
import { navigate } from '../router.js';

export function mount(root, _params, query) {
  const next = query.get('next') || '/';
  const safeNext = next.startsWith('/') && !next.startsWith('//') ? next : '/';
  const key = h('input', { type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const err = h('div', { role: 'alert' });
  const form = h('form', { class: 'panel stack login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to Dexa'),
    h('p', { class: 'muted' }, 'Paste an API key. ', config.local
      ? ['On this machine, ', h('code', null, 'dexa serve'), ' signs the browser in by itself; its key is in ', h('code', null, '$DEXA_HOME/token'), '.']
      : 'Ask an admin for a key with the reviewer or member role.'),
    field('API key', key), err,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn primary' }, 'Sign in'),
      h('button', { type: 'button', class: 'btn', onclick: async () => { await api.post('/ui/logout'); toast('Signed out'); } }, 'Sign out')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(err);
    try {
      await api.post('/ui/login', { token: key.value.trim() });
      navigate(safeNext, { replace: true });
    } catch (ex) {
      err.append(h('p', { class: 'notice bad' }, ex.status === 401 ? 'That key is missing, revoked or unknown.' : ex.message));
    }
  });
  fill(root, form);
  document.title = 'Sign in · Dexa';
  key.focus();
  return {};
}
