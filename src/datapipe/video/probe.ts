/**
 * Probe a video with ffprobe: duration, fps, frame count, resolution (as stored and as displayed after rotation),
 * codec and rotation. A zero-byte, corrupt or video-less file throws KilnError('E_FORMAT') naming the file.
 */
import { statSync } from 'node:fs';
import { KilnError } from '../../errors.js';
import { runTool } from './ffmpeg.js';

export interface VideoInfo {
  duration: number;
  fps: number;
  /** Exact frame rate as "num/den". */
  fpsRational: string;
  frames: number;
  width: number;
  height: number;
  /** Display size (width/height swapped for 90/270 rotation) -- what decoders output by default. */
  displayWidth: number;
  displayHeight: number;
  codec: string;
  rotation: number;
  pixFmt: string;
}

function rational(s: string | undefined): number {
  if (!s) return NaN;
  const [a, b] = s.split('/').map(Number);
  return b ? a / b : a;
}

export async function probeVideo(ffprobe: string, path: string, signal?: AbortSignal): Promise<VideoInfo> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new KilnError('E_IO', `probe ${path}: cannot read file (${(e as Error).message})`);
  }
  if (size === 0) throw new KilnError('E_FORMAT', `probe ${path}: file is empty (0 bytes)`);
  const { stdout } = await runTool(ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams',
    '-select_streams', 'v:0', path], `probe ${path}`, signal);
  const j = JSON.parse(stdout.toString()) as {
    streams?: Array<Record<string, unknown> & { tags?: Record<string, string>; side_data_list?: Array<Record<string, unknown>> }>;
    format?: { duration?: string };
  };
  const v = j.streams?.[0];
  if (!v) throw new KilnError('E_FORMAT', `probe ${path}: no video stream found`);
  const fpsRational = String(v.avg_frame_rate && v.avg_frame_rate !== '0/0' ? v.avg_frame_rate : v.r_frame_rate);
  const fps = rational(fpsRational);
  const duration = Number(v.duration ?? j.format?.duration);
  const width = Number(v.width);
  const height = Number(v.height);
  if (!(fps > 0) || !(width > 0) || !(height > 0))
    throw new KilnError('E_FORMAT', `probe ${path}: unreadable video stream (fps ${fpsRational}, ${width}x${height})`);
  let rotation = Number(v.tags?.rotate ?? 0);
  for (const sd of v.side_data_list ?? []) if (typeof sd.rotation === 'number') rotation = sd.rotation;
  rotation = ((Math.round(rotation) % 360) + 360) % 360;
  const swap = rotation === 90 || rotation === 270;
  const frames = v.nb_frames !== undefined ? Number(v.nb_frames) : Math.round(duration * fps);
  return {
    duration: Number.isFinite(duration) ? duration : frames / fps, fps, fpsRational, frames, width, height,
    displayWidth: swap ? height : width, displayHeight: swap ? width : height,
    codec: String(v.codec_name ?? 'unknown'), rotation, pixFmt: String(v.pix_fmt ?? 'unknown'),
  };
}
