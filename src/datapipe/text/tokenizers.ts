/**
 * Tokenizer interface for `tokenize-pack`. The default is byte-level (UTF-8 bytes 0..255, EOS 256); Kiln's BPE /
 * WordPiece tokenizers (src/tokenizers/) plug in with `registerTokenizer` under their own names.
 */
import { KilnError } from '../../errors.js';

export interface TextTokenizer {
  name: string;
  vocabSize: number;
  eosId: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
}

export const byteTokenizer: TextTokenizer = {
  name: 'bytes',
  vocabSize: 257,
  eosId: 256,
  encode: (t) => [...Buffer.from(t, 'utf8')],
  decode: (ids) => Buffer.from(ids.filter((i) => i < 256)).toString('utf8'),
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
