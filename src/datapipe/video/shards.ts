/**
 * WebDataset packaging: samples (an .mp4 and its .json metadata, sharing a key) go into POSIX tar shards
 * `<prefix>-000000.tar`, ... A new shard starts when the current one reaches `targetBytes`. Tar entries carry fixed
 * mtime/uid/gid/mode so the same samples give byte-identical shards. Each shard is written to a temp name and
 * renamed; `<dir>/<prefix>-manifest.json` lists every shard with its sample keys and size.
 */
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { tempPathFor, writeFileAtomic } from '../store.js';

export interface ShardSample {
  /** WebDataset key: no dots, no slashes. */
  key: string;
  mp4: string;
  json: unknown;
}

export interface ShardInfo {
  name: string;
  samples: string[];
  bytes: number;
}

const TAR_BLOCK = 512;
const padded = (n: number): number => Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;
const MTIME = new Date(0);

/** Plan which samples go into which shard (by tar size: header + padded payload per entry). */
export function planShards(samples: Array<{ key: string; mp4Bytes: number; jsonBytes: number }>, targetBytes: number):
    number[][] {
  const plan: number[][] = [];
  let cur: number[] = [];
  let size = 0;
  samples.forEach((s, i) => {
    const add = TAR_BLOCK + padded(s.mp4Bytes) + TAR_BLOCK + padded(s.jsonBytes);
    if (cur.length > 0 && size + add > targetBytes) (plan.push(cur), (cur = []), (size = 0));
    cur.push(i);
    size += add;
  });
  if (cur.length > 0) plan.push(cur);
  return plan;
}

async function writeShard(path: string, samples: ShardSample[]): Promise<number> {
  const tmp = tempPathFor(path);
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(tmp));
  const hdr = { mtime: MTIME, uid: 0, gid: 0, uname: '', gname: '', mode: 0o644 };
  try {
    for (const s of samples) {
      const size = statSync(s.mp4).size;
      await new Promise<void>((res, rej) => {
        const entry = pack.entry({ ...hdr, name: `${s.key}.mp4`, size }, (e) => (e ? rej(e) : res()));
        createReadStream(s.mp4).on('error', rej).pipe(entry);
      });
      const json = Buffer.from(JSON.stringify(s.json));
      await new Promise<void>((res, rej) => pack.entry({ ...hdr, name: `${s.key}.json`, size: json.length }, json,
        (e) => (e ? rej(e) : res())));
    }
    pack.finalize();
    await done;
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
  return statSync(path).size;
}

export async function writeShards(dir: string, prefix: string, samples: ShardSample[], targetBytes: number):
    Promise<ShardInfo[]> {
  mkdirSync(dir, { recursive: true });
  const sizes = samples.map((s) => ({ key: s.key, mp4Bytes: statSync(s.mp4).size,
    jsonBytes: Buffer.byteLength(JSON.stringify(s.json)) }));
  const plan = planShards(sizes, targetBytes);
  const infos: ShardInfo[] = [];
  for (const [i, idx] of plan.entries()) {
    const path = join(dir, `${prefix}-${String(i).padStart(6, '0')}.tar`);
    const bytes = await writeShard(path, idx.map((k) => samples[k]));
    infos.push({ name: basename(path), samples: idx.map((k) => samples[k].key), bytes });
  }
  writeFileAtomic(join(dir, `${prefix}-manifest.json`), JSON.stringify({ shards: infos, samples: samples.length,
    target_bytes: targetBytes }, null, 1) + '\n');
  return infos;
}
