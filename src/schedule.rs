//! Background jobs as ticks: each job is a plain function called with the
//! time it is due, and one small scheduler decides which jobs are due and
//! when to wake next.
//!
//! Keeping the timing apart from the work is what makes both testable
//! without sleeping: a job's tick is called with a chosen time, and
//! [`Schedule::due`] is asked about chosen times. [`spawn`] is the only
//! part that reads the clock and sleeps.
//!
//! A job whose tick is still running when it is due again is skipped for
//! that round (a retention pass over a large file may outlast its
//! interval): rounds are never bunched up or run twice at once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock;

/// What a job's tick asks of the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Call again at the next due time.
    Again,
    /// Leave the schedule (e.g. nothing can be recorded any more).
    Stop,
}

/// Jobs with intervals: which are due at a time, and when the next is.
#[derive(Debug, Clone)]
pub struct Schedule<J> {
    slots: Vec<Slot<J>>,
}

#[derive(Debug, Clone)]
struct Slot<J> {
    job: J,
    every_us: i64,
    next_us: i64,
}

impl<J> Default for Schedule<J> {
    fn default() -> Self {
        Schedule { slots: Vec::new() }
    }
}

impl<J: Clone + PartialEq> Schedule<J> {
    /// No jobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `job`, due first at `first_us` and then every `every` (at
    /// least a microsecond).
    pub fn every(mut self, job: J, every: Duration, first_us: i64) -> Self {
        let every_us = i64::try_from(every.as_micros()).unwrap_or(i64::MAX).max(1);
        self.slots.push(Slot {
            job,
            every_us,
            next_us: first_us,
        });
        self
    }

    /// The jobs due at `now_us`, in the order they were added. Each is next
    /// due at the first point of its interval grid after `now_us`: rounds
    /// missed while the process was stalled are skipped, not made up.
    ///
    /// The clock is the wall clock: if it jumped back, a job is due again
    /// at most one interval after `now_us`, never a whole jump later.
    pub fn due(&mut self, now_us: i64) -> Vec<J> {
        let mut due = Vec::new();
        for slot in &mut self.slots {
            if slot.next_us <= now_us {
                due.push(slot.job.clone());
                let missed = (now_us - slot.next_us) / slot.every_us;
                slot.next_us = slot
                    .next_us
                    .saturating_add(slot.every_us.saturating_mul(missed.saturating_add(1)));
            } else if slot.next_us - now_us > slot.every_us {
                slot.next_us = now_us.saturating_add(slot.every_us);
            }
        }
        due
    }

    /// When the next job is due (µs), or `None` without jobs.
    pub fn next_due_us(&self) -> Option<i64> {
        self.slots.iter().map(|s| s.next_us).min()
    }

    /// The shortest interval of the jobs, or `None` without jobs.
    fn shortest_us(&self) -> Option<i64> {
        self.slots.iter().map(|s| s.every_us).min()
    }

    /// Takes `job` off the schedule.
    pub fn retire(&mut self, job: &J) {
        self.slots.retain(|s| s.job != *job);
    }

    /// Whether any job is left.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Drives `schedule` on the tokio runtime: each due job's tick runs as a
/// task of its own (so a slow one does not hold up the others), called
/// with the time it was found due. A tick that returns [`Next::Stop`] (or
/// panics) takes its job off the schedule. Ends when `stop` turns true or
/// no job is left, after waiting for the ticks still running.
pub fn spawn<J, F, Fut>(
    mut schedule: Schedule<J>,
    mut stop: watch::Receiver<bool>,
    tick: F,
) -> JoinHandle<()>
where
    J: Clone + PartialEq + Send + 'static,
    F: Fn(J, i64) -> Fut + Send + 'static,
    Fut: Future<Output = Next> + Send + 'static,
{
    tokio::spawn(async move {
        let mut running: Vec<(J, JoinHandle<Next>)> = Vec::new();
        loop {
            let mut i = 0;
            while i < running.len() {
                if running[i].1.is_finished() {
                    let (job, handle) = running.swap_remove(i);
                    if !matches!(handle.await, Ok(Next::Again)) {
                        schedule.retire(&job);
                    }
                } else {
                    i += 1;
                }
            }
            if schedule.is_empty() || *stop.borrow() {
                break;
            }
            let now_us = clock::now_us();
            for job in schedule.due(now_us) {
                if running.iter().any(|(j, _)| *j == job) {
                    continue;
                }
                running.push((job.clone(), tokio::spawn(tick(job, now_us))));
            }
            let (Some(next_us), Some(shortest_us)) =
                (schedule.next_due_us(), schedule.shortest_us())
            else {
                break;
            };
            let wait_us = (next_us - clock::now_us()).clamp(0, shortest_us);
            let wait = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                // (The borrow `wait_for` returns is not `Send`: drop it here.)
                () = async { drop(stop.wait_for(|s| *s).await) } => break,
            }
        }
        for (_, handle) in running {
            let _ = handle.await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn jobs_are_due_on_their_own_intervals() {
        let mut s = Schedule::new()
            .every("sample", Duration::from_secs(1), 0)
            .every("check", Duration::from_secs(3), 0);
        assert_eq!(s.due(0), ["sample", "check"]);
        assert_eq!(s.next_due_us(), Some(S));
        assert!(s.due(S - 1).is_empty());
        assert_eq!(s.due(S), ["sample"]);
        assert_eq!(s.due(2 * S), ["sample"]);
        assert_eq!(s.due(3 * S), ["sample", "check"]);
        assert_eq!(s.next_due_us(), Some(4 * S));
    }

    #[test]
    fn missed_rounds_are_skipped_not_bunched() {
        let mut s = Schedule::new().every("sample", Duration::from_secs(1), 0);
        assert_eq!(s.due(0), ["sample"]);
        // Stalled for 10.5 s: one round now, the next on the grid.
        assert_eq!(s.due(10 * S + S / 2), ["sample"]);
        assert!(s.due(10 * S + S / 2 + 1).is_empty());
        assert_eq!(s.next_due_us(), Some(11 * S));
    }

    #[test]
    fn a_clock_jumping_back_delays_a_job_by_one_interval_at_most() {
        let mut s = Schedule::new().every("check", Duration::from_secs(5), 1_000 * S);
        assert_eq!(s.due(1_000 * S), ["check"]);
        assert!(s.due(10 * S).is_empty());
        assert_eq!(s.next_due_us(), Some(15 * S));
    }

    #[test]
    fn a_retired_job_is_never_due_again() {
        let mut s = Schedule::new().every("a", Duration::from_secs(1), 0).every(
            "b",
            Duration::from_secs(1),
            0,
        );
        s.retire(&"a");
        assert_eq!(s.due(0), ["b"]);
        s.retire(&"b");
        assert!(s.is_empty());
        assert_eq!(s.next_due_us(), None);
    }

    #[test]
    fn a_zero_interval_is_one_microsecond() {
        let mut s = Schedule::new().every("x", Duration::ZERO, 0);
        assert_eq!(s.due(0), ["x"]);
        assert_eq!(s.next_due_us(), Some(1));
    }
}
