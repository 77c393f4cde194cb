/** What the soak does to the distributed run, each at a random moment. */
export const FAULT_KINDS = [
  'kill-cli',
  'kill-cpu-worker',
  'kill-gpu-worker',
  'freeze-cpu-worker',
  'freeze-gpu-worker',
  'kill-temporal',
  'kill-minio',
  'cut-minio',
  'stall-minio',
  'cut-temporal',
  'fill-scratch-disk',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Each kind's weight in the schedule: the common real failures (lost workers, dropped connections) most often. */
const WEIGHTS: Record<FaultKind, number> = {
  'kill-cli': 2,
  'kill-cpu-worker': 3,
  'kill-gpu-worker': 2,
  'freeze-cpu-worker': 2,
  'freeze-gpu-worker': 1,
  'kill-temporal': 1,
  'kill-minio': 1,
  'cut-minio': 3,
  'stall-minio': 2,
  'cut-temporal': 2,
  'fill-scratch-disk': 1,
};

/** Mulberry32: a small seeded generator, so one seed gives the same schedule on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seeded stream of faults: the next kind, and how long to wait before it. */
export class FaultSchedule {
  private readonly random: () => number;
  private readonly total: number;

  constructor(
    seed: number,
    private readonly meanGapMs: number,
    /** Kinds left out of this schedule (the others keep their weights). */
    private readonly without: ReadonlySet<FaultKind> = new Set(),
  ) {
    this.random = seededRandom(seed);
    this.total = FAULT_KINDS.filter((k) => !without.has(k)).reduce((sum, k) => sum + WEIGHTS[k], 0);
  }

  /** A gap drawn uniformly from 0.2× to 1.8× the mean, then a kind drawn by weight. */
  next(): { afterMs: number; kind: FaultKind } {
    const afterMs = Math.round(this.meanGapMs * (0.2 + 1.6 * this.random()));
    let pick = this.random() * this.total;
    for (const kind of FAULT_KINDS) {
      if (this.without.has(kind)) continue;
      pick -= WEIGHTS[kind];
      if (pick < 0) return { afterMs, kind };
    }
    return { afterMs, kind: FAULT_KINDS[FAULT_KINDS.length - 1] as FaultKind };
  }

  /** A number in [0, 1) from the same seeded stream (a fault's own choices: which worker, how long). */
  draw(): number {
    return this.random();
  }
}
