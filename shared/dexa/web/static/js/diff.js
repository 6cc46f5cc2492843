// Unified diffs (as Write/Edit report them in tool.completed data.diff), shown unified or side by side.

import { h } from './dom.js';
import { highlightInto, langFor } from './highlight.js';

const MAX_LINES = 1500;
const PREF = 'dexa.diffView';

export function parseDiff(text) {
  const files = [];
  let file = null;
  let hunk = null;
  let oldLn = 0;
  let newLn = 0;
  for (const raw of String(text || '').split('\n')) {
    if (raw.startsWith('--- ')) {
      file = { from: raw.slice(4).trim(), to: '', hunks: [], add: 0, del: 0 };
      files.push(file);
      hunk = null;
      continue;
    }
    if (raw.startsWith('+++ ') && file && !file.to) {
      file.to = raw.slice(4).trim();
      continue;
    }
    const m = raw.match(/^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/);
    if (m) {
      if (!file) { file = { from: '', to: '', hunks: [], add: 0, del: 0 }; files.push(file); }
      hunk = { header: raw, lines: [] };
      file.hunks.push(hunk);
      oldLn = Number(m[1]);
      newLn = Number(m[2]);
      continue;
    }
    if (!hunk) continue;
    const sign = raw[0];
    const body = raw.slice(1);
    if (sign === '+') { hunk.lines.push({ t: 'add', text: body, n: newLn++ }); file.add += 1; }
    else if (sign === '-') { hunk.lines.push({ t: 'del', text: body, o: oldLn++ }); file.del += 1; }
    else if (sign === ' ') hunk.lines.push({ t: 'ctx', text: body, o: oldLn++, n: newLn++ });
  }
  return files;
}

function cleanPath(p) {
  return String(p || '').replace(/^[ab](?=\/)/, '').replace(/\t.*$/, '');
}

function code(text, lang, cls) {
  return highlightInto(h('td', { class: `code-cell ${cls || ''}`.trim() }), text, lang);
}

function unifiedRows(file, lang, limit) {
  const rows = [];
  let count = 0;
  for (const hk of file.hunks) {
    rows.push(h('tr', { class: 'hunk' }, h('td', { colspan: 4 }, hk.header)));
    for (const l of hk.lines) {
      if (count++ >= limit) return { rows, cut: true };
      const sign = l.t === 'add' ? '+' : l.t === 'del' ? '−' : ' ';
      rows.push(h('tr', { class: l.t },
        h('td', { class: 'ln' }, l.o ?? ''), h('td', { class: 'ln' }, l.n ?? ''),
        h('td', { class: 'sign', 'aria-label': l.t === 'add' ? 'added' : l.t === 'del' ? 'removed' : null }, sign),
        code(l.text, lang)));
    }
  }
  return { rows, cut: false };
}

function splitRows(file, lang, limit) {
  const rows = [];
  let count = 0;
  for (const hk of file.hunks) {
    rows.push(h('tr', { class: 'hunk' }, h('td', { colspan: 4 }, hk.header)));
    const lines = hk.lines;
    let i = 0;
    while (i < lines.length) {
      if (count >= limit) return { rows, cut: true };
      if (lines[i].t === 'ctx') {
        const l = lines[i++];
        count += 1;
        rows.push(h('tr', null, h('td', { class: 'ln' }, l.o), code(l.text, lang),
          h('td', { class: 'ln' }, l.n), code(l.text, lang)));
        continue;
      }
      const dels = [];
      const adds = [];
      while (i < lines.length && lines[i].t === 'del') dels.push(lines[i++]);
      while (i < lines.length && lines[i].t === 'add') adds.push(lines[i++]);
      for (let k = 0; k < Math.max(dels.length, adds.length); k++) {
        const a = dels[k];
        const b = adds[k];
        count += 1;
        rows.push(h('tr', null,
          h('td', { class: 'ln' }, a ? a.o : ''), a ? code(a.text, lang, 'del') : h('td', { class: 'empty-cell' }),
          h('td', { class: 'ln' }, b ? b.n : ''), b ? code(b.text, lang, 'add') : h('td', { class: 'empty-cell' })));
      }
    }
  }
  return { rows, cut: false };
}

export function renderDiff(text, { path = '' } = {}) {
  const files = parseDiff(text);
  if (!files.length) return h('pre', { class: 'code', tabindex: '0' }, String(text || ''));
  return h('div', { class: 'stack' }, files.map((f) => renderFile(f, path)));
}

function renderFile(file, fallbackPath) {
  const path = cleanPath(file.to && file.to !== '/dev/null' ? file.to : file.from) || fallbackPath;
  const lang = langFor(path);
  let view = localStorage.getItem(PREF) === 'split' ? 'split' : 'unified';
  let limit = MAX_LINES;
  const scroll = h('div', { class: 'diff-scroll', tabindex: '0', role: 'region', 'aria-label': `Diff of ${path || 'file'}` });
  const uBtn = h('button', { type: 'button', class: 'btn small', 'aria-pressed': 'true' }, 'Unified');
  const sBtn = h('button', { type: 'button', class: 'btn small', 'aria-pressed': 'false' }, 'Side by side');
  const draw = () => {
    const { rows, cut } = view === 'split' ? splitRows(file, lang, limit) : unifiedRows(file, lang, limit);
    const table = h('table', { class: view }, h('caption', { class: 'sr-only' }, `Changes to ${path}`), h('tbody', null, rows));
    const more = cut ? h('button', { type: 'button', class: 'btn small', onclick: () => { limit = Infinity; draw(); } },
      'Show the whole diff') : null;
    scroll.replaceChildren(table, more || '');
    uBtn.setAttribute('aria-pressed', String(view === 'unified'));
    sBtn.setAttribute('aria-pressed', String(view === 'split'));
  };
  uBtn.addEventListener('click', () => { view = 'unified'; localStorage.setItem(PREF, view); draw(); });
  sBtn.addEventListener('click', () => { view = 'split'; localStorage.setItem(PREF, view); draw(); });
  draw();
  return h('div', { class: 'diff' },
    h('div', { class: 'diff-head' }, h('span', { class: 'path' }, path || '(file)'),
      h('span', { class: 'add', 'aria-label': `${file.add} lines added` }, `+${file.add}`),
      h('span', { class: 'del', 'aria-label': `${file.del} lines removed` }, `−${file.del}`),
      h('span', { role: 'group', 'aria-label': 'Diff layout', class: 'row' }, uBtn, sBtn)),
    scroll);
}
