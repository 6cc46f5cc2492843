// A small, line-at-a-time syntax highlighter for diffs: comments, strings, numbers, keywords and calls in the
// common languages. It never builds HTML strings: tokens become spans with textContent.

const KW = {
  py: 'and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield match case self',
  js: 'async await break case catch class const continue debugger default delete do else export extends false finally for from function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while yield interface type enum implements readonly private public protected as',
  go: 'break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false',
  rs: 'as async await break const continue crate else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while dyn None Some Ok Err',
  c: 'auto break case char const continue default do double else enum extern float for goto if int long register return short signed sizeof static struct switch typedef union unsigned void volatile while class public private protected new delete this true false null nullptr namespace using template virtual override final import package extends implements throws throw try catch finally interface boolean var val fun when object',
  sh: 'if then else elif fi for while do done case esac in function return local export echo exit set unset readonly shift source',
  sql: 'select from where insert into values update set delete create table drop alter and or not null is in as join left right inner outer on group by order limit having distinct union primary key',
  rb: 'def end if elsif else unless while until for in do return class module self nil true false and or not begin rescue ensure yield require',
  yaml: 'true false null yes no on off',
  json: 'true false null',
  css: 'important',
};

const EXT = {
  py: 'py', pyi: 'py', js: 'js', mjs: 'js', cjs: 'js', jsx: 'js', ts: 'js', tsx: 'js', go: 'go', rs: 'rs',
  c: 'c', h: 'c', cc: 'c', cpp: 'c', hpp: 'c', java: 'c', kt: 'c', cs: 'c', swift: 'c', scala: 'c',
  sh: 'sh', bash: 'sh', zsh: 'sh', sql: 'sql', rb: 'rb', yml: 'yaml', yaml: 'yaml', json: 'json', toml: 'yaml',
  css: 'css', scss: 'css', ini: 'yaml', cfg: 'yaml',
};

const HASH_COMMENT = new Set(['py', 'sh', 'rb', 'yaml']);
const SLASH_COMMENT = new Set(['js', 'go', 'rs', 'c', 'css']);
const cache = new Map();

export function langFor(path) {
  const name = String(path || '').split('/').pop().toLowerCase();
  if (name === 'dockerfile' || name === 'makefile') return 'sh';
  const ext = name.includes('.') ? name.split('.').pop() : '';
  return EXT[ext] || '';
}

function tokenizer(lang) {
  if (cache.has(lang)) return cache.get(lang);
  const comment = [];
  if (HASH_COMMENT.has(lang)) comment.push('#.*$');
  if (SLASH_COMMENT.has(lang)) comment.push('\\/\\/.*$', '\\/\\*.*?(?:\\*\\/|$)');
  if (lang === 'sql') comment.push('--.*$');
  const str = lang === 'rs' ? `"(?:[^"\\\\]|\\\\.)*"?` : `"(?:[^"\\\\]|\\\\.)*"?|'(?:[^'\\\\]|\\\\.)*'?|\`(?:[^\`\\\\]|\\\\.)*\`?`;
  const parts = [
    comment.length ? `(${comment.join('|')})` : '(\\b\\B)',
    `(${str})`,
    '(\\b(?:0[xXbBoO][\\da-fA-F_]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b)',
    '([A-Za-z_$][\\w$]*)',
  ];
  const t = { re: new RegExp(parts.join('|'), 'gm'), kw: new Set((KW[lang] || '').split(' ').filter(Boolean)), lang };
  cache.set(lang, t);
  return t;
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

// Appends the highlighted `text` to `el`.
export function highlightInto(el, text, lang) {
  if (!lang || text.length > 2000) {
    el.append(text);
    return el;
  }
  const t = tokenizer(lang);
  const kwCaseless = lang === 'sql';
  t.re.lastIndex = 0;
  let at = 0;
  let m;
  while ((m = t.re.exec(text)) !== null) {
    if (m[0] === '') { t.re.lastIndex += 1; continue; }
    let cls = '';
    if (m[1]) cls = 'tok-com';
    else if (m[2]) cls = 'tok-str';
    else if (m[3]) cls = 'tok-num';
    else if (m[4]) {
      const word = kwCaseless ? m[4].toLowerCase() : m[4];
      if (t.kw.has(word)) cls = 'tok-kw';
      else if (text.slice(t.re.lastIndex).match(/^\s*\(/)) cls = 'tok-fn';
    }
    if (!cls) continue;
    if (m.index > at) el.append(text.slice(at, m.index));
    el.append(span(cls, m[0]));
    at = m.index + m[0].length;
  }
  if (at < text.length) el.append(text.slice(at));
  return el;
}
