// Which browser tab owns a piece of unsaved work. Each tab keeps an id for its whole life (sessionStorage survives a
// reload of that tab) and holds a Web Lock named after it while it is open, so work left by a tab that was closed or
// crashed (nobody holds its lock) is adopted by the next tab that opens, while another open tab's work stays its own
// and is never sent, restored or shown by this one.

const LOCK = 'cvx:tab:';

function newId(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** This tab's id: the same across reloads of the tab, different in every other tab. */
export function tabId(storage: Storage | undefined = globalThis.sessionStorage): string {
  if (!storage) return 'tab';
  let id = storage.getItem('cvx:tab');
  if (!id) {
    id = newId();
    storage.setItem('cvx:tab', id);
  }
  return id;
}

type Locks = { request(name: string, cb: () => Promise<void>): Promise<void>;
               query(): Promise<{ held?: { name?: string }[] }> };

const locks = (): Locks | undefined => (globalThis.navigator as { locks?: Locks } | undefined)?.locks;

let held = false;

/** Holds this tab's lock until the page goes away (the browser releases it then, crash included). */
export function holdTab(id: string): void {
  if (held) return;
  held = true;
  void locks()?.request(`${LOCK}${id}`, () => new Promise<void>(() => {}));
}

/** Ids of the other tabs that are open now (none where the browser has no Web Locks: then every tab adopts). */
export async function otherOpenTabs(id: string): Promise<Set<string>> {
  const api = locks();
  if (!api) return new Set();
  const held = (await api.query()).held ?? [];
  return new Set(held.map((l) => l.name ?? '').filter((n) => n.startsWith(LOCK)).map((n) => n.slice(LOCK.length))
    .filter((t) => t !== id));
}
