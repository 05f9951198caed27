// The boxes of the open image, the selection, and every edit on them as one undoable step.
// Framework-free: the component passes onChange and re-renders.

import { clampRect, copies, moveRect, newKey, type Ann, type Rect } from './boxes';
import { History } from './history';

export class BoxEditor {
  boxes: Ann[] = [];
  selected: string | null = null;
  hidden = false;
  readonly history = new History<Ann[]>();

  constructor(private readonly onChange: () => void = () => {}) {}

  /** A new image: its boxes, no selection, a fresh undo stack. */
  load(boxes: Ann[]): void {
    this.boxes = boxes;
    this.selected = null;
    this.history.clear();
    this.onChange();
  }

  private commit(next: Ann[], mergeKey: string | null = null): void {
    this.history.record(this.boxes, mergeKey);
    this.boxes = next;
    this.onChange();
  }

  get selectedBox(): Ann | undefined {
    return this.selected ? this.boxes.find((b) => b.key === this.selected) : undefined;
  }

  select(key: string | null): void {
    if (key === this.selected) return;
    this.selected = key;
    this.onChange();
  }

  add(rect: Rect, label: string): string {
    const box: Ann = { ...clampRect({ x: rect.x, y: rect.y, w: rect.w, h: rect.h }), key: newKey(), label };
    this.commit([...this.boxes, box]);
    this.select(box.key);
    return box.key;
  }

  /** Replaces a box's geometry (the end of a move or resize). */
  reshape(key: string, rect: Rect, mergeKey: string | null = null): void {
    const i = this.boxes.findIndex((b) => b.key === key);
    if (i < 0) return;
    const old = this.boxes[i];
    const next = clampRect({ ...old, x: rect.x, y: rect.y, w: rect.w, h: rect.h });
    if (next.x === old.x && next.y === old.y && next.w === old.w && next.h === old.h) return;
    this.commit(this.boxes.map((b, j) => (j === i ? next : b)), mergeKey);
  }

  nudge(key: string, dx: number, dy: number): void {
    const b = this.boxes.find((x) => x.key === key);
    if (b) this.reshape(key, moveRect(b, dx, dy), `nudge:${key}`);
  }

  relabel(key: string, label: string): void {
    const b = this.boxes.find((x) => x.key === key);
    if (!b || b.label === label) return;
    this.commit(this.boxes.map((x) => (x.key === key ? { ...x, label } : x)));
  }

  remove(key: string): void {
    if (!this.boxes.some((b) => b.key === key)) return;
    this.commit(this.boxes.filter((b) => b.key !== key));
    if (this.selected === key) this.select(null);
  }

  /** Adds copies of boxes (from the clipboard or the previous image) as one step; selects nothing. */
  paste(boxes: Ann[]): number {
    if (!boxes.length) return 0;
    this.commit([...this.boxes, ...copies(boxes)]);
    return boxes.length;
  }

  /** Model drafts become the user's own boxes (one key, or all when key is null). */
  accept(key: string | null = null): number {
    const hits = this.boxes.filter((b) => b.draft && (key === null || b.key === key)).length;
    if (hits) this.commit(this.boxes.map((b) => (b.draft && (key === null || b.key === key)
      ? { ...b, draft: false } : b)));
    return hits;
  }

  /** Model drafts removed (one key, or all when key is null), as one undoable step. */
  reject(key: string | null = null): number {
    const gone = this.boxes.filter((b) => b.draft && (key === null || b.key === key)).length;
    if (gone) this.commit(this.boxes.filter((b) => !(b.draft && (key === null || b.key === key))));
    if (this.selected && !this.boxes.some((b) => b.key === this.selected)) this.select(null);
    return gone;
  }

  /** The model's fresh drafts replace the previous ones; the user's own boxes stay as they are. */
  replaceDrafts(drafts: Ann[]): void {
    this.commit([...this.boxes.filter((b) => !b.draft), ...drafts]);
  }

  /** Selects the next (+1) or previous (-1) box in drawing order, wrapping around. */
  cycle(direction: 1 | -1): void {
    if (!this.boxes.length) return;
    const i = this.boxes.findIndex((b) => b.key === this.selected);
    const n = this.boxes.length;
    const next = i < 0 ? (direction > 0 ? 0 : n - 1) : (i + direction + n) % n;
    this.select(this.boxes[next].key);
  }

  undo(): boolean { return this.restore(this.history.undo(this.boxes)); }
  redo(): boolean { return this.restore(this.history.redo(this.boxes)); }

  private restore(state: Ann[] | null): boolean {
    if (!state) return false;
    this.boxes = state;
    if (this.selected && !state.some((b) => b.key === this.selected)) this.selected = null;
    this.onChange();
    return true;
  }

  toggleHidden(): void {
    this.hidden = !this.hidden;
    this.onChange();
  }
}
