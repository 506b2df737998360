// The names the owner gave the cameras (sealed in the household settings), for every screen
// that shows a camera: the timeline, its filter, the player, alerts, requests. A member the
// settings are not sealed for yet (or no settings at all) sees the agent's own names.
import { useEffect, useState } from 'react';
import type { Keyring } from './crypto/format';
import { idbPut } from './idb';
import { loadSettings } from './settings';

export type Names = Record<string, string>;

const cache = new Map<string, Promise<Names>>();

/** The household's camera names, fetched and opened once per page (again after `forget`). */
export function cameraNames(hid: string, keys: Keyring): Promise<Names> {
  let p = cache.get(hid);
  if (!p) {
    p = loadSettings(hid, keys).then(
      (l) => {
        const names: Names = Object.fromEntries(Object.entries(l?.settings.cameras ?? {}).flatMap(([k, c]) => (c.label ? [[k, c.label]] : [])));
        // For the service worker's alerts; best effort (private windows may refuse).
        idbPut('names', hid, JSON.stringify(names)).catch(() => {});
        return names;
      },
      () => ({}),
    );
    cache.set(hid, p);
  }
  return p;
}

// The owner saved new settings (settings.ts says so): read the names again.
globalThis.addEventListener?.('porchlight:settings-saved', (e) => {
  cache.delete((e as CustomEvent<string>).detail);
  dispatchEvent(new CustomEvent('porchlight:names'));
});

/** A function from a camera's agent name to the name to show; re-renders when the names change. */
export function useCameraNames(hid: string, keys: Keyring): (camera: string) => string {
  const [names, setNames] = useState<Names>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((t) => t + 1);
    addEventListener('porchlight:names', bump);
    return () => removeEventListener('porchlight:names', bump);
  }, []);
  useEffect(() => {
    let live = true;
    void cameraNames(hid, keys).then((n) => live && setNames(n));
    return () => {
      live = false;
    };
  }, [hid, keys, tick]);
  return (camera: string) => names[camera] ?? camera;
}
