/**
 * A reader for the Princeton WordNet 3.0 database files (Debian `wordnet-base`, /usr/share/wordnet), format of
 * wndb(5WN): `data.{noun,verb,adj,adv}` (one synset per line, keyed by its byte offset), the morphological exception
 * lists `{noun,verb,adj,adv}.exc`, and `cntlist.rev` (sense-tagged frequencies by sense key).
 *
 * A data line is
 *   offset lex_filenum ss_type w_cnt(2 hex) [word lex_id(1 hex)]… p_cnt(3 dec) [symbol offset pos src/tgt(4 hex)]…
 *   [f_cnt + f_num w_num …]   (data.verb only)   | gloss
 * Words keep WordNet's spelling except: underscores become spaces (multi-word lemmas) and adjective syntactic markers
 * `(a)`, `(p)`, `(ip)` are removed. A pointer whose src/tgt is `0000` is semantic (synset to synset); otherwise it is
 * lexical and links word number src of this synset to word number tgt of the target (numbers from 1). The gloss is
 * split into the definition and the double-quoted example sentences. License lines (starting with two spaces) are
 * skipped. Pure parsing: no tensors, no models.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors.js';

/** WordNet's part-of-speech letters; `s` is an adjective satellite (stored in data.adj). */
export type WnPos = 'n' | 'v' | 'a' | 's' | 'r';
export type WnFile = 'noun' | 'verb' | 'adj' | 'adv';
export const WN_FILES: WnFile[] = ['noun', 'verb', 'adj', 'adv'];

/** Pointer symbols of wninput(5WN) and the relation names Kiln uses for them. */
export const POINTER_NAMES: Record<string, string> = {
  '!': 'antonym',
  '@': 'hypernym',
  '@i': 'instance hypernym',
  '~': 'hyponym',
  '~i': 'instance hyponym',
  '#m': 'member holonym',
  '#s': 'substance holonym',
  '#p': 'part holonym',
  '%m': 'member meronym',
  '%s': 'substance meronym',
  '%p': 'part meronym',
  '=': 'attribute',
  '+': 'derivation',
  ';c': 'topic domain',
  '-c': 'topic member',
  ';r': 'region domain',
  '-r': 'region member',
  ';u': 'usage domain',
  '-u': 'usage member',
  '*': 'entailment',
  '>': 'cause',
  '^': 'also see',
  '$': 'verb group',
  '&': 'similar to',
  '<': 'participle',
  '\\': 'pertainym',
};

export interface WnPointer {
  /** The raw symbol (`@`, `%p`, …). */
  symbol: string;
  /** Its name from POINTER_NAMES (the symbol itself if unknown). */
  relation: string;
  /** Target synset key `<offset>-<pos>` (pos n, v, a or r: satellites live in the adjective file as 'a'). */
  target: string;
  /** Word numbers for lexical pointers (1-based), 0 for semantic pointers. */
  sourceWord: number;
  targetWord: number;
}

export interface WnSynset {
  /** `<8-digit offset>-<file pos n|v|a|r>`; unique across the four data files. */
  key: string;
  offset: number;
  /** The synset type as written (`s` for satellites). */
  pos: WnPos;
  lexFile: number;
  /** Lemmas as written (case kept), underscores → spaces, adjective markers removed. */
  words: string[];
  /** lex_id of each word (sense keys need it). */
  lexIds: number[];
  pointers: WnPointer[];
  /** The gloss up to the first example sentence (trailing `;` and spaces removed). */
  definition: string;
  /** Double-quoted example sentences of the gloss, without their quotes. */
  examples: string[];
}

const FILE_POS: Record<WnFile, 'n' | 'v' | 'a' | 'r'> = { noun: 'n', verb: 'v', adj: 'a', adv: 'r' };
const filePos = (p: WnPos): 'n' | 'v' | 'a' | 'r' => (p === 's' ? 'a' : p);

export function synsetKey(offset: number, pos: WnPos): string {
  return `${String(offset).padStart(8, '0')}-${filePos(pos)}`;
}

/** Splits a gloss into its definition and its double-quoted example sentences. */
export function splitGloss(gloss: string): { definition: string; examples: string[] } {
  const examples: string[] = [];
  const re = /"([^"]*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(gloss))) if (m[1].trim()) examples.push(m[1].trim());
  const q = gloss.indexOf('"');
  const definition = (q < 0 ? gloss : gloss.slice(0, q)).trim().replace(/[;:,\s]+$/, '');
  return { definition, examples };
}

/** Parses one data-file line (`where` names it in errors). */
export function parseDataLine(line: string, where = 'data line'): WnSynset {
  const bar = line.indexOf(' | ');
  const head = (bar < 0 ? line : line.slice(0, bar)).trim().split(/\s+/);
  const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
  const bad = (msg: string): never => {
    throw new KilnError('E_FORMAT', `WordNet ${where}: ${msg} in "${line.slice(0, 80)}…"; is this a WordNet 3.0 data.* file?`);
  };
  let k = 0;
  const next = (): string => (k < head.length ? head[k++] : bad('line ends early'));
  const offset = Number(next());
  const lexFile = Number(next());
  const pos = next() as WnPos;
  if (!Number.isInteger(offset) || !Number.isInteger(lexFile) || !'nvasr'.includes(pos) || pos.length !== 1) bad('bad synset header');
  const wCnt = parseInt(next(), 16);
  if (!(wCnt > 0)) bad('bad word count');
  const words: string[] = [];
  const lexIds: number[] = [];
  for (let i = 0; i < wCnt; i++) {
    words.push(next().replace(/\((a|p|ip)\)$/, '').replace(/_/g, ' '));
    lexIds.push(parseInt(next(), 16));
  }
  const pCnt = Number(next());
  if (!Number.isInteger(pCnt)) bad('bad pointer count');
  const pointers: WnPointer[] = [];
  for (let i = 0; i < pCnt; i++) {
    const symbol = next();
    const off = Number(next());
    const p = next() as WnPos;
    const st = next();
    if (!/^[0-9a-f]{4}$/.test(st) || !Number.isInteger(off)) bad(`bad pointer ${i}`);
    pointers.push({ symbol, relation: POINTER_NAMES[symbol] ?? symbol, target: synsetKey(off, p),
      sourceWord: parseInt(st.slice(0, 2), 16), targetWord: parseInt(st.slice(2), 16) });
  }
  return { key: synsetKey(offset, pos), offset, pos, lexFile, words, lexIds, pointers, ...splitGloss(gloss) };
}

/**
 * Parses a whole data file's text (license header lines skipped). The text must be the file read as latin1 (one
 * char per byte): every synset's offset must equal the byte position of its line, as wndb(5WN) defines it.
 */
export function parseDataFile(text: string, where = 'data file'): WnSynset[] {
  const out: WnSynset[] = [];
  let n = 0;
  let pos = 0;
  for (const line of text.split('\n')) {
    n++;
    const at = pos;
    pos += line.length + 1;
    if (line === '' || line.startsWith('  ')) continue;
    const s = parseDataLine(line, `${where}:${n}`);
    if (s.offset !== at)
      throw new KilnError('E_FORMAT', `WordNet ${where}:${n}: synset offset ${s.offset} is not the line's byte position ${at}; the file was edited or re-encoded (line ends must be \\n, text latin1)`);
    out.push(s);
  }
  return out;
}

/** Parses an exception list (`inflected base [base…]` per line) into inflected → bases. */
export function parseExceptions(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2) m.set(f[0].replace(/_/g, ' '), f.slice(1).map((w) => w.replace(/_/g, ' ')));
  }
  return m;
}

/**
 * Parses an index file (`lemma pos synset_cnt p_cnt [ptr_symbol]… sense_cnt tagsense_cnt offset…`) into lower-cased
 * lemma (spaces for underscores) → synset keys in WordNet's sense order (most frequent first).
 */
export function parseIndexFile(text: string, pos: 'n' | 'v' | 'a' | 'r'): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('  ')) continue;
    const f = line.trim().split(/\s+/);
    const p = Number(f[3]);
    const first = 4 + p + 2;
    const synsetCnt = Number(f[2]);
    if (!Number.isInteger(p) || f.length !== first + synsetCnt)
      throw new KilnError('E_FORMAT', `WordNet index.${pos}: malformed line "${line.slice(0, 80)}"; is this a WordNet 3.0 index file?`);
    m.set(f[0].replace(/_/g, ' '), f.slice(first).map((o) => synsetKey(Number(o), pos)));
  }
  return m;
}

/** Parses cntlist.rev (`sense_key sense_number tag_cnt`) into sense key → tag count. */
export function parseCntlist(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 3) m.set(f[0], Number(f[2]));
  }
  return m;
}

const SS_TYPE: Record<WnPos, number> = { n: 1, v: 2, a: 3, r: 4, s: 5 };

export class WordNet {
  readonly synsets = new Map<string, WnSynset>();
  /** Lower-cased lemma → synset keys containing it, in data-file order. */
  readonly byLemma = new Map<string, string[]>();

  constructor(synsets: WnSynset[], readonly exceptions: Record<WnFile, Map<string, string[]>>, readonly tagCounts: Map<string, number>,
    /** Per file: lower-cased lemma → synset keys in sense order (from index.*; empty when absent). */
    readonly senseOrder: Record<WnFile, Map<string, string[]>> = { noun: new Map(), verb: new Map(), adj: new Map(), adv: new Map() }) {
    for (const s of synsets) {
      this.synsets.set(s.key, s);
      for (const w of s.words) {
        const l = w.toLowerCase();
        const e = this.byLemma.get(l);
        if (e) {
          if (!e.includes(s.key)) e.push(s.key);
        } else this.byLemma.set(l, [s.key]);
      }
    }
  }

  get(key: string): WnSynset {
    const s = this.synsets.get(key);
    if (!s) throw new KilnError('E_FORMAT', `WordNet: no synset ${key} (a pointer names a synset the data files lack; are all four data.* files from the same release?)`);
    return s;
  }

  /** The WordNet sense key of word i of a synset (`lemma%ss_type:lex_filenum:lex_id:head_word:head_id`). */
  senseKey(s: WnSynset, i: number): string {
    const lemma = s.words[i].toLowerCase().replace(/ /g, '_');
    const two = (n: number) => String(n).padStart(2, '0');
    let head = '';
    if (s.pos === 's') {
      const h = s.pointers.find((p) => p.symbol === '&');
      const hs = h ? this.synsets.get(h.target) : undefined;
      if (hs) head = `${hs.words[0].toLowerCase().replace(/ /g, '_')}:${two(hs.lexIds[0])}`;
    }
    return `${lemma}%${SS_TYPE[s.pos]}:${two(s.lexFile)}:${two(s.lexIds[i])}:${head || ':'}`;
  }

  /** Sense-tagged frequency (SemCor, cntlist.rev) of word i of a synset; 0 when untagged. */
  tagCount(s: WnSynset, i: number): number {
    return this.tagCounts.get(this.senseKey(s, i)) ?? 0;
  }
}

/** Loads the four data files (and the index files, exception lists and cntlist.rev when present) from a WordNet `dict` dir. */
export function loadWordNet(dir: string): WordNet {
  const synsets: WnSynset[] = [];
  const exceptions = {} as Record<WnFile, Map<string, string[]>>;
  const order = {} as Record<WnFile, Map<string, string[]>>;
  for (const f of WN_FILES) {
    const p = join(dir, `data.${f}`);
    if (!existsSync(p))
      throw new KilnError('E_IO', `WordNet: ${p} not found; install Debian's wordnet-base (apt-get install -y wordnet-base) and pass its directory (/usr/share/wordnet)`);
    for (const s of parseDataFile(readFileSync(p, 'latin1'), p)) {
      if (filePos(s.pos) !== FILE_POS[f]) throw new KilnError('E_FORMAT', `WordNet ${p}: synset ${s.key} has type ${s.pos}, not a ${f} type`);
      synsets.push(s);
    }
    const e = join(dir, `${f}.exc`);
    exceptions[f] = existsSync(e) ? parseExceptions(readFileSync(e, 'latin1')) : new Map();
    const ix = join(dir, `index.${f}`);
    order[f] = existsSync(ix) ? parseIndexFile(readFileSync(ix, 'latin1'), FILE_POS[f]) : new Map();
  }
  const c = join(dir, 'cntlist.rev');
  return new WordNet(synsets, exceptions, existsSync(c) ? parseCntlist(readFileSync(c, 'latin1')) : new Map(), order);
}
