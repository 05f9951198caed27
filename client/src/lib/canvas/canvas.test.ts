import { describe, expect, it } from 'vitest';
import { clampRect, moveRect, rectFromPoints, resizeRect, type Ann } from './boxes';
import { BoxEditor } from './editor';
import { History, MERGE_WINDOW_MS } from './history';
import { hitTest, screenRect } from './hit';
import { PointerTool, type ToolHost } from './tools';
import { carry, fit, fromDevice, toDevice, toImage, toScreen, zoomAt, pan, type View } from './view';
import { commandFor, isTyping } from '../label/keys';
import { bindingOf, defaultBindings, keyLabel, keyMapOf, resolveBindings, resolveHeld } from '../label/bindings';

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

describe('zoom kept across images', () => {
  it('keeps the zoom relative to the fit and the normalised centre, whatever the next image\'s size', () => {
    const fitted = fit(1000, 500, 800, 600);
    const zoomed = zoomAt(fitted, { x: 200, y: 150 }, 3);
    const centreBefore = toImage(zoomed, { x: 400, y: 300 });
    const next = carry(zoomed, 1000, 500, 2000, 1000, 800, 600);
    close(next.scale / fit(2000, 1000, 800, 600).scale, 3);
    const centreAfter = toImage(next, { x: 400, y: 300 });
    close(centreAfter.x / 2000, centreBefore.x / 1000);
    close(centreAfter.y / 1000, centreBefore.y / 500);
    const same = carry(zoomed, 1000, 500, 1000, 500, 800, 600);
    close(same.tx, zoomed.tx);
    close(same.scale, zoomed.scale);
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

  it('moves with Alt+drag or the grip and resizes by a handle, one undo step each; pans with space held', () => {
    const { editor, host, tool } = setup();
    editor.load([box('a', 0.1, 0.2, 0.2, 0.2)]);
    tool.down({ x: 150, y: 150 }, 0, { alt: true });
    tool.move({ x: 250, y: 175 });
    expect(tool.preview()[0]).toMatchObject({ x: 0.2, y: 0.25 });
    expect(editor.boxes[0].x).toBe(0.1); // nothing committed mid-drag
    tool.up({ x: 250, y: 175 });
    close(editor.boxes[0].x, 0.2);
    close(editor.boxes[0].y, 0.25);
    tool.down({ x: 400, y: 225 }); // the se handle of the moved box (0.4 * 1000, 0.45 * 500), selected by the move
    tool.up({ x: 500, y: 300 });
    close(editor.boxes[0].w, 0.3);
    close(editor.boxes[0].h, 0.35);
    tool.down({ x: 350, y: 212.5 }); // its centre grip: (0.2 + 0.15) * 1000, (0.25 + 0.175) * 500
    tool.up({ x: 450, y: 212.5 });
    close(editor.boxes[0].x, 0.3);
    editor.undo();
    close(editor.boxes[0].x, 0.2);
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

  it('draws a new box with a drag that starts inside another box, which stays where it is', () => {
    const { editor, tool } = setup();
    editor.load([box('bike', 0.1, 0.1, 0.6, 0.8)]);
    tool.down({ x: 200, y: 100 });
    tool.up({ x: 400, y: 300 });
    expect(editor.boxes).toHaveLength(2);
    closeRect(editor.boxes[0], { x: 0.1, y: 0.1, w: 0.6, h: 0.8 });
    closeRect(editor.boxes[1], { x: 0.2, y: 0.2, w: 0.2, h: 0.4 });
  });

  it('draws click–click: a click on empty image places a corner, the next click the opposite one', () => {
    const { editor, tool } = setup();
    const click = (p: { x: number; y: number }) => { tool.down(p); tool.up(p); };
    click({ x: 100, y: 100 });
    expect(tool.corner()).toMatchObject({ x: 0.1, y: 0.2 });
    tool.move({ x: 500, y: 400 });
    closeRect(tool.drawing(), { x: 0.1, y: 0.2, w: 0.4, h: 0.6 });
    click({ x: 500, y: 400 });
    expect(editor.boxes).toHaveLength(1);
    closeRect(editor.boxes[0], { x: 0.1, y: 0.2, w: 0.4, h: 0.6 });
    click({ x: 700, y: 50 }); // a click on empty image with a box selected only deselects
    expect(editor.selection).toEqual([]);
    expect(tool.corner()).toBeNull();
    click({ x: 700, y: 50 }); // now a first corner; the second click may land inside a box
    click({ x: 300, y: 300 });
    expect(editor.boxes).toHaveLength(2);
    closeRect(editor.boxes[1], { x: 0.3, y: 0.1, w: 0.4, h: 0.5 });
    editor.select(null);
    click({ x: 900, y: 450 });
    expect(tool.cancel()).toBe(true); // Esc
    expect(tool.corner()).toBeNull();
    expect(editor.boxes).toHaveLength(2);
  });

  it('selects by click (the smallest box), Shift/Ctrl+click toggles, Shift+drag selects inside a band', () => {
    const { editor, tool } = setup();
    editor.load([box('big', 0.1, 0.1, 0.6, 0.8), box('small', 0.2, 0.2, 0.1, 0.1), box('far', 0.8, 0.8, 0.1, 0.1)]);
    const click = (x: number, y: number, mods = {}) => { tool.down({ x, y }, 0, mods); tool.up({ x, y }); };
    click(250, 125);
    expect(editor.selection).toEqual(['small']);
    click(500, 300, { shift: true });
    expect(editor.selection).toEqual(['small', 'big']);
    click(250, 125, { ctrl: true });
    expect(editor.selection).toEqual(['big']);
    tool.down({ x: 750, y: 350 }, 0, { shift: true });
    tool.move({ x: 990, y: 490 });
    expect(tool.band()).not.toBeNull();
    tool.up({ x: 990, y: 490 });
    expect(editor.selection).toEqual(['big', 'far']);
    expect(editor.boxes).toHaveLength(3); // a band draws nothing
    editor.selectAll();
    expect(editor.selection).toEqual(['big', 'small', 'far']);
  });

  it('moves a whole selection with Alt+drag as one step, stopping the group at the image edge', () => {
    const { editor, tool } = setup();
    editor.load([box('a', 0.1, 0.1, 0.1, 0.1), box('b', 0.5, 0.5, 0.2, 0.2)]);
    editor.selectAll();
    tool.down({ x: 150, y: 75 }, 0, { alt: true });
    tool.up({ x: 650, y: 75 }); // +0.5: b would leave the image, so the group stops at +0.3
    close(editor.boxes[0].x, 0.4);
    close(editor.boxes[1].x, 0.8);
    close(editor.boxes[1].w, 0.2);
    editor.undo();
    close(editor.boxes[0].x, 0.1);
    close(editor.boxes[1].x, 0.5);
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

  it('relabels, nudges, deletes and copies a selection as one undo step each', () => {
    const editor = new BoxEditor();
    editor.load([box('a', 0.1, 0.1, 0.1, 0.1), box('b', 0.3, 0.3, 0.1, 0.1, 'dog'), box('c', 0.6, 0.6, 0.1, 0.1)]);
    editor.select('a');
    editor.toggle('b');
    expect(editor.relabelSelected('bird')).toBe(2);
    expect(editor.boxes.map((b) => b.label)).toEqual(['bird', 'bird', 'cat']);
    for (let i = 0; i < 3; i++) editor.nudgeSelected(0.01, 0);
    close(editor.boxes[0].x, 0.13);
    close(editor.boxes[1].x, 0.33);
    close(editor.boxes[2].x, 0.6);
    editor.undo(); // the three nudges
    close(editor.boxes[1].x, 0.3);
    editor.undo(); // the relabel of both
    expect(editor.boxes.map((b) => b.label)).toEqual(['cat', 'dog', 'cat']);
    expect(editor.removeSelected()).toBe(2);
    expect(editor.boxes.map((b) => b.key)).toEqual(['c']);
    editor.undo();
    expect(editor.boxes.map((b) => b.key)).toEqual(['a', 'b', 'c']);
    editor.paste(editor.boxes.slice(0, 2));
    expect(editor.selection).toHaveLength(2); // the copies, ready to move together
    expect(editor.selection).not.toContain('a');
    expect(editor.clear()).toBe(5);
    editor.undo();
    expect(editor.boxes).toHaveLength(5);
  });

  it('nudges merge into one undo step and cycle wraps', () => {
    const editor = new BoxEditor();
    editor.load([box('a', 0.5, 0.5, 0.1, 0.1), box('b', 0, 0, 0.1, 0.1)]);
    editor.select('a');
    for (let i = 0; i < 5; i++) editor.nudgeSelected(0.01, 0);
    close(editor.boxes[0].x, 0.55);
    editor.undo();
    close(editor.boxes[0].x, 0.5);
    editor.select(null);
    editor.cycle(1); expect(editor.selected).toBe('a');
    editor.cycle(1); expect(editor.selected).toBe('b');
    editor.cycle(1); expect(editor.selected).toBe('a');
    editor.cycle(-1); expect(editor.selected).toBe('b');
  });
});

describe('keys', () => {
  it('maps keys to commands, arrows nudge only with a selection', () => {
    const keys = defaultBindings(['a', 'b', 'c']);
    expect(commandFor({ key: '3', code: 'Digit3' }, false, keys)).toEqual({ kind: 'class', index: 2 });
    expect(commandFor({ key: '1', code: 'Digit1' }, false, keys)).toEqual({ kind: 'class', index: 0 });
    expect(commandFor({ key: '4', code: 'Digit4' }, false, keys)).toBeNull();
    expect(commandFor({ key: 'e', code: 'KeyE' }, false, keys)).toEqual({ kind: 'none' });
    expect(commandFor({ key: 'a', code: 'KeyA', ctrlKey: true }, false, keys)).toEqual({ kind: 'selectAll' });
    expect(commandFor({ key: '0', code: 'Digit0' }, false, keys)).toEqual({ kind: 'fit' });
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

  it('reaches more than nine classes (Shift+digit), and layers the owner\'s then the user\'s key map', () => {
    const classes = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const d = defaultBindings(classes);
    expect(d.classKeys.slice(8, 11)).toEqual(['9', 'Shift+1', 'Shift+2']);
    expect(d.classKeys[19]).toBe(''); // past 18: only by remapping
    expect(commandFor({ key: '!', code: 'Digit1', shiftKey: true }, false, d)).toEqual({ kind: 'class', index: 9 });
    expect(bindingOf({ key: 'Q', code: 'KeyQ', shiftKey: true })).toBe('Shift+q');
    expect(bindingOf({ key: 'ArrowLeft', code: 'ArrowLeft' })).toBe('ArrowLeft');
    expect(bindingOf({ key: '?', code: 'Slash', shiftKey: true })).toBe('?'); // punctuation as typed
    expect(bindingOf({ key: 'Shift', code: 'ShiftLeft', shiftKey: true })).toBeNull();
    expect(keyLabel('Shift+q')).toBe('⇧Q');
    const owner = { classes: { c19: 'q', c0: '2' }, none: 'Shift+0' };
    const mine = { classes: { c5: 'q' }, none: null };
    const b = resolveBindings(classes, [owner, mine]);
    expect(b.classKeys[0]).toBe('2');
    expect(b.classKeys[1]).toBe(''); // its key went to c0
    expect(b.classKeys[19]).toBe(''); // the user took q for c5
    expect(b.classKeys[5]).toBe('q');
    expect(b.noneKey).toBe('Shift+0');
    expect(commandFor({ key: 'q', code: 'KeyQ' }, false, b)).toEqual({ kind: 'class', index: 5 });
    const ownerOnly = resolveBindings(classes, [owner]);
    const diff = keyMapOf(classes, resolveHeld(classes, [owner, mine]), resolveHeld(classes, [owner]));
    expect(resolveBindings(classes, [owner, diff]).classKeys).toEqual(b.classKeys);
    expect(ownerOnly.classKeys[19]).toBe('q');
    expect(resolveBindings(classes, [{ classes: { c1: 'not a key' } }]).classKeys[1]).toBe('2');
  });

  it('remaps every action: a key taken from whatever else could act at that moment, nudges share the arrows', () => {
    const classes = ['cat', 'dog'];
    const owner = { classes: { cat: 's' }, actions: { SKIP: ['w'], UNDO: ['Ctrl+u'] } };
    const mine = { classes: {}, actions: { NUDGE_LEFT: ['j'], SAVE_NEXT: ['Enter', 'k'], HELP: ['Ctrl+s'] } };
    const b = resolveBindings(classes, [owner, mine]);
    expect(commandFor({ key: 's', code: 'KeyS' }, false, b)).toEqual({ kind: 'class', index: 0 });
    expect(commandFor({ key: 'w', code: 'KeyW' }, false, b)).toEqual({ kind: 'skip' });
    expect(commandFor({ key: 'u', code: 'KeyU', ctrlKey: true }, false, b)).toEqual({ kind: 'undo' });
    expect(commandFor({ key: 'z', code: 'KeyZ', ctrlKey: true }, false, b)).toBeNull(); // undo moved away
    expect(commandFor({ key: 'k', code: 'KeyK' }, false, b)).toEqual({ kind: 'saveNext' });
    expect(commandFor({ key: '?', code: 'Slash' }, false, b)).toBeNull();
    expect(commandFor({ key: 's', code: 'KeyS', ctrlKey: true }, false, b)).toEqual({ kind: 'help' });
    // J nudges only with boxes selected; the left arrow still browses without a selection, and does nothing with one
    expect(commandFor({ key: 'j', code: 'KeyJ' }, true, b)).toEqual({ kind: 'nudge', dx: -1, dy: 0 });
    expect(commandFor({ key: 'j', code: 'KeyJ' }, false, b)).toBeNull();
    expect(commandFor({ key: 'ArrowLeft' }, false, b)).toEqual({ kind: 'prev' });
    expect(commandFor({ key: 'ArrowLeft' }, true, b)).toBeNull();
    // a nudge given an arrow keeps previous / next image on it (they never act at the same moment)
    const arrows = resolveBindings(classes, [{ classes: {}, actions: { NUDGE_UP: ['ArrowRight'] } }]);
    expect(arrows.actionKeys.NEXT).toEqual(['ArrowRight']);
    expect(arrows.actionKeys.NUDGE_RIGHT).toEqual([]);
    expect(commandFor({ key: 'ArrowRight' }, true, arrows)).toEqual({ kind: 'nudge', dx: 0, dy: -1 });
    // the key editor writes what differs from the layer below, the keys it took from others too
    const held = resolveHeld(classes, [owner]);
    const edited = new Map(held);
    edited.set('FIT', ['n']);
    edited.set('NEXT_NEEDING_WORK', []);
    expect(keyMapOf(classes, edited, held)).toEqual({ classes: {}, actions: { NEXT_NEEDING_WORK: [], FIT: ['n'] } });
    expect(keyLabel('Ctrl+Shift+z')).toBe('Ctrl+⇧Z');
    expect(keyLabel('ArrowLeft')).toBe('←');
  });

  it('knows when focus is in a text field', () => {
    expect(isTyping({ tagName: 'INPUT', type: 'text' } as unknown as EventTarget)).toBe(true);
    expect(isTyping({ tagName: 'INPUT', type: 'checkbox' } as unknown as EventTarget)).toBe(false);
    expect(isTyping({ tagName: 'DIV' } as unknown as EventTarget)).toBe(false);
  });
});
