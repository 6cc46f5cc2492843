// Agent text rendered by markdown-it (CommonMark + GFM tables and strikethrough) and sanitised by DOMPurify, both
// vendored from npm (tools/web-vendor): model output is untrusted, so raw HTML is off in the parser and whatever
// markup comes out passes the sanitiser before it reaches the page. Fenced code gets the UI's highlighter.

import '../vendor/markdown-it.min.js'; // a UMD bundle: defines globalThis.markdownit
import DOMPurify from '../vendor/purify.es.js';
import { highlightInto, langFor } from './highlight.js';

const md = globalThis.markdownit({ html: false, linkify: true, breaks: false, typographer: false });

// Headings start at h3: the page owns h1/h2, and a reply's "# Title" must not outrank them.
const SHIFT = { H1: 'h3', H2: 'h4', H3: 'h5', H4: 'h6', H5: 'h6', H6: 'h6' };

export function renderMarkdown(text) {
  const html = md.render(String(text || ''));
  const frag = DOMPurify.sanitize(html, { RETURN_DOM_FRAGMENT: true, FORBID_TAGS: ['style', 'form', 'input'] });
  for (const a of frag.querySelectorAll('a[href]')) {
    if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) { a.replaceWith(...a.childNodes); continue; }
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
  }
  for (const el of frag.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const to = document.createElement(SHIFT[el.tagName]);
    to.append(...el.childNodes);
    el.replaceWith(to);
  }
  for (const code of frag.querySelectorAll('pre > code')) {
    const lang = (code.className.match(/language-([\w+.-]+)/) || [])[1] || '';
    const body = code.textContent.replace(/\n$/, '');
    code.textContent = '';
    highlightInto(code, body, langFor(`x.${lang}`) || lang);
    code.parentElement.tabIndex = 0;
  }
  // Wide tables scroll inside their own box instead of widening the page (390 px screens).
  for (const table of frag.querySelectorAll('table')) {
    const box = document.createElement('div');
    box.className = 'md-table';
    box.tabIndex = 0;
    table.replaceWith(box);
    box.append(table);
  }
  return frag;
}
