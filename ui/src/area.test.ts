// The same cases as crates/community/tests/request_area.rs: exact to metres, whatever the cell.
import { describe, expect, it } from 'vitest';
import { contains, offset } from './area';

const [LAT, LON] = [51.5007, -0.1246];

describe('request areas', () => {
  it('tells homes 5 m inside and outside a circle apart', () => {
    const c = { shape: 'circle' as const, lat: LAT, lon: LON, radius_m: 300 };
    expect(contains(c, ...offset(LAT, LON, 0, 295))).toBe(true);
    expect(contains(c, ...offset(LAT, LON, 0, 305))).toBe(false);
    expect(contains(c, ...offset(LAT, LON, -210, -210))).toBe(true);
    expect(contains(c, ...offset(LAT, LON, -215, -215))).toBe(false);
  });
  it('tells homes inside and outside a polygon apart, edges included', () => {
    const sq = { shape: 'polygon' as const, points: [[0, 0], [0, 400], [400, 400], [400, 0]].map(([n, e]) => offset(LAT, LON, n!, e!)) };
    expect(contains(sq, ...offset(LAT, LON, 5, 5))).toBe(true);
    expect(contains(sq, ...offset(LAT, LON, 395, 200))).toBe(true);
    expect(contains(sq, ...offset(LAT, LON, -5, 200))).toBe(false);
    expect(contains(sq, ...offset(LAT, LON, 200, 405))).toBe(false);
    expect(contains(sq, ...sq.points[1]!)).toBe(true);
  });
});
