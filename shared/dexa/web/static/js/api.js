// The API client: same origin, the HttpOnly cookie carries the key, errors are problem+json.

import { url } from './config.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || '';
    this.detail = problem.detail || '';
    this.problem = problem;
  }

  // The server lacks the endpoint or feature (as opposed to: the resource does not exist).
  get unavailable() {
    return this.status === 501 || this.status === 405 || (this.status === 404 && this.detail === 'Not Found');
  }
}

const listeners = new Set();
export function onAuthError(fn) { listeners.add(fn); }

export async function request(method, path, body, { signal } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'Network error', detail: `cannot reach the server (${e.message})`, code: 'network' });
  }
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json().catch(() => ({})) : await res.text();
  if (!res.ok) {
    const err = new ApiError(res.status, typeof data === 'object' ? data : { detail: String(data) });
    if (res.status === 401) listeners.forEach((fn) => fn(err));
    throw err;
  }
  return data;
}

export const api = {
  get: (p, o) => request('GET', p, undefined, o),
  post: (p, b, o) => request('POST', p, b ?? {}, o),
  put: (p, b, o) => request('PUT', p, b ?? {}, o),
  del: (p, o) => request('DELETE', p, undefined, o),
};

export const enc = encodeURIComponent;
