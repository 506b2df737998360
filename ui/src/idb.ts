// What the service worker needs to open an alert while no page is open: each account's
// keyring (the same bytes as localStorage holds; a service worker cannot read
// localStorage), which account each household belongs to in this browser, and the names
// the owner gave each household's cameras (names.ts), so that an alert names the camera as
// the app does. Same-origin
// storage, like localStorage: nothing here leaves the browser.

const DB = 'porchlight';
const STORES = ['keys', 'households', 'names'] as const;
type Store = (typeof STORES)[number];

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 2);
    r.onupgradeneeded = () => {
      for (const s of STORES) if (!r.result.objectStoreNames.contains(s)) r.result.createObjectStore(s);
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB did not open'));
  });
}

async function run<T>(store: Store, mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const r = f(tx.objectStore(store));
      tx.oncomplete = () => resolve(r.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export function idbPut(store: Store, key: string, value: string): Promise<IDBValidKey> {
  return run(store, 'readwrite', (s) => s.put(value, key));
}

export function idbGet(store: Store, key: string): Promise<string | undefined> {
  return run(store, 'readonly', (s) => s.get(key) as IDBRequest<string | undefined>);
}

export function idbDelete(store: Store, key: string): Promise<undefined> {
  return run(store, 'readwrite', (s) => s.delete(key));
}
