// The run view's terminal: a shell in the session's sandbox over the terminal WebSocket. A browser cannot set the
// Authorization header on a WebSocket and the server takes no cookie there, so each connection spends a one-minute,
// single-use ticket (POST …/terminal/tickets). Deliberately plain: a line input and a text log with the pty's escape
// sequences removed (no xterm.js: full-screen programs such as vim need the CLI, `dexa attach`, or an editor).

import { api, enc } from './api.js';
import { fill, h, nextId } from './dom.js';

const KEEP = 200_000; // characters of output kept on screen
// CSI and OSC sequences, charset selection and keypad modes: what a shell's prompt and line editor emit.
const ESCAPES = /\x1b\[[0-9;?<=>!]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78cDEHM]/g;

export function plain(text) {
  let out = text.replace(ESCAPES, '').replace(/\r+\n/g, '\n');
  // A backspace erases the character before it, as the line editor meant; other control bytes are dropped.
  while (/[^\n]\x08/.test(out)) out = out.replace(/[^\n]\x08/g, '');
  return out.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

export function terminalPanel(sessionId) {
  const log = h('pre', { class: 'terminal-log small', role: 'log', 'aria-label': 'Terminal output', tabindex: '0', dataset: { terminalLog: '' } });
  const line = h('input', { id: nextId('term'), type: 'text', autocomplete: 'off', spellcheck: 'false', disabled: true,
    placeholder: 'Command… (Enter sends it)' });
  const status = h('span', { class: 'small muted', role: 'status' }, 'Closed');
  const open = h('button', { type: 'button', class: 'btn small' }, 'Open terminal');
  const ctrlC = h('button', { type: 'button', class: 'btn small', disabled: true, 'aria-label': 'Send Ctrl+C' }, 'Ctrl+C');
  let socket = null;

  const write = (text) => {
    log.textContent = (log.textContent + plain(text)).slice(-KEEP);
    log.scrollTop = log.scrollHeight;
  };
  const send = (data) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'input', data })); };
  const closed = (why) => {
    socket = null;
    line.disabled = true;
    ctrlC.disabled = true;
    open.disabled = false;
    status.textContent = why;
  };

  open.addEventListener('click', async () => {
    open.disabled = true;
    status.textContent = 'Connecting…';
    let ticket;
    try {
      ticket = await api.post(`/sessions/${enc(sessionId)}/terminal/tickets`, {});
    } catch (e) {
      closed(`Cannot open a terminal: ${e.message}`);
      return;
    }
    fill(log);
    const ws = new WebSocket(`${ticket.url}&cols=100&rows=30`);
    socket = ws;
    ws.addEventListener('message', (m) => {
      const frame = JSON.parse(m.data);
      if (frame.type === 'ready') {
        status.textContent = 'Connected';
        line.disabled = false;
        ctrlC.disabled = false;
        line.focus();
      } else if (frame.type === 'output') write(frame.data);
      else if (frame.type === 'exit') write(`\n[exited with code ${frame.code}]\n`);
    });
    ws.addEventListener('close', (e) => { if (socket === ws) closed(e.code === 1000 || !e.reason ? 'Closed' : `Closed: ${e.reason}`); });
  });
  line.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.isComposing) return;
    e.preventDefault();
    send(`${line.value}\n`);
    line.value = '';
  });
  ctrlC.addEventListener('click', () => send('\x03'));

  const el = h('section', { class: 'panel', 'aria-label': 'Terminal' }, h('h2', null, 'Terminal'),
    h('p', { class: 'small muted' }, 'A shell in this session\'s workspace and sandbox.'),
    h('div', { class: 'row' }, open, ctrlC, status), log,
    h('label', { for: line.id, class: 'sr-only' }, 'Terminal input'), line);
  return {
    el,
    close() {
      if (socket) socket.close(1000);
      socket = null;
    },
  };
}
