// The account's keyring lives in this browser only (localStorage, per account, and a copy
// in IndexedDB for the service worker that opens alerts while no page is open). It leaves
// only as the recovery-code-sealed backup the server keeps (design/crypto-format.md).
import { hex, unhex } from './crypto/bytes';
import { type Keyring, encodeKeyring, parseKeyring } from './crypto/format';
import { idbDelete, idbPut } from './idb';

const slot = (account: string) => `porchlight.keys.${account}`;

export function loadKeyring(account: string): Keyring | null {
  const t = localStorage.getItem(slot(account));
  if (!t) return null;
  try {
    return parseKeyring(unhex(t));
  } catch {
    localStorage.removeItem(slot(account));
    return null;
  }
}

export function saveKeyring(account: string, k: Keyring): void {
  localStorage.setItem(slot(account), hex(encodeKeyring(k)));
  void mirrorKeyring(account, k);
}

export function forgetKeyring(account: string): void {
  localStorage.removeItem(slot(account));
  idbDelete('keys', account).catch(() => {});
}

/** Copies the keyring, and which account each of `households` is, where the service
 * worker can read them (no IndexedDB, as in some private windows: alerts then say less). */
export async function mirrorKeyring(account: string, k: Keyring, households: string[] = []): Promise<void> {
  try {
    await idbPut('keys', account, hex(encodeKeyring(k)));
    for (const h of households) await idbPut('households', h, account);
  } catch {
    // The app works without it.
  }
}
