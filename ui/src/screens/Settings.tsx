import { type FormEvent, type ReactNode, useState } from 'react';
import { type Membership, type Session, api, can } from '../api';
import { type Keyring, fingerprint, publicKeys } from '../crypto/format';
import { createPasskey } from '../passkey';
import { syncRoster } from '../roster';
import { resealIfNeeded } from '../settings';
import { unhex } from '../crypto/bytes';
import { parsePublicKeys } from '../crypto/format';
import { CameraSettingsPanel } from './Cameras';
import { AlertChooser } from './Notifications';
import { Feedback, useAction, useAsync } from './common';

function Section(p: { title: string; children: ReactNode }) {
  return (
    <section className="panel" aria-labelledby={`s-${p.title}`}>
      <h2 id={`s-${p.title}`}>{p.title}</h2>
      {p.children}
    </section>
  );
}



export function Settings(p: { session: Session; membership: Membership; keys: Keyring }) {
  const hid = p.membership.household_id;
  const m = p.membership;
  return (
    <>
      <h1>Settings</h1>
      <Household hid={hid} canManage={can(m, 'settings')} />
      <Section title="Alerts on this device">
        <AlertChooser householdId={hid} keys={p.keys} />
      </Section>
      {can(m, 'sign_settings') && (
        <Section title="Cameras">
          <CameraSettingsPanel hid={hid} keys={p.keys} />
        </Section>
      )}
      {can(m, 'pair') && <Pairing hid={hid} keys={p.keys} />}
      {can(m, 'view_members') && <Members hid={hid} keys={p.keys} canManage={can(m, 'manage_members')} />}
      {can(m, 'access_log') && <AccessLog hid={hid} />}
      <Account session={p.session} keys={p.keys} />
    </>
  );
}

function Household(p: { hid: string; canManage: boolean }) {
  const [tick, setTick] = useState(0);
  const h = useAsync(() => api.household(p.hid), [p.hid, tick]);
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  if (!h.value) return <Section title="Household">{h.error ? <p role="alert">{h.error}</p> : <p aria-busy="true" />}</Section>;
  const v = h.value;
  const save = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    void run(async () => {
      await api.patchHousehold(p.hid, {
        name: String(f.get('name')),
        retention_days: Number(f.get('days')),
        retention_bytes: Math.round(Number(f.get('gb')) * 1e9),
      });
      setOk('Saved.');
      setTick((t) => t + 1);
    });
  };
  return (
    <Section title="Household">
      <form onSubmit={save} aria-label="Household settings">
        <label className="field">
          <span>Name</span>
          <input name="name" defaultValue={v.name} required maxLength={64} disabled={!p.canManage} />
        </label>
        <label className="field">
          <span>Keep footage on the server for (days)</span>
          <input name="days" type="number" min={1} max={3650} defaultValue={v.retention_days} disabled={!p.canManage} />
        </label>
        <label className="field">
          <span>And at most (GB; 0 for no limit)</span>
          <input name="gb" type="number" min={0} step="any" defaultValue={v.retention_bytes / 1e9} disabled={!p.canManage} />
        </label>
        {p.canManage && (
          <button type="submit" disabled={busy}>
            Save
          </button>
        )}
      </form>
      <Feedback error={error} ok={ok} />
      <p className="muted">Cameras: {v.cameras.length ? v.cameras.join(', ') : 'none yet'}</p>
    </Section>
  );
}

function Pairing(p: { hid: string; keys: Keyring }) {
  const [offer, setOffer] = useState<{ token: string; code: string; expires: number } | null>(null);
  const [run, error, busy] = useAction();
  const devices = useAsync(() => api.devices(p.hid), [p.hid, offer]);
  const start = () =>
    run(async () => {
      const r = await api.pairing(p.hid);
      const pk = await publicKeys(p.keys);
      setOffer({ token: r.token, code: await fingerprint(pk.identity), expires: r.expires_ms });
    });
  return (
    <Section title="Agents">
      <p>An agent records your cameras at home and uploads encrypted clips. To pair one, run on it:</p>
      {offer ? (
        <pre className="code" data-testid="pair-command">
          porchlight pair --data-dir DATA --server {location.origin} --token {offer.token} --code {offer.code}
        </pre>
      ) : (
        <button onClick={() => void start()} disabled={busy}>
          Pair a new agent
        </button>
      )}
      {offer && (
        <p className="muted">
          The code is your key's fingerprint: the agent checks that the server gave it your key. The token works once,
          until {new Date(offer.expires).toLocaleTimeString()}.
        </p>
      )}
      <Feedback error={error} />
      <ul className="plain" aria-label="Paired agents">
        {devices.value?.map((d) => (
          <li key={d.id}>
            <strong>{d.name}</strong> · paired {new Date(d.paired_ms).toLocaleDateString()}
            {d.revoked_ms ? ' · revoked' : ''}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function Members(p: { hid: string; keys: Keyring; canManage: boolean }) {
  const [tick, setTick] = useState(0);
  const members = useAsync(async () => {
    const list = await api.members(p.hid);
    // The member list and the agents' roster move together (see roster.ts).
    // Whoever manages members (the owner) signs the roster the agents seal for.
    const serial = p.canManage ? await syncRoster(p.hid, p.keys) : null;
    // And the settings, so a member who just joined can read the mode.
    if (p.canManage) await resealIfNeeded(p.hid, p.keys).catch((e: Error) => console.warn(`settings: ${e.message}`));
    const fps = await Promise.all(
      list.map(async (m) => (m.public_keys ? fingerprint((await parsePublicKeys(unhex(m.public_keys))).identity).catch(() => null) : null)),
    );
    return { list, fps, serial };
  }, [p.hid, p.keys, p.canManage, tick]);
  const [role, setRole] = useState('standard');
  const [until, setUntil] = useState('');
  const [token, setToken] = useState<string | null>(null);
  const [run, error, busy] = useAction();
  const invite = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const end = until ? new Date(until).getTime() : null;
      if (until && Number.isNaN(end)) throw new Error('End time: not a date and time');
      const r = await api.invite(p.hid, role, null, role === 'guest' || role === 'limited' ? end : null);
      setToken(r.token);
      setTick((t) => t + 1);
    });
  };
  return (
    <Section title="Members">
      <ul className="plain" aria-label="Members">
        {members.value?.list.map((m, i) => (
          <li key={m.account_id}>
            {m.email} · <strong>{m.role}</strong>
            {m.role !== 'owner' &&
              (members.value?.fps[i] ? (
                <span className="muted">
                  {' '}
                  · key <code>{members.value.fps[i]}</code> (compare with their screen)
                </span>
              ) : (
                <span className="muted"> · has not made keys yet: sees events, cannot open footage</span>
              ))}
            {m.window_until_ms ? ` · until ${new Date(m.window_until_ms).toLocaleString()}` : ''}
            {p.canManage && m.role !== 'owner' && (
              <button className="link" onClick={() => void run(async () => (await api.removeMember(p.hid, m.account_id), setTick((t) => t + 1)))}>
                Remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {p.canManage && (
      <form onSubmit={invite} aria-label="Invite a member">
        <label className="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="full">Full: events, clips and household settings; not members or pairing</option>
            <option value="standard">Standard: live view, events, clips</option>
            <option value="limited">Limited: from now on, no settings</option>
            <option value="guest">Guest: live view and events until an end time</option>
          </select>
        </label>
        {(role === 'guest' || role === 'limited') && (
          <label className="field">
            <span>Access ends{role === 'limited' ? ' (optional)' : ''}</span>
            <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} required={role === 'guest'} />
          </label>
        )}
        <button type="submit" disabled={busy}>
          Invite
        </button>
      </form>
      )}
      {members.error && <p role="alert">{members.error}</p>}
      {members.value?.serial && (
        <p className="muted" data-testid="roster">
          Your agents seal new footage for the members above with keys (signed member list no. {members.value.serial.serial}).
        </p>
      )}
      {token && (
        <p>
          Give this invitation code to the person you invite (they enter it after creating their account):{' '}
          <code data-testid="invitation">{token}</code>
        </p>
      )}
      <Feedback error={error} />
    </Section>
  );
}

function AccessLog(p: { hid: string }) {
  const log = useAsync(() => api.accessLog(p.hid), [p.hid]);
  return (
    <Section title="Who opened what">
      {log.error && <p role="alert">{log.error}</p>}
      <table className="log">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
          </tr>
        </thead>
        <tbody>
          {log.value?.slice(0, 100).map((a, i) => (
            <tr key={i}>
              <td>{new Date(a.at_ms).toLocaleString()}</td>
              <td>{a.email ?? a.account_id ?? 'a device'}</td>
              <td>
                {a.kind} {a.object_id.slice(0, 8)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function Account(p: { session: Session; keys: Keyring }) {
  const fp = useAsync(async () => fingerprint((await publicKeys(p.keys)).identity), [p.keys]);
  const [run, error, busy] = useAction();
  const [ok, setOk] = useState<string | null>(null);
  const [token, setToken] = useState('');
  const addPasskey = () =>
    run(async () => {
      const { options } = await api.passkeyStart('This browser');
      await api.passkeyFinish(await createPasskey(options));
      setOk('Passkey added.');
    });
  const accept = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.accept(token.trim());
      location.reload();
    });
  };
  return (
    <Section title="Account">
      <p>
        Signed in as {p.session.email}. Your key's fingerprint: <code>{fp.value ?? '…'}</code>
      </p>
      <button onClick={() => void addPasskey()} disabled={busy}>
        Add a passkey
      </button>
      <form onSubmit={accept} aria-label="Join a household">
        <label className="field">
          <span>Invitation code</span>
          <input value={token} onChange={(e) => setToken(e.target.value)} required />
        </label>
        <button type="submit" disabled={busy}>
          Join household
        </button>
      </form>
      <Feedback error={error} ok={ok} />
    </Section>
  );
}
