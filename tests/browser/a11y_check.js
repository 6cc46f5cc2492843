// An axe-core-style audit, run in the page (axe-core itself is an npm package this project does not install).
// It covers axe's serious/critical rules that apply to this UI: names for controls, buttons, links and images,
// ARIA references and roles, duplicate ids, colour contrast (WCAG AA), lang and title, nested interactive
// controls, positive tabindex, list structure and keyboard access to scrollable regions.
// Returns [{rule, impact, target, detail}].
(() => {
  const out = [];
  const ROLES = new Set(['alert', 'alertdialog', 'application', 'article', 'banner', 'button', 'cell', 'checkbox',
    'columnheader', 'combobox', 'complementary', 'contentinfo', 'definition', 'dialog', 'directory', 'document', 'feed',
    'figure', 'form', 'grid', 'gridcell', 'group', 'heading', 'img', 'link', 'list', 'listbox', 'listitem', 'log', 'main',
    'marquee', 'math', 'menu', 'menubar', 'menuitem', 'menuitemcheckbox', 'menuitemradio', 'navigation', 'none', 'note',
    'option', 'presentation', 'progressbar', 'radio', 'radiogroup', 'region', 'row', 'rowgroup', 'rowheader', 'scrollbar',
    'search', 'searchbox', 'separator', 'slider', 'spinbutton', 'status', 'switch', 'tab', 'table', 'tablist', 'tabpanel',
    'term', 'textbox', 'timer', 'toolbar', 'tooltip', 'tree', 'treegrid', 'treeitem']);
  const INTERACTIVE = 'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"]), details > summary';

  const target = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += `#${el.id}`;
    else if (el.className && typeof el.className === 'string') s += `.${el.className.trim().split(/\s+/).join('.')}`;
    return s;
  };
  const add = (rule, impact, el, detail) => out.push({ rule, impact, target: target(el), detail: detail || '' });
  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none';
  };
  const hiddenFromAT = (el) => !!el.closest('[aria-hidden="true"], [hidden]');
  const text = (el) => (el.textContent || '').replace(/\s+/g, ' ').trim();
  const byIds = (ids) => ids.split(/\s+/).filter(Boolean).map((id) => document.getElementById(id));

  function accessibleName(el) {
    const lb = el.getAttribute('aria-labelledby');
    if (lb) {
      const t = byIds(lb).filter(Boolean).map(text).join(' ').trim();
      if (t) return t;
    }
    const al = (el.getAttribute('aria-label') || '').trim();
    if (al) return al;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
      if (el.labels && [...el.labels].some((l) => text(l))) return [...el.labels].map(text).join(' ');
      if (el.type === 'submit' || el.type === 'button') return el.value || '';
    }
    if (el.tagName === 'IMG') return el.getAttribute('alt') || '';
    const own = text(el) || [...el.querySelectorAll('img[alt]')].map((i) => i.alt).join(' ');
    if (own) return own;
    return (el.getAttribute('title') || '').trim();
  }

  // document-level
  if (!document.documentElement.lang) add('html-has-lang', 'serious', document.documentElement);
  if (!document.title.trim()) add('document-title', 'serious', document.documentElement);

  const all = [...document.querySelectorAll('body *')].filter((el) => !hiddenFromAT(el));

  // duplicate ids
  const seen = new Map();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) add('duplicate-id', 'serious', el, `id "${el.id}" is used twice`);
    seen.set(el.id, el);
  }

  for (const el of all) {
    const tag = el.tagName;
    const role = el.getAttribute('role');
    if (role && !role.split(/\s+/).every((r) => ROLES.has(r))) add('aria-roles', 'critical', el, `role="${role}"`);
    for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls']) {
      const v = el.getAttribute(attr);
      if (v && byIds(v).some((x) => !x)) add('aria-valid-attr-value', 'critical', el, `${attr}="${v}" names a missing id`);
    }
    const ti = el.getAttribute('tabindex');
    if (ti && Number(ti) > 0) add('tabindex', 'serious', el, `tabindex=${ti}`);
    if (!visible(el)) continue;

    if (tag === 'IMG' && !el.hasAttribute('alt') && role !== 'presentation' && role !== 'none') add('image-alt', 'critical', el);
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(tag) && !['hidden', 'submit', 'button', 'reset'].includes(el.type) && !accessibleName(el)) {
      add('label', 'critical', el, 'form control without a label');
    }
    if ((tag === 'BUTTON' || role === 'button') && !accessibleName(el)) add('button-name', 'critical', el);
    if (tag === 'A' && el.hasAttribute('href') && !accessibleName(el)) add('link-name', 'serious', el);
    if ((tag === 'BUTTON' || (tag === 'A' && el.hasAttribute('href'))) && el.querySelector(INTERACTIVE)) {
      add('nested-interactive', 'serious', el);
    }
    if ((tag === 'UL' || tag === 'OL') && !role) {
      for (const c of el.children) if (!/^(LI|SCRIPT|TEMPLATE)$/.test(c.tagName)) { add('list', 'serious', el, `<${c.tagName.toLowerCase()}> in a list`); break; }
    }
    if (tag === 'DL') {
      for (const c of el.children) if (!/^(DT|DD|DIV|SCRIPT|TEMPLATE)$/.test(c.tagName)) { add('definition-list', 'serious', el, `<${c.tagName.toLowerCase()}> in a dl`); break; }
    }
    // Scrollable regions must be reachable by keyboard (focusable themselves or holding something focusable).
    const s = getComputedStyle(el);
    const scrolls = (el.scrollHeight > el.clientHeight + 2 && /(auto|scroll)/.test(s.overflowY)) ||
      (el.scrollWidth > el.clientWidth + 2 && /(auto|scroll)/.test(s.overflowX));
    if (scrolls && el !== document.scrollingElement && el.tabIndex < 0 && !el.querySelector(INTERACTIVE) && tag !== 'TEXTAREA' && tag !== 'SELECT') {
      add('scrollable-region-focusable', 'serious', el);
    }
  }

  // colour contrast (WCAG 2 AA)
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const blend = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const lum = (c) => {
    const f = (v) => { const x = v / 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const st = getComputedStyle(n);
      if (st.backgroundImage && st.backgroundImage !== 'none') return null; // cannot judge; axe reports "needs review"
      const c = parse(st.backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    if (layers.length && layers[layers.length - 1].a >= 1) bg = layers.pop();
    while (layers.length) bg = blend(layers.pop(), bg);
    return bg;
  };
  for (const el of all) {
    if (!visible(el) || el.closest('[disabled], [aria-disabled="true"]') || el.disabled) continue;
    const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!hasText) continue;
    const st = getComputedStyle(el);
    if (Number(st.opacity) < 1) continue;
    const fg = parse(st.color);
    const bg = background(el);
    if (!fg || !bg) continue;
    const color = fg.a < 1 ? blend(fg, bg) : fg;
    const [hi, lo] = [lum(color), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(st.fontSize);
    const bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio + 0.01 < need) add('color-contrast', 'serious', el, `${ratio.toFixed(2)}:1 < ${need}:1 for "${text(el).slice(0, 40)}"`);
  }
  return out;
})();
