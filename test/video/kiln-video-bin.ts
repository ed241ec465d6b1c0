/** Test harness: the `kiln` program with only the video commands registered (as main.ts will wire them). */
import { Command } from 'commander';
import { registerVideoCommands } from '../../src/cli/video.js';
import { KilnError } from '../../src/errors.js';

const program = new Command().name('kiln');
const train = program.command('train');
registerVideoCommands(program, train);
try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof KilnError) {
    console.error(`kiln: ${e.message} [${e.code}]`);
    process.exit(1);
  }
  throw e;
}
