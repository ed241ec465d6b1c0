/**
 * Files ↔ tensors for the application commands. Videos and images go through `src/io/video.ts` (ffmpeg): any format
 * ffmpeg reads in, `.mp4` / `.gif` out (a `.png` output path writes a contact sheet of the frames). `.safetensors`
 * holds an exact float tensor named `video` ([3, T, H, W] or [1, 3, T, H, W] in [−1, 1]) both ways, for scripts and
 * tests that need the values without codec loss. Tensors are [1, 3, T, H, W] in [−1, 1].
 */
import { KilnError } from '../errors.js';
import { fromRaw, toRaw } from '../io/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { framesFromFloat, readImage, readVideo, writeContactSheet, writeVideo, type Frames } from '../io/video.js';
import { fromArray } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export interface Geometry {
  width: number;
  height: number;
  frames?: number;
}

/** RGB uint8 frames [T, H, W, 3] → [1, 3, T, H, W] in [−1, 1]. */
export function framesToTensor(f: Frames): Tensor {
  const { frames: T, height: H, width: W, data } = f;
  const out = new Float32Array(3 * T * H * W);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++)
        for (let c = 0; c < 3; c++) out[((c * T + t) * H + i) * W + j] = data[((t * H + i) * W + j) * 3 + c] / 127.5 - 1;
  return fromArray(out, [1, 3, T, H, W]);
}

/** [1, 3, T, H, W] → channel-last floats [T, H, W, 3]. */
export function tensorToChannelLast(x: Tensor): Float32Array {
  const [, C, T, H, W] = x.shape;
  const d = x.contiguous().data() as Float32Array;
  const out = new Float32Array(T * H * W * 3);
  for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < C; c++) out[((t * H + i) * W + j) * 3 + c] = d[((c * T + t) * H + i) * W + j];
  return out;
}

function readTensorFile(path: string, g: Geometry): Tensor {
  const { tensors } = readSafetensors(path);
  const raw = tensors.get('video') ?? (tensors.size === 1 ? [...tensors.values()][0] : undefined);
  if (!raw) throw new KilnError('E_FORMAT', `${path}: expected a tensor named 'video' ([3, T, H, W] in [−1, 1])`);
  let x = fromRaw(raw).to('f32');
  if (x.ndim === 4) x = x.unsqueeze(0);
  if (x.ndim !== 5 || x.shape[0] !== 1 || x.shape[1] !== 3) throw new KilnError('E_SHAPE', `${path}: tensor [${x.shape}] must be [3, T, H, W] or [1, 3, T, H, W]`);
  if (x.shape[3] !== g.height || x.shape[4] !== g.width) throw new KilnError('E_SHAPE', `${path}: frames ${x.shape[3]}×${x.shape[4]} but the model works at ${g.height}×${g.width}; resize it`);
  if (g.frames !== undefined) {
    if (x.shape[2] < g.frames) throw new KilnError('E_SHAPE', `${path}: ${x.shape[2]} frames, ${g.frames} needed`);
    x = x.slice(2, 0, g.frames).contiguous();
  }
  return x;
}

/** Reads a video (first `frames` frames, resized to width × height) as [1, 3, T, H, W]. */
export async function loadVideo(path: string, g: Geometry): Promise<Tensor> {
  if (/\.safetensors$/i.test(path)) return readTensorFile(path, g);
  const f = await readVideo(path, { size: { width: g.width, height: g.height }, frames: g.frames });
  if (g.frames !== undefined && f.frames < g.frames) throw new KilnError('E_SHAPE', `${path}: ${f.frames} frames decoded, ${g.frames} needed`);
  return framesToTensor(f);
}

/** Reads an image resized to width × height as [1, 3, 1, H, W]. */
export async function loadImage(path: string, g: Geometry): Promise<Tensor> {
  if (/\.safetensors$/i.test(path)) return readTensorFile(path, { ...g, frames: 1 });
  return framesToTensor(await readImage(path, { size: { width: g.width, height: g.height } }));
}

/** Writes [1, 3, T, H, W]: .mp4 / .gif (video), .png (contact sheet), .safetensors (exact floats). */
export async function saveVideo(x: Tensor, path: string, { fps = 8 } = {}): Promise<void> {
  if (x.ndim !== 5 || x.shape[0] !== 1) throw new KilnError('E_SHAPE', `saveVideo: expected [1, 3, T, H, W], got [${x.shape}]`);
  if (/\.safetensors$/i.test(path)) {
    writeSafetensors(path, { video: toRaw(x.squeeze(0).contiguous()) }, { format: 'pt' });
    return;
  }
  const [, , T, H, W] = x.shape;
  const f = framesFromFloat(tensorToChannelLast(x), T, H, W, fps);
  if (/\.png$/i.test(path)) return writeContactSheet(f, path);
  return writeVideo(f, path, { fps });
}
