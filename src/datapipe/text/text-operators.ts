/**
 * Built-in text operators for language-model data. Item type "doc": `{ id, source, text }` (text is small enough to
 * travel in the queue; media never does).
 *   text-files      source: .txt (one doc per file) and .jsonl (one doc per line, field `text_field`)
 *   normalize       NFKC, control characters removed, whitespace collapsed, optional lower-casing
 *   length-filter   drop docs outside [min_chars, max_chars] or under min_words
 *   dedup-exact     drop docs whose normalised text hashes equal an earlier (by id) doc's
 *   dedup-minhash   MinHash-LSH near-duplicate removal (estimated Jaccard >= threshold)
 *   tokenize-pack   tokenize (byte-level default) and pack into token shards with a manifest
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KilnError } from '../../errors.js';
import { pBool, pInt, pList, pNum, pOnly, pStr } from '../params.js';
import { listInputs } from '../sources.js';
import type { Item, OperatorDef } from '../types.js';
import { estimatedJaccard, MinHasher } from './minhash.js';
import { writeTokenShards } from './token-shards.js';
import { getTokenizer } from './tokenizers.js';

const text = (it: Item): string => {
  if (typeof it.text !== 'string') throw new KilnError('E_DATAPIPE', `item ${it.id}: no "text" field`);
  return it.text;
};

export const textFiles: OperatorDef = {
  name: 'text-files', kind: 'source', inType: 'none', outType: 'doc', resources: { cpu: 0 },
  description: 'Documents from .txt files (one each) and .jsonl files (one per line) under --input',
  create(p, env) {
    pOnly(p, ['extensions', 'text_field', 'input']);
    const ext = pList<string>(p, 'extensions', ['txt', 'jsonl'], 'string');
    const field = pStr(p, 'text_field', 'text');
    const input = typeof p.input === 'string' ? p.input : env.input;
    return { kind: 'source', run: async function* () {
      for (const f of listInputs(input, ext)) {
        if (!f.path.endsWith('.jsonl')) {
          yield { id: f.id, source: f.path, text: readFileSync(f.path, 'utf8') };
          continue;
        }
        let n = 0;
        for await (const line of createInterface({ input: createReadStream(f.path), crlfDelay: Infinity })) {
          const k = n++;
          if (line.trim() === '') continue;
          let t: unknown;
          try {
            t = (JSON.parse(line) as Record<string, unknown>)[field];
          } catch {
            t = undefined;
          }
          // A bad line still becomes an item so the run records it (the first stage reports it as poison).
          yield { id: `${f.id}-l${String(k).padStart(7, '0')}`, source: `${f.path}:${k + 1}`,
            ...(typeof t === 'string' ? { text: t } : { bad_line: line.slice(0, 200) }) };
        }
      }
    } };
  },
};

export function normalizeText(s: string, lower: boolean): string {
  // eslint-disable-next-line no-control-regex
  const t = s.normalize('NFKC').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim();
  return lower ? t.toLowerCase() : t;
}

export const normalize: OperatorDef = {
  name: 'normalize', kind: 'map', inType: 'doc', outType: 'doc', resources: { cpu: 0.25, memoryMb: 16 },
  description: 'NFKC, strip control characters, collapse whitespace (optionally lower-case)',
  create(p) {
    pOnly(p, ['lowercase']);
    const lower = pBool(p, 'lowercase', false);
    return { kind: 'map', run: async (it) => ({ ...it, text: normalizeText(text(it), lower) }) };
  },
};

export const lengthFilter: OperatorDef = {
  name: 'length-filter', kind: 'filter', inType: 'doc', outType: 'doc', resources: { cpu: 0.1, memoryMb: 8 },
  description: 'Keep docs with min_chars <= length <= max_chars and at least min_words words',
  create(p) {
    pOnly(p, ['min_chars', 'max_chars', 'min_words']);
    const min = pInt(p, 'min_chars', 0), max = pInt(p, 'max_chars', Number.MAX_SAFE_INTEGER), minW = pInt(p, 'min_words', 0);
    return { kind: 'filter', run: async (it) => {
      const t = text(it);
      const n = [...t].length;
      if (n < min) return { keep: false, reason: `length ${n} < min_chars ${min}` };
      if (n > max) return { keep: false, reason: `length ${n} > max_chars ${max}` };
      const w = t.split(/\s+/).filter(Boolean).length;
      if (w < minW) return { keep: false, reason: `${w} words < min_words ${minW}` };
      return true;
    } };
  },
};

export const dedupExact: OperatorDef = {
  name: 'dedup-exact', kind: 'batch', inType: 'doc', outType: 'doc', resources: { cpu: 1, memoryMb: 512 },
  description: 'Exact duplicate removal by SHA-256 of the text; the first doc (by id) is kept',
  create(p) {
    pOnly(p, []);
    return { kind: 'batch', size: 'all', run: async (items) => {
      const first = new Map<string, string>();
      const out: Item[] = [];
      const dropped: Array<{ item: Item; reason: string }> = [];
      for (const it of items) {
        const h = createHash('sha256').update(text(it)).digest('hex');
        const f = first.get(h);
        if (f) dropped.push({ item: it, reason: `exact duplicate of ${f}` });
        else (first.set(h, it.id), out.push({ ...it, sha256: h }));
      }
      return { out, dropped };
    } };
  },
};

export const dedupMinhash: OperatorDef = {
  name: 'dedup-minhash', kind: 'batch', inType: 'doc', outType: 'doc', resources: { cpu: 1, memoryMb: 1024 },
  description: 'MinHash-LSH near-duplicate removal (word n-gram shingles, estimated Jaccard >= threshold)',
  create(p) {
    pOnly(p, ['num_perm', 'bands', 'ngram', 'threshold', 'seed']);
    const o = { numPerm: pInt(p, 'num_perm', 128, 8, 1024), bands: pInt(p, 'bands', 16, 1, 1024),
      ngram: pInt(p, 'ngram', 5, 1, 64), seed: pInt(p, 'seed', 42, 1) };
    if (o.numPerm % o.bands !== 0) throw new KilnError('E_CONFIG', `num_perm ${o.numPerm} must be a multiple of bands ${o.bands}`);
    const threshold = pNum(p, 'threshold', 0.8, 0, 1);
    return { kind: 'batch', size: 'all', run: async (items) => {
      const mh = new MinHasher(o);
      const buckets = new Map<string, Array<{ id: string; sig: Uint32Array }>>();
      const out: Item[] = [];
      const dropped: Array<{ item: Item; reason: string }> = [];
      for (const it of items) {
        const sig = mh.signature(text(it));
        const keys = mh.bandKeys(sig);
        let dup: { id: string; j: number } | undefined;
        for (const k of keys)
          for (const c of buckets.get(k) ?? []) {
            const j = estimatedJaccard(sig, c.sig);
            if (j >= threshold && (!dup || c.id < dup.id)) dup = { id: c.id, j };
          }
        if (dup) {
          dropped.push({ item: it, reason: `near-duplicate of ${dup.id} (jaccard ~${dup.j.toFixed(2)})` });
          continue;
        }
        out.push(it);
        for (const k of keys) {
          const l = buckets.get(k);
          if (l) l.push({ id: it.id, sig });
          else buckets.set(k, [{ id: it.id, sig }]);
        }
      }
      return { out, dropped };
    } };
  },
};

export const tokenizePack: OperatorDef = {
  name: 'tokenize-pack', kind: 'sink', inType: 'doc', outType: 'doc', resources: { cpu: 1, memoryMb: 1024 },
  description: 'Tokenize (byte-level default, pluggable) and pack into token shards <out>/<dir>/tokens-*.bin',
  create(p) {
    pOnly(p, ['tokenizer', 'seq_len', 'shard_tokens', 'dir']);
    const tok = getTokenizer(pStr(p, 'tokenizer', 'bytes'));
    const seqLen = pInt(p, 'seq_len', 2048, 1), shardTokens = pInt(p, 'shard_tokens', 1 << 26, 1);
    const dir = pStr(p, 'dir', 'tokens');
    return { kind: 'sink', size: 'all', run: async (items, ctx) => {
      const r = writeTokenShards(join(ctx.outDir, dir), items.map((it) => ({ id: it.id, text: text(it) })), tok, seqLen,
        shardTokens);
      return { out: items.map((it, i) => {
        const { text: _t, ...rest } = it;
        void _t;
        return { ...rest, tokens: r.docs[i].tokens, token_shard: `${dir}/${r.docs[i].shard}`, token_offset: r.docs[i].offset };
      }) };
    } };
  },
};

export const TEXT_OPERATORS: OperatorDef[] = [textFiles, normalize, lengthFilter, dedupExact, dedupMinhash, tokenizePack];
