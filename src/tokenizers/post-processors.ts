/**
 * Post-processors of tokenizer.json (`"post_processor"`): what is added around an encoded sequence.
 * TemplateProcessing (`$A` with special tokens and type ids), BertProcessing ([CLS] A [SEP]), RobertaProcessing
 * (<s> A </s>, optional offset trimming), ByteLevel (offset trimming only) and Sequence. Special tokens get
 * offsets [0, 0). Without `addSpecialTokens` only the offset trimming runs, as in the Rust library.
 */
import { KilnError } from '../errors.js';
import { BYTE_TO_CHAR } from './byte-level-alphabet.js';
import type { Encoding } from './encoding.js';

export interface PostProcessor {
  /** `text` is the encoded input (offset trimming moves by characters, as the Rust library does after its char conversion). */
  process(e: Encoding, addSpecialTokens: boolean, text?: string): Encoding;
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

function wrap(e: Encoding, before: Array<[string, number]>, after: Array<[string, number]>, typeId: number): Encoding {
  const out: Encoding = { ids: [], tokens: [], offsets: [], typeIds: [], specialTokensMask: [] };
  const add = (t: string, id: number, special: boolean, off: [number, number], type: number) => {
    out.ids.push(id);
    out.tokens.push(t);
    out.offsets.push(off);
    out.typeIds.push(type);
    out.specialTokensMask.push(special ? 1 : 0);
  };
  for (const [t, id] of before) add(t, id, true, [0, 0], typeId);
  for (let i = 0; i < e.ids.length; i++) add(e.tokens[i], e.ids[i], e.specialTokensMask[i] === 1, e.offsets[i], typeId);
  for (const [t, id] of after) add(t, id, true, [0, 0], typeId);
  return out;
}

function template(j: Json): PostProcessor {
  const single = j.single as Json[];
  if (!Array.isArray(single)) throw new KilnError('E_FORMAT', 'post_processor TemplateProcessing: "single" must be an array');
  const specials = (j.special_tokens ?? {}) as Record<string, { id: string; ids: number[]; tokens: string[] }>;
  return {
    process(e, add) {
      if (!add) return e;
      const out: Encoding = { ids: [], tokens: [], offsets: [], typeIds: [], specialTokensMask: [] };
      for (const piece of single) {
        if (piece.Sequence) {
          const type = piece.Sequence.type_id ?? 0;
          for (let i = 0; i < e.ids.length; i++) {
            out.ids.push(e.ids[i]);
            out.tokens.push(e.tokens[i]);
            out.offsets.push(e.offsets[i]);
            out.typeIds.push(type);
            out.specialTokensMask.push(e.specialTokensMask[i]);
          }
        } else if (piece.SpecialToken) {
          const name = piece.SpecialToken.id;
          const sp = specials[name];
          if (!sp) throw new KilnError('E_FORMAT', `post_processor TemplateProcessing: special token ${JSON.stringify(name)} is used in "single" but missing from "special_tokens"`);
          for (let k = 0; k < sp.ids.length; k++) {
            out.ids.push(sp.ids[k]);
            out.tokens.push(sp.tokens[k]);
            out.offsets.push([0, 0]);
            out.typeIds.push(piece.SpecialToken.type_id ?? 0);
            out.specialTokensMask.push(1);
          }
        } else throw new KilnError('E_FORMAT', `post_processor TemplateProcessing: unknown piece ${JSON.stringify(piece)}`);
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
      const [sepT, sepId] = j.sep as [string, number];
      const [clsT, clsId] = j.cls as [string, number];
      return { process: (e, add) => (add ? wrap(e, [[clsT, clsId]], [[sepT, sepId]], 0) : e) };
    }
    case 'RobertaProcessing': {
      const [sepT, sepId] = j.sep as [string, number];
      const [clsT, clsId] = j.cls as [string, number];
      const trim = j.trim_offsets ?? true;
      const aps = j.add_prefix_space ?? true;
      return {
        process: (e, add, text) => {
          if (trim) trimByteLevelOffsets(e, aps, text);
          return add ? wrap(e, [[clsT, clsId]], [[sepT, sepId]], 0) : e;
        },
      };
    }
    case 'ByteLevel': {
      const trim = j.trim_offsets ?? true;
      const aps = j.add_prefix_space ?? true;
      return {
        process: (e, _add, text) => {
          if (trim) trimByteLevelOffsets(e, aps, text);
          return e;
        },
      };
    }
    case 'Sequence': {
      const list = ((j.processors ?? []) as Json[]).map((x) => postProcessorFromJson(x)).filter((x): x is PostProcessor => x !== null);
      return { process: (e, add, text) => list.reduce((acc, p) => p.process(acc, add, text), e) };
    }
    default:
      throw new KilnError('E_FORMAT', `tokenizer.json post_processor type ${JSON.stringify(j.type)} is not supported by Kiln (supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)`);
  }
}
