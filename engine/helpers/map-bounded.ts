/**
 * Runs `work` over `items` with at most `limit` at once, results in input order.
 * @example
 * ```ts
 * const sizes = await mapBounded(paths, 8, async (path) => (await stat(path)).size);
 * ```
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
