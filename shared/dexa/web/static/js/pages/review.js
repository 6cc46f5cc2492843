// /ui/review: staged outputs across sessions. Each shows what will be sent, to whom and why; reviewers edit the
// fields, approve or reject one at a time or in batches, and see the result. Signed approval links land here.

import { api, enc } from '../api.js';
import { setReviewCount } from '../chrome.js';
import { badge, fill, fmtAgo, h, nextId, pretty, statusKind, toast, unavailable } from '../dom.js';

const RECIPIENT_KEYS = ['to', 'recipients', 'recipient', 'attendees', 'cc', 'bcc', 'channel', 'email', 'contact', 'user', 'assignee'];
const LONG_KEYS = /^(body|text|content|message|description|notes|html|comment)$/i;
const DONE = new Set(['executed', 'rejected', 'failed', 'approved']);

// An approval link's token is `<base64url claims>.<signature>`; the claims name the output and the action. The
// page reads them to find the output at once; POST /approval-links/peek verifies them and /redeem spends the link.
export function linkClaims(token) {
  try {
    const body = token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const raw = JSON.parse(atob(body + '='.repeat((4 - (body.length % 4)) % 4)));
    return { output: String(raw.i || ''), action: String(raw.a || 'review'), expires: Number(raw.e) || 0 };
  } catch {
    return null;
  }
}

function recipients(args) {
  const out = [];
  for (const k of RECIPIENT_KEYS) {
    const v = args && args[k];
    if (v == null || v === '') continue;
    const shown = Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    out.push(k === 'to' || k === 'recipients' || k === 'recipient' ? shown : `${shown} (${k})`);
  }
  return out;
}

function editor(key, value, disabled) {
  const id = nextId('arg');
  let control;
  let read;
  if (typeof value === 'boolean') {
    control = h('input', { type: 'checkbox', id, checked: value, disabled });
    read = () => control.checked;
  } else if (typeof value === 'number') {
    control = h('input', { type: 'text', inputmode: 'decimal', id, value: String(value), disabled });
    read = () => (control.value.trim() === '' ? null : Number(control.value));
  } else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    control = h('input', { type: 'text', id, value: value.join(', '), disabled });
    read = () => control.value.split(',').map((s) => s.trim()).filter(Boolean);
  } else if (value !== null && typeof value === 'object') {
    control = h('textarea', { id, class: 'mono', rows: 4, value: JSON.stringify(value, null, 2), disabled });
    read = () => JSON.parse(control.value);
  } else {
    const long = LONG_KEYS.test(key) || String(value ?? '').length > 80 || String(value ?? '').includes('\n');
    control = long ? h('textarea', { id, rows: 5, value: String(value ?? ''), disabled })
      : h('input', { type: 'text', id, value: String(value ?? ''), disabled });
    read = () => control.value;
  }
  control.dataset.arg = key;
  const wide = control.tagName === 'TEXTAREA';
  const wrap = h('div', { class: `field${wide ? ' wide' : ''}` }, h('label', { for: id }, key), control);
  return { wrap, read, key };
}

// An integration's result as a person reads it: its text content (what the tool said), else its fields, never
// escaped JSON in one line.
function resultText(result) {
  if (result == null || result === '') return 'Done.';
  if (typeof result === 'string') return result;
  const content = result.content;
  if (typeof content === 'string' && content) return content;
  if (Array.isArray(content)) {
    const text = content.filter((b) => b && b.type === 'text').map((b) => b.text).join('\n');
    if (text) return text;
  }
  const fields = Object.entries(result.structured || result).filter(([, v]) => v != null && typeof v !== 'object');
  if (fields.length) return h('dl', { class: 'kv' }, fields.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]));
  return h('pre', { class: 'code', tabindex: '0' }, JSON.stringify(result, null, 2));
}

class OutputCard {
  constructor(o, session, page) {
    this.o = o;
    this.session = session;
    this.page = page;
    this.el = h('article', { class: 'output', tabindex: '-1', dataset: { navItem: '', outputId: o.id }, 'aria-labelledby': `h-${o.id}` });
    this.render();
  }

  get pending() { return this.o.status === 'pending'; }

  render() {
    const o = this.o;
    const pending = this.pending;
    this.select = h('input', { type: 'checkbox', id: nextId('sel'), disabled: !pending, 'aria-label': `Select ${o.summary || o.id} for a batch action` });
    this.select.addEventListener('change', () => this.page.updateBatch());
    this.editors = Object.entries(o.arguments || {}).map(([k, v]) => editor(k, v, !pending));
    this.reason = h('input', { type: 'text', id: nextId('why'), placeholder: 'optional', disabled: !pending });
    const to = recipients(o.arguments);
    const sessionTitle = this.session ? this.session.title || this.session.id : o.session_id;
    fill(this.el,
      h('div', { class: 'output-head' },
        this.select,
        h('h2', { id: `h-${o.id}` }, o.summary || `${o.kind} via ${o.tool}`),
        badge(o.status, statusKind(o.status)), o.edited ? badge('edited', 'accent') : null,
        // A blocking output: the agent's turn is parked until this is decided.
        pending && (o.context || {}).mode === 'blocking' ? badge('agent waiting', 'warn') : null),
      h('p', { class: 'small muted' },
        `${o.kind}${o.integration ? ` · ${o.integration}` : ''} · ${o.tool} · staged ${fmtAgo(o.created_at)} · from `,
        h('a', { href: `/ui/sessions/${enc(o.session_id)}`, 'data-link': '' }, sessionTitle)),
      to.length ? h('p', { class: 'to' }, h('strong', null, 'To: '), to.join(' · ')) : null,
      h('div', { class: 'fields', role: 'group', 'aria-label': 'What will be sent' }, this.editors.map((e) => e.wrap)),
      h('details', { class: 'context' }, h('summary', null, 'Context: why the agent drafted this'),
        h('pre', { class: 'code', tabindex: '0' }, pretty(o.context || {}))),
      pending ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn ok solid', dataset: { act: 'approve' }, 'aria-keyshortcuts': 'a', onclick: () => this.approve() }, 'Approve & send'),
        h('button', { type: 'button', class: 'btn bad', dataset: { act: 'reject' }, 'aria-keyshortcuts': 'd', onclick: () => this.reject() }, 'Reject'),
        h('label', { for: this.reason.id, class: 'small' }, 'Reason'), this.reason) : null,
      this.resultView());
  }

  resultView() {
    const o = this.o;
    if (o.status === 'executed') return h('div', { class: 'result notice info', role: 'status' }, h('strong', null, 'Sent. '), resultText(o.result));
    if (o.status === 'failed') return h('div', { class: 'result notice bad', role: 'status' }, h('strong', null, 'Failed: '), o.error || 'the integration gave no reason');
    if (o.status === 'rejected') return h('div', { class: 'result notice', role: 'status' }, `Rejected${o.decided_by ? ` by ${o.decided_by}` : ''}${o.reason || o.error ? `: ${o.reason || o.error}` : ''}`);
    if (o.status === 'approved') return h('div', { class: 'result notice info', role: 'status' }, 'Approved; waiting for execution.');
    return null;
  }

  // The edited arguments, or undefined when nothing changed; throws on invalid JSON in an object field.
  edits() {
    const args = {};
    for (const e of this.editors) {
      try { args[e.key] = e.read(); } catch { throw new Error(`${e.key}: not valid JSON`); }
    }
    return JSON.stringify(args) === JSON.stringify(this.o.arguments) ? undefined : args;
  }

  setBusy(busy) {
    this.el.querySelectorAll('.actions button').forEach((b) => { b.disabled = busy; });
  }

  async approve({ quiet = false } = {}) {
    let args;
    try { args = this.edits(); } catch (e) { toast(e.message, { bad: true }); return false; }
    this.setBusy(true);
    try {
      this.o = await api.post(`/sessions/${enc(this.o.session_id)}/pending-outputs/${enc(this.o.id)}/approve`,
        args === undefined ? {} : { arguments: args });
      if (!quiet) toast(this.o.status === 'failed' ? `Approved, but sending failed: ${this.o.error}` : `Approved${args ? ' with your edits' : ''}`);
      return true;
    } catch (e) {
      toast(e.code === 'already_decided' ? 'Someone already decided this output.' : `Not approved: ${e.message}`, { bad: true });
      await this.reload();
      return false;
    } finally {
      this.render();
      this.page.updateCount();
    }
  }

  async reject({ quiet = false, reason } = {}) {
    this.setBusy(true);
    try {
      this.o = await api.post(`/sessions/${enc(this.o.session_id)}/pending-outputs/${enc(this.o.id)}/reject`,
        { reason: reason ?? this.reason.value });
      if (!quiet) toast('Rejected');
      return true;
    } catch (e) {
      toast(e.code === 'already_decided' ? 'Someone already decided this output.' : `Not rejected: ${e.message}`, { bad: true });
      await this.reload();
      return false;
    } finally {
      this.render();
      this.page.updateCount();
    }
  }

  async reload() {
    try {
      const res = await api.get(`/sessions/${enc(this.o.session_id)}/pending-outputs`);
      this.o = res.data.find((x) => x.id === this.o.id) || this.o;
    } catch { /* keep what we had */ }
  }
}

async function pool(items, limit, fn) {
  const out = [];
  let i = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) {
      const k = i++;
      out[k] = await fn(items[k]);
    }
  });
  await Promise.all(workers);
  return out;
}

export function mount(root, _params, query) {
  const page = { cards: [], filter: query.get('status') || 'pending' };
  const token = query.get('token');
  const claims = token ? linkClaims(token) : null;
  const focusId = (claims && claims.output) || query.get('output');
  if (focusId && !query.get('status')) page.filter = 'all';
  const onlySession = query.get('session');

  const list = h('div', { class: 'outputs', 'data-nav-list': '', 'aria-label': 'Staged outputs' });
  const info = h('p', { class: 'small muted', role: 'status' }, 'Loading…');
  const batchCount = h('span', { class: 'small' });
  const approveSel = h('button', { type: 'button', class: 'btn ok', onclick: () => batch('approve') }, 'Approve selected');
  const rejectSel = h('button', { type: 'button', class: 'btn bad', onclick: () => batch('reject') }, 'Reject selected');
  const all = h('input', { type: 'checkbox', id: nextId('all') });
  all.addEventListener('change', () => {
    page.cards.filter((c) => c.pending && !c.el.hidden).forEach((c) => { c.select.checked = all.checked; });
    page.updateBatch();
  });
  const filters = ['pending', 'done', 'all'].map((f) => h('button', {
    type: 'button', class: 'btn small', 'aria-pressed': String(page.filter === f), dataset: { filter: f },
    onclick: () => { page.filter = f; filters.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.filter === f))); applyFilter(); },
  }, { pending: 'Pending', done: 'Decided', all: 'All' }[f]));

  const banner = claims || query.get('sig') ? h('div', { class: 'notice info', role: 'note' },
    h('strong', null, 'Opened from an approval link. '),
    claims ? `It asks you to ${claims.action} output ${claims.output}` : `Output ${query.get('output')}`,
    claims && claims.expires ? ` (valid until ${new Date(claims.expires * 1000).toLocaleString()})` : '',
    '. Check the fields below before you decide.') : null;
  const linkBox = h('div', { class: 'row', 'aria-live': 'polite' });
  if (banner) banner.append(linkBox);

  // The server checks the signature and expiry (peek does not spend the link); redeeming acts once, as you.
  async function verifyLink() {
    let peek;
    try {
      peek = await api.post('/approval-links/peek', { token });
    } catch (e) {
      fill(linkBox, h('p', { class: 'small' }, e.unavailable
        ? 'This server cannot verify approval links; decide with the buttons on the output.'
        : `This link cannot be used: ${e.message} Decide with the buttons on the output instead.`));
      return;
    }
    // A link decides a staged output, or (from an approval email) a tool call waiting for permission.
    const item = peek.output || peek.approval;
    if (peek.action === 'review' || item.status !== 'pending') {
      fill(linkBox, h('p', { class: 'small' }, item.status !== 'pending' ? `Already ${item.status}.` : 'A review link: decide below.'));
      return;
    }
    const act = h('button', { type: 'button', class: `btn solid ${peek.action === 'approve' ? 'ok' : 'bad'}`, dataset: { linkAction: peek.action } },
      peek.action === 'approve' ? 'Approve via this link' : 'Reject via this link');
    act.addEventListener('click', async () => {
      act.disabled = true;
      try {
        const done = await api.post('/approval-links/redeem', { token });
        const status = (done.output || done.approval).status;
        toast(`${peek.action === 'approve' ? 'Approved' : 'Rejected'} via the link: ${status}`);
        fill(linkBox, h('p', { class: 'small' }, `Done: ${status}.`));
        load();
      } catch (e) {
        toast(e.status === 409 ? 'This link was already used or the output decided.' : `Not done: ${e.message}`, { bad: true });
        act.disabled = false;
      }
    });
    fill(linkBox, h('span', { class: 'small' }, `Verified, valid until ${new Date(peek.expires_at * 1000).toLocaleString()}. `), act);
  }
  if (token) verifyLink();

  fill(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Review queue'),
      h('div', { role: 'group', 'aria-label': 'Show', class: 'row' }, filters),
      h('button', { type: 'button', class: 'btn small', onclick: () => load() }, 'Refresh')),
    banner,
    h('div', { class: 'queue-tools panel' }, h('label', { for: all.id, class: 'row' }, all, ' Select all pending'),
      batchCount, approveSel, rejectSel, info),
    list);
  document.title = 'Review · Dexa';

  page.updateBatch = () => {
    const n = page.cards.filter((c) => c.select.checked).length;
    batchCount.textContent = n ? `${n} selected` : '';
    approveSel.disabled = rejectSel.disabled = n === 0;
  };
  page.updateCount = () => setReviewCount(page.cards.filter((c) => c.pending).length);

  function applyFilter() {
    for (const c of page.cards) {
      const st = c.o.status;
      c.el.hidden = page.filter === 'pending' ? st !== 'pending' : page.filter === 'done' ? !DONE.has(st) : false;
    }
    const shown = page.cards.filter((c) => !c.el.hidden).length;
    if (!shown && !list.querySelector('.empty')) list.append(h('p', { class: 'empty' }, page.filter === 'pending' ? 'Nothing waits for review.' : 'No outputs here.'));
    else if (shown) list.querySelectorAll('.empty').forEach((e) => e.remove());
  }

  async function batch(action) {
    const chosen = page.cards.filter((c) => c.select.checked && c.pending);
    if (!chosen.length) return;
    let ok = 0;
    for (const c of chosen) {
      if (action === 'approve' ? await c.approve({ quiet: true }) : await c.reject({ quiet: true })) ok += 1;
    }
    toast(`${action === 'approve' ? 'Approved' : 'Rejected'} ${ok} of ${chosen.length}`);
    all.checked = false;
    page.updateBatch();
    applyFilter();
  }

  // The org-wide queue (GET /outputs); a server without it is gathered session by session.
  async function gather() {
    if (onlySession) {
      const s = await api.get(`/sessions/${enc(onlySession)}`);
      return { rows: (await api.get(`/sessions/${enc(s.id)}/pending-outputs`)).data.map((o) => [o, s]), sessions: 1 };
    }
    let outputs = null;
    try { outputs = (await api.get('/outputs')).data; } catch (e) { if (!e.unavailable) throw e; }
    let sessions = [];
    try { sessions = (await api.get('/sessions?limit=200')).data; } catch (e) { if (outputs === null) throw e; }
    if (outputs !== null) {
      const byId = new Map(sessions.map((s) => [s.id, s]));
      return { rows: outputs.map((o) => [o, byId.get(o.session_id) || null]), sessions: new Set(outputs.map((o) => o.session_id)).size };
    }
    const lists = await pool(sessions, 6, async (s) => {
      try { return (await api.get(`/sessions/${enc(s.id)}/pending-outputs`)).data.map((o) => [o, s]); } catch { return []; }
    });
    return { rows: lists.flat(), sessions: sessions.length };
  }

  async function load() {
    info.textContent = 'Loading…';
    let found;
    try {
      found = await gather();
    } catch (e) {
      fill(list, unavailable('The review queue', e));
      info.textContent = '';
      return;
    }
    const rows = found.rows
      .sort((a, b) => (b[0].status === 'pending') - (a[0].status === 'pending') || b[0].created_at - a[0].created_at);
    page.cards = rows.map(([o, s]) => new OutputCard(o, s, page));
    fill(list, ...page.cards.map((c) => c.el));
    info.textContent = `${rows.length} output(s) from ${found.sessions} session(s)`;
    applyFilter();
    // "Select all" ticked while the queue was still loading means every pending output that arrived.
    if (all.checked) page.cards.filter((c) => c.pending && !c.el.hidden).forEach((c) => { c.select.checked = true; });
    page.updateBatch();
    page.updateCount();
    const target = focusId && page.cards.find((c) => c.o.id === focusId);
    if (target) {
      target.el.classList.add('highlight');
      target.el.hidden = false;
      target.el.scrollIntoView({ block: 'center' });
      target.el.focus({ preventScroll: true });
    } else if (focusId) {
      list.prepend(h('div', { class: 'notice bad', role: 'alert' }, `Output ${focusId} is not in your org's queue (it may belong to another org, or you need to sign in as a reviewer).`));
    }
  }
  load();

  return {
    page,
    onKey(e) {
      const el = document.activeElement;
      if (e.ctrlKey || e.metaKey || e.altKey || (el && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) && el.type !== 'checkbox')) return false;
      const card = el && el.closest ? page.cards.find((c) => c.el === el.closest('.output')) : null;
      if (!card) return false;
      if (e.key === 'a' && card.pending) { card.approve(); return true; }
      if (e.key === 'd' && card.pending) { card.reject(); return true; }
      if (e.key === 'x' && card.pending) { card.select.checked = !card.select.checked; page.updateBatch(); return true; }
      return false;
    },
  };
}
