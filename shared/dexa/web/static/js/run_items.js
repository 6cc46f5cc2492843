// Renderers for the run view's timeline items: user and agent text, tool cards (input, output, diff, command
// log, progress, nested subagents) with inline approvals, staged outputs, checkpoints and notices.

import { api, enc } from './api.js';
import { badge, fmtCost, fmtMs, h, pretty, statusKind, toast } from './dom.js';
import { renderDiff } from './diff.js';
import { renderMarkdown } from './markdown.js';
import { brief } from './brief.js';
import { fmtElapsed } from './elapsed.js';

export { brief };

// ---- approvals ---------------------------------------------------------------------------------------------

const SOURCE_NAMES = {
  policy: 'Org policy', mode: 'Permission mode', runtime: 'Runtime', hook: 'A PreToolUse hook',
  userSettings: 'Your user settings', projectSettings: 'Project settings (.claude/settings.json)',
  localSettings: 'Local project settings (.claude/settings.local.json)', session: 'This session', default: 'Default rules',
};

export async function decide(sessionId, approval, decision, message = '') {
  const body = { approval_id: approval.id, decision };
  if (message) body.message = message;
  try {
    await api.post(`/sessions/${enc(sessionId)}/approve`, body);
    approval.local = decision;
    toast(decision === 'deny' ? `Denied ${approval.tool}` : `Allowed ${approval.tool}${decision === 'always' ? ' for this session' : ''}`);
    return true;
  } catch (e) {
    toast(e.code === 'already_decided' ? 'Someone already answered this request.' : `Could not answer: ${e.message}`, { bad: e.code !== 'already_decided' });
    return false;
  }
}

export function renderApproval(sessionId, approval, mode) {
  const pending = approval.status === 'pending' && !approval.local;
  const titleId = `ap-${approval.id}`;
  const box = h('div', {
    class: `approval${pending ? ' pending' : ' decided'}`, role: 'group', 'aria-labelledby': titleId,
    dataset: { approvalId: approval.id },
  });
  const what = brief(approval.tool, approval.input);
  box.append(h('h3', { id: titleId },
    approval.subagent ? `Subagent${approval.agentType ? ` (${approval.agentType})` : ''} wants to use ${approval.tool}` : `Allow ${approval.tool}?`,
    what ? h('code', { class: 'small' }, ` ${what}`) : null));
  if (approval.reason) box.append(h('p', { class: 'small', style: null }, approval.reason));
  const why = h('details', null, h('summary', null, 'Why am I asked?'),
    h('dl', null,
      h('dt', null, 'Reason'), h('dd', null, approval.reason || 'No rule allows this call, so the permission mode asks.'),
      h('dt', null, 'Rule'), h('dd', null, approval.rule ? h('code', null, approval.rule) : 'none matched (the mode decides)'),
      h('dt', null, 'Source'), h('dd', null, approval.source ? (SOURCE_NAMES[approval.source] || approval.source) : 'not reported'),
      h('dt', null, 'Mode'), h('dd', null, mode || 'default'),
      approval.suggestions && approval.suggestions.length ? [h('dt', null, '“Always” adds'),
        h('dd', null, approval.suggestions.map((s) => h('code', null, `${s} `)))] : null),
    h('details', null, h('summary', null, 'Full input'), h('pre', { class: 'code', tabindex: '0' }, pretty(approval.input))));
  box.append(why);
  if (!pending) {
    const label = approval.local ? { once: 'Allowed once', always: 'Always allowed', deny: 'Denied' }[approval.local]
      : approval.status === 'denied' ? 'Denied' : approval.scope === 'always' ? 'Always allowed' : 'Allowed';
    box.append(h('p', { class: 'small' }, badge(label, approval.status === 'denied' || approval.local === 'deny' ? 'bad' : 'ok'),
      approval.by ? ` by ${approval.by}` : ''));
    return box;
  }
  const btns = [];
  const act = async (decision) => {
    btns.forEach((b) => { b.disabled = true; });
    const ok = await decide(sessionId, approval, decision);
    if (!ok) btns.forEach((b) => { b.disabled = false; });
    else box.dispatchEvent(new CustomEvent('dexa:decided', { bubbles: true }));
  };
  const opts = approval.options || ['once', 'always', 'deny'];
  if (opts.includes('once')) btns.push(h('button', { type: 'button', class: 'btn ok solid', dataset: { decision: 'once' }, 'aria-keyshortcuts': 'a', onclick: () => act('once') }, 'Allow once'));
  if (opts.includes('always')) btns.push(h('button', { type: 'button', class: 'btn ok', dataset: { decision: 'always' }, 'aria-keyshortcuts': 'Shift+A', onclick: () => act('always') }, 'Always allow'));
  if (opts.includes('deny')) btns.push(h('button', { type: 'button', class: 'btn bad', dataset: { decision: 'deny' }, 'aria-keyshortcuts': 'd', onclick: () => act('deny') }, 'Deny'));
  box.append(h('div', { class: 'actions' }, btns));
  return box;
}

function diffStat(text) {
  let add = 0;
  let del = 0;
  for (const line of String(text).split('\n')) {
    if (line.startsWith('+') && !line.startsWith('+++')) add += 1;
    else if (line.startsWith('-') && !line.startsWith('---')) del += 1;
  }
  return { add, del };
}

// ---- tool cards --------------------------------------------------------------------------------------------

function commandLog(input, it) {
  const d = it.data || {};
  const log = h('div', { class: 'cmdlog', role: 'log', 'aria-label': 'Command log', tabindex: '0' });
  log.append(h('div', { class: 'prompt' }, `$ ${input.command || ''}`));
  if (d.stdout != null || d.stderr != null) {
    if (d.stdout) log.append(h('pre', null, d.stdout));
    if (d.stderr) log.append(h('pre', { class: 'stderr' }, d.stderr));
    if (d.exit_code != null) {
      log.append(h('div', { class: 'exit' }, `exit ${d.exit_code}${d.duration_ms != null ? ` · ${fmtMs(d.duration_ms)}` : ''}` +
        `${d.interrupted ? ' · timed out' : ''}${d.cwd ? ` · ${d.cwd}` : ''}`));
    }
  } else if (it.content) log.append(h('pre', null, it.content));
  return log;
}

function toolBody(sessionId, it, ctx) {
  const body = h('div', { class: 'body' });
  const input = it.input || {};
  const isCommand = typeof input.command === 'string';
  if (!isCommand) body.append(h('div', null, h('div', { class: 'label' }, 'Input'), h('pre', { class: 'code', tabindex: '0' }, pretty(input))));
  if (it.progress.length) {
    const last = it.progress[it.progress.length - 1];
    body.append(h('div', { class: 'small muted', role: 'status' },
      `${last.message || 'working'}${last.total ? ` (${last.progress}/${last.total})` : ''}`));
  }
  if (isCommand && (it.status !== 'requested' && it.status !== 'waiting')) body.append(commandLog(input, it));
  else if (isCommand) body.append(h('pre', { class: 'code', tabindex: '0' }, `$ ${input.command}`));
  if (it.data && it.data.diff) {
    body.append(h('div', null, h('div', { class: 'label' }, 'Changes'), renderDiff(it.data.diff, { path: it.data.filePath || input.file_path })));
  }
  if (it.status === 'aborted' || it.status === 'interrupted') {
    body.append(h('p', { class: 'small', role: 'status' }, it.status === 'aborted'
      ? 'Aborted: the turn was stopped while this call ran; it has no result.'
      : 'Interrupted: the turn ended before this call finished.'));
  }
  if (!isCommand && (it.status === 'done' || it.status === 'failed' || it.status === 'denied')) {
    body.append(h('div', null, h('div', { class: 'label' }, it.isError ? 'Error' : 'Output'),
      h('pre', { class: 'code', tabindex: '0' }, it.content || '(no output)')));
  }
  if (it.decision && it.status === 'denied') {
    body.append(h('p', { class: 'small' }, `Denied by ${it.decision.source || 'policy'}${it.decision.rule ? ` (rule ${it.decision.rule})` : ''}`));
  }
  for (const sub of it.subagents) body.append(renderSubagent(sub, ctx));
  return body;
}

function renderSubagent(sub, ctx) {
  const box = h('div', { class: 'subagent' });
  const head = h('div', { class: 'row' },
    h('strong', null, `Subagent · ${sub.agentType || 'agent'}`), badge(sub.status, statusKind(sub.status)),
    sub.description ? h('span', { class: 'muted small' }, sub.description) : null,
    sub.cost != null ? h('span', { class: 'small muted' }, fmtCost(sub.cost)) : null);
  const nested = h('div', { class: 'nested' });
  const toggle = h('button', { type: 'button', class: 'btn small', 'aria-expanded': 'false' }, 'Show its activity');
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') === 'true';
    toggle.setAttribute('aria-expanded', String(!open));
    toggle.textContent = open ? 'Show its activity' : 'Hide its activity';
    if (open) { ctx.closeNested(sub.sessionId); nested.replaceChildren(); }
    else ctx.openNested(sub.sessionId, nested);
  });
  head.append(toggle);
  box.append(head);
  if (sub.result) box.append(h('p', { class: 'small' }, sub.result.slice(0, 400)));
  box.append(nested);
  if (ctx.isNestedOpen(sub.sessionId)) {
    toggle.setAttribute('aria-expanded', 'true');
    toggle.textContent = 'Hide its activity';
    ctx.openNested(sub.sessionId, nested);
  }
  return box;
}

function toolCard(sessionId, it, ctx) {
  const wrap = h('div', { class: `item tool ${it.status}`, tabindex: '-1', dataset: { navItem: '', itemId: it.id } });
  const details = h('details', { class: 'tool' });
  const open = it.uiOpen ?? (it.status === 'failed' || it.status === 'waiting' || it.subagents.length > 0);
  if (open) details.open = true;
  const dur = it.doneAt && it.startedAt ? fmtMs((it.doneAt - it.startedAt) * 1000) : '';
  const stat = it.data && it.data.diff ? diffStat(it.data.diff) : null;
  details.append(h('summary', null,
    h('span', { class: `status-dot ${it.status}`, 'aria-hidden': 'true' }),
    h('span', { class: 'name' }, it.name),
    h('span', { class: 'brief' }, brief(it.name, it.input)),
    stat ? h('span', { class: 'small', 'aria-label': `${stat.add} lines added, ${stat.del} removed` },
      h('span', { class: 'diffstat-add' }, `+${stat.add}`), ' ', h('span', { class: 'diffstat-del' }, `−${stat.del}`)) : null,
    dur ? h('span', { class: 'small muted' }, dur) : null,
    it.status === 'running' ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }),
      h('span', { class: 'small muted elapsed', dataset: { elapsedSince: String(it.startedAt || Date.now() / 1000) },
        'aria-label': 'elapsed' }, fmtElapsed(Date.now() / 1000 - (it.startedAt || Date.now() / 1000)))] : null,
    badge(it.status === 'requested' ? 'queued' : it.status, statusKind(it.status))));
  const fill = () => { if (details.open && details.children.length === 1) details.append(toolBody(sessionId, it, ctx)); };
  details.addEventListener('toggle', () => { it.uiOpen = details.open; fill(); });
  fill();
  wrap.append(details);
  if (it.approval) wrap.append(renderApproval(sessionId, it.approval, ctx.mode()));
  return wrap;
}

// ---- other items -------------------------------------------------------------------------------------------

// What an executed output reported, as a person reads it: a JSON object's plain fields as a short list, else the
// text as markdown. Never one line of escaped JSON.
export function resultView(result) {
  let value = result;
  if (typeof value === 'string') {
    try { value = JSON.parse(value); } catch { return renderMarkdown(value); }
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const fields = Object.entries(value).filter(([, v]) => v !== '' && v != null && typeof v !== 'object');
    if (fields.length) return h('dl', { class: 'kv' }, fields.slice(0, 8).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
  }
  return h('pre', { class: 'code', tabindex: '0' }, JSON.stringify(value, null, 2));
}

function outputItem(sessionId, it) {
  const o = it.output;
  const link = `/ui/review?session=${enc(sessionId)}&output=${enc(o.id)}`;
  return h('div', { class: 'item', tabindex: '-1', dataset: { navItem: '', itemId: it.id } },
    h('div', { class: 'row' },
      h('strong', null, `Staged ${o.kind || 'output'}`), badge(o.status || 'pending', statusKind(o.status)),
      o.integration ? h('span', { class: 'small muted' }, o.integration) : null,
      h('span', { class: 'spacer' }),
      h('a', { href: link, 'data-link': '', class: 'btn small' }, o.status === 'pending' ? 'Review' : 'Details')),
    o.summary ? h('p', { class: 'small' }, o.summary) : null,
    o.status === 'failed' ? h('p', { class: 'small', role: 'alert' }, `Failed: ${o.error || 'no reason reported'}`) : null,
    o.status === 'rejected' && o.reason ? h('p', { class: 'small' }, `Rejected: ${o.reason}`) : null,
    o.status === 'executed' && o.result ? h('div', { class: 'small result' }, resultView(o.result)) : null);
}

export function renderItem(sessionId, it, ctx) {
  switch (it.kind) {
    case 'user':
      return h('div', { class: 'item user', tabindex: '-1', dataset: { navItem: '', itemId: it.id } },
        h('div', { class: 'who' }, 'You'), h('div', { class: 'text' }, it.text));
    case 'assistant': {
      const text = h('div', { class: `text${it.streaming ? ' cursor' : ''}` }, renderMarkdown(it.text));
      if (it.streaming) { text.setAttribute('aria-live', 'polite'); text.setAttribute('aria-busy', 'true'); }
      return h('div', { class: 'item assistant', tabindex: '-1', dataset: { navItem: '', itemId: it.id } },
        h('div', { class: 'who' }, 'Dexa'), text);
    }
    case 'thinking':
      // Collapsed by default: the reasoning is there for whoever wants it, without pushing the work off screen.
      return h('details', { class: 'item thinking', dataset: { itemId: it.id } },
        h('summary', null, it.streaming ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Thinking…'] : 'Thought'),
        h('pre', null, it.text));
    case 'tool':
      return toolCard(sessionId, it, ctx);
    case 'approval':
      return h('div', { class: 'item', tabindex: '-1', dataset: { navItem: '', itemId: it.id } }, renderApproval(sessionId, it.approval, ctx.mode()));
    case 'subagent':
      return h('div', { class: 'item', dataset: { itemId: it.id } }, it.subagents.map((s) => renderSubagent(s, ctx)));
    case 'output':
      return outputItem(sessionId, it);
    case 'checkpoint': {
      const cp = it.checkpoint;
      return h('div', { class: 'item notice-item small', dataset: { itemId: it.id } },
        h('span', { title: cp.id || '' }, `◇ Checkpoint ${cp.label || cp.reason || ''} `),
        ctx.nested ? null : h('a', { href: `/ui/sessions/${enc(sessionId)}/checkpoints?select=${enc(cp.id || '')}`, 'data-link': '' }, 'Rewind to here…'));
    }
    case 'notice':
      return h('div', { class: `item notice-item${it.level === 'bad' ? ' bad' : ''}`, role: it.level === 'bad' ? 'alert' : null, dataset: { itemId: it.id } }, it.text);
    default:
      return h('div', { class: 'item', dataset: { itemId: it.id } }, it.kind);
  }
}
