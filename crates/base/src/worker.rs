//! Background work with an owner: every periodic job of the server and the agent is a
//! [`Worker`] run by [`Workers`], which knows each one's last success and last error (for
//! `/metrics` and `status.json`) and stops them cooperatively.
//!
//! A worker does one bounded pass at a time. Shutdown is seen between passes (and ends a
//! wait at once); a pass under way is finished, never cut off at an arbitrary await, so a
//! job's own transaction boundaries are the only ones that matter. [`Workers::stop`]
//! waits for passes under way, up to a deadline.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::Error;
use crate::shutdown::Receiver;

/// One periodic job.
pub trait Worker: Send + 'static {
    /// A short stable name (`retention`, `request_expiry`), used in logs and metrics.
    fn name(&self) -> &'static str;

    /// The wait between the end of one pass and the start of the next.
    fn interval(&self) -> Duration;

    /// One bounded pass. `Ok` carries how many things it did (0: nothing to do), which is
    /// logged when not 0.
    fn pass(&mut self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// A bell that ends the wait before the next pass early: a queue's worker is rung when
    /// work arrives, so it need not poll. `None` (the default): only the interval.
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// What a worker has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    pub name: &'static str,
    pub passes: u64,
    pub failures: u64,
    /// Things done over all passes (the sum of the passes' counts).
    pub done: u64,
    /// When the last pass that succeeded ended, ms since the Unix epoch.
    pub last_success_ms: Option<i64>,
    /// The last failure, and when (ms since the Unix epoch); cleared by a success.
    pub last_error: Option<(i64, String)>,
    /// How long the last pass took.
    pub last_pass_ms: u64,
}

/// The workers of one process.
#[derive(Default)]
pub struct Workers {
    status: Shared,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

/// Every worker's status cell, shared with the [`StatusHandle`]s (which see workers
/// started after them too).
type Shared = Arc<Mutex<Vec<Arc<Mutex<WorkerStatus>>>>>;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Workers {
    pub fn new() -> Workers {
        Workers::default()
    }

    /// Starts `w`: a pass now, then one every interval, until `shutdown`.
    pub fn spawn<W: Worker>(&mut self, mut w: W, mut shutdown: Receiver) {
        let name = w.name();
        let status = Arc::new(Mutex::new(WorkerStatus { name, ..Default::default() }));
        self.status.lock().expect("workers").push(status.clone());
        let task = tokio::spawn(async move {
            while !shutdown.is_shutdown() {
                let started = Instant::now();
                let r = w.pass().await;
                {
                    let mut s = status.lock().expect("worker status");
                    s.passes += 1;
                    s.last_pass_ms = started.elapsed().as_millis() as u64;
                    match &r {
                        Ok(n) => {
                            s.done += n;
                            s.last_success_ms = Some(now_ms());
                            s.last_error = None;
                        }
                        Err(e) => {
                            s.failures += 1;
                            s.last_error = Some((now_ms(), e.to_string()));
                        }
                    }
                }
                match r {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(worker = name, done = n, "background pass"),
                    Err(e) => tracing::warn!(worker = name, error = %e, "background pass failed"),
                }
                let bell = w.wake();
                let rung = async {
                    match &bell {
                        Some(b) => b.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(w.interval()) => {}
                    _ = rung => {}
                    _ = shutdown.wait() => {}
                }
            }
        });
        self.tasks.push((name, task));
    }

    /// Every worker's status, in the order they were started.
    pub fn status(&self) -> Vec<WorkerStatus> {
        self.status_handle().status()
    }

    /// A handle that reads the status after the workers have moved elsewhere.
    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(self.status.clone())
    }

    /// Waits (after shutdown was signalled) for every worker to finish its pass, up to
    /// `deadline`; returns the names of those that had not finished by then (which are
    /// then left to end with the runtime).
    pub async fn stop(self, deadline: Duration) -> Vec<&'static str> {
        let until = tokio::time::Instant::now() + deadline;
        let mut late = Vec::new();
        for (name, t) in self.tasks {
            if tokio::time::timeout_at(until, t).await.is_err() {
                tracing::warn!(worker = name, "still in a pass at shutdown");
                late.push(name);
            }
        }
        late
    }
}

/// Reads the workers' status from elsewhere (a metrics handler).
#[derive(Clone, Default)]
pub struct StatusHandle(Shared);

impl StatusHandle {
    pub fn status(&self) -> Vec<WorkerStatus> {
        let cells = self.0.lock().expect("workers").clone();
        cells.iter().map(|s| s.lock().expect("worker status").clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Counting {
        n: Arc<AtomicU64>,
        fail_on: u64,
        pass_ms: u64,
    }

    impl Worker for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn interval(&self) -> Duration {
            Duration::from_millis(5)
        }
        async fn pass(&mut self) -> Result<u64, Error> {
            tokio::time::sleep(Duration::from_millis(self.pass_ms)).await;
            let i = self.n.fetch_add(1, Ordering::SeqCst) + 1;
            if i == self.fail_on { Err(crate::err!(Unavailable, "pass {i} failed")) } else { Ok(1) }
        }
    }

    #[tokio::test]
    async fn a_worker_records_successes_and_failures_and_stops_when_told() {
        let (tx, rx) = crate::shutdown::channel();
        let n = Arc::new(AtomicU64::new(0));
        let mut w = Workers::new();
        w.spawn(Counting { n: n.clone(), fail_on: 2, pass_ms: 0 }, rx);
        while n.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let s = &w.status()[0];
        assert_eq!(s.name, "counting");
        assert!(s.failures == 1 && s.passes >= 3, "{s:?}");
        assert!(s.last_success_ms.is_some() && s.last_error.is_none(), "a success clears the last error: {s:?}");
        tx.shutdown();
        assert!(w.stop(Duration::from_secs(5)).await.is_empty());
        let stopped = n.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(n.load(Ordering::SeqCst), stopped, "no pass after stop");
    }

    struct Rung {
        n: Arc<AtomicU64>,
        bell: Arc<Notify>,
    }

    impl Worker for Rung {
        fn name(&self) -> &'static str {
            "rung"
        }
        fn interval(&self) -> Duration {
            Duration::from_secs(3600)
        }
        async fn pass(&mut self) -> Result<u64, Error> {
            Ok(self.n.fetch_add(1, Ordering::SeqCst) + 1)
        }
        fn wake(&self) -> Option<Arc<Notify>> {
            Some(self.bell.clone())
        }
    }

    #[tokio::test]
    async fn a_bell_starts_the_next_pass_before_the_interval() {
        let (tx, rx) = crate::shutdown::channel();
        let (n, bell) = (Arc::new(AtomicU64::new(0)), Arc::new(Notify::new()));
        let mut w = Workers::new();
        w.spawn(Rung { n: n.clone(), bell: bell.clone() }, rx);
        while n.load(Ordering::SeqCst) < 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(n.load(Ordering::SeqCst), 1, "an hour's interval: no second pass unasked");
        // Rung while waiting, or before the wait began (`notify_one` keeps one permit).
        bell.notify_one();
        tokio::time::timeout(Duration::from_secs(5), async {
            while n.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the bell starts a pass");
        tx.shutdown();
        assert!(w.stop(Duration::from_secs(5)).await.is_empty(), "shutdown ends a long wait at once");
    }

    #[tokio::test]
    async fn a_pass_under_way_is_finished_not_cut_off() {
        let (tx, rx) = crate::shutdown::channel();
        let n = Arc::new(AtomicU64::new(0));
        let mut w = Workers::new();
        w.spawn(Counting { n: n.clone(), fail_on: 0, pass_ms: 100 }, rx);
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.shutdown();
        assert!(w.stop(Duration::from_secs(5)).await.is_empty());
        assert_eq!(n.load(Ordering::SeqCst), 1, "the first pass completed");
    }
}
