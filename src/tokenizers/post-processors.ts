/**
 * Post-processors of tokenizer.json (`"post_processor"`): what is added around an encoded sequence.
 * TemplateProcessing (`$A` with special tokens and type ids), BertProcessing ([CLS] A [SEP]), RobertaProcessing
 * (<s> A </s>, optional offset trimming), ByteLevel (offset trimming only) and Sequence, for one sequence or a
 * pair (the template's `pair`, [CLS] A [SEP] B [SEP], <s> A </s></s> B </s>). Special tokens get offsets [0, 0).
 * Without `addSpecialTokens` only offset trimming and type ids apply, as in the Rust library.
 */
import { KilnError } from '../errors.js';
import { BYTE_TO_CHAR } from './byte-level-alphabet.js';
import type { Encoding } from './encoding.js';

export interface PostProcessor {
  /**
   * Add special tokens / adjust offsets for one sequence or a pair (the Rust `process_encodings`); the results are
   * concatenated by the caller. `texts[i]` is the input of `encs[i]` (offset trimming moves by its characters).
   */
  processEncodings(encs: Encoding[], addSpecialTokens: boolean, texts: string[]): Encoding[];
}

type Json = Record<string, any>;

const SPACE_CHAR = BYTE_TO_CHAR[32];
const WS = /^\p{White_Space}$/u;

/** Move `k` code points forward (k > 0) or back (k < 0) from UTF-16 position `p` in `text` (by units without text). */
function stepCodePoints(text: string | undefined, p: number, k: number): number {
  if (text === undefined) return p + k;
  if (k > 0) {
    for (let i = 0; i < k && p < text.length; i++) {
      const c = text.charCodeAt(p);
      p += c >= 0xd800 && c <= 0xdbff && p + 1 < text.length ? 2 : 1;
    }
  } else {
    for (let i = 0; i < -k && p > 0; i++) {
      const c = text.charCodeAt(p - 1);
      p -= c >= 0xdc00 && c <= 0xdfff && p - 2 >= 0 ? 2 : 1;
    }
  }
  return p;
}

/**
 * ByteLevel offset trimming: leading/trailing (byte-level) spaces leave the offsets (the Rust `process_offsets`,
 * which runs on character offsets: the moves here are by code points of `text`).
 */
export function trimByteLevelOffsets(e: Encoding, addPrefixSpace: boolean, text?: string): void {
  for (let i = 0; i < e.tokens.length; i++) {
    const cps = [...e.tokens[i]];
    const isSp = (c: string) => c === SPACE_CHAR || WS.test(c);
    let lead = 0;
    while (lead < cps.length && isSp(cps[lead])) lead++;
    let trail = 0;
    while (trail < cps.length && isSp(cps[cps.length - 1 - trail])) trail++;
    if (lead === 0 && trail === 0) continue;
    const off = e.offsets[i];
    if (lead > 0) {
      const isFirst = i === 0 || off[0] === 0;
      if (isFirst && addPrefixSpace && lead === 1) lead = 0;
      off[0] = Math.min(stepCodePoints(text, off[0], lead), off[1]);
    }
    if (trail > 0 && off[1] >= trail) off[1] = Math.max(stepCodePoints(text, off[1], -trail), off[0]);
  }
}

function specials(list: Array<[string, number]>, typeId: number): Encoding {
  return {
    ids: list.map((x) => x[1]),
    tokens: list.map((x) => x[0]),
    offsets: list.map(() => [0, 0] as [number, number]),
    typeIds: list.map(() => typeId),
    specialTokensMask: list.map(() => 1),
  };
}

function withTypeIds(e: Encoding, typeId: number): Encoding {
  return { ...e, typeIds: e.ids.map(() => typeId) };
}

/** Concatenate encodings (the Rust `Encoding::merge` without growing offsets). */
export function concatEncodings(list: Encoding[]): Encoding {
  const out: Encoding = { ids: [], tokens: [], offsets: [], typeIds: [], specialTokensMask: [] };
  for (const e of list) {
    for (let i = 0; i < e.ids.length; i++) {
      out.ids.push(e.ids[i]);
      out.tokens.push(e.tokens[i]);
      out.offsets.push(e.offsets[i]);
      out.typeIds.push(e.typeIds[i]);
      out.specialTokensMask.push(e.specialTokensMask[i]);
    }
  }
  return out;
}

type Piece = { Sequence?: { id: 'A' | 'B'; type_id?: number }; SpecialToken?: { id: string; type_id?: number } };

function template(j: Json): PostProcessor {
  const single = j.single as Piece[];
  const pair = (j.pair ?? []) as Piece[];
  if (!Array.isArray(single)) throw new KilnError('E_FORMAT', 'post_processor TemplateProcessing: "single" must be an array');
  const sp = (j.special_tokens ?? {}) as Record<string, { id: string; ids: number[]; tokens: string[] }>;
  for (const piece of [...single, ...pair]) {
    if (piece.SpecialToken && !sp[piece.SpecialToken.id]) {
      throw new KilnError('E_FORMAT', `post_processor TemplateProcessing: special token ${JSON.stringify(piece.SpecialToken.id)} is used in the template but missing from "special_tokens"`);
    }
    if (!piece.SpecialToken && !piece.Sequence) throw new KilnError('E_FORMAT', `post_processor TemplateProcessing: unknown piece ${JSON.stringify(piece)}`);
  }
  return {
    processEncodings(encs, add) {
      const tpl = encs.length === 2 ? pair : single;
      if (encs.length === 2 && pair.length === 0) throw new KilnError('E_FORMAT', 'post_processor TemplateProcessing: a pair was encoded but the template has no "pair"');
      const out: Encoding[] = [];
      for (const piece of tpl) {
        if (piece.Sequence) out.push(withTypeIds(encs[piece.Sequence.id === 'A' ? 0 : 1], piece.Sequence.type_id ?? 0));
        else if (add) {
          const t = sp[piece.SpecialToken!.id];
          out.push(specials(t.ids.map((id, k) => [t.tokens[k], id]), piece.SpecialToken!.type_id ?? 0));
        }
      }
      return out;
    },
  };
}

/** Build a post-processor from its tokenizer.json object (null → none). */
export function postProcessorFromJson(j: Json | null | undefined): PostProcessor | null {
  if (!j) return null;
  switch (j.type) {
    case 'TemplateProcessing':
      return template(j);
    case 'BertProcessing': {
      const sep = j.sep as [string, number];
      const cls = j.cls as [string, number];
      return {
        processEncodings: (encs, add) => {
          if (!add) return encs;
          const out = [specials([cls], 0), encs[0], specials([sep], 0)];
          if (encs.length === 2) out.push(encs[1], specials([sep], 1));
          return out;
        },
      };
    }
    case 'RobertaProcessing': {
      const [sepT, sepId] = j.sep as [string, number];
      const [clsT, clsId] = j.cls as [string, number];
      const trim = j.trim_offsets ?? true;
      const aps = j.add_prefix_space ?? true;
      return {
        processEncodings: (encs, add, texts) => {
          if (trim) encs.forEach((e, i) => trimByteLevelOffsets(e, aps, texts[i]));
          const zero = encs.map((e) => withTypeIds(e, 0)); // "Roberta is weird, and every encoding is type_id=0"
          if (!add) return zero;
          const out = [specials([[clsT, clsId]], 0), zero[0], specials([[sepT, sepId]], 0)];
          if (zero.length === 2) out.push(specials([[sepT, sepId]], 0), zero[1], specials([[sepT, sepId]], 0));
          return out;
        },
      };
    }
    case 'ByteLevel': {
      const trim = j.trim_offsets ?? true;
      const aps = j.add_prefix_space ?? true;
      return {
        processEncodings: (encs, _add, texts) => {
          if (trim) encs.forEach((e, i) => trimByteLevelOffsets(e, aps, texts[i]));
          return encs;
        },
      };
    }
    case 'Sequence': {
      const list = ((j.processors ?? []) as Json[]).map((x) => postProcessorFromJson(x)).filter((x): x is PostProcessor => x !== null);
      return { processEncodings: (encs, add, texts) => list.reduce((acc, p) => p.processEncodings(acc, add, texts), encs) };
    }
    default:
      throw new KilnError('E_FORMAT', `tokenizer.json post_processor type ${JSON.stringify(j.type)} is not supported by Kiln (supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)`);
  }
}
