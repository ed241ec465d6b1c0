#!/usr/bin/env node
/**
 * Standalone entry for the datapipe commands (`node dist/src/datapipe/bin.js datapipe run ...`), used by tests and
 * by worker machines; the main `kiln` binary registers the same commands.
 */
import { Command } from 'commander';
import { registerDatapipeCommands } from './cli.js';

const program = new Command('kiln');
registerDatapipeCommands(program);
await program.parseAsync(process.argv);
