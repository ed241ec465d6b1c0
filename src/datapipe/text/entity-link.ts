/**
 * Entity linking by lemma matching (the alignment of ERNIE 3.0's knowledge graph to text), and the word tokenizer
 * it runs on.
 *
 * - `wordTokens(text)`: lower-cased word tokens — NFKD with diacritics removed; words are letters/digits joined by
 *   inner hyphens; dotted abbreviations ("e.g.") are one token; the possessive `'s` is its own token; `. , ; : ! ?` are tokens; everything else separates.
 * - `LemmaLinker`: a dictionary of lemmas (token sequences) of two kinds, `entity` (knowledge-graph nodes) and
 *   `phrase` (multi-word expressions that are not entities). `link(tokens)` scans left to right and at each position
 *   takes the LONGEST lemma that matches (entities win ties with phrases), so "ice cream" beats "ice" and "cream".
 *   Only the last token of a match may be inflected, and only for lemmas added with `plural` (nouns): a plural in `-s`, `-es`, `-ies` (→ `-y`) or an irregular form
 *   from WordNet's `noun.exc` (geese → goose) matches its singular lemma ("apple trees" → "apple tree").
 * - The linked sentence is written in lemma form: a matched mention's tokens are replaced by the lemma's tokens, and
 *   an inflected mention is followed by the marker token `##s` (outside the span), so every entity span's tokens
 *   equal its lemma exactly while the plural stays visible to a language model.
 */

/** The marker token that follows a mention matched through a plural or irregular form. */
export const PLURAL_MARKER = '##s';

const TOKEN_RE = /\b(?:[a-z]\.){2,}|[a-z0-9]+(?:-[a-z0-9]+)*|'s\b|[.,;:!?]/g;

/** Lower-cased word tokens of a text (see the header). */
export function wordTokens(text: string): string[] {
  const t = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[\u2019`]/g, "'");
  return t.match(TOKEN_RE) ?? [];
}

/** True when the tokens of a lemma are all words (no punctuation, no possessive): such lemmas are linkable. */
export function isWordLemma(tokens: string[]): boolean {
  return tokens.length > 0 && tokens.every((w) => /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(w));
}

export type MentionKind = 'entity' | 'phrase';

/** A linked mention over the OUTPUT (lemma-form) tokens: [start, end). */
export interface Mention {
  start: number;
  end: number;
  kind: MentionKind;
  lemma: string;
}

export interface LinkedSentence {
  tokens: string[];
  mentions: Mention[];
}

/** Candidate base forms of an inflected last token (plural → singular), most specific first. */
export function singularForms(w: string, irregular?: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const b of irregular?.get(w) ?? []) out.push(b);
  if (w.length > 3 && w.endsWith('ies')) out.push(`${w.slice(0, -3)}y`);
  if (w.length > 3 && /(s|x|z|ch|sh)es$/.test(w)) out.push(w.slice(0, -2));
  if (w.length > 2 && w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us')) out.push(w.slice(0, -1));
  return out.filter((b, i) => b !== w && out.indexOf(b) === i);
}

export class LemmaLinker {
  private readonly dict = new Map<string, MentionKind>();
  /** Lemmas (joined tokens) that match through a plural of their last word (nouns). */
  private readonly inflects = new Set<string>();
  private maxLen = 1;

  /** `irregular`: inflected → base forms (WordNet's noun.exc). */
  constructor(readonly irregular: Map<string, string[]> = new Map()) {}

  /**
   * Adds a lemma (its tokens joined by single spaces) of a kind; an entity replaces a phrase of the same text.
   * `plural`: whether an inflected last word matches it (true for nouns; false for adjectives and verbs).
   */
  add(lemma: string, kind: MentionKind, plural = true): void {
    const toks = wordTokens(lemma);
    if (!isWordLemma(toks)) return;
    const key = toks.join(' ');
    if (this.dict.get(key) === 'entity') return;
    this.dict.set(key, kind);
    if (plural) this.inflects.add(key);
    else this.inflects.delete(key);
    this.maxLen = Math.max(this.maxLen, toks.length);
  }

  has(lemma: string): MentionKind | undefined {
    return this.dict.get(wordTokens(lemma).join(' '));
  }

  get size(): number {
    return this.dict.size;
  }

  /** Finds the mention starting at i: [length, lemma, kind, inflected] of the longest match, or null. */
  private matchAt(tokens: string[], i: number): { len: number; lemma: string; kind: MentionKind; inflected: boolean } | null {
    for (let len = Math.min(this.maxLen, tokens.length - i); len >= 1; len--) {
      const head = tokens.slice(i, i + len - 1);
      const last = tokens[i + len - 1];
      const exact = [...head, last].join(' ');
      const k = this.dict.get(exact);
      if (k) return { len, lemma: exact, kind: k, inflected: false };
      for (const b of singularForms(last, this.irregular)) {
        const key = [...head, b].join(' ');
        const kb = this.inflects.has(key) ? this.dict.get(key) : undefined;
        if (kb) return { len, lemma: key, kind: kb, inflected: true };
      }
    }
    return null;
  }

  /** Links a token sequence (from `wordTokens`) and rewrites it in lemma form (see the header). */
  link(tokens: string[]): LinkedSentence {
    const out: string[] = [];
    const mentions: Mention[] = [];
    for (let i = 0; i < tokens.length;) {
      const m = this.matchAt(tokens, i);
      if (!m) {
        out.push(tokens[i++]);
        continue;
      }
      const start = out.length;
      out.push(...m.lemma.split(' '));
      mentions.push({ start, end: out.length, kind: m.kind, lemma: m.lemma });
      if (m.inflected) out.push(PLURAL_MARKER);
      i += m.len;
    }
    return { tokens: out, mentions };
  }
}

/**
 * Splits a text into sentences at `.`, `?`, `!` (and `extra` characters, e.g. ";:") followed by space, and at
 * newlines; not after the abbreviations e.g., i.e., etc., vs., cf., Mr., Mrs., Dr., St.
 */
export function splitSentences(text: string, extra = ''): string[] {
  const esc = extra.replace(/[\\\]^-]/g, '\\$&');
  const re = new RegExp(`(?<=[.?!${esc}]["')\\]]?)(?<!\\b(?:e\\.g|i\\.e|etc|vs|cf|Mr|Mrs|Dr|St)\\.)\\s+|\\n+`, 'g');
  return text.split(re).map((s) => s.trim()).filter((s) => /[A-Za-z0-9]/.test(s));
}
