// Client-side routing over the History API: every UI URL is also a server route serving the same shell,
// so reloads and shared links land on the same page. Routes and navigate() take app paths (no stage prefix).

import { appPath, url } from './config.js';

const routes = [];
let current = null;
let root = null;
let onChange = () => {};
let renders = 0; // the newest render owns the page

export function route(pattern, load) {
  routes.push({ pattern, load });
}

export function start(mainEl, changed) {
  root = mainEl;
  onChange = changed || onChange;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[data-link]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const target = new URL(a.href, location.href);
    if (target.origin !== location.origin) return;
    e.preventDefault();
    navigate(appPath(target.pathname) + target.search + target.hash);
  });
  return render();
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url(path));
  else history.pushState(null, '', url(path));
  return render();
}

export function currentPage() {
  return current;
}

async function render() {
  const mine = ++renders;
  const path = appPath(location.pathname).replace(/\/+$/, '') || '/';
  const query = new URLSearchParams(location.search);
  if (current && current.unmount) current.unmount();
  current = null;
  for (const r of routes) {
    const m = path.match(r.pattern);
    if (!m) continue;
    const mod = await r.load();
    // A later navigation went on while this page's module loaded: mounting now would put this page over that one
    // (under the other's URL) and leave it never unmounted. The newer render settles what is shown.
    if (mine !== renders) return null;
    root.replaceChildren();
    const page = (await mod.mount(root, m.groups || {}, query)) || {};
    if (mine !== renders) {
      if (page.unmount) page.unmount();
      return null;
    }
    current = page;
    current.name = mod.name || r.pattern.source;
    onChange(path);
    return current;
  }
  root.replaceChildren(Object.assign(document.createElement('p'), { textContent: `No page at ${path}.` }));
  onChange(path);
  return null;
}
