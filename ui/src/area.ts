// The exact "is our home inside this request's area" test, run on the household's own
// device with its exact point (which the server never has): the same local flat projection
// as crates/community/src/area.rs.
export type Area = { shape: 'circle'; lat: number; lon: number; radius_m: number } | { shape: 'polygon'; points: [number, number][] };

const EARTH_M = 6_371_008.8;
const rad = (d: number) => (d * Math.PI) / 180;

function project(oLat: number, oLon: number, lat: number, lon: number): [number, number] {
  let dlon = lon - oLon;
  if (dlon > 180) dlon -= 360;
  else if (dlon < -180) dlon += 360;
  return [EARTH_M * rad(dlon) * Math.cos(rad(oLat)), EARTH_M * rad(lat - oLat)];
}

function onSegment(p: [number, number], a: [number, number], b: [number, number]): boolean {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
  return Math.hypot(a[0] + t * dx - p[0], a[1] + t * dy - p[1]) < 1e-6;
}

export function contains(area: Area, lat: number, lon: number): boolean {
  if (area.shape === 'circle') {
    const [x, y] = project(area.lat, area.lon, lat, lon);
    return Math.hypot(x, y) <= area.radius_m;
  }
  const [oLat, oLon] = area.points[0]!;
  const poly = area.points.map(([a, b]) => project(oLat, oLon, a, b));
  const q = project(oLat, oLon, lat, lon);
  let inside = false;
  for (let i = 0, n = poly.length; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    if (onSegment(q, a, b)) return true;
    if (a[1] > q[1] !== b[1] > q[1] && q[0] < ((b[0] - a[0]) * (q[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}

/** The point `north` and `east` metres from (lat, lon) (flat approximation, as `Point::offset`). */
export function offset(lat: number, lon: number, north: number, east: number): [number, number] {
  const M = 111_195;
  return [lat + north / M, lon + east / (M * Math.max(1e-6, Math.cos(rad(lat))))];
}
