// /ui/integrations: connected sources with health, last sync and last check, which sessions used each, connect
// (OAuth redirect where the provider uses it, and sign in again when disconnected) and disconnect. Where the server
// does OAuth, each card also shows whose grants exist (the org's shared one and the viewer's own), the policy that
// picks between them, and lets the viewer connect or disconnect their own account.

import { api, enc } from '../api.js';
import { badge, clear, field, fmtAgo, h, statusKind, toast, unavailable, fill } from '../dom.js';
import { config } from '../config.js';

function usedBy(integration, sessions) {
  return sessions.filter((s) => s.config && s.config.sources.includes(integration.id));
}

async function card(i, sessions, reload) {
  const statusEl = h('div', { class: 'small', role: 'status' }, 'Checking health…');
  const used = usedBy(i, sessions);
  const el = h('article', { class: 'panel', tabindex: '-1', dataset: { navItem: '', integrationId: i.id }, 'aria-labelledby': `i-${i.id}` },
    h('div', { class: 'output-head' }, h('h2', { id: `i-${i.id}` }, i.name), badge(i.kind, 'accent')),
    statusEl,
    h('p', { class: 'small muted' }, `Added ${fmtAgo(i.created_at)} by ${i.created_by}`),
    Object.keys(i.config || {}).length ? h('details', null, h('summary', null, 'Settings'), h('pre', { class: 'code', tabindex: '0' }, JSON.stringify(i.config, null, 2))) : null,
    h('h3', null, `Used by ${used.length} session(s)`),
    used.length ? h('ul', { class: 'small' }, used.slice(0, 8).map((s) => h('li', null, h('a', { href: `/ui/sessions/${enc(s.id)}`, 'data-link': '' }, s.title || s.id))))
      : h('p', { class: 'small muted' }, 'No session was limited to this source yet (sessions that let the agent choose are not listed).'),
    h('div', { class: 'row' }, h('button', {
      type: 'button', class: 'btn bad small', onclick: async () => {
        if (!window.confirm(`Disconnect ${i.name}? Sessions lose access to it.`)) return;
        try { await api.del(`/integrations/${enc(i.id)}`); toast(`Disconnected ${i.name}`); reload(); } catch (e) { toast(`Not disconnected: ${e.message}`, { bad: true }); }
      },
    }, 'Disconnect')));
  grantsPanel(i, el);
  api.get(`/integrations/${enc(i.id)}/status`).then((st) => {
    const synced = st.last_sync ? `last sync ${fmtAgo(st.last_sync)}` : 'never synced';
    const signIn = st.state === 'disconnected' || st.state === 'error' ? h('button', {
      type: 'button', class: 'btn small', onclick: async () => {
        const p = (config.providers || []).find((x) => x.id === (i.config || {}).provider || x.kind === i.kind);
        try { await startOAuth(i, p); } catch (e) { toast(`Sign-in not started: ${e.message}`, { bad: true }); }
      },
    }, 'Sign in') : null;
    fill(statusEl, badge(st.state, statusKind(st.state)), ` ${st.detail || ''} · ${synced} · last checked ${fmtAgo(st.checked_at)} `, signIn);
  }).catch((e) => fill(statusEl, unavailable('Health', e)));
  return el;
}

const POLICIES = {
  user_first: 'Your own account, else the organisation’s',
  org_only: 'Only the organisation’s account',
  user_only: 'Only each person’s own account',
};

function ownerLabel(owner) { return owner === 'org' ? 'Organisation' : 'You'; }

// GET /integrations/{id}/grants answers only where the server does OAuth (501 elsewhere, 404 for a source without
// sign-in): then the card simply has no grants panel, as before.
function grantsPanel(i, card) {
  const slot = h('section', { class: 'stack', 'aria-labelledby': `g-${i.id}`, dataset: { grants: '' } });
  slot.hidden = true;
  card.append(slot);
  const show = (g) => {
    const mine = g.data.find((x) => x.owner !== 'org');
    const used = g.grant_owner ? `Your sessions use ${g.grant_owner === 'org' ? 'the organisation’s account' : 'your own account'}.`
      : 'Your sessions have no account to use yet.';
    const policy = h('select', { id: `gp-${i.id}` }, Object.entries(POLICIES).map(([v, label]) =>
      h('option', { value: v }, label)));
    policy.value = g.policy;
    policy.addEventListener('change', async () => {
      try { show(await api.put(`/integrations/${enc(i.id)}/grants`, { policy: policy.value })); toast('Grants policy saved'); } catch (e) {
        policy.value = g.policy;
        toast(`Policy not changed: ${e.message}`, { bad: true });
      }
    });
    fill(slot,
      h('h3', { id: `g-${i.id}` }, 'Accounts'),
      h('p', { class: 'small', role: 'status' }, used),
      g.data.length ? h('ul', { class: 'small' }, g.data.map((x) => h('li', { dataset: { grantOwner: x.owner } },
        `${ownerLabel(x.owner)}: `, badge(x.status, statusKind(x.status)),
        x.scope ? ` ${x.scope}` : '', x.last_error ? ` · ${x.last_error}` : '')))
        : h('p', { class: 'small muted' }, 'No account is connected.'),
      field('Whose account sessions use (admins)', policy),
      h('div', { class: 'row' },
        h('button', {
          type: 'button', class: 'btn small', onclick: async () => {
            try { await startOAuth(i, null, 'me'); } catch (e) { toast(`Sign-in not started: ${e.message}`, { bad: true }); }
          },
        }, mine ? 'Reconnect my own account' : 'Connect my own account'),
        mine ? h('button', {
          type: 'button', class: 'btn bad small', onclick: async () => {
            if (!window.confirm(`Disconnect your own ${i.name} account? Your sessions fall back to the policy.`)) return;
            try { await api.del(`/integrations/${enc(i.id)}/grants/me`); toast('Disconnected your account'); load(); } catch (e) {
              toast(`Not disconnected: ${e.message}`, { bad: true });
            }
          },
        }, 'Disconnect mine') : null));
    slot.hidden = false;
  };
  const load = () => api.get(`/integrations/${enc(i.id)}/grants`).then(show).catch(() => { slot.hidden = true; });
  load();
}

function connectForm(reload) {
  const providers = config.providers || [];
  const provider = h('select', null, h('option', { value: '' }, 'Choose a provider…'),
    providers.map((p) => h('option', { value: p.id }, `${p.name} (${p.kind})`)), h('option', { value: '__custom' }, 'Other (custom kind)'));
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const kind = h('input', { type: 'text', autocomplete: 'off', pattern: '[a-z][a-z0-9_-]{0,39}' });
  const keys = h('div', { class: 'row' });
  const about = h('p', { class: 'small muted' });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Connect');
  const kindField = field('Kind', kind, 'calendar, email, crm, chat, tickets, mcp, git…');
  kindField.hidden = true;
  provider.addEventListener('change', () => {
    const p = providers.find((x) => x.id === provider.value);
    kindField.hidden = provider.value !== '__custom';
    clear(keys);
    clear(about);
    if (!p) return;
    if (!name.value) name.value = p.name;
    about.append(p.description, p.auth === 'oauth' ? ' You will sign in with the provider next.' : '', ' CLI: ', h('code', null, p.hint));
    for (const k of p.config_keys) keys.append(field(k, h('input', { type: 'text', dataset: { configKey: k }, autocomplete: 'off' })));
    submit.textContent = p.auth === 'oauth' ? `Connect with ${p.name}` : 'Connect';
  });
  const form = h('form', { class: 'panel stack', 'aria-labelledby': 'connect-title' },
    h('h2', { id: 'connect-title' }, 'Connect a source'),
    h('div', { class: 'row' }, field('Provider', provider), kindField, field('Name', name)), keys, about, h('div', { class: 'row' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = providers.find((x) => x.id === provider.value);
    const cfg = {};
    keys.querySelectorAll('[data-config-key]').forEach((inp) => { if (inp.value) cfg[inp.dataset.configKey] = inp.value; });
    if (p) cfg.provider = p.id;
    const body = { kind: p ? p.kind : kind.value.trim(), name: name.value.trim() || (p ? p.name : kind.value), config: cfg };
    if (!body.kind) { toast('Choose a provider or type a kind', { bad: true }); return; }
    submit.disabled = true;
    try {
      const created = await api.post('/integrations', body);
      if (p && p.auth === 'oauth') await startOAuth(created, p);
      else toast(`Connected ${created.name}`);
      reload();
    } catch (err) {
      toast(`Not connected: ${err.message}`, { bad: true });
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// POST /integrations/{id}/oauth/start answers the provider's authorize URL; the provider sends the browser back to
// /oauth/callback, which returns it here with ?connected=<id> (and &error= when sign-in failed).
// grantFor 'me' connects the caller's own account; without it the server picks (the org's for an admin).
async function startOAuth(created, p, grantFor) {
  try {
    const q = grantFor ? `?for=${enc(grantFor)}` : '';
    const res = await api.post(`/integrations/${enc(created.id)}/oauth/start${q}`);
    if (res && res.authorize_url) { location.assign(res.authorize_url); return; }
  } catch (e) {
    if (!e.unavailable) throw e;
  }
  const hint = p && p.hint ? `: run “${p.hint}”` : '';
  toast(`${created.name} is recorded. Sign-in from the browser is not available on this server${hint}.`, { ms: 9000 });
}

export function mount(root, _params, query) {
  const grid = h('div', { class: 'grid-cards', 'data-nav-list': '', 'aria-label': 'Connected sources' });
  const reload = () => load();
  fill(root, h('div', { class: 'page-head' }, h('h1', null, 'Integrations')), connectForm(reload),
    h('h2', { class: 'sr-only' }, 'Connected'), h('div', { class: 'panel' }, grid));
  document.title = 'Integrations · Dexa';
  if (query.get('connected')) toast(query.get('error') ? `Sign-in failed: ${query.get('error')}` : 'Signed in: the source is connected.');

  async function load() {
    let items;
    let sessions = [];
    try {
      items = (await api.get('/integrations')).data;
    } catch (e) {
      fill(grid, unavailable('Integrations', e));
      return;
    }
    try { sessions = (await api.get('/sessions?limit=500')).data; } catch { /* usage is optional */ }
    clear(grid);
    if (!items.length) grid.append(h('p', { class: 'empty' }, 'No sources connected yet.'));
    for (const i of items) grid.append(await card(i, sessions, reload));
  }
  load();
  return {};
}
