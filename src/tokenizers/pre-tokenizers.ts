/**
 * Pre-tokenizers of Hugging Face `tokenizer.json` (`"pre_tokenizer": {...}`): they cut the normalized text into
 * pieces the model tokenizes independently. Supported: ByteLevel (add_prefix_space, use_regex with the GPT-2
 * regex), Split (String or Regex pattern, behavior, invert), Digits, BertPreTokenizer, Whitespace,
 * WhitespaceSplit, Punctuation, CharDelimiterSplit, Metaspace, Sequence. Anything else is a KilnError.
 */
import { KilnError } from '../errors.js';
import { toByteLevel } from './byte-level-alphabet.js';
import {
  charMatches,
  invertMatches,
  isolatedRegexEach,
  NormalizedString,
  PreTokenizedString,
  regexMatches,
  splitStrings,
  type SplitBehavior,
} from './normalized-string.js';
import { patternMatcher } from './normalizers.js';
import { compileRegex } from './regex.js';

export interface PreTokenizer {
  preTokenize(p: PreTokenizedString): void;
  /**
   * String-only streaming version for ids-only encoding (no alignments): calls `sink` with each final piece of
   * `s`, depth first, so no large intermediate arrays live. Absent where positions matter (Metaspace).
   */
  fastEach?(s: string, sink: (piece: string) => void): void;
  /**
   * Where the last step is the byte-level mapping: the same pieces before that mapping, so a caller can cache
   * results by the raw piece and skip the mapping on hits.
   */
  fastEachRaw?(s: string, sink: (piece: string) => void): void;
}

/** Stream the pieces a string split keeps. */
function eachSplit(s: string, matches: number[], b: SplitBehavior, sink: (piece: string) => void): void {
  const out: string[] = [];
  splitStrings(s, matches, b, out);
  for (const x of out) sink(x);
}

type Json = Record<string, any>;

/** GPT-2's pre-tokenization regex (as in the Rust ByteLevel pre-tokenizer). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Map a piece's UTF-8 bytes to the byte-level alphabet, each byte aligned with its source character. ASCII maps
 * one character to one, so an ASCII piece keeps its alignments as they are.
 */
export function byteLevelTransform(n: NormalizedString): void {
  const s = n.s;
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  const out = toByteLevel(s);
  if (ascii || !n.track) {
    n.s = out;
    return;
  }
  const al = new Int32Array(2 * out.length);
  let w = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    const cp = s.codePointAt(i)!;
    const wdt = cp > 0xffff ? 2 : 1;
    const nb = c < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    const as = n.alignStart(i);
    const ae = n.alignEnd(i);
    for (let k = 0; k < nb; k++) {
      al[w++] = as;
      al[w++] = ae;
    }
    i += wdt;
  }
  n.s = out;
  n.a = al;
}

class ByteLevel implements PreTokenizer {
  private re: RegExp;
  constructor(
    readonly addPrefixSpace: boolean,
    readonly useRegex: boolean,
  ) {
    this.re = compileRegex(GPT2_PATTERN);
  }
  fastEach(s: string, sink: (piece: string) => void): void {
    this.fastEachRaw(s, (x) => sink(toByteLevel(x)));
  }
  fastEachRaw(s: string, sink: (piece: string) => void): void {
    if (s.length === 0) return;
    if (this.addPrefixSpace && !s.startsWith(' ')) s = ' ' + s;
    if (this.useRegex) isolatedRegexEach(this.re, s, sink);
    else sink(s);
  }
  preTokenize(p: PreTokenizedString): void {
    p.split((n) => {
      if (this.addPrefixSpace && !n.s.startsWith(' ')) n.prepend(' ');
      return this.useRegex ? n.split(regexMatches(this.re, n.s), 'Isolated') : [n];
    });
    p.normalize(byteLevelTransform);
  }
}

const NUMERIC = /\p{N}/u;
const PUNCT = /\p{P}/u;
const WS = /\p{White_Space}/u;

function isBertPunc(cp: number): boolean {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return PUNCT.test(String.fromCodePoint(cp));
}
const isWhite = (cp: number) => WS.test(String.fromCodePoint(cp));
const isNumeric = (cp: number) => NUMERIC.test(String.fromCodePoint(cp));

const BEHAVIORS = new Set(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']);
function behavior(b: unknown, where: string): SplitBehavior {
  if (typeof b === 'string' && BEHAVIORS.has(b)) return b as SplitBehavior;
  throw new KilnError('E_FORMAT', `${where}: unknown split behavior ${JSON.stringify(b)} (expected one of ${[...BEHAVIORS].join(', ')})`);
}

/** Build a pre-tokenizer from its tokenizer.json object (null → none). */
export function preTokenizerFromJson(j: Json | null | undefined): PreTokenizer | null {
  if (!j) return null;
  switch (j.type) {
    case 'ByteLevel':
      return new ByteLevel(j.add_prefix_space ?? true, j.use_regex ?? true);
    case 'Split': {
      const find = patternMatcher(j.pattern, 'pre_tokenizer Split');
      const b = behavior(j.behavior, 'pre_tokenizer Split');
      const invert = !!j.invert;
      const re = j.pattern?.Regex !== undefined ? compileRegex(j.pattern.Regex) : null;
      return {
        preTokenize: (p) => p.split((n) => n.split(invert ? invertMatches(find(n.s)) : find(n.s), b)),
        fastEach: (s, sink) => {
          if (re && !invert && b === 'Isolated') isolatedRegexEach(re, s, sink);
          else eachSplit(s, invert ? invertMatches(find(s)) : find(s), b, sink);
        },
      };
    }
    case 'Digits': {
      const b: SplitBehavior = j.individual_digits ? 'Isolated' : 'Contiguous';
      return {
        preTokenize: (p) => p.split((n) => n.split(charMatches(isNumeric, n.s), b)),
        fastEach: (s, sink) => eachSplit(s, charMatches(isNumeric, s), b, sink),
      };
    }
    case 'BertPreTokenizer':
      return {
        preTokenize: (p) => {
          p.split((n) => n.split(charMatches(isWhite, n.s), 'Removed'));
          p.split((n) => n.split(charMatches(isBertPunc, n.s), 'Isolated'));
        },
        fastEach: (s, sink) => eachSplit(s, charMatches(isWhite, s), 'Removed', (w) => eachSplit(w, charMatches(isBertPunc, w), 'Isolated', sink)),
      };
    case 'Whitespace': {
      // the Rust `regex` crate's \w (Alphabetic, M, Nd, Pc, Join_Control) and \s (White_Space)
      const re = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu;
      return {
        preTokenize: (p) => p.split((n) => n.split(invertMatches(regexMatches(re, n.s)), 'Removed')),
        fastEach: (s, sink) => eachSplit(s, invertMatches(regexMatches(re, s)), 'Removed', sink),
      };
    }
    case 'WhitespaceSplit':
      return {
        preTokenize: (p) => p.split((n) => n.split(charMatches(isWhite, n.s), 'Removed')),
        fastEach: (s, sink) => eachSplit(s, charMatches(isWhite, s), 'Removed', sink),
      };
    case 'Punctuation': {
      const b = behavior(j.behavior ?? 'Isolated', 'pre_tokenizer Punctuation');
      return {
        preTokenize: (p) => p.split((n) => n.split(charMatches(isBertPunc, n.s), b)),
        fastEach: (s, sink) => eachSplit(s, charMatches(isBertPunc, s), b, sink),
      };
    }
    case 'CharDelimiterSplit': {
      const d = String(j.delimiter).codePointAt(0)!;
      return {
        preTokenize: (p) => p.split((n) => n.split(charMatches((c) => c === d, n.s), 'Removed')),
        fastEach: (s, sink) => eachSplit(s, charMatches((c) => c === d, s), 'Removed', sink),
      };
    }
    case 'Metaspace': {
      const rep = String(j.replacement ?? '▁');
      const scheme: string = j.prepend_scheme ?? (j.add_prefix_space === false ? 'never' : 'always');
      const split = j.split ?? true;
      const repCp = rep.codePointAt(0)!;
      return {
        preTokenize: (p) =>
          p.split((n) => {
            if (n.s.includes(' ')) n.replace(charMatches((c) => c === 32, n.s), rep);
            if (scheme === 'always' ? !n.s.startsWith(rep) : scheme === 'first' ? !n.s.startsWith(rep) && n.origStart === 0 : false) {
              n.prepend(rep);
            }
            return split ? n.split(charMatches((c) => c === repCp, n.s), 'MergedWithNext') : [n];
          }),
      };
    }
    case 'Sequence': {
      const list = ((j.pretokenizers ?? []) as Json[]).map((x) => preTokenizerFromJson(x)).filter((x): x is PreTokenizer => x !== null);
      const allFast = list.every((x) => x.fastEach);
      // stage k feeds stage k + 1, the last feeds the sink; the closures are rebuilt only when the sink changes
      const compose = (raw: boolean) => {
        let lastSink: ((piece: string) => void) | null = null;
        let first: (piece: string) => void = () => {};
        return (s: string, sink: (piece: string) => void) => {
          if (sink !== lastSink) {
            let next = sink;
            for (let k = list.length - 1; k >= 0; k--) {
              const stage = list[k];
              const after = next;
              next = raw && k === list.length - 1 ? (x: string) => stage.fastEachRaw!(x, after) : (x: string) => stage.fastEach!(x, after);
            }
            first = next;
            lastSink = sink;
          }
          first(s);
        };
      };
      const chain = allFast ? compose(false) : undefined;
      const rawChain = allFast && list.length > 0 && list[list.length - 1].fastEachRaw ? compose(true) : undefined;
      return { preTokenize: (p) => list.forEach((x) => x.preTokenize(p)), fastEach: chain, fastEachRaw: rawChain };
    }
    default:
      throw new KilnError(
        'E_FORMAT',
        `tokenizer.json pre_tokenizer type ${JSON.stringify(j.type)} is not supported by Kiln (supported: ByteLevel, Split, Digits, BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, CharDelimiterSplit, Metaspace, Sequence)`,
      );
  }
}
