// Entry point: routes, navigation state, shortcuts, and the sign-in redirect on 401.

import { onAuthError } from './api.js';
import { appPath } from './config.js';
import { install, showShortcuts } from './keys.js';
import { navigate, route, start } from './router.js';

route(/^\/(?:ui)?$/, () => import('./pages/home.js'));
route(/^\/ui\/sessions\/(?<id>[^/]+)$/, () => import('./pages/run.js'));
route(/^\/ui\/sessions\/(?<id>[^/]+)\/checkpoints$/, () => import('./pages/checkpoints.js'));
route(/^\/ui\/review$/, () => import('./pages/review.js'));
route(/^\/ui\/integrations$/, () => import('./pages/integrations.js'));
route(/^\/ui\/config(?:\/(?<section>[\w-]+))?$/, () => import('./pages/config.js'));
route(/^\/ui\/login$/, () => import('./pages/login.js'));

const SECTIONS = [['review', /^\/ui\/review/], ['integrations', /^\/ui\/integrations/], ['config', /^\/ui\/config/],
  ['home', /^\/(ui(\/sessions.*)?)?$/]];

function highlightNav(path) {
  const hit = SECTIONS.find(([, re]) => re.test(path));
  document.querySelectorAll('.mainnav a').forEach((a) => {
    if (hit && a.dataset.nav === hit[0]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

let redirecting = false;
onAuthError(() => {
  if (redirecting || appPath(location.pathname) === '/ui/login') return;
  redirecting = true;
  const next = appPath(location.pathname) + location.search;
  navigate(`/ui/login?next=${encodeURIComponent(next)}`, { replace: true }).finally(() => { redirecting = false; });
});

document.getElementById('shortcuts-btn').addEventListener('click', showShortcuts);
install();
start(document.getElementById('main'), highlightNav).then(() => {
  document.body.dataset.ready = '1';
});
