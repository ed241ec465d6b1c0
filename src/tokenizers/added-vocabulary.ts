/**
 * Added tokens (`"added_tokens": [...]` in tokenizer.json): matched in the text before the model sees it,
 * leftmost-longest. Tokens with `normalized: false` are matched in the raw text, then the remaining pieces are
 * normalized and tokens with `normalized: true` are matched in the normalized pieces (their content normalized
 * too). `single_word` requires word boundaries around the match, `lstrip` / `rstrip` swallow the white space on
 * that side into the token's span. `special` tokens can be skipped when decoding.
 */
import type { Normalizer } from './normalizers.js';
import { NormalizedString, PreTokenizedString, type Split } from './normalized-string.js';
import { escapeRegex } from './regex.js';

export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

// The Rust `regex` crate's \w and \s
const WORD_END = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const WORD_START = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const WS_END = /\p{White_Space}*$/u;
const WS_START = /^\p{White_Space}*/u;

export class AddedVocabulary {
  readonly tokens: AddedToken[];
  readonly byContent = new Map<string, AddedToken>();
  readonly byId = new Map<number, AddedToken>();
  /** For `normalized` tokens: the normalized content used when matching and decoding. */
  private normalizedContent = new Map<number, string>();
  private rawRe: RegExp | null;
  private normRe: RegExp | null;
  private rawMap = new Map<string, AddedToken>();
  private normMap = new Map<string, AddedToken>();

  constructor(tokens: AddedToken[], normalizer: Normalizer | null) {
    this.tokens = tokens;
    for (const t of tokens) {
      if (t.content.length === 0) continue;
      this.byContent.set(t.content, t);
      this.byId.set(t.id, t);
      if (t.normalized && normalizer) {
        const n = NormalizedString.from(t.content, false);
        normalizer.normalize(n);
        if (n.s !== t.content) this.normalizedContent.set(t.id, n.s);
      }
    }
    for (const t of this.byId.values()) {
      if (t.normalized) this.normMap.set(this.normalizedContent.get(t.id) ?? t.content, t);
      else this.rawMap.set(t.content, t);
    }
    this.rawRe = buildRe([...this.rawMap.keys()]);
    this.normRe = buildRe([...this.normMap.keys()]);
  }

  get size(): number {
    return this.byId.size;
  }

  isSpecial(content: string): boolean {
    const t = this.byContent.get(content);
    return !!t && t.special;
  }

  /** The string the decoder sees for an added token id. */
  decodeForm(id: number): string | undefined {
    const t = this.byId.get(id);
    if (!t) return undefined;
    return this.normalizedContent.get(id) ?? t.content;
  }

  private findSplits(n: NormalizedString, re: RegExp | null, map: Map<string, AddedToken>): Split[] {
    const s = n.s;
    if (!re || s.length === 0) return [{ n, tokens: null }];
    const out: Split[] = [];
    let startOffset = 0;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const tok = map.get(m[0])!;
      let start = m.index;
      let stop = start + m[0].length;
      if (tok.singleWord) {
        const startSpace = start === 0 || !WORD_END.test(s.slice(0, start));
        const stopSpace = stop === s.length || !WORD_START.test(s.slice(stop));
        if (!startSpace || !stopSpace) {
          re.lastIndex = m.index + m[0].length; // non-overlapping matches: the discarded one is consumed
          continue;
        }
      }
      if (tok.lstrip) {
        const before = s.slice(0, start);
        const ns = WS_END.exec(before)!.index;
        start = Math.max(ns, startOffset);
      }
      if (tok.rstrip) stop += WS_START.exec(s.slice(stop))![0].length;
      if (startOffset < start) out.push({ n: n.slice(startOffset, start), tokens: null });
      const piece = n.slice(start, stop);
      out.push({ n: piece, tokens: [{ id: tok.id, value: piece.s, start: 0, end: piece.s.length }] });
      startOffset = stop;
      re.lastIndex = stop;
    }
    if (startOffset !== s.length) out.push({ n: n.slice(startOffset, s.length), tokens: null });
    return out;
  }

  /** Split `text` around added tokens and normalize the rest (the Rust `extract_and_normalize`). */
  extractAndNormalize(text: string, normalizer: Normalizer | null, track: boolean): PreTokenizedString {
    const p = new PreTokenizedString([{ n: NormalizedString.from(text, track), tokens: null }]);
    p.split((n) => this.findSplits(n, this.rawRe, this.rawMap));
    p.split((n) => {
      if (normalizer) normalizer.normalize(n);
      return this.findSplits(n, this.normRe, this.normMap);
    });
    return p;
  }
}

function buildRe(contents: string[]): RegExp | null {
  if (contents.length === 0) return null;
  // longest first: at any position the longest alternative wins, as leftmost-longest Aho-Corasick
  const sorted = contents.slice().sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map(escapeRegex).join('|'), 'gu');
}
