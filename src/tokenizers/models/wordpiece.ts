/**
 * The WordPiece model (BERT, ERNIE): greedy longest-match-first over each pre-token, continuation pieces carry
 * `continuing_subword_prefix` ("##"); a word longer than `max_input_chars_per_word` characters, or one that cannot
 * be covered, becomes the single `unk_token`. Also loads a BERT `vocab.txt` (one token per line, id = line number).
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../../errors.js';
import type { Token } from '../normalized-string.js';

export interface WordPieceOptions {
  unkToken?: string;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
}

export class WordPieceModel {
  readonly type = 'WordPiece';
  readonly vocab: Map<string, number>;
  readonly vocabR: string[];
  readonly unkToken: string;
  readonly prefix: string;
  readonly maxChars: number;

  constructor(vocab: Map<string, number>, opts: WordPieceOptions = {}) {
    this.vocab = vocab;
    this.unkToken = opts.unkToken ?? '[UNK]';
    this.prefix = opts.continuingSubwordPrefix ?? '##';
    this.maxChars = opts.maxInputCharsPerWord ?? 100;
    this.vocabR = [];
    for (const [t, id] of vocab) this.vocabR[id] = t;
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

  private unk(w: string, out: Token[]): void {
    const id = this.vocab.get(this.unkToken);
    if (id === undefined) {
      throw new KilnError('E_FORMAT', `WordPiece model: the unk token ${JSON.stringify(this.unkToken)} is not in the vocabulary, so ${JSON.stringify(w)} cannot be encoded`);
    }
    out.push({ id, value: this.unkToken, start: 0, end: w.length });
  }

  tokenize(w: string, out: Token[]): void {
    let chars = 0;
    for (let i = 0; i < w.length; i++) {
      const c = w.charCodeAt(i);
      if (!(c >= 0xdc00 && c <= 0xdfff)) chars++;
    }
    if (chars > this.maxChars) return this.unk(w, out);
    const pieces: Token[] = [];
    let start = 0;
    while (start < w.length) {
      let end = w.length;
      let found: Token | null = null;
      while (start < end) {
        const sub = start > 0 ? this.prefix + w.slice(start, end) : w.slice(start, end);
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = { id, value: sub, start, end };
          break;
        }
        const last = w.charCodeAt(end - 1);
        end -= last >= 0xdc00 && last <= 0xdfff && end - 2 >= start ? 2 : 1;
      }
      if (!found) return this.unk(w, out);
      pieces.push(found);
      start = end;
    }
    for (const p of pieces) out.push(p);
  }

  tokenizeIds(w: string, out: number[]): void {
    const toks: Token[] = [];
    this.tokenize(w, toks);
    for (const t of toks) out.push(t.id);
  }

  toJson(): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    for (const [t, i] of [...this.vocab].sort((a, b) => a[1] - b[1])) vocab[t] = i;
    return {
      type: 'WordPiece',
      unk_token: this.unkToken,
      continuing_subword_prefix: this.prefix,
      max_input_chars_per_word: this.maxChars,
      vocab,
    };
  }
}

/** Read a BERT/ERNIE `vocab.txt` (one token per line; the id is the line number). */
export function readVocabTxt(path: string): Map<string, number> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KilnError('E_IO', `cannot read WordPiece vocab ${path}: ${(e as Error).message}`, { cause: e });
  }
  const vocab = new Map<string, number>();
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    vocab.set(line.trimEnd(), i); // as the Rust loader: trailing white space trimmed, a repeated token keeps its last line
  });
  return vocab;
}
