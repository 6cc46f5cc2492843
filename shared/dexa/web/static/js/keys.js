// Global keyboard shortcuts. Pages get first say through their onKey(event) hook; letters never fire while the
// user types in a field.

import { currentPage, navigate } from './router.js';

function typing(el) {
  if (!el) return false;
  const tag = el.tagName;
  return el.isContentEditable || tag === 'TEXTAREA' || tag === 'SELECT' ||
    (tag === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(el.type));
}

export function navItems() {
  const list = document.querySelector('main [data-nav-list]');
  return list ? [...list.querySelectorAll('[data-nav-item]')].filter((el) => el.offsetParent !== null) : [];
}

export function move(delta) {
  const items = navItems();
  if (!items.length) return;
  const active = document.activeElement;
  let i = items.findIndex((el) => el === active || el.contains(active));
  i = i < 0 ? (delta > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, i + delta));
  items.forEach((el) => el.classList.remove('nav-focus'));
  const el = items[i];
  if (!el.hasAttribute('tabindex') && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) el.setAttribute('tabindex', '-1');
  el.classList.add('nav-focus');
  el.focus();
  el.scrollIntoView({ block: 'nearest' });
}

let pendingG = false;

export function install() {
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented) return;
    const page = currentPage();
    if (page && page.onKey && page.onKey(e)) { e.preventDefault(); return; }
    if (e.key === 'Escape' && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (pendingG) {
      pendingG = false;
      const to = { t: '/', r: '/ui/review', i: '/ui/integrations', c: '/ui/config' }[e.key];
      if (to) { e.preventDefault(); navigate(to); }
      return;
    }
    switch (e.key) {
      case '/': {
        const box = document.querySelector('main [data-task-box]');
        if (box) { e.preventDefault(); box.focus(); }
        else { e.preventDefault(); navigate('/').then(() => { const b = document.querySelector('main [data-task-box]'); if (b) b.focus(); }); }
        break;
      }
      case '?':
        e.preventDefault();
        showShortcuts();
        break;
      case 'j':
        e.preventDefault();
        move(1);
        break;
      case 'k':
        e.preventDefault();
        move(-1);
        break;
      case 'g':
        pendingG = true;
        setTimeout(() => { pendingG = false; }, 1200);
        break;
      default:
        break;
    }
  });
}

export function showShortcuts() {
  const dlg = document.getElementById('shortcuts');
  if (dlg && !dlg.open) dlg.showModal();
}
