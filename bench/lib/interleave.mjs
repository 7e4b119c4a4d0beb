/**
 * Interleaved repetitions: for each repetition, every configuration once, in an order
 * rotated per repetition (so no configuration always runs first or last), stopping when
 * the scenario's time budget runs out. A failed run is recorded with its error, never
 * dropped.
 */
import { rotate } from './stats.mjs';

/**
 * @param {{ overBudget: () => boolean, log: (s: string) => void }} ctx
 * @param {string[]} configs
 * @param {number} reps
 * @param {(config: string, rep: number) => Promise<object>} runOne  measures one run
 * @returns {Promise<{ runs: object[], skipped: boolean }>} runs: { config, rep, ...result } or { config, rep, error }
 */
export async function runInterleaved(ctx, configs, reps, runOne) {
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    if (ctx.overBudget()) return { runs, skipped: true };
    for (const c of rotate(configs, rep)) {
      const entry = { config: c, rep };
      try {
        Object.assign(entry, await runOne(c, rep));
      } catch (err) {
        entry.error = String(err.message ?? err);
        ctx.log(`  ${c} rep ${rep}: ${entry.error.split('\n')[0]}`);
      }
      runs.push(entry);
    }
  }
  return { runs, skipped: false };
}
