// The server-provided config (event types, modes, models, integration catalogue) from the shell page.
const el = document.getElementById('dexa-config');
export const config = el ? JSON.parse(el.textContent) : { eventTypes: [], modes: [], models: [], providers: [] };

// Where the app is mounted: "" for `dexa serve`, the stage ("/v1") behind API Gateway. Every root-relative URL the
// UI builds goes through url(), and the router matches appPath(location.pathname), so the pages never see it.
export const BASE = (config.base || '').replace(/\/+$/, '');
export function url(path) {
  return BASE && typeof path === 'string' && path.startsWith('/') && !path.startsWith('//') ? BASE + path : path;
}
export function appPath(pathname) {
  if (!BASE) return pathname;
  if (pathname === BASE) return '/';
  return pathname.startsWith(BASE + '/') ? pathname.slice(BASE.length) : pathname;
}
