// The local executor on pure-TypeScript operators: bounded queues/backpressure, skip-done on re-run, poison
// recording, filter drops in the manifest, barrier determinism, fixed-size batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileGraph, type PipelineSpec } from '../../src/datapipe/graph.js';
import { runLocal } from '../../src/datapipe/local-executor.js';
import { OperatorRegistry } from '../../src/datapipe/registry.js';
import { BoundedChannel } from '../../src/datapipe/channel.js';
import type { Item } from '../../src/datapipe/types.js';
import { rmDir, tempDir } from './helpers.js';

interface Counters { produced: number; mapped: number; maxAhead: number; consumed: number; batches: number[] }

function registry(c: Counters, n: number): OperatorRegistry {
  const r = new OperatorRegistry();
  r.register({ name: 'nums', kind: 'source', inType: 'none', outType: 'num', description: '',
    create: () => ({ kind: 'source', run: async function* () {
      for (let i = 0; i < n; i++) {
        c.produced++;
        c.maxAhead = Math.max(c.maxAhead, c.produced - c.consumed);
        yield { id: `i${String(i).padStart(5, '0')}`, v: i };
      }
    } }) });
  r.register({ name: 'double', kind: 'map', inType: 'num', outType: 'num', description: '',
    create: () => ({ kind: 'map', run: async (it: Item) => {
      c.mapped++;
      if (it.v === 13) throw new Error('thirteen is poison');
      await new Promise((res) => setTimeout(res, 1));
      return { ...it, v: (it.v as number) * 2 };
    } }) });
  r.register({ name: 'even4', kind: 'filter', inType: 'num', outType: 'num', description: '',
    create: () => ({ kind: 'filter', run: async (it: Item) => ((it.v as number) % 4 === 0 ? true :
      { keep: false, reason: `v ${it.v} not divisible by 4` }) }) });
  r.register({ name: 'slow-sink', kind: 'map', inType: 'num', outType: 'num', description: '',
    create: () => ({ kind: 'map', run: async (it: Item) => {
      c.consumed++;
      await new Promise((res) => setTimeout(res, 0));
      return it;
    } }) });
  r.register({ name: 'groups', kind: 'batch', inType: 'num', outType: 'num', description: '',
    create: (p) => ({ kind: 'batch', size: p.size === 'all' ? 'all' : Number(p.size), run: async (items: Item[]) => {
      c.batches.push(items.length);
      return { out: items.map((it, k) => ({ ...it, rank: k })) };
    } }) });
  return r;
}

const newCounters = (): Counters => ({ produced: 0, mapped: 0, maxAhead: 0, consumed: 0, batches: [] });

test('BoundedChannel blocks producers at capacity and drains after close', async () => {
  const ch = new BoundedChannel<number>(2);
  let pushed = 0;
  const prod = (async () => {
    for (let i = 0; i < 5; i++) (await ch.push(i), pushed++);
    ch.close();
  })();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(pushed, 2);
  const got: number[] = [];
  for (let v = await ch.pull(); v !== undefined; v = await ch.pull()) got.push(v);
  await prod;
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  assert.equal(ch.maxDepth, 2);
});

test('backpressure: the source never runs far ahead of a slow consumer', async () => {
  const out = tempDir('bp');
  try {
    const c = newCounters();
    const spec: PipelineSpec = { name: 'bp', stages: [{ name: 'src', op: 'nums' },
      { name: 'sink', op: 'slow-sink', input: 'src', concurrency: 1 }] };
    const r = await runLocal(compileGraph(spec, registry(c, 500), { ffmpeg: '', ffprobe: '' }),
      { outDir: out, queueCapacity: 4 });
    assert.equal(r.summary.kept, 500);
    assert.ok(r.maxQueue.sink <= 4, `queue depth ${r.maxQueue.sink}`);
    // queue (4) + one item in the sink + one being pushed
    assert.ok(c.maxAhead <= 7, `source ran ${c.maxAhead} items ahead`);
  } finally {
    rmDir(out);
  }
});

test('poison, drops, barrier and re-run skip-done give exact, deterministic results', async () => {
  const out = tempDir('run');
  try {
    const spec: PipelineSpec = { name: 'p', stages: [{ name: 'src', op: 'nums' },
      { name: 'dbl', op: 'double', input: 'src', concurrency: 4 }, { name: 'flt', op: 'even4', input: 'dbl' },
      { name: 'all', op: 'groups', input: 'flt', params: { size: 'all' } }] };
    const c1 = newCounters();
    const r1 = await runLocal(compileGraph(spec, registry(c1, 40), { ffmpeg: '', ffprobe: '' }), { outDir: out });
    assert.equal(c1.mapped, 40);
    assert.equal(r1.summary.errors, 1);
    assert.equal(r1.summary.kept, 20); // i = 0..39 without 13: v = 2i kept when i even -> 20 values
    assert.equal(r1.summary.dropped, 19);
    const manifest = readFileSync(join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(manifest.length, 39);
    assert.deepEqual(manifest.map((m) => m.id), [...manifest.map((m) => m.id)].sort());
    const kept = manifest.filter((m) => m.dropped === undefined);
    assert.deepEqual(kept.map((m) => m.rank), [...Array(20).keys()]); // barrier saw items sorted by id
    assert.equal(manifest.find((m) => m.id === 'i00003').dropped, 'flt: v 6 not divisible by 4');
    const errs = readFileSync(join(out, 'errors.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(errs, [{ id: 'i00013', stage: 'dbl', source: null, error: 'thirteen is poison' }]);
    // Re-run: nothing is recomputed, same manifest bytes; temp files of killed writes are cleaned up.
    const before = readFileSync(join(out, 'manifest.jsonl'));
    const stale = join(out, '.state', 'dbl', '.i00001.tmp-4242-deadbeef.json');
    writeFileSync(stale, '{');
    const c2 = newCounters();
    const r2 = await runLocal(compileGraph(spec, registry(c2, 40), { ffmpeg: '', ffprobe: '' }), { outDir: out });
    assert.equal(c2.mapped, 0);
    assert.deepEqual(c2.batches, []);
    assert.equal(r2.progress.find((p) => p.stage === 'dbl')!.skipped, 40);
    assert.equal(existsSync(stale), false);
    assert.deepEqual(readFileSync(join(out, 'manifest.jsonl')), before);
    // Half-finished: delete some records; only those are redone.
    const dir = join(out, '.state', 'dbl');
    const files = readdirSync(dir).slice(0, 5);
    for (const f of files) rmDir(join(dir, f));
    const c3 = newCounters();
    await runLocal(compileGraph(spec, registry(c3, 40), { ffmpeg: '', ffprobe: '' }), { outDir: out });
    assert.equal(c3.mapped, 5);
    assert.deepEqual(readFileSync(join(out, 'manifest.jsonl')), before);
  } finally {
    rmDir(out);
  }
});

test('fixed-size batches cover every item once, and re-runs reuse them', async () => {
  const out = tempDir('batch');
  try {
    const spec: PipelineSpec = { name: 'b', stages: [{ name: 'src', op: 'nums' },
      { name: 'g', op: 'groups', input: 'src', params: { size: 8 } }] };
    const c = newCounters();
    const r = await runLocal(compileGraph(spec, registry(c, 30), { ffmpeg: '', ffprobe: '' }), { outDir: out });
    assert.deepEqual(c.batches, [8, 8, 8, 6]);
    assert.equal(r.summary.kept, 30);
    const c2 = newCounters();
    const r2 = await runLocal(compileGraph(spec, registry(c2, 30), { ffmpeg: '', ffprobe: '' }), { outDir: out });
    assert.deepEqual(c2.batches, []);
    assert.equal(r2.summary.kept, 30);
  } finally {
    rmDir(out);
  }
});

test('an executor failure aborts the run instead of hanging on a full queue', async () => {
  const out = tempDir('abort');
  try {
    const c = newCounters();
    const spec: PipelineSpec = { name: 'a', stages: [{ name: 'src', op: 'nums' },
      { name: 'dbl', op: 'double', input: 'src', concurrency: 1 }] };
    // Sabotage the record store: .state/dbl is a file, so the first record write fails (an executor error, not a
    // poison item) while the source is blocked pushing into the stage's full queue.
    mkdirSync(join(out, '.state'));
    writeFileSync(join(out, '.state', 'dbl'), 'x');
    await assert.rejects(runLocal(compileGraph(spec, registry(c, 1000), { ffmpeg: '', ffprobe: '' }),
      { outDir: out, queueCapacity: 2 }), /cannot write/);
    assert.ok(c.produced < 10, `source produced ${c.produced}`);
  } finally {
    rmDir(out);
  }
});
