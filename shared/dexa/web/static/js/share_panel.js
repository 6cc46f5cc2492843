// The run view's Share panel: read-only links to this session that expire, for people without a key. The link opens
// the server's own page (/shared/{token}/view); a link's token is shown once, when it is made, so the list shows each
// link's status and lets its owner revoke it.

import { api, enc } from './api.js';
import { badge, fill, fmtTime, h, nextId, statusKind, toast } from './dom.js';

const DAY = 86400;
const LIFETIMES = [['1 day', DAY], ['7 days', 7 * DAY], ['30 days', 30 * DAY]];

export function sharePanel(sessionId) {
  const base = `/sessions/${enc(sessionId)}/shares`;
  const made = h('div', { class: 'share-made' });
  const list = h('ul', { class: 'share-list', 'aria-label': 'Share links' });
  const ttl = h('select', { id: nextId('share-ttl') },
    LIFETIMES.map(([label, s]) => h('option', { value: String(s), selected: s === 7 * DAY }, label)));

  async function refresh() {
    try {
      const rows = (await api.get(base)).data;
      fill(list, rows.length ? rows.map(row) : h('li', { class: 'small muted' }, 'No links yet.'));
    } catch (e) {
      fill(list, h('li', { class: 'notice bad', role: 'alert' }, `Cannot list share links: ${e.message}`));
    }
  }

  function row(s) {
    const when = s.status === 'active' ? `until ${fmtTime(s.expires_at)}` : s.status;
    const revoke = s.status === 'active'
      ? h('button', { type: 'button', class: 'btn small bad', 'aria-label': `Revoke link ${s.id}` }, 'Revoke') : null;
    if (revoke) {
      revoke.addEventListener('click', async () => {
        revoke.disabled = true;
        try {
          await api.del(`${base}/${enc(s.id)}`);
          toast('Link revoked');
        } catch (e) {
          toast(`Cannot revoke: ${e.message}`, { bad: true });
        }
        await refresh();
      });
    }
    return h('li', { class: 'row', dataset: { shareId: s.id, shareStatus: s.status } },
      badge(s.status, s.status === 'active' ? 'ok' : statusKind('cancelled')),
      h('span', { class: 'small muted' }, `made ${fmtTime(s.created_at)}, ${when}`), h('span', { class: 'spacer' }), revoke);
  }

  const create = h('button', { type: 'button', class: 'btn small' }, 'Share');
  create.addEventListener('click', async () => {
    create.disabled = true;
    try {
      const link = await api.post(base, { expires_in_s: Number(ttl.value) });
      const page = `${link.url}/view`;
      const copy = h('button', { type: 'button', class: 'btn small' }, 'Copy link');
      copy.addEventListener('click', async () => {
        try { await navigator.clipboard.writeText(page); toast('Copied'); } catch { toast('Select the link and copy it', { bad: true }); }
      });
      fill(made, h('pre', { class: 'small' }, h('code', { dataset: { shareLink: '' } }, page)), h('div', { class: 'row' }, copy,
        h('span', { class: 'small muted' }, 'Anyone with this link reads the conversation; it is shown only now.')));
      await refresh();
    } catch (e) {
      fill(made, h('p', { class: 'notice bad', role: 'alert' }, `Cannot make a share link: ${e.message}`));
    } finally {
      create.disabled = false;
    }
  });

  const panel = h('section', { class: 'panel', 'aria-label': 'Share' }, h('h2', null, 'Share'),
    h('p', { class: 'small muted' }, 'A read-only link to this conversation that expires; no key needed to open it.'),
    h('div', { class: 'row' }, h('label', { for: ttl.id, class: 'small' }, 'Expires after'), ttl, create), made, list);
  refresh();
  return panel;
}
