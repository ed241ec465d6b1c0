/**
 * Incremental decoding for generation: feed ids one at a time, get back the new text once it is complete
 * (a multi-byte character split across byte-level or byte-fallback tokens is held back until its last byte
 * arrives). The algorithm of the Rust library's `DecodeStream`: keep a window of ids, decode it, emit what extends
 * the previous decode unless it ends in U+FFFD, then slide the window.
 */
import { KilnError } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';

export class DecodeStream {
  private ids: number[] = [];
  private prefix = '';
  private prefixIndex = 0;

  constructor(
    private readonly tok: Tokenizer,
    private readonly skipSpecialTokens = false,
  ) {}

  /** Add one id; returns the text it completes, or undefined while a character is still incomplete. */
  step(id: number): string | undefined {
    const opts = { skipSpecialTokens: this.skipSpecialTokens };
    if (this.prefix.length === 0 && this.ids.length > 0) {
      const p = this.tok.decode(this.ids, opts);
      if (!p.endsWith('\ufffd')) {
        this.prefix = p;
        this.prefixIndex = this.ids.length;
      }
    }
    this.ids.push(id);
    const s = this.tok.decode(this.ids, opts);
    if (s.length > this.prefix.length && !s.endsWith('\ufffd')) {
      if (!s.startsWith(this.prefix)) {
        throw new KilnError('E_ARG', `DecodeStream: decoding after id ${id} gave ${JSON.stringify(s)}, which does not extend the previous text ${JSON.stringify(this.prefix)}; this tokenizer's decoder is not prefix-stable`);
      }
      const text = s.slice(this.prefix.length);
      const newPrefixIndex = this.ids.length - this.prefixIndex;
      this.ids = this.ids.slice(this.prefixIndex);
      this.prefix = this.tok.decode(this.ids, opts);
      this.prefixIndex = newPrefixIndex;
      return text;
    }
    return undefined;
  }
}
