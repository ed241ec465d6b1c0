// Slow (KILN_SLOW_TESTS=1): memory stays flat with input size. Probe + shot detection over 10 and then 100 copies of
// a short video; the peak JS heap (sampled every 20 ms) must not grow with the number of videos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { builtinRegistry } from '../../../src/datapipe/builtin-operators.js';
import { compileGraph, Pipeline } from '../../../src/datapipe/graph.js';
import { runLocal } from '../../../src/datapipe/local-executor.js';
import { makeReferenceVideo, needBinary, rmDir, tempDir } from '../../datapipe/helpers.js';

const skip = needBinary('ffmpeg');

test('peak heap with 100 videos is within 25% of the peak with 10', { skip }, async () => {
  const dir = tempDir('mem');
  try {
    const ref = join(dir, 'ref.mp4');
    makeReferenceVideo(ref);
    const short = join(dir, 'short.mp4');
    spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', ref, '-frames:v', '60', '-c:v', 'libx264', '-preset', 'ultrafast', short]);
    const spec = new Pipeline('mem').add('v', 'video-files').add('p', 'probe').add('s', 'detect-shots').toSpec();
    const peaks: number[] = [];
    for (const n of [10, 100]) {
      const input = join(dir, `in${n}`);
      mkdirSync(input);
      for (let i = 0; i < n; i++) copyFileSync(short, join(input, `v${String(i).padStart(3, '0')}.mp4`));
      let peak = 0;
      const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 20);
      const r = await runLocal(compileGraph(spec, builtinRegistry(), { input, ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }),
        { outDir: join(dir, `out${n}`), cpus: 2 });
      clearInterval(t);
      assert.equal(r.summary.kept, n);
      peaks.push(peak);
    }
    assert.ok(peaks[1] < peaks[0] * 1.25, `peak heap ${peaks.map((p) => (p / 2 ** 20).toFixed(1)).join(' MB -> ')} MB`);
  } finally {
    rmDir(dir);
  }
});
