//! Timeline pages kept in memory, so that a member scrolling back through days that have
//! not changed costs no database query (design/server.md, "The timeline cache").
//!
//! A page is the JSON [`Db::timeline_json`](super::Db::timeline_json) returned for one
//! household and one query (camera, start range narrowed to the member's window, order,
//! limit). Events are only ever inserted ([`Db::insert_event`](super::Db::insert_event))
//! or deleted ([`Db::delete_events`](super::Db::delete_events)), never updated, and each
//! of those calls [`TimelineCache::invalidate`] for the household after its commit, which
//! drops every page of that household.
//!
//! A reader may have run its query before a commit and reach [`TimelineCache::put`] after
//! the invalidation that followed it. So every read takes a ticket first
//! ([`TimelineCache::ticket`], the count of invalidations so far), and `put` refuses a page
//! whose household was invalidated after the ticket was taken. A page in the cache was
//! therefore read after the household's last invalidation, and hence after its last commit
//! to `event`. The cache holds at most its budget in bytes (pages, keys and per-entry
//! overhead) and evicts the oldest pages first. Budget 0 turns it off.
//!
//! The cache is per process: a second server process writing the same PostgreSQL database
//! would not invalidate it. The server is one process (design/server.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Households without pages whose invalidation time is still kept; past this many, they
/// are forgotten (and `put` then refuses every page read before the newest forgotten one).
const BARE_HOUSEHOLDS_MAX: usize = 65_536;

/// Bytes counted per page beyond its JSON and key: the map entries and the eviction queue.
const ENTRY_OVERHEAD: usize = 160;

/// One timeline query, as the database sees it (the member's window already applied).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub camera: Option<String>,
    pub from_ms: i64,
    pub until_ms: i64,
    pub descending: bool,
    pub limit: i64,
}

impl PageKey {
    fn cost(&self, household_id: &str, page: &Bytes) -> usize {
        page.len() + household_id.len() + self.camera.as_ref().map_or(0, String::len) + ENTRY_OVERHEAD
    }
}

/// The read's place in the order of invalidations: see the module's comment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket(u64);

#[derive(Default)]
struct Household {
    /// The number of the invalidation that last dropped this household's pages.
    invalidated_at: u64,
    pages: HashMap<PageKey, Bytes>,
}

#[derive(Default)]
struct Inner {
    /// Invalidations so far (the next ticket).
    invalidations: u64,
    /// The latest `invalidated_at` of a household no longer in `households`.
    forgotten_at: u64,
    households: HashMap<String, Household>,
    /// Pages in the order they were put, oldest first; may name pages already gone.
    order: VecDeque<(String, PageKey)>,
    pages: usize,
    bytes: usize,
}

/// Hit and miss counts, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelineCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub pages: u64,
    pub bytes: u64,
}

pub(crate) struct TimelineCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TimelineCache {
    pub(crate) fn new(budget_bytes: usize) -> TimelineCache {
        TimelineCache {
            budget: budget_bytes,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section below leaves `Inner` consistent at each step that can
        // panic (none allocate half-way through an update), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// Taken before the database read whose page may be `put`.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().invalidations)
    }

    pub(crate) fn get(&self, household_id: &str, key: &PageKey) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let hit = self.lock().households.get(household_id).and_then(|h| h.pages.get(key).cloned());
        let counter = if hit.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Keeps a page read with `ticket`, unless the household changed since the ticket was
    /// taken or the page is over an eighth of the budget.
    pub(crate) fn put(&self, household_id: &str, key: PageKey, ticket: Ticket, page: Bytes) {
        let cost = key.cost(household_id, &page);
        if !self.enabled() || cost > self.budget / 8 {
            return;
        }
        let mut g = self.lock();
        let inner = &mut *g;
        let invalidated_at = inner.households.get(household_id).map_or(inner.forgotten_at, |h| h.invalidated_at);
        if invalidated_at > ticket.0 {
            return;
        }
        let forgotten_at = inner.forgotten_at;
        let h = inner
            .households
            .entry(household_id.to_owned())
            .or_insert_with(|| Household { invalidated_at: forgotten_at, pages: HashMap::new() });
        if let Some(old) = h.pages.insert(key.clone(), page) {
            inner.bytes -= key.cost(household_id, &old);
        } else {
            inner.pages += 1;
        }
        inner.bytes += cost;
        inner.order.push_back((household_id.to_owned(), key));
        while inner.bytes > self.budget {
            let Some((hid, k)) = inner.order.pop_front() else { break };
            if let Some(h) = inner.households.get_mut(&hid)
                && let Some(old) = h.pages.remove(&k)
            {
                inner.bytes -= k.cost(&hid, &old);
                inner.pages -= 1;
            }
        }
        // The queue keeps names of pages that invalidation already dropped; rebuild it
        // when those outnumber the live ones.
        if inner.order.len() > 2 * inner.pages + 1024 {
            let households = &inner.households;
            let mut seen = std::collections::HashSet::new();
            inner.order.retain(|(hid, k)| {
                households.get(hid).is_some_and(|h| h.pages.contains_key(k)) && seen.insert((hid.clone(), k.clone()))
            });
        }
    }

    /// Drops every page of the household; called after each commit that changes its events.
    pub(crate) fn invalidate(&self, household_id: &str) {
        if !self.enabled() {
            return;
        }
        let mut g = self.lock();
        let inner = &mut *g;
        inner.invalidations += 1;
        let at = inner.invalidations;
        let h = inner.households.entry(household_id.to_owned()).or_default();
        h.invalidated_at = at;
        for (k, old) in h.pages.drain() {
            inner.bytes -= k.cost(household_id, &old);
            inner.pages -= 1;
        }
        // Households with pages are at most `pages`; so this runs once per
        // `BARE_HOUSEHOLDS_MAX` new bare households, however many have pages.
        if inner.households.len() > BARE_HOUSEHOLDS_MAX + inner.pages {
            let mut forgotten_at = inner.forgotten_at;
            inner.households.retain(|_, h| {
                let keep = !h.pages.is_empty();
                if !keep {
                    forgotten_at = forgotten_at.max(h.invalidated_at);
                }
                keep
            });
            inner.forgotten_at = forgotten_at;
        }
    }

    pub(crate) fn stats(&self) -> TimelineCacheStats {
        let g = self.lock();
        TimelineCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            pages: g.pages as u64,
            bytes: g.bytes as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(day: i64) -> PageKey {
        PageKey {
            camera: Some("front".into()),
            from_ms: day * 86_400_000,
            until_ms: (day + 1) * 86_400_000,
            descending: false,
            limit: 100,
        }
    }

    #[test]
    fn a_page_read_before_an_invalidation_is_refused() {
        let c = TimelineCache::new(1 << 20);
        let t = c.ticket();
        c.invalidate("h");
        c.put("h", key(1), t, Bytes::from_static(b"[old]"));
        assert_eq!(c.get("h", &key(1)), None);
        let t = c.ticket();
        c.put("h", key(1), t, Bytes::from_static(b"[new]"));
        assert_eq!(c.get("h", &key(1)).as_deref(), Some(&b"[new]"[..]));
        // Another household's invalidation leaves this one's pages.
        c.invalidate("other");
        assert!(c.get("h", &key(1)).is_some());
        c.invalidate("h");
        assert_eq!(c.get("h", &key(1)), None);
        assert_eq!(c.stats().bytes, 0);
    }

    #[test]
    fn a_stale_read_is_refused_even_when_a_fresh_one_came_first() {
        let c = TimelineCache::new(1 << 20);
        let stale = c.ticket();
        c.invalidate("h");
        let fresh = c.ticket();
        c.put("h", key(2), fresh, Bytes::from_static(b"[fresh]"));
        c.put("h", key(1), stale, Bytes::from_static(b"[stale]"));
        assert_eq!(c.get("h", &key(1)), None);
        assert!(c.get("h", &key(2)).is_some());
    }

    #[test]
    fn forgotten_households_refuse_older_reads() {
        let c = TimelineCache::new(1 << 20);
        let t = c.ticket();
        for i in 0..=BARE_HOUSEHOLDS_MAX {
            c.invalidate(&format!("h{i}"));
        }
        assert!(c.lock().households.len() <= BARE_HOUSEHOLDS_MAX);
        assert!(c.lock().forgotten_at > t.0);
        c.put("h0", key(1), t, Bytes::from_static(b"[old]"));
        assert_eq!(c.get("h0", &key(1)), None);
        let t = c.ticket();
        c.put("h0", key(1), t, Bytes::from_static(b"[new]"));
        assert!(c.get("h0", &key(1)).is_some());
    }

    #[test]
    fn the_budget_holds_and_the_oldest_go_first() {
        let page = Bytes::from(vec![b'x'; 1000]);
        let cost = key(0).cost("h", &page);
        let c = TimelineCache::new(cost * 10);
        for day in 0..25 {
            let t = c.ticket();
            c.put("h", key(day), t, page.clone());
            assert!(c.stats().bytes as usize <= cost * 10);
        }
        assert_eq!(c.stats().pages, 10);
        assert!(c.get("h", &key(14)).is_none());
        assert!(c.get("h", &key(15)).is_some());
        // Repeated invalidation and refilling keeps the queue bounded.
        for _ in 0..2000 {
            c.invalidate("h");
            let t = c.ticket();
            c.put("h", key(0), t, page.clone());
        }
        assert!(c.lock().order.len() <= 2 * 10 + 1024 + 1);
        // A page over an eighth of the budget is not kept; budget 0 keeps nothing.
        let t = c.ticket();
        c.put("h", key(99), t, Bytes::from(vec![b'x'; cost * 2]));
        assert!(c.get("h", &key(99)).is_none());
        let off = TimelineCache::new(0);
        let t = off.ticket();
        off.put("h", key(1), t, page);
        assert!(off.get("h", &key(1)).is_none());
        assert_eq!(off.stats(), TimelineCacheStats::default());
    }
}
