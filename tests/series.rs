//! The time series (`monitor::series`, `queries/series_*.sql`) on real
//! files written through the real writer, every bucket recomputed by hand
//! from the records written:
//!
//! - a 20 s run gives twenty one-second buckets starting at the run's start
//!   (not at a calendar minute), from the raw rows, with exact counts, error
//!   rates, rates per second and nearest-rank p50/p95 event latency; empty
//!   buckets are present with zeros;
//! - another run writing the same seconds into the same file is excluded
//!   from a run's series and included in every run's;
//! - a window of hours reads whole-minute buckets from the rollups (from
//!   the minute of its start to the end of its last minute): counts
//!   equal the raw rows' on the same minute-aligned buckets, percentiles are
//!   the histogram bound at the nearest rank;
//! - a window retention emptied reads whole minutes from the rollups and
//!   says so; raw rows asked for miss the deleted part, and say so;
//! - `query series` prints the same series as JSON and as CSV.

mod support;

use std::sync::Arc;

use multiagents::monitor::RunScope;
use multiagents::monitor::coverage::Source;
use multiagents::monitor::series::{self, Series, SeriesSource};
use multiagents::store::histogram::HISTOGRAM_BOUNDS_MS;
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, RetentionCutoffs,
    WorkflowChanged, WorkflowStarted, WorkflowState, Writer,
};
use multiagents::window::TimeWindow;

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
/// 2024-01-01T00:00:00Z.
const T: i64 = 1_704_067_200_000_000;
/// A run start that is neither a whole minute nor a whole second.
const T0: i64 = T + 17 * SECOND + 300_000;

/// One execution as written: when it ended, whether it is an error (failed
/// or timeout), its latency (dispatch -> end).
#[derive(Debug, Clone, Copy)]
struct Execution {
    finished_us: i64,
    error: bool,
    latency_us: i64,
}

/// What a run wrote, to recompute every bucket from.
#[derive(Debug, Default)]
struct Written {
    executions: Vec<Execution>,
    workflows_ended_us: Vec<i64>,
}

/// Records `n` workflows whose ends spread over `[start, start + span)`,
/// nothing ending in `[gap.0, gap.1)`, each with one to three executions of
/// random outcome and latency (up to `max_latency_us`). Waits for the commit.
fn record(
    writer: &Writer,
    seed: u64,
    n: i64,
    start: i64,
    span: i64,
    gap: (i64, i64),
    max_latency_us: i64,
) -> Written {
    let mut rng = support::dataset::Rng::new(seed);
    let mut written = Written::default();
    let name: Arc<str> = Arc::from("wf");
    let worker: Arc<str> = Arc::from(["alpha", "beta"][seed as usize % 2]);
    for i in 0..n {
        let mut end = start + i * span / n + rng.range(0, span / n);
        // Executions end up to 0.6 s before their workflow: keep those of
        // the workflows just after the gap out of it too.
        if gap.0 < gap.1 && end >= gap.0 && end < gap.1 + SECOND {
            continue;
        }
        end = end.min(start + span - 1);
        let id = writer.next_id();
        let steps = rng.range(1, 4);
        let created = end - max_latency_us * 4 - 10;
        writer
            .blocking_record(Record::WorkflowStarted(WorkflowStarted {
                id,
                transaction_id: Arc::from(support::uuid_like(id)),
                workflow_name: Arc::clone(&name),
                created_at_us: created,
                started_at_us: created,
                input_size_bytes: 1,
            }))
            .unwrap();
        let mut failed = false;
        for s in 0..steps {
            let eid = writer.next_id();
            // The last execution ends with the workflow; earlier ones a
            // little before.
            let finished = end - (steps - 1 - s) * rng.range(0, 3 * SECOND / 10);
            let latency = rng.range(1, max_latency_us);
            let dispatched = finished - latency;
            let outcome = match rng.range(0, 10) {
                0 => EventOutcome::Failed,
                1 => EventOutcome::Timeout,
                2 => EventOutcome::Cancelled,
                _ => EventOutcome::Completed,
            };
            failed |= outcome == EventOutcome::Failed;
            writer
                .blocking_record(Record::EventDispatched(EventDispatched {
                    id: eid,
                    workflow_id: id,
                    event_type: EventType::Command,
                    step: Arc::from(format!("s{s}")),
                    worker: Arc::clone(&worker),
                    attempt: 1,
                    dispatched_at_us: dispatched,
                    payload_size_bytes: 1,
                }))
                .unwrap();
            writer
                .blocking_record(Record::EventFinished(EventFinished {
                    id: eid,
                    outcome,
                    picked_up_at_us: Some(dispatched),
                    processing_at_us: Some(dispatched),
                    finished_at_us: finished,
                    duration_us: latency,
                    result_size_bytes: None,
                    error_type: (outcome == EventOutcome::Failed).then(|| "Boom".to_string()),
                    error_message: None,
                    worker: Arc::clone(&worker),
                    event_type: EventType::Command,
                    dispatched_at_us: dispatched,
                    payload_size_bytes: 1,
                    host: None,
                }))
                .unwrap();
            written.executions.push(Execution {
                finished_us: finished,
                error: matches!(outcome, EventOutcome::Failed | EventOutcome::Timeout),
                latency_us: latency,
            });
        }
        writer
            .blocking_record(Record::WorkflowChanged(WorkflowChanged {
                id,
                state: if failed {
                    WorkflowState::Failed
                } else {
                    WorkflowState::Completed
                },
                at_us: end,
                current_step: None,
                error: None,
                workflow_name: Arc::clone(&name),
                created_at_us: created,
            }))
            .unwrap();
        written.workflows_ended_us.push(end);
    }
    writer.blocking_flush().unwrap();
    written
}

/// The nearest-rank percentile (queries/worker_performance.sql): the value
/// at 1-based rank ceil(p n / 100) of the sorted values; 0 when empty.
fn nearest_rank(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(p * sorted.len()).div_ceil(100).max(1) - 1]
}

/// The histogram bound (µs) holding the nearest rank, as the rollups answer.
fn histogram_rank(sorted: &[i64], p: usize) -> i64 {
    let v = nearest_rank(sorted, p);
    if sorted.is_empty() {
        return 0;
    }
    let bound = HISTOGRAM_BOUNDS_MS
        .iter()
        .find(|&&b| v <= b * 1000)
        .expect("latencies stay under the last bound");
    bound * 1000
}

/// Hand-computed figures of the bucket `[start, start + width)`.
struct Expected {
    workflows_ended: u64,
    executions: u64,
    errors: u64,
    latencies: Vec<i64>,
}

fn expected(runs: &[&Written], start: i64, end: i64) -> Expected {
    let inside = |t: i64| t >= start && t < end;
    let mut e = Expected {
        workflows_ended: 0,
        executions: 0,
        errors: 0,
        latencies: Vec::new(),
    };
    for w in runs {
        e.workflows_ended += w.workflows_ended_us.iter().filter(|&&t| inside(t)).count() as u64;
        for x in w.executions.iter().filter(|x| inside(x.finished_us)) {
            e.executions += 1;
            e.errors += u64::from(x.error);
            e.latencies.push(x.latency_us);
        }
    }
    e.latencies.sort_unstable();
    e
}

/// Every bucket of `s` equals the hand computation from `runs`' records;
/// percentiles exact (raw rows) or the histogram bound (rollups).
fn check(s: &Series, runs: &[&Written]) {
    assert!(!s.buckets.is_empty());
    for (k, b) in s.buckets.iter().enumerate() {
        let start = s.start_us + k as i64 * s.bucket_us;
        assert_eq!(b.start_us, start, "bucket {k}");
        assert_eq!(b.offset_s, (k as i64 * s.bucket_us) as f64 / 1e6);
        // The window's end cuts the last bucket short.
        let e = expected(runs, start, (start + s.bucket_us).min(s.end_us));
        assert_eq!(b.workflows_ended, e.workflows_ended, "bucket {k} workflows");
        assert_eq!(b.executions, e.executions, "bucket {k} executions");
        assert_eq!(b.errors, e.errors, "bucket {k} errors");
        let rate = if e.executions == 0 {
            0.0
        } else {
            e.errors as f64 * 100.0 / e.executions as f64
        };
        assert!((b.error_rate - rate).abs() < 1e-9, "bucket {k} error rate");
        let seconds = (s.bucket_us.min(s.end_us - start)) as f64 / 1e6;
        assert!(
            (b.executions_per_s - e.executions as f64 / seconds).abs() < 1e-9,
            "bucket {k} executions/s"
        );
        assert!(
            (b.workflows_per_s - e.workflows_ended as f64 / seconds).abs() < 1e-9,
            "bucket {k} workflows/s"
        );
        let (p50, p95) = match s.provenance.source {
            Source::Raw => (
                nearest_rank(&e.latencies, 50),
                nearest_rank(&e.latencies, 95),
            ),
            _ => (
                histogram_rank(&e.latencies, 50),
                histogram_rank(&e.latencies, 95),
            ),
        };
        let some = |us: i64| (!e.latencies.is_empty()).then(|| us as f64 / 1000.0);
        assert_eq!(b.p50_latency_ms, some(p50), "bucket {k} p50");
        assert_eq!(b.p95_latency_ms, some(p95), "bucket {k} p95");
    }
}

/// Two runs in one file writing the same 20 seconds; the first has nothing
/// ending in its seconds 7 and 8.
fn two_short_runs(db: &support::TempDb) -> (i64, Written, Written) {
    let (_store, first) = support::open(&db.path);
    let a = record(
        &first,
        1,
        300,
        T0,
        20 * SECOND,
        (T0 + 7 * SECOND, T0 + 9 * SECOND),
        400_000,
    );
    let run_a = first.run_id();
    first.blocking_shutdown().unwrap();
    let (_store, second) = support::open(&db.path);
    let b = record(&second, 2, 200, T0, 20 * SECOND, (0, 0), 900_000);
    second.blocking_shutdown().unwrap();
    (run_a, a, b)
}

#[test]
fn a_20_second_run_gives_20_one_second_buckets_from_its_start() {
    let db = support::temp_db();
    let (run_a, a, b) = two_short_runs(&db);
    let (store, writer) = support::open(&db.path);
    let conn = store.reader().unwrap();
    let window = TimeWindow {
        start_us: T0,
        end_us: T0 + 20 * SECOND,
    };
    let s = series::series(&conn, window, RunScope::Run(run_a), SeriesSource::Auto).unwrap();
    assert_eq!(s.provenance.source, Source::Raw);
    assert!(s.provenance.approximate.is_empty());
    assert_eq!(s.bucket_us, SECOND);
    assert_eq!(s.start_us, T0, "buckets start at the run's start");
    assert_eq!(s.buckets.len(), 20);
    assert_eq!(s.buckets[0].offset_s, 0.0);
    assert_eq!(s.buckets[19].offset_s, 19.0);
    // The gap: present, with zeros.
    for k in [7, 8] {
        let g = &s.buckets[k];
        assert_eq!(
            (g.executions, g.workflows_ended, g.errors),
            (0, 0, 0),
            "bucket {k}"
        );
        assert_eq!((g.error_rate, g.p95_latency_ms), (0.0, None));
    }
    check(&s, &[&a]);
    assert_eq!(
        s.buckets.iter().map(|b| b.executions).sum::<u64>(),
        a.executions
            .iter()
            .filter(|x| x.finished_us >= T0 && x.finished_us < T0 + 20 * SECOND)
            .count() as u64
    );
    // Every run: both runs' rows.
    let all = series::series(&conn, window, RunScope::AllRuns, SeriesSource::Auto).unwrap();
    check(&all, &[&a, &b]);
    assert!(all.buckets[7].executions > 0, "the other run fills the gap");
    // An unaligned window ending mid-second: its last bucket's rates are
    // over the part inside the window.
    let cut = TimeWindow {
        start_us: T0 + 2 * SECOND,
        end_us: T0 + 5 * SECOND + 250_000,
    };
    let s = series::series(&conn, cut, RunScope::Run(run_a), SeriesSource::Auto).unwrap();
    assert_eq!(s.buckets.len(), 4);
    check(&s, &[&a]);
    // CSV: a header and one line per bucket.
    let csv = s.to_csv();
    assert_eq!(csv.lines().count(), 5);
    assert_eq!(csv.lines().next(), Some(series::CSV_HEADER));
    writer.blocking_shutdown().unwrap();
}

#[test]
fn a_long_window_reads_the_rollups_with_the_raw_counts() {
    let db = support::temp_db();
    let (store, first) = support::open(&db.path);
    let span = 2 * 60 * MINUTE + 10 * MINUTE;
    let a = record(
        &first,
        3,
        1_500,
        T,
        span,
        (T + 30 * MINUTE, T + 33 * MINUTE),
        3 * SECOND,
    );
    let run_a = first.run_id();
    first.blocking_shutdown().unwrap();
    let (_store, second) = support::open(&db.path);
    let b = record(&second, 4, 700, T, span, (0, 0), 8 * SECOND);
    second.blocking_shutdown().unwrap();
    let conn = store.reader().unwrap();
    let window = TimeWindow {
        start_us: T,
        end_us: T + span,
    };
    let rolled = series::series(&conn, window, RunScope::Run(run_a), SeriesSource::Auto).unwrap();
    assert_eq!(rolled.provenance.source, Source::Rollups);
    assert_eq!(
        rolled.provenance.approximate,
        ["p50_latency_ms", "p95_latency_ms"]
    );
    assert!(!rolled.provenance.notes.is_empty(), "the answer says why");
    assert_eq!(rolled.bucket_us, MINUTE);
    assert_eq!(rolled.buckets.len(), 130);
    check(&rolled, &[&a]);
    // The gap's minutes are zeros.
    assert_eq!(rolled.buckets[31].executions, 0);
    // The raw rows on the same minute buckets: the same counts.
    let raw = series::series(&conn, window, RunScope::Run(run_a), SeriesSource::Raw).unwrap();
    assert_eq!(raw.provenance.source, Source::Raw);
    assert_eq!(raw.bucket_us, MINUTE);
    check(&raw, &[&a]);
    for (r, x) in rolled.buckets.iter().zip(&raw.buckets) {
        assert_eq!(
            (r.start_us, r.workflows_ended, r.executions, r.errors),
            (x.start_us, x.workflows_ended, x.executions, x.errors)
        );
    }
    // Every run, from the rollups.
    let all = series::series(&conn, window, RunScope::AllRuns, SeriesSource::Auto).unwrap();
    check(&all, &[&a, &b]);
    // A window that does not start on a minute: buckets start at its
    // minute.
    let unaligned = TimeWindow {
        start_us: T + 90 * SECOND,
        end_us: T + span - 20 * SECOND,
    };
    let s = series::series(&conn, unaligned, RunScope::Run(run_a), SeriesSource::Auto).unwrap();
    assert_eq!(s.start_us, T + MINUTE);
    assert_eq!(s.end_us, T + span, "the last minute counts whole");
    check(&s, &[&a]);
}

#[test]
fn an_empty_window_is_all_zeros() {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let conn = store.reader().unwrap();
    let window = TimeWindow {
        start_us: T,
        end_us: T + 5 * MINUTE,
    };
    let s = series::series(&conn, window, RunScope::AllRuns, SeriesSource::Auto).unwrap();
    assert_eq!(s.buckets.len(), 300);
    assert!(s.buckets.iter().all(|b| b.executions == 0
        && b.workflows_ended == 0
        && b.p95_latency_ms.is_none()
        && b.executions_per_s == 0.0));
    writer.blocking_shutdown().unwrap();
}

/// The binary exists only with the `cli` feature.
#[cfg(feature = "cli")]
#[test]
fn query_series_prints_json_and_csv() {
    let db = support::temp_db();
    let (run_a, a, _) = two_short_runs(&db);
    let until = multiagents::clock::format_iso(T0 + 20 * SECOND);
    let run = run_a.to_string();
    let args = [
        "query", "series", "--run", &run, "--until", &until, "--window", "20s",
    ];
    let json = support::cli::json_answer(&db.path, &args);
    assert_eq!(json["source"], "raw");
    assert_eq!(json["run_id"], run_a);
    assert_eq!(json["bucket_us"], SECOND);
    assert_eq!(json["start_us"], T0);
    let buckets = json["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 20);
    for (k, b) in buckets.iter().enumerate() {
        let start = T0 + k as i64 * SECOND;
        let e = expected(&[&a], start, start + SECOND);
        assert_eq!(b["offset_s"], k as f64);
        assert_eq!(b["executions"], e.executions);
        assert_eq!(b["errors"], e.errors);
        assert_eq!(b["workflows_ended"], e.workflows_ended);
        assert_eq!(
            b["p95_latency_ms"].as_f64(),
            (!e.latencies.is_empty()).then(|| nearest_rank(&e.latencies, 95) as f64 / 1000.0)
        );
    }
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = support::cli::stdout(&db.path, &csv_args);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 21);
    assert_eq!(lines[0], series::CSV_HEADER);
    for (k, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 11, "{line}");
        assert_eq!(fields[0], k.to_string());
        assert_eq!(fields[4], buckets[k]["executions"].to_string());
    }
    // The table names its source and bucket width.
    let table = support::cli::stdout(&db.path, &args);
    assert!(table.contains("20 buckets of 1 s"), "{table}");
    assert!(table.contains("raw rows (exact)"), "{table}");
    // CSV is for the series only: one line, non-zero exit.
    let out = support::cli::multiagents(&db.path)
        .args(["query", "events", "--format", "csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("csv"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_retention_emptied_reads_the_rollups_and_says_so() {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let run = writer.run_id();
    let a = {
        let writer = writer.clone();
        tokio::task::spawn_blocking(move || {
            record(&writer, 5, 200, T0, 20 * SECOND, (0, 0), 400_000)
        })
        .await
        .unwrap()
    };
    writer
        .run_retention(RetentionCutoffs {
            traces_before_us: Some(T0 + 10 * SECOND),
            ..RetentionCutoffs::default()
        })
        .await
        .unwrap();
    let conn = store.reader().unwrap();
    let window = TimeWindow {
        start_us: T0,
        end_us: T0 + 20 * SECOND,
    };
    // Whole minutes from the rollups, which kept every execution.
    let s = series::series(&conn, window, RunScope::Run(run), SeriesSource::Auto).unwrap();
    assert_eq!(s.provenance.source, Source::Rollups);
    assert_eq!((s.start_us, s.end_us, s.bucket_us), (T, T + MINUTE, MINUTE));
    assert!(
        s.provenance.notes[0].contains("deleted by retention"),
        "{:?}",
        s.provenance.notes
    );
    check(&s, &[&a]);
    // Raw rows asked for: the deleted part is missing, and the note says so.
    let raw = series::series(&conn, window, RunScope::Run(run), SeriesSource::Raw).unwrap();
    assert_eq!(raw.provenance.source, Source::Raw);
    assert!(
        raw.provenance.notes[0].contains("deleted by retention"),
        "{:?}",
        raw.provenance.notes
    );
    assert_eq!(raw.buckets[0].executions, 0);
    writer.shutdown().await.unwrap();
}
