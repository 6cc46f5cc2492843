// The layout checks every viewport gets (tests/browser/served.py check_layout): no element sticks out of the
// viewport unless it is inside a scroll box, and each given control is rendered inside the visible viewport.
(sels) => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    // Inside a scroll box (code, tables, diffs) overflow is scrolled, not lost.
    let p = el.parentElement, scrolled = false;
    while (p && p !== document.body) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { scrolled = true; break; }
      p = p.parentElement;
    }
    // Skip links and screen-reader text sit wholly off screen on purpose; only a box that sticks out counts.
    if (r.right <= 0 || r.bottom <= 0) continue;
    if (!scrolled && (r.right > vw + 1 || r.left < -1)) wide.push(`${el.tagName}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  const hidden = [];
  for (const sel of sels) {
    const els = [...document.querySelectorAll(sel)];
    if (!els.length) { hidden.push(`${sel}: absent`); continue; }
    for (const el of els) {
      const r = el.getBoundingClientRect();
      const st = getComputedStyle(el);
      if (r.width === 0 || r.height === 0 || st.visibility === 'hidden' || st.display === 'none' ||
          r.left < 0 || r.right > vw + 1 || r.top < 0 || r.bottom > window.innerHeight + 1) {
        hidden.push(`${sel}: ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
    }
  }
  return { scrollWidth: document.documentElement.scrollWidth, vw, wide: wide.slice(0, 10), hidden };
}
