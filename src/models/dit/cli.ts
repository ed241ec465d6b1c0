/**
 * `kiln aquarius …` commands (the lead wires `registerDitCommands(program)` into src/cli/main.ts):
 *   kiln aquarius vae-demo  [--steps N] [--size S] [--frames T] [--json]   train vae-tiny, print PSNR/SSIM
 *   kiln aquarius flow-demo [--steps N] [--json]                           train a tiny DiT with rectified flow
 * Parameter counts go through `kiln info <preset>` (family.ts).
 */
import type { Command } from 'commander';
import { runFlowDemo, runVaeDemo } from './demo.js';

export function registerDitCommands(program: Command): void {
  const aq = program.command('aquarius').description('Aquarius video models: tiny VAE and rectified-flow DiT demos');
  aq.command('vae-demo')
    .description('train the tiny 3D causal VAE on synthetic moving shapes; report held-out PSNR/SSIM')
    .option('--steps <n>', 'training steps', '200')
    .option('--size <px>', 'frame size (multiple of 8)', '32')
    .option('--frames <n>', 'frames per clip (1 + 4k)', '5')
    .option('--json', 'print JSON')
    .action((o: { steps: string; size: string; frames: string; json?: boolean }) => {
      const r = runVaeDemo({ steps: Number(o.steps), size: Number(o.size), frames: Number(o.frames), onStep: o.json ? undefined : (s, l) => { if ((s + 1) % 25 === 0) process.stdout.write(`step ${s + 1}: recon MSE ${l.toFixed(4)}\n`); } });
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `PSNR ${r.before.psnr.toFixed(2)} → ${r.after.psnr.toFixed(2)} dB, SSIM ${r.before.ssim.toFixed(3)} → ${r.after.ssim.toFixed(3)} after ${r.steps} steps (${r.seconds.toFixed(1)} s)\n`);
    });
  aq.command('flow-demo')
    .description('train a tiny Single-DiT + text encoder with rectified flow; sample each prompt and check it')
    .option('--steps <n>', 'training steps', '200')
    .option('--json', 'print JSON')
    .action((o: { steps: string; json?: boolean }) => {
      const r = runFlowDemo({ steps: Number(o.steps) });
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `loss ${r.first_loss.toFixed(3)} → ${r.last_loss.toFixed(3)} in ${r.steps} steps (${r.seconds.toFixed(1)} s); prompts right by guidance: ${Object.entries(r.correct).map(([g, c]) => `g=${g}: ${c}/${r.prompts}`).join(', ')}\n`);
    });
}
