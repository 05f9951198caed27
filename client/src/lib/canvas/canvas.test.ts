import { describe, expect, it } from 'vitest';
import { clampRect, moveRect, rectFromPoints, resizeRect, type Ann } from './boxes';
import { BoxEditor } from './editor';
import { History, MERGE_WINDOW_MS } from './history';
import { hitTest, screenRect } from './hit';
import { PointerTool, type ToolHost } from './tools';
import { fit, fromDevice, toDevice, toImage, toScreen, zoomAt, pan, type View } from './view';
import { commandFor, isTyping } from '../label/keys';

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-9);
const closeRect = (a: { x: number; y: number; w: number; h: number } | null, b: { x: number; y: number; w: number; h: number }) => {
  expect(a).not.toBeNull();
  for (const k of ['x', 'y', 'w', 'h'] as const) close(a![k], b[k]);
};
const box = (key: string, x: number, y: number, w: number, h: number, label = 'cat'): Ann => ({ key, label, x, y, w, h });

describe('view transform', () => {
  it('round-trips image <-> screen <-> device under zoom, pan and devicePixelRatio', () => {
    for (const dpr of [1, 1.5, 2, 3]) {
      let v: View = fit(4000, 3000, 1200, 800, dpr);
      v = zoomAt(v, { x: 300, y: 200 }, 3.7);
      v = pan(v, -123.5, 45.25);
      for (const p of [{ x: 0, y: 0 }, { x: 3999, y: 2999 }, { x: 1234.5, y: 77.25 }]) {
        const back = toImage(v, fromDevice(v, toDevice(v, toScreen(v, p))));
        close(back.x, p.x);
        close(back.y, p.y);
      }
    }
  });

  it('fits the image centred with a margin, and zooming keeps the point under the pointer still', () => {
    const v = fit(4000, 2000, 1000, 800);
    close(v.scale, (1000 - 24) / 4000);
    close(v.tx, 12);
    const at = { x: 420, y: 310 };
    const before = toImage(v, at);
    const z = zoomAt(v, at, 2.5);
    const after = toImage(z, at);
    close(after.x, before.x);
    close(after.y, before.y);
    close(z.scale, v.scale * 2.5);
  });
});

describe('box geometry', () => {
  it('clamps, draws from any two corners, moves without shrinking and resizes with flipping', () => {
    expect(clampRect({ x: 0.9, y: -0.1, w: 0.3, h: 0.2 })).toEqual({ x: 0.7, y: 0, w: 0.3, h: 0.2 });
    closeRect(rectFromPoints({ x: 0.6, y: 0.8 }, { x: 0.2, y: 1.4 }), { x: 0.2, y: 0.8, w: 0.4, h: 0.2 });
    expect(moveRect({ x: 0.5, y: 0.5, w: 0.4, h: 0.4 }, 0.3, -0.9)).toEqual({ x: 0.6, y: 0, w: 0.4, h: 0.4 });
    const r = resizeRect({ x: 0.2, y: 0.2, w: 0.2, h: 0.2 }, 'e', { x: 0.1, y: 0.9 });
    close(r.x, 0.1); close(r.w, 0.1); close(r.y, 0.2); close(r.h, 0.2);
    const se = resizeRect({ x: 0.2, y: 0.2, w: 0.2, h: 0.2 }, 'se', { x: 2, y: 0.5 });
    close(se.w, 0.8); close(se.h, 0.3);
  });
});

describe('hit testing', () => {
  const v = fit(1000, 1000, 1000, 1000, 1, 0); // 1 image px = 1 CSS px
  const boxes = [box('big', 0.1, 0.1, 0.6, 0.6), box('small', 0.3, 0.3, 0.1, 0.1)];

  it('prefers the smallest box under the pointer, and misses empty space', () => {
    expect(hitTest(boxes, v, 1000, 1000, { x: 350, y: 350 }, null)).toEqual({ key: 'small', part: 'body' });
    expect(hitTest(boxes, v, 1000, 1000, { x: 150, y: 150 }, null)).toEqual({ key: 'big', part: 'body' });
    expect(hitTest(boxes, v, 1000, 1000, { x: 900, y: 900 }, null)).toBeNull();
  });

  it('finds the handles of the selected box only, within a few screen pixels at any zoom', () => {
    expect(hitTest(boxes, v, 1000, 1000, { x: 703, y: 698 }, 'big')).toEqual({ key: 'big', part: 'se' });
    expect(hitTest(boxes, v, 1000, 1000, { x: 703, y: 698 }, null)).toEqual({ key: 'big', part: 'body' });
    const zoomed = zoomAt(v, { x: 0, y: 0 }, 4);
    const s = screenRect(zoomed, boxes[0], 1000, 1000);
    expect(hitTest(boxes, zoomed, 1000, 1000, { x: s.x + s.w / 2, y: s.y - 5 }, 'big'))
      .toEqual({ key: 'big', part: 'n' });
  });
});

describe('history', () => {
  it('undoes and redoes, and folds a burst with the same merge key into one step', () => {
    const h = new History<number>();
    h.record(0, null, 0);
    h.record(1, 'nudge:a', 1000);
    h.record(2, 'nudge:a', 1000 + MERGE_WINDOW_MS / 2);
    h.record(3, 'nudge:a', 1000 + MERGE_WINDOW_MS);
    expect(h.undo(4)).toBe(1); // the whole burst 1 -> 4
    expect(h.undo(1)).toBe(0);
    expect(h.undo(0)).toBeNull();
    expect(h.redo(0)).toBe(1);
    expect(h.redo(1)).toBe(4);
    h.record(5, 'nudge:a', 1000 + 3 * MERGE_WINDOW_MS); // too late to merge: a new step
    expect(h.canRedo).toBe(false);
  });
});

function setup(drawLabel: string | null = 'cat') {
  const editor = new BoxEditor();
  const host: ToolHost = { view: fit(1000, 500, 1000, 500, 2, 0), imageW: 1000, imageH: 500, drawLabel,
                           spaceHeld: false, setView: (v) => (host.view = v) };
  return { editor, host, tool: new PointerTool(editor, host) };
}

describe('pointer tool', () => {
  it('draws a box with a drag, but a stray click makes nothing', () => {
    const { editor, tool } = setup();
    tool.down({ x: 100, y: 100 });
    tool.move({ x: 300, y: 200 });
    closeRect(tool.drawing(), { x: 0.1, y: 0.2, w: 0.2, h: 0.2 });
    tool.up({ x: 300, y: 200 });
    expect(editor.boxes).toHaveLength(1);
    expect(editor.boxes[0].label).toBe('cat');
    closeRect(editor.boxes[0], { x: 0.1, y: 0.2, w: 0.2, h: 0.2 });
    expect(editor.selected).toBe(editor.boxes[0].key);
    tool.down({ x: 700, y: 400 });
    tool.up({ x: 702, y: 401 });
    expect(editor.boxes).toHaveLength(1);
  });

  it('moves and resizes on drag, one undo step each, and pans with space held', () => {
    const { editor, host, tool } = setup();
    editor.load([box('a', 0.1, 0.2, 0.2, 0.2)]);
    tool.down({ x: 150, y: 150 });
    tool.move({ x: 250, y: 175 });
    expect(tool.preview()[0]).toMatchObject({ x: 0.2, y: 0.25 });
    expect(editor.boxes[0].x).toBe(0.1); // nothing committed mid-drag
    tool.up({ x: 250, y: 175 });
    close(editor.boxes[0].x, 0.2);
    close(editor.boxes[0].y, 0.25);
    tool.down({ x: 400, y: 225 }); // the se handle of the moved box (0.4 * 1000, 0.45 * 500)
    tool.up({ x: 500, y: 300 });
    close(editor.boxes[0].w, 0.3);
    close(editor.boxes[0].h, 0.35);
    editor.undo();
    close(editor.boxes[0].w, 0.2);
    editor.undo();
    close(editor.boxes[0].x, 0.1);
    host.spaceHeld = true;
    tool.down({ x: 10, y: 10 });
    tool.up({ x: 40, y: 30 });
    expect(host.view.tx).toBe(30);
    expect(editor.boxes).toHaveLength(1);
  });

  it('does not draw in classification projects', () => {
    const { editor, tool } = setup(null);
    tool.down({ x: 100, y: 100 });
    tool.up({ x: 300, y: 300 });
    expect(editor.boxes).toHaveLength(0);
  });
});

describe('editor', () => {
  it('relabels, deletes, pastes copies, accepts drafts and undoes each', () => {
    const editor = new BoxEditor();
    editor.load([box('a', 0, 0, 0.1, 0.1), { ...box('d', 0.5, 0.5, 0.1, 0.1, 'dog'), draft: true, confidence: 0.4 }]);
    editor.relabel('a', 'dog');
    expect(editor.boxes[0].label).toBe('dog');
    editor.remove('a');
    expect(editor.boxes.map((b) => b.key)).toEqual(['d']);
    expect(editor.accept()).toBe(1);
    expect(editor.boxes[0].draft).toBe(false);
    editor.paste([box('z', 0.2, 0.2, 0.1, 0.1)]);
    expect(editor.boxes).toHaveLength(2);
    expect(editor.boxes[1].key).not.toBe('z');
    editor.undo(); editor.undo(); editor.undo(); editor.undo();
    expect(editor.boxes.map((b) => [b.key, b.label])).toEqual([['a', 'cat'], ['d', 'dog']]);
    expect(editor.boxes[1].draft).toBe(true);
  });

  it('rejects drafts and takes fresh ones without touching the user\'s boxes', () => {
    const editor = new BoxEditor();
    editor.load([box('mine', 0, 0, 0.1, 0.1), { ...box('d1', 0.5, 0.5, 0.1, 0.1), draft: true }]);
    editor.replaceDrafts([{ ...box('d2', 0.2, 0.2, 0.1, 0.1), draft: true }]);
    expect(editor.boxes.map((b) => b.key)).toEqual(['mine', 'd2']);
    expect(editor.reject()).toBe(1);
    expect(editor.boxes.map((b) => b.key)).toEqual(['mine']);
    editor.undo();
    expect(editor.boxes.map((b) => b.key)).toEqual(['mine', 'd2']);
  });

  it('nudges merge into one undo step and cycle wraps', () => {
    const editor = new BoxEditor();
    editor.load([box('a', 0.5, 0.5, 0.1, 0.1), box('b', 0, 0, 0.1, 0.1)]);
    for (let i = 0; i < 5; i++) editor.nudge('a', 0.01, 0);
    close(editor.boxes[0].x, 0.55);
    editor.undo();
    close(editor.boxes[0].x, 0.5);
    editor.cycle(1); expect(editor.selected).toBe('a');
    editor.cycle(1); expect(editor.selected).toBe('b');
    editor.cycle(1); expect(editor.selected).toBe('a');
    editor.cycle(-1); expect(editor.selected).toBe('b');
  });
});

describe('keys', () => {
  it('maps keys to commands, arrows nudge only with a selection', () => {
    expect(commandFor({ key: '3' }, false)).toEqual({ kind: 'class', index: 2 });
    expect(commandFor({ key: 'ArrowRight' }, false)).toEqual({ kind: 'next' });
    expect(commandFor({ key: 'ArrowRight', shiftKey: true }, true)).toEqual({ kind: 'nudge', dx: 10, dy: 0 });
    expect(commandFor({ key: 'z', ctrlKey: true }, false)).toEqual({ kind: 'undo' });
    expect(commandFor({ key: 'Z', ctrlKey: true, shiftKey: true }, false)).toEqual({ kind: 'redo' });
    expect(commandFor({ key: 'Tab', shiftKey: true }, false)).toEqual({ kind: 'cycle', direction: -1 });
    expect(commandFor({ key: 's' }, false)).toEqual({ kind: 'skip' });
    expect(commandFor({ key: 'x' }, false)).toEqual({ kind: 'rejectDrafts' });
    expect(commandFor({ key: 'm' }, false)).toEqual({ kind: 'suggest' });
    expect(commandFor({ key: 'q' }, false)).toBeNull();
  });

  it('knows when focus is in a text field', () => {
    expect(isTyping({ tagName: 'INPUT', type: 'text' } as unknown as EventTarget)).toBe(true);
    expect(isTyping({ tagName: 'INPUT', type: 'checkbox' } as unknown as EventTarget)).toBe(false);
    expect(isTyping({ tagName: 'DIV' } as unknown as EventTarget)).toBe(false);
  });
});
