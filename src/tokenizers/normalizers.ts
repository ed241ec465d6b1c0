/**
 * Normalizers of Hugging Face `tokenizer.json` (`"normalizer": {...}`), applied to each piece of text between added
 * tokens, tracking alignments to the original text. Supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents,
 * BertNormalizer (control-character cleaning, Chinese-character spacing, accent stripping, lowercasing), Strip,
 * Replace (string or regex), Prepend, Sequence. Anything else is a KilnError naming the type.
 *
 * Unicode normalization alignment: the text is cut into chunks of one base character plus its combining marks
 * (and Hangul vowel/final jamo); in a chunk that changes, each output character consumes source characters until
 * their decompositions cover its own and aligns with the first one consumed, an output with nothing left aligns
 * with the last consumed — what the Rust library's (char, change) lists give for decomposition, compatibility
 * expansion, composition and mark reordering (all covered by the parity fixtures).
 */
import { KilnError } from '../errors.js';
import { NormalizedString, regexMatches, stringMatches } from './normalized-string.js';
import { compileRegex } from './regex.js';

export interface Normalizer {
  normalize(n: NormalizedString): void;
}

type Json = Record<string, any>;

// characters that attach to the previous one under normalization: combining marks and Hangul vowel/final jamo
const MARK = /^[\p{M}\u1160-\u11ff\ud7b0-\ud7ff]$/u;

function unicodeNormalize(n: NormalizedString, form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): void {
  const s = n.s;
  const whole = s.normalize(form);
  if (whole === s) return;
  if (!n.track) {
    n.s = whole;
    return;
  }
  // chunks: a non-mark code point followed by its marks; unchanged chunks are copied in spans
  const parts: string[] = [];
  const al: number[] = [];
  let spanStart = 0; // start of the pending unchanged span
  let i = 0;
  const flushSpan = (end: number) => {
    if (end > spanStart) {
      parts.push(s.slice(spanStart, end));
      for (let u = spanStart; u < end; u++) al.push(n.alignStart(u), n.alignEnd(u));
    }
  };
  while (i < s.length) {
    const c0 = s.charCodeAt(i);
    let j = i + (c0 >= 0xd800 && c0 <= 0xdbff && i + 1 < s.length ? 2 : 1);
    if (c0 < 0x80 && (j >= s.length || s.charCodeAt(j) < 0x300)) {
      i = j; // ASCII followed by no possible mark: unchanged under every form
      continue;
    }
    while (j < s.length) {
      const cp = s.codePointAt(j)!;
      if (!MARK.test(String.fromCodePoint(cp))) break;
      j += cp > 0xffff ? 2 : 1;
    }
    const chunk = s.slice(i, j);
    const out = chunk.normalize(form);
    if (out !== chunk) {
      flushSpan(i);
      parts.push(out);
      // As the Rust library's per-character changes: each output character consumes source characters until
      // their decompositions cover its own (a composed character consumes its parts, a reordered mark the next
      // source), aligns with the first one it consumed; an output with nothing left to consume was inserted and
      // aligns with the last consumed source.
      const ins: number[] = [];
      for (let u = i; u < j; ) {
        ins.push(u);
        u += s.charCodeAt(u) >= 0xd800 && s.charCodeAt(u) <= 0xdbff && u + 1 < j ? 2 : 1;
      }
      const dec = form === 'NFC' || form === 'NFD' ? 'NFD' : 'NFKD';
      const dlen = (x: string) => [...x.normalize(dec)].length;
      let next = 0;
      let last = ins[0];
      for (const ch of out) {
        let src = -1;
        const need = dlen(ch);
        let have = 0;
        while (next < ins.length && have < need) {
          const u = ins[next++];
          if (src < 0) src = u;
          last = u;
          have += dlen(String.fromCodePoint(s.codePointAt(u)!));
        }
        const at = src >= 0 ? src : last;
        const as = n.alignStart(at);
        const ae = n.alignEnd(at);
        for (let u = 0; u < ch.length; u++) al.push(as, ae);
      }
      spanStart = j;
    }
    i = j;
  }
  flushSpan(s.length);
  const result = parts.join('');
  if (result !== whole) {
    // normalization crossed chunk boundaries (e.g. Hangul jamo): align every output with the whole piece
    n.s = whole;
    const al2 = new Int32Array(2 * whole.length);
    const [o0, o1] = n.toOriginal(0, s.length);
    for (let u = 0; u < whole.length; u++) {
      al2[2 * u] = o0;
      al2[2 * u + 1] = o1;
    }
    n.a = al2;
    return;
  }
  n.s = result;
  n.a = Int32Array.from(al);
}

function lowercase(n: NormalizedString): void {
  const s = n.s;
  const lower = s.toLowerCase();
  if (lower === s) return;
  // Whole-string lowercasing equals the Rust per-character one, unit for unit, unless a final sigma (context
  // dependent in JS) or a length-changing mapping (İ → i̇) is involved; then the alignment is untouched.
  if (lower.length === s.length && !s.includes('\u03a3') && !s.includes('\u0130')) {
    n.s = lower;
    return;
  }
  const chars: string[] = [];
  const changes: number[] = [];
  for (const c of s) {
    const l = c.toLowerCase();
    let first = true;
    for (const d of l) {
      chars.push(d);
      changes.push(first ? 0 : 1);
      first = false;
    }
  }
  n.transform(chars, changes);
}

const NONSPACING = /^\p{Mn}$/u;
const CONTROL = /^\p{C}$/u;
const DIRTY = /[\0\ufffd]|(?![\t\n\r])\p{C}/u;
const OTHER_WHITE = /(?! )\p{White_Space}/u;
const OTHER_WHITE_G = /(?! )\p{White_Space}/gu;

function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

class BertNormalizer implements Normalizer {
  constructor(
    private cleanText: boolean,
    private chinese: boolean,
    private stripAccents: boolean | null,
    private lower: boolean,
  ) {}
  normalize(n: NormalizedString): void {
    if (this.cleanText) {
      if (DIRTY.test(n.s)) {
        n.filter((c) => {
          const cp = c.codePointAt(0)!;
          if (cp === 0 || cp === 0xfffd) return false;
          if (c === '\t' || c === '\n' || c === '\r') return true;
          return !CONTROL.test(c);
        });
      }
      // every white space character is one UTF-16 unit, so mapping them to ' ' keeps the alignment
      if (OTHER_WHITE.test(n.s)) n.s = n.s.replace(OTHER_WHITE_G, ' ');
    }
    if (this.chinese && /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{2fa1f}]/u.test(n.s)) {
      const chars: string[] = [];
      const changes: number[] = [];
      for (const c of n.s) {
        if (isChineseChar(c.codePointAt(0)!)) {
          chars.push(' ', c, ' ');
          changes.push(0, 1, 1);
        } else {
          chars.push(c);
          changes.push(0);
        }
      }
      n.transform(chars, changes);
    }
    const strip = this.stripAccents ?? this.lower;
    if (strip) {
      unicodeNormalize(n, 'NFD');
      if (/\p{Mn}/u.test(n.s)) n.filter((c) => !NONSPACING.test(c));
    }
    if (this.lower) lowercase(n);
  }
}

function patternMatcher(pattern: Json, where: string): (s: string) => number[] {
  if (pattern && typeof pattern.String === 'string') {
    const lit = pattern.String as string;
    return (s) => stringMatches(lit, s);
  }
  if (pattern && typeof pattern.Regex === 'string') {
    const re = compileRegex(pattern.Regex);
    return (s) => regexMatches(re, s);
  }
  throw new KilnError('E_FORMAT', `${where}: pattern must be {"String": ...} or {"Regex": ...}, got ${JSON.stringify(pattern)}`);
}

/** Build a normalizer from its tokenizer.json object (null → none). */
export function normalizerFromJson(j: Json | null | undefined): Normalizer | null {
  if (!j) return null;
  switch (j.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = j.type as 'NFC';
      return { normalize: (n) => unicodeNormalize(n, form) };
    }
    case 'Lowercase':
      return { normalize: lowercase };
    case 'StripAccents':
      return { normalize: (n) => (/\p{Mn}/u.test(n.s) ? n.filter((c) => !NONSPACING.test(c)) : undefined) };
    case 'BertNormalizer':
      return new BertNormalizer(j.clean_text ?? true, j.handle_chinese_chars ?? true, j.strip_accents ?? null, j.lowercase ?? true);
    case 'Strip': {
      const l = j.strip_left ?? true;
      const r = j.strip_right ?? true;
      return { normalize: (n) => n.lrstrip(l, r) };
    }
    case 'Replace': {
      const find = patternMatcher(j.pattern, 'normalizer Replace');
      const content = String(j.content ?? '');
      return { normalize: (n) => n.replace(find(n.s), content) };
    }
    case 'Prepend': {
      const p = String(j.prepend ?? '');
      return { normalize: (n) => n.prepend(p) };
    }
    case 'Sequence': {
      const list = ((j.normalizers ?? []) as Json[]).map((x) => normalizerFromJson(x)).filter((x): x is Normalizer => x !== null);
      return { normalize: (n) => list.forEach((x) => x.normalize(n)) };
    }
    default:
      throw new KilnError(
        'E_FORMAT',
        `tokenizer.json normalizer type ${JSON.stringify(j.type)} is not supported by Kiln (supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, BertNormalizer, Strip, Replace, Prepend, Sequence)`,
      );
  }
}

export { patternMatcher };
