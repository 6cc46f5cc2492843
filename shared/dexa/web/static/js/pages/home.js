// Tasks: describe a task in plain language, pick sources (or let the agent choose), mode and model; recent sessions.

import { api, enc } from '../api.js';
import { badge, clear, field, fmtAgo, fmtCost, h, nextId, statusKind, toast, unavailable, fill } from '../dom.js';
import { config } from '../config.js';
import { navigate } from '../router.js';

export function mount(root) {
  const task = h('textarea', { class: 'task-input', rows: 4, required: true, dataset: { taskBox: '' }, 'aria-keyshortcuts': '/',
    placeholder: 'e.g. “Fix the failing test in payments and open a PR”, or “Draft follow-up emails for yesterday’s demo calls”' });
  const mode = h('select', null, config.modes.map((m) => h('option', { value: m }, m)));
  const listId = nextId('models');
  const model = h('input', { type: 'text', list: listId, placeholder: 'server default', autocomplete: 'off' });
  const cwd = h('input', { type: 'text', placeholder: 'server default', autocomplete: 'off' });
  const budget = h('input', { type: 'text', inputmode: 'decimal', placeholder: 'none' });
  const maxTurns = h('input', { type: 'text', inputmode: 'numeric', placeholder: 'none' });
  const agentChooses = h('input', { type: 'radio', name: 'src-mode', value: 'agent', checked: true, id: nextId('r') });
  const pickSome = h('input', { type: 'radio', name: 'src-mode', value: 'pick', id: nextId('r') });
  const sourceBox = h('div', { class: 'sources', id: nextId('srcs') }, h('span', { class: 'small muted' }, 'Loading integrations…'));
  const submit = h('button', { class: 'btn primary', type: 'submit' }, 'Start task');
  const sync = () => sourceBox.querySelectorAll('input').forEach((c) => { c.disabled = !pickSome.checked; });
  agentChooses.addEventListener('change', sync);
  pickSome.addEventListener('change', sync);

  const form = h('form', { class: 'panel stack', 'aria-labelledby': 'new-task-title' },
    h('h1', { id: 'new-task-title' }, 'New task'),
    field('What should Dexa do?', task, 'Press / anywhere to come back here. Ctrl+Enter starts the task.'),
    h('fieldset', null, h('legend', null, 'Sources'),
      h('div', { class: 'row' },
        h('label', { for: agentChooses.id, class: 'row' }, agentChooses, ' Let the agent choose'),
        h('label', { for: pickSome.id, class: 'row' }, pickSome, ' Only these:')),
      sourceBox),
    h('div', { class: 'row' },
      field('Permission mode', mode),
      field('Model', model),
      h('datalist', { id: listId }, config.models.map((m) => h('option', { value: m })))),
    h('details', null, h('summary', null, 'More options'),
      h('div', { class: 'row' }, field('Working directory', cwd), field('Budget (USD)', budget), field('Max turns', maxTurns))),
    h('div', { class: 'row' }, submit));

  task.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const prompt = task.value.trim();
    if (!prompt) { task.focus(); return; }
    const body = { prompt, permission_mode: mode.value };
    if (model.value.trim()) body.model = model.value.trim();
    if (cwd.value.trim()) body.cwd = cwd.value.trim();
    if (budget.value.trim()) body.max_budget_usd = Number(budget.value);
    if (maxTurns.value.trim()) body.max_turns = Number(maxTurns.value);
    if (pickSome.checked) body.sources = [...sourceBox.querySelectorAll('input:checked')].map((c) => c.value);
    submit.disabled = true;
    try {
      const s = await api.post('/sessions', body);
      navigate(`/ui/sessions/${enc(s.id)}`);
    } catch (err) {
      toast(`Could not start: ${err.message}`, { bad: true });
      submit.disabled = false;
    }
  });

  const sessions = h('ul', { class: 'list', 'data-nav-list': '', 'aria-label': 'Recent sessions' });
  const recent = h('section', { class: 'panel', 'aria-labelledby': 'recent-title' },
    h('div', { class: 'page-head' }, h('h2', { id: 'recent-title' }, 'Recent sessions')), sessions);
  fill(root, h('div', { class: 'home' }, form, recent));
  document.title = 'Tasks · Dexa';

  loadSources(sourceBox, sync);
  const refresh = () => loadSessions(sessions);
  refresh();
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, 5000);
  return { unmount: () => clearInterval(timer) };
}

async function loadSources(box, sync) {
  try {
    const res = await api.get('/integrations');
    clear(box);
    if (!res.data.length) {
      box.append(h('span', { class: 'small muted' }, 'No integrations connected. ', h('a', { href: '/ui/integrations', 'data-link': '' }, 'Connect one')));
    }
    for (const i of res.data) {
      const id = nextId('src');
      box.append(h('label', { for: id }, h('input', { type: 'checkbox', id, value: i.id }), `${i.name} `, h('span', { class: 'muted small' }, i.kind)));
    }
  } catch (e) {
    fill(box, unavailable('The integrations list', e));
  }
  sync();
}

async function loadSessions(list) {
  let res;
  try {
    res = await api.get('/sessions?limit=50');
  } catch (e) {
    fill(list, h('li', null, unavailable('The sessions list', e)));
    return;
  }
  const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.sessionId : null;
  clear(list);
  if (!res.data.length) list.append(h('li', { class: 'empty' }, 'No sessions yet: describe a task to start one.'));
  for (const s of res.data) {
    const a = h('a', { class: 'session-link', href: `/ui/sessions/${enc(s.id)}`, 'data-link': '', dataset: { navItem: '', sessionId: s.id } },
      h('span', { class: 'title' }, s.title || s.id),
      badge(s.turn != null && s.status === 'idle' ? 'running' : s.status, statusKind(s.status)),
      h('span', { class: 'meta' }, `${fmtAgo(s.updated_at)} · ${s.permission_mode} · ${fmtCost(s.cost_usd)} · ${s.model}`));
    list.append(h('li', null, a));
    if (focused === s.id) a.focus();
  }
}
