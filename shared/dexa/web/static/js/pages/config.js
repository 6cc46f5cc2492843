// /ui/config/{section}: permission rules (with "test a tool call"), output approval policies, memory and rules,
// subagents / skills / plugins / marketplaces, schedules, the audit log and API keys. Sections whose endpoint the
// server lacks say so and keep working where they can (the rules editor still tests calls and exports JSON).

import { api, enc } from '../api.js';
import { badge, clear, field, fmtTime, h, pretty, toast, unavailable, fill } from '../dom.js';
import { config } from '../config.js';

const SECTIONS = [
  ['permissions', 'Permission rules'], ['policies', 'Output policies'], ['memory', 'Memory & rules'],
  ['extensions', 'Subagents, skills, plugins'], ['schedules', 'Schedules'], ['audit', 'Audit log'], ['keys', 'API keys'],
];

function lines(text) {
  return text.split('\n').map((s) => s.trim()).filter(Boolean);
}

function permissions(box) {
  const lists = { allow: h('textarea', { class: 'mono', rows: 8 }), ask: h('textarea', { class: 'mono', rows: 8 }), deny: h('textarea', { class: 'mono', rows: 8 }) };
  const status = h('div', { role: 'status' });
  const save = h('button', { type: 'button', class: 'btn primary' }, 'Save rules');
  const exportBtn = h('button', { type: 'button', class: 'btn' }, 'Show as settings.json');
  const exported = h('pre', { class: 'code', tabindex: '0', hidden: true });
  const rules = () => ({ allow: lines(lists.allow.value), ask: lines(lists.ask.value), deny: lines(lists.deny.value) });
  exportBtn.addEventListener('click', () => { exported.hidden = false; exported.textContent = JSON.stringify({ permissions: rules() }, null, 2); });
  save.addEventListener('click', async () => {
    try { await api.put('/settings/permissions', rules()); toast('Rules saved'); } catch (e) {
      if (e.unavailable) fill(status, unavailable('Saving rules', e), h('p', { class: 'small' }, 'Copy the JSON into .claude/settings.json instead.'));
      else toast(`Not saved: ${e.message}`, { bad: true });
    }
  });
  // GAP: no settings endpoint in the API yet (GET/PUT /settings/permissions).
  api.get('/settings/permissions').then((r) => {
    for (const k of Object.keys(lists)) lists[k].value = (r[k] || []).join('\n');
  }).catch((e) => fill(status, unavailable('Reading the org’s rules', e),
    h('p', { class: 'small' }, 'You can still draft rules here, test calls against the live engine below, and export them.')));

  const tool = h('input', { type: 'text', value: 'Bash', autocomplete: 'off' });
  const input = h('textarea', { class: 'mono', rows: 4, value: '{"command": "git push origin main"}' });
  const mode = h('select', null, config.modes.map((m) => h('option', { value: m }, m)));
  const cwd = h('input', { type: 'text', placeholder: 'server default' });
  const result = h('div', { 'aria-live': 'polite', dataset: { checkResult: '' } });
  const test = h('form', { class: 'panel stack', 'aria-labelledby': 'test-title' },
    h('h2', { id: 'test-title' }, 'Test a tool call'),
    h('div', { class: 'row' }, field('Tool', tool), field('Mode', mode), field('Working directory', cwd)),
    field('Input (JSON)', input), h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn primary' }, 'Check')), result);
  test.addEventListener('submit', async (e) => {
    e.preventDefault();
    let parsed;
    try { parsed = JSON.parse(input.value || '{}'); } catch { fill(result, h('p', { class: 'notice bad' }, 'Input is not valid JSON.')); return; }
    const body = { tool: tool.value.trim(), input: parsed, mode: mode.value };
    if (cwd.value.trim()) body.cwd = cwd.value.trim();
    try {
      const d = await api.post('/permissions/check', body);
      fill(result, h('p', null, 'Decision: ', h('span', { class: `decision ${d.behavior}` }, d.behavior)),
        h('dl', null, h('dt', null, 'Reason'), h('dd', null, d.reason || '—'), h('dt', null, 'Rule'), h('dd', null, d.rule || 'none'),
          h('dt', null, 'Source'), h('dd', null, d.source || '—'),
          d.suggestions.length ? [h('dt', null, 'To allow it always'), h('dd', null, d.suggestions.map((s) => h('code', null, `${s} `)))] : null));
    } catch (err) {
      fill(result, err.unavailable ? unavailable('The permission check', err) : h('p', { class: 'notice bad' }, err.message));
    }
  });
  box.append(h('section', { class: 'panel stack', 'aria-labelledby': 'rules-title' },
    h('h2', { id: 'rules-title' }, 'Permission rules'),
    h('p', { class: 'small muted' }, 'One rule per line, Claude Code syntax: ', h('code', null, 'Bash(npm run test:*)'), ', ', h('code', null, 'Edit(src/**)'), ', ', h('code', null, 'mcp__github')),
    status,
    h('div', { class: 'rules' }, field('Allow', lists.allow), field('Ask', lists.ask), field('Deny', lists.deny)),
    h('div', { class: 'row' }, save, exportBtn), exported), test);
}

function listing(box, title, path, render, empty) {
  const body = h('div', null, h('p', { class: 'small muted' }, 'Loading…'));
  box.append(h('section', { class: 'panel' }, h('h2', null, title), body));
  api.get(path).then((r) => {
    const rows = Array.isArray(r) ? r : r.data || [];
    fill(body, rows.length ? render(rows) : h('p', { class: 'empty' }, empty));
  }).catch((e) => fill(body, unavailable(title, e)));
}

function table(cols, rows) {
  return h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null, cols.map(([label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', null, rows.map((r) => h('tr', null, cols.map(([, get]) => h('td', null, get(r))))))));
}

function policies(box) {
  // GAP: GET /output-policies (per org / integration / output type: review | auto).
  listing(box, 'Output approval policies', '/output-policies', (rows) => table([
    ['Scope', (r) => r.scope || r.integration || 'org'], ['Output type', (r) => r.kind || '*'],
    ['Decision', (r) => badge(r.decision || r.mode || 'review', r.decision === 'auto' ? 'warn' : 'accent')], ['Set by', (r) => r.by || '']], rows),
  'No policies: every staged output waits for review.');
}

function memory(box) {
  // GAP: GET /memory -> {data: [{path, scope, content}]}, PUT /memory {path, content}.
  const body = h('div', null, h('p', { class: 'small muted' }, 'Loading…'));
  box.append(h('section', { class: 'panel stack' }, h('h2', null, 'Memory and rules (CLAUDE.md, .claude/rules)'), body));
  api.get('/memory').then((r) => {
    clear(body);
    for (const f of r.data || []) {
      const ta = h('textarea', { class: 'mono', rows: 10, value: f.content || '' });
      body.append(h('div', { class: 'stack' }, field(`${f.path} (${f.scope || 'project'})`, ta),
        h('div', null, h('button', { type: 'button', class: 'btn small', onclick: async () => {
          try { await api.put('/memory', { path: f.path, content: ta.value }); toast(`Saved ${f.path}`); } catch (e) { toast(`Not saved: ${e.message}`, { bad: true }); }
        } }, 'Save'))));
    }
    if (!(r.data || []).length) body.append(h('p', { class: 'empty' }, 'No memory files.'));
  }).catch((e) => fill(body, unavailable('The memory editor', e),
    h('p', { class: 'small' }, 'Edit CLAUDE.md and .claude/rules/*.md in the repository, or use ', h('code', null, 'dexa memory'), '.')));
}

function extensions(box) {
  // GAP: GET /agents, /skills, /plugins, /marketplaces.
  const named = (rows) => table([['Name', (r) => r.name || r.id], ['Source', (r) => r.source || r.scope || ''], ['Description', (r) => r.description || '']], rows);
  listing(box, 'Subagents', '/agents', named, 'No subagents defined.');
  listing(box, 'Skills', '/skills', named, 'No skills installed.');
  listing(box, 'Plugins', '/plugins', (rows) => table([['Plugin', (r) => r.name], ['Version', (r) => r.version || ''],
    ['Enabled', (r) => badge(r.enabled === false ? 'off' : 'on', r.enabled === false ? '' : 'ok')], ['Marketplace', (r) => r.marketplace || '']], rows), 'No plugins.');
  listing(box, 'Marketplaces', '/marketplaces', (rows) => table([['Name', (r) => r.name], ['Source', (r) => r.source || r.url || '']], rows), 'No marketplaces.');
}

function schedules(box) {
  // GAP: GET/POST /schedules.
  listing(box, 'Schedules', '/schedules', (rows) => table([['Name', (r) => r.name || r.id], ['When', (r) => h('code', null, r.cron || r.expression || '')],
    ['Task', (r) => r.prompt || ''], ['Next run', (r) => fmtTime(r.next_run_at)], ['Last run', (r) => (r.last_session_id ? h('a', { href: `/ui/sessions/${enc(r.last_session_id)}`, 'data-link': '' }, fmtTime(r.last_run_at)) : '')]], rows),
  'No schedules.');
}

function audit(box) {
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'btn small' }, 'Load more');
  const section = h('section', { class: 'panel stack' }, h('h2', null, 'Audit log'),
    h('div', { class: 'table-wrap' }, h('table', null, h('thead', null, h('tr', null, ['When', 'Who', 'Action', 'Target', 'Detail'].map((c) => h('th', { scope: 'col' }, c)))), tbody)), more);
  box.append(section);
  let after = '';
  const load = async () => {
    try {
      const r = await api.get(`/audit?limit=100${after ? `&after=${enc(after)}` : ''}`);
      for (const e of r.data) tbody.append(h('tr', null, h('td', null, fmtTime(e.ts)), h('td', null, e.actor), h('td', null, h('code', null, e.action)), h('td', null, e.target), h('td', null, h('code', { class: 'small' }, pretty(e.detail)))));
      after = r.next_after || '';
      more.hidden = !r.next_after;
      if (!r.data.length && !tbody.children.length) tbody.append(h('tr', null, h('td', { colspan: 5, class: 'empty' }, 'Nothing recorded yet.')));
    } catch (e) {
      section.replaceChildren(h('h2', null, 'Audit log'), e.status === 403 ? h('p', { class: 'notice' }, 'Only admins can read the audit log.') : unavailable('The audit log', e));
    }
  };
  more.addEventListener('click', load);
  load();
}

function keys(box) {
  const body = h('div');
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const user = h('select');
  const minted = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'row' }, field('Key name', name), field('For user', user), h('button', { class: 'btn primary', type: 'submit' }, 'Create key'));
  box.append(h('section', { class: 'panel stack' }, h('h2', null, 'API keys'), body, h('h3', null, 'New key'), form, minted));
  const load = async () => {
    try {
      const [ks, us] = await Promise.all([api.get('/keys'), api.get('/users')]);
      fill(user, us.data.map((u) => h('option', { value: u.id }, `${u.name} (${u.role})`)));
      fill(body, table([['Name', (k) => k.name], ['User', (k) => k.user_id], ['Prefix', (k) => h('code', null, k.prefix)], ['Scopes', (k) => k.scopes.join(', ')],
        ['Status', (k) => (k.revoked_at ? badge('revoked', 'bad') : h('button', { type: 'button', class: 'btn bad small', onclick: async () => {
          try { await api.del(`/keys/${enc(k.id)}`); toast('Key revoked'); load(); } catch (e) { toast(e.message, { bad: true }); }
        } }, 'Revoke'))]], ks.data));
    } catch (e) {
      fill(body, e.status === 403 ? h('p', { class: 'notice' }, 'Only admins can manage keys.') : unavailable('Key management', e));
      form.hidden = true;
    }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const k = await api.post('/keys', { user_id: user.value, name: name.value.trim() || 'web' });
      fill(minted, h('div', { class: 'notice info' }, h('strong', null, 'Copy this key now; it is not shown again: '), h('code', null, k.token)));
      load();
    } catch (err) { toast(`Not created: ${err.message}`, { bad: true }); }
  });
  load();
}

const RENDER = { permissions, policies, memory, extensions, schedules, audit, keys };

export function mount(root, params) {
  const section = RENDER[params.section] ? params.section : 'permissions';
  const box = h('div', { class: 'stack' });
  fill(root, h('div', { class: 'page-head' }, h('h1', null, 'Configuration')),
    h('div', { class: 'config' },
      h('nav', { class: 'subnav', 'aria-label': 'Configuration sections', 'data-nav-list': '' },
        SECTIONS.map(([id, label]) => h('a', { href: `/ui/config/${id}`, 'data-link': '', dataset: { navItem: '' }, 'aria-current': id === section ? 'page' : null }, label))),
      box));
  document.title = `${SECTIONS.find(([id]) => id === section)[1]} · Dexa`;
  RENDER[section](box);
  return {};
}
