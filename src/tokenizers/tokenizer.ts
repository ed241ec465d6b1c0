/**
 * Tokenizer: a Hugging Face `tokenizer.json` pipeline — added tokens → normalizer → pre-tokenizer → model →
 * post-processor, and decoder for the way back — that encodes and decodes as the Rust `tokenizers` library does.
 * `loadTokenizer(path)` reads a tokenizer.json, or a BERT/ERNIE `vocab.txt` (WordPiece with the BERT normalizer,
 * pre-tokenizer, [CLS]/[SEP] processing and decoder). Offsets are UTF-16 code units of the input string.
 * Unsupported components are a KilnError naming them.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { AddedVocabulary, type AddedToken } from './added-vocabulary.js';
import { decoderFromJson, type Decoder } from './decoders.js';
import type { Encoding } from './encoding.js';
import { BpeModel, parseMerges } from './models/bpe.js';
import { toByteLevel } from './byte-level-alphabet.js';
import { readVocabTxt, WordPieceModel } from './models/wordpiece.js';
import { NormalizedString, PreTokenizedString, type Token } from './normalized-string.js';
import { normalizerFromJson, type Normalizer } from './normalizers.js';
import { concatEncodings, postProcessorFromJson, type PostProcessor } from './post-processors.js';
import { preTokenizerFromJson, type PreTokenizer } from './pre-tokenizers.js';

export type Model = BpeModel | WordPieceModel;

const RAW_CACHE_CAP = 200_000;
type Json = Record<string, any>;

export interface EncodeOptions {
  /** Run the post-processor's special-token template (BOS, [CLS]/[SEP], ...). Default true. */
  addSpecialTokens?: boolean;
  /** A second sequence (sentence pair): encoded with type id 1 and joined by the post-processor's pair template. */
  pair?: string;
  /** `encodeIds` only: called about every 256K characters with (characters done, total) — approximate after normalization. */
  onProgress?: (done: number, total: number) => void;
}

const PROGRESS_EVERY = 1 << 18;

export interface DecodeOptions {
  /** Drop special added tokens. Default false (as the Rust library's `decode`). */
  skipSpecialTokens?: boolean;
}

function toVocab(v: unknown, where: string): Map<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new KilnError('E_FORMAT', `${where}: "vocab" must be an object of token → id`);
  const m = new Map<string, number>();
  for (const [t, id] of Object.entries(v as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new KilnError('E_FORMAT', `${where}: id of ${JSON.stringify(t)} must be a non-negative integer, got ${JSON.stringify(id)}`);
    m.set(t, id);
  }
  return m;
}

export function modelFromJson(j: Json | null | undefined): Model {
  if (!j) throw new KilnError('E_FORMAT', 'tokenizer.json has no "model"');
  const type = j.type ?? (j.merges ? 'BPE' : j.max_input_chars_per_word !== undefined ? 'WordPiece' : undefined);
  switch (type) {
    case 'BPE':
      return new BpeModel(toVocab(j.vocab, 'BPE model'), parseMerges(j.merges ?? []), {
        unkToken: j.unk_token ?? null,
        continuingSubwordPrefix: j.continuing_subword_prefix ?? null,
        endOfWordSuffix: j.end_of_word_suffix ?? null,
        fuseUnk: j.fuse_unk ?? false,
        byteFallback: j.byte_fallback ?? false,
        ignoreMerges: j.ignore_merges ?? false,
        dropout: j.dropout ?? null,
      });
    case 'WordPiece':
      return new WordPieceModel(toVocab(j.vocab, 'WordPiece model'), {
        unkToken: j.unk_token ?? '[UNK]',
        continuingSubwordPrefix: j.continuing_subword_prefix ?? '##',
        maxInputCharsPerWord: j.max_input_chars_per_word ?? 100,
      });
    default:
      throw new KilnError('E_FORMAT', `tokenizer.json model type ${JSON.stringify(j.type)} is not supported by Kiln (supported: BPE, WordPiece)`);
  }
}

export class Tokenizer {
  readonly json: Json;
  readonly model: Model;
  readonly normalizer: Normalizer | null;
  readonly preTokenizer: PreTokenizer | null;
  readonly postProcessor: PostProcessor | null;
  readonly decoder: Decoder | null;
  readonly added: AddedVocabulary;
  /** Byte-level BPE fast path: raw piece → its id (or ids). */
  private rawCache = new Map<string, number | Int32Array>();

  constructor(json: Json) {
    this.json = json;
    if (json.truncation) throw new KilnError('E_FORMAT', 'tokenizer.json "truncation" is not supported by Kiln; set it to null and truncate the ids yourself');
    if (json.padding) throw new KilnError('E_FORMAT', 'tokenizer.json "padding" is not supported by Kiln; set it to null and pad the ids yourself');
    this.model = modelFromJson(json.model);
    this.normalizer = normalizerFromJson(json.normalizer);
    this.preTokenizer = preTokenizerFromJson(json.pre_tokenizer);
    this.postProcessor = postProcessorFromJson(json.post_processor);
    this.decoder = decoderFromJson(json.decoder);
    const added: AddedToken[] = ((json.added_tokens ?? []) as Json[]).map((t) => ({
      id: t.id,
      content: t.content,
      singleWord: !!t.single_word,
      lstrip: !!t.lstrip,
      rstrip: !!t.rstrip,
      normalized: t.normalized ?? !t.special,
      special: !!t.special,
    }));
    this.added = new AddedVocabulary(added, this.normalizer);
  }

  /** Number of distinct tokens (model vocabulary ∪ added tokens), as `get_vocab_size(True)`. */
  get vocabSize(): number {
    let n = this.model.vocabSize;
    for (const t of this.added.byId.values()) if (this.model.tokenToId(t.content) === undefined) n++;
    return n;
  }

  /** One more than the largest id (model or added token): the embedding rows a model needs. */
  get idLimit(): number {
    let n = this.model.vocabR.length;
    for (const id of this.added.byId.keys()) n = Math.max(n, id + 1);
    return n;
  }

  tokenToId(token: string): number | undefined {
    return this.added.byContent.get(token)?.id ?? this.model.tokenToId(token);
  }

  idToToken(id: number): string | undefined {
    return this.added.byId.get(id)?.content ?? this.model.idToToken(id);
  }

  /** Encode one sequence (no post-processing), every token with `typeId`. */
  private encodeSingle(text: string, typeId: number): Encoding {
    const p = this.added.extractAndNormalize(text, this.normalizer, true);
    this.preTokenizer?.preTokenize(p);
    const enc: Encoding = { ids: [], tokens: [], offsets: [], typeIds: [], specialTokensMask: [] };
    const toks: Token[] = [];
    for (const sp of p.splits) {
      toks.length = 0;
      if (sp.tokens) toks.push(...sp.tokens);
      else this.model.tokenize(sp.n.s, toks);
      for (const t of toks) {
        enc.ids.push(t.id);
        enc.tokens.push(t.value);
        enc.offsets.push(sp.n.toOriginal(t.start, t.end));
        enc.typeIds.push(typeId);
        enc.specialTokensMask.push(0);
      }
    }
    return enc;
  }

  /** Ids of one sequence through the string-only fast path (no post-processing). */
  private encodeSingleIds(text: string, onProgress?: (done: number, total: number) => void): number[] {
    const ids: number[] = [];
    const p = this.added.extractAndNormalize(text, this.normalizer, false);
    const total = text.length;
    let done = 0;
    let nextReport = PROGRESS_EVERY;
    const tick = (n: number) => {
      done += n;
      if (onProgress && done >= nextReport) {
        nextReport = done + PROGRESS_EVERY;
        onProgress(Math.min(done, total), total);
      }
    };
    if (this.preTokenizer?.fastEachRaw && this.model instanceof BpeModel) {
      // byte-level BPE: results cached by the piece before its byte-level mapping, so hits skip the mapping
      const model = this.model;
      const cache = this.rawCache;
      const tmp: number[] = [];
      const sink = (w: string) => {
        tick(w.length);
        let hit = cache.get(w);
        if (hit === undefined) {
          tmp.length = 0;
          model.tokenizeIds(toByteLevel(w), tmp);
          hit = tmp.length === 1 ? tmp[0] : Int32Array.from(tmp);
          if (w.length < 256) {
            if (cache.size >= RAW_CACHE_CAP) cache.clear();
            cache.set(w, hit);
          }
        }
        if (typeof hit === 'number') ids.push(hit);
        else for (let k = 0; k < hit.length; k++) ids.push(hit[k]);
      };
      for (const sp of p.splits) {
        if (sp.tokens) for (const t of sp.tokens) ids.push(t.id);
        else this.preTokenizer.fastEachRaw(sp.n.s, sink);
      }
      onProgress?.(total, total);
      return ids;
    }
    if (this.preTokenizer === null || this.preTokenizer.fastEach !== undefined) {
      const model = this.model;
      const sink = (w: string) => {
        tick(w.length);
        model.tokenizeIds(w, ids);
      };
      for (const sp of p.splits) {
        if (sp.tokens) for (const t of sp.tokens) ids.push(t.id);
        else if (this.preTokenizer) this.preTokenizer.fastEach!(sp.n.s, sink);
        else sink(sp.n.s);
      }
    } else {
      this.preTokenizer.preTokenize(p);
      for (const sp of p.splits) {
        if (sp.tokens) for (const t of sp.tokens) ids.push(t.id);
        else this.model.tokenizeIds(sp.n.s, ids);
      }
    }
    onProgress?.(total, total);
    return ids;
  }

  private postProcess(encs: Encoding[], texts: string[], add: boolean): Encoding {
    if (!this.postProcessor) return encs.length === 1 ? encs[0] : concatEncodings(encs);
    return concatEncodings(this.postProcessor.processEncodings(encs, add, texts));
  }

  /**
   * Encode `text` (and `opts.pair`): ids, token strings, offsets (UTF-16 units into the sequence each token came
   * from), type ids (1 for the pair's tokens unless the post-processor says otherwise), special-token mask.
   */
  encode(text: string, opts: EncodeOptions = {}): Encoding {
    const add = opts.addSpecialTokens ?? true;
    const encs = [this.encodeSingle(text, 0)];
    const texts = [text];
    if (opts.pair !== undefined) {
      encs.push(this.encodeSingle(opts.pair, 1));
      texts.push(opts.pair);
    }
    return this.postProcess(encs, texts, add);
  }

  /** Ids only — the fast path (no offsets or token strings are tracked; pre-tokenizers split plain strings). */
  encodeIds(text: string, opts: EncodeOptions = {}): number[] {
    const add = opts.addSpecialTokens ?? true;
    const a = this.encodeSingleIds(text, opts.onProgress);
    if (opts.pair === undefined && (!add || !this.postProcessor)) return a;
    const bare = (ids: number[], type: number): Encoding => ({ ids, tokens: [], offsets: [], typeIds: ids.map(() => type), specialTokensMask: [] });
    const encs = [bare(a, 0)];
    const texts = [text];
    if (opts.pair !== undefined) {
      encs.push(bare(this.encodeSingleIds(opts.pair), 1));
      texts.push(opts.pair);
    }
    return this.postProcess(encs, texts, add).ids;
  }

  /**
   * The pre-tokens of `text` after normalization and pre-tokenization, without added-token extraction — what
   * the Rust trainers count (`Tokenizer::train` feeds `do_normalize` + `do_pre_tokenize`).
   */
  preTokenizeStrings(text: string): string[] {
    const n = NormalizedString.from(text, false);
    this.normalizer?.normalize(n);
    if (!this.preTokenizer) return n.s.length > 0 ? [n.s] : [];
    const out: string[] = [];
    if (this.preTokenizer.fastEach) {
      this.preTokenizer.fastEach(n.s, (w) => out.push(w));
      return out;
    }
    const p = new PreTokenizedString([{ n, tokens: null }]);
    this.preTokenizer.preTokenize(p);
    for (const sp of p.splits) out.push(sp.n.s);
    return out;
  }

  /** Decode ids to text. Unknown ids are skipped (as the Rust library does). */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const toks: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const t = this.added.decodeForm(id) ?? this.model.idToToken(id);
      if (t === undefined) continue;
      if (skip && this.added.isSpecial(t)) continue;
      toks.push(t);
    }
    if (!this.decoder) return toks.join(' ');
    return this.decoder.decodeChain(toks).join('');
  }

  /** The tokenizer.json object this tokenizer was built from. */
  toJson(): Json {
    return this.json;
  }
}

/** A BERT-style WordPiece tokenizer.json object around a vocab (what `BertTokenizerFast` builds from vocab.txt). */
export function bertTokenizerJson(vocab: Map<string, number>, opts: { lowercase?: boolean; stripAccents?: boolean | null; chineseChars?: boolean } = {}): Json {
  const v: Record<string, number> = {};
  for (const [t, i] of vocab) v[t] = i;
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => vocab.has(t));
  const cls = vocab.get('[CLS]');
  const sep = vocab.get('[SEP]');
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((t) => ({ id: vocab.get(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: opts.chineseChars ?? true, strip_accents: opts.stripAccents ?? null, lowercase: opts.lowercase ?? true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor:
      cls !== undefined && sep !== undefined
        ? {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
            pair: [
              { SpecialToken: { id: '[CLS]', type_id: 0 } },
              { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: '[SEP]', type_id: 0 } },
              { Sequence: { id: 'B', type_id: 1 } },
              { SpecialToken: { id: '[SEP]', type_id: 1 } },
            ],
            special_tokens: { '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] } },
          }
        : null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: v },
  };
}

/** Build a tokenizer from a parsed tokenizer.json object. */
export function tokenizerFromJson(json: Json): Tokenizer {
  return new Tokenizer(json);
}

/**
 * Load a tokenizer: a Hugging Face `tokenizer.json`, a WordPiece `vocab.txt` (BERT/ERNIE; lowercasing and
 * Chinese-character splitting on, as `BertTokenizerFast` defaults), or a model directory holding either
 * (tokenizer.json preferred; for vocab.txt, `do_lower_case` is read from tokenizer_config.json when present).
 */
export function loadTokenizer(path: string, opts: { lowercase?: boolean } = {}): Tokenizer {
  if (existsSync(path) && statSync(path).isDirectory()) {
    if (existsSync(join(path, 'tokenizer.json'))) return loadTokenizer(join(path, 'tokenizer.json'), opts);
    if (existsSync(join(path, 'vocab.txt'))) {
      let lowercase = opts.lowercase;
      const cfg = join(path, 'tokenizer_config.json');
      if (lowercase === undefined && existsSync(cfg)) {
        try {
          const c = JSON.parse(readFileSync(cfg, 'utf8'));
          if (typeof c.do_lower_case === 'boolean') lowercase = c.do_lower_case;
        } catch (e) {
          throw new KilnError('E_FORMAT', `${cfg} is not valid JSON: ${(e as Error).message}`, { cause: e });
        }
      }
      return loadTokenizer(join(path, 'vocab.txt'), { lowercase });
    }
    throw new KilnError('E_IO', `${path} is a directory without tokenizer.json or vocab.txt; point --tokenizer at one of them`);
  }
  if (path.endsWith('.txt')) return new Tokenizer(bertTokenizerJson(readVocabTxt(path), { lowercase: opts.lowercase ?? true }));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KilnError('E_IO', `cannot read tokenizer ${path}: ${(e as Error).message}`, { cause: e });
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new KilnError('E_FORMAT', `tokenizer ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  try {
    return new Tokenizer(json);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}
