//! The thread that receives every camera's stream.
//!
//! Camera streams arrive as a trickle of small RTP packets over TCP; a 4 Mbit/s camera
//! delivers about a dozen per frame. A runtime that parks in `epoll_wait` whenever it is idle
//! wakes for nearly every frame of every camera, and on a virtual machine each wake-up (a
//! context switch, a timer reprogram) costs more than handling the frame. So the streams
//! run on one single-threaded runtime that, each time it runs out of work, naps for the
//! *coalescing interval* before it parks: readiness from all cameras accumulates during the
//! nap and is handled in one pass. Measured on 32 streams of 1080p30 (BENCHMARKS.md), a 40 ms
//! nap cuts the agent's CPU per stream by about 45%. The cost is latency: a frame reaches
//! the writer at most one interval later, which a recording never notices (it is well inside
//! the flush interval) and the socket buffers absorb easily (40 ms of a 16 Mbit/s camera is
//! 80 KB). Zero disables the nap.

use std::future::Future;
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt};
use tokio::sync::oneshot;

/// Largest coalescing interval allowed: beyond it, timers (stall detection) and shutdown
/// lag noticeably, and a fast camera could fill its socket buffer.
pub const COALESCE_MAX: Duration = Duration::from_millis(200);

pub struct Ingest {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ingest {
    pub fn start(coalesce: Duration) -> Result<Ingest, Error> {
        if coalesce > COALESCE_MAX {
            base::bail!(
                InvalidArgument,
                "ingest coalescing interval: expected at most {COALESCE_MAX:?}, got {coalesce:?}"
            );
        }
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.enable_all();
        if !coalesce.is_zero() {
            // Called only when no task is runnable, just before the runtime blocks in the
            // I/O driver: the nap lets every camera's packets pile up first.
            b.on_thread_park(move || std::thread::sleep(coalesce));
        }
        let rt = b.build().err_kind(ErrorKind::Internal, || "starting the ingest runtime")?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                // A current-thread runtime runs its tasks only inside `block_on`.
                let _ = rt.block_on(stopped);
            })
            .err_kind(ErrorKind::Internal, || "starting the ingest thread")?;
        Ok(Ingest { handle, stop: Some(stop), thread: Some(thread) })
    }

    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(f)
    }
}

impl Drop for Ingest {
    /// Stops the thread; tasks still running on it are dropped (callers await their
    /// streams' handles first).
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_tasks_and_timers_with_and_without_nap() {
        for ms in [0, 30] {
            let ingest = Ingest::start(Duration::from_millis(ms)).unwrap();
            let h = ingest.spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                7
            });
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            assert_eq!(rt.block_on(h).unwrap(), 7);
        }
    }

    #[test]
    fn rejects_too_long_interval() {
        let e = Ingest::start(Duration::from_millis(201)).err().unwrap();
        assert!(e.to_string().contains("at most"), "{e}");
    }
}
