// A household's exact home point, sealed for one account's own keys: the format of
// crates/crypto/src/home.rs (design/crypto-format.md). The server keeps only these bytes
// and the point's H3 cell.
import { type Keyring, hpkeOpen, hpkeSeal, p256Public } from './crypto/format';
import { concat, hex, unhex, utf8 } from './crypto/bytes';

const POINT_MAGIC = utf8('PLHP');
const POINT_INFO = utf8('porchlight/home-point/v1');

/** The exact home point sealed for this account's own keys: `PLHP`, version 1, the HPKE
 * encapsulation and the sealed latitude and longitude (two little-endian f64). */
export async function sealPoint(keys: Keyring, hid: string, lat: number, lon: number): Promise<string> {
  const pt = new Uint8Array(16);
  const v = new DataView(pt.buffer);
  v.setFloat64(0, lat, true);
  v.setFloat64(8, lon, true);
  const { enc, ct } = await hpkeSeal(await p256Public(keys.encryptionSecret), POINT_INFO, utf8(hid), pt);
  return hex(concat(POINT_MAGIC, Uint8Array.of(1), enc, ct));
}

export async function openPoint(secret: Keyring['encryptionSecret'], hid: string, sealed: string): Promise<[number, number] | null> {
  const b = unhex(sealed);
  if (b.length < 5 + 65 + 16 || hex(b.subarray(0, 4)) !== hex(POINT_MAGIC) || b[4] !== 1) return null;
  try {
    const pt = await hpkeOpen(secret, b.subarray(5, 70), POINT_INFO, utf8(hid), b.subarray(70));
    const v = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
    return [v.getFloat64(0, true), v.getFloat64(8, true)];
  } catch {
    // Sealed by another member's keys: only they can read it.
    return null;
  }
}

