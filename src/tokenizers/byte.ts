/** The byte-level tokenizer: UTF-8 bytes are the tokens (vocabulary 256). Needs no training or files. */
export class ByteTokenizer {
  readonly vocabSize = 256;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  encode(text: string): Int32Array {
    return Int32Array.from(this.enc.encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    return this.dec.decode(Uint8Array.from(ids));
  }
}
