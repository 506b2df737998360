// The account's keyring lives in this browser only (localStorage, per account). It leaves
// only as the recovery-code-sealed backup the server keeps (design/crypto-format.md).
import { hex, unhex } from './crypto/bytes';
import { type Keyring, encodeKeyring, parseKeyring } from './crypto/format';

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
}

export function forgetKeyring(account: string): void {
  localStorage.removeItem(slot(account));
}
