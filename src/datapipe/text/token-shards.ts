/**
 * Token shards: documents are tokenized, each followed by EOS, concatenated in id order and cut into shards of
 * `shardTokens` tokens (rounded down to whole `seqLen` sequences, the last shard may be short). Each shard is a flat
 * little-endian array (uint16 when the vocabulary fits, else uint32) `tokens-000000.bin`, written atomically;
 * `tokens-manifest.json` records dtype, seq_len, per-shard token counts and the document -> (shard, offset) map.
 */
import { KilnError } from '../../errors.js';
import { join } from 'node:path';
import { writeFileAtomic } from '../store.js';
import type { TextTokenizer } from './tokenizers.js';

export interface TokenShardResult {
  shards: Array<{ name: string; tokens: number }>;
  docs: Array<{ id: string; shard: string; offset: number; tokens: number }>;
  dtype: 'uint16' | 'uint32';
}

export function writeTokenShards(dir: string, docs: Array<{ id: string; text: string }>, tok: TextTokenizer,
    seqLen: number, shardTokens: number): TokenShardResult {
  const dtype = tok.vocabSize <= 65536 ? 'uint16' : 'uint32';
  const per = Math.max(seqLen, Math.floor(shardTokens / seqLen) * seqLen);
  const shards: TokenShardResult['shards'] = [];
  const placed: TokenShardResult['docs'] = [];
  let buf: number[] = [];
  const flush = (): void => {
    if (buf.length === 0) return;
    const name = `tokens-${String(shards.length).padStart(6, '0')}.bin`;
    const arr = dtype === 'uint16' ? new Uint16Array(buf) : new Uint32Array(buf);
    const bytes = new Uint8Array(arr.buffer);
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new KilnError('E_DATAPIPE', 'token shards are little-endian; big-endian hosts are not supported');
    writeFileAtomic(join(dir, name), bytes);
    shards.push({ name, tokens: buf.length });
    buf = [];
  };
  for (const d of docs) {
    const ids = [...tok.encode(d.text), tok.eosId];
    placed.push({ id: d.id, shard: `tokens-${String(shards.length).padStart(6, '0')}.bin`, offset: buf.length,
      tokens: ids.length });
    for (const t of ids) {
      buf.push(t);
      if (buf.length === per) flush();
    }
  }
  flush();
  writeFileAtomic(join(dir, 'tokens-manifest.json'), JSON.stringify({ tokenizer: tok.name, dtype, seq_len: seqLen,
    eos_id: tok.eosId, total_tokens: shards.reduce((s, x) => s + x.tokens, 0), shards, docs: placed }) + '\n');
  return { shards, docs: placed, dtype };
}
