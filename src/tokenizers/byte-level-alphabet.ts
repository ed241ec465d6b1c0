/**
 * GPT-2's byte ↔ printable-character alphabet used by byte-level BPE (the `bytes_char` table of the Rust
 * `tokenizers` library): printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
 */

/** BYTE_TO_CHAR[b] is the one-code-unit string for byte b. */
export const BYTE_TO_CHAR: string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  for (let k = 0; k < 256; k++) out[bs[k]] = String.fromCharCode(cs[k]);
  return out;
})();

/** BYTE_CODE[b] is the UTF-16 code of byte b's alphabet character. */
const BYTE_CODE: Uint16Array = Uint16Array.from(BYTE_TO_CHAR, (c) => c.charCodeAt(0));

/** CHAR_TO_BYTE[code unit] = byte, or -1 for characters outside the alphabet. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x200).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

/** The 256 alphabet characters sorted by code point (the trainer's initial alphabet). */
export function byteLevelAlphabet(): string[] {
  return BYTE_TO_CHAR.slice().sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
}

/** UTF-8 bytes of `s` mapped to the byte-level alphabet. Printable ASCII maps to itself, so such text is returned as is. */
export function toByteLevel(s: string): string {
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) break;
    i++;
  }
  if (i === n) return s;
  const codes: number[] = [];
  for (let k = 0; k < i; k++) codes.push(s.charCodeAt(k));
  for (; i < n; i++) {
    let cp = s.charCodeAt(i);
    if (cp < 0x80) {
      codes.push(BYTE_CODE[cp]);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x800) codes.push(BYTE_CODE[0xc0 | (cp >> 6)], BYTE_CODE[0x80 | (cp & 63)]);
    else {
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      if (cp < 0x10000) codes.push(BYTE_CODE[0xe0 | (cp >> 12)], BYTE_CODE[0x80 | ((cp >> 6) & 63)], BYTE_CODE[0x80 | (cp & 63)]);
      else codes.push(BYTE_CODE[0xf0 | (cp >> 18)], BYTE_CODE[0x80 | ((cp >> 12) & 63)], BYTE_CODE[0x80 | ((cp >> 6) & 63)], BYTE_CODE[0x80 | (cp & 63)]);
    }
  }
  if (codes.length < 4096) return String.fromCharCode.apply(null, codes);
  let out = '';
  for (let k = 0; k < codes.length; k += 4096) out += String.fromCharCode.apply(null, codes.slice(k, k + 4096));
  return out;
}
