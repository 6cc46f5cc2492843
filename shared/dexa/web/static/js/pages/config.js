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

// The workspace whose files a section reads (blank: the server's default); kept for the browser tab.
function workspace(onChange) {
  const input = h('input', { type: 'text', placeholder: 'server default', autocomplete: 'off', value: sessionStorage.getItem('dexa.cwd') || '' });
  const apply = h('button', { type: 'button', class: 'btn small' }, 'Load');
  apply.addEventListener('click', () => { sessionStorage.setItem('dexa.cwd', input.value.trim()); onChange(); });
  return { el: h('div', { class: 'row' }, field('Workspace', input), apply), get: () => input.value.trim() };
}

const withCwd = (path, cwd) => (cwd ? `${path}${path.includes('?') ? '&' : '?'}cwd=${enc(cwd)}` : path);

function problemList(problems) {
  return problems && problems.length ? h('ul', { class: 'small notice bad' }, problems.map((p) => h('li', null, `${p.file}${p.key ? ` · ${p.key}` : ''}: ${p.message}`))) : null;
}

function permissions(box) {
  const lists = { allow: h('textarea', { class: 'mono', rows: 8 }), ask: h('textarea', { class: 'mono', rows: 8 }), deny: h('textarea', { class: 'mono', rows: 8 }) };
  const status = h('div', { role: 'status' });
  const effective = h('div', { class: 'small' });
  const scope = h('select', null, h('option', { value: 'project' }, '.claude/settings.json (project, shared)'), h('option', { value: 'local' }, '.claude/settings.local.json (local)'));
  const save = h('button', { type: 'button', class: 'btn primary' }, 'Save rules');
  const exportBtn = h('button', { type: 'button', class: 'btn' }, 'Show as settings.json');
  const exported = h('pre', { class: 'code', tabindex: '0', hidden: true });
  const rules = () => ({ allow: lines(lists.allow.value), ask: lines(lists.ask.value), deny: lines(lists.deny.value) });
  let last = null;
  const ws = workspace(() => read());
  exportBtn.addEventListener('click', () => { exported.hidden = false; exported.textContent = JSON.stringify({ permissions: rules() }, null, 2); });
  const show = (r) => {
    last = r;
    const file = r.files.find((f) => f.scope === scope.value) || { permissions: {}, path: '', exists: false };
    for (const k of Object.keys(lists)) lists[k].value = (file.permissions[k] || []).join('\n');
    fill(status, h('p', { class: 'small muted' }, file.exists ? `Editing ${file.path}` : `${file.path} does not exist yet; saving creates it.`), problemList(r.problems));
    const e = r.effective;
    fill(effective, h('h3', null, 'What a session here gets (all layers merged)'),
      h('dl', null, ['allow', 'ask', 'deny'].map((k) => [h('dt', null, k), h('dd', null, e[k].length ? e[k].map((x) => h('code', null, `${x} `)) : '—')]),
        h('dt', null, 'Default mode'), h('dd', null, e.default_mode || 'default')));
  };
  scope.addEventListener('change', () => { if (last) show(last); });
  save.addEventListener('click', async () => {
    try {
      const body = { scope: scope.value, permissions: rules() };
      if (ws.get()) body.cwd = ws.get();
      show(await api.put('/settings/permissions', body));
      toast('Rules saved');
    } catch (e) {
      if (e.unavailable) fill(status, unavailable('Saving rules', e), h('p', { class: 'small' }, 'Copy the JSON into .claude/settings.json instead.'));
      else if (e.status === 403) toast('Only admins can change the rules.', { bad: true });
      else toast(`Not saved: ${e.message}`, { bad: true });
    }
  });
  function read() {
    api.get(withCwd('/settings/permissions', ws.get())).then(show).catch((e) => fill(status, unavailable('Reading the org’s rules', e),
      h('p', { class: 'small' }, 'You can still draft rules here, test calls against the live engine below, and export them.')));
  }
  read();

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
    h('div', { class: 'row' }, ws.el, field('Settings file', scope)),
    status,
    h('div', { class: 'rules' }, field('Allow', lists.allow), field('Ask', lists.ask), field('Deny', lists.deny)),
    h('div', { class: 'row' }, save, exportBtn), exported, effective), test);
}

function listing(box, title, path, render, empty) {
  path = withCwd(path, sessionStorage.getItem('dexa.cwd') || '');
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

const DECISIONS = ['stage', 'auto', 'direct', 'deny'];

// "name = decision" lines <-> {name: decision}
const pairs = (obj) => Object.entries(obj || {}).map(([k, v]) => `${k} = ${v}`).join('\n');
function unpairs(text, what) {
  const out = {};
  for (const line of lines(text)) {
    const m = line.match(/^(.+?)\s*=\s*(\w+)$/);
    if (!m) throw new Error(`${what}: “${line}” is not “name = decision”`);
    out[m[1]] = m[2];
  }
  return out;
}

function policies(box) {
  const body = h('div', null, h('p', { class: 'small muted' }, 'Loading…'));
  box.append(h('section', { class: 'panel stack' }, h('h2', null, 'Output approval policies'),
    h('p', { class: 'small muted' }, 'Per MCP call: stage (wait for review), auto (apply, still audited), direct, or deny. The most specific level wins: tool, then output type, then integration, then the default.'),
    body));
  api.get('/output-policies').then((p) => {
    const dflt = h('select', null, h('option', { value: '' }, 'built-in defaults'), DECISIONS.map((d) => h('option', { value: d, selected: p.default === d }, d)));
    const types = h('textarea', { class: 'mono', rows: 5, value: pairs(p.output_types), placeholder: 'email = stage' });
    const integ = h('textarea', { class: 'mono', rows: 5, value: pairs(p.integrations), placeholder: 'crm = auto' });
    const tools = h('textarea', { class: 'mono', rows: 5, value: pairs(p.tools), placeholder: 'slack/post_message = deny' });
    const auto = h('input', { type: 'checkbox', checked: !!p.allow_session_auto });
    const save = h('button', { type: 'button', class: 'btn primary' }, 'Save policy');
    save.addEventListener('click', async () => {
      let doc;
      try {
        doc = { default: dflt.value || null, output_types: unpairs(types.value, 'Output types'), integrations: unpairs(integ.value, 'Integrations'),
          tools: unpairs(tools.value, 'Tools'), allow_session_auto: auto.checked };
      } catch (e) { toast(e.message, { bad: true }); return; }
      try { await api.put('/output-policies', doc); toast('Policy saved'); } catch (e) {
        toast(e.status === 403 ? 'Only admins can change the policy.' : `Not saved: ${e.message}`, { bad: true });
      }
    });
    fill(body, h('div', { class: 'row' }, field('Default', dflt)),
      h('div', { class: 'rules' }, field('Output types', types), field('Integrations', integ), field('Tools (server/tool)', tools)),
      h('label', { class: 'row' }, auto, ' Sessions may choose auto-apply'), h('div', { class: 'row' }, save));
  }).catch((e) => fill(body, unavailable('Output approval policies', e)));
}

function memory(box) {
  const body = h('div', null, h('p', { class: 'small muted' }, 'Loading…'));
  const ws = workspace(() => load());
  const newPath = h('input', { type: 'text', autocomplete: 'off', placeholder: 'CLAUDE.md or .claude/rules/style.md' });
  const newText = h('textarea', { class: 'mono', rows: 6 });
  const create = h('button', { type: 'button', class: 'btn small' }, 'Create');
  const saveFile = async (path, content) => {
    const payload = { path, content };
    if (ws.get()) payload.cwd = ws.get();
    try { const r = await api.put('/memory', payload); toast(`Saved ${r.path}`); return true; } catch (e) {
      toast(e.status === 403 ? 'Only admins can edit memory files.' : `Not saved: ${e.message}`, { bad: true });
      return false;
    }
  };
  create.addEventListener('click', async () => { if (newPath.value.trim() && await saveFile(newPath.value.trim(), newText.value)) load(); });
  const creator = h('details', null, h('summary', null, 'New memory file'), h('div', { class: 'stack' }, field('Path', newPath), field('Content', newText), h('div', null, create)));
  box.append(h('section', { class: 'panel stack' }, h('h2', null, 'Memory and rules (CLAUDE.md, .claude/rules)'), ws.el, body, creator));
  function load() {
    api.get(withCwd('/memory', ws.get())).then((r) => {
      clear(body);
      for (const f of r.files || []) {
        const ta = h('textarea', { class: 'mono', rows: 10, value: f.content || '', readonly: !f.editable });
        body.append(h('div', { class: 'stack' }, field(`${f.path} (${f.scope}${f.imported_from ? `, imported from ${f.imported_from}` : ''})`, ta),
          f.editable ? h('div', null, h('button', { type: 'button', class: 'btn small', onclick: () => saveFile(f.path, ta.value) }, 'Save'))
            : h('p', { class: 'small muted' }, 'Outside the workspace and ~/.claude: read-only here.')));
      }
      if (!(r.files || []).length) body.append(h('p', { class: 'empty' }, 'No memory files.'));
      const probs = problemList(r.problems);
      if (probs) body.append(probs);
    }).catch((e) => fill(body, unavailable('The memory editor', e),
      h('p', { class: 'small' }, 'Edit CLAUDE.md and .claude/rules/*.md in the repository, or use ', h('code', null, 'dexa memory'), '.')));
  }
  load();
}

function extensions(box) {
  const named = (rows) => table([['Name', (r) => r.name || r.id], ['Source', (r) => r.source || r.scope || ''], ['Description', (r) => r.description || '']], rows);
  listing(box, 'Subagents', '/agents', named, 'No subagents defined.');
  listing(box, 'Skills', '/skills', (rows) => table([['Name', (r) => h('code', null, `/${r.name}`)], ['Kind', (r) => r.kind], ['Source', (r) => r.source], ['Description', (r) => r.description || '']], rows), 'No skills installed.');
  listing(box, 'Plugins', '/plugins', (rows) => table([['Plugin', (r) => r.name], ['Version', (r) => r.version || ''], ['Id', (r) => h('code', null, r.ref)],
    ['Runs code', (r) => (r.runs_code.length ? r.runs_code.join(', ') : 'nothing')]], rows), 'No plugins enabled.');
  listing(box, 'Marketplaces', '/marketplaces', (rows) => table([['Name', (r) => r.name],
    ['Source', (r) => h('code', null, r.source.repo || r.source.url || r.source.path || JSON.stringify(r.source))],
    ['Status', (r) => badge(r.known ? 'added' : 'suggested', r.known ? 'ok' : '')]], rows), 'No marketplaces.');
}

function schedules(box) {
  const body = h('div', null, h('p', { class: 'small muted' }, 'Loading…'));
  const cron = h('input', { type: 'text', autocomplete: 'off', placeholder: '0 9 * * 1-5', class: 'mono' });
  const prompt = h('textarea', { rows: 3 });
  const model = h('input', { type: 'text', autocomplete: 'off', placeholder: 'default' });
  const enabled = h('input', { type: 'checkbox', checked: true });
  const form = h('form', { class: 'stack', 'aria-labelledby': 'sched-new' }, h('h3', { id: 'sched-new' }, 'New schedule'),
    h('div', { class: 'row' }, field('When (cron: minute hour day month weekday)', cron), field('Model', model)), field('Prompt', prompt),
    h('label', { class: 'row' }, enabled, ' Enabled'), h('div', null, h('button', { type: 'submit', class: 'btn primary' }, 'Add schedule')));
  box.append(h('section', { class: 'panel stack' }, h('h2', null, 'Schedules'), body, form));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const doc = { cron: cron.value.trim(), prompt: prompt.value.trim(), enabled: enabled.checked };
    if (model.value.trim()) doc.model = model.value.trim();
    try { await api.post('/schedules', doc); toast('Schedule added'); prompt.value = ''; load(); } catch (err) {
      toast(err.status === 403 ? 'Only admins can add schedules.' : `Not added: ${err.message}`, { bad: true });
    }
  });
  function load() {
    api.get('/schedules').then((r) => {
      fill(body, r.data.length ? table([['When', (x) => h('code', null, x.cron)], ['Task', (x) => x.prompt], ['Model', (x) => x.model || 'default'],
        ['State', (x) => badge(x.enabled ? 'enabled' : 'paused', x.enabled ? 'ok' : '')], ['Added', (x) => `${fmtTime(x.created_at)} by ${x.created_by}`],
        ['', (x) => h('button', { type: 'button', class: 'btn bad small', 'aria-label': `Delete schedule ${x.cron}`, onclick: async () => {
          try { await api.del(`/schedules/${enc(x.id)}`); toast('Schedule deleted'); load(); } catch (err) { toast(err.message, { bad: true }); }
        } }, 'Delete')]], r.data) : h('p', { class: 'empty' }, 'No schedules.'));
    }).catch((e) => { fill(body, unavailable('Schedules', e)); form.hidden = true; });
  }
  load();
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
