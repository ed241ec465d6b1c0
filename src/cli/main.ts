#!/usr/bin/env node
/** The `kiln` command: parses arguments and calls the library; no logic lives here. */
import { Command } from 'commander';
import { finiteNumber, positiveInt } from './options.js';
import { KilnError } from '../errors.js';
import { registerBenchCommand } from '../bench/cli.js';
import { registerVideoCacheBench } from '../bench/aquarius-cache.js';
import { registerVaeBench } from '../bench/aquarius-vae.js';
import { registerDitStepBench } from '../bench/dit-step.js';
import { registerErnieBenchCommand } from '../bench/ernie.js';
import { registerDatapipeCommands } from '../datapipe/cli.js';
import { registerTokenizeCommand } from '../tokenizers/cli.js';
import { registerDeepseekCommands } from './deepseek.js';
import { resolveModel } from '../models/registry.js';
import { registerErnieCommands } from '../models/ernie3/cli.js';
import { runDemo } from './demo.js';
import { registerErniePrepareCommands } from './ernie-prepare.js';
import { registerErnieTrainCommands } from './ernie.js';
import { registerVideoCommands } from './video.js';
import { registerAppCommands } from './apps.js';

const program = new Command();
program.name('kiln').description('Kiln: a TypeScript stack for large generative models').version('0.1.0');

program
  .command('demo')
  .description('train a tiny transformer on the bundled sonnets, print the loss falling, save it and sample')
  .option('--steps <n>', 'training steps', positiveInt, 300)
  .option('--batch <n>', 'sequences per step', positiveInt, 16)
  .option('--seq <n>', 'tokens per sequence', positiveInt, 64)
  .option('--lr <lr>', 'peak learning rate', finiteNumber, 3e-3)
  .option('--preset <name>', 'model preset', 'gpt-tiny')
  .option('--seed <n>', 'random seed', (v) => Number(v), 0)
  .option('--out <dir>', 'where to save the checkpoint', 'runs/demo')
  .option('--prompt <text>', 'prompt for the sample', 'Shall I compare thee')
  .action((o) => {
    runDemo(o);
  });

program
  .command('info')
  .description('parameter counts, cache sizes and FLOPs of a model preset, config.json or checkpoint directory')
  .argument('<model>', 'a preset name, a config.json, or a checkpoint directory')
  .option('--json', 'print one JSON object')
  .action((ref: string, o: { json?: boolean }) => {
    const { family, config } = resolveModel(ref);
    const info: Record<string, number | string> = { model_type: family.modelType, ...family.info(config) };
    if (o.json) console.log(JSON.stringify(info));
    else for (const [k, v] of Object.entries(info)) console.log(`${k.padEnd(40)} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`);
  });

const train = program.command('train').description('training commands: lm (DeepSeek-V3), ernie (ERNIE 3.0), vae and dit (Aquarius), lora (personalization)');

const bench = registerBenchCommand(program);
registerDitStepBench(bench);
registerVideoCacheBench(bench);
registerVaeBench(bench);
registerErnieBenchCommand(bench);
registerDatapipeCommands(program);
registerTokenizeCommand(program);
registerErnieCommands(program);
registerDeepseekCommands(program, train);
registerErniePrepareCommands(program, train);
registerErnieTrainCommands(program, train);
registerVideoCommands(program, train);
registerAppCommands(program, train);

try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof KilnError) {
    console.error(`kiln: ${e.message} [${e.code}]`);
    process.exit(1);
  }
  throw e;
}
