import { Component, type ReactNode, Suspense, lazy, useCallback, useEffect, useState } from 'react';
import { ApiError, type Session, api, can, onSignedOut, setCsrf } from './api';
import type { Keyring } from './crypto/format';
import { loadKeyring, mirrorKeyring } from './keystore';
import { syncRoster } from './roster';
import { resealIfNeeded } from './settings';
import { Auth, KeySetup } from './screens/Auth';
import { Home } from './screens/Home';
import { Settings } from './screens/Settings';
import { DayView } from './screens/DayView';
import { Timeline } from './screens/Timeline';
import { Notifications } from './screens/Notifications';
import { Moderation } from './screens/Moderation';
import { Agencies } from './screens/Agencies';
import { AgencyPortal } from './screens/AgencyPortal';
import { Requests } from './screens/Requests';
import { Transparency } from './screens/Transparency';

// The neighbourhood carries h3-js: loaded when first opened, not with the first screen.
const Neighbourhood = lazy(() => import('./screens/Neighbourhood').then((m) => ({ default: m.Neighbourhood })));

/** The hash route: `#/`, `#/timeline?camera=…`, `#/settings`. */
function useRoute(): [string, URLSearchParams] {
  const read = () => {
    const h = location.hash.replace(/^#/, '') || '/';
    const [path, query] = h.split('?');
    return [path ?? '/', new URLSearchParams(query ?? '')] as [string, URLSearchParams];
  };
  const [r, setR] = useState(read);
  useEffect(() => {
    const f = () => {
      const next = read();
      // Another screen opens at its top (a filter change on the same screen keeps its place).
      setR((cur) => {
        if (cur[0] !== next[0]) window.scrollTo(0, 0);
        return next;
      });
    };
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return r;
}

export function go(path: string): void {
  location.hash = path;
}

class Boundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (this.state.error) {
      return (
        <main className="center">
          <h1>Something went wrong</h1>
          <p role="alert">{this.state.error.message}</p>
          <button onClick={() => location.reload()}>Reload</button>
        </main>
      );
    }
    return this.props.children;
  }
}

/** A section's glyph, drawn on phones above its name in the bottom bar. */
function NavIcon({ d }: { d: string }) {
  return (
    <svg className="nav-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={d} />
    </svg>
  );
}

export function App() {
  return (
    <Boundary>
      <Shell />
    </Boundary>
  );
}

function Shell() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [keys, setKeys] = useState<Keyring | null>(null);
  const [expired, setExpired] = useState(false);
  const [fatal, setFatal] = useState<string | null>(null);
  const [path, query] = useRoute();

  const refresh = useCallback(async () => {
    try {
      const s = await api.session();
      if (s.csrf) setCsrf(s.csrf);
      setSession(s);
      const k = loadKeyring(s.account_id);
      setKeys(k);
      // Where the service worker finds them to open an alert while no page is open.
      if (k) void mirrorKeyring(s.account_id, k, s.households.map((h) => h.household_id));
      setFatal(null);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) setSession(null);
      else setFatal((e as Error).message);
    }
  }, []);

  useEffect(() => {
    // Checking the session once at start is a sync with the server, not derived state.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void refresh();
    return onSignedOut(() => {
      setExpired(true);
      setSession(null);
    });
  }, [refresh]);

  // The owner's device keeps the agents' roster in step with the member list: a member
  // who joined (and made keys) since the last visit is signed in now.
  const ownerOf = session?.households.find((h) => h.role === 'owner')?.household_id ?? null;
  useEffect(() => {
    if (!ownerOf || !keys) return;
    syncRoster(ownerOf, keys)
      .catch((e: Error) => console.warn(`roster: ${e.message}`))
      // Then the settings, so a member or agent added since the last save can read them.
      .then(() => resealIfNeeded(ownerOf, keys))
      .catch((e: Error) => console.warn(`settings: ${e.message}`));
  }, [ownerOf, keys]);

  // Public: no account needed.
  if (path === '/transparency') {
    return (
      <>
        <header className="bar">
          <a href="#/" className="brand">
            Porchlight
          </a>
        </header>
        <Transparency />
      </>
    );
  }
  if (fatal) {
    return (
      <main className="center">
        <h1>Porchlight</h1>
        <p role="alert">{fatal}</p>
        <button onClick={() => void refresh()}>Try again</button>
      </main>
    );
  }
  if (session === undefined) return <main className="center" aria-busy="true" />;
  if (session === null) {
    return (
      <Auth
        expired={expired}
        onSignedIn={() => {
          setExpired(false);
          void refresh();
        }}
      />
    );
  }
  const signOutNow = async () => {
    try {
      await api.logout();
    } finally {
      setCsrf(null);
      setSession(null);
      go('/');
    }
  };
  // An agency's account is never a household's: it sees only its own portal.
  if (keys && session.agency) {
    return (
      <>
        <header className="bar">
          <a href="#/" className="brand">
            Porchlight · agency portal
          </a>
          <nav aria-label="Main">
            <a href="#/transparency">Transparency log</a>
            <button className="link" onClick={() => void signOutNow()}>
              Sign out
            </button>
          </nav>
        </header>
        <main>
          <AgencyPortal keys={keys} />
        </main>
      </>
    );
  }
  if (!keys || session.households.length === 0) {
    return <KeySetup session={session} keys={keys} onDone={() => void refresh()} />;
  }
  const membership = session.households.find((h) => h.household_id === query.get('h')) ?? session.households[0]!;
  const hid = membership.household_id;
  const resident = can(membership, 'neighbourhood');
  const answersRequests = can(membership, 'respond_to_requests');
  const signOut = signOutNow;
  return (
    <>
      <header className="bar">
        <a href="#/" className="brand">
          Porchlight
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={path === '/' ? 'page' : undefined}>
            <NavIcon d="M3 7h12l4-3v14l-4-3H3z" />
            <span className="nav-label">Cameras</span>
          </a>
          <a href="#/timeline" aria-current={path === '/timeline' ? 'page' : undefined}>
            <NavIcon d="M4 5h16M4 12h16M4 19h16" />
            <span className="nav-label">Timeline</span>
          </a>
          <a href="#/day" aria-current={path === '/day' ? 'page' : undefined}>
            <NavIcon d="M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 3" />
            <span className="nav-label">Day</span>
          </a>
          {resident && (
            <a href="#/neighbourhood" aria-current={path === '/neighbourhood' ? 'page' : undefined}>
              <NavIcon d="M3 11l9-7l9 7M5 10v10h14V10M10 20v-6h4v6" />
              <span className="nav-label wide">Neighbourhood</span>
              <span className="nav-label narrow">Nearby</span>
            </a>
          )}
          {answersRequests && (
            <a href="#/requests" aria-current={path === '/requests' ? 'page' : undefined}>
              <NavIcon d="M4 5h16v14H4zM4 5l8 7l8-7" />
              <span className="nav-label">Requests</span>
            </a>
          )}
          {session.operator && (
            <a href="#/moderation" aria-current={path === '/moderation' ? 'page' : undefined}>
              <NavIcon d="M12 3l8 3v6c0 5-4 8-8 9c-4-1-8-4-8-9V6z" />
              <span className="nav-label">Moderation</span>
            </a>
          )}
          {session.operator && (
            <a href="#/agencies" aria-current={path === '/agencies' ? 'page' : undefined}>
              <NavIcon d="M4 20V9l8-5l8 5v11M8 20v-7M12 20v-7M16 20v-7" />
              <span className="nav-label">Agencies</span>
            </a>
          )}
          <a href="#/settings" aria-current={path === '/settings' ? 'page' : undefined}>
            <NavIcon d="M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8M12 2v3M12 19v3M2 12h3M19 12h3M5 5l2 2M17 17l2 2M5 19l2-2M17 7l2-2" />
            <span className="nav-label">Settings</span>
          </a>
        </nav>
        <div className="bar-extra">
          <a href="#/transparency">Transparency</a>
          <button className="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <Notifications householdId={hid} keys={keys} />
      <main>
        {path === '/day' ? (
          <DayView key={`${hid}/${query.get('camera') ?? ''}/${query.get('day') ?? ''}`} householdId={hid} keys={keys} camera={query.get('camera') ?? ''} day={query.get('day') ?? ''} />
        ) : path === '/timeline' ? (
          <Timeline key={`${hid}/${query.get('camera') ?? ''}`} householdId={hid} keys={keys} camera={query.get('camera') ?? ''} />
        ) : path === '/neighbourhood' && resident ? (
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            <Neighbourhood key={hid} membership={membership} keys={keys} tiles={session.map_tile_url ?? null} />
          </Suspense>
        ) : path === '/moderation' && session.operator ? (
          <Moderation />
        ) : path === '/agencies' && session.operator ? (
          <Agencies />
        ) : path === '/requests' && answersRequests ? (
          <Requests key={hid} householdId={hid} keys={keys} />
        ) : path === '/settings' ? (
          <Settings session={session} membership={membership} keys={keys} />
        ) : (
          <Home key={`${hid}/${query.get('live') ?? ''}`} householdId={hid} keys={keys} isOwner={can(membership, 'sign_settings')} canTalk={can(membership, 'talk')} watch={query.get('live')} />
        )}
      </main>
    </>
  );
}
