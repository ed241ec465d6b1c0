/**
 * Normalizers of Hugging Face `tokenizer.json` (`"normalizer": {...}`), applied to each piece of text between added
 * tokens, tracking alignments to the original text. Supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents,
 * BertNormalizer (control-character cleaning, Chinese-character spacing, accent stripping, lowercasing), Strip,
 * Replace (string or regex), Prepend, Sequence. Anything else is a KilnError naming the type.
 *
 * Unicode normalization alignment: the text is cut into chunks of one base character plus its combining marks;
 * a chunk that changes aligns its output characters one to one with its input (extra outputs align with the last
 * input, missing ones fold into the last output), which is what the Rust library reports in the usual cases
 * (decomposition, compatibility expansion, composition of a base with its marks).
 */
import { KilnError } from '../errors.js';
import { NormalizedString, regexMatches, stringMatches } from './normalized-string.js';
import { compileRegex } from './regex.js';

export interface Normalizer {
  normalize(n: NormalizedString): void;
}

type Json = Record<string, any>;

const MARK = /^\p{M}$/u;

function unicodeNormalize(n: NormalizedString, form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): void {
  const s = n.s;
  const whole = s.normalize(form);
  if (whole === s) return;
  if (!n.track) {
    n.s = whole;
    return;
  }
  // chunks: a non-mark code point followed by marks
  const cps = [...s];
  const chunks: string[] = [];
  for (const c of cps) {
    if (chunks.length > 0 && MARK.test(c)) chunks[chunks.length - 1] += c;
    else chunks.push(c);
  }
  let outs = chunks.map((c) => c.normalize(form));
  let ins = chunks;
  if (outs.join('') !== whole) {
    ins = [s];
    outs = [whole];
  }
  const chars: string[] = [];
  const changes: number[] = [];
  for (let k = 0; k < ins.length; k++) {
    const a = [...ins[k]];
    const b = [...outs[k]];
    for (let j = 0; j < b.length; j++) {
      chars.push(b[j]);
      changes.push(j < a.length ? 0 : 1);
    }
    if (b.length < a.length) {
      if (b.length > 0) changes[changes.length - 1] -= a.length - b.length;
    }
  }
  n.transform(chars, changes);
}

function lowercase(n: NormalizedString): void {
  const s = n.s;
  if (s.toLowerCase() === s) return;
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
const WHITE = /^\p{White_Space}$/u;

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
      n.filter((c) => {
        const cp = c.codePointAt(0)!;
        if (cp === 0 || cp === 0xfffd) return false;
        if (c === '\t' || c === '\n' || c === '\r') return true;
        return !CONTROL.test(c);
      });
      if (/[\t\n\r\p{White_Space}]/u.test(n.s)) n.map((c) => (c === '\t' || c === '\n' || c === '\r' || WHITE.test(c) ? ' ' : c));
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
