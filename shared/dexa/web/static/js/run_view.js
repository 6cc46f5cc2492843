// The live run view: one session's stream rendered as a timeline, with header stats, abort, mode switch,
// composer and a side panel (todo progress, staged outputs, files changed). Nested subagents reuse it.

import { api, enc } from './api.js';
import { badge, clear, fmtCost, fmtTokens, h, nextId, statusKind, toast, fill } from './dom.js';
import { config, url } from './config.js';
import { renderItem } from './run_items.js';
import { fmtElapsed } from './elapsed.js';
import { RunModel } from './run_model.js';
import { EventStream } from './stream.js';
import { sharePanel } from './share_panel.js';
import { terminalPanel } from './terminal_panel.js';

const WINDOW = 150; // timeline items rendered at first; older ones come on demand
const TAIL = 600; // events loaded at first
const CYCLE = ['default', 'acceptEdits', 'plan'];

export function nextMode(mode) {
  const i = CYCLE.indexOf(mode);
  return CYCLE[(i + 1) % CYCLE.length];
}

export class RunView {
  constructor(sessionId, { nested = false, onConn = null } = {}) {
    this.sessionId = sessionId;
    this.nested = nested;
    this.onConn = onConn;
    this.model = new RunModel(sessionId);
    this.els = new Map(); // item id -> element
    this.shownFrom = 0;
    this.children = new Map(); // nested subagent views
    this.frame = 0;
    this.session = null;
    this.caughtUpAt = null;
    this.ctx = {
      nested,
      mode: () => this.model.mode,
      openNested: (id, el) => this._openNested(id, el),
      closeNested: (id) => this._closeNested(id),
      isNestedOpen: (id) => this.children.has(id),
    };
  }

  async mount(root) {
    this.root = root;
    this.closed = false;
    this.timeline = h('div', { class: 'timeline', 'data-nav-list': '', 'aria-label': 'Run activity' });
    this.older = h('div', { class: 'older' });
    if (this.nested) {
      root.append(this.older, this.timeline);
    } else {
      this._buildPage(root);
    }
    try {
      this.session = await api.get(`/sessions/${enc(this.sessionId)}`);
    } catch (e) {
      if (this.closed) return;
      if (!this.nested) {
        fill(root, h('div', { class: 'notice bad', role: 'alert' }, `Cannot open session ${this.sessionId}: ${e.message}`));
        return;
      }
      this.session = null;
    }
    this.target = this.session ? this.session.last_seq : 0;
    // The first screen needs only the newest events: a long session loads its tail, plus what began earlier and
    // is still open (pending approvals, staged outputs, the todo list); older history loads on demand.
    const start = Math.max(0, this.target - TAIL);
    this.model.seed(this.session);
    if (start > 0) this.model.seedBefore(start, await this._stateBefore());
    // Left while the session loaded (a click on Checkpoints before the first answer): no stream for a page that
    // is gone; it would stay open and keep writing the next page's body dataset and scroll position.
    if (this.closed) return;
    this.events = [];
    this._startStream(start);
    this._schedule();
  }

  _startStream(after) {
    this.stream = new EventStream(this.sessionId, {
      after,
      onEvents: (evs) => {
        if (!this.nested && !this.events.length) performance.mark('dexa:events-first');
        for (const ev of evs) this.events.push(ev);
        this.model.apply(evs);
        this._schedule();
      },
      onState: (s) => this.onConn && this.onConn(s),
      onError: (e) => { if (e.status === 401 || e.status === 404) toast(`Event stream: ${e.message}`, { bad: true }); },
    }).start();
  }

  async _stateBefore() {
    const id = enc(this.sessionId);
    const get = (path, pick) => api.get(path).then(pick, () => undefined);
    const [approvals, outputs, todos] = await Promise.all([
      get(`/sessions/${id}/approvals?status=pending`, (r) => r.data),
      get(`/sessions/${id}/pending-outputs`, (r) => r.data),
      get(`/sessions/${id}/todo`, (r) => r.todos),
    ]);
    return { approvals: approvals || [], outputs: outputs || [], todos: todos || null };
  }

  // Everything before the loaded tail, read in poll mode, then the model is rebuilt from the whole log.
  async _loadHistory() {
    const older = [];
    let after = 0;
    while (after < this.model.startSeq) {
      const res = await fetch(url(`/sessions/${enc(this.sessionId)}/events?mode=poll&after=${after}`), { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`history: HTTP ${res.status}`);
      const evs = (await res.text()).split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
      if (!evs.length) break;
      for (const ev of evs) if (ev.seq <= this.model.startSeq) older.push(ev);
      after = evs[evs.length - 1].seq;
    }
    const shown = this.model.items.length - this.shownFrom;
    const model = new RunModel(this.sessionId);
    model.seed(this.session);
    model.apply(older);
    model.apply(this.events);
    // Keep what the user already saw on screen (mode, usage) from the live model.
    Object.assign(model, { mode: this.model.mode, status: this.model.status, cost: this.model.cost, usage: this.model.usage });
    this.model = model;
    this.els.clear();
    this.timeline.replaceChildren();
    this.shownFrom = Math.max(0, model.items.length - shown - WINDOW);
    this.model.takeDirty();
    this._renderAll();
  }

  unmount() {
    this.closed = true;
    if (this.stream) this.stream.stop();
    if (this.terminal) this.terminal.close();
    cancelAnimationFrame(this.frame);
    clearInterval(this.ticker);
    if (this.placeHead) window.removeEventListener('resize', this.placeHead);
    for (const child of this.children.values()) child.unmount();
    this.children.clear();
  }

  // ---- page chrome ---------------------------------------------------------------------------------------

  _buildPage(root) {
    const titleId = nextId('run');
    this.titleEl = h('h1', { id: titleId }, this.sessionId);
    this.statusEl = h('span');
    this.statsEl = h('div', { class: 'stats', 'aria-live': 'off' });
    this.modeSel = h('select', { id: nextId('mode'), 'aria-keyshortcuts': 'Shift+Tab' },
      config.modes.map((m) => h('option', { value: m }, m)));
    this.modeSel.addEventListener('change', () => this.setMode(this.modeSel.value));
    this.abortBtn = h('button', { type: 'button', class: 'btn bad', onclick: () => this.abort() }, 'Abort');
    const head = h('div', { class: 'run-head' }, this.titleEl, this.statusEl,
      h('span', { class: 'mode-pill' }, h('label', { for: this.modeSel.id, class: 'sr-only' }, 'Permission mode'), this.modeSel),
      this.abortBtn,
      h('a', { class: 'btn', href: `/ui/sessions/${enc(this.sessionId)}/checkpoints`, 'data-link': '' }, 'Checkpoints'),
      this.statsEl);
    this.input = h('textarea', { id: nextId('msg'), rows: 2, placeholder: 'Message the agent… (Enter to send, Shift+Enter for a new line)',
      'aria-keyshortcuts': '/', dataset: { taskBox: '' } });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
      if (e.key === 'Tab' && e.shiftKey) { e.preventDefault(); this.cycleMode(); }
    });
    const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h('label', { for: this.input.id, class: 'sr-only' }, 'Message'),
      this.input,
      h('div', { class: 'row' }, h('span', { class: 'small muted' }, 'Shift+Tab in this box cycles the permission mode'),
        h('span', { class: 'spacer' }), h('button', { class: 'btn primary', type: 'submit' }, 'Send')));
    this.todoEl = h('section', { class: 'panel', 'aria-label': 'Todo list' });
    this.outputsEl = h('section', { class: 'panel', 'aria-label': 'Staged outputs' });
    this.filesEl = h('section', { class: 'panel', 'aria-label': 'Session' });
    this.pullEl = this._pullPanel();
    this.shareEl = sharePanel(this.sessionId);
    this.terminal = terminalPanel(this.sessionId);
    const main = h('section', { 'aria-labelledby': titleId }, this.older, this.timeline, composer);
    // The header (status, Abort) sticks just under the top bar, whose height depends on the width.
    const placeHead = () => {
      const bar = document.querySelector('.topbar');
      const top = bar && getComputedStyle(bar).position === 'sticky' ? bar.getBoundingClientRect().height : 0;
      root.style.setProperty('--run-head-top', `${Math.round(top)}px`);
      root.style.setProperty('--run-head-h', `${Math.round(head.getBoundingClientRect().height)}px`);
    };
    requestAnimationFrame(placeHead);
    window.removeEventListener('resize', this.placeHead || placeHead);
    this.placeHead = placeHead;
    window.addEventListener('resize', placeHead);
    // Every running step shows its elapsed time; one ticker updates them all in place (no re-render).
    clearInterval(this.ticker);
    this.ticker = setInterval(() => {
      const now = Date.now() / 1000;
      for (const el of root.querySelectorAll('[data-elapsed-since]')) {
        el.textContent = fmtElapsed(now - Number(el.dataset.elapsedSince));
      }
    }, 1000);
    // The header is the grid's first row, not part of the timeline column: a sticky element stays only within its
    // parent, and on one-column screens the side panels come after the timeline.
    fill(root, h('div', { class: 'run' }, head, main, h('aside', { class: 'side', 'aria-label': 'Run details' }, this.todoEl, this.outputsEl, this.filesEl, this.shareEl, this.pullEl, this.terminal.el)));
  }

  // `dexa pull` with a 15-minute export token: the session, its checkpoints and its workspace continue on the
  // user's machine. The token is minted on demand (never on page load) and shown once, ready to copy.
  _pullPanel() {
    const out = h('div', { class: 'pull-command' });
    const btn = h('button', { type: 'button', class: 'btn small' }, 'Continue locally');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const minted = await api.post(`/sessions/${enc(this.sessionId)}/export-token`, {});
        const code = h('code', { dataset: { pullCommand: '' } }, minted.command);
        const copy = h('button', { type: 'button', class: 'btn small' }, 'Copy');
        copy.addEventListener('click', async () => {
          try { await navigator.clipboard.writeText(minted.command); toast('Copied'); } catch { toast('Select the command and copy it', { bad: true }); }
        });
        const until = new Date(minted.expires_at * 1000).toLocaleTimeString();
        fill(out, h('pre', { class: 'small' }, code), h('div', { class: 'row' }, copy,
          h('span', { class: 'small muted' }, `Valid until ${until}; it reads this session only.`)));
      } catch (e) {
        fill(out, h('p', { class: 'notice bad', role: 'alert' }, `Cannot mint an export token: ${e.message}`));
      } finally {
        btn.disabled = false;
      }
    });
    return h('section', { class: 'panel', 'aria-label': 'Continue locally' }, h('h2', null, 'Continue locally'),
      h('p', { class: 'small muted' }, 'Run this session on your machine with the dexa CLI (conversation, checkpoints and workspace).'),
      btn, out);
  }

  _renderHead() {
    const m = this.model;
    if (this.nested) return;
    const s = this.session;
    if (s) {
      this.titleEl.textContent = s.title || s.id;
      document.title = `${s.title || s.id} · Dexa`;
    }
    fill(this.statusEl, badge(m.status, statusKind(m.status)));
    if (this.modeSel.value !== m.mode) this.modeSel.value = m.mode;
    const busy = m.status === 'running' || m.status === 'waiting' || m.turn != null;
    this.abortBtn.disabled = !busy;
    fill(this.statsEl,
      h('span', null, 'cost ', h('strong', { dataset: { stat: 'cost' } }, fmtCost(m.cost))),
      h('span', null, 'in ', h('strong', null, fmtTokens(m.usage.input_tokens + m.usage.cache_read_input_tokens + m.usage.cache_creation_input_tokens))),
      h('span', null, 'out ', h('strong', null, fmtTokens(m.usage.output_tokens))),
      m.model ? h('span', null, 'model ', h('strong', null, m.model)) : null);
    this._renderSide();
  }

  _renderSide() {
    const m = this.model;
    const todos = m.todos;
    const done = todos.filter((t) => t.status === 'completed').length;
    fill(this.todoEl, h('h2', null, 'Todo'));
    if (!todos.length) this.todoEl.append(h('p', { class: 'small muted' }, 'No todo list yet.'));
    else {
      const pct = Math.round((done / todos.length) * 100);
      this.todoEl.append(
        h('div', { class: 'small' }, `${done} of ${todos.length} done`),
        h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Todo progress', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct },
          h('span', { style: null, dataset: { pct } })),
        h('ul', { class: 'todo' }, todos.map((t) => h('li', null,
          h('span', { class: 'mark', 'aria-hidden': 'true' }, t.status === 'completed' ? '✓' : t.status === 'in_progress' ? '▶' : '○'),
          h('span', { class: t.status }, t.status === 'in_progress' && t.activeForm ? t.activeForm : t.content,
            h('span', { class: 'sr-only' }, ` (${t.status.replace('_', ' ')})`))))));
      // Width set through CSSOM: allowed by the style-src 'self' CSP (inline style attributes are not).
      this.todoEl.querySelector('.progress > span').style.width = `${pct}%`;
    }
    const outs = [...m.outputs.values()];
    fill(this.outputsEl, h('h2', null, 'Staged outputs'));
    if (!outs.length) this.outputsEl.append(h('p', { class: 'small muted' }, 'Nothing staged.'));
    else {
      this.outputsEl.append(h('div', { class: 'outputs-mini' }, outs.map((o) => h('div', { class: 'out' },
        badge(o.status || 'pending', statusKind(o.status)), ' ', o.summary || o.kind || o.id))),
      h('a', { href: `/ui/review?session=${enc(this.sessionId)}`, 'data-link': '', class: 'btn small' }, 'Open review queue'));
    }
    const files = [...new Set(m.items.filter((it) => it.kind === 'tool' && it.data && it.data.diff)
      .map((it) => it.data.filePath || (it.input && it.input.file_path) || ''))].filter(Boolean);
    const s = this.session;
    fill(this.filesEl, h('h2', null, 'Session'),
      h('dl', { class: 'small' },
        h('dt', null, 'Id'), h('dd', null, h('code', null, this.sessionId)),
        s ? [h('dt', null, 'Directory'), h('dd', null, h('code', null, s.cwd))] : null,
        s && s.config && s.config.sources.length ? [h('dt', null, 'Sources'), h('dd', null, s.config.sources.join(', '))] : null),
      h('h3', null, `Files changed (${files.length})`),
      files.length ? h('ul', { class: 'small' }, files.map((f) => h('li', null, h('code', null, f)))) : h('p', { class: 'small muted' }, 'None yet.'));
  }

  // ---- timeline rendering --------------------------------------------------------------------------------

  _schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this._render(); });
  }

  _render() {
    const m = this.model;
    // Replaying history: wait until it is all here, then draw only its newest items (one layout, not many).
    if (this.target == null || (this.caughtUpAt == null && m.lastSeq < this.target)) return;
    if (this.caughtUpAt == null && !this.nested) performance.mark('dexa:history-loaded');
    const dirty = m.takeDirty();
    const scroller = document.scrollingElement;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - window.innerHeight < 160;
    if (this.els.size === 0 && m.items.length > WINDOW) this.shownFrom = m.items.length - WINDOW;
    const active = document.activeElement;
    for (let i = this.shownFrom; i < m.items.length; i++) {
      const it = m.items[i];
      const old = this.els.get(it.id);
      if (old && !dirty.has(it.id)) continue;
      const el = renderItem(this.sessionId, it, this.ctx);
      if (old) {
        const focusKey = old.contains(active) ? focusPath(old, active) : null;
        old.replaceWith(el);
        if (focusKey) refocus(el, focusKey);
      } else {
        this.timeline.append(el);
      }
      this.els.set(it.id, el);
    }
    this._renderOlder();
    if (m.headDirty) { m.headDirty = false; this._renderHead(); }
    if (this.caughtUpAt == null) {
      this.caughtUpAt = performance.now();
      if (!this.nested) document.body.dataset.caughtUp = String(Math.round(this.caughtUpAt));
    }
    if (atBottom && !this.nested) scroller.scrollTop = scroller.scrollHeight;
    if (!this.nested) {
      document.body.dataset.lastSeq = String(m.lastSeq);
      document.body.dataset.seen = String(m.seen);
      document.body.dataset.startSeq = String(m.startSeq);
    }
  }

  _renderOlder() {
    const hiddenItems = this.shownFrom;
    const unloaded = this.model.startSeq;
    if (hiddenItems <= 0 && unloaded <= 0) { this.older.replaceChildren(); return; }
    const label = hiddenItems > 0 ? `Show ${Math.min(WINDOW, hiddenItems)} earlier items (${hiddenItems} hidden)`
      : `Load the ${unloaded} earlier events`;
    fill(this.older, h('button', { type: 'button', class: 'btn small', onclick: (e) => this._showOlder(e.currentTarget) }, label));
  }

  async _showOlder(btn) {
    if (this.shownFrom <= 0 && this.model.startSeq > 0) {
      btn.disabled = true;
      btn.textContent = 'Loading earlier events…';
      try { await this._loadHistory(); } catch (e) { toast(e.message, { bad: true }); btn.disabled = false; }
      return;
    }
    const from = Math.max(0, this.shownFrom - WINDOW);
    const frag = document.createDocumentFragment();
    for (let i = from; i < this.shownFrom; i++) {
      const it = this.model.items[i];
      const el = renderItem(this.sessionId, it, this.ctx);
      this.els.set(it.id, el);
      frag.append(el);
    }
    this.timeline.prepend(frag);
    this.shownFrom = from;
    this._renderOlder();
  }

  _renderAll() {
    const frag = document.createDocumentFragment();
    for (let i = this.shownFrom; i < this.model.items.length; i++) {
      const it = this.model.items[i];
      const el = renderItem(this.sessionId, it, this.ctx);
      this.els.set(it.id, el);
      frag.append(el);
    }
    this.timeline.append(frag);
    this._renderOlder();
    this._renderHead();
  }

  _openNested(id, el) {
    if (this.children.has(id)) {
      const child = this.children.get(id);
      el.replaceChildren(child.older, child.timeline);
      return;
    }
    const child = new RunView(id, { nested: true });
    this.children.set(id, child);
    child.mount(el);
  }

  _closeNested(id) {
    const child = this.children.get(id);
    if (child) child.unmount();
    this.children.delete(id);
  }

  // ---- actions -------------------------------------------------------------------------------------------

  async send() {
    const prompt = this.input.value.trim();
    if (!prompt) return;
    try {
      await api.post(`/sessions/${enc(this.sessionId)}/messages`, { prompt });
      this.input.value = '';
    } catch (e) {
      toast(e.code === 'session_busy' ? 'A turn is still running: wait for it or abort it first.' : `Not sent: ${e.message}`, { bad: true });
    }
  }

  async abort() {
    try {
      await api.post(`/sessions/${enc(this.sessionId)}/abort`);
      toast('Abort requested');
    } catch (e) {
      toast(`Abort failed: ${e.message}`, { bad: true });
    }
  }

  setMode(mode) {
    // One request after another, so the server ends on the mode asked for last.
    this.modeQueue = (this.modeQueue ?? Promise.resolve()).then(() => this.postMode(mode));
    return this.modeQueue;
  }

  async postMode(mode) {
    try {
      const s = await api.post(`/sessions/${enc(this.sessionId)}/mode`, { mode });
      this.model.mode = s.permission_mode;
      this.model.headDirty = true;
      this._schedule();
      toast(`Permission mode: ${s.permission_mode}`);
    } catch (e) {
      this.modeWanted = undefined;
      toast(`Mode not changed: ${e.message}`, { bad: true });
      this.modeSel.value = this.model.mode;
    }
  }

  cycleMode() {
    // From the mode asked for last, not the last one confirmed: two quick presses go two steps, as in Claude Code.
    const wanted = nextMode(this.modeWanted ?? this.model.mode);
    this.modeWanted = wanted;
    return this.setMode(wanted).then(() => {
      if (this.modeWanted === wanted) this.modeWanted = undefined;
    });
  }

  // The approval a/d act on: the focused one, else the j/k-selected item's, else the only pending one.
  focusedApproval() {
    const active = document.activeElement;
    let box = active && active.closest ? active.closest('.approval.pending') : null;
    if (!box && active && active.closest) {
      const item = active.closest('[data-item-id]');
      box = item ? item.querySelector('.approval.pending') : null;
    }
    if (!box) {
      const all = this.root.querySelectorAll('.approval.pending');
      if (all.length === 1) box = all[0];
    }
    return box;
  }
}

function focusPath(root, el) {
  if (el.dataset && el.dataset.decision) return `[data-decision="${el.dataset.decision}"]`;
  if (el.tagName === 'SUMMARY') return 'summary';
  return root === el ? ':scope' : null;
}

function refocus(root, selector) {
  const target = selector === ':scope' ? root : root.querySelector(selector);
  if (target && target.focus) target.focus({ preventScroll: true });
}
