// Video operators on synthetic lavfi videos made here: shot detection (cuts within +-1 frame, none in fades or
// stills), frame-exact clip cutting, metrics, the `scenes` CLI, and the example pipeline end to end (manifest,
// shards, poison inputs, near-dup removal, skip-done on re-run). Skips without ffmpeg (fails under CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinRegistry } from '../../src/datapipe/builtin-operators.js';
import { compileGraph } from '../../src/datapipe/graph.js';
import { runLocal } from '../../src/datapipe/local-executor.js';
import { loadSpec } from '../../src/datapipe/spec.js';
import { cutClip } from '../../src/datapipe/video/cut.js';
import { decodeArgs, streamFrames } from '../../src/datapipe/video/ffmpeg.js';
import { clipMetrics } from '../../src/datapipe/video/metrics.js';
import { probeVideo } from '../../src/datapipe/video/probe.js';
import { detectShots } from '../../src/datapipe/video/shots.js';
import { makePoison, makeReferenceVideo, makeTwoShotVideo, needBinary, REF_CUTS, REF_FRAMES, reencode, rmDir,
  tempDir } from './helpers.js';

const skip = needBinary('ffmpeg');
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'dist/src/datapipe/bin.js');
const dir = skip ? '' : tempDir('video');
const ref = join(dir, 'ref.mp4');
if (!skip) makeReferenceVideo(ref);

test.after(() => {
  if (dir) rmDir(dir);
});

async function grayFrames(path: string): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  await streamFrames('ffmpeg', decodeArgs(path, 'scale=160:90', 'gray'), 160 * 90, 'test', (f) => frames.push(f.slice()));
  return frames;
}

const mad = (a: Uint8Array, b: Uint8Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
};

test('probe reads fps, frames, size, codec; empty and corrupt files are clear errors', { skip, timeout: 90_000 }, async () => {
  const i = await probeVideo('ffprobe', ref);
  assert.deepEqual([i.fps, i.frames, i.width, i.height, i.codec, i.rotation], [25, REF_FRAMES, 160, 90, 'h264', 0]);
  const rot = join(dir, 'rot.mp4');
  spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', ref, '-frames:v', '30', '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rot]);
  const ri = await probeVideo('ffprobe', rot);
  assert.deepEqual([ri.rotation % 180, ri.width, ri.height, ri.displayWidth, ri.displayHeight], [90, 160, 90, 90, 160]);
  makePoison(dir);
  await assert.rejects(probeVideo('ffprobe', join(dir, 'empty.mp4')), /empty \(0 bytes\)/);
  await assert.rejects(probeVideo('ffprobe', join(dir, 'corrupt.mp4')), /corrupt\.mp4.*ffprobe failed/);
});

test('shot detection finds every hard cut within 1 frame and none inside fades, black or stills', { skip, timeout: 90_000 }, async () => {
  const r = await detectShots('ffmpeg', ref, await probeVideo('ffprobe', ref));
  assert.equal(r.frames, REF_FRAMES);
  const cuts = r.shots.slice(1).map((s) => s.start_frame);
  assert.equal(cuts.length, REF_CUTS.length, `cuts ${cuts}`);
  cuts.forEach((c, k) => assert.ok(Math.abs(c - REF_CUTS[k]) <= 1, `cut ${c} vs ${REF_CUTS[k]}`));
  assert.equal(r.shots[0].start_frame, 0);
  assert.equal(r.shots.at(-1)!.end_frame, REF_FRAMES);
  for (let k = 1; k < r.shots.length; k++) assert.equal(r.shots[k].start_frame, r.shots[k - 1].end_frame);
  assert.equal(r.shots[1].start_s, 2);
});

test('a 1 s cross-dissolve or wipe gives at most one cut, not a burst', { skip, timeout: 90_000 }, async () => {
  for (const transition of ['fade', 'wipeleft']) {
    const p = join(dir, `xf-${transition}.mp4`);
    const r0 = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=25:d=3', '-f', 'lavfi',
      '-i', 'smptehdbars=s=160x90:r=25:d=3', '-filter_complex',
      `[0][1]xfade=transition=${transition}:duration=1:offset=2,format=yuv420p[v]`, '-map', '[v]', '-c:v', 'libx264',
      '-preset', 'ultrafast', p]);
    assert.equal(r0.status, 0);
    const r = await detectShots('ffmpeg', p, await probeVideo('ffprobe', p));
    assert.ok(r.shots.length <= 2, `${transition}: ${JSON.stringify(r.shots)}`);
    for (const s of r.shots.slice(1)) assert.ok(s.start_frame >= 50 && s.start_frame <= 75, `${transition}: cut ${s.start_frame}`);
  }
});

test('clip cutting is frame-exact: right frame count and the same first/last frames as the source', { skip, timeout: 90_000 }, async () => {
  const src = await grayFrames(ref);
  const out = join(dir, 'cut-50-100.mp4');
  await cutClip('ffmpeg', ref, out, 50, 100, 25, { copy: false, crf: 10, preset: 'ultrafast', threads: 1 });
  assert.equal((await grayFrames(out)).length, 50);
  // Inside the moving testsrc2 segment each clip frame must be closest to its own source frame, not a neighbour.
  const out2 = join(dir, 'cut-10-45.mp4');
  await cutClip('ffmpeg', ref, out2, 10, 45, 25, { copy: false, crf: 10, preset: 'ultrafast', threads: 1 });
  const clip = await grayFrames(out2);
  assert.equal(clip.length, 35);
  for (const k of [0, 17, 34]) {
    const own = mad(clip[k], src[10 + k]);
    assert.ok(own < mad(clip[k], src[10 + k - 1]) && own < mad(clip[k], src[10 + k + 1]), `frame ${k}: ${own}`);
  }
  const m = await clipMetrics('ffmpeg', join(dir, 'cut-50-100.mp4'), 160, 90, 50, { width: 160, blackLuma: 24,
    staticMotion: 0.1 });
  assert.equal(m.frames, 50);
  assert.equal(m.phash.length, 48);
  assert.equal(m.static, false);
});

test('metrics flag black and static clips, and sharpness orders sharp above blurred', { skip, timeout: 90_000 }, async () => {
  const still = join(dir, 'still.mp4');
  const seg = { width: 160, blackLuma: 24, staticMotion: 0.1 };
  await cutClip('ffmpeg', ref, still, 140, 180, 25, { copy: false, crf: 18, preset: 'ultrafast', threads: 1 });
  const s = await clipMetrics('ffmpeg', still, 160, 90, 40, seg);
  assert.equal(s.static, true);
  assert.equal(s.black, false);
  const black = await clipMetrics('ffmpeg', ref, 160, 90, 20, seg, { startS: 232 / 25, frames: 20 });
  assert.equal(black.black, true);
  assert.ok(black.brightness < 24);
  const sharp = await clipMetrics('ffmpeg', ref, 160, 90, 30, seg, { startS: 10 / 25, frames: 30 });
  const blurred = join(dir, 'blur.mp4');
  spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', ref, '-vf', 'boxblur=3', '-frames:v', '40', '-c:v', 'libx264',
    '-crf', '18', blurred]);
  const soft = await clipMetrics('ffmpeg', blurred, 160, 90, 30, seg, { startS: 10 / 25, frames: 30 });
  assert.ok(sharp.sharpness > 3 * soft.sharpness, `${sharp.sharpness} vs ${soft.sharpness}`);
  assert.ok(sharp.motion > 1);
});

test('`datapipe scenes --json` prints the shots; a corrupt file exits non-zero with one line', { skip, timeout: 90_000 }, () => {
  const r = spawnSync(process.execPath, [BIN, 'datapipe', 'scenes', ref, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.fps, 25);
  assert.equal(j.frames, REF_FRAMES);
  assert.deepEqual(Object.keys(j.shots[0]), ['start_frame', 'end_frame', 'start_s', 'end_s']);
  const bad = spawnSync(process.execPath, [BIN, 'datapipe', 'scenes', join(dir, 'corrupt.mp4'), '--json'],
    { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /^kiln datapipe: .*corrupt\.mp4/);
});

test('example pipeline end to end: manifest, clips, shards, poison, near-dups, re-run skips', { skip, timeout: 90_000 }, async () => {
  const input = join(dir, 'in');
  const out = join(dir, 'out');
  mkdirSync(input, { recursive: true });
  copyFileSync(ref, join(input, 'a.mp4'));
  reencode(ref, join(input, 'b.mp4'), 30); // near-duplicate of a
  makeTwoShotVideo(join(input, 'c.mp4'), 'testsrc', 'cellauto');
  makePoison(input);
  const spec = loadSpec(join(ROOT, 'examples/datapipe/video.yaml'));
  const graph = () => compileGraph(spec, builtinRegistry(), { input, ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' });
  const r = await runLocal(graph(), { outDir: out, cpus: 2 });
  const man = readFileSync(join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const ids = man.map((m) => m.id);
  assert.deepEqual(ids, [...new Set(ids)].sort());
  const kept = man.filter((m) => !m.dropped);
  const a = man.filter((m) => m.video_id === 'a');
  assert.deepEqual(a.map((m) => [m.start_frame, m.end_frame]), [[0, 50], [50, 100], [100, 140], [140, 180], [180, 305]]);
  assert.match(a[3].dropped, /^filter: static/);
  for (const m of man.filter((x) => x.video_id === 'b' && x.shot < 3)) assert.match(m.dropped, /near-duplicate of a-shot/);
  assert.deepEqual(man.filter((m) => m.video_id === 'c').map((m) => [m.start_frame, m.end_frame, !m.dropped]),
    [[0, 40, true], [40, 80, true]]);
  for (const m of kept) {
    for (const k of ['id', 'source', 'clip', 'start_frame', 'end_frame', 'start_s', 'end_s', 'fps', 'width', 'height',
      'motion', 'brightness', 'sharpness', 'bucket', 'phash', 'caption', 'shard']) assert.ok(k in m, `${m.id} lacks ${k}`);
    assert.ok(existsSync(join(out, m.clip)));
    assert.equal(m.bucket.split('/')[0], '16:9');
  }
  assert.equal(r.summary.errors, 2);
  const errs = readFileSync(join(out, 'errors.jsonl'), 'utf8');
  assert.match(errs, /"id":"corrupt"/);
  assert.match(errs, /"id":"empty".*0 bytes/);
  const shards = JSON.parse(readFileSync(join(out, 'shards/shard-manifest.json'), 'utf8'));
  assert.equal(shards.samples, kept.length);
  const tarList = spawnSync('tar', ['tf', join(out, 'shards', shards.shards[0].name)], { encoding: 'utf8' }).stdout
    .trim().split('\n');
  assert.deepEqual(tarList, shards.shards[0].samples.flatMap((k: string) => [`${k}.mp4`, `${k}.json`]));
  // Re-run: every task is skipped, outputs untouched, manifest identical.
  const before = readFileSync(join(out, 'manifest.jsonl'));
  const mtime = statSync(join(out, kept[0].clip)).mtimeMs;
  const r2 = await runLocal(graph(), { outDir: out, cpus: 2 });
  assert.equal(r2.progress.find((p) => p.stage === 'cut')!.skipped, r.progress.find((p) => p.stage === 'cut')!.in);
  assert.deepEqual(readFileSync(join(out, 'manifest.jsonl')), before);
  assert.equal(statSync(join(out, kept[0].clip)).mtimeMs, mtime);
  // Worker threads run the same tasks: same manifest.
  const outT = join(dir, 'out-threads');
  const r3 = await runLocal(graph(), { outDir: outT, cpus: 2,
    threads: { count: 2, plugins: [], env: { input, ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' } } });
  assert.equal(r3.summary.kept, r.summary.kept);
  assert.deepEqual(readFileSync(join(outT, 'manifest.jsonl')), before);
});

test('`datapipe run` CLI: JSON report and report.json; invalid specs fail before running with one line', { skip, timeout: 90_000 }, () => {
  const input = join(dir, 'cli-in');
  const out = join(dir, 'cli-out');
  mkdirSync(input, { recursive: true });
  makeTwoShotVideo(join(input, 'x.mp4'), 'testsrc', 'cellauto');
  const r = spawnSync(process.execPath, [BIN, 'datapipe', 'run', join(ROOT, 'examples/datapipe/video.yaml'), '--input',
    input, '--out', out, '--json', '--no-progress'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.executor, 'local');
  assert.equal(rep.complete, true);
  assert.equal(rep.kept, 2);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).stages, rep.stages);
  const badSpec = join(dir, 'bad.yaml');
  writeFileSync(badSpec, 'name: bad\nstages:\n  - { name: v, op: video-files }\n  - { name: c, op: cut-clips, input: v }\n');
  const b = spawnSync(process.execPath, [BIN, 'datapipe', 'run', badSpec, '--input', input, '--out', join(dir, 'bad-out')],
    { encoding: 'utf8' });
  assert.equal(b.status, 1);
  assert.match(b.stderr, /^kiln datapipe: datapipe graph: stage "c": operator "cut-clips" consumes "clip" items/);
  assert.equal(b.stderr.trim().split('\n').length, 1);
  assert.equal(existsSync(join(dir, 'bad-out')), false);
});

test('stream-copy cutting gives a playable clip starting at a keyframe', { skip, timeout: 90_000 }, async () => {
  const out = join(dir, 'copy.mp4');
  await cutClip('ffmpeg', ref, out, 50, 100, 25, { copy: true, crf: 23, preset: 'ultrafast', threads: 1 });
  const i = await probeVideo('ffprobe', out);
  assert.ok(i.frames >= 49 && i.frames <= 51, `frames ${i.frames}`); // reference keyframes every 50 frames
});
