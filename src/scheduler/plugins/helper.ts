/** Helpers shared by plugins (upstream plugins/helper). */
import { MAX_NODE_SCORE, type NodeScore } from '../framework.js';

/**
 * Scales scores to 0..MAX_NODE_SCORE by the highest one, reversed if asked
 * (upstream helper.DefaultNormalizeScore, integer arithmetic as int64).
 */
export function defaultNormalizeScore(scores: NodeScore[], reverse: boolean, max = MAX_NODE_SCORE): void {
  let top = 0;
  for (const s of scores) if (s.score > top) top = s.score;
  if (top === 0) {
    if (reverse) for (const s of scores) s.score = max;
    return;
  }
  for (const s of scores) {
    let v = Math.trunc((max * s.score) / top);
    if (reverse) v = max - v;
    s.score = v;
  }
}
