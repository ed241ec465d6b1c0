/**
 * Translate the Oniguruma (Ruby syntax) regexes found in Hugging Face `tokenizer.json` files into JavaScript
 * RegExps with the `u` flag, keeping the semantics the Rust `tokenizers` library gets from Oniguruma:
 *
 * | Oniguruma            | JavaScript                        | why                                              |
 * |----------------------|-----------------------------------|--------------------------------------------------|
 * | `\s` / `\S`          | `\p{White_Space}` / `\P{...}`     | JS `\s` adds U+FEFF and lacks U+0085             |
 * | `\d` `\w` `\h`       | `\p{Nd}`, `[\p{L}\p{M}\p{Nd}\p{Pc}]`, `[0-9a-fA-F]` | Onig's are Unicode-aware; `\h` is hex |
 * | `(?i:...)`           | letters expanded to `[xX]`        | inline modifiers need Node ≥ 23                   |
 * | `X*+` `X++` `X?+` `X{n,m}+` | `(?=(?<pN>X*))\k<pN>`      | possessive = atomic; emulated with a lookahead    |
 * | `(?>...)`            | `(?=(?<pN>...))\k<pN>`            | atomic group, same emulation                      |
 * | `\x{HHHH}`           | `\u{HHHH}`                        |                                                  |
 * | `\p{Han}` (scripts)  | `\p{Script=Han}`                  | JS needs the Script= prefix                       |
 * | `^` `$` (Ruby: lines)| `(?<![^\n])` `(?![^\n])`          | Ruby anchors are per line (only `\n`)             |
 * | `.`                  | `[^\n]`                           | JS `.` also stops at `\r`, U+2028, U+2029         |
 * | `\A` `\z`            | `^` `$` (no m flag)               |                                                  |
 *
 * Unsupported (a KilnError naming the construct): back-references, nested classes / `&&`, global `(?i)`.
 * Both engines backtrack and take the leftmost-first alternative, so alternation order carries over.
 */
import { KilnError } from '../errors.js';

const GENERAL_CATEGORIES = new Set(
  'L Lu Ll Lt Lm Lo LC M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn'.split(' '),
);
const BINARY = new Set(['White_Space', 'Alphabetic', 'Any', 'ASCII', 'Emoji', 'Uppercase', 'Lowercase']);

function propName(name: string): string {
  if (GENERAL_CATEGORIES.has(name) || BINARY.has(name) || name.includes('=')) return name;
  const long: Record<string, string> = {
    Letter: 'L', Mark: 'M', Number: 'N', Punctuation: 'P', Symbol: 'S', Separator: 'Z', Other: 'C',
    Alpha: 'Alphabetic', Space: 'White_Space',
  };
  if (long[name]) return long[name];
  return `Script=${name}`;
}

function caseClass(c: string): string {
  const lo = c.toLowerCase();
  const up = c.toUpperCase();
  if (lo === up || [...lo].length !== 1 || [...up].length !== 1) return escapeLiteral(c);
  return `[${lo}${up}]`;
}

const SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
function escapeLiteral(c: string): string {
  return SYNTAX.has(c) ? `\\${c}` : c;
}

/** Translate an Oniguruma pattern to a JS RegExp source (to compile with flags `gu`). */
export function translateRegex(src: string): string {
  let out = '';
  let i = 0;
  let groupId = 0;
  /** Stack of open groups: [kind, outputStartOfGroup, ignoreCaseBefore]. */
  const stack: Array<{ atomic: boolean; start: number; ic: boolean }> = [];
  let ic = false;
  let lastAtomStart = -1;
  const fail = (what: string): never => {
    throw new KilnError('E_FORMAT', `tokenizer regex ${JSON.stringify(src)}: ${what} is not supported by Kiln's regex translation (see src/tokenizers/regex.ts); rewrite the pattern without it`);
  };

  const readEscape = (inClass: boolean): string => {
    // src[i] === '\\'
    const c = src[i + 1];
    if (c === undefined) fail('a trailing backslash');
    i += 2;
    switch (c) {
      case 's': return inClass ? '\\p{White_Space}' : '\\p{White_Space}';
      case 'S': return '\\P{White_Space}';
      case 'd': return '\\p{Nd}';
      case 'D': return '\\P{Nd}';
      case 'w': return inClass ? '\\p{L}\\p{M}\\p{Nd}\\p{Pc}' : '[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]';
      case 'W': return inClass ? fail('\\W inside a character class') : '[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]';
      case 'h': return inClass ? '0-9a-fA-F' : '[0-9a-fA-F]';
      case 'H': return inClass ? fail('\\H inside a character class') : '[^0-9a-fA-F]';
      case 'A': return inClass ? fail('\\A in a class') : '^';
      case 'z': return inClass ? fail('\\z in a class') : '$';
      case 'Z': return inClass ? fail('\\Z in a class') : '(?=\\n?$)';
      case 'b': case 'B': return inClass ? fail('\\b in a class') : `\\${c}`;
      case 'n': return '\\n';
      case 'r': return '\\r';
      case 't': return '\\t';
      case 'f': return '\\f';
      case 'v': return '\\v';
      case 'e': return '\\x1b';
      case 'a': return '\\x07';
      case 'p': case 'P': {
        if (src[i] !== '{') fail(`\\${c} without braces`);
        const close = src.indexOf('}', i);
        let name = src.slice(i + 1, close);
        i = close + 1;
        let neg = c === 'P';
        if (name.startsWith('^')) {
          neg = !neg;
          name = name.slice(1);
        }
        return `\\${neg ? 'P' : 'p'}{${propName(name)}}`;
      }
      case 'x': {
        if (src[i] === '{') {
          const close = src.indexOf('}', i);
          const hex = src.slice(i + 1, close);
          i = close + 1;
          return `\\u{${hex}}`;
        }
        const hex = src.slice(i, i + 2);
        i += 2;
        return `\\x${hex}`;
      }
      case 'u': {
        const hex = src.slice(i, i + 4);
        i += 4;
        return `\\u${hex}`;
      }
      default:
        if (c >= '1' && c <= '9') fail('a back-reference');
        if (/[A-Za-z0-9]/.test(c)) fail(`the escape \\${c}`);
        if (inClass) return c === '-' || c === ']' || c === '[' || c === '\\' || c === '^' ? `\\${c}` : c;
        return ic ? caseClass(c) : escapeLiteral(c);
    }
  };

  while (i < src.length) {
    const c = src[i];
    if (c === '\\') {
      lastAtomStart = out.length;
      out += readEscape(false);
      continue;
    }
    if (c === '[') {
      lastAtomStart = out.length;
      let cls = '[';
      i++;
      if (src[i] === '^') {
        cls += '^';
        i++;
      }
      let first = true;
      while (i < src.length && (src[i] !== ']' || first)) {
        const d = src[i];
        if (d === '\\') cls += readEscape(true);
        else if (d === '[') fail('a nested character class');
        else if (d === '&' && src[i + 1] === '&') fail('class intersection (&&)');
        else {
          if (d === ']') cls += '\\]';
          else if (ic && /\p{L}/u.test(d) && src[i + 1] !== '-' && src[i - 1] !== '-') {
            const lo = d.toLowerCase();
            const up = d.toUpperCase();
            cls += lo === up ? d : lo + up;
          } else cls += d;
          i += d.length;
        }
        first = false;
      }
      if (src[i] !== ']') fail('an unterminated character class');
      i++;
      out += cls + ']';
      continue;
    }
    if (c === '(') {
      if (src.startsWith('(?i:', i)) {
        stack.push({ atomic: false, start: out.length, ic });
        ic = true;
        out += '(?:';
        i += 4;
      } else if (src.startsWith('(?-i:', i)) {
        stack.push({ atomic: false, start: out.length, ic });
        ic = false;
        out += '(?:';
        i += 5;
      } else if (src.startsWith('(?>', i)) {
        stack.push({ atomic: true, start: out.length, ic });
        out += `(?=(?<p${groupId}>`;
        groupId++;
        i += 3;
      } else if (src.startsWith('(?:', i) || src.startsWith('(?=', i) || src.startsWith('(?!', i) || src.startsWith('(?<=', i) || src.startsWith('(?<!', i)) {
        const len = src.startsWith('(?<', i) ? 4 : 3;
        stack.push({ atomic: false, start: out.length, ic });
        out += src.slice(i, i + len);
        i += len;
      } else if (src.startsWith('(?<', i) || src.startsWith("(?'", i)) {
        const close = src.indexOf(src[i + 2] === '<' ? '>' : "'", i + 3);
        stack.push({ atomic: false, start: out.length, ic });
        out += `(?<${src.slice(i + 3, close)}>`;
        i = close + 1;
      } else if (src.startsWith('(?', i)) {
        fail(`the group syntax ${src.slice(i, i + 4)}`);
      } else {
        stack.push({ atomic: false, start: out.length, ic });
        out += '(';
        i++;
      }
      continue;
    }
    if (c === ')') {
      const g = stack.pop();
      if (!g) fail('an unbalanced )');
      ic = g!.ic;
      if (g!.atomic) out += `))\\k<p${groupIdOf(out, g!.start)}>`;
      else out += ')';
      lastAtomStart = g!.start;
      i++;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(src.slice(i)))) {
      let q = c;
      if (c === '{') q = /^\{\d+(,\d*)?\}/.exec(src.slice(i))![0];
      i += q.length;
      if (src[i] === '?') {
        q += '?';
        i++;
        out += q;
      } else if (src[i] === '+') {
        i++;
        if (lastAtomStart < 0) fail('a possessive quantifier without an atom');
        const atom = out.slice(lastAtomStart);
        out = `${out.slice(0, lastAtomStart)}(?=(?<p${groupId}>${atom}${q}))\\k<p${groupId}>`;
        groupId++;
      } else out += q;
      continue;
    }
    if (c === '{' || c === '}' || c === ']') {
      lastAtomStart = out.length;
      out += `\\${c}`;
      i++;
      continue;
    }
    if (c === '^') {
      out += '(?<![^\\n])';
      i++;
      continue;
    }
    if (c === '$') {
      out += '(?![^\\n])';
      i++;
      continue;
    }
    if (c === '.') {
      lastAtomStart = out.length;
      out += '[^\\n]';
      i++;
      continue;
    }
    if (c === '|') {
      out += '|';
      i++;
      continue;
    }
    const cp = String.fromCodePoint(src.codePointAt(i)!);
    lastAtomStart = out.length;
    out += ic ? caseClass(cp) : cp;
    i += cp.length;
  }
  if (stack.length) fail('an unclosed group');
  return out;
}

/** The id of the atomic-group capture opened at output position `start`. */
function groupIdOf(out: string, start: number): string {
  const m = /^\(\?=\(\?<p(\d+)>/.exec(out.slice(start));
  return m ? m[1] : '0';
}

const cache = new Map<string, RegExp>();

/** Compile an Oniguruma pattern (translated) as a global, Unicode JS RegExp. */
export function compileRegex(src: string): RegExp {
  let re = cache.get(src);
  if (!re) {
    const js = translateRegex(src);
    try {
      re = new RegExp(js, 'gu');
    } catch (e) {
      throw new KilnError('E_FORMAT', `tokenizer regex ${JSON.stringify(src)} (translated to ${JSON.stringify(js)}) does not compile in JavaScript: ${(e as Error).message}`);
    }
    cache.set(src, re);
  }
  return new RegExp(re.source, re.flags);
}

/** Escape a literal string for use in a JS RegExp. */
export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}
