// The labelling view's keyboard map: a KeyboardEvent to a command, nothing else. Which key does what comes from the
// key map in force (defaults, then the project owner's, then the user's own; see bindings.ts). Keys typed into
// inputs are ignored by the caller (see isTyping).

import { bindingOf, defaultBindings, holderOf, type Action, type Bindings } from './bindings';

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

/** What each action of db/label_actions.json does. */
const COMMANDS: Record<Action, Command> = {
  PREVIOUS: { kind: 'prev' }, NEXT: { kind: 'next' }, NEXT_NEEDING_WORK: { kind: 'nextNeedingWork' },
  SAVE_NEXT: { kind: 'saveNext' }, SKIP: { kind: 'skip' }, SELECT_ALL: { kind: 'selectAll' },
  DESELECT: { kind: 'deselect' }, DELETE: { kind: 'delete' },
  NEXT_BOX: { kind: 'cycle', direction: 1 }, PREVIOUS_BOX: { kind: 'cycle', direction: -1 },
  NUDGE_LEFT: { kind: 'nudge', dx: -1, dy: 0 }, NUDGE_RIGHT: { kind: 'nudge', dx: 1, dy: 0 },
  NUDGE_UP: { kind: 'nudge', dx: 0, dy: -1 }, NUDGE_DOWN: { kind: 'nudge', dx: 0, dy: 1 },
  NUDGE_LEFT_FAR: { kind: 'nudge', dx: -10, dy: 0 }, NUDGE_RIGHT_FAR: { kind: 'nudge', dx: 10, dy: 0 },
  NUDGE_UP_FAR: { kind: 'nudge', dx: 0, dy: -10 }, NUDGE_DOWN_FAR: { kind: 'nudge', dx: 0, dy: 10 },
  UNDO: { kind: 'undo' }, REDO: { kind: 'redo' }, COPY: { kind: 'copy' }, PASTE: { kind: 'paste' },
  COPY_PREVIOUS: { kind: 'copyPrevious' }, SUGGEST: { kind: 'suggest' }, ACCEPT_DRAFTS: { kind: 'acceptDrafts' },
  REJECT_DRAFTS: { kind: 'rejectDrafts' }, TOGGLE_BOXES: { kind: 'toggleBoxes' }, ZOOM_IN: { kind: 'zoomIn' },
  ZOOM_OUT: { kind: 'zoomOut' }, FIT: { kind: 'fit' }, GALLERY: { kind: 'gallery' }, HELP: { kind: 'help' },
};

interface KeyLike { key: string; code?: string; ctrlKey?: boolean; metaKey?: boolean; shiftKey?: boolean;
                    altKey?: boolean }

/** The command for a key press; `boxSelected` makes the nudge keys act (by default the arrows, which browse
 * images when nothing is selected). */
export function commandFor(e: KeyLike, boxSelected: boolean, keys: Bindings = defaultBindings([])): Command | null {
  const who = holderOf(keys, bindingOf(e), boxSelected);
  if (who === undefined) return null;
  if (typeof who === 'number') return { kind: 'class', index: who };
  if (who === 'none') return { kind: 'none' };
  return COMMANDS[who] ?? null;
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

/** The pointer's part of the shortcut sheet (the keys are listed from the actual key map by the sheet itself). */
export const POINTER: [string, string][] = [
  ['drag', 'draw a box, wherever it starts (inside another box too)'],
  ['click, click', 'draw a box by two opposite corners (first click on empty image with nothing selected; the ' +
                   'deselect key cancels)'],
  ['click', 'select the box under the pointer (the smallest) · on empty image: deselect'],
  ['Shift/Ctrl + click', 'add a box to the selection, or take it out'],
  ['Shift/Ctrl + drag', 'select the boxes inside a rubber band'],
  ['Alt + drag, ✥ grip', 'move a box (or the whole selection); the handles of a single selected box resize it'],
  ['Space + drag', 'pan (or middle/right drag)'],
  ['wheel', 'zoom at the pointer'],
];
