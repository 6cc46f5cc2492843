// Tiny DOM helpers: every page builds nodes with h(), never with innerHTML, so event text cannot inject markup.

import { url } from './config.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'indeterminate') el[k] = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'href') el.setAttribute(k, url(String(v)));  // an app path: under the stage when there is one
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  add(el, children);
  return el;
}

export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let uid = 0;
export function nextId(prefix = 'x') {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function field(label, control, hint) {
  if (!control.id) control.id = nextId('f');
  const hintEl = hint ? h('span', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(ts * 1000);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function fmtAgo(ts) {
  if (!ts) return '';
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtCost(usd) {
  const v = Number(usd) || 0;
  return v < 0.01 && v > 0 ? `$${v.toFixed(4)}` : `$${v.toFixed(2)}`;
}

export function fmtTokens(n) {
  const v = Number(n) || 0;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return String(v);
}

export function fmtMs(ms) {
  if (ms == null) return '';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function pretty(value) {
  if (typeof value === 'string') return value;
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

export function toast(message, { bad = false, ms = 4000 } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast${bad ? ' bad' : ''}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}`.trim() }, text);
}

export function statusKind(status) {
  return {
    completed: 'ok', executed: 'ok', done: 'ok', allowed: 'ok', idle: '', connected: 'ok', configured: 'accent',
    running: 'accent', waiting: 'warn', pending: 'warn', paused: 'warn', approved: 'accent',
    failed: 'bad', denied: 'bad', rejected: 'bad', cancelled: 'bad', interrupted: 'bad', aborted: 'bad', error: 'bad',
    disconnected: 'bad',
  }[status] || '';
}

// A notice that says which endpoint is missing, instead of a broken page.
export function unavailable(what, err) {
  const why = err && err.status ? ` (${err.status}${err.code ? ` ${err.code}` : ''})` : '';
  return h('div', { class: 'notice', role: 'note' },
    h('strong', null, `${what} is not available on this server${why}. `),
    err && err.detail && err.status !== 404 ? h('span', null, err.detail) : null);
}

// Replace el's children (null/false children are skipped, unlike Element.append which prints "null").
export function fill(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}
