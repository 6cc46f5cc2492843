// /ui/sessions/{id}/checkpoints: pick a point on the timeline, choose conversation / code / both, read what a
// rewind cannot undo (the side-effect ledger), confirm, and see the report (conflicts offer overwrite or copies).

import { api, enc } from '../api.js';
import { badge, clear, fmtTime, h, nextId, pretty, toast, unavailable, fill } from '../dom.js';
import { RunModel } from '../run_model.js';
import { url } from '../config.js';

// Checkpoint id -> "before Edit totals.py" / "after turn 2", read from the session's events the way the run view
// labels them (the checkpoint records hold only ids). Best effort: bounded, and ids stay as the fallback.
async function checkpointLabels(sessionId) {
  const model = new RunModel(sessionId);
  let after = 0;
  for (let page = 0; page < 40; page += 1) {
    const res = await fetch(url(`/sessions/${enc(sessionId)}/events?mode=poll&after=${after}`), { credentials: 'same-origin' });
    if (!res.ok) break;
    const evs = (await res.text()).split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
    if (!evs.length) break;
    model.apply(evs);
    after = evs[evs.length - 1].seq;
  }
  return new Map(model.checkpoints.map((cp) => [cp.id, cp.label]));
}

const MODES = [
  ['both', 'Code and conversation', 'Files go back to this point and later messages are hidden.'],
  ['code', 'Code only', 'Files go back; the conversation stays.'],
  ['conversation', 'Conversation only', 'Later messages are hidden; files stay as they are.'],
];

// Events after a checkpoint that a rewind cannot undo: executed outputs (sent email, posted message...).
async function effectsFromEvents(sessionId, cp) {
  const out = [];
  let after = 0;
  let from = null;
  for (let page = 0; page < 50; page++) {
    const res = await fetch(url(`/sessions/${enc(sessionId)}/events?mode=poll&after=${after}`), { credentials: 'same-origin' });
    if (!res.ok) break;
    const text = await res.text();
    const evs = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
    if (!evs.length) break;
    for (const ev of evs) {
      after = ev.seq;
      if (ev.type === 'checkpoint.created' && (ev.data.checkpoint_id === cp.id || ev.data.id === cp.id)) from = ev.seq;
      if (from != null && ev.seq > from && ev.type === 'output.executed' && ev.data.ok !== false) {
        out.push({ kind: 'output', summary: `output ${ev.data.output_id} was executed`, reversible: false, data: ev.data.result });
      }
    }
  }
  return out;
}

async function ledgerFor(sessionId, cp) {
  // GET /sessions/{id}/side-effects; a server without the ledger read gets it derived from the event log.
  try {
    const res = await api.get(`/sessions/${enc(sessionId)}/side-effects`);
    return { effects: (res.data || []).filter((e) => (e.checkpoint_seq ?? 0) >= (cp.seq ?? 0)), derived: false };
  } catch (e) {
    if (!e.unavailable) throw e;
    return { effects: await effectsFromEvents(sessionId, cp), derived: true };
  }
}

export function mount(root, params, query) {
  const sessionId = decodeURIComponent(params.id);
  const list = h('ul', { class: 'ckpts', 'data-nav-list': '', 'aria-label': 'Checkpoints, newest first' });
  const side = h('div', { class: 'panel stack' });
  const report = h('div', { class: 'stack', 'aria-live': 'polite' });
  fill(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Checkpoints'),
      h('a', { href: `/ui/sessions/${enc(sessionId)}`, 'data-link': '', class: 'btn small' }, '← Back to the run')),
    h('div', { class: 'split-2' }, h('section', { class: 'panel', 'aria-label': 'Timeline' }, list),
      h('div', { class: 'stack' }, side, report)));
  document.title = 'Checkpoints · Dexa';
  const state = { cps: [], selected: null, mode: 'both' };

  function renderSide() {
    const cp = state.selected;
    clear(side);
    if (!cp) { side.append(h('p', { class: 'muted' }, 'Pick a checkpoint on the timeline.')); return; }
    const legendId = nextId('lg');
    const radios = MODES.map(([value, label, hint]) => {
      const id = nextId('m');
      const input = h('input', { type: 'radio', name: 'rewind-mode', id, value, checked: state.mode === value });
      input.addEventListener('change', () => { state.mode = value; });
      return h('div', null, h('label', { for: id, class: 'row' }, input, ` ${label}`), h('div', { class: 'small muted' }, hint));
    });
    const ledgerBox = h('div', { class: 'stack' }, h('p', { class: 'small muted' }, 'Checking what cannot be undone…'));
    const confirm = h('button', { type: 'button', class: 'btn primary', disabled: true }, 'Rewind…');
    side.append(
      h('h2', null, `Rewind to ${cp.id}`),
      h('p', { class: 'small' }, `${cp.reason || 'checkpoint'} · ${fmtTime(cp.created_at)}`, cp.files != null ? ` · ${cp.files} file(s)` : ''),
      h('fieldset', { 'aria-labelledby': legendId }, h('legend', { id: legendId }, 'What to rewind'), radios),
      h('h3', null, 'Side effects a rewind will not undo'), ledgerBox, h('div', { class: 'row' }, confirm));
    ledgerFor(sessionId, cp).then(({ effects, derived }) => {
      clear(ledgerBox);
      if (derived) ledgerBox.append(h('p', { class: 'small muted' }, 'From the event log (this server has no side-effect ledger endpoint).'));
      if (!effects.length) ledgerBox.append(h('p', { class: 'small', dataset: { ledger: 'empty' } }, 'None recorded after this point.'));
      else ledgerBox.append(h('ul', { dataset: { ledger: 'list' } }, effects.map((e) => h('li', null,
        badge(e.kind || 'effect', e.reversible ? 'warn' : 'bad'), ' ', e.summary || pretty(e.data),
        e.reversible ? h('span', { class: 'small muted' }, ' (can be compensated separately)') : h('span', { class: 'small muted' }, ' (cannot be undone)')))));
      confirm.disabled = false;
      confirm.focus();
    }).catch((e) => {
      fill(ledgerBox, unavailable('The side-effect ledger', e));
      confirm.disabled = false;
    });
    confirm.addEventListener('click', () => askConfirm(ledgerBox));
  }

  function askConfirm(ledgerBox) {
    const cp = state.selected;
    const what = { both: 'code and conversation', code: 'code', conversation: 'conversation' }[state.mode];
    const dlg = h('dialog', { 'aria-labelledby': 'rw-title' },
      h('h2', { id: 'rw-title' }, `Rewind ${what} to ${cp.id}?`),
      h('p', null, 'These side effects stay as they are:'), ledgerBox.cloneNode(true),
      h('form', { method: 'dialog', class: 'row' },
        h('button', { class: 'btn', value: 'cancel' }, 'Cancel'),
        h('button', { class: 'btn primary', value: 'ok', autofocus: true }, 'Confirm rewind')));
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (dlg.returnValue === 'ok') rewind('ask');
    });
    document.body.append(dlg);
    dlg.showModal();
  }

  async function rewind(onConflict) {
    const cp = state.selected;
    try {
      const res = await api.post(`/sessions/${enc(sessionId)}/rewind`, { checkpoint_id: cp.id, mode: state.mode, on_conflict: onConflict });
      showReport(res.details || {});
    } catch (e) {
      toast(e.code === 'session_busy' ? 'A turn is running: abort it before rewinding.' : `Rewind failed: ${e.message}`, { bad: true });
    }
  }

  function showReport(d) {
    const box = h('div', { class: 'stack', role: 'status', dataset: { rewind: d.status || 'ok' } });
    if (d.status === 'conflict') {
      box.append(h('div', { class: 'notice bad' }, h('strong', null, 'Files changed since Dexa last saw them. '), 'Nothing was rewound.'),
        h('ul', null, (d.conflicts || []).map((c) => h('li', null, h('code', null, typeof c === 'string' ? c : c.path || pretty(c))))),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'btn', onclick: () => rewind('keep_copy') }, 'Keep copies, then rewind'),
          h('button', { type: 'button', class: 'btn bad', onclick: () => rewind('overwrite') }, 'Overwrite them')));
    } else {
      const n = (k) => (Array.isArray(d[k]) ? d[k].length : d[k]);
      box.append(h('div', { class: 'notice info' }, h('strong', null, `Rewound to ${d.checkpoint_id || state.selected.id}. `),
        [n('restored') != null ? `${n('restored')} file(s) restored. ` : '', n('deleted') != null ? `${n('deleted')} removed. ` : '',
          d.messages_hidden != null ? `${d.messages_hidden} message(s) hidden. ` : '',
          d.undo_checkpoint_id ? `Undo with checkpoint ${d.undo_checkpoint_id}.` : ''].join('')));
      const fx = d.side_effects || [];
      if (fx.length) box.append(h('p', null, `${fx.length} side effect(s) were not undone:`), h('ul', null, fx.map((e) => h('li', null, e.summary || e.kind))));
      load();
    }
    fill(report, h('section', { class: 'panel' }, box));
    box.scrollIntoView({ block: 'nearest' });
  }

  async function load() {
    try {
      const res = await api.get(`/sessions/${enc(sessionId)}/checkpoints`);
      state.cps = res.data;
    } catch (e) {
      fill(list, h('li', null, unavailable('Rewind (checkpoints)', e)));
      clear(side);
      return;
    }
    // The ledger on the timeline: each checkpoint shows what happened outside the workspace while it was current.
    let effects = [];
    try { effects = (await api.get(`/sessions/${enc(sessionId)}/side-effects`)).data || []; } catch { /* optional */ }
    const byCheckpoint = new Map();
    for (const e of effects) {
      const key = e.checkpoint_id || '';
      byCheckpoint.set(key, [...(byCheckpoint.get(key) || []), e]);
    }
    clear(list);
    if (!state.cps.length) list.append(h('li', { class: 'empty' }, 'No checkpoints yet: one is taken at every prompt and before edits.'));
    const want = query.get('select');
    let labels = new Map();
    try { labels = await checkpointLabels(sessionId); } catch { /* ids it is */ }
    for (const cp of state.cps) {
      const id = nextId('cp');
      const input = h('input', { type: 'radio', name: 'checkpoint', id, value: cp.id, checked: state.selected ? state.selected.id === cp.id : cp.id === want });
      input.addEventListener('change', () => { state.selected = cp; renderSide(); });
      list.append(h('li', null, h('label', { class: 'ckpt', for: id, dataset: { navItem: '' }, tabindex: '-1' }, input,
        h('span', null, h('span', { class: 'what' }, labels.get(cp.id) || `${cp.reason || 'checkpoint'}`),
          h('span', { class: 'small muted' }, ` ${cp.id}`), h('br'),
          h('span', { class: 'small muted' }, `${fmtTime(cp.created_at)}${cp.changed != null ? ` · ${cp.changed} changed` : ''}${cp.files != null ? ` · ${cp.files} file(s)` : ''}${cp.message_id ? ` · after ${cp.message_id}` : ''}`),
          (byCheckpoint.get(cp.id) || []).length ? h('span', { class: 'small', dataset: { timelineEffects: cp.id } }, byCheckpoint.get(cp.id).map((e) => [h('br'),
            badge(e.reversible ? 'compensable' : 'irreversible', e.reversible ? 'warn' : 'bad'), ` ${e.summary || e.kind}`])) : null))));
    }
    if (!state.selected && want) state.selected = state.cps.find((c) => c.id === want) || null;
    renderSide();
  }
  load();
  return {};
}
