// Byte helpers for the crypto format (design/crypto-format.md): big-endian integers,
// `var` (u16 length + bytes), `text` (a `var` holding UTF-8), hex, base64url.

export class FormatError extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'FormatError';
  }
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function unhex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new FormatError('not hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Standard base64 (with padding), as `data:` URLs take it. */
export function bytesToBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function b64url(b: Uint8Array): string {
  return bytesToBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function unb64url(s: string): Uint8Array {
  const t = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(t + '='.repeat((4 - (t.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A WebCrypto-friendly copy (an ArrayBuffer of exactly these bytes). */
export function buf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export class Writer {
  private parts: Uint8Array[] = [];
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  u8(x: number): this {
    return this.bytes(Uint8Array.of(x));
  }
  u16(x: number): this {
    return this.bytes(Uint8Array.of(x >> 8, x & 0xff));
  }
  u32(x: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x);
    return this.bytes(b);
  }
  i64(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(x));
    return this.bytes(b);
  }
  text(s: string): this {
    const b = utf8(s);
    return this.u16(b.length).bytes(b);
  }
  done(): Uint8Array {
    return concat(...this.parts);
  }
}

/** Reads a structure front to back; every read checks the length first. */
export class Reader {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly what: string,
  ) {}
  take(n: number): Uint8Array {
    if (this.pos + n > this.b.length) throw new FormatError(`${this.what}: truncated`);
    const s = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }
  u32(): number {
    return new DataView(buf(this.take(4))).getUint32(0);
  }
  i64(): number {
    const v = new DataView(buf(this.take(8))).getBigInt64(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new FormatError(`${this.what}: integer out of range`);
    }
    return Number(v);
  }
  u64(): number {
    const v = new DataView(buf(this.take(8))).getBigUint64(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`${this.what}: integer out of range`);
    return Number(v);
  }
  text(min: number, max: number, field: string): string {
    const b = this.take(this.u16());
    let s: string;
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      throw new FormatError(`${this.what}: ${field} is not UTF-8`);
    }
    if (b.length < min || b.length > max) throw new FormatError(`${this.what}: ${field} length ${b.length}`);
    return s;
  }
  magic(m: string): void {
    const got = new TextDecoder().decode(this.take(4));
    if (got !== m) throw new FormatError(`${this.what}: expected magic ${m}`);
    const v = this.u8();
    if (v !== 1) throw new FormatError(`${this.what}: unsupported version ${v}`);
  }
  end(): void {
    if (this.pos !== this.b.length) throw new FormatError(`${this.what}: trailing bytes`);
  }
}
