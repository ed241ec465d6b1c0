/** `kiln bench vae` (registerVaeBench): --quick --json on vae-small reports frames/s and a flat streamed decode. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerVaeBench } from '../../src/bench/aquarius-vae.js';

test('kiln bench vae --quick --json: encode/decode frames/s > 0, streamed decode memory flat over lengths', async () => {
  const program = new Command().exitOverride();
  registerVaeBench(program.command('bench'));
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => { out.push(s); return true; }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'kiln', 'bench', 'vae', '--quick', '--json', '--config', 'vae-small', '--size', '16']);
  } finally {
    process.stdout.write = write;
  }
  const r = JSON.parse(out.join('')) as {
    bench: string; unit: string; flat: boolean;
    throughput: { encode: { frames_per_s: number }; decode: { frames_per_s: number }; frames: number };
    memory: { rows: { frames: number; stream_peak_bytes: number; full_peak_bytes: number }[]; stream_flatness: number };
  };
  assert.equal(r.bench, 'vae');
  assert.equal(r.unit, 'frames/s');
  assert.ok(r.throughput.encode.frames_per_s > 0 && r.throughput.decode.frames_per_s > 0);
  assert.deepEqual(r.memory.rows.map((x) => x.frames), [5, 9, 17]);
  assert.ok(r.flat && r.memory.stream_flatness < 1.05);
  const rows = r.memory.rows;
  assert.ok(rows[2].full_peak_bytes > rows[0].full_peak_bytes, 'the untiled pass grows with the video');
});
