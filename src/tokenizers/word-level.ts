/**
 * A word-level tokenizer: one id per whole word of a closed vocabulary (Hugging Face tokenizers' `WordLevel` model
 * with a `Lowercase` normalizer and a `Whitespace`-style split on letters/digits runs). For small captioned corpora
 * (the Aquarius demo captions: ~25 words) where every word should be ONE token at a fixed meaning — a byte-level
 * tokenizer spreads "left"/"right" over 4–5 byte tokens shared with other words, which a tiny model's
 * cross-attention cannot pick out.
 *
 * Ids: 0 = `[PAD]`, 1 = `[UNK]` (any word outside the vocabulary), then the vocabulary in the order given.
 * `WordLevelTokenizer.fromCorpus(texts)` builds the vocabulary (sorted, words seen at least `minCount` times);
 * `toJSON()` / `fromJSON()` save and restore it (the `{ type: 'word-level', vocab }` object stored in a model's
 * config.json), and `unknownWords(text)` says which words of a prompt would map to `[UNK]`.
 */
import { KilnError } from '../errors.js';

export const PAD_TOKEN = '[PAD]';
export const UNK_TOKEN = '[UNK]';

/** The saved form: the vocabulary in id order, specials first. */
export interface WordLevelJson {
  type: 'word-level';
  vocab: string[];
}

/** Lowercased runs of letters/digits: "A red square, moving left!" → ["a", "red", "square", "moving", "left"]. */
export function splitWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class WordLevelTokenizer {
  readonly padId = 0;
  readonly unkId = 1;
  private readonly ids = new Map<string, number>();

  /** `vocab` in id order; it must start with `[PAD]`, `[UNK]` and hold no duplicates. */
  constructor(readonly vocab: readonly string[]) {
    if (vocab[0] !== PAD_TOKEN || vocab[1] !== UNK_TOKEN)
      throw new KilnError('E_CONFIG', `WordLevelTokenizer: the vocabulary must start with ${PAD_TOKEN}, ${UNK_TOKEN}; got ${JSON.stringify(vocab.slice(0, 2))}`);
    vocab.forEach((w, i) => {
      if (this.ids.has(w)) throw new KilnError('E_CONFIG', `WordLevelTokenizer: word '${w}' appears twice in the vocabulary (ids ${this.ids.get(w)} and ${i})`);
      this.ids.set(w, i);
    });
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Builds the vocabulary of a corpus: every word seen ≥ minCount times, sorted. */
  static fromCorpus(texts: Iterable<string>, { minCount = 1 }: { minCount?: number } = {}): WordLevelTokenizer {
    const counts = new Map<string, number>();
    for (const t of texts) for (const w of splitWords(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const words = [...counts].filter(([w, n]) => n >= minCount && w !== PAD_TOKEN && w !== UNK_TOKEN).map(([w]) => w).sort();
    if (words.length === 0) throw new KilnError('E_ARG', 'WordLevelTokenizer.fromCorpus: the corpus has no words; pass the training captions');
    return new WordLevelTokenizer([PAD_TOKEN, UNK_TOKEN, ...words]);
  }

  static fromJSON(j: unknown): WordLevelTokenizer {
    const o = j as Partial<WordLevelJson> | null;
    if (!o || o.type !== 'word-level' || !Array.isArray(o.vocab) || !o.vocab.every((w) => typeof w === 'string'))
      throw new KilnError('E_CONFIG', `WordLevelTokenizer.fromJSON: expected { type: 'word-level', vocab: string[] }, got ${JSON.stringify(j)?.slice(0, 80)}`);
    return new WordLevelTokenizer(o.vocab);
  }

  toJSON(): WordLevelJson {
    return { type: 'word-level', vocab: [...this.vocab] };
  }

  /** Token ids of a text (unknown words → `[UNK]`). */
  encode(text: string): Int32Array {
    return Int32Array.from(splitWords(text), (w) => this.ids.get(w) ?? this.unkId);
  }

  /** Words joined by spaces; padding dropped. */
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.padId) continue;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) throw new KilnError('E_ARG', `WordLevelTokenizer.decode: id ${id} is outside the vocabulary (0…${this.vocab.length - 1})`);
      out.push(this.vocab[id]);
    }
    return out.join(' ');
  }

  /** The words of `text` outside the vocabulary, in order, without repeats. */
  unknownWords(text: string): string[] {
    return [...new Set(splitWords(text).filter((w) => !this.ids.has(w)))];
  }
}
