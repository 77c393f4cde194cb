import { patched } from '@temporalio/workflow';

const IN_HISTORY_ORDER = 'save-results-in-history-order';

/**
 * When a save's result reaches the run core. Every other activity's result reaches it one microtask after
 * the SDK settles the activity, so results of one activation reach it in the order of their events. A
 * save's went through its cancellation scope's promise first, three microtasks later, so it came after
 * the others of the same activation, whatever their events' order.
 *
 * That order then depended on how results are grouped into activations, which is not the same live and on
 * replay: a worker taking a run over after its sticky workflow task timed out was handed the events before
 * the timeout in an activation of their own, where a replay of the recorded history hands them over
 * together with the rest (a kept history of the takeover test: the save's result came first live and last
 * on replay, so the next save went out live and not on replay). Now a save's result comes one microtask
 * after the activity settles too.
 *
 * Decided when the result arrives, not when the save goes out: a run begun without the marker keeps the
 * old way until this release first decides live, and a replay switches at the same result, since the
 * marker is recorded in the workflow task whose activation made that decision.
 */
export class SaveResults {
  private constructor(private readonly fromStart: boolean) {}

  /** For the workflow run being started or replayed: asked at the start, after the markers asked before it. */
  static forThisRun(): SaveResults {
    return new SaveResults(patched(IN_HISTORY_ORDER));
  }

  /**
   * Hands `deliver` whether the save `activity` succeeded. `scoped` is the cancellation scope's promise
   * around it, the old way's path.
   */
  deliver(activity: Promise<unknown>, scoped: Promise<unknown>, deliver: (ok: boolean) => void): Promise<void> {
    let inOrder = false;
    const arrived = (ok: boolean): void => {
      inOrder = this.fromStart || patched(IN_HISTORY_ORDER);
      if (inOrder) deliver(ok);
    };
    const now = activity.then(
      () => arrived(true),
      () => arrived(false),
    );
    // The old way: three microtasks after the scope's promise (the chain runs begun before were made with).
    const before = scoped
      .then(() => true)
      .catch(() => false)
      .then((ok) => {
        if (!inOrder) deliver(ok);
      });
    return Promise.all([now, before]).then(() => undefined);
  }
}
