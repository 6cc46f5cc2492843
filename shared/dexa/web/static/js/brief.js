// A one-line summary of a tool call's input (its command, path, recipient...): shared by the run model (pure,
// for checkpoint labels) and the renderers.

const BRIEF_KEYS = ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'notebook_path', 'prompt',
  'to', 'channel', 'subject'];

export function brief(name, input) {
  if (!input || typeof input !== 'object') return '';
  if (Array.isArray(input.todos)) {
    const active = input.todos.find((t) => t.status === 'in_progress');
    return `${input.todos.length} item(s)${active ? ` · now: ${active.activeForm || active.content}` : ''}`;
  }
  for (const k of BRIEF_KEYS) {
    if (typeof input[k] === 'string' && input[k]) return input[k].split('\n')[0].slice(0, 200);
  }
  const s = JSON.stringify(input);
  return s === '{}' ? '' : s.slice(0, 200);
}
