/** src/io/video.ts + png.ts: MP4 / GIF / PNG write → read round trips through the system ffmpeg, and clear errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { KilnError } from '../../src/errors.js';
import { haveBinary, ffmpegPaths } from '../../src/io/ffmpeg.js';
import { crc32, encodePng } from '../../src/io/png.js';
import { contactSheet, decodeVideoBytes, probeMedia, readImage, readVideo, writeContactSheet, writeGif, writeMp4, type Frames } from '../../src/io/video.js';

const skip = !haveBinary(ffmpegPaths().ffmpeg) && !process.env.CI ? 'ffmpeg not installed' : false;

/** Smooth colour ramps plus a moving block: codec-friendly, every frame different. */
function clip(T: number, H: number, W: number): Frames {
  const data = new Uint8Array(T * H * W * 3);
  for (let t = 0; t < T; t++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const o = ((t * H + y) * W + x) * 3;
        const box = x >= 4 + 3 * t && x < 12 + 3 * t && y >= 8 && y < 16;
        data[o] = box ? 230 : 40 + 4 * x;
        data[o + 1] = box ? 30 : 30 + 5 * y;
        data[o + 2] = box ? 40 : 60 + 20 * t;
      }
  return { data, frames: T, height: H, width: W };
}

function meanAbs(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('crc32 and the PNG encoder: known CRC, valid chunks, pixels recoverable by inflate', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 10);
  const png = encodePng(rgb, 3, 2);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.readUInt32BE(16), 3);
  assert.equal(png.readUInt32BE(20), 2);
  const idatLen = png.readUInt32BE(33);
  assert.equal(png.subarray(37, 41).toString('latin1'), 'IDAT');
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  assert.deepEqual([...raw], [0, ...rgb.subarray(0, 9), 0, ...rgb.subarray(9)]);
  assert.throws(() => encodePng(rgb, 4, 2), KilnError);
});

test('MP4 write → read: size, frame count, fps, pixels within codec error; odd sizes are padded to even', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vio-'));
  try {
    const f = clip(5, 24, 40);
    await writeMp4(f, join(dir, 'a.mp4'), { fps: 8 });
    const info = await probeMedia(join(dir, 'a.mp4'));
    assert.deepEqual([info.width, info.height, info.codec, info.fps], [40, 24, 'h264', 8]);
    const r = await readVideo(join(dir, 'a.mp4'));
    assert.deepEqual([r.frames, r.height, r.width], [5, 24, 40]);
    assert.ok(meanAbs(r.data, f.data) < 4, `mean abs error ${meanAbs(r.data, f.data)}`);
    // the same from memory, resized and cut
    const m = await decodeVideoBytes(readFileSync(join(dir, 'a.mp4')), 'a.mp4', { size: { width: 20, height: 12 }, frames: 3 });
    assert.deepEqual([m.frames, m.height, m.width, m.data.length], [3, 12, 20, 3 * 12 * 20 * 3]);
    const odd = clip(2, 15, 21);
    await writeMp4(odd, join(dir, 'odd.mp4'));
    const ro = await probeMedia(join(dir, 'odd.mp4'));
    assert.deepEqual([ro.width, ro.height], [22, 16]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GIF write → read and contact-sheet PNG → readImage', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vio-'));
  try {
    const f = clip(4, 24, 32);
    await writeGif(f, join(dir, 'a.gif'), { fps: 8 });
    const g = await readVideo(join(dir, 'a.gif'));
    assert.deepEqual([g.frames, g.height, g.width], [4, 24, 32]);
    assert.ok(meanAbs(g.data, f.data) < 8, `gif mean abs error ${meanAbs(g.data, f.data)}`);
    writeContactSheet(f, join(dir, 's.png'), { cols: 2, gap: 2, scale: 2 });
    const s = await readImage(join(dir, 's.png'));
    const expect = contactSheet(f, { cols: 2, gap: 2, scale: 2 });
    assert.deepEqual([s.width, s.height], [2 * 64 + 3 * 2, 2 * 48 + 3 * 2]);
    assert.deepEqual(s.data, expect.data); // PNG is lossless
    // frame 3 sits at row 1, column 1; its pixel (0, 0) scaled ×2
    const o = ((2 + 48 + 2) * s.width + 2 + 64 + 2) * 3;
    assert.deepEqual([...s.data.subarray(o, o + 3)], [...f.data.subarray(3 * 24 * 32 * 3, 3 * 24 * 32 * 3 + 3)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clear errors: missing file, empty file, garbage file, missing ffmpeg', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vio-'));
  try {
    await assert.rejects(readVideo(join(dir, 'none.mp4')), (e: KilnError) => e.code === 'E_IO' && /none\.mp4: cannot read file/.test(e.message));
    writeFileSync(join(dir, 'empty.mp4'), '');
    await assert.rejects(readVideo(join(dir, 'empty.mp4')), (e: KilnError) => e.code === 'E_FORMAT' && /empty \(0 bytes\)/.test(e.message));
    writeFileSync(join(dir, 'junk.mp4'), 'this is not a video at all');
    await assert.rejects(readVideo(join(dir, 'junk.mp4')), (e: KilnError) => e.code === 'E_FORMAT' && /junk\.mp4/.test(e.message));
    const old = process.env.KILN_FFMPEG;
    process.env.KILN_FFMPEG = join(dir, 'no-such-ffmpeg');
    try {
      await assert.rejects(writeMp4(clip(1, 8, 8), join(dir, 'x.mp4')), (e: KilnError) => e.code === 'E_IO' && /install ffmpeg/.test(e.message));
    } finally {
      if (old === undefined) delete process.env.KILN_FFMPEG;
      else process.env.KILN_FFMPEG = old;
    }
    await assert.rejects(writeMp4({ data: new Uint8Array(10), frames: 1, height: 2, width: 2 }, join(dir, 'y.mp4')), (e: KilnError) => e.code === 'E_SHAPE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
