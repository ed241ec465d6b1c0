/**
 * Clip cutting. Default: frame-accurate re-encode to H.264 (yuv420p, no audio): the input is seeked to half a frame
 * before `start_frame` (ffmpeg's accurate seek then drops every earlier frame) and exactly `end - start` frames are
 * encoded. `copy: true` stream-copies instead (fast, but starts on the keyframe at or before the cut).
 * Output is written to a temp name and renamed, so a repeated cut leaves one complete file.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { tempPathFor } from '../store.js';
import { runTool, streamFrames } from './ffmpeg.js';

export interface CutOptions {
  copy: boolean;
  crf: number;
  preset: string;
  /** x264 threads (0 = auto). */
  threads: number;
}

/**
 * `analysis`: also stream the cut frames, scaled to w x h grayscale, to `onFrame` from the same ffmpeg process (one
 * decode and one process start for cutting plus metrics). Not available with `copy`.
 */
export async function cutClip(ffmpeg: string, src: string, dst: string, startFrame: number, endFrame: number,
    fps: number, o: CutOptions, signal?: AbortSignal,
    analysis?: { w: number; h: number; onFrame: (f: Uint8Array) => void }): Promise<void> {
  mkdirSync(dirname(dst), { recursive: true });
  const tmp = tempPathFor(dst);
  const n = endFrame - startFrame;
  const a = ['-v', 'error', '-nostdin', '-y'];
  if (o.copy) {
    if (startFrame > 0) a.push('-ss', (startFrame / fps).toFixed(6));
    a.push('-i', src, '-map', '0:v:0', '-t', (n / fps).toFixed(6), '-c', 'copy');
  } else {
    if (startFrame > 0) a.push('-ss', ((startFrame - 0.5) / fps).toFixed(6));
    a.push('-threads', '1', '-i', src, '-map', '0:v:0', '-frames:v', String(n), '-fps_mode', 'passthrough', '-c:v', 'libx264',
      '-preset', o.preset, '-crf', String(o.crf), '-pix_fmt', 'yuv420p', '-threads', String(o.threads));
  }
  a.push('-an', '-sn', '-dn', '-map_metadata', '-1', '-fflags', '+bitexact', '-movflags', '+faststart', '-f', 'mp4', tmp);
  const what = `cut ${src} [${startFrame}, ${endFrame})`;
  try {
    if (analysis && !o.copy) {
      a.push('-map', '0:v:0', '-frames:v', String(n), '-fps_mode', 'passthrough', '-vf',
        `scale=${analysis.w}:${analysis.h}:flags=area`, '-pix_fmt', 'gray', '-f', 'rawvideo', 'pipe:1');
      await streamFrames(ffmpeg, a, analysis.w * analysis.h, what, analysis.onFrame, signal);
    } else await runTool(ffmpeg, a, what, signal);
    renameSync(tmp, dst);
  } finally {
    rmSync(tmp, { force: true });
  }
}
