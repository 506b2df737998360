// The server's JSON API (crates/api; /api/openapi.json). One error type: every failed
// call throws an ApiError carrying the server's code and message (which names the field).

import type { components } from './api.gen';

/** The server's JSON types, generated from its OpenAPI document (scripts/gen-api-types.sh). */
export type Schemas = components['schemas'];
export type Role = Schemas['Role'];
export type Permission = Schemas['Permission'];

/** Whether the member may do `what` in their household: the server's own answer, sent with the session. */
export const can = (m: Membership, what: Permission): boolean => m.permissions.includes(what);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// Read lazily: module tests run where there is no sessionStorage.
let csrf: string | null = globalThis.sessionStorage?.getItem('porchlight.csrf') ?? null;

export function setCsrf(c: string | null): void {
  csrf = c;
  if (c) sessionStorage.setItem('porchlight.csrf', c);
  else sessionStorage.removeItem('porchlight.csrf');
}

/** Listeners told when the session has ended (401 from any call). */
const signedOut = new Set<() => void>();
export function onSignedOut(f: () => void): () => void {
  signedOut.add(f);
  return () => signedOut.delete(f);
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const raw = body instanceof Uint8Array;
  if (body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
  if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
  let r: Response;
  try {
    const sent = body === undefined ? undefined : raw ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body);
    r = await fetch(path, { method, headers, body: sent, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection; the app retries when you act again.');
  }
  if (r.ok) {
    return (await r.json()) as T;
  }
  let code = 'http';
  let message = `The server answered ${r.status}.`;
  try {
    const e = (await r.json()) as { error?: string; message?: string };
    code = e.error ?? code;
    message = e.message ?? message;
  } catch {
    // Not JSON (a proxy's page): keep the status.
  }
  if (r.status >= 500) message = `The server failed (${r.status}). Try again; if it persists, the operator can read its log.`;
  // A session that ends while the app is in use says so. The app's first look at
  // `/api/session` is not that: a visitor without a session is simply signed out.
  if (r.status === 401 && !path.startsWith('/api/login') && path !== '/api/signup' && path !== '/api/session') {
    signedOut.forEach((f) => f());
  }
  throw new ApiError(r.status, code, message);
}

export type Membership = Schemas['Membership'];

export type Session = Schemas['SessionReply'];

export type SignUpReply = Schemas['SignUpReply'];

export type SignInReply = Schemas['SignInReply'];

export type Household = Schemas['HouseholdJson'];

export type EventJson = Schemas['EventJson'];

export type Device = Schemas['DeviceJson'];

export type Member = Schemas['MemberJson'];

export type Access = Schemas['AccessJson'];

export type CameraStatus = Schemas['CameraStatusJson'];
export type PushSubscriptionJson = Schemas['PushSubscriptionJson'];

export type PostArea = Schemas['PostAreaJson'];

export type HomeJson = Schemas['HomeJson'];

export type Post = Schemas['PostJson'];

export type PostMedia = Schemas['PostMediaJson'];

export type Comment = Schemas['CommentJson'];

export type RelayThread = Schemas['RelayThreadJson'];

export type RelayMessage = Schemas['RelayMessageJson'];

export type Conversation = Schemas['RelayConversationJson'];

export type Rules = Schemas['RulesJson'];

export type ReportedPost = Schemas['ReportedPostJson'];

export const neighbourhood = {
  home: (hid: string) => call<HomeJson>('GET', `/api/households/${hid}/home`),
  setHome: (hid: string, home_cell: string, sealed_point: string) =>
    call<HomeJson>('PUT', `/api/households/${hid}/home`, { home_cell, sealed_point }),
  feed: (hid: string, radius_m: number, before?: { ms: number; id: string }) => {
    const p = new URLSearchParams({ radius_m: String(radius_m), limit: '50' });
    if (before) {
      p.set('before_ms', String(before.ms));
      p.set('before_id', before.id);
    }
    return call<Post[]>('GET', `/api/households/${hid}/feed?${p}`);
  },
  post: (hid: string, category: string, body: string, media: string[] = []) =>
    call<Post>('POST', `/api/households/${hid}/posts`, { category, body, media }),
  upload: (hid: string, kind: 'photo' | 'clip', bytes: Uint8Array) => call<PostMedia>('POST', `/api/households/${hid}/post-media?kind=${kind}`, bytes),
  mediaUrl: (hid: string, id: string) => `/api/households/${hid}/post-media/${id}`,
  edit: (pid: string, category: string, body: string) => call<Post>('PUT', `/api/posts/${pid}`, { category, body }),
  remove: (pid: string) => call<{ ok: boolean }>('DELETE', `/api/posts/${pid}`),
  comments: (hid: string, pid: string) => call<Comment[]>('GET', `/api/households/${hid}/posts/${pid}/comments`),
  comment: (hid: string, pid: string, body: string) => call<Comment>('POST', `/api/households/${hid}/posts/${pid}/comments`, { body }),
  deleteComment: (cid: string) => call<{ ok: boolean }>('DELETE', `/api/comments/${cid}`),
  report: (hid: string, pid: string, reason: string) =>
    call<{ reported: boolean; new: boolean }>('POST', `/api/households/${hid}/posts/${pid}/report`, { reason }),
  contact: (hid: string, pid: string, body: string, reveal: string | null) =>
    call<Conversation>('POST', `/api/households/${hid}/posts/${pid}/contact`, { body, reveal: reveal || undefined }),
  threads: () => call<RelayThread[]>('GET', '/api/relay'),
  conversation: (tid: string) => call<Conversation>('GET', `/api/relay/${tid}`),
  reply: (tid: string, body: string, reveal: string | null) => call<Conversation>('POST', `/api/relay/${tid}`, { body, reveal: reveal || undefined }),
  rules: () => call<Rules>('GET', '/api/neighbourhood/rules'),
  acceptRules: (hash: string) => call<Rules>('POST', '/api/neighbourhood/rules', { hash }),
  reports: () => call<ReportedPost[]>('GET', '/api/moderation/reports'),
  moderate: (pid: string, action: 'hide' | 'keep', reason?: string) => call<Post>('POST', `/api/moderation/posts/${pid}`, { action, reason }),
};

export type Agency = Schemas['AgencyJson'];

export type Area = Schemas['Area'];

export type FootageRequest = Schemas['FootageRequestJson'];

/** A request as a household sees it: never the case number or the investigator. */
export type OfferedRequest = Schemas['OfferedRequestJson'];

export type GrantedClip = Schemas['GrantedClipJson'];

export type FootageResponse = Schemas['ResponseJson'];

export type ProvedEntry = Schemas['ProvedEntryJson'];

export type Evidence = Schemas['EvidenceJson'];

export type Offence = Schemas['Offence'];

/** The offence categories a request may name, in the order the form lists them (each is
 * checked against the server's `Offence` type). */
export const CATEGORIES: readonly Offence[] = [
  'homicide',
  'assault',
  'sexual_offence',
  'robbery',
  'burglary',
  'theft',
  'vehicle_theft',
  'criminal_damage',
  'arson',
  'hit_and_run',
  'missing_person',
  'kidnapping',
];

export type NewRequest = Schemas['NewFootageRequest'];

export type AgencyAlert = Schemas['AlertJson'];

export const agencies = {
  alerts: (hid: string) => call<AgencyAlert[]>('GET', `/api/households/${hid}/alerts`),
  postAlert: (a: { body: string; lat: number; lon: number; radius_m: number; expires_ms: number }) =>
    call<AgencyAlert>('POST', '/api/agency/alerts', a),
  myAlerts: () => call<AgencyAlert[]>('GET', '/api/agency/alerts'),
  apply: (a: { name: string; jurisdiction: string; website: string; phone: string }) => call<Agency>('POST', '/api/agencies', a),
  mine: () => call<Agency>('GET', '/api/agency'),
  verified: () => call<Agency[]>('GET', '/api/agencies'),
  all: () => call<Agency[]>('GET', '/api/operator/agencies'),
  verify: (id: string, fingerprint: string, statement: string) =>
    call<Agency>('POST', `/api/operator/agencies/${id}/verify`, { fingerprint, statement }),
  reject: (id: string, reason: string) => call<Agency>('POST', `/api/operator/agencies/${id}/reject`, { reason }),
  legalDemand: (d: { authority: string; reference: string; demanded: string; produced: string }) =>
    call<{ log_index: number }>('POST', '/api/operator/legal-demands', d),
  request: (r: NewRequest) => call<FootageRequest>('POST', '/api/agency/requests', r),
  requests: () => call<FootageRequest[]>('GET', '/api/agency/requests'),
  responses: (rid: string) => call<FootageResponse[]>('GET', `/api/agency/requests/${rid}/responses`),
  exportEvidence: (rid: string) => call<Evidence>('POST', `/api/agency/requests/${rid}/exports`),
  offered: (hid: string) => call<OfferedRequest[]>('GET', `/api/households/${hid}/footage-requests`),
  respond: (hid: string, rid: string, clips: { object_id: string; grant: string }[], contact: string | null) =>
    call<{ resident: number; log_index: number }>('POST', `/api/households/${hid}/footage-requests/${rid}/responses`, {
      clips,
      contact: contact ?? undefined,
    }),
};

export const api = {
  session: () => call<Session>('GET', '/api/session'),
  signup: (email: string, password: string) => call<SignUpReply>('POST', '/api/signup', { email, password }),
  confirmTotp: (code: string) => call<{ ok: boolean }>('POST', '/api/totp/confirm', { code }),
  login: (email: string, password: string) => call<SignInReply>('POST', '/api/login', { email, password }),
  loginTotp: (code: string) => call<{ ok: boolean }>('POST', '/api/login/totp', { code }),
  logout: () => call<{ ok: boolean }>('POST', '/api/logout'),
  keysChallenge: () => call<{ challenge: string }>('GET', '/api/me/keys/challenge'),
  setKeys: (public_keys: string, key_backup: string, proof: string) =>
    call<{ ok: boolean }>('PUT', '/api/me/keys', { public_keys, key_backup, proof }),
  keyBackup: () => call<{ key_backup: string }>('GET', '/api/me/keys/backup'),
  createHousehold: (name: string) => call<Household>('POST', '/api/households', { name }),
  household: (id: string) => call<Household>('GET', `/api/households/${id}`),
  patchHousehold: (id: string, p: Partial<Pick<Household, 'name' | 'retention_days' | 'retention_bytes' | 'webhook_url'>>) =>
    call<Household>('PATCH', `/api/households/${id}`, p),
  events: (hid: string, q: { camera?: string; from_ms?: number; until_ms?: number; limit?: number; order?: 'asc' | 'desc' }) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
    return call<EventJson[]>('GET', `/api/households/${hid}/events?${p}`);
  },
  devices: (hid: string) => call<Device[]>('GET', `/api/households/${hid}/devices`),
  pushKey: () => call<Schemas['PushKey']>('GET', '/api/push/key'),
  pushSubscribe: (hid: string, s: Schemas['NewPushSubscription']) =>
    call<PushSubscriptionJson>('PUT', `/api/households/${hid}/push`, s),
  pushSubscriptions: (hid: string) => call<PushSubscriptionJson[]>('GET', `/api/households/${hid}/push`),
  pushUnsubscribe: (hid: string, id: string) => call<{ ok: boolean }>('DELETE', `/api/households/${hid}/push/${id}`),
  members: (hid: string) => call<Member[]>('GET', `/api/households/${hid}/members`),
  removeMember: (hid: string, aid: string) => call<{ ok: boolean }>('DELETE', `/api/households/${hid}/members/${aid}`),
  invite: (hid: string, role: string, window_from_ms: number | null, window_until_ms: number | null) =>
    call<{ token: string; expires_ms: number }>('POST', `/api/households/${hid}/invitations`, {
      role,
      window_from_ms: window_from_ms ?? undefined,
      window_until_ms: window_until_ms ?? undefined,
    }),
  roster: (hid: string) => call<{ serial: number; roster: string }>('GET', `/api/households/${hid}/roster`),
  putRoster: (hid: string, roster: string) => call<{ serial: number }>('PUT', `/api/households/${hid}/roster`, { roster }),
  settings: (hid: string) => call<{ serial: number; settings: string }>('GET', `/api/households/${hid}/settings`),
  putSettings: (hid: string, settings: string) => call<{ serial: number }>('PUT', `/api/households/${hid}/settings`, { settings }),
  accept: (token: string) => call<Member>('POST', '/api/invitations/accept', { token }),
  pairing: (hid: string) => call<{ token: string; household_id: string; expires_ms: number }>('POST', `/api/households/${hid}/pairings`),
  accessLog: (hid: string) => call<Access[]>('GET', `/api/households/${hid}/access-log?limit=200`),
  cameraStatus: (hid: string) => call<CameraStatus[]>('GET', `/api/households/${hid}/cameras`),
  passkeyStart: (name: string) => call<{ options: unknown }>('POST', '/api/passkeys/register/start', { name }),
  passkeyFinish: (credential: unknown) => call<{ id: string }>('POST', '/api/passkeys/register/finish', { credential }),
  passkeyLoginStart: () => call<{ options: unknown }>('POST', '/api/login/passkey/start'),
  passkeyLoginFinish: (credential: unknown) => call<{ ok: boolean }>('POST', '/api/login/passkey/finish', { credential }),
};
