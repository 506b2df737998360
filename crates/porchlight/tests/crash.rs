//! Crash safety: kill -9 the agent at random points, over and over; then `check` passes,
//! nothing is half-indexed, and at most the last second before each kill is lost. A clean
//! stop (SIGINT, SIGTERM) loses nothing.

mod common;

use std::time::{Duration, SystemTime};

use common::*;

const CYCLES: usize = 50;

fn now_90k() -> i64 {
    base::clock::system_time_to_90k(SystemTime::now())
}

/// The newest indexed frame end over all segments of all streams.
fn newest_indexed_end(data_dir: &std::path::Path) -> i64 {
    let conn = index::open_read_only(&data_dir.join("index.db")).unwrap();
    index::all_segments(&conn).unwrap().iter().map(|s| s.end_90k()).max().unwrap_or(0)
}

fn config() -> String {
    format!(
        "[[cameras]]\nname = \"front\"\nmain = {{ file = {:?} }}\n[[cameras]]\nname = \"back\"\nmain = {{ file = {:?} }}\n",
        testdata("front.mp4"),
        testdata("back.mp4")
    )
}

/// A small deterministic PRNG (xorshift) so that failures reproduce from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn kill_9_in_a_loop_loses_at_most_the_last_second() {
    let dir = tempfile::tempdir().unwrap();
    let seed = now_90k() as u64 | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let mut worst_loss_s = 0f64;
    let data_dir = dir.path().join("data");
    for cycle in 0..CYCLES {
        // The previous cycle's status file must not be mistaken for this one's.
        let _ = std::fs::remove_file(data_dir.join("status.json"));
        // Runs in the index so far: this cycle's must be there before the kill, or a kill
        // before the first flush leaves nothing to recover (and the count at the end is off).
        let indexed = |cam: &str| if data_dir.join("index.db").exists() { runs(&data_dir, cam).len() } else { 0 };
        let before = [indexed("front"), indexed("back")];
        let agent = Agent::start(dir.path(), &config());
        // Wait until both cameras are recording in this cycle, then kill at a random point
        // between 0.3 s and 2.3 s later: inside flushes, segment creation, run starts.
        wait_until("recording", Duration::from_secs(20), || {
            let st = agent.status();
            st.len() == 2
                && st.iter().all(|s| s["state"] == "streaming")
                && indexed("front") > before[0]
                && indexed("back") > before[1]
        });
        std::thread::sleep(Duration::from_millis(300 + rng.next() % 2000));
        let mut agent = agent;
        agent.signal(libc::SIGKILL);
        let killed_at = now_90k();
        let _ = agent.child.wait();
        drop(agent);

        let (ok, text) = porchlight(&["check", "--data-dir", &data_dir.display().to_string(), "--deep"]);
        assert!(ok, "cycle {cycle}: check failed after kill -9:\n{text}");
        let loss_s = (killed_at - newest_indexed_end(&data_dir)) as f64 / 90_000.0;
        worst_loss_s = worst_loss_s.max(loss_s);
        assert!(loss_s <= 1.0, "cycle {cycle}: lost {loss_s:.3} s before the kill");
    }
    eprintln!("worst loss over {CYCLES} kills: {worst_loss_s:.3} s");

    // A final run recovers, then stops cleanly: nothing unindexed, nothing open, and every
    // kill shows up as a run that ended without being closed.
    let _ = std::fs::remove_file(data_dir.join("status.json"));
    let agent = Agent::start(dir.path(), &config());
    wait_until("recording", Duration::from_secs(20), || agent.recorded("back") > 10);
    agent.stop_with(libc::SIGTERM);
    let (ok, text) = porchlight(&["check", "--data-dir", &data_dir.display().to_string(), "--deep"]);
    assert!(ok, "{text}");
    assert!(text.contains("0 bytes unindexed"), "{text}");
    assert!(!text.contains("note:"), "clean stop left notes:\n{text}");
    let crashed =
        runs(&data_dir, "front").iter().filter(|r| r.3.as_deref().is_some_and(|s| s.contains("crash"))).count();
    assert_eq!(crashed, CYCLES, "every kill should leave one recovered run per camera");
}

#[test]
fn clean_stop_indexes_every_byte() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::start(dir.path(), &config());
        wait_until("recording", Duration::from_secs(20), || {
            agent.recorded("front") > 30 && agent.recorded("back") > 10
        });
        std::thread::sleep(Duration::from_millis(777));
        let data_dir = agent.data_dir.clone();
        agent.stop_with(sig);
        let (ok, text) = porchlight(&["check", "--data-dir", &data_dir.display().to_string(), "--deep"]);
        assert!(ok, "{text}");
        assert!(
            text.contains("0 bytes unindexed") && !text.contains("note:"),
            "signal {sig} left unindexed data:\n{text}"
        );
        // Every frame the agent received is in the index.
        let conn = index::open_read_only(&data_dir.join("index.db")).unwrap();
        let indexed: i64 = index::all_segments(&conn).unwrap().iter().map(|s| s.frames).sum();
        let recorded: u64 = status(&data_dir).iter().map(|s| s["frames_recorded"].as_u64().unwrap()).sum();
        assert_eq!(indexed as u64, recorded, "signal {sig}");
        let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
        for line in log.lines().filter(|l| l.contains("stream stopped")) {
            let field = |k: &str| {
                line.split(&format!("{k}=")).nth(1).and_then(|s| s.split_whitespace().next()).unwrap().to_string()
            };
            assert_eq!(field("received"), field("recorded"), "signal {sig}: {line}");
        }
    }
}
