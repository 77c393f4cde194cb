// Several tests, one decision: the chance that any of them errs is held at alpha, not each one's.

/**
 * Holm's step-down adjustment of p-values (controls the family-wise error rate at alpha for any
 * dependence between the tests, and rejects everything Bonferroni does, or more): the smallest p is
 * multiplied by m, the next by m − 1, …, each kept at least as large as the one before. Rejecting the
 * tests whose adjusted p is ≤ alpha is Holm's procedure. Returned in the input's order.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}
