// The one way the app shows a moment: relative while recent ("5 min ago"), then "7 Dec 2026, 14:05" in the
// browser's time zone; days alone (an estimate) as "24 Dec 2026".

const ABSOLUTE: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit',
                                               minute: '2-digit', hour12: false };
const DAY: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'short', year: 'numeric' };

/** A past (or present) moment: relative within a week, absolute after; '' for no date. */
export function when(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s >= -60 && s < 60) return 'just now';
  if (s >= 0 && s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s >= 0 && s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s >= 0 && s < 7 * 86400) {
    const d = Math.floor(s / 86400);
    return d === 1 ? 'yesterday' : `${d} days ago`;
  }
  return absolute(iso);
}

/** The moment in full (a tooltip beside a relative one). */
export function absolute(iso: string): string {
  return new Date(iso).toLocaleString('en-GB', ABSOLUTE);
}

/** A day: "24 Dec 2026". */
export function day(iso: string): string {
  return new Date(iso).toLocaleDateString('en-GB', DAY);
}
