import { type FormEvent, useState } from 'react';
import { type Session, agencies, api, setCsrf } from '../api';
import { Feedback, useAction } from './common';
import { hex, unhex } from '../crypto/bytes';
import {
  type Keyring,
  fingerprint,
  generateKeyring,
  openBackup,
  parseRecoveryCode,
  provePossession,
  publicKeys,
  randomBytes,
  sealBackup,
  showRecoveryCode,
} from '../crypto/format';
import { saveKeyring } from '../keystore';
import { createPasskey, getPasskey } from '../passkey';


function Field(p: { label: string; name: string; type?: string; value: string; set: (v: string) => void; auto?: string; hint?: string }) {
  return (
    <label className="field">
      <span>{p.label}</span>
      <input
        name={p.name}
        type={p.type ?? 'text'}
        value={p.value}
        autoComplete={p.auto}
        required
        onChange={(e) => p.set(e.target.value)}
        aria-describedby={p.hint ? `${p.name}-hint` : undefined}
      />
      {p.hint && (
        <small id={`${p.name}-hint`} className="hint">
          {p.hint}
        </small>
      )}
    </label>
  );
}

type Step = { kind: 'password' } | { kind: 'second'; factors: string[] } | { kind: 'enrol'; secret: string; url: string };

function secretOf(url: string): string {
  try {
    return new URL(url).searchParams.get('secret') ?? '';
  } catch {
    return '';
  }
}

export function Auth(p: { expired: boolean; onSignedIn: () => void }) {
  const [mode, setMode] = useState<'signin' | 'signup'>('signin');
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [run, failure, busy] = useAction();
  const [touched, setTouched] = useState(false);
  const error = failure ?? (p.expired && !touched ? 'Your session ended. Sign in again.' : null);

  const submitPassword = (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    void run(async () => {
      if (mode === 'signup') {
        const r = await api.signup(email, password);
        setCsrf(r.csrf);
        setStep({ kind: 'enrol', secret: r.totp_secret, url: r.totp_url });
      } else {
        const r = await api.login(email, password);
        setCsrf(r.csrf);
        if (r.next === 'enrol') setStep({ kind: 'enrol', secret: secretOf(r.totp_url ?? ''), url: r.totp_url ?? '' });
        else setStep({ kind: 'second', factors: r.factors });
      }
    });
  };

  const submitCode = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      if (step.kind === 'enrol') await api.confirmTotp(code.replace(/\s/g, ''));
      else await api.loginTotp(code.replace(/\s/g, ''));
      p.onSignedIn();
    });
  };

  const passkeySignIn = () =>
    run(async () => {
      const { options } = await api.passkeyLoginStart();
      await api.passkeyLoginFinish(await getPasskey(options));
      p.onSignedIn();
    });

  const passkeyEnrol = () =>
    run(async () => {
      const { options } = await api.passkeyStart('This browser');
      await api.passkeyFinish(await createPasskey(options));
      p.onSignedIn();
    });

  return (
    <main className="center narrow">
      <h1>Porchlight</h1>
      <Feedback error={error} />
      {step.kind === 'password' && (
        <>
          <div role="tablist" className="tabs">
            <button role="tab" aria-selected={mode === 'signin'} onClick={() => setMode('signin')}>
              Sign in
            </button>
            <button role="tab" aria-selected={mode === 'signup'} onClick={() => setMode('signup')}>
              Create account
            </button>
          </div>
          <form onSubmit={submitPassword} aria-label={mode === 'signin' ? 'Sign in' : 'Create account'}>
            <Field label="Email" name="email" type="email" value={email} set={setEmail} auto="username" />
            <Field
              label="Password"
              name="password"
              type="password"
              value={password}
              set={setPassword}
              auto={mode === 'signin' ? 'current-password' : 'new-password'}
              hint={mode === 'signup' ? 'At least 12 characters.' : undefined}
            />
            <button type="submit" disabled={busy}>
              {mode === 'signin' ? 'Continue' : 'Create account'}
            </button>
          </form>
        </>
      )}
      {step.kind === 'second' && (
        <>
          {step.factors.includes('totp') && (
            <form onSubmit={submitCode} aria-label="Authenticator code">
              <Field label="Code from your authenticator app" name="code" value={code} set={setCode} auto="one-time-code" />
              <button type="submit" disabled={busy}>
                Sign in
              </button>
            </form>
          )}
          {step.factors.includes('passkey') && (
            <button onClick={() => void passkeySignIn()} disabled={busy}>
              Sign in with a passkey
            </button>
          )}
        </>
      )}
      {step.kind === 'enrol' && (
        <>
          <h2>Second factor</h2>
          <p>
            Add this account to an authenticator app with the key <code className="secret">{step.secret}</code> (or open{' '}
            <a href={step.url}>this link</a> on the phone that has the app), then enter the code it shows.
          </p>
          <form onSubmit={submitCode} aria-label="Confirm authenticator">
            <Field label="Code" name="code" value={code} set={setCode} auto="one-time-code" />
            <button type="submit" disabled={busy}>
              Confirm
            </button>
          </form>
          <p>Or use a passkey (this device's screen lock or a security key) instead:</p>
          <button onClick={() => void passkeyEnrol()} disabled={busy}>
            Use a passkey
          </button>
        </>
      )}
    </main>
  );
}

/**
 * After sign-in, before the app: this browser needs the account's keys (new ones, made
 * here, or restored from the server's backup with the recovery code), and the account a
 * household.
 */
export function KeySetup(p: { session: Session; keys: Keyring | null; onDone: () => void }) {
  const [code, setCode] = useState('');
  const [shown, setShown] = useState<{ code: string; fp: string } | null>(null);
  const [saved, setSaved] = useState(false);
  const [home, setHome] = useState('Home');
  const [invitation, setInvitation] = useState('');
  const [run, error, busy] = useAction();

  const generate = () =>
    run(async () => {
      const label = p.session.email.slice(0, 64);
      const ring = await generateKeyring(label, Date.now());
      const pk = await publicKeys(ring);
      const recovery = randomBytes(20);
      const backup = await sealBackup(ring, recovery);
      const { challenge } = await api.keysChallenge();
      const proof = await provePossession(ring, unhex(challenge));
      await api.setKeys(hex(pk.bytes), hex(backup), hex(proof));
      saveKeyring(p.session.account_id, ring);
      setShown({ code: showRecoveryCode(recovery), fp: await fingerprint(pk.identity) });
    });

  const recover = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const { key_backup } = await api.keyBackup();
      const ring = await openBackup(unhex(key_backup), parseRecoveryCode(code));
      saveKeyring(p.session.account_id, ring);
      p.onDone();
    });
  };

  const join = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.accept(invitation.trim());
      p.onDone();
    });
  };

  const [agency, setAgency] = useState({ name: '', jurisdiction: '', website: '', phone: '' });
  const applyAgency = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await agencies.apply(agency);
      p.onDone();
    });
  };

  const createHousehold = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.createHousehold(home);
      p.onDone();
    });
  };

  return (
    <main className="center narrow">
      <h1>Porchlight</h1>
      <Feedback error={error} />
      {!p.keys && !shown && p.session.has_keys && (
        <form onSubmit={recover} aria-label="Recover keys">
          <h2>Open your footage on this browser</h2>
          <p>Your keys are not on this browser yet. Enter the recovery code you wrote down when you created the account.</p>
          <label className="field">
            <span>Recovery code</span>
            <input name="recovery" value={code} onChange={(e) => setCode(e.target.value)} autoComplete="off" spellCheck={false} required />
          </label>
          <button type="submit" disabled={busy}>
            Restore keys
          </button>
        </form>
      )}
      {!p.keys && !shown && !p.session.has_keys && (
        <>
          <h2>Your keys</h2>
          <p>
            Porchlight's server stores your footage encrypted and cannot open it. This browser now makes your keys; they
            stay here. A recovery code lets you restore them on another browser.
          </p>
          <button onClick={() => void generate()} disabled={busy}>
            Make my keys
          </button>
        </>
      )}
      {shown && !saved && (
        <>
          <h2>Write down your recovery code</h2>
          <p className="code" data-testid="recovery-code">
            {shown.code}
          </p>
          <p>
            Without it, a new browser cannot open your footage, and nobody (not the operator, not us) can recover it. Your
            key's fingerprint (agents show it when pairing): <code data-testid="fingerprint">{shown.fp}</code>
          </p>
          <button onClick={() => (p.session.households.length ? p.onDone() : setSaved(true))}>I wrote it down</button>
        </>
      )}
      {(p.keys || saved) && p.session.households.length === 0 && (
        <form onSubmit={join} aria-label="Join a household">
          <h2>Invited to a household?</h2>
          <label className="field">
            <span>Invitation code</span>
            <input name="invitation" value={invitation} onChange={(e) => setInvitation(e.target.value)} required autoComplete="off" />
          </label>
          <button type="submit" disabled={busy}>
            Join
          </button>
        </form>
      )}
      {(p.keys || saved) && p.session.households.length === 0 && (
        <form onSubmit={createHousehold} aria-label="Create household">
          <h2>Your household</h2>
          <label className="field">
            <span>Name</span>
            <input name="household" value={home} onChange={(e) => setHome(e.target.value)} required maxLength={64} />
          </label>
          <button type="submit" disabled={busy}>
            Create
          </button>
        </form>
      )}
      {(p.keys || saved) && p.session.households.length === 0 && (
        <form onSubmit={applyAgency} aria-label="Apply as an agency">
          <h2>A public-safety agency?</h2>
          <p className="muted">
            Agencies use an account of their own, never a household's. The server's operator calls your public switchboard to verify
            you; the verification is published.
          </p>
          <label className="field">
            <span>Agency</span>
            <input value={agency.name} onChange={(e) => setAgency({ ...agency, name: e.target.value })} required />
          </label>
          <label className="field">
            <span>Jurisdiction</span>
            <input value={agency.jurisdiction} onChange={(e) => setAgency({ ...agency, jurisdiction: e.target.value })} required />
          </label>
          <label className="field">
            <span>Website (https)</span>
            <input value={agency.website} onChange={(e) => setAgency({ ...agency, website: e.target.value })} required />
          </label>
          <label className="field">
            <span>Public switchboard number</span>
            <input value={agency.phone} onChange={(e) => setAgency({ ...agency, phone: e.target.value })} required />
          </label>
          <button type="submit" disabled={busy}>
            Apply
          </button>
        </form>
      )}
    </main>
  );
}
