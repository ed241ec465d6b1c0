/**
 * Byte-level BPE training (GPT-2 / DeepSeek-V3 style), the algorithm of the Rust `tokenizers` BpeTrainer so the
 * same corpus gives the same vocabulary and merges: special tokens take the first ids, then the 256 byte-level
 * characters (plus any other character seen) in code-point order; pre-tokens are counted once; pair counts are
 * kept with the set of words each pair occurs in; a max-heap ordered by (count desc, pair asc) is popped with lazy
 * re-validation (a stale count is refreshed and re-queued); each merge rewrites only the words that contain the
 * pair and applies the resulting ±count changes to neighbouring pairs (no recount). Training stops at
 * `vocabSize` or when the best pair is rarer than `minFrequency`.
 *
 * Output: a tokenizer.json object (BPE model, ByteLevel decoder, the chosen pre-tokenizer) that `Tokenizer`,
 * Python `tokenizers` and `transformers` all load.
 */
import { writeFileSync } from 'node:fs';
import { KilnError } from '../errors.js';
import { byteLevelAlphabet } from './byte-level-alphabet.js';
import { Tokenizer } from './tokenizer.js';

type Json = Record<string, any>;

/** DeepSeek-V3's pre-tokenizer (from its public tokenizer.json): three isolated Split regexes, then ByteLevel. */
export const DEEPSEEK_V3_SPLITS = [
  '\\p{N}{1,3}',
  '[一-龥\u3040-ゟ゠-ヿ]+',
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

export function preTokenizerPreset(name: 'gpt2' | 'deepseek-v3'): Json {
  if (name === 'gpt2') return { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    type: 'Sequence',
    pretokenizers: [
      ...DEEPSEEK_V3_SPLITS.map((r) => ({ type: 'Split', pattern: { Regex: r }, behavior: 'Isolated', invert: false })),
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}

export interface TrainBpeOptions {
  /** Final vocabulary size, special tokens and the 256 byte characters included. */
  vocabSize: number;
  /** Tokens given the first ids and registered as special added tokens. */
  specialTokens?: string[];
  /** A pair rarer than this stops training (default 0: never). */
  minFrequency?: number;
  /** 'gpt2' (default), 'deepseek-v3', or a tokenizer.json pre_tokenizer object ending in ByteLevel. */
  preTokenizer?: 'gpt2' | 'deepseek-v3' | Json;
  /** Write the tokenizer.json here as well. */
  out?: string;
  /** Called after each merge with (vocabulary size so far, target). */
  onProgress?: (size: number, target: number) => void;
}

export interface TrainBpeResult {
  json: Json;
  tokenizer: Tokenizer;
  merges: number;
  words: number;
}

interface QEntry {
  count: number;
  a: number;
  b: number;
  pos: Set<number>;
}

/** true when x should pop before y (higher count, then smaller pair) */
function before(x: QEntry, y: QEntry): boolean {
  if (x.count !== y.count) return x.count > y.count;
  if (x.a !== y.a) return x.a < y.a;
  return x.b < y.b;
}

class MaxHeap {
  private h: QEntry[] = [];
  get size(): number {
    return this.h.length;
  }
  push(e: QEntry): void {
    const h = this.h;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }
  pop(): QEntry | undefined {
    const h = this.h;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r], h[l]) ? r : l;
        if (!before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

const K = 2 ** 21;

export function trainBpe(texts: Iterable<string>, opts: TrainBpeOptions): TrainBpeResult {
  const special = opts.specialTokens ?? [];
  const minFreq = opts.minFrequency ?? 0;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < special.length + 256) {
    throw new KilnError('E_ARG', `trainBpe: vocabSize ${opts.vocabSize} must be an integer ≥ ${special.length + 256} (the special tokens plus the 256 byte characters)`);
  }
  if (opts.vocabSize >= K) throw new KilnError('E_ARG', `trainBpe: vocabSize ${opts.vocabSize} exceeds ${K - 1}`);
  const pre = typeof opts.preTokenizer === 'object' ? opts.preTokenizer : preTokenizerPreset(opts.preTokenizer ?? 'gpt2');
  const skeleton: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: pre,
    post_processor: pre.type === 'ByteLevel' ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } : null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', vocab: {}, merges: [] },
  };
  const pipeline = new Tokenizer(skeleton);

  // 1. count pre-tokens
  const wordCounts = new Map<string, number>();
  for (const text of texts) for (const w of pipeline.preTokenizeStrings(text)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);

  // 2. vocabulary: special tokens, then the alphabet in code-point order
  const idToWord: string[] = [];
  const wordToId = new Map<string, number>();
  const addTok = (t: string) => {
    if (!wordToId.has(t)) {
      wordToId.set(t, idToWord.length);
      idToWord.push(t);
    }
  };
  special.forEach(addTok);
  const alphabet = new Set<string>(byteLevelAlphabet());
  for (const w of wordCounts.keys()) for (const c of w) alphabet.add(c);
  [...alphabet].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!).forEach(addTok);

  // 3. words as symbol-id arrays
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of wordCounts) {
    const syms: number[] = [];
    for (const ch of w) syms.push(wordToId.get(ch)!);
    words.push(syms);
    counts.push(c);
  }

  // 4. pair counts and where each pair occurs
  const pairCounts = new Map<number, number>();
  let where = new Map<number, Set<number>>();
  words.forEach((syms, i) => {
    for (let k = 0; k + 1 < syms.length; k++) {
      const key = syms[k] * K + syms[k + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + counts[i]);
      let s = where.get(key);
      if (!s) where.set(key, (s = new Set()));
      s.add(i);
    }
  });
  const queue = new MaxHeap();
  const flushWhere = () => {
    for (const [key, pos] of where) {
      const c = pairCounts.get(key)!;
      if (c > 0) queue.push({ count: c, a: Math.floor(key / K), b: key % K, pos });
    }
    where = new Map();
  };
  flushWhere();

  // 5. merges
  const merges: Array<[string, string]> = [];
  for (;;) {
    if (wordToId.size >= opts.vocabSize) break;
    const top = queue.pop();
    if (!top) break;
    const key = top.a * K + top.b;
    const current = pairCounts.get(key) ?? 0;
    if (top.count !== current) {
      top.count = current;
      queue.push(top);
      continue;
    }
    if (top.count < 1 || minFreq > top.count) break;
    const newTok = idToWord[top.a] + idToWord[top.b];
    addTok(newTok);
    const newId = wordToId.get(newTok)!;
    merges.push([idToWord[top.a], idToWord[top.b]]);
    for (const wi of top.pos) {
      const syms = words[wi];
      const cnt = counts[wi];
      const change = (p: number, q: number, d: number) => {
        const k2 = p * K + q;
        pairCounts.set(k2, (pairCounts.get(k2) ?? 0) + d * cnt);
        if (d > 0) {
          let s = where.get(k2);
          if (!s) where.set(k2, (s = new Set()));
          s.add(wi);
        }
      };
      // the Rust Word::merge: left to right, non-overlapping
      let i = 0;
      while (i < syms.length) {
        if (syms[i] === top.a && i + 1 < syms.length && syms[i + 1] === top.b) {
          if (i > 0) {
            change(syms[i - 1], top.a, -1);
            change(syms[i - 1], newId, 1);
          }
          syms.splice(i, 2, newId);
          if (i < syms.length - 1) {
            change(top.b, syms[i + 1], -1);
            change(newId, syms[i + 1], 1);
          }
        }
        i++;
      }
    }
    flushWhere();
    opts.onProgress?.(wordToId.size, opts.vocabSize);
  }

  const vocab: Record<string, number> = {};
  idToWord.forEach((t, i) => (vocab[t] = i));
  const json: Json = {
    ...skeleton,
    added_tokens: special.map((t, i) => ({ id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  if (opts.out) writeTokenizerJson(opts.out, json);
  return { json, tokenizer: new Tokenizer(json), merges: merges.length, words: words.length };
}

/** Write a tokenizer.json object (pretty-printed like the Rust library). */
export function writeTokenizerJson(path: string, json: Json): void {
  try {
    writeFileSync(path, JSON.stringify(json, null, 2));
  } catch (e) {
    throw new KilnError('E_IO', `cannot write tokenizer ${path}: ${(e as Error).message}`, { cause: e });
  }
}
