// The labelling view's keyboard map: a KeyboardEvent to a command, nothing else. Class keys and the "none of these /
// no objects" key come from a key map (defaults, then the project owner's, then the user's own; see bindings.ts);
// everything else is fixed. Keys typed into inputs are ignored by the caller (see isTyping).

import { bindingOf, defaultBindings, type Bindings } from './bindings';

export type Command =
  | { kind: 'class'; index: number } | { kind: 'none' } | { kind: 'selectAll' }
  | { kind: 'prev' } | { kind: 'next' } | { kind: 'nextNeedingWork' }
  | { kind: 'saveNext' } | { kind: 'skip' }
  | { kind: 'delete' } | { kind: 'deselect' }
  | { kind: 'cycle'; direction: 1 | -1 }
  | { kind: 'nudge'; dx: number; dy: number } // in screen px
  | { kind: 'undo' } | { kind: 'redo' }
  | { kind: 'copy' } | { kind: 'paste' } | { kind: 'copyPrevious' }
  | { kind: 'toggleBoxes' } | { kind: 'acceptDrafts' } | { kind: 'rejectDrafts' } | { kind: 'suggest' }
  | { kind: 'zoomIn' } | { kind: 'zoomOut' } | { kind: 'fit' }
  | { kind: 'help' } | { kind: 'gallery' };

interface KeyLike { key: string; code?: string; ctrlKey?: boolean; metaKey?: boolean; shiftKey?: boolean;
                    altKey?: boolean }

/** The command for a key press; `boxSelected` turns the arrows into nudges instead of image navigation. */
export function commandFor(e: KeyLike, boxSelected: boolean, keys: Bindings = defaultBindings([])): Command | null {
  const mod = e.ctrlKey || e.metaKey;
  const k = e.key;
  const bound = keys.byKey.get(bindingOf(e) ?? '');
  if (bound !== undefined) return bound === 'none' ? { kind: 'none' } : { kind: 'class', index: bound };
  if (mod) {
    const lower = k.toLowerCase();
    if (lower === 'a') return { kind: 'selectAll' };
    if (lower === 'z') return e.shiftKey ? { kind: 'redo' } : { kind: 'undo' };
    if (lower === 'y') return { kind: 'redo' };
    if (lower === 'c') return { kind: 'copy' };
    if (lower === 'v') return { kind: 'paste' };
    return null;
  }
  if (e.altKey) return null;
  const step = e.shiftKey ? 10 : 1;
  if (boxSelected) {
    if (k === 'ArrowLeft') return { kind: 'nudge', dx: -step, dy: 0 };
    if (k === 'ArrowRight') return { kind: 'nudge', dx: step, dy: 0 };
    if (k === 'ArrowUp') return { kind: 'nudge', dx: 0, dy: -step };
    if (k === 'ArrowDown') return { kind: 'nudge', dx: 0, dy: step };
  }
  switch (k) {
    case 'ArrowLeft': return { kind: 'prev' };
    case 'ArrowRight': return { kind: 'next' };
    case 'Enter': return { kind: 'saveNext' };
    case 'Delete': case 'Backspace': return { kind: 'delete' };
    case 'Escape': return { kind: 'deselect' };
    case 'Tab': return { kind: 'cycle', direction: e.shiftKey ? -1 : 1 };
    case ']': return { kind: 'cycle', direction: 1 };
    case '[': return { kind: 'cycle', direction: -1 };
    case '+': case '=': return { kind: 'zoomIn' };
    case '-': case '_': return { kind: 'zoomOut' };
    case '0': return { kind: 'fit' };
    case '?': return { kind: 'help' };
  }
  switch (k.toLowerCase()) {
    case 'n': return { kind: 'nextNeedingWork' };
    case 's': return { kind: 'skip' };
    case 'h': return { kind: 'toggleBoxes' };
    case 'p': return { kind: 'copyPrevious' };
    case 'a': return { kind: 'acceptDrafts' };
    case 'x': return { kind: 'rejectDrafts' };
    case 'm': return { kind: 'suggest' };
    case 'g': return { kind: 'gallery' };
  }
  return null;
}

/** Whether focus is in a text field, where keys belong to the field. */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select' || el.isContentEditable) return true;
  if (tag !== 'input') return false;
  const type = (el as HTMLInputElement).type;
  return !['button', 'checkbox', 'radio', 'range', 'submit', 'reset'].includes(type);
}

/** The shortcut sheet, in the order it is shown (the class keys and the "none" key are listed from the actual key
 * map by the sheet itself). */
export const SHORTCUTS: [string, string][] = [
  ['← / →', 'previous / next image (this image’s edit is saved first; browsing alone never changes a label)'],
  ['N', 'next image needing work'],
  ['Enter', 'save, then the next image (in order, or the next that needs work: the “After saving” choice) · ' +
            'multi-label with every label off: “none of these” · detection with no boxes: “no objects”'],
  ['S', 'skip the image as it is stored (an edit not yet saved is dropped)'],
  ['drag', 'draw a box, wherever it starts (inside another box too)'],
  ['click, click', 'draw a box by two opposite corners (first click on empty image with nothing selected; Esc ' +
                   'cancels)'],
  ['click', 'select the box under the pointer (the smallest) · on empty image: deselect'],
  ['Shift/Ctrl + click', 'add a box to the selection, or take it out'],
  ['Shift/Ctrl + drag', 'select the boxes inside a rubber band'],
  ['Ctrl+A', 'select all boxes'],
  ['Alt + drag, ✥ grip', 'move a box (or the whole selection); the handles of a single selected box resize it'],
  ['Space + drag', 'pan (or middle/right drag)'],
  ['wheel, + / −', 'zoom at the pointer, in / out (the zoom and pan stay when you go to the next image)'],
  ['0', 'fit the image to the view again'],
  ['Tab / Shift+Tab, [ ]', 'select next / previous box'],
  ['arrows (Shift ×10)', 'nudge the selected boxes'],
  ['Delete / Backspace', 'delete the selected boxes'],
  ['Esc', 'cancel a click–click box, else deselect'],
  ['Ctrl+Z / Ctrl+Shift+Z', 'undo / redo (a group relabel, delete, nudge or move is one step)'],
  ['Ctrl+C / Ctrl+V', 'copy the selected boxes (or all) / paste (the pasted boxes are selected)'],
  ['P', 'bring over all boxes of the previous image'],
  ['M', 'suggest: ask the model about this image (its predictions arrive as dashed drafts)'],
  ['A', 'accept the selected model drafts (or all drafts)'],
  ['X', 'reject the selected model drafts (or all drafts)'],
  ['H', 'hide / show boxes'],
  ['G', 'back to the project'],
  ['?', 'this sheet'],
];
