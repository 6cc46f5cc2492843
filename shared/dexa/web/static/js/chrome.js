// The page chrome outside <main>: connection state and the review counter.

export function setConn(state) {
  const el = document.getElementById('conn');
  if (!el) return;
  const text = { live: '● Live', connecting: 'Connecting…', offline: 'Reconnecting…' }[state] || '';
  el.textContent = text;
  el.classList.toggle('bad', state === 'offline');
}

export function setReviewCount(n) {
  const el = document.getElementById('review-count');
  if (!el) return;
  el.hidden = !n;
  el.textContent = n ? String(n) : '';
  el.setAttribute('aria-label', `${n} waiting for review`);
}
