/** CLI smoke: kiln video demo-data → train vae / train dit → video generate (MP4 + GIF + sheet) → video check, all --json. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ffmpegPaths, haveBinary } from '../../src/io/ffmpeg.js';
import { probeMedia } from '../../src/io/video.js';

const bin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = !haveBinary(ffmpegPaths().ffmpeg) && !process.env.CI ? 'ffmpeg not installed' : false;

function kiln(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

test('kiln video demo-data, train vae, train dit, video generate, video check (--json)', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-video-cli-'));
  try {
    const d = kiln(['video', 'demo-data', '--out', dir, '--count', '16', '--json']);
    assert.deepEqual([d.videos, d.kept, d.errors], [16, 16, 0]);
    const truth = kiln(['video', 'check', '--data', join(dir, 'curated'), '--json']);
    // through H.264 (4:2:0 chroma) the corner test misreads a few outlines: 15 of these 16, 185 of 192 (docs/aquarius.md)
    const acc = truth.accuracy as Record<string, number>;
    assert.deepEqual([acc.color, acc.direction], [1, 1]);
    assert.ok(acc.shape >= 14 / 16, `ground-truth shape ${acc.shape}`);
    const v = kiln(['train', 'vae', '--data', join(dir, 'curated'), '--steps', '2', '--eval-every', '1', '--edge-weight', '0.1', '--out', join(dir, 'vae'), '--json']);
    assert.equal(v.steps, 2);
    // 16 clips: every 8th (2) held out, evaluated before, after each step (the curve) and after = the curve's end
    const ho = v.held_out as { clips: number; before: { psnr: number }; after: { psnr: number; ssim: number }; curve: Array<{ step: number; psnr: number; ssim: number }> };
    assert.equal(ho.clips, 2);
    assert.deepEqual(ho.curve.map((p) => p.step), [1, 2]);
    assert.deepEqual(ho.after, { psnr: ho.curve[1].psnr, ssim: ho.curve[1].ssim });
    assert.ok(ho.curve.every((p) => Number.isFinite(p.psnr) && p.psnr > 0 && p.ssim <= 1));
    const badVae = spawnSync(process.execPath, [bin, 'train', 'vae', '--data', join(dir, 'curated'), '--steps', '1', '--schedule', 'stepwise', '--out', join(dir, 'v2')], { encoding: 'utf8' });
    assert.equal(badVae.status, 1);
    assert.match(badVae.stderr, /--schedule must be cosine or constant/);
    assert.ok(existsSync(join(dir, 'vae', 'config.json')));
    const t = kiln(['train', 'dit', '--data', join(dir, 'curated'), '--steps', '3', '--hidden', '32', '--layers', '1', '--out', join(dir, 'dit'), '--json']);
    assert.deepEqual([t.space, t.samples, (t.buckets as string[]).length], ['pixel', 16, 6]);
    assert.ok(Number.isFinite(t.last_loss));
    const tl = kiln(['train', 'dit', '--data', join(dir, 'curated'), '--vae', join(dir, 'vae'), '--steps', '2', '--hidden', '32', '--layers', '1', '--out', join(dir, 'dit-latent'), '--json']);
    assert.equal(tl.space, 'latent');
    const g = kiln(['video', 'generate', '--model', join(dir, 'dit'), '--prompt', 'a red square moving left on a dark background', '--frames', '5',
      '--size', '48x32', '--steps', '3', '--cache', 'teacache:0.1', '--out', join(dir, 'x.mp4'), '--sheet', join(dir, 'x.png'), '--json']);
    assert.deepEqual([g.frames, g.width, g.height, g.steps], [5, 48, 32, 3]);
    assert.deepEqual(g.unknown_words, []);
    const saved = JSON.parse(readFileSync(join(dir, 'dit', 'config.json'), 'utf8')) as { shift?: number; pooled_text?: boolean; text_tokenizer?: { vocab: string[] } };
    assert.equal(saved.shift, 8); // the recipe's defaults are what the directory records
    assert.equal(saved.pooled_text, true);
    assert.ok(saved.text_tokenizer!.vocab.includes('left'));
    const info = await probeMedia(join(dir, 'x.mp4'));
    assert.deepEqual([info.width, info.height, info.codec], [48, 32, 'h264']);
    assert.ok(existsSync(join(dir, 'x.png')));
    const gl = kiln(['video', 'generate', '--model', join(dir, 'dit-latent'), '--prompt', 'a blue circle moving up', '--steps', '2', '--out', join(dir, 'y.gif'), '--json']);
    assert.deepEqual(kiln(['video', 'generate', '--model', join(dir, 'dit'), '--prompt', 'a purple blob', '--steps', '1', '--out', join(dir, 'w.mp4'), '--json']).unknown_words, ['purple', 'blob']);
    assert.equal((await probeMedia(join(dir, 'y.gif'))).codec, 'gif');
    assert.equal(gl.frames, 5);
    const c = kiln(['video', 'check', '--model', join(dir, 'dit'), '--prompts', '3', '--steps', '2', '--json']);
    assert.equal(c.n, 3);
    for (const k of ['color', 'direction', 'shape', 'all']) assert.ok((c.accuracy as Record<string, number>)[k] >= 0);
    const bad = spawnSync(process.execPath, [bin, 'video', 'generate', '--model', join(dir, 'nope'), '--prompt', 'x', '--out', join(dir, 'z.mp4')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /kiln: .*nope/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
