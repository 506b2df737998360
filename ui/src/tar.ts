// A POSIX ustar archive of files held in memory: how the agency portal saves an evidence
// export as one download (`tar -xf` gives the folder `porchlight verify-evidence` checks).
import { concat, utf8 } from './crypto/bytes';

function field(b: Uint8Array, at: number, len: number, s: string) {
  b.set(utf8(s).subarray(0, len), at);
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0');
}

function header(path: string, size: number, mtimeS: number): Uint8Array {
  if (utf8(path).length > 100) throw new Error(`tar: ${path} is longer than 100 bytes`);
  const h = new Uint8Array(512);
  field(h, 0, 100, path);
  field(h, 100, 8, octal(0o644, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(size, 12));
  field(h, 136, 12, octal(mtimeS, 12));
  field(h, 148, 8, '        ');
  h[156] = 0x30; // a regular file
  field(h, 257, 6, 'ustar');
  field(h, 263, 2, '00');
  let sum = 0;
  for (const x of h) sum += x;
  field(h, 148, 8, `${octal(sum, 7)}\0`);
  return h;
}

export function tar(files: { path: string; bytes: Uint8Array }[], mtimeMs: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(header(f.path, f.bytes.length, Math.floor(mtimeMs / 1000)), f.bytes);
    const pad = (512 - (f.bytes.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024));
  return concat(...parts);
}
