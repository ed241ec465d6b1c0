/**
 * ffmpeg/ffprobe as child processes for the video operators. `runTool`, `ffmpegPaths` and `haveBinary` live in
 * src/io/ffmpeg.ts (shared with src/io/video.ts) and are re-exported here. `streamFrames` decodes raw frames through
 * a pipe and hands each to a callback one at a time (one frame buffer reused, so memory does not grow with video
 * length). Binaries: KILN_FFMPEG / KILN_FFPROBE env, else `ffmpeg` / `ffprobe` on PATH (Debian package `ffmpeg`).
 */
import { spawn } from 'node:child_process';
import { KilnError } from '../../errors.js';
import { lastLine, missingToolMessage } from '../../io/ffmpeg.js';

// The process runner and tool paths are shared with src/io/video.ts and live in src/io/ffmpeg.ts.
export { ffmpegPaths, haveBinary, runTool, type ToolResult } from '../../io/ffmpeg.js';

/**
 * Decode frames of exactly `frameBytes` bytes from ffmpeg's stdout (args must end in `-f rawvideo pipe:1`) and
 * call `onFrame(frame, index)` for each; the buffer is reused, copy what you keep. Returns the frame count.
 * Chunks are queued (up to `maxQueuedFrames` frames, then the pipe is paused) and frames are processed one per
 * event-loop turn, so ffmpeg keeps decoding while JavaScript analyses: decode and analysis overlap on two cores,
 * and memory stays bounded by the queue.
 */
export function streamFrames(bin: string, args: string[], frameBytes: number, what: string,
    onFrame: (frame: Uint8Array, index: number) => void, signal?: AbortSignal, maxQueuedFrames = 32): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    const frame = new Uint8Array(frameBytes);
    const chunks: Buffer[] = [];
    let head = 0; // read offset into chunks[0]
    let queued = 0; // bytes queued
    let n = 0;
    let err = '';
    let failed: unknown;
    let exitCode: number | null | undefined;
    let paused = false;
    let scheduled = false;
    const finish = (): void => {
      if (failed !== undefined) reject(failed);
      else if (exitCode !== 0) reject(new KilnError('E_FORMAT', `${what}: ${bin} failed (exit ${exitCode}): ${lastLine(err) || 'no message'}`));
      else if (n === 0) reject(new KilnError('E_FORMAT', `${what}: no video frames could be decoded`));
      else resolve(n);
    };
    const pump = (): void => {
      scheduled = false;
      // Process a few frames per turn, then yield so the pipe keeps draining.
      for (let k = 0; k < 4 && queued >= frameBytes && failed === undefined; k++) {
        let fill = 0;
        while (fill < frameBytes) {
          const c = chunks[0];
          const take = Math.min(frameBytes - fill, c.length - head);
          frame.set(c.subarray(head, head + take), fill);
          fill += take;
          head += take;
          if (head === c.length) (chunks.shift(), (head = 0));
        }
        queued -= frameBytes;
        try {
          onFrame(frame, n++);
        } catch (e) {
          failed = e;
          p.kill('SIGKILL');
        }
      }
      if (paused && queued < (maxQueuedFrames / 2) * frameBytes) (p.stdout.resume(), (paused = false));
      if (queued >= frameBytes && failed === undefined) schedule();
      else if (exitCode !== undefined) finish();
    };
    const schedule = (): void => {
      if (!scheduled) (scheduled = true, setImmediate(pump));
    };
    p.stdout.on('data', (b: Buffer) => {
      chunks.push(b);
      queued += b.length;
      if (!paused && queued >= maxQueuedFrames * frameBytes) (p.stdout.pause(), (paused = true));
      if (queued >= frameBytes) schedule();
    });
    p.stderr.on('data', (b: Buffer) => {
      if (err.length < 65536) err += b.toString();
    });
    p.on('error', (e) => {
      failed = new KilnError('E_IO', missingToolMessage(what, bin, e));
    });
    p.on('close', (code) => {
      exitCode = code;
      if (queued < frameBytes || failed !== undefined) finish();
      else schedule();
    });
  });
}

/** Common leading args: quiet, no stdin, first video stream only. */
export function decodeArgs(input: string, vf: string, pixFmt: string, seek?: { startS: number; frames: number }): string[] {
  const a = ['-v', 'error', '-nostdin'];
  if (seek && seek.startS > 0) a.push('-ss', seek.startS.toFixed(6));
  // One decoder thread: a task declares one CPU and the executor runs as many tasks as there are CPUs.
  a.push('-threads', '1', '-i', input, '-map', '0:v:0', '-an', '-sn', '-dn');
  if (seek) a.push('-frames:v', String(seek.frames));
  a.push('-vf', vf, '-fps_mode', 'passthrough', '-pix_fmt', pixFmt, '-f', 'rawvideo', 'pipe:1');
  return a;
}
