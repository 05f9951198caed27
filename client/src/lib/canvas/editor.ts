// The boxes of the open image, the selection (one box or several), and every edit on them as one undoable step:
// a group relabel, delete, nudge or move of the selected boxes is one step too. Framework-free: the component passes
// onChange and re-renders.

import { clampRect, copies, moveRect, newKey, type Ann, type Rect } from './boxes';
import { History } from './history';

export class BoxEditor {
  boxes: Ann[] = [];
  /** The selected keys in the order they were picked; the last one is the primary (its handles show). */
  selection: string[] = [];
  hidden = false;
  readonly history = new History<Ann[]>();

  constructor(private readonly onChange: () => void = () => {}) {}

  /** A new image: its boxes, no selection, a fresh undo stack. */
  load(boxes: Ann[]): void {
    this.boxes = boxes;
    this.selection = [];
    this.history.clear();
    this.onChange();
  }

  private commit(next: Ann[], mergeKey: string | null = null): void {
    this.history.record(this.boxes, mergeKey);
    this.boxes = next;
    this.onChange();
  }

  /** The primary selected box's key (the last picked), or null. */
  get selected(): string | null {
    return this.selection.length ? this.selection[this.selection.length - 1] : null;
  }

  /** The key of the only selected box: resize handles and the move grip belong to a single selection. */
  get single(): string | null {
    return this.selection.length === 1 ? this.selection[0] : null;
  }

  get selectedBox(): Ann | undefined {
    const k = this.selected;
    return k ? this.boxes.find((b) => b.key === k) : undefined;
  }

  get selectedBoxes(): Ann[] {
    const keys = new Set(this.selection);
    return this.boxes.filter((b) => keys.has(b.key));
  }

  isSelected(key: string): boolean { return this.selection.includes(key); }

  /** One box selected (or none). */
  select(key: string | null): void {
    this.setSelection(key ? [key] : []);
  }

  /** Adds a box to the selection, or takes it out if it is in (Shift/Ctrl+click). */
  toggle(key: string): void {
    this.setSelection(this.selection.includes(key) ? this.selection.filter((k) => k !== key)
      : [...this.selection, key]);
  }

  /** Every box (Ctrl+A). */
  selectAll(): void {
    this.setSelection(this.boxes.map((b) => b.key));
  }

  /** The boxes lying wholly inside `rect` join the selection (a rubber band); `add` keeps the earlier ones. */
  selectInside(rect: Rect, add: boolean): void {
    const inside = this.boxes.filter((b) => b.x >= rect.x && b.y >= rect.y && b.x + b.w <= rect.x + rect.w &&
                                            b.y + b.h <= rect.y + rect.h).map((b) => b.key);
    const base = add ? this.selection.filter((k) => !inside.includes(k)) : [];
    this.setSelection([...base, ...inside]);
  }

  private setSelection(keys: string[]): void {
    const known = keys.filter((k) => this.boxes.some((b) => b.key === k));
    if (known.length === this.selection.length && known.every((k, i) => k === this.selection[i])) return;
    this.selection = known;
    this.onChange();
  }

  add(rect: Rect, label: string): string {
    const box: Ann = { ...clampRect({ x: rect.x, y: rect.y, w: rect.w, h: rect.h }), key: newKey(), label };
    this.commit([...this.boxes, box]);
    this.select(box.key);
    return box.key;
  }

  /** Replaces a box's geometry (the end of a resize). */
  reshape(key: string, rect: Rect, mergeKey: string | null = null): void {
    this.reshapeMany(new Map([[key, rect]]), mergeKey);
  }

  /** Replaces the geometry of several boxes as one step (a group move or nudge); unchanged boxes are no step. */
  private reshapeMany(rects: Map<string, Rect>, mergeKey: string | null = null): void {
    let changed = false;
    const next = this.boxes.map((b) => {
      const r = rects.get(b.key);
      if (!r) return b;
      const c = clampRect({ ...b, x: r.x, y: r.y, w: r.w, h: r.h });
      if (c.x === b.x && c.y === b.y && c.w === b.w && c.h === b.h) return b;
      changed = true;
      return c;
    });
    if (changed) this.commit(next, mergeKey);
  }

  /** Moves the given boxes by the same offset (each stops at the image edge), as one step. */
  moveMany(keys: string[], dx: number, dy: number, mergeKey: string | null = null): void {
    const set = new Set(keys);
    this.reshapeMany(new Map(this.boxes.filter((b) => set.has(b.key)).map((b) => [b.key, moveRect(b, dx, dy)])),
                     mergeKey);
  }

  /** Arrow keys: the selected boxes move together; a burst of nudges undoes as one step. */
  nudgeSelected(dx: number, dy: number): void {
    if (this.selection.length) this.moveMany(this.selection, dx, dy, `nudge:${this.selection.join(',')}`);
  }

  /** Every selected box gets `label`, as one step. */
  relabelSelected(label: string): number {
    const keys = new Set(this.selection);
    const hits = this.boxes.filter((b) => keys.has(b.key) && b.label !== label).length;
    if (hits) this.commit(this.boxes.map((b) => (keys.has(b.key) && b.label !== label ? { ...b, label } : b)));
    return hits;
  }

  relabel(key: string, label: string): void {
    const b = this.boxes.find((x) => x.key === key);
    if (!b || b.label === label) return;
    this.commit(this.boxes.map((x) => (x.key === key ? { ...x, label } : x)));
  }

  remove(key: string): void {
    if (!this.boxes.some((b) => b.key === key)) return;
    this.commit(this.boxes.filter((b) => b.key !== key));
    this.selection = this.selection.filter((k) => k !== key);
    this.onChange();
  }

  /** The selected boxes deleted, as one step. */
  removeSelected(): number {
    const keys = new Set(this.selection);
    const n = this.boxes.filter((b) => keys.has(b.key)).length;
    if (!n) return 0;
    this.selection = [];
    this.commit(this.boxes.filter((b) => !keys.has(b.key)));
    return n;
  }

  /** Every box removed as one step: the image has no objects. */
  clear(): number {
    const n = this.boxes.length;
    this.selection = [];
    if (n) this.commit([]);
    return n;
  }

  /** Adds copies of boxes (from the clipboard or the previous image) as one step; the copies become the selection,
   * so they can be nudged or moved into place together. */
  paste(boxes: Ann[]): number {
    if (!boxes.length) return 0;
    const added = copies(boxes);
    this.commit([...this.boxes, ...added]);
    this.setSelection(added.map((b) => b.key));
    return boxes.length;
  }

  /** Model drafts become the user's own boxes (those with the given keys, or all when keys is null). */
  accept(keys: string[] | null = null): number {
    const hit = (b: Ann) => !!b.draft && (keys === null || keys.includes(b.key));
    const hits = this.boxes.filter(hit).length;
    if (hits) this.commit(this.boxes.map((b) => (hit(b) ? { ...b, draft: false } : b)));
    return hits;
  }

  /** Model drafts removed (those with the given keys, or all when keys is null), as one undoable step. */
  reject(keys: string[] | null = null): number {
    const hit = (b: Ann) => !!b.draft && (keys === null || keys.includes(b.key));
    const gone = this.boxes.filter(hit).length;
    if (gone) {
      this.selection = this.selection.filter((k) => !this.boxes.some((b) => b.key === k && hit(b)));
      this.commit(this.boxes.filter((b) => !hit(b)));
    }
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
    this.selection = this.selection.filter((k) => state.some((b) => b.key === k));
    this.onChange();
    return true;
  }

  toggleHidden(): void {
    this.hidden = !this.hidden;
    this.onChange();
  }
}
