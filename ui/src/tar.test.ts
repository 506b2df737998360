// The archive unpacks with the system's tar to exactly the files that went in.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tar } from './tar';

describe('tar', () => {
  it('unpacks with tar -xf', () => {
    const files = [
      { path: 'manifest.json', bytes: new TextEncoder().encode('{"a":1}') },
      { path: 'clips/resident-1-00ff.mp4', bytes: Uint8Array.from({ length: 70_001 }, (_, i) => (i * 7) & 0xff) },
      { path: 'empty', bytes: new Uint8Array() },
    ];
    const dir = mkdtempSync(join(tmpdir(), 'pl-tar-'));
    writeFileSync(join(dir, 'e.tar'), tar(files, 1_790_000_000_000));
    execFileSync('tar', ['-xf', 'e.tar'], { cwd: dir });
    for (const f of files) expect(new Uint8Array(readFileSync(join(dir, f.path)))).toEqual(f.bytes);
  });
});
