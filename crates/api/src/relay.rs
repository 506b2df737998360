//! The relay between a browser and its household's agent: signed live requests, the
//! sessions waiting for the agent, the offers the agent collects with its long poll, and
//! broadcast channels as streams. Used by live view and by clip preparation.

use base::err;

use crate::secrets::{hex_decode, random_hex};
use crate::state::{AppState, LiveSession};
use crate::types::LiveOffer;

/// How long a request waits for its agent before it is dropped.
pub const OFFER_MS: i64 = 30_000;

/// Open or waiting sessions per household.
const SESSIONS_PER_HOUSEHOLD_MAX: usize = 8;

/// Segments buffered between the agent and a slow browser before the agent is held up.
pub const RELAY_DEPTH: usize = 64;

/// A talk session without a packet for this long is over (the browser left).
pub const TALK_IDLE_MS: i64 = 5_000;
/// The longest talk session; the member starts another to go on.
pub const TALK_MAX_MS: i64 = 300_000;

/// A member's signed request (hex) for household `hid`, made within 30 s of `now_ms`
/// (the agent checks the signature against its roster; the server checks the rest).
pub fn parse_request(hid: &str, hex: &str, now_ms: i64) -> Result<(Vec<u8>, crypto::live::LiveRequest), base::Error> {
    let bytes = hex_decode("request", hex, 512)?;
    let q = crypto::live::LiveRequest::parse(&bytes)
        .map_err(|e| err!(InvalidArgument, "request: not a signed live request: {}", e.message()))?;
    check_signed(hid, &q.household_id, q.issued_ms, now_ms)?;
    Ok((bytes, q))
}

/// What the server checks of any member's signed request before relaying it (live, talk):
/// it names household `hid` and was made within 30 s of `now_ms`.
pub fn check_signed(hid: &str, household_id: &[u8; 16], issued_ms: i64, now_ms: i64) -> Result<(), base::Error> {
    if crypto::keys::hex(household_id) != hid {
        bail!(InvalidArgument, "request: names household {}, not {hid}", crypto::keys::hex(household_id));
    }
    if (issued_ms - now_ms).abs() > crypto::live::REQUEST_MAX_AGE_MS / 2 {
        bail!(InvalidArgument, "request: issued_ms is more than 30 s from the server's clock");
    }
    Ok(())
}

/// Stores a session for the household's agent to answer and wakes the agents; returns its id.
pub fn open_session(st: &AppState, mut session: LiveSession) -> Result<String, base::Error> {
    let now = session.created_ms;
    let session_id = random_hex(16);
    {
        let mut map = st.live_sessions.lock().expect("live lock");
        map.retain(|_, s| s.alive(now));
        if map.values().filter(|s| s.household_id == session.household_id).count() >= SESSIONS_PER_HOUSEHOLD_MAX {
            bail!(ResourceExhausted, "live: {SESSIONS_PER_HOUSEHOLD_MAX} sessions are open; close one first");
        }
        session.seq = st.live_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        map.insert(session_id.clone(), session);
    }
    st.signal_agents();
    Ok(session_id)
}

/// Live requests waiting for an agent of `household_id` with one of `cameras`, after `after`.
pub fn offers(st: &AppState, household_id: &str, cameras: &[String], after: u64) -> Vec<LiveOffer> {
    let now = st.now_ms();
    let map = st.live_sessions.lock().expect("live lock");
    let mut out: Vec<LiveOffer> = map
        .iter()
        .filter(|(_, s)| {
            s.household_id == household_id
                && s.awaiting_agent()
                && now - s.created_ms < OFFER_MS
                && s.seq > after
                && cameras.contains(&s.camera)
        })
        .map(|(id, s)| LiveOffer {
            session_id: id.clone(),
            seq: s.seq,
            request: crypto::keys::hex(&s.request),
            offer: s.offer.clone(),
        })
        .collect();
    out.sort_by_key(|o| o.seq);
    out
}

/// A broadcast receiver as a stream; a subscriber that lags skips what it missed (the
/// timeline or the feed has it) rather than ending.
pub(crate) fn broadcast_stream<T: Clone + Send + 'static>(
    rx: tokio::sync::broadcast::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(l) => return Some((l, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
