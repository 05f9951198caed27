// Undo/redo as snapshots of the (immutable) box list. Consecutive edits with the same merge key inside a short
// window (arrow-key nudges of one box, say) fold into one step, so one Ctrl+Z undoes the whole burst.

export const MERGE_WINDOW_MS = 800;

export class History<T> {
  private past: { state: T; mergeKey: string | null; at: number }[] = [];
  private future: T[] = [];

  constructor(private readonly limit = 200) {}

  /** Remember `before` as the state to go back to; `mergeKey` folds a burst of similar edits into one step. */
  record(before: T, mergeKey: string | null = null, now = Date.now()): void {
    const last = this.past[this.past.length - 1];
    this.future = [];
    if (last && mergeKey !== null && last.mergeKey === mergeKey && now - last.at < MERGE_WINDOW_MS) {
      last.at = now; // keep the older `before`: the burst undoes as one
      return;
    }
    this.past.push({ state: before, mergeKey, at: now });
    if (this.past.length > this.limit) this.past.shift();
  }

  undo(current: T): T | null {
    const step = this.past.pop();
    if (!step) return null;
    this.future.push(current);
    return step.state;
  }

  redo(current: T): T | null {
    const next = this.future.pop();
    if (next === undefined) return null;
    this.past.push({ state: current, mergeKey: null, at: 0 });
    return next;
  }

  get canUndo(): boolean { return this.past.length > 0; }
  get canRedo(): boolean { return this.future.length > 0; }

  clear(): void {
    this.past = [];
    this.future = [];
  }
}
