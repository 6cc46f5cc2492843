// /ui/sessions/{id}: the live run view.

import { setConn } from '../chrome.js';
import { RunView } from '../run_view.js';

function typing(el) {
  return el && (el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || (el.tagName === 'INPUT' && !['checkbox', 'radio'].includes(el.type)));
}

export function mount(root, params) {
  const view = new RunView(decodeURIComponent(params.id), { onConn: setConn });
  view.mount(root);
  return {
    view,
    unmount() { view.unmount(); setConn(''); },
    onKey(e) {
      const active = document.activeElement;
      if (e.key === 'Tab' && e.shiftKey && (active === document.body || active === null || active.id === 'main')) {
        view.cycleMode();
        return true;
      }
      if (e.ctrlKey || e.metaKey || e.altKey || typing(active)) return false;
      const decision = { a: 'once', A: 'always', d: 'deny' }[e.key];
      if (!decision) return false;
      const box = view.focusedApproval();
      const btn = box && box.querySelector(`button[data-decision="${decision}"]`);
      if (!btn || btn.disabled) return false;
      btn.click();
      return true;
    },
  };
}
