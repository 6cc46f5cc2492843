// The run view's state, built only from events (pure: no DOM). Each timeline item carries a version that bumps
// when it changes, so the view re-renders just the items that moved since the last frame.

import { brief } from './brief.js';

export class RunModel {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.items = []; // timeline order
    this.byId = new Map();
    this.todos = [];
    this.usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    this.cost = 0;
    this.mode = 'default';
    this.status = 'idle';
    this.turn = null;
    this.lastTurn = null; // the turn a checkpoint taken just after turn.completed belongs to
    this.model = '';
    this.lastSeq = 0;
    this.seen = 0; // events applied (a check for the tests: never more than lastSeq)
    this.pending = new Map(); // approval_id -> item id holding it
    this.outputs = new Map();
    this.checkpoints = [];
    this.dirty = new Set();
    this.headDirty = true;
    this.seededSeq = 0; // usage events up to here are already in the seeded totals
    this.startSeq = 0; // events before this one were not loaded (the view loads history from the tail)
  }

  // Seed totals from GET /sessions/{id} (events then keep them current).
  seed(session) {
    if (!session) return;
    this.mode = session.permission_mode || this.mode;
    this.status = session.status || this.status;
    this.turn = session.turn;
    this.model = session.model || '';
    if (session.usage) this.usage = { ...this.usage, ...session.usage };
    this.cost = session.cost_usd || 0;
    this.seededSeq = session.last_seq || 0;
    this.headDirty = true;
  }

  // State that began before the loaded tail: pending approvals, staged outputs and the todo list (from REST).
  seedBefore(startSeq, { approvals = [], outputs = [], todos = null } = {}) {
    this.startSeq = startSeq;
    this.lastSeq = startSeq;
    if (todos) this.todos = todos;
    for (const o of outputs) {
      const it = this._item(`o${o.id}`, () => ({ kind: 'output', output: { id: o.id } }));
      Object.assign(it.output, { kind: o.kind, tool: o.tool, integration: o.integration, summary: o.summary,
        arguments: o.arguments, status: o.status, result: o.result, error: o.error });
      this.outputs.set(o.id, it.output);
      this._touch(it);
    }
    for (const a of approvals) {
      this._apply({ seq: 0, ts: a.created_at, type: 'permission.required', data: {
        approval_id: a.id, tool_use_id: a.tool_use_id, tool_name: a.tool_name, input: a.input, reason: a.reason,
        rule: a.rule, source: a.source, kind: a.kind, suggestions: a.suggestions } });
      const it = this.byId.get(this.pending.get(a.id));
      if (it && it.kind === 'tool' && !it.name) it.name = a.tool_name;
    }
    this.headDirty = true;
  }

  _item(id, make) {
    let it = this.byId.get(id);
    if (!it) {
      it = { id, version: 0, ...make() };
      this.byId.set(id, it);
      this.items.push(it);
    }
    return it;
  }

  _touch(it) {
    it.version += 1;
    this.dirty.add(it.id);
  }

  _notice(ev, level, text) {
    const it = this._item(`n${ev.seq}`, () => ({ kind: 'notice', level, text, ts: ev.ts, type: ev.type }));
    this._touch(it);
  }

  apply(events) {
    for (const ev of events) {
      if (ev.live) { this._apply(ev); continue; } // a delta outside the log: its final message follows in it
      if (ev.seq <= this.lastSeq) continue;
      this.lastSeq = ev.seq;
      this.seen += 1;
      this._apply(ev);
    }
  }

  _tool(id, name) {
    return this._item(id, () => ({
      kind: 'tool', name: name || 'tool', input: {}, status: 'requested', content: '', data: null, isError: false,
      decision: null, approval: null, progress: [], subagents: [], ts: 0,
    }));
  }

  _apply(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case 'session.created':
        if (d.permission_mode) this.mode = d.permission_mode;
        if (d.model) this.model = d.model;
        this.headDirty = true;
        break;
      case 'turn.started': {
        this.turn = d.turn;
        this.lastTurn = d.turn;
        this.status = 'running';
        this.headDirty = true;
        const it = this._item(`u${d.turn}-${ev.seq}`, () => ({ kind: 'user', text: d.prompt || '', turn: d.turn, ts: ev.ts }));
        this._touch(it);
        break;
      }
      case 'message.delta':
      case 'message.thinking_delta': {
        const thinking = ev.type === 'message.thinking_delta';
        const id = `${thinking ? 'th' : 'm'}${d.message_id || ev.seq}`;
        const it = this._item(id, () => ({ kind: thinking ? 'thinking' : 'assistant', text: '', streaming: true, ts: ev.ts }));
        it.text += d.text || '';
        this._touch(it);
        break;
      }
      case 'message.assistant': {
        const msg = d.message || {};
        const blocks = Array.isArray(msg.content) ? msg.content : [];
        const text = blocks.filter((b) => b && b.type === 'text').map((b) => b.text || '').join('');
        const id = `m${msg.id || ev.seq}`;
        if (text || this.byId.has(id)) {
          const it = this._item(id, () => ({ kind: 'assistant', text: '', streaming: false, ts: ev.ts }));
          if (text) it.text = text;
          it.streaming = false;
          this._touch(it);
        }
        const th = this.byId.get(`th${msg.id}`);
        if (th) { th.streaming = false; this._touch(th); }
        break;
      }
      case 'tool.requested': {
        const it = this._tool(d.tool_use_id, d.name);
        it.name = d.name || it.name;
        it.input = d.input || {};
        it.ts = ev.ts;
        this._touch(it);
        break;
      }
      case 'tool.started': {
        const it = this._tool(d.tool_use_id, d.name);
        it.status = 'running';
        if (d.input) it.input = d.input;
        it.startedAt = ev.ts;
        this._touch(it);
        break;
      }
      case 'tool.output': {
        const it = this._tool(d.tool_use_id, d.name);
        it.progress.push(d);
        if (it.progress.length > 200) it.progress.shift();
        this._touch(it);
        break;
      }
      case 'tool.completed': {
        const it = this._tool(d.tool_use_id, d.name);
        it.status = d.status || (d.is_error ? 'failed' : 'done');
        it.isError = !!d.is_error;
        it.content = d.content || '';
        it.data = d.data || null;
        if (d.decision) it.decision = d.decision;
        it.doneAt = ev.ts;
        this._touch(it);
        break;
      }
      case 'permission.required': {
        const approval = {
          id: d.approval_id, toolUseId: d.tool_use_id, tool: d.tool_name, input: d.input || {}, reason: d.reason || '',
          rule: d.rule, source: d.source, kind: d.kind, suggestions: d.suggestions || [],
          options: d.options || ['once', 'always', 'deny'], status: 'pending', subagent: !!d.subagent,
          agentType: d.agent_type, ts: ev.ts,
        };
        let it = !d.subagent && d.tool_use_id ? this.byId.get(d.tool_use_id) : null;
        if (it && it.kind === 'tool') {
          it.approval = approval;
          it.status = 'waiting';
        } else {
          it = this._item(`a${d.approval_id}`, () => ({ kind: 'approval', approval }));
          it.approval = approval;
        }
        this.pending.set(d.approval_id, it.id);
        this.status = 'waiting';
        this.headDirty = true;
        this._touch(it);
        break;
      }
      case 'permission.resolved': {
        const holder = this.byId.get(this.pending.get(d.approval_id)) ||
          this.byId.get(d.tool_use_id) || this.byId.get(`a${d.approval_id}`);
        if (holder && holder.approval) {
          holder.approval.status = d.decision || 'allowed';
          holder.approval.scope = d.scope;
          holder.approval.by = d.by;
          if (holder.kind === 'tool' && holder.status === 'waiting') holder.status = d.decision === 'denied' ? 'denied' : 'requested';
          this._touch(holder);
        }
        this.pending.delete(d.approval_id);
        if (this.status === 'waiting' && this.pending.size === 0) this.status = 'running';
        this.headDirty = true;
        break;
      }
      case 'permission.mode_changed':
        this.mode = d.to || this.mode;
        this.headDirty = true;
        this._notice(ev, 'info', `Permission mode: ${d.from} → ${d.to}`);
        break;
      case 'subagent.started':
      case 'subagent.completed': {
        const parent = d.parent_tool_use_id ? this.byId.get(d.parent_tool_use_id) : null;
        const holder = parent && parent.kind === 'tool' ? parent
          : this._item(`s${d.session_id}`, () => ({ kind: 'subagent', subagents: [] }));
        let sub = holder.subagents.find((s) => s.sessionId === d.session_id);
        if (!sub) {
          sub = { sessionId: d.session_id, agentType: d.agent_type, description: d.description || '', status: 'running' };
          holder.subagents.push(sub);
        }
        if (ev.type === 'subagent.completed') {
          sub.status = d.status || 'completed';
          sub.cost = d.cost_usd;
          sub.result = d.result;
          sub.tools = d.total_tool_use_count;
        }
        this._touch(holder);
        break;
      }
      case 'todo.updated':
        this.todos = Array.isArray(d.todos) ? d.todos : [];
        this.headDirty = true;
        break;
      case 'usage':
        if (d.usage && ev.seq > this.seededSeq) for (const k of Object.keys(this.usage)) this.usage[k] += Number(d.usage[k]) || 0;
        if (d.total_cost_usd != null) this.cost = d.total_cost_usd;
        this.headDirty = true;
        break;
      case 'output.staged': {
        // The runtime's event carries the output's review summary (`id`, `target`, `preview`); older events and
        // the API's queue carry `output_id`. Either names the output, so several staged outputs stay several.
        const oid = d.output_id || d.id;
        const it = this._item(`o${oid}`, () => ({ kind: 'output', output: { id: oid } }));
        Object.assign(it.output, {
          kind: d.kind, tool: d.tool, integration: d.integration || d.server,
          summary: d.summary || d.preview || (d.target ? `${d.kind || 'output'} to ${d.target}` : ''),
          arguments: d.arguments, status: d.auto ? 'approved' : 'pending', auto: !!d.auto,
        });
        this.outputs.set(oid, it.output);
        this.headDirty = true;
        this._touch(it);
        break;
      }
      case 'output.approved':
      case 'output.rejected':
      case 'output.executed': {
        const it = this.byId.get(`o${d.output_id || d.id}`);
        if (!it) break;
        const o = it.output;
        if (ev.type === 'output.approved') { o.status = 'approved'; o.edited = d.edited; if (d.arguments) o.arguments = d.arguments; }
        if (ev.type === 'output.rejected') { o.status = 'rejected'; o.reason = d.reason; }
        if (ev.type === 'output.executed') {
          const failed = d.ok === false || d.status === 'failed';
          o.status = failed ? 'failed' : 'executed';
          o.result = d.result;
          o.error = d.error || (failed ? 'the integration reported a failure without a reason' : '');
        }
        this.headDirty = true;
        this._touch(it);
        break;
      }
      case 'checkpoint.created': {
        const cp = { id: d.checkpoint_id || d.id, reason: d.reason, ts: d.created_at || ev.ts, changed: d.changed, seq: ev.seq };
        cp.label = this.checkpointLabel(d);
        this.checkpoints.push(cp);
        const it = this._item(`c${ev.seq}`, () => ({ kind: 'checkpoint', checkpoint: cp }));
        this._touch(it);
        break;
      }
      case 'turn.completed':
      case 'turn.failed':
      case 'turn.cancelled':
      case 'turn.paused': {
        this.status = { 'turn.completed': 'idle', 'turn.failed': 'failed', 'turn.cancelled': 'idle', 'turn.paused': 'paused' }[ev.type];
        if (d.total_cost_usd != null) this.cost = d.total_cost_usd;
        if (d.usage) this.usage = { ...this.usage, ...d.usage };
        this.turn = ev.type === 'turn.paused' ? this.turn : null;
        for (const it of this.items) {
          if ((it.kind === 'assistant' || it.kind === 'thinking') && it.streaming) { it.streaming = false; this._touch(it); }
          // An aborted or failed turn sends no tool.completed for the call it cut off; without this the card
          // would say "running" forever (and again after a reload, which replays the same events).
          if (ev.type !== 'turn.paused' && ev.type !== 'turn.completed' && it.kind === 'tool' &&
              (it.status === 'running' || it.status === 'requested' || it.status === 'waiting')) {
            it.status = ev.type === 'turn.cancelled' ? 'aborted' : 'interrupted';
            it.doneAt = ev.ts;
            this._touch(it);
          }
        }
        this.headDirty = true;
        if (ev.type === 'turn.completed') {
          const denials = d.permission_denials || [];
          this._notice(ev, 'done', `Turn ${d.turn} done${d.duration_ms ? ` in ${(d.duration_ms / 1000).toFixed(1)} s` : ''}` +
            `${denials.length ? ` · ${denials.length} permission denial(s)` : ''}`);
        } else if (ev.type === 'turn.failed') this._notice(ev, 'bad', `Turn failed: ${d.error || d.subtype || 'error'}`);
        else if (ev.type === 'turn.cancelled') this._notice(ev, 'bad', 'Turn aborted');
        else this._notice(ev, 'warn', `Paused: ${d.reason || 'waiting'}`);
        break;
      }
      case 'session.idle':
        this.status = d.status === 'failed' ? 'failed' : 'idle';
        this.headDirty = true;
        break;
      case 'session.ended':
        this.status = d.status || 'completed';
        this.headDirty = true;
        break;
      case 'error':
        this._notice(ev, 'bad', `Error${d.code ? ` (${d.code})` : ''}: ${d.message || ''}`);
        break;
      case 'warning':
      case 'config.error':
        this._notice(ev, 'warn', d.message ? `${d.file ? `${d.file}: ` : ''}${d.message}` : JSON.stringify(d));
        break;
      case 'model.retry':
        this._notice(ev, 'warn', `Model busy; retrying${d.attempt ? ` (attempt ${d.attempt})` : ''}…`);
        break;
      case 'hook':
        if (d.blocked) this._notice(ev, 'warn', `${d.event} hook blocked: ${d.reason || ''}`);
        break;
      case 'context.compacted':
        this._notice(ev, 'info', 'Context compacted');
        break;
      case 'session.rewound':
        this._notice(ev, 'info', `Rewound ${d.mode || ''} to ${d.checkpoint_id}` +
          `${d.restored_count != null ? ` · ${d.restored_count} file(s) restored` : ''}` +
          `${d.messages_hidden != null ? ` · ${d.messages_hidden} message(s) hidden` : ''}`);
        break;
      case 'session.forked':
        this._notice(ev, 'info', `Forked into ${d.child_id}`);
        break;
      default:
        break;
    }
  }

  // "before Edit totals.py", "after turn 2": what a person recognises, instead of the checkpoint's id.
  checkpointLabel(d) {
    const tool = d.tool_use_id ? this.byId.get(d.tool_use_id) : null;
    if (tool && tool.kind === 'tool') {
      const what = brief(tool.name, tool.input);
      const short = what.includes('/') && !what.includes(' ') ? what.split('/').pop() : what;
      return `before ${tool.name}${short ? ` ${short.slice(0, 60)}` : ''}`;
    }
    const turn = this.turn ?? this.lastTurn;
    const labels = {
      rewind: 'before the rewind', prompt: turn != null ? `before turn ${turn}` : 'before a prompt',
      turn_end: turn != null ? `after turn ${turn}` : 'after a turn',
    };
    return labels[d.reason] || (turn != null ? `turn ${turn} · ${d.reason || 'auto'}` : `${d.reason || 'auto'} checkpoint`);
  }

  pendingApprovals() {
    return [...this.pending.values()].map((id) => this.byId.get(id)).filter(Boolean);
  }

  takeDirty() {
    const out = this.dirty;
    this.dirty = new Set();
    return out;
  }
}
