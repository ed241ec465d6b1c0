/**
 * CLI: `kiln app …`, `kiln train lora` and the personalization path `kiln video generate --lora` run end to end on the
 * fixture model (in process, through commander).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerAppCommands } from '../../src/cli/apps.js';
import { registerVideoCommands } from '../../src/cli/video.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { encodePng } from '../../src/io/png.js';
import { toRaw } from '../../src/io/checkpoint.js';
import * as S from '../../src/apps/subjects.js';
import { probeMedia } from '../../src/io/video.js';

const WORLD = fileURLToPath(new URL('../../../test/fixtures/apps/world/', import.meta.url));
const WORLD_I2V = fileURLToPath(new URL('../../../test/fixtures/apps/world-i2v/', import.meta.url));

async function kiln(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  const train = program.command('train');
  registerAppCommands(program, train);
  registerVideoCommands(program, train);
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  // strings are the command's output; buffers are the test runner's own protocol and pass through
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof s !== 'string') return (write as (...a: unknown[]) => boolean)(s, ...rest);
    out += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'kiln', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

/** LoRA steps for the personalization check (the demo uses 150; fewer already move "sks" to the subject's colour) */
const LORA_STEPS = '20';

function readVideoTensor(path: string): { shape: number[]; data: Float32Array } {
  const v = readSafetensors(path).tensors.get('video')!;
  return { shape: v.shape, data: v.data as Float32Array };
}

test('kiln app i2v / inpaint / avatar, kiln train lora and kiln video generate --lora, end to end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-apps-cli-'));
  try {
    // inputs: an image and a video as exact tensors, a reference as PNG
    const clip = S.subjectVideos([{ colour: S.NAMED_COLOURS.red, direction: 'right', x0: 2.5, y0: 4.5 }], 4, 8, 8);
    const image = clip.slice(2, 0, 1).contiguous();
    writeSafetensors(join(dir, 'image.safetensors'), { video: toRaw(image.squeeze(0).contiguous()) });
    writeSafetensors(join(dir, 'video.safetensors'), { video: toRaw(clip.squeeze(0).contiguous()) });

    const i2v = JSON.parse(await kiln(['app', 'i2v', '--model', WORLD, '--image', join(dir, 'image.safetensors'), '--prompt', 'red right', '--out', join(dir, 'i2v.safetensors'), '--steps', '6', '--json']));
    assert.equal(i2v.first_frame_max_diff, 0);
    const v = readVideoTensor(join(dir, 'i2v.safetensors'));
    assert.deepEqual(v.shape, [3, 4, 8, 8]);
    const img = image.data() as Float32Array;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 64; p++) assert.ok(Math.abs(v.data[c * 256 + p] - img[c * 64 + p]) < 1e-6);

    const inp = JSON.parse(await kiln(['app', 'inpaint', '--model', WORLD, '--video', join(dir, 'video.safetensors'), '--mask', 'box=0,0,4,8;frames=1-3', '--prompt', 'blue right', '--out', join(dir, 'inpaint.safetensors'), '--steps', '6', '--json']));
    assert.equal(inp.unmasked_max_diff, 0);
    assert.ok(Math.abs(inp.masked_fraction - (3 * 32) / 256) < 1e-6);

    // the same mask as a mask video (white = regenerate), and a contact-sheet PNG out
    const maskVid = new Float32Array(3 * 4 * 64).fill(-1);
    for (let c = 0; c < 3; c++) for (let t = 1; t < 4; t++) for (let i = 0; i < 8; i++) for (let j = 0; j < 4; j++) maskVid[((c * 4 + t) * 8 + i) * 8 + j] = 1;
    writeSafetensors(join(dir, 'mask.safetensors'), { video: { dtype: 'f32', shape: [3, 4, 8, 8], data: maskVid } });
    const inp2 = JSON.parse(await kiln(['app', 'inpaint', '--model', WORLD, '--video', join(dir, 'video.safetensors'), '--mask', join(dir, 'mask.safetensors'), '--prompt', 'blue right', '--out', join(dir, 'sheet.png'), '--steps', '6', '--json']));
    assert.equal(inp2.masked_fraction, inp.masked_fraction);
    assert.equal(inp2.unmasked_max_diff, 0);
    assert.ok(existsSync(join(dir, 'sheet.png')));

    // a PNG reference in, an MP4 out (through ffmpeg)
    const ref = S.referenceImages([[0.2, 0.9, 0.9]], 8, 8).data() as Float32Array;
    const rgb = new Uint8Array(64 * 3);
    for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round((ref[c * 64 + p] + 1) * 127.5);
    writeFileSync(join(dir, 'ref.png'), encodePng(rgb, 8, 8));
    const av = JSON.parse(await kiln(['app', 'avatar', '--model', WORLD, '--reference', join(dir, 'ref.png'), '--prompt', 'down', '--out', join(dir, 'avatar.mp4'), '--steps', '6', '--json']));
    assert.equal(av.frames, 4);
    const info = await probeMedia(join(dir, 'avatar.mp4'));
    assert.equal(info.frames, 4);

    await kiln(['app', 'demo-clips', '--out', join(dir, 'clips')]);
    assert.equal(readdirSync(join(dir, 'clips')).filter((f) => f.endsWith('.safetensors')).length, 4);
    const lora = JSON.parse(await kiln(['train', 'lora', '--model', WORLD, '--clips', join(dir, 'clips'), '--out', join(dir, 'adapter'), '--steps', LORA_STEPS, '--json']));
    assert.equal(lora.clips, 4);
    assert.ok(lora.layers > 0 && lora.last_loss < lora.first_loss, JSON.stringify(lora));
    assert.ok(existsSync(join(dir, 'adapter', 'adapter_model.safetensors')) && existsSync(join(dir, 'adapter', 'adapter_config.json')));
    // personalization: "sks left" (a direction not in the clips) with and without the adapter, same seed and steps
    const gen = (out: string, extra: string[]) => kiln(['video', 'generate', '--model', WORLD, '--prompt', 'sks left', '--out', join(dir, out), '--seed', '1', '--json', ...extra]);
    const base = JSON.parse(await gen('base.safetensors', []));
    assert.equal(base.lora, null);
    const sks = JSON.parse(await gen('sks.safetensors', ['--lora', join(dir, 'adapter')]));
    assert.equal(sks.lora, join(dir, 'adapter'));
    assert.deepEqual([sks.frames, sks.width, sks.height, sks.steps], [4, 8, 8, 12]);
    const b = readVideoTensor(join(dir, 'base.safetensors')), a = readVideoTensor(join(dir, 'sks.safetensors'));
    assert.deepEqual(a.shape, [3, 4, 8, 8]);
    assert.ok(a.data.some((v, i) => Math.abs(v - b.data[i]) > 0.2), 'the adapter changes the video');
    const errWith = S.colourDistance(S.subjectColour(a.data, 4, 8, 8), S.SKS_COLOUR), errWithout = S.colourDistance(S.subjectColour(b.data, 4, 8, 8), S.SKS_COLOUR);
    assert.ok(errWith < 0.5 * errWithout, `subject colour error to sks: with the adapter ${errWith}, without ${errWithout}`);
    // the same sample as a GIF (--fps) and a contact-sheet PNG
    const gif = JSON.parse(await gen('sks.gif', ['--lora', join(dir, 'adapter'), '--fps', '4']));
    assert.equal(gif.frames, 4);
    assert.deepEqual([(await probeMedia(join(dir, 'sks.gif'))).codec, (await probeMedia(join(dir, 'sks.gif'))).frames], ['gif', 4]);
    await gen('sks.png', ['--lora', join(dir, 'adapter')]);
    assert.ok(existsSync(join(dir, 'sks.png')));
    await assert.rejects(gen('sks.webp', []), /unknown extension/);
    // an image_condition model (DiT input 2C + 1 channels) samples text-to-video with zero image channels
    const i2vModel = JSON.parse(await kiln(['video', 'generate', '--model', WORLD_I2V, '--prompt', 'red right', '--out', join(dir, 'red.safetensors'), '--json']));
    assert.equal(i2vModel.frames, 4);
    const red = readVideoTensor(join(dir, 'red.safetensors')).data;
    assert.ok(S.colourDistance(S.subjectColour(red, 4, 8, 8), S.NAMED_COLOURS.red) < 0.6);
    await assert.rejects(kiln(['app', 'inpaint', '--model', WORLD, '--video', join(dir, 'video.safetensors'), '--mask', 'box=7,7,4,4', '--prompt', 'x', '--out', join(dir, 'bad.safetensors')]), /does not fit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
