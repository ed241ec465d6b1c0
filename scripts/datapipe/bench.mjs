#!/usr/bin/env node
// Datapipe benchmark (run after `npx tsc -p .`): node scripts/datapipe/bench.mjs [--nats] [--videos N]
// Side by side in one run, on synthetic 160x90 lavfi videos made in a temp dir:
//   1. ffmpeg decode-only frames/s at analysis resolution vs decode + shot detection (target >= 80%)
//   2. clips/s end to end (examples/datapipe/video.yaml), local executor with 1 and 2 CPUs
//   3. with --nats (needs nats-server): the same with 1 and 2 worker processes
//   4. peak RSS of `datapipe run` (probe + shots) on 10 vs 100 videos (memory must stay flat)
// Prints a table and writes bench-datapipe.json in the current directory.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dist = (p) => import(join(ROOT, 'dist', p));
const { makeReferenceVideo, startNatsServer } = await dist('test/datapipe/helpers.js');
const { probeVideo } = await dist('src/datapipe/video/probe.js');
const { detectShots, analysisSize } = await dist('src/datapipe/video/shots.js');
const { streamFrames, decodeArgs } = await dist('src/datapipe/video/ffmpeg.js');
const args = process.argv.slice(2);
const nVideos = Number(args[args.indexOf('--videos') + 1]) || 6;
const useNats = args.includes('--nats');
const BIN = join(ROOT, 'dist/src/datapipe/bin.js');
const SPEC = join(ROOT, 'examples/datapipe/video.yaml');
const work = mkdtempSync(join(tmpdir(), 'kiln-dp-bench-'));
const results = {};

function run(cmd, a) {
  const r = spawnSync(cmd, a, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

try {
  const ref = join(work, 'ref.mp4');
  makeReferenceVideo(ref);
  // Distinct-looking inputs: hue-rotated / mirrored re-encodes of the reference (near-dups by design, same work).
  const input = join(work, 'in');
  mkdirSync(input);
  for (let i = 0; i < nVideos; i++)
    run('ffmpeg', ['-v', 'error', '-y', '-i', ref, '-vf', `hue=h=${i * 37}${i % 2 ? ',hflip' : ''}`, '-c:v', 'libx264',
      '-preset', 'ultrafast', '-threads', '1', join(input, `v${i}.mp4`)]);

  // 1. decode-only vs decode + shot detection (same decode args), best of 3.
  const info = await probeVideo('ffprobe', ref);
  const { w, h } = analysisSize(info, 128);
  let dec = Infinity, det = Infinity;
  for (let k = 0; k < 3; k++) {
    let t = performance.now();
    for (let i = 0; i < nVideos; i++)
      await streamFrames('ffmpeg', decodeArgs(join(input, `v${i}.mp4`), `scale=${w}:${h}:flags=area`, 'rgb24'), 3 * w * h,
        'bench', () => {});
    dec = Math.min(dec, performance.now() - t);
    t = performance.now();
    for (let i = 0; i < nVideos; i++) await detectShots('ffmpeg', join(input, `v${i}.mp4`), info);
    det = Math.min(det, performance.now() - t);
  }
  const frames = nVideos * info.frames;
  results.decode_only_fps = Math.round(frames / (dec / 1000));
  results.decode_plus_shots_fps = Math.round(frames / (det / 1000));
  results.shots_vs_decode = +(dec / det).toFixed(3);
  // Same at a realistic source size (1280x720): decode cost grows, the analysis cost (128 px wide) does not.
  const hd = join(work, 'hd.mp4');
  run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=1280x720:r=25:d=6', '-c:v', 'libx264', '-preset',
    'ultrafast', '-threads', '1', hd]);
  const hdInfo = await probeVideo('ffprobe', hd);
  const hs = analysisSize(hdInfo, 128);
  let dHd = Infinity, sHd = Infinity;
  for (let k = 0; k < 3; k++) {
    let t = performance.now();
    await streamFrames('ffmpeg', decodeArgs(hd, `scale=${hs.w}:${hs.h}:flags=area`, 'rgb24'), 3 * hs.w * hs.h, 'bench', () => {});
    dHd = Math.min(dHd, performance.now() - t);
    t = performance.now();
    await detectShots('ffmpeg', hd, hdInfo);
    sHd = Math.min(sHd, performance.now() - t);
  }
  results.decode_only_fps_720p = Math.round(hdInfo.frames / (dHd / 1000));
  results.decode_plus_shots_fps_720p = Math.round(hdInfo.frames / (sHd / 1000));
  results.shots_vs_decode_720p = +(dHd / sHd).toFixed(3);

  // 2./3. clips/s end to end.
  const e2e = (label, extra) => {
    const out = join(work, `out-${label}`);
    const t = performance.now();
    const rep = JSON.parse(run(process.execPath, [BIN, 'datapipe', 'run', SPEC, '--input', input, '--out', out, '--json',
      '--no-progress', ...extra]));
    const s = (performance.now() - t) / 1000;
    const clips = rep.stages.find((x) => x.stage === 'cut').out;
    rmSync(out, { recursive: true, force: true });
    return { wall_s: +s.toFixed(2), clips, clips_per_s: +(clips / s).toFixed(2), peak_rss_mb: rep.peak_rss_mb };
  };
  results.local_1cpu = e2e('l1', ['--cpus', '1', '--threads', '0']);
  results.local_2cpu = e2e('l2', ['--cpus', '2', '--threads', '0']);
  results.local_2cpu_2threads = e2e('l2t', ['--cpus', '2', '--threads', '2']);
  results.local_speedup = +(results.local_1cpu.wall_s / results.local_2cpu.wall_s).toFixed(2);
  if (useNats) {
    const srv = await startNatsServer();
    try {
      results.nats_1worker = e2e('n1', ['--executor', 'nats', '--nats', srv.url, '--workers', '1', '--cpus', '1']);
      results.nats_2workers = e2e('n2', ['--executor', 'nats', '--nats', srv.url, '--workers', '2', '--cpus', '1']);
      results.nats_speedup = +(results.nats_1worker.wall_s / results.nats_2workers.wall_s).toFixed(2);
    } finally {
      await srv.stop();
    }
  }

  // 4. peak RSS with 10 vs 100 (short) videos, probe + shot detection only.
  const short = join(work, 'short.mp4');
  run('ffmpeg', ['-v', 'error', '-y', '-i', ref, '-frames:v', '60', '-c:v', 'libx264', '-preset', 'ultrafast', short]);
  const light = join(work, 'light.yaml');
  writeFileSync(light, 'name: light\nstages:\n  - { name: v, op: video-files }\n  - { name: p, op: probe, input: v }\n' +
    '  - { name: s, op: detect-shots, input: p }\n');
  for (const n of [10, 100]) {
    const d = join(work, `rss${n}`);
    mkdirSync(d);
    for (let i = 0; i < n; i++) copyFileSync(short, join(d, `s${String(i).padStart(3, '0')}.mp4`));
    const out = join(work, `rss-out${n}`);
    const rep = JSON.parse(run(process.execPath, [BIN, 'datapipe', 'run', light, '--input', d, '--out', out, '--json',
      '--no-progress', '--threads', '0']));
    results[`peak_rss_mb_${n}_videos`] = rep.peak_rss_mb;
    results[`wall_s_${n}_videos`] = +rep.wall_s.toFixed(2);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(26)} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
results.load_average = (await import('node:os')).loadavg().map((x) => +x.toFixed(2));
console.log(`load average ${results.load_average.join(' ')} on ${(await import('node:os')).cpus().length} CPUs`);
writeFileSync('bench-datapipe.json', JSON.stringify({ videos: nVideos, ...results }, null, 1) + '\n');
