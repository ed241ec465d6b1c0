/**
 * Tokenizer interface for `tokenize-pack`. The default `bytes` wraps Kiln's ByteTokenizer (src/tokenizers/byte.ts:
 * UTF-8 bytes 0..255) and adds EOS = 256; Kiln's trained tokenizers plug in with `registerTokenizer`.
 */
import { KilnError } from '../../errors.js';
import { ByteTokenizer } from '../../tokenizers/byte.js';

export interface TextTokenizer {
  name: string;
  vocabSize: number;
  eosId: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
}

const kilnBytes = new ByteTokenizer();
export const byteTokenizer: TextTokenizer = {
  name: 'bytes',
  vocabSize: kilnBytes.vocabSize + 1,
  eosId: kilnBytes.vocabSize,
  encode: (t) => Array.from(kilnBytes.encode(t)),
  decode: (ids) => kilnBytes.decode(ids.filter((i) => i < kilnBytes.vocabSize)),
};

const tokenizers = new Map<string, () => TextTokenizer>([['bytes', () => byteTokenizer]]);

export function registerTokenizer(name: string, factory: () => TextTokenizer): void {
  tokenizers.set(name, factory);
}

export function getTokenizer(name: string): TextTokenizer {
  const f = tokenizers.get(name);
  if (!f) throw new KilnError('E_CONFIG', `unknown tokenizer "${name}"; known: ${[...tokenizers.keys()].join(', ')}`);
  return f();
}
