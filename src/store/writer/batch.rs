//! One batch of records, merged before it is written: the start and the end
//! of the same workflow or event become one row, and the per-minute rollups
//! and histograms are summed in memory, so each rollup row is written once
//! per batch however many records it counts.

use std::sync::Arc;

use super::fxhash::FastMap;
use super::sketch::BatchSketch;
use crate::clock;
use crate::store::histogram::histogram_bucket;
use crate::store::records::{
    AlertFired, EventDispatched, EventFinished, EventOutcome, EventType, HostSeen,
    MetricObservation, Record, SystemSample, WorkflowChanged, WorkflowStarted, WorkflowState,
};
use crate::store::sketch::SketchBuckets;

/// A workflow row as it will be inserted: the start merged with any changes
/// that arrived in the same batch.
pub(super) struct WorkflowRow {
    pub(super) start: WorkflowStarted,
    pub(super) state: WorkflowState,
    pub(super) compensating_at_us: Option<i64>,
    pub(super) ended_at_us: Option<i64>,
    pub(super) current_step: Option<Arc<str>>,
    pub(super) error: Option<String>,
    /// Its last event's id, once it ended (see [`Batch::last_event_ids`]).
    pub(super) last_event_id: Option<i64>,
}

/// A state change of a workflow inserted by an earlier batch, with its last
/// event's id when the change ends it.
pub(super) struct WorkflowUpdate {
    pub(super) change: WorkflowChanged,
    pub(super) last_event_id: Option<i64>,
}

/// An event row as it will be inserted: the start merged with its end when
/// both arrived in the same batch.
pub(super) struct EventRow {
    pub(super) start: EventDispatched,
    pub(super) end: Option<EventFinished>,
}

/// One worker's executions of one event type in one minute, as summed so
/// far in this batch (added to its `worker_minute_rollups` row).
#[derive(Default)]
pub(super) struct WorkerRollup {
    pub(super) completed: i64,
    pub(super) failed: i64,
    pub(super) timeout: i64,
    pub(super) cancelled: i64,
    pub(super) duration_sum_us: i64,
    pub(super) duration_min_us: Option<i64>,
    pub(super) duration_max_us: Option<i64>,
    pub(super) latency_sum_us: i64,
    pub(super) latency_max_us: Option<i64>,
    pub(super) payload_sum_bytes: i64,
}

/// One workflow name's ends in one minute, as summed so far in this batch
/// (added to its `workflow_minute_rollups` row).
#[derive(Default)]
pub(super) struct WorkflowRollup {
    pub(super) completed: i64,
    pub(super) failed: i64,
    pub(super) compensated: i64,
    pub(super) cancelled: i64,
    pub(super) latency_sum_us: i64,
    pub(super) latency_max_us: Option<i64>,
}

/// One worker's errors of one type in one minute, as summed so far in this
/// batch (added to its `error_minute_rollups` row).
pub(super) struct ErrorRollup {
    pub(super) count: i64,
    pub(super) first_seen_us: i64,
    pub(super) last_seen_us: i64,
    /// The latest error's event (latest end, then highest id).
    pub(super) example_id: i64,
}

/// The records of one transaction, merged; reused from batch to batch.
pub(super) struct Batch {
    /// Records added (the acknowledged count), whatever they merged into.
    pub(super) records: usize,
    pub(super) workflows: Vec<WorkflowRow>,
    workflow_index: FastMap<i64, usize>,
    pub(super) workflow_changes: Vec<WorkflowUpdate>,
    pub(super) events: Vec<EventRow>,
    event_index: FastMap<i64, usize>,
    pub(super) event_finishes: Vec<EventFinished>,
    pub(super) samples: Vec<SystemSample>,
    pub(super) metrics: Vec<MetricObservation>,
    pub(super) alerts: Vec<AlertFired>,
    pub(super) alert_resolutions: Vec<(i64, i64)>,
    pub(super) hosts: Vec<HostSeen>,
    pub(super) worker_rollups: FastMap<(Arc<str>, EventType, i64), WorkerRollup>,
    pub(super) histogram: FastMap<(Arc<str>, i64, i64), i64>,
    /// Event latency histogram: (minute, bucket) -> count.
    pub(super) latency_histogram: FastMap<(i64, i64), i64>,
    pub(super) workflow_rollups: FastMap<(Arc<str>, i64), WorkflowRollup>,
    /// Errors: (worker, minute, error type) -> their rollup.
    pub(super) error_rollups: FastMap<(Arc<str>, i64, Arc<str>), ErrorRollup>,
    /// Duration and latency sketch counts of the events that ended.
    pub(super) sketch: BatchSketch,
    buckets: Arc<SketchBuckets>,
    /// The highest event id dispatched so far by each workflow in flight,
    /// kept across batches: a workflow's events are the rows of id range
    /// (its id, last_event_id] (migrations/0006_compact_events.sql), so its
    /// row gets that bound when it ends. Holds the workflows in flight only.
    last_event_ids: FastMap<i64, i64>,
}

impl Batch {
    /// An empty batch putting values in `buckets`.
    pub(super) fn new(buckets: Arc<SketchBuckets>) -> Self {
        Batch {
            records: 0,
            workflows: Vec::new(),
            workflow_index: FastMap::default(),
            workflow_changes: Vec::new(),
            events: Vec::new(),
            event_index: FastMap::default(),
            event_finishes: Vec::new(),
            samples: Vec::new(),
            metrics: Vec::new(),
            alerts: Vec::new(),
            alert_resolutions: Vec::new(),
            hosts: Vec::new(),
            worker_rollups: FastMap::default(),
            histogram: FastMap::default(),
            latency_histogram: FastMap::default(),
            workflow_rollups: FastMap::default(),
            error_rollups: FastMap::default(),
            sketch: BatchSketch::default(),
            buckets,
            last_event_ids: FastMap::default(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Empties the batch, keeping its allocations for the next one.
    pub(super) fn clear(&mut self) {
        self.records = 0;
        self.workflows.clear();
        self.workflow_index.clear();
        self.workflow_changes.clear();
        self.events.clear();
        self.event_index.clear();
        self.event_finishes.clear();
        self.samples.clear();
        self.metrics.clear();
        self.alerts.clear();
        self.alert_resolutions.clear();
        self.hosts.clear();
        self.worker_rollups.clear();
        self.histogram.clear();
        self.latency_histogram.clear();
        self.workflow_rollups.clear();
        self.error_rollups.clear();
        self.sketch.clear();
    }

    pub(super) fn add(&mut self, record: Record) {
        self.records += 1;
        match record {
            Record::WorkflowStarted(start) => {
                // No event yet: the empty range (id, id].
                self.last_event_ids.insert(start.id, start.id);
                self.workflow_index.insert(start.id, self.workflows.len());
                self.workflows.push(WorkflowRow {
                    start,
                    state: WorkflowState::Running,
                    compensating_at_us: None,
                    ended_at_us: None,
                    current_step: None,
                    error: None,
                    last_event_id: None,
                });
            }
            Record::WorkflowChanged(change) => {
                self.roll_up_workflow(&change);
                let last_event_id = if change.state.is_terminal() {
                    self.last_event_ids.remove(&change.id)
                } else {
                    None
                };
                match self.workflow_index.get(&change.id) {
                    Some(&i) => {
                        let row = &mut self.workflows[i];
                        row.state = change.state;
                        if change.state == WorkflowState::Compensating {
                            row.compensating_at_us = Some(change.at_us);
                        }
                        if change.state.is_terminal() {
                            row.ended_at_us = Some(change.at_us);
                            row.last_event_id = last_event_id;
                        }
                        if change.current_step.is_some() {
                            row.current_step = change.current_step;
                        }
                        if change.error.is_some() {
                            row.error = change.error;
                        }
                    }
                    None => self.workflow_changes.push(WorkflowUpdate {
                        change,
                        last_event_id,
                    }),
                }
            }
            Record::EventDispatched(start) => {
                let last = self
                    .last_event_ids
                    .entry(start.workflow_id)
                    .or_insert(start.workflow_id);
                *last = (*last).max(start.id);
                self.event_index.insert(start.id, self.events.len());
                self.events.push(EventRow { start, end: None });
            }
            Record::EventFinished(end) => {
                self.roll_up_event(&end);
                match self.event_index.get(&end.id) {
                    Some(&i) => self.events[i].end = Some(end),
                    None => self.event_finishes.push(end),
                }
            }
            Record::SystemSample(sample) => self.samples.push(sample),
            Record::Metric(metric) => self.metrics.push(metric),
            Record::AlertFired(alert) => self.alerts.push(alert),
            Record::HostSeen(host) => self.hosts.push(host),
            Record::AlertResolved { id, resolved_at_us } => {
                self.alert_resolutions.push((id, resolved_at_us))
            }
        }
    }

    fn roll_up_event(&mut self, end: &EventFinished) {
        let minute = clock::minute_start_us(end.finished_at_us);
        let r = self
            .worker_rollups
            .entry((Arc::clone(&end.worker), end.event_type, minute))
            .or_default();
        match end.outcome {
            EventOutcome::Completed => r.completed += 1,
            EventOutcome::Failed => r.failed += 1,
            EventOutcome::Timeout => r.timeout += 1,
            EventOutcome::Cancelled => r.cancelled += 1,
        }
        r.duration_sum_us += end.duration_us;
        r.duration_min_us = Some(
            r.duration_min_us
                .map_or(end.duration_us, |m| m.min(end.duration_us)),
        );
        r.duration_max_us = Some(
            r.duration_max_us
                .map_or(end.duration_us, |m| m.max(end.duration_us)),
        );
        let latency = end.finished_at_us - end.dispatched_at_us;
        r.latency_sum_us += latency;
        r.latency_max_us = Some(r.latency_max_us.map_or(latency, |m| m.max(latency)));
        r.payload_sum_bytes += end.payload_size_bytes;
        *self
            .histogram
            .entry((
                Arc::clone(&end.worker),
                minute,
                histogram_bucket(end.duration_us),
            ))
            .or_default() += 1;
        *self
            .latency_histogram
            .entry((minute, histogram_bucket(latency)))
            .or_default() += 1;
        if matches!(end.outcome, EventOutcome::Failed | EventOutcome::Timeout) {
            let error_type: Arc<str> = match &end.error_type {
                Some(t) => Arc::from(t.as_str()),
                None => Arc::from(end.outcome.as_str()),
            };
            let at = end.finished_at_us;
            self.error_rollups
                .entry((Arc::clone(&end.worker), minute, error_type))
                .and_modify(|r| {
                    r.count += 1;
                    r.first_seen_us = r.first_seen_us.min(at);
                    if (at, end.id) > (r.last_seen_us, r.example_id) {
                        r.last_seen_us = at;
                        r.example_id = end.id;
                    }
                })
                .or_insert(ErrorRollup {
                    count: 1,
                    first_seen_us: at,
                    last_seen_us: at,
                    example_id: end.id,
                });
        }
        self.sketch.add(
            &self.buckets,
            &end.worker,
            end.finished_at_us,
            end.duration_us,
            latency,
        );
    }

    fn roll_up_workflow(&mut self, change: &WorkflowChanged) {
        if !change.state.is_terminal() {
            return;
        }
        let minute = clock::minute_start_us(change.at_us);
        let r = self
            .workflow_rollups
            .entry((Arc::clone(&change.workflow_name), minute))
            .or_default();
        match change.state {
            WorkflowState::Completed => r.completed += 1,
            WorkflowState::Failed => r.failed += 1,
            WorkflowState::Compensated => r.compensated += 1,
            WorkflowState::Cancelled => r.cancelled += 1,
            _ => {}
        }
        let latency = change.at_us - change.created_at_us;
        r.latency_sum_us += latency;
        r.latency_max_us = Some(r.latency_max_us.map_or(latency, |m| m.max(latency)));
    }
}
