//! The writer's part of the sketches (see [`crate::store::sketch`]): one
//! batch's entries, and the minutes of this run not yet in the file.

use std::sync::Arc;

use rusqlite::{Transaction, named_params};

use super::fxhash::FastMap;
use crate::store::sketch::{HOUR_US, MINUTE_US, SketchBuckets};

/// Counts of one key: (durations, latencies).
type Counts = (i64, i64);
/// (worker, minute start, key).
pub(super) type SketchKey = (Arc<str>, i64, i64);

/// One batch's sketch entries.
#[derive(Debug, Default)]
pub(super) struct BatchSketch {
    pub(super) entries: FastMap<SketchKey, Counts>,
    /// The latest end of an event in the batch.
    pub(super) max_finished_us: Option<i64>,
}

impl BatchSketch {
    /// Counts one execution that ended at `finished_us` after
    /// `duration_us` of the worker's time and `latency_us` since dispatch.
    pub(super) fn add(
        &mut self,
        buckets: &SketchBuckets,
        worker: &Arc<str>,
        finished_us: i64,
        duration_us: i64,
        latency_us: i64,
    ) {
        let minute = crate::clock::minute_start_us(finished_us);
        self.entries
            .entry((Arc::clone(worker), minute, buckets.key(duration_us)))
            .or_default()
            .0 += 1;
        self.entries
            .entry((Arc::clone(worker), minute, buckets.key(latency_us)))
            .or_default()
            .1 += 1;
        self.max_finished_us = Some(
            self.max_finished_us
                .map_or(finished_us, |m| m.max(finished_us)),
        );
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.max_finished_us = None;
    }
}

/// The writer's sketches of its own run not yet in the file.
#[derive(Debug)]
pub(super) struct SketchState {
    buckets: Arc<SketchBuckets>,
    /// Minutes before this are complete in the file; at and after it they
    /// are in `pending` only.
    until_us: i64,
    pending: FastMap<SketchKey, Counts>,
}

/// What one commit adds: the new `sketched_until_us`, if it moves.
#[derive(Debug, Clone, Copy)]
pub(super) struct SketchPlan {
    new_until_us: i64,
}

impl SketchState {
    /// The state of a run whose file rows are complete before `until_us`.
    pub(super) fn new(buckets: SketchBuckets, until_us: i64) -> Self {
        SketchState {
            buckets: Arc::new(buckets),
            until_us,
            pending: FastMap::default(),
        }
    }

    /// The buckets values go in.
    pub(super) fn buckets(&self) -> Arc<SketchBuckets> {
        Arc::clone(&self.buckets)
    }

    /// Where `sketched_until_us` goes with this batch: one minute behind
    /// the batch's latest event, never back.
    pub(super) fn plan(&self, batch: &BatchSketch) -> SketchPlan {
        let behind = batch
            .max_finished_us
            .map(|m| crate::clock::minute_start_us(m) - MINUTE_US);
        SketchPlan {
            new_until_us: behind.map_or(self.until_us, |b| b.max(self.until_us)),
        }
    }

    /// Adds, inside `tx`, what the file must hold once this batch commits:
    /// the batch's entries before the new `sketched_until_us` (late events,
    /// or minutes it passes) and the pending ones it passes, to the minute
    /// and hour tables; then moves `sketched_until_us`. Changes nothing in
    /// memory (a failed commit is retried from the same state).
    pub(super) fn write(
        &self,
        tx: &Transaction<'_>,
        plan: SketchPlan,
        batch: &BatchSketch,
        run_id: i64,
        worker_id: &mut dyn FnMut(&Arc<str>) -> rusqlite::Result<i64>,
    ) -> rusqlite::Result<()> {
        let now_due = batch
            .entries
            .iter()
            .filter(|((_, minute, _), _)| *minute < plan.new_until_us);
        let passed = self
            .pending
            .iter()
            .filter(|((_, minute, _), _)| *minute < plan.new_until_us);
        let mut minute_upsert =
            tx.prepare_cached(crate::sql::write::UPSERT_WORKER_MINUTE_SKETCH)?;
        let mut hour_upsert = tx.prepare_cached(crate::sql::write::UPSERT_WORKER_HOUR_SKETCH)?;
        for ((worker, minute, key), (durations, latencies)) in now_due.chain(passed) {
            let worker_id = worker_id(worker)?;
            minute_upsert.execute(named_params! {
                ":minute_us": minute, ":run_id": run_id, ":worker_id": worker_id, ":key": key,
                ":durations": durations, ":latencies": latencies,
            })?;
            hour_upsert.execute(named_params! {
                ":hour_us": minute - minute.rem_euclid(HOUR_US), ":run_id": run_id,
                ":worker_id": worker_id, ":key": key,
                ":durations": durations, ":latencies": latencies,
            })?;
        }
        if plan.new_until_us > self.until_us {
            tx.prepare_cached(crate::sql::write::SET_SKETCHED_UNTIL)?
                .execute(named_params! {":run_id": run_id, ":until_us": plan.new_until_us})?;
        }
        Ok(())
    }

    /// Adds, inside `tx`, every minute held in memory and marks the run's
    /// sketches complete (`sketched_until_us` NULL): the run is closing.
    /// Changes nothing in memory (a failed close is retried).
    pub(super) fn write_all(
        &self,
        tx: &Transaction<'_>,
        run_id: i64,
        worker_id: &mut dyn FnMut(&Arc<str>) -> rusqlite::Result<i64>,
    ) -> rusqlite::Result<()> {
        let all = SketchPlan {
            new_until_us: i64::MAX,
        };
        self.write(tx, all, &BatchSketch::default(), run_id, worker_id)?;
        tx.prepare_cached(crate::sql::write::SET_SKETCHED_UNTIL)?
            .execute(named_params! {":run_id": run_id, ":until_us": None::<i64>})?;
        Ok(())
    }

    /// After the commit of [`SketchState::write`]: the batch's later
    /// minutes join the pending ones, and the passed ones leave.
    pub(super) fn committed(&mut self, plan: SketchPlan, batch: &BatchSketch) {
        let until = plan.new_until_us;
        if until > self.until_us {
            self.pending.retain(|(_, minute, _), _| *minute >= until);
            self.until_us = until;
        }
        for (key, (d, l)) in &batch.entries {
            if key.1 >= until {
                let counts = self.pending.entry(key.clone()).or_default();
                counts.0 += d;
                counts.1 += l;
            }
        }
    }
}
