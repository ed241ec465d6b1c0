/**
 * Video and image I/O through ffmpeg (rawvideo pipes; no frames touch the disk in between):
 * - `probeMedia(path)`: display width/height (rotation applied, as ffmpeg decodes), fps, frame count;
 * - `readVideo(path, { size?, frames? })` / `readImage(path, { size? })` → `Frames` ([T, H, W, 3] RGB uint8),
 *   optionally resized (area filter) and cut to the first `frames` frames; `decodeVideoBytes` the same from memory;
 * - `writeMp4` (libx264, yuv420p; odd sizes padded to even on the right/bottom, since 4:2:0 needs even sizes),
 *   `writeGif` (per-clip palette, no dither, loops), `writeContactSheet` (frames tiled into one PNG, png.ts).
 * Files are written to a temp name and renamed. Missing ffmpeg → KilnError('E_IO') saying how to install it;
 * missing/empty/undecodable files → KilnError('E_IO' / 'E_FORMAT') naming the file.
 * Letters: T frames, H height, W width; pixel (t, y, x, c) is data[((t·H + y)·W + x)·3 + c].
 */
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KilnError } from '../errors.js';
import { ffmpegPaths, runTool } from './ffmpeg.js';
import { encodePng } from './png.js';

/** RGB frames [T, H, W, 3], uint8. */
export interface Frames {
  data: Uint8Array;
  frames: number;
  height: number;
  width: number;
  /** frames per second (read from the file; writers' default) */
  fps?: number;
}

export interface MediaInfo {
  width: number;
  height: number;
  fps: number;
  /** frame count as the container reports it (0 when unknown) */
  frames: number;
  codec: string;
}

function checkFile(path: string, what: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new KilnError('E_IO', `${what} ${path}: cannot read file (${(e as Error).message})`);
  }
  if (size === 0) throw new KilnError('E_FORMAT', `${what} ${path}: file is empty (0 bytes)`);
}

function checkFrames(f: Frames, what: string): void {
  const { frames: T, height: H, width: W } = f;
  if (![T, H, W].every((n) => Number.isInteger(n) && n > 0) || f.data.length !== T * H * W * 3)
    throw new KilnError('E_SHAPE', `${what}: ${f.data.length} bytes do not make ${T} frames of ${W}×${H} RGB (need ${T * H * W * 3})`);
}

/** Size, fps and frame count of a video or image file (ffprobe). */
export async function probeMedia(path: string): Promise<MediaInfo> {
  checkFile(path, 'probe');
  const { stdout } = await runTool(ffmpegPaths().ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_streams',
    '-print_format', 'json', path], `probe ${path}`);
  const s = (JSON.parse(stdout.toString()) as { streams?: Array<Record<string, unknown> & { tags?: Record<string, string>;
    side_data_list?: Array<Record<string, unknown>> }> }).streams?.[0];
  if (!s) throw new KilnError('E_FORMAT', `probe ${path}: no video or image stream found`);
  const rat = (v: unknown): number => {
    const [a, b] = String(v ?? '').split('/').map(Number);
    return b ? a / b : a;
  };
  let rotation = Number(s.tags?.rotate ?? 0);
  for (const sd of s.side_data_list ?? []) if (typeof sd.rotation === 'number') rotation = sd.rotation;
  const swap = Math.abs(Math.round(rotation)) % 180 === 90;
  const w = Number(s.width), h = Number(s.height);
  if (!(w > 0 && h > 0)) throw new KilnError('E_FORMAT', `probe ${path}: unreadable stream (${w}x${h})`);
  const fps = rat(s.avg_frame_rate) || rat(s.r_frame_rate) || 0;
  return { width: swap ? h : w, height: swap ? w : h, fps: Number.isFinite(fps) ? fps : 0,
    frames: Number(s.nb_frames ?? 0) || 0, codec: String(s.codec_name ?? 'unknown') };
}

export interface ReadOptions {
  /** resize every frame to width × height (ffmpeg's area filter) */
  size?: { width: number; height: number };
  /** read at most this many frames from the start */
  frames?: number;
}

/** Decodes a video (or an image, as one frame) to RGB frames [T, H, W, 3]. */
export async function readVideo(path: string, o: ReadOptions = {}): Promise<Frames> {
  const info = await probeMedia(path);
  const width = o.size?.width ?? info.width, height = o.size?.height ?? info.height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new KilnError('E_ARG', `readVideo ${path}: size ${width}x${height} must be positive integers`);
  if (o.frames !== undefined && (!Number.isInteger(o.frames) || o.frames <= 0))
    throw new KilnError('E_ARG', `readVideo ${path}: frames ${o.frames} must be a positive integer`);
  const args = ['-v', 'error', '-nostdin', '-threads', '1', '-i', path, '-map', '0:v:0', '-an', '-sn', '-dn'];
  if (o.frames !== undefined) args.push('-frames:v', String(o.frames));
  if (o.size) args.push('-vf', `scale=${width}:${height}:flags=area`);
  args.push('-fps_mode', 'passthrough', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');
  const { stdout } = await runTool(ffmpegPaths().ffmpeg, args, `read ${path}`);
  const frameBytes = width * height * 3;
  const T = Math.floor(stdout.length / frameBytes);
  if (T === 0) throw new KilnError('E_FORMAT', `read ${path}: no frames could be decoded`);
  const data = new Uint8Array(stdout.buffer, stdout.byteOffset, T * frameBytes).slice();
  return { data, frames: T, height, width, fps: info.fps || undefined };
}

/**
 * Decodes a video held in memory (e.g. a WebDataset shard entry) through ffmpeg's stdin; the container must be
 * streamable (MP4 with `+faststart`, as the datapipe and `writeMp4` write it; WebM, GIF, …). `what` names it in errors.
 */
export async function decodeVideoBytes(bytes: Uint8Array, what: string, o: ReadOptions = {}): Promise<Frames> {
  if (bytes.length === 0) throw new KilnError('E_FORMAT', `decode ${what}: no bytes`);
  // with a target size there is nothing to probe: one ffmpeg process per clip
  let s: { width?: number; height?: number; avg_frame_rate?: string } | undefined = o.size ? {} : undefined;
  if (!s) {
    const { stdout: js } = await runTool(ffmpegPaths().ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
      'stream=width,height,avg_frame_rate', '-print_format', 'json', '-i', 'pipe:0'], `probe ${what}`, undefined, bytes);
    s = (JSON.parse(js.toString()) as { streams?: Array<{ width?: number; height?: number; avg_frame_rate?: string }> }).streams?.[0];
    if (!s || !(Number(s.width) > 0 && Number(s.height) > 0)) throw new KilnError('E_FORMAT', `probe ${what}: no video stream found`);
  }
  const width = o.size?.width ?? Number(s.width), height = o.size?.height ?? Number(s.height);
  const args = ['-v', 'error', '-threads', '1', '-i', 'pipe:0', '-map', '0:v:0', '-an', '-sn', '-dn'];
  if (o.frames !== undefined) args.push('-frames:v', String(o.frames));
  if (o.size) args.push('-vf', `scale=${width}:${height}:flags=area`);
  args.push('-fps_mode', 'passthrough', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');
  const { stdout } = await runTool(ffmpegPaths().ffmpeg, args, `decode ${what}`, undefined, bytes);
  const frameBytes = width * height * 3;
  const T = Math.floor(stdout.length / frameBytes);
  if (T === 0) throw new KilnError('E_FORMAT', `decode ${what}: no frames could be decoded`);
  const [a, b] = String(s.avg_frame_rate ?? '').split('/').map(Number);
  const fps = b ? a / b : a;
  return { data: new Uint8Array(stdout.buffer, stdout.byteOffset, T * frameBytes).slice(), frames: T, height, width,
    fps: fps > 0 ? fps : undefined };
}

/** Decodes an image (PNG, JPEG, …; or a video's first frame) to one RGB frame. */
export function readImage(path: string, o: { size?: { width: number; height: number } } = {}): Promise<Frames> {
  return readVideo(path, { size: o.size, frames: 1 });
}

async function encode(f: Frames, path: string, what: string, fmt: string, outArgs: string[], fps: number): Promise<void> {
  checkFrames(f, what);
  if (!(fps > 0)) throw new KilnError('E_ARG', `${what} ${path}: fps ${fps} must be positive`);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await runTool(ffmpegPaths().ffmpeg, ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${f.width}x${f.height}`,
      '-framerate', String(fps), '-i', 'pipe:0', ...outArgs, '-f', fmt, tmp], `${what} ${path}`, undefined, f.data);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** H.264 MP4 (yuv420p, `crf` 0–51, default 12: near-lossless colours on tiny frames). */
export function writeMp4(f: Frames, path: string, { fps = f.fps ?? 8, crf = 12 }: { fps?: number; crf?: number } = {}): Promise<void> {
  return encode(f, path, 'writeMp4', 'mp4', ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-preset', 'veryfast',
    '-crf', String(crf), '-pix_fmt', 'yuv420p', '-threads', '1', '-movflags', '+faststart'], fps);
}

/** Animated GIF with one palette for the clip (no dithering), looping forever. */
export function writeGif(f: Frames, path: string, { fps = f.fps ?? 8 }: { fps?: number } = {}): Promise<void> {
  return encode(f, path, 'writeGif', 'gif', ['-filter_complex', '[0:v]split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none',
    '-loop', '0'], fps);
}

export interface SheetOptions {
  /** frames per row (default: all in one row) */
  cols?: number;
  /** gap between frames in pixels (default 2) */
  gap?: number;
  /** integer upscale factor, nearest neighbour (default 1) */
  scale?: number;
  /** gap colour (default mid grey) */
  background?: [number, number, number];
}

/** The contact sheet as an RGB image (frames tiled row-major, `gap` pixels apart and around). */
export function contactSheet(f: Frames, o: SheetOptions = {}): { data: Uint8Array; width: number; height: number } {
  checkFrames(f, 'contactSheet');
  const cols = Math.max(1, Math.min(o.cols ?? f.frames, f.frames)), gap = o.gap ?? 2, s = o.scale ?? 1;
  if (!Number.isInteger(s) || s < 1 || !Number.isInteger(gap) || gap < 0)
    throw new KilnError('E_ARG', `contactSheet: scale ${s} must be a positive integer and gap ${gap} a non-negative integer`);
  const rows = Math.ceil(f.frames / cols), fw = f.width * s, fh = f.height * s;
  const width = cols * fw + (cols + 1) * gap, height = rows * fh + (rows + 1) * gap;
  const out = new Uint8Array(width * height * 3);
  const bg = o.background ?? [128, 128, 128];
  for (let i = 0; i < width * height; i++) out.set(bg, i * 3);
  for (let t = 0; t < f.frames; t++) {
    const ox = gap + (t % cols) * (fw + gap), oy = gap + Math.floor(t / cols) * (fh + gap);
    for (let y = 0; y < fh; y++)
      for (let x = 0; x < fw; x++) {
        const src = ((t * f.height + Math.floor(y / s)) * f.width + Math.floor(x / s)) * 3;
        out.set(f.data.subarray(src, src + 3), ((oy + y) * width + ox + x) * 3);
      }
  }
  return { data: out, width, height };
}

/** Writes the contact sheet of `f` as a PNG. */
export function writeContactSheet(f: Frames, path: string, o: SheetOptions = {}): void {
  const sheet = contactSheet(f, o);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, encodePng(sheet.data, sheet.width, sheet.height));
  renameSync(tmp, path);
}

/** Frames from floats [T, H, W, 3] in [−1, 1] (clamped, rounded). */
export function framesFromFloat(x: Float32Array, frames: number, height: number, width: number, fps?: number): Frames {
  const data = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) data[i] = Math.round(Math.min(1, Math.max(-1, x[i])) * 127.5 + 127.5);
  const f = { data, frames, height, width, fps };
  checkFrames(f, 'framesFromFloat');
  return f;
}

/** Writes `.mp4` or `.gif` by the path's extension. */
export function writeVideo(f: Frames, path: string, o: { fps?: number } = {}): Promise<void> {
  if (/\.gif$/i.test(path)) return writeGif(f, path, o);
  if (/\.mp4$/i.test(path)) return writeMp4(f, path, o);
  throw new KilnError('E_ARG', `writeVideo ${path}: unknown extension; use .mp4 or .gif`);
}
