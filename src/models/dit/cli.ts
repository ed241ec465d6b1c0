/**
 * `kiln aquarius …` commands (the lead wires `registerDitCommands(program)` into src/cli/main.ts):
 *   kiln aquarius vae-demo  [--preset P] [--steps N] [--size S] [--frames T] [--lr X] [--json]   train a VAE preset
 *                           (default vae-small), print the held-out PSNR/SSIM curve
 *   kiln aquarius flow-demo [--steps N] [--json]                           train a tiny DiT with rectified flow
 * Parameter counts go through `kiln info <preset>` (family.ts).
 */
import type { Command } from 'commander';
import { runFlowDemo, runVaeDemo } from './demo.js';

export function registerDitCommands(program: Command): void {
  const aq = program.command('aquarius').description('Aquarius video models: tiny VAE and rectified-flow DiT demos');
  aq.command('vae-demo')
    .description('train a small 3D causal VAE on synthetic moving shapes; report the held-out PSNR/SSIM curve')
    .option('--preset <name>', 'VAE preset (vae-small, vae-tiny, ...)', 'vae-small')
    .option('--steps <n>', 'training steps', '800')
    .option('--size <px>', 'frame size (multiple of 8)', '32')
    .option('--frames <n>', 'frames per clip (1 + 4k)', '5')
    .option('--lr <x>', 'peak learning rate (warmup 20 steps, cosine to 5 %)', '5e-4')
    .option('--eval-every <n>', 'held-out evaluation interval (steps)', '50')
    .option('--json', 'print JSON')
    .action((o: { preset: string; steps: string; size: string; frames: string; lr: string; evalEvery: string; json?: boolean }) => {
      const r = runVaeDemo({
        preset: o.preset, steps: Number(o.steps), size: Number(o.size), frames: Number(o.frames), lr: Number(o.lr), evalEvery: Number(o.evalEvery),
        onEval: o.json ? undefined : (s, m, sec) => process.stdout.write(`step ${s}: held-out PSNR ${m.psnr.toFixed(2)} dB, SSIM ${m.ssim.toFixed(3)} (${sec.toFixed(0)} s)\n`),
      });
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${r.preset}: PSNR ${r.before.psnr.toFixed(2)} → ${r.after.psnr.toFixed(2)} dB, SSIM ${r.before.ssim.toFixed(3)} → ${r.after.ssim.toFixed(3)} after ${r.steps} steps (${r.seconds.toFixed(1)} s)\n`);
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
