/**
 * The BPE model of Hugging Face `tokenizers`: a word (one pre-token) starts as its characters (with
 * `continuing_subword_prefix` on non-first and `end_of_word_suffix` on the last, unknown ones as `unk_token` —
 * fused when `fuse_unk` — or as `<0xXX>` byte tokens when `byte_fallback`), then the adjacent pair with the lowest
 * merge rank is merged, leftmost first, until no pair has a rank (a binary heap over (rank, position), stale entries
 * skipped, as the Rust `Word::merge_all`). `ignore_merges` returns a word that is itself in the vocabulary as one
 * token. Results for words shorter than 256 code units are cached (200,000 entries, then the cache restarts).
 * Merges load from "a b" strings or ["a", "b"] pairs; the merged token must be in the vocabulary.
 */
import { KilnError } from '../../errors.js';
import type { Token } from '../normalized-string.js';

export interface BpeOptions {
  unkToken?: string | null;
  continuingSubwordPrefix?: string | null;
  endOfWordSuffix?: string | null;
  fuseUnk?: boolean;
  byteFallback?: boolean;
  ignoreMerges?: boolean;
  dropout?: number | null;
}

const SHIFT = 2 ** 21; // ids and positions stay below 2^21
const CACHE_CAP = 200_000;
const CACHE_MAX_LEN = 256;

interface Cached {
  ids: Int32Array;
  starts: Int32Array;
  ends: Int32Array;
}

export class BpeModel {
  readonly type = 'BPE';
  readonly vocab: Map<string, number>;
  readonly vocabR: string[];
  /** (left id * 2^21 + right id) → rank * 2^21 + new id */
  readonly merges: Map<number, number>;
  readonly mergeList: Array<[string, string]>;
  readonly opts: Required<BpeOptions>;
  private cache = new Map<string, Cached>();
  private byteIds: Int32Array | null = null;
  // scratch buffers for the merge loop
  private symId = new Int32Array(64);
  private symStart = new Int32Array(64);
  private symEnd = new Int32Array(64);
  private symPrev = new Int32Array(64);
  private symNext = new Int32Array(64);
  private heap = new Float64Array(256);

  constructor(vocab: Map<string, number>, merges: Array<[string, string]>, opts: BpeOptions = {}) {
    this.vocab = vocab;
    this.opts = {
      unkToken: opts.unkToken ?? null,
      continuingSubwordPrefix: opts.continuingSubwordPrefix ?? null,
      endOfWordSuffix: opts.endOfWordSuffix ?? null,
      fuseUnk: opts.fuseUnk ?? false,
      byteFallback: opts.byteFallback ?? false,
      ignoreMerges: opts.ignoreMerges ?? false,
      dropout: opts.dropout ?? null,
    };
    if (this.opts.dropout) {
      throw new KilnError('E_FORMAT', `BPE model: dropout ${this.opts.dropout} is not supported (Kiln encodes deterministically); set "dropout": null`);
    }
    this.vocabR = [];
    for (const [t, id] of vocab) {
      if (id >= SHIFT) throw new KilnError('E_FORMAT', `BPE model: token id ${id} of ${JSON.stringify(t)} exceeds Kiln's limit of ${SHIFT - 1}`);
      this.vocabR[id] = t;
    }
    this.mergeList = merges;
    this.merges = new Map();
    const prefixLen = this.opts.continuingSubwordPrefix?.length ?? 0;
    merges.forEach(([a, b], rank) => {
      const ai = vocab.get(a);
      const bi = vocab.get(b);
      if (ai === undefined || bi === undefined) {
        throw new KilnError('E_FORMAT', `BPE model: merge #${rank} "${a} ${b}" uses a token missing from the vocabulary (${ai === undefined ? a : b}); the merges and vocab do not belong together`);
      }
      const merged = a + b.slice(prefixLen);
      const ni = vocab.get(merged);
      if (ni === undefined) {
        throw new KilnError('E_FORMAT', `BPE model: merge #${rank} "${a} ${b}" produces ${JSON.stringify(merged)}, which is not in the vocabulary`);
      }
      this.merges.set(ai * SHIFT + bi, rank * SHIFT + ni);
    });
    if (this.opts.byteFallback) {
      this.byteIds = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) {
        const id = vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
        if (id !== undefined) this.byteIds[b] = id;
      }
    }
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  tokenToId(t: string): number | undefined {
    return this.vocab.get(t);
  }

  idToToken(id: number): string | undefined {
    return this.vocabR[id];
  }

  /** Tokenize one pre-token; appends to `out` with offsets relative to `w`. */
  tokenize(w: string, out: Token[]): void {
    if (w.length === 0) return;
    if (this.opts.ignoreMerges) {
      const id = this.vocab.get(w);
      if (id !== undefined) {
        out.push({ id, value: w, start: 0, end: w.length });
        return;
      }
    }
    let c = this.cache.get(w);
    if (!c) {
      c = this.mergeWord(w);
      if (w.length < CACHE_MAX_LEN) {
        if (this.cache.size >= CACHE_CAP) this.cache.clear();
        this.cache.set(w, c);
      }
    }
    for (let k = 0; k < c.ids.length; k++) out.push({ id: c.ids[k], value: this.vocabR[c.ids[k]], start: c.starts[k], end: c.ends[k] });
  }

  /** Ids only (the fast path). */
  tokenizeIds(w: string, out: number[]): void {
    if (w.length === 0) return;
    if (this.opts.ignoreMerges) {
      const id = this.vocab.get(w);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    let c = this.cache.get(w);
    if (!c) {
      c = this.mergeWord(w);
      if (w.length < CACHE_MAX_LEN) {
        if (this.cache.size >= CACHE_CAP) this.cache.clear();
        this.cache.set(w, c);
      }
    }
    for (let k = 0; k < c.ids.length; k++) out.push(c.ids[k]);
  }

  private grow(n: number): void {
    if (this.symId.length >= n) return;
    let m = this.symId.length;
    while (m < n) m *= 2;
    this.symId = new Int32Array(m);
    this.symStart = new Int32Array(m);
    this.symEnd = new Int32Array(m);
    this.symPrev = new Int32Array(m);
    this.symNext = new Int32Array(m);
    this.heap = new Float64Array(4 * m);
  }

  private unkId(): number {
    const u = this.opts.unkToken!;
    const id = this.vocab.get(u);
    if (id === undefined) throw new KilnError('E_FORMAT', `BPE model: unk_token ${JSON.stringify(u)} is not in the vocabulary`);
    return id;
  }

  private mergeWord(w: string): Cached {
    // worst case: 4 byte-fallback symbols per code unit
    this.grow(this.opts.byteFallback ? 4 * w.length + 1 : w.length + 1);
    const id = this.symId;
    const st = this.symStart;
    const en = this.symEnd;
    let n = 0;
    const pre = this.opts.continuingSubwordPrefix;
    const suf = this.opts.endOfWordSuffix;
    let unk = -1;
    let unkS = 0;
    let unkE = 0;
    const flushUnk = () => {
      if (unk >= 0) {
        id[n] = unk;
        st[n] = unkS;
        en[n] = unkE;
        n++;
        unk = -1;
      }
    };
    for (let i = 0; i < w.length; ) {
      const cu = w.charCodeAt(i);
      const wdt = cu >= 0xd800 && cu <= 0xdbff && i + 1 < w.length ? 2 : 1;
      const e = i + wdt;
      let s = wdt === 1 ? w[i] : w.slice(i, e);
      if (i > 0 && pre) s = pre + s;
      if (e === w.length && suf) s = s + suf;
      const v = this.vocab.get(s);
      if (v !== undefined) {
        flushUnk();
        id[n] = v;
        st[n] = i;
        en[n] = e;
        n++;
      } else {
        let done = false;
        if (this.byteIds) {
          const bytes = new TextEncoder().encode(s);
          let ok = true;
          for (const b of bytes) if (this.byteIds[b] < 0) ok = false;
          if (ok) {
            for (const b of bytes) {
              id[n] = this.byteIds[b];
              st[n] = i;
              en[n] = e;
              n++;
            }
            done = true;
          }
        }
        if (!done && this.opts.unkToken !== null) {
          if (unk >= 0 && this.opts.fuseUnk) unkE = e;
          else {
            flushUnk();
            unk = this.unkId();
            unkS = i;
            unkE = e;
          }
        }
      }
      i = e;
    }
    flushUnk();
    this.mergeAll(n);
    // collect surviving symbols
    let count = 0;
    for (let k = 0; k !== -1 && k < n; k = this.symNext[k]) count++;
    const ids = new Int32Array(count);
    const starts = new Int32Array(count);
    const ends = new Int32Array(count);
    let j = 0;
    for (let k = 0; k !== -1 && k < n; k = this.symNext[k]) {
      ids[j] = id[k];
      starts[j] = st[k];
      ends[j] = en[k];
      j++;
    }
    return { ids, starts, ends };
  }

  private mergeAll(n: number): void {
    const id = this.symId;
    const en = this.symEnd;
    const prev = this.symPrev;
    const next = this.symNext;
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    if (n < 2) return;
    const merges = this.merges;
    const heap = this.heap;
    let hn = 0;
    const push = (key: number) => {
      let i = hn++;
      heap[i] = key;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= key) break;
        heap[i] = heap[p];
        heap[p] = key;
        i = p;
      }
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap[--hn];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= hn) break;
        const r = l + 1;
        const c = r < hn && heap[r] < heap[l] ? r : l;
        if (heap[c] >= last) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
      return top;
    };
    for (let k = 0; k + 1 < n; k++) {
      const m = merges.get(id[k] * SHIFT + id[k + 1]);
      if (m !== undefined) push(Math.floor(m / SHIFT) * SHIFT + k);
    }
    const alive = new Uint8Array(n).fill(1);
    while (hn > 0) {
      const key = pop();
      const rank = Math.floor(key / SHIFT);
      const pos = key - rank * SHIFT;
      if (!alive[pos]) continue;
      const nx = next[pos];
      if (nx === -1) continue;
      const m = merges.get(id[pos] * SHIFT + id[nx]);
      if (m === undefined || Math.floor(m / SHIFT) !== rank) continue;
      // merge pos with nx
      id[pos] = m - rank * SHIFT;
      en[pos] = en[nx];
      alive[nx] = 0;
      const nn = next[nx];
      next[pos] = nn;
      if (nn !== -1) prev[nn] = pos;
      const pv = prev[pos];
      if (pv !== -1) {
        const m2 = merges.get(id[pv] * SHIFT + id[pos]);
        if (m2 !== undefined) push(Math.floor(m2 / SHIFT) * SHIFT + pv);
      }
      if (nn !== -1) {
        const m3 = merges.get(id[pos] * SHIFT + id[nn]);
        if (m3 !== undefined) push(Math.floor(m3 / SHIFT) * SHIFT + pos);
      }
    }
  }

  toJson(): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    for (const [t, i] of [...this.vocab].sort((a, b) => a[1] - b[1])) vocab[t] = i;
    return {
      type: 'BPE',
      dropout: null,
      unk_token: this.opts.unkToken,
      continuing_subword_prefix: this.opts.continuingSubwordPrefix,
      end_of_word_suffix: this.opts.endOfWordSuffix,
      fuse_unk: this.opts.fuseUnk,
      byte_fallback: this.opts.byteFallback,
      ignore_merges: this.opts.ignoreMerges,
      vocab,
      merges: this.mergeList.map(([a, b]) => [a, b]),
    };
  }
}

/** Parse the `merges` of a tokenizer.json BPE model ("a b" strings or [a, b] pairs). */
export function parseMerges(raw: unknown): Array<[string, string]> {
  if (!Array.isArray(raw)) throw new KilnError('E_FORMAT', 'BPE model: "merges" must be an array of "a b" strings or [a, b] pairs');
  return raw.map((m, i) => {
    if (typeof m === 'string') {
      const sp = m.indexOf(' ', 1);
      if (sp < 0) throw new KilnError('E_FORMAT', `BPE model: merge #${i} ${JSON.stringify(m)} has no space separating its two parts`);
      return [m.slice(0, sp), m.slice(sp + 1)];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new KilnError('E_FORMAT', `BPE model: merge #${i} ${JSON.stringify(m)} is neither "a b" nor [a, b]`);
  });
}
