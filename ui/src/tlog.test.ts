// Against Certificate Transparency's reference tree (the vectors crates/crypto/tests/tlog.rs uses).
import { describe, expect, it } from 'vitest';
import { hex, unhex } from './crypto/bytes';
import { leafHash, rootOf, verifyInclusion } from './tlog';

const ENTRIES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('transparency log', () => {
  it('gives the reference heads at every size', async () => {
    const leaves = await Promise.all(ENTRIES.map((e) => leafHash(unhex(e))));
    for (let n = 0; n <= 8; n++) expect(hex(await rootOf(leaves.slice(0, n)))).toBe(ROOTS[n]);
  });
  it('checks the reference inclusion proofs, and refuses altered ones', async () => {
    const leaves = await Promise.all(ENTRIES.map((e) => leafHash(unhex(e))));
    const root = unhex(ROOTS[8]!);
    const proofs: [number, string[]][] = [
      [0, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
      [5, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
    ];
    for (const [i, p] of proofs) {
      const path = p.map(unhex);
      expect(await verifyInclusion(leaves[i]!, i, 8, path, root)).toBe(true);
      expect(await verifyInclusion(leaves[i]!, i + 1, 8, path, root)).toBe(false);
      expect(await verifyInclusion(leaves[(i + 1) % 8]!, i, 8, path, root)).toBe(false);
      const bad = path.map((h) => h.slice());
      bad[1]![0]! ^= 1;
      expect(await verifyInclusion(leaves[i]!, i, 8, bad, root)).toBe(false);
      expect(await verifyInclusion(leaves[i]!, i, 8, path.slice(0, 2), root)).toBe(false);
    }
  });
});
