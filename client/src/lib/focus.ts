/** Keeps Tab inside an open dialog (the page behind it is inert while it is open): from the last control to the
 * first and back, and into the dialog when the focus is nowhere (its element went away). */
export function keepTabInside(e: KeyboardEvent, dialog: HTMLElement): void {
  if (e.key !== 'Tab') return;
  const focusable = [...dialog.querySelectorAll<HTMLElement>('input, select, button, a[href]')]
    .filter((el) => !(el as HTMLButtonElement).disabled);
  if (!focusable.length) return;
  const first = focusable[0], last = focusable[focusable.length - 1];
  if (!dialog.contains(document.activeElement)) { e.preventDefault(); (e.shiftKey ? last : first).focus(); }
  else if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
  else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
}
