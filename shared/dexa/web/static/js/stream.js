// A session's event stream over fetch (not EventSource): it reads `id:`/`event:`/`data:` frames, hands events
// over in batches, drops anything at or below the last seq (no duplicates), reconnects with Last-Event-ID after
// a drop or a server-side close, and restarts from the last seq if it ever sees a gap (no losses).

import { url } from './config.js';

const MAX_BACKOFF_MS = 10000;

export class EventStream {
  constructor(sessionId, { after = 0, onEvents, onState, onError }) {
    this.sessionId = sessionId;
    this.last = after;
    this.onEvents = onEvents;
    this.onState = onState || (() => {});
    this.onError = onError || (() => {});
    this.retryMs = 1000;
    this.failures = 0;
    this.stopped = true;
    this.ctrl = null;
    this.timer = null;
    this.reconnects = 0;
    this._online = () => { if (!this.stopped) this._restart(0); };
  }

  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    window.addEventListener('online', this._online);
    this._connect();
    return this;
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._online);
    clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
  }

  _restart(delay) {
    clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
    if (this.stopped) return;
    this.onState(this.failures > 0 ? 'offline' : 'connecting');
    this.timer = setTimeout(() => this._connect(), delay);
  }

  async _connect() {
    if (this.stopped) return;
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    const headers = { Accept: 'text/event-stream' };
    if (this.last > 0) headers['Last-Event-ID'] = String(this.last);
    let gap = false;
    try {
      const res = await fetch(url(`/sessions/${encodeURIComponent(this.sessionId)}/events?after=${this.last}`), {
        headers, credentials: 'same-origin', signal: ctrl.signal, cache: 'no-store',
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        const err = Object.assign(new Error(body.detail || `HTTP ${res.status}`), { status: res.status, code: body.code });
        this.onError(err);
        // 4xx other than rate limiting will not heal by retrying.
        if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 408) {
          this.stop();
          this.onState('offline');
          return;
        }
        throw err;
      }
      this.failures = 0;
      this.onState('live');
      gap = await this._read(res.body.getReader());
    } catch (e) {
      if (ctrl.signal.aborted || this.stopped) return;
      this.failures += 1;
    }
    if (this.stopped || ctrl.signal.aborted) return;
    this.reconnects += 1;
    const backoff = gap ? 0 : this.failures ? Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures) : this.retryMs;
    this._restart(backoff);
  }

  // Returns true when it stopped because of a gap (reconnect at once from the last good seq).
  async _read(reader) {
    const decoder = new TextDecoder();
    let buf = '';
    let frame = { id: null, event: null, data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buf += decoder.decode(value, { stream: true });
      const batch = [];
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (frame.data.length) {
            const ev = this._event(frame);
            if (ev === 'gap') {
              if (batch.length) this.onEvents(batch);
              reader.cancel().catch(() => {});
              return true;
            }
            if (ev) batch.push(ev);
          }
          frame = { id: null, event: null, data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // heartbeat comment
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (name === 'data') frame.data.push(val);
        else if (name === 'id') frame.id = val;
        else if (name === 'event') frame.event = val;
        else if (name === 'retry' && /^\d+$/.test(val)) this.retryMs = Number(val);
      }
      if (batch.length) this.onEvents(batch);
    }
  }

  _event(frame) {
    let ev;
    try { ev = JSON.parse(frame.data.join('\n')); } catch { return null; }
    if (ev.live) return ev; // a model delta streamed outside the log: it moves no cursor
    const seq = Number(ev.seq ?? frame.id);
    if (!Number.isFinite(seq) || seq <= this.last) return null; // already seen
    if (seq !== this.last + 1) return 'gap';
    this.last = seq;
    return ev;
  }
}
