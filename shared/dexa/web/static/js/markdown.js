// Agent text as readable blocks: paragraphs, headings, lists, fenced code (highlighted), inline code, bold,
// italics and http(s) links. Built as DOM nodes, so model output can never inject markup.

import { h } from './dom.js';
import { highlightInto, langFor } from './highlight.js';

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*)|\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

function inline(text) {
  const out = [];
  let at = 0;
  INLINE.lastIndex = 0;
  let m;
  while ((m = INLINE.exec(text)) !== null) {
    if (m.index > at) out.push(text.slice(at, m.index));
    if (m[1]) out.push(h('code', null, m[1].slice(1, -1)));
    else if (m[2]) out.push(h('strong', null, m[2].slice(2, -2)));
    else if (m[3]) out.push(h('em', null, m[3].slice(1, -1)));
    else if (m[4]) out.push(h('a', { href: m[5], rel: 'noopener noreferrer', target: '_blank' }, m[4]));
    else if (m[6]) out.push(h('a', { href: m[6], rel: 'noopener noreferrer', target: '_blank' }, m[6]));
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const lines = String(text || '').split('\n');
  let i = 0;
  let para = [];
  const flush = () => {
    if (para.length) frag.append(h('p', null, inline(para.join('\n'))));
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+.-]*)/);
    if (fence) {
      flush();
      const body = [];
      i += 1;
      while (i < lines.length && !/^\s*```/.test(lines[i])) body.push(lines[i++]);
      i += 1;
      const lang = langFor(`x.${fence[1] || ''}`) || fence[1];
      frag.append(h('pre', { tabindex: '0' }, highlightInto(h('code'), body.join('\n'), lang)));
      continue;
    }
    const head = line.match(/^(#{1,4})\s+(.*)$/);
    if (head) {
      flush();
      frag.append(h(`h${Math.min(6, head[1].length + 2)}`, null, inline(head[2])));
      i += 1;
      continue;
    }
    const bullet = line.match(/^\s*([-*]|\d+[.)])\s+(.*)$/);
    if (bullet) {
      flush();
      const ordered = /\d/.test(bullet[1]);
      const list = h(ordered ? 'ol' : 'ul');
      while (i < lines.length) {
        const b = lines[i].match(/^\s*([-*]|\d+[.)])\s+(.*)$/);
        if (!b) break;
        list.append(h('li', null, inline(b[2])));
        i += 1;
      }
      frag.append(list);
      continue;
    }
    if (line.trim() === '') flush();
    else para.push(line);
    i += 1;
  }
  flush();
  return frag;
}
