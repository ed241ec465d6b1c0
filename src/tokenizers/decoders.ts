/**
 * Decoders of tokenizer.json (`"decoder"`): turn token strings back into text. ByteLevel (byte-level characters
 * back to UTF-8 bytes, invalid sequences → U+FFFD), WordPiece ("##" joins, optional cleanup of spaces before
 * punctuation), Metaspace (▁ → space, the first dropped when a prefix was added), BPEDecoder (suffix → space),
 * Replace, ByteFallback (<0xXX> runs → UTF-8), Fuse, Strip, Sequence. Each works on the list of token strings
 * like the Rust `decode_chain`; the final text is the concatenation.
 */
import { KilnError } from '../errors.js';
import { CHAR_TO_BYTE } from './byte-level-alphabet.js';
import { patternMatcher } from './normalizers.js';

export interface Decoder {
  decodeChain(tokens: string[]): string[];
}

type Json = Record<string, any>;

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }); // keep a leading U+FEFF, as Rust does
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function byteLevelDecode(tokens: string[]): string[] {
  const bytes: number[] = [];
  for (const t of tokens) {
    let ok = true;
    const mine: number[] = [];
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      const b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
      if (b < 0) {
        ok = false;
        break;
      }
      mine.push(b);
    }
    if (ok) for (const b of mine) bytes.push(b);
    else for (const b of new TextEncoder().encode(t)) bytes.push(b);
  }
  return [utf8.decode(Uint8Array.from(bytes))];
}

function cleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    try {
      out.push(utf8Strict.decode(Uint8Array.from(pending)));
    } catch {
      for (let k = 0; k < pending.length; k++) out.push('\ufffd');
    }
    pending = [];
  };
  for (const t of tokens) {
    const m = t.length === 6 && t.startsWith('<0x') && t.endsWith('>') ? /^[0-9a-fA-F]{2}$/.exec(t.slice(3, 5)) : null;
    if (m) pending.push(parseInt(t.slice(3, 5), 16));
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

/** Build a decoder from its tokenizer.json object (null → none: tokens joined by spaces). */
export function decoderFromJson(j: Json | null | undefined): Decoder | null {
  if (!j) return null;
  switch (j.type) {
    case 'ByteLevel':
      return { decodeChain: byteLevelDecode };
    case 'WordPiece': {
      const prefix = String(j.prefix ?? '##');
      const clean = j.cleanup ?? true;
      return {
        decodeChain: (toks) =>
          toks.map((t, i) => {
            let s = t;
            if (i !== 0) s = s.startsWith(prefix) ? s.slice(prefix.length) : ` ${s}`;
            return clean ? cleanup(s) : s;
          }),
      };
    }
    case 'Metaspace': {
      const rep = String(j.replacement ?? '▁');
      const scheme: string = j.prepend_scheme ?? (j.add_prefix_space === false ? 'never' : 'always');
      return {
        decodeChain: (toks) =>
          toks.map((t, i) => {
            let s = '';
            for (const c of t) s += c === rep ? (i === 0 && scheme !== 'never' ? '' : ' ') : c;
            return s;
          }),
      };
    }
    case 'BPEDecoder': {
      const suffix = String(j.suffix ?? '</w>');
      return { decodeChain: (toks) => toks.map((t, i) => t.replaceAll(suffix, i === toks.length - 1 ? '' : ' ')) };
    }
    case 'Replace': {
      const find = patternMatcher(j.pattern, 'decoder Replace');
      const content = String(j.content ?? '');
      return {
        decodeChain: (toks) =>
          toks.map((t) => {
            const m = find(t);
            let s = '';
            for (let k = 0; k < m.length; k += 3) s += m[k + 2] ? content : t.slice(m[k], m[k + 1]);
            return s;
          }),
      };
    }
    case 'ByteFallback':
      return { decodeChain: byteFallback };
    case 'Fuse':
      return { decodeChain: (toks) => [toks.join('')] };
    case 'Strip': {
      const content = String(j.content ?? ' ');
      const start = Number(j.start ?? 0);
      const stop = Number(j.stop ?? 0);
      return {
        decodeChain: (toks) =>
          toks.map((t) => {
            const cs = [...t];
            let a = 0;
            for (let i = 0; i < Math.min(start, cs.length); i++) {
              if (cs[i] === content) a = i + 1;
              else break;
            }
            let b = cs.length;
            for (let i = 0; i < stop; i++) {
              const idx = cs.length - i - 1;
              if (idx >= 0 && cs[idx] === content) b = idx;
              else break;
            }
            return cs.slice(a, Math.max(a, b)).join('');
          }),
      };
    }
    case 'Sequence': {
      const list = ((j.decoders ?? []) as Json[]).map((x) => decoderFromJson(x)).filter((x): x is Decoder => x !== null);
      return { decodeChain: (toks) => list.reduce((acc, d) => d.decodeChain(acc), toks) };
    }
    default:
      throw new KilnError('E_FORMAT', `tokenizer.json decoder type ${JSON.stringify(j.type)} is not supported by Kiln (supported: ByteLevel, WordPiece, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence)`);
  }
}
