/**
 * Adapter from a loaded Tokenizer to the small `{ name, vocabSize, eosId, encode, decode }` shape the data
 * pipeline's `tokenize-pack` operator takes (src/datapipe/text/tokenizers.ts `TextTokenizer`, matched
 * structurally so this layer imports nothing above it). Encoding uses the ids-only fast path without special
 * tokens; `eosId` is the given end-of-text token's id; `vocabSize` is `idLimit` (largest id + 1).
 */
import { KilnError } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';

export interface IdsTokenizer {
  name: string;
  vocabSize: number;
  eosId: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
}

export function asTextTokenizer(tok: Tokenizer, name: string, eosToken: string): IdsTokenizer {
  const eosId = tok.tokenToId(eosToken);
  if (eosId === undefined) {
    throw new KilnError('E_ARG', `tokenizer "${name}": end-of-text token ${JSON.stringify(eosToken)} is not in its vocabulary; pass one of its special tokens`);
  }
  return {
    name,
    vocabSize: tok.idLimit,
    eosId,
    encode: (text) => tok.encodeIds(text, { addSpecialTokens: false }),
    decode: (ids) => tok.decode(ids),
  };
}
