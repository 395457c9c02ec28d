// "Did you mean" for field names, member names and enum values.
import { distance } from "fastest-levenshtein";

const MAX_DISTANCE = 2;

/**
 * The candidate closest to `word`: a case-insensitive match first, else the nearest within
 * edit distance 2 (and less than half the word, so "a" never suggests "b"). Ties go to the
 * earlier candidate, which keeps hints deterministic.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const limit = Math.min(MAX_DISTANCE, Math.floor(word.length / 2));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    if (c === word) continue;
    if (c.toLowerCase() === lower) return c;
    if (limit === 0 || Math.abs(c.length - word.length) > limit) continue;
    const d = distance(word, c);
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Suggestions against a large set of names (members: up to 100,000) with a total budget of
 * edit-distance comparisons, so many typos in a huge spec stay fast; past the budget only
 * case-insensitive matches are offered.
 */
export class NameSuggester {
  private readonly byLower = new Map<string, string>();
  private budget: number;

  constructor(
    private readonly names: readonly string[],
    budget = 2_000_000,
  ) {
    this.budget = budget;
    for (const n of names) {
      const key = n.toLowerCase();
      if (!this.byLower.has(key)) this.byLower.set(key, n);
    }
  }

  suggest(word: string): string | undefined {
    const exact = this.byLower.get(word.toLowerCase());
    if (exact !== undefined && exact !== word) return exact;
    if (this.budget < this.names.length) return undefined;
    this.budget -= this.names.length;
    return closest(word, this.names);
  }
}

/** `did you mean "x"?` or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : `did you mean "${c}"?`;
}
