/**
 * Hugging Face checkpoints made of safetensors files: one `model.safetensors`, or shards
 * `model-00001-of-00003.safetensors` … listed by `model.safetensors.index.json`
 * (`{"metadata": {"total_size": bytes}, "weight_map": {tensor: file}}`).
 *
 * Contract
 * - `openCheckpoint(pathOrDir)` gives one lazy view over every tensor of a checkpoint: it reads only the index
 *   (or the single file's header); shards are opened on first use and kept open until `close()`. Accepts a
 *   directory (looks for `model.*` then `diffusion_pytorch_model.*`, or the given `prefix`; `<prefix>.safetensors`
 *   wins over `<prefix>.safetensors.index.json` as in transformers), an index file, or a single .safetensors file.
 * - Index files are parsed strictly (src/io/strict-json.ts); shard names must be plain file names in the same
 *   directory (no path separators, no "..") so an index cannot make Kiln read outside the checkpoint.
 * - Errors name the missing file or tensor: E_IO for a missing/unreadable shard, E_CHECKPOINT for a tensor the
 *   index or shard lacks, E_FORMAT for a malformed index.
 * - `writeSharded(dir, tensors, {maxShardBytes})` splits tensors (sorted by name) greedily into shards of at most
 *   maxShardBytes of tensor data, as huggingface_hub's split_state_dict_into_shards does (a tensor larger than
 *   that gets a shard of its own, emitted at once, while the current shard keeps filling), names them
 *   `<prefix>-0000i-of-0000n.safetensors`, and writes the index as transformers does
 *   (`json.dumps(index, indent=2, sort_keys=True) + "\n"`, non-ASCII escaped). One shard → `<prefix>.safetensors`
 *   and no index, as transformers does. Every file is written atomically (temp + rename), the index last; shards
 *   of an earlier, differently split write into the same directory are not deleted. Shard
 *   metadata defaults to `{"format": "pt"}`, which transformers requires to load safetensors weights.
 */
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../errors.js';
import { type RawTensor, type ReadOptions, type SafetensorsFile, type TensorInfo, type TensorsIn, openSafetensors, writeSafetensors } from './safetensors.js';
import { type JsonValue, parseStrictJson, StrictJsonError } from './strict-json.js';

export interface ShardIndex {
  /** `metadata.total_size` when present. */
  totalSize: number | null;
  /** Other `metadata` entries, as parsed. */
  metadata: Map<string, JsonValue>;
  /** Tensor name → shard file name. */
  weightMap: Map<string, string>;
}

/** Parses and validates an index file's text (`source` names it in errors). */
export function parseShardIndex(text: string, source: string): ShardIndex {
  const bad = (msg: string): KilnError => new KilnError('E_FORMAT', `${source}: ${msg}; regenerate the index or fix it by hand`);
  let root: JsonValue;
  try {
    root = parseStrictJson(text);
  } catch (e) {
    if (e instanceof StrictJsonError) throw bad(`invalid JSON (${e.message})`);
    throw e;
  }
  if (!(root instanceof Map)) throw bad('not a JSON object');
  const md = root.get('metadata') ?? new Map<string, JsonValue>();
  if (!(md instanceof Map)) throw bad('"metadata" is not an object');
  const ts = md.get('total_size');
  let totalSize: number | null = null;
  if (ts !== undefined && ts !== null) {
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
      throw bad('"metadata.total_size" must be a non-negative integer');
    }
    totalSize = ts;
  }
  const wm = root.get('weight_map');
  if (!(wm instanceof Map)) throw bad('missing "weight_map" object');
  const weightMap = new Map<string, string>();
  for (const [name, file] of wm) {
    if (typeof file !== 'string') throw bad(`weight_map entry for ${JSON.stringify(name)} is not a file name`);
    if (file === '' || file === '.' || file === '..' || /[/\\]/.test(file)) {
      throw bad(`weight_map entry for ${JSON.stringify(name)} is ${JSON.stringify(file)}, not a plain file name in the checkpoint directory`);
    }
    weightMap.set(name, file);
  }
  return { totalSize, metadata: md, weightMap };
}

export function readShardIndex(path: string): ShardIndex {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KilnError('E_IO', `${path}: cannot read the shard index: ${(e as Error).message}`, { cause: e });
  }
  return parseShardIndex(text, path);
}

/** A lazy view over all tensors of a checkpoint (single file or sharded). */
export class SafetensorsCheckpoint {
  private readonly open = new Map<string, SafetensorsFile>();

  /** `weightMap` maps every tensor to its file name inside `dir`; `opened` are files already open. */
  constructor(readonly dir: string, readonly weightMap: Map<string, string>, readonly index: ShardIndex | null,
    private readonly describe: string, opened: Map<string, SafetensorsFile> = new Map()) {
    for (const [k, f] of opened) this.open.set(k, f);
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.weightMap.keys()].sort();
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /** The distinct files of the checkpoint, sorted. */
  files(): string[] {
    return [...new Set(this.weightMap.values())].sort();
  }

  /** The shard holding `name`, opened on first use. */
  fileFor(name: string): SafetensorsFile {
    const file = this.weightMap.get(name);
    if (file === undefined) {
      throw new KilnError('E_CHECKPOINT', `${this.describe}: no tensor named ${JSON.stringify(name)} (it holds ${this.weightMap.size})`);
    }
    return this.shard(file, name);
  }

  private shard(file: string, forTensor?: string): SafetensorsFile {
    let f = this.open.get(file);
    if (!f) {
      const path = join(this.dir, file);
      if (!existsSync(path)) {
        throw new KilnError('E_IO', `${this.describe}: shard file ${path} is missing` +
          (forTensor !== undefined ? ` (it should hold tensor ${JSON.stringify(forTensor)})` : '') + '; download or copy it');
      }
      f = openSafetensors(path);
      this.open.set(file, f);
    }
    if (forTensor !== undefined && !f.has(forTensor)) {
      throw new KilnError('E_CHECKPOINT', `${this.describe}: the index puts tensor ${JSON.stringify(forTensor)} in ${file}, ` +
        'but that file does not contain it; the index and the shards disagree');
    }
    return f;
  }

  info(name: string): TensorInfo & { file: string } {
    return { ...this.fileFor(name).info(name), file: this.weightMap.get(name)! };
  }

  read(name: string, opts?: ReadOptions): RawTensor {
    return this.fileFor(name).read(name, opts);
  }

  /**
   * Opens every shard and checks the index against them: each indexed tensor is present, no shard holds
   * tensors the index does not list, and `total_size` (when given) equals the sum of tensor bytes.
   */
  verify(): void {
    let total = 0;
    const inShards = new Set<string>();
    for (const file of this.files()) {
      const f = this.shard(file);
      for (const n of f.names()) {
        inShards.add(n);
        const owner = this.weightMap.get(n);
        if (owner !== file) {
          throw new KilnError('E_CHECKPOINT', `${this.describe}: ${file} holds tensor ${JSON.stringify(n)} which the index ` +
            (owner === undefined ? 'does not list' : `puts in ${owner}`));
        }
        const e = f.header.entries.get(n)!;
        total += e.end - e.begin;
      }
    }
    for (const n of this.weightMap.keys()) {
      if (!inShards.has(n)) {
        throw new KilnError('E_CHECKPOINT', `${this.describe}: tensor ${JSON.stringify(n)} is indexed in ${this.weightMap.get(n)} but missing there`);
      }
    }
    if (this.index?.totalSize != null && this.index.totalSize !== total) {
      throw new KilnError('E_CHECKPOINT', `${this.describe}: metadata.total_size is ${this.index.totalSize} but the shards hold ${total} bytes of tensors`);
    }
  }

  close(): void {
    for (const f of this.open.values()) f.close();
    this.open.clear();
  }
}

const DEFAULT_PREFIXES = ['model', 'diffusion_pytorch_model'];

/** Opens a checkpoint directory, index file, or single .safetensors file lazily. */
export function openCheckpoint(path: string, opts: { prefix?: string } = {}): SafetensorsCheckpoint {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new KilnError('E_IO', `${path}: no such checkpoint file or directory`, { cause: e });
  }
  if (st.isFile()) {
    if (path.endsWith('.json')) return fromIndex(path);
    return fromSingle(path);
  }
  const prefixes = opts.prefix !== undefined ? [opts.prefix] : DEFAULT_PREFIXES;
  for (const p of prefixes) {
    // Like transformers: a single file wins over an index when both are present.
    const single = join(path, `${p}.safetensors`);
    if (existsSync(single)) return fromSingle(single);
    const index = join(path, `${p}.safetensors.index.json`);
    if (existsSync(index)) return fromIndex(index);
  }
  throw new KilnError('E_IO', `${path}: no checkpoint found; expected ${prefixes.map((p) => `${p}.safetensors or ${p}.safetensors.index.json`).join(', or ')}`);
}

function fromIndex(indexPath: string): SafetensorsCheckpoint {
  const index = readShardIndex(indexPath);
  return new SafetensorsCheckpoint(dirname(indexPath), index.weightMap, index, indexPath);
}

function fromSingle(filePath: string): SafetensorsCheckpoint {
  const f = openSafetensors(filePath);
  const file = basename(filePath);
  const map = new Map(f.names().map((n) => [n, file]));
  return new SafetensorsCheckpoint(dirname(filePath), map, null, filePath, new Map([[file, f]]));
}

export interface WriteShardedOptions {
  /** Most tensor bytes per shard (default 5 GB, transformers' default max_shard_size "5GB"). */
  maxShardBytes?: number;
  /** Per-shard metadata (default {"format": "pt"}). */
  metadata?: Record<string, string>;
  /** File name prefix (default "model"). */
  prefix?: string;
}

export interface WriteShardedResult {
  files: string[];
  indexPath: string | null;
  totalSize: number;
}

/** Python json.dumps(..., indent=2, sort_keys=True)-compatible string literal (ensure_ascii). */
function pyJsonString(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const pyKeyOrder = (a: string, b: string): number => {
  // Python sorts str by code point; compare code points, not UTF-16 units.
  const ca = [...a], cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
};

/** The index text exactly as transformers writes it. */
export function formatShardIndex(totalSize: number, weightMap: Map<string, string>): string {
  const names = [...weightMap.keys()].sort(pyKeyOrder);
  const lines = names.map((n) => `    ${pyJsonString(n)}: ${pyJsonString(weightMap.get(n)!)}`);
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": {${lines.length ? `\n${lines.join(',\n')}\n  ` : ''}}\n}\n`;
}

/** Writes `tensors` into `dir` as a (possibly sharded) checkpoint. The directory must exist. */
export function writeSharded(dir: string, tensors: TensorsIn, opts: WriteShardedOptions = {}): WriteShardedResult {
  const max = opts.maxShardBytes ?? 5_000_000_000;
  if (!(max > 0)) throw new KilnError('E_ARG', `writeSharded: maxShardBytes must be positive, got ${max}`);
  const prefix = opts.prefix ?? 'model';
  const metadata = opts.metadata ?? { format: 'pt' };
  const list: [string, RawTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const shards: [string, RawTensor][][] = [];
  let cur: [string, RawTensor][] = [];
  let curBytes = 0;
  let total = 0;
  for (const item of list) {
    const bytes = item[1].data?.byteLength ?? 0;
    total += bytes;
    if (bytes > max) {
      shards.push([item]); // too big for any shard: one of its own; the current shard keeps filling
      continue;
    }
    if (cur.length > 0 && curBytes + bytes > max) {
      shards.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(item);
    curBytes += bytes;
  }
  if (cur.length > 0 || shards.length === 0) shards.push(cur);

  if (shards.length === 1) {
    const file = `${prefix}.safetensors`;
    writeSafetensors(join(dir, file), new Map(shards[0]), metadata);
    return { files: [file], indexPath: null, totalSize: total };
  }
  const pad = (i: number): string => String(i).padStart(5, '0');
  const files: string[] = [];
  const weightMap = new Map<string, string>();
  shards.forEach((shard, i) => {
    const file = `${prefix}-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(join(dir, file), new Map(shard), metadata);
    files.push(file);
    for (const [n] of shard) weightMap.set(n, file);
  });
  const indexPath = join(dir, `${prefix}.safetensors.index.json`);
  const tmp = `${indexPath}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, formatShardIndex(total, weightMap));
    renameSync(tmp, indexPath);
  } catch (e) {
    throw new KilnError('E_IO', `${indexPath}: write failed: ${(e as Error).message}`, { cause: e });
  }
  return { files, indexPath, totalSize: total };
}
