// WebAuthn in the browser: the server's options (webauthn-rs JSON, base64url fields) to
// navigator.credentials and the credential back in the JSON webauthn-rs reads.
import { b64url, unb64url } from './crypto/bytes';

type Json = Record<string, unknown>;

const bytes = (s: unknown) => unb64url(String(s)) as BufferSource;
const enc = (b: ArrayBuffer | null | undefined) => (b ? b64url(new Uint8Array(b)) : undefined);

export async function createPasskey(options: unknown): Promise<Json> {
  const pk = (options as { publicKey: Json }).publicKey;
  const user = pk.user as Json;
  const publicKey = {
    ...pk,
    challenge: bytes(pk.challenge),
    user: { ...user, id: bytes(user.id) },
    excludeCredentials: ((pk.excludeCredentials as Json[] | undefined) ?? []).map((c) => ({ ...c, id: bytes(c.id) })),
  } as unknown as PublicKeyCredentialCreationOptions;
  const c = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null;
  if (!c) throw new Error('No passkey was created.');
  const r = c.response as AuthenticatorAttestationResponse;
  return {
    id: c.id,
    rawId: enc(c.rawId),
    type: c.type,
    response: { attestationObject: enc(r.attestationObject), clientDataJSON: enc(r.clientDataJSON), transports: r.getTransports?.() ?? [] },
    extensions: {},
  };
}

export async function getPasskey(options: unknown): Promise<Json> {
  const pk = (options as { publicKey: Json }).publicKey;
  const publicKey = {
    ...pk,
    challenge: bytes(pk.challenge),
    allowCredentials: ((pk.allowCredentials as Json[] | undefined) ?? []).map((c) => ({ ...c, id: bytes(c.id) })),
  } as unknown as PublicKeyCredentialRequestOptions;
  const c = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential | null;
  if (!c) throw new Error('No passkey was used.');
  const r = c.response as AuthenticatorAssertionResponse;
  return {
    id: c.id,
    rawId: enc(c.rawId),
    type: c.type,
    response: {
      authenticatorData: enc(r.authenticatorData),
      clientDataJSON: enc(r.clientDataJSON),
      signature: enc(r.signature),
      userHandle: enc(r.userHandle),
    },
    extensions: {},
  };
}
