/**
 * `kiln ernie prepare --wordnet <dir> --corpus <file…> --out <dir> [--max-noun-synsets n] [--vocab-size n]
 * [--test-fraction f] [--cpus n] [--json]`: prepares the ERNIE 3.0 knowledge corpus (WordNet knowledge graph aligned
 * to the corpus by lemma matching) with the datapipe (src/datapipe/text/wordnet-prepare.ts) and writes the files
 * loadKnowledgeCorpus reads. Progress bar on stderr (documents linked); `--json` prints the stats on stdout.
 * Registration: `registerErniePrepareCommands(program, train)` adds `ernie prepare` (creating `kiln ernie` when no
 * other module has); `train` is unused (the shared `kiln train` parent of the working agreement's signature).
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { prepareKnowledgeCorpus } from '../datapipe/text/wordnet-prepare.js';
import { KilnError } from '../errors.js';
import { finiteNumber, positiveInt } from './options.js';

interface PrepareOpts {
  wordnet: string;
  corpus: string[];
  out: string;
  maxNounSynsets?: number;
  vocabSize?: number;
  testFraction?: number;
  cpus?: number;
  json?: boolean;
}

export function registerErniePrepareCommands(program: Command, train?: Command): void {
  void train;
  const ernie = program.commands.find((c) => c.name() === 'ernie') ?? program.command('ernie').description('ERNIE 3.0 data and tools');
  ernie.command('prepare')
    .description('prepare the WordNet knowledge corpus for ERNIE 3.0 (knowledge graph + entity-linked text)')
    .option('--wordnet <dir>', 'WordNet 3.0 database directory (Debian wordnet-base)', '/usr/share/wordnet')
    .requiredOption('--corpus <file...>', 'plain-text corpus files (.txt)')
    .requiredOption('--out <dir>', 'output directory (e.g. data/ernie)')
    .option('--max-noun-synsets <n>', 'noun synsets kept before hypernyms and parts are added', positiveInt)
    .option('--vocab-size <n>', 'vocabulary size including the specials (default 6000)', positiveInt)
    .option('--test-fraction <f>', 'fraction of word pairs held out (default 0.2)', finiteNumber)
    .option('--cpus <n>', 'CPU cores for the datapipe', positiveInt)
    .option('--json', 'print the stats as JSON on stdout')
    .action(async (o: PrepareOpts) => {
      const bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'ernie prepare [{bar}] {value}/{total} documents linked' },
        cliProgress.Presets.shades_classic);
      let started = false;
      try {
        if (o.testFraction !== undefined && !(o.testFraction > 0 && o.testFraction < 1))
          throw new KilnError('E_ARG', `ernie prepare: --test-fraction must be in (0, 1), got ${o.testFraction}`);
        const r = await prepareKnowledgeCorpus({
          wordnet: o.wordnet, corpus: o.corpus, out: o.out, maxNounSynsets: o.maxNounSynsets, vocabSize: o.vocabSize,
          testFraction: o.testFraction, cpus: o.cpus,
          onProgress: (p) => {
            const link = p.stages.find((s) => s.stage === 'link');
            const total = p.stages.filter((s) => s.stage.startsWith('split-')).reduce((a, s) => a + s.out, 0);
            if (!link || total === 0) return;
            if (!started) (bar.start(total, 0), (started = true));
            bar.setTotal(total);
            bar.update(link.out);
          },
        });
        if (started) bar.stop();
        if (o.json) process.stdout.write(`${JSON.stringify({ out: o.out, wall_s: r.wallS, ...r.stats })}\n`);
        else process.stdout.write(`wrote ${o.out}: ${r.stats.entities} entities, ${r.stats.triples} triples, ${r.stats.sentences} sentences ` +
          `(${r.stats.triple_sentences} express a triple), vocab ${r.stats.vocab}, ${r.stats.cloze} cloze items in ${r.wallS.toFixed(1)} s\n`);
      } catch (e) {
        if (started) bar.stop();
        process.stderr.write(`kiln ernie prepare: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
