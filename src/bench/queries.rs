//! Query speed: every file in [`QUERY_FILES`] timed through our API against
//! the same SQL run by the `sqlite3` shell on the same database file with
//! the same parameters; whole-hour summaries from the per-minute rollups
//! against the same summaries from the raw rows; whole-hour percentiles
//! against DuckDB ([`super::duckdb`]); and the file's bytes per execution
//! ([`super::footprint`]).
//!
//! The database is [`super::dataset`]'s generated hour (1,000,000
//! executions by default), written through the real writer and cached
//! between runs.
//!
//! How each side is timed (both warm: OS page cache and the connection's own
//! page cache; both SQLite's default `cache_size`):
//! - **ours**: one pooled read connection of [`Store::open_existing`]; the
//!   typed Rust function of the query file (or, where there is no public
//!   typed function, `prepare_cached` + bind + step over every column with
//!   the same parameters); one warm-up call, then `batches` batches of `R`
//!   calls; the figure is the median over batches of the mean per call.
//! - **shell**: `sqlite3 -bail FILE` reading a script of `.parameter set`
//!   lines and then the SQL text of the file, once (base) or `1 + R` times
//!   (long), output to /dev/null. Per execution is `(long - base) / R` of
//!   the two processes' wall times, so process start, schema load and the
//!   cold first execution cancel out, and the resolution is far finer than
//!   `.timer on`'s millisecond; the median over `batches` pairs. The shell
//!   prepares the statement on every execution; our functions use the
//!   statement cache (part of what our API does).
//!
//! `R` is chosen from our calibration call so that a batch takes about
//! `query_target_ms`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rusqlite::Connection;
use serde_json::json;

use super::dataset::{self, BUSY_WORKER, DatasetSpec, HOUR_START_US, HOUR_US, MINUTE_US};
use super::{BenchOptions, BenchResult, Figure, Goal, Progress};
use crate::monitor::series;
use crate::monitor::totals::{self, Source};
use crate::monitor::{
    RunScope, alerts, custom, event, executions, health::HealthThresholds, hosts, outcomes,
    performance, rollups, system, worker,
};
use crate::runs::{self, RunSelector};
use crate::sql::QUERY_FILES;
use crate::store::Store;
use crate::window::TimeWindow;

/// Our time over the shell's, at most.
const SHELL_RATIO_GOAL: f64 = 1.2;
/// Raw rows over rollups, at least (rollups at least 10× faster).
const ROLLUP_SPEEDUP_GOAL: f64 = 10.0;
/// A call slower than this, ms, is timed in one batch of one call.
const SLOW_CALL_MS: f64 = 2_000.0;

/// A bound parameter value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Param {
    Int(i64),
    Text(String),
    Null,
}

impl Param {
    /// The value as a SQL expression for the shell's `.parameter set`.
    fn sql(&self) -> String {
        match self {
            Param::Int(i64::MIN) => "(-9223372036854775807 - 1)".to_string(),
            Param::Int(v) => v.to_string(),
            Param::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Param::Null => "NULL".to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Param::Int(v) => json!(v),
            Param::Text(s) => json!(s),
            Param::Null => serde_json::Value::Null,
        }
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value};
        Ok(match self {
            Param::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Param::Text(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
            Param::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// The values every query's parameters are taken from.
pub(super) struct QueryParams {
    /// The 5-minute window inside the generated span.
    window: TimeWindow,
    /// The whole generated span (an hour, or a day).
    span: TimeWindow,
    /// A real worker.
    worker: String,
    /// A real transaction id (a workflow that ended inside the window).
    transaction_id: String,
}

impl QueryParams {
    /// The parameters for a file whose data covers `span`, asking about
    /// `window`: a busy worker and a transaction that ended in `window`.
    pub(super) fn at(conn: &Connection, span: TimeWindow, window: TimeWindow) -> BenchResult<Self> {
        Ok(QueryParams {
            window,
            span,
            worker: BUSY_WORKER.to_string(),
            transaction_id: pick_transaction(conn, window)?,
        })
    }

    /// The value of `:name` for query `file`.
    fn param(&self, file: &str, name: &str) -> BenchResult<Param> {
        // The sketch files answer long windows: the whole span (the hour, or
        // the day).
        let long = file.ends_with("_sketch.sql")
            || file == "error_patterns_rollups.sql"
            || file == "series_rollups.sql";
        Ok(match name {
            ":window_start" | ":sketch_start" if long => Param::Int(self.span.start_us),
            ":window_end" | ":sketch_end" if long => Param::Int(self.span.end_us),
            // The span is whole minutes: all of it from the rollups.
            ":rollup_start" => Param::Int(self.span.start_us),
            ":rollup_end" => Param::Int(self.span.end_us),
            ":window_start" => Param::Int(self.window.start_us),
            // "Now" questions (active workflows) look at the end of the
            // hour, where the in-flight workflows are.
            ":window_end" if file.starts_with("active_workflow") => Param::Int(self.span.end_us),
            ":window_end" => Param::Int(self.window.end_us),
            ":run_first" => Param::Int(RunScope::AllRuns.id_bounds().0),
            ":run_last" => Param::Int(RunScope::AllRuns.id_bounds().1),
            // Error patterns of every worker ('' in the file's convention).
            ":worker" if file == "error_patterns.sql" || long => Param::Text(String::new()),
            ":worker" => Param::Text(self.worker.clone()),
            ":transaction_id" => Param::Text(self.transaction_id.clone()),
            ":name" => Param::Text(custom::ORDER_VALUE_METRIC.to_string()),
            ":limit" => Param::Int(20),
            // The width the series picks for the span asked about: whole
            // minutes over the span from the rollups, seconds over the
            // 5-minute window from the raw rows.
            ":bucket_us" if long => Param::Int(series::minute_width_us(self.span.length_us())),
            ":bucket_us" => Param::Int(series::bucket_width_us(self.window.length_us())),
            ":crashed_runs" => Param::Text("[]".to_string()),
            // The custom histogram's buckets when the configuration gives
            // none (custom_metric_histogram_buckets.sql).
            ":bounds" => Param::Text(format!("{:?}", crate::config::DEFAULT_HISTOGRAM_BUCKETS)),
            // The newest run.
            ":run_id" => Param::Null,
            other => bail!("{file}: no value for parameter {other}"),
        })
    }

    /// Every parameter of `sql` (as `file`) with its value.
    pub(super) fn params(
        &self,
        conn: &Connection,
        file: &str,
        sql: &str,
    ) -> BenchResult<Vec<(String, Param)>> {
        let stmt = conn
            .prepare(sql)
            .with_context(|| format!("{file} does not prepare"))?;
        let mut out = Vec::new();
        for i in 1..=stmt.parameter_count() {
            let name = stmt
                .parameter_name(i)
                .with_context(|| format!("{file}: parameter {i} has no name"))?
                .to_string();
            let value = self.param(file, &name)?;
            out.push((name, value));
        }
        Ok(out)
    }
}

pub(super) type Run<'a> = Box<dyn Fn(&Connection) -> BenchResult<usize> + 'a>;

/// How our side runs one query file: the function called, and the call.
pub(super) struct Case<'a> {
    /// The function called.
    pub(super) api: &'static str,
    /// The call; returns the result size.
    pub(super) run: Run<'a>,
}

/// prepare_cached + bind + step through every row and column.
fn generic<'a>(sql: &'a str, params: &'a [(String, Param)]) -> Run<'a> {
    Box::new(move |conn: &Connection| {
        let mut stmt = conn.prepare_cached(sql)?;
        for (name, value) in params {
            let i = stmt
                .parameter_index(name)?
                .with_context(|| format!("no parameter {name}"))?;
            stmt.raw_bind_parameter(i, value)?;
        }
        let columns = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut n = 0;
        while let Some(row) = rows.next()? {
            for c in 0..columns {
                std::hint::black_box(row.get_ref(c)?);
            }
            n += 1;
        }
        Ok(n)
    })
}

/// Our side of `file`: its typed function, or the generic runner.
pub(super) fn case<'a>(
    file: &str,
    sql: &'a str,
    params: &'a [(String, Param)],
    ctx: &'a QueryParams,
) -> Case<'a> {
    let w = ctx.window;
    let all = RunScope::AllRuns;
    let (first, last) = all.id_bounds();
    macro_rules! typed {
        ($api:expr, |$c:ident| $body:expr) => {
            Case {
                api: $api,
                run: Box::new(move |$c: &Connection| {
                    let size: usize = $body;
                    Ok(size)
                }),
            }
        };
    }
    match file {
        "alert_history.sql" => typed!("monitor::alerts::alert_history", |c| {
            alerts::alert_history(c, w, all)?.len()
        }),
        "firing_alerts.sql" => typed!("monitor::alerts::firing_alerts", |c| {
            alerts::firing_alerts(c, all)?.len()
        }),
        "business_metrics_hourly.sql" => typed!("monitor::custom::hourly_rollups", |c| {
            custom::hourly_rollups(c, custom::ORDER_VALUE_METRIC, w, all)?.len()
        }),
        "custom_metric_counters.sql" => typed!("monitor::custom::counter_totals", |c| {
            custom::counter_totals(c, w, all)?.len()
        }),
        "custom_metric_gauges.sql" => typed!("monitor::custom::latest_gauges", |c| {
            custom::latest_gauges(c, w, all)?.len()
        }),
        "custom_metric_histograms.sql" => {
            typed!("monitor::custom::histogram_summaries", |c| {
                custom::histogram_summaries(c, w, all)?.len()
            })
        }
        "custom_metric_histogram_buckets.sql" => {
            typed!("monitor::custom::histogram_buckets", |c| {
                custom::histogram_buckets(
                    c,
                    custom::ORDER_VALUE_METRIC,
                    crate::config::DEFAULT_HISTOGRAM_BUCKETS,
                    w,
                    all,
                )?
                .len()
            })
        }
        "error_patterns.sql" => typed!("monitor::event::error_patterns (every worker)", |c| {
            event::error_patterns(c, w, all, None)?.len()
        }),
        "event_metrics.sql" => typed!("monitor::event::event_metrics", |c| {
            event::event_metrics(c, w, all)?.total_events as usize
        }),
        "event_metrics_sketch.sql" => typed!("monitor::event::event_metrics (whole hour)", |c| {
            event::event_metrics(c, ctx.span, all)?.total_events as usize
        }),
        "worker_performance_sketch.sql" => typed!(
            "monitor::performance::sketch_worker_performances (whole hour)",
            |c| performance::sketch_worker_performances(c, ctx.span, ctx.span, all, None)?.len()
        ),
        "error_patterns_rollups.sql" => typed!(
            "monitor::event::error_patterns (whole span, every worker)",
            |c| event::error_patterns(c, ctx.span, all, None)?.len()
        ),
        "event_summary_rollups.sql" => {
            typed!("monitor::event::event_summary_from_rollups", |c| {
                event::event_summary_from_rollups(c, w, all)?.total_events as usize
            })
        }
        "hosts.sql" => typed!("monitor::hosts::host_activity", |c| {
            hosts::host_activity(c, w, all)?.total_executions as usize
        }),
        "transaction_trace.sql" => typed!("monitor::event::transaction_trace", |c| {
            event::transaction_trace(c, &ctx.transaction_id)?.len()
        }),
        "run_bounds.sql" => typed!("runs::resolve_run (latest)", |c| {
            runs::resolve_run(c, RunSelector::Latest)?;
            1
        }),
        "runs.sql" => typed!("runs::list_runs", |c| runs::list_runs(c, 20)?.len()),
        "system_metrics.sql" => typed!("monitor::system::system_metrics", |c| {
            system::system_metrics(c, w, all)?.sample_count as usize
        }),
        "system_samples_series.sql" => {
            typed!("monitor::system::system_samples_series", |c| {
                system::system_samples_series(c, w, all)?.len()
            })
        }
        "tracked_workers.sql" => typed!("monitor::worker::tracked_workers", |c| {
            worker::tracked_workers(c, w, all)?.len()
        }),
        "worker_id.sql" => typed!("monitor::performance::worker_id", |c| {
            performance::worker_id(c, &ctx.worker)?;
            1
        }),
        "worker_performance.sql" => typed!("monitor::performance::worker_performance", |c| {
            performance::worker_performance(c, &ctx.worker, w, all)?.total_executions as usize
        }),
        "workflow_outcomes.sql" => typed!("monitor::outcomes::workflow_outcomes", |c| {
            outcomes::workflow_outcomes(c, w, all)?.len()
        }),
        "series_events.sql" => typed!("monitor::series::series (raw rows, 1 s buckets)", |c| {
            series::series(c, w, all, series::SeriesSource::Raw)?
                .buckets
                .len()
        }),
        "series_rollups.sql" => typed!("monitor::series::series (rollups, whole span)", |c| {
            series::series(c, ctx.span, all, series::SeriesSource::Rollups)?
                .buckets
                .len()
        }),
        "throughput_per_minute.sql" => {
            typed!("monitor::totals::throughput_per_minute", |c| {
                totals::throughput_per_minute(c, w, first, last)?.len()
            })
        }
        "worker_histogram_events.sql" => {
            typed!("monitor::totals::worker_histograms (events)", |c| {
                totals::worker_histograms(c, w, Source::Events { first, last })?.len()
            })
        }
        "worker_histogram_rollups.sql" => {
            typed!("monitor::totals::worker_histograms (rollups)", |c| {
                totals::worker_histograms(c, w, Source::Rollups { run_id: None })?.len()
            })
        }
        "worker_totals_events.sql" => {
            typed!("monitor::totals::worker_totals (events)", |c| {
                totals::worker_totals(c, w, Source::Events { first, last })?.len()
            })
        }
        "worker_totals_rollups.sql" => {
            typed!("monitor::totals::worker_totals (rollups)", |c| {
                totals::worker_totals(c, w, Source::Rollups { run_id: None })?.len()
            })
        }
        "workflow_outcome_counts.sql" => {
            typed!("monitor::totals::workflow_outcome_counts", |c| {
                totals::workflow_outcome_counts(c, w, first, last)?.len()
            })
        }
        "workflow_duration_histogram.sql" => {
            typed!("monitor::totals::workflow_duration_histogram", |c| {
                totals::workflow_duration_histogram(c, w, first, last)?.len()
            })
        }
        "worker_summary_rollups.sql" => {
            typed!("monitor::rollups::worker_summary_from_rollups", |c| {
                rollups::worker_summary_from_rollups(c, w, all)?
                    .workers
                    .len()
            })
        }
        "throughput_per_minute_rollups.sql" => {
            typed!(
                "monitor::rollups::throughput_per_minute_from_rollups",
                |c| { rollups::throughput_per_minute_from_rollups(c, w, all)?.len() }
            )
        }
        "worker_executions.sql" => {
            let worker = ctx.worker.clone();
            typed!("monitor::executions::worker_executions", |c| {
                executions::worker_executions(c, w, all, &worker, 20)?.len()
            })
        }
        // active_workflows.sql, active_workflow_count.sql (read inline by
        // the dashboard), workflow_status.sql (read inline by the
        // orchestrator), and any file added later.
        _ => Case {
            api: "prepare_cached + bind + step (no public typed function)",
            run: generic(sql, params),
        },
    }
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Our side: warm-up, calibration, then `batches` batches of `r` calls (`r`
/// from the calibration unless given). Returns (median ms per call, r,
/// per-batch ms per call, result size of the warm-up call: rows returned,
/// or for one-row summaries the events they count).
pub(super) fn time_ours(
    conn: &Connection,
    run: &dyn Fn(&Connection) -> BenchResult<usize>,
    batches: usize,
    target_ms: f64,
    max_r: usize,
) -> BenchResult<(f64, usize, Vec<f64>, usize)> {
    let rows = run(conn)?;
    let started = Instant::now();
    run(conn)?;
    let one = ms(started.elapsed()).max(1e-4);
    let r = ((target_ms / one).ceil() as usize).clamp(1, max_r);
    // A call of seconds (a day-long window read from raw rows) is timed
    // once more only: it is far off any goal, and repeats would add minutes
    // without changing that.
    let batches = if one > SLOW_CALL_MS {
        1
    } else {
        batches.max(1)
    };
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        for _ in 0..r {
            std::hint::black_box(run(conn)?);
        }
        samples.push(ms(started.elapsed()) / r as f64);
    }
    Ok((median(samples.clone()), r, samples, rows))
}

/// The `sqlite3` shell's version, or `None` when it is not installed.
fn shell_version() -> Option<String> {
    let out = Command::new("sqlite3").arg("-version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A shell script: the parameters, then the SQL `times` times.
fn shell_script(params: &[(String, Param)], sql: &str, times: usize) -> String {
    let mut s = String::from(".parameter init\n");
    for (name, value) in params {
        s.push_str(&format!(".parameter set {name} \"{}\"\n", value.sql()));
    }
    let mut statement = sql.trim_end().to_string();
    if !statement.ends_with(';') {
        statement.push(';');
    }
    for _ in 0..times {
        s.push_str(&statement);
        s.push('\n');
    }
    s
}

/// Wall time of one `sqlite3 -bail db < script` process.
fn run_shell(db: &Path, script: &Path) -> BenchResult<Duration> {
    let input = std::fs::File::open(script)?;
    let started = Instant::now();
    let out = Command::new("sqlite3")
        .arg("-bail")
        .arg(db)
        .stdin(input)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run sqlite3")?;
    let elapsed = started.elapsed();
    if !out.status.success() || !out.stderr.is_empty() {
        bail!(
            "sqlite3 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(elapsed)
}

/// The shell's time per execution: median over `batches` of
/// (wall(1 + r executions) - wall(1 execution)) / r.
fn time_shell(
    db: &Path,
    dir: &Path,
    stem: &str,
    params: &[(String, Param)],
    sql: &str,
    r: usize,
    batches: usize,
) -> BenchResult<(f64, Vec<f64>)> {
    let base = dir.join(format!("{stem}.base.sql"));
    let long = dir.join(format!("{stem}.long.sql"));
    std::fs::write(&base, shell_script(params, sql, 1))?;
    std::fs::write(&long, shell_script(params, sql, 1 + r))?;
    // One pair first, unmeasured: warms the OS cache for the shell's reads.
    run_shell(db, &base)?;
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches.max(1) {
        let b = run_shell(db, &base)?;
        let l = run_shell(db, &long)?;
        samples.push((ms(l) - ms(b)) / r as f64);
    }
    let _ = std::fs::remove_file(&base);
    let _ = std::fs::remove_file(&long);
    Ok((median(samples.clone()), samples))
}

/// A real transaction: a workflow that ended inside `window` (by its end,
/// through the workflows_by_end index), preferring one that retried (its
/// events counted in its id range, migrations/0006_compact_events.sql).
fn pick_transaction(conn: &Connection, window: TimeWindow) -> BenchResult<String> {
    conn.query_row(
        "SELECT w.transaction_id FROM workflows w
         WHERE w.ended_at_us >= ?1 AND w.ended_at_us < ?2 AND w.ended_at_us IS NOT NULL
         ORDER BY (SELECT count(*) FROM events e
                   WHERE e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775) AND e.workflow_id = w.id) DESC,
                  w.ended_at_us
         LIMIT 1",
        [window.start_us, window.end_us],
        |r| r.get(0),
    )
    .context("the dataset has no workflow ending in the window")
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let spec = DatasetSpec::hour(options.query_executions, options.query_seed);
    progress(&format!(
        "  dataset: {} executions over one hour, seed {} (cache: {})",
        spec.executions,
        spec.seed,
        options.query_cache_dir.display()
    ));
    let prepared = dataset::prepare(&options.query_cache_dir, spec).await?;
    if prepared.cached {
        progress(&format!(
            "  reusing {} (generated in {:.1} s)",
            prepared.path.display(),
            prepared.generation_s
        ));
    } else {
        progress(&format!(
            "  generated {} in {:.1} s",
            prepared.path.display(),
            prepared.generation_s
        ));
    }
    let mut figures = vec![Figure::new(
        "query_dataset",
        "seconds to generate the query dataset through the writer (rollups kept by the writer); cached between runs",
        prepared.generation_s,
        "s",
        None,
        Goal::None,
        json!({
            "path": prepared.path,
            "cached": prepared.cached,
            "spec": spec,
            "summary": prepared.summary,
            "executions_per_s": prepared.summary.executions as f64 / prepared.generation_s.max(1e-9),
        }),
    )];
    let store = Store::open_existing(&prepared.path)?;
    let conn = store.reader()?;
    let hour = TimeWindow {
        start_us: HOUR_START_US,
        end_us: HOUR_START_US + HOUR_US,
    };
    let window = TimeWindow {
        start_us: HOUR_START_US + 30 * MINUTE_US,
        end_us: HOUR_START_US + 35 * MINUTE_US,
    };
    let ctx = QueryParams::at(&conn, hour, window)?;
    let shell = shell_version();
    match &shell {
        Some(v) => progress(&format!("  sqlite3 shell {v}")),
        None => progress(
            "  note: the sqlite3 shell is not installed (apt-get install sqlite3): \
             query figures have no reference",
        ),
    }
    let scripts = options.dir.join("query-scripts");
    std::fs::create_dir_all(&scripts)?;
    let batches = options.query_batches;
    let target = options.query_target_ms;
    for (file, sql) in QUERY_FILES {
        let stem = file.trim_end_matches(".sql");
        let params = ctx.params(&conn, file, sql)?;
        let case = case(file, sql, &params, &ctx);
        let (ours, r, ours_samples, rows) = time_ours(&conn, &*case.run, batches, target, 5_000)
            .with_context(|| format!("{file} through {}", case.api))?;
        let (shell_ms, shell_samples, shell_error) = match &shell {
            Some(_) => match time_shell(&prepared.path, &scripts, stem, &params, sql, r, batches) {
                Ok((m, s)) => (Some(m), s, None),
                Err(e) => (None, Vec::new(), Some(format!("{e:#}"))),
            },
            None => (None, Vec::new(), None),
        };
        if let Some(e) = &shell_error {
            progress(&format!("  {file}: the shell failed: {e}"));
        }
        progress(&format!(
            "  {file}: ours {ours:.3} ms, shell {} (result size {rows}, {r} per batch)",
            shell_ms.map_or("-".to_string(), |s| format!("{s:.3} ms"))
        ));
        figures.push(Figure::new(
            &format!("query_{stem}"),
            &format!("queries/{file} through {} vs the sqlite3 shell, same file and parameters, warm, ms per execution", case.api),
            ours,
            "ms",
            shell_ms.map(|s| (s, "sqlite3 shell")),
            Goal::RatioAtMost { max: SHELL_RATIO_GOAL },
            json!({
                "file": file,
                "api": case.api,
                "parameters": params.iter().map(|(n, v)| (n.clone(), v.to_json())).collect::<serde_json::Map<_, _>>(),
                "result_size": rows,
                "executions_per_batch": r,
                "ours_batch_ms": ours_samples,
                "shell_batch_ms": shell_samples,
                "shell_version": shell,
                "shell_error": shell_error,
                "sqlite_version_ours": rusqlite::version(),
            }),
        ));
    }
    let _ = std::fs::remove_dir_all(&scripts);
    figures.extend(hour_figures(&conn, hour, options, progress)?);
    figures.extend(super::duckdb::figures(
        &conn,
        &prepared.path,
        hour,
        options,
        progress,
    )?);
    figures.push(super::footprint::bytes_per_execution(
        &prepared.path,
        progress,
    )?);
    Ok(figures)
}

/// Whole-hour summaries: from the rollups vs from the raw rows.
fn hour_figures(
    conn: &Connection,
    hour: TimeWindow,
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let all = RunScope::AllRuns;
    let (first, last) = all.id_bounds();
    let batches = options.query_batches;
    let target = options.query_target_ms;
    let thresholds = HealthThresholds::default();
    let mut figures = Vec::new();
    let mut one = |name: &str,
                   what: &str,
                   rollup_api: &str,
                   raw_api: &str,
                   rollup: &dyn Fn(&Connection) -> BenchResult<usize>,
                   raw: &dyn Fn(&Connection) -> BenchResult<usize>,
                   equal: bool,
                   note: &str|
     -> BenchResult<()> {
        let (r_ms, r_n, r_samples, r_rows) = time_ours(conn, rollup, batches, target, 5_000)?;
        let (w_ms, w_n, w_samples, w_rows) = time_ours(conn, raw, batches, target, 5_000)?;
        progress(&format!(
            "  {name}: rollups {r_ms:.3} ms, raw rows {w_ms:.3} ms ({:.0}x), answers equal: {equal}",
            w_ms / r_ms.max(1e-9)
        ));
        figures.push(Figure::new(
            name,
            &format!("{what} over the whole hour from the raw rows ({raw_api}), ms, vs the same from the per-minute rollups ({rollup_api}); the ratio is the rollups' speed-up. {note}"),
            w_ms,
            "ms",
            Some((r_ms, "rollups")),
            Goal::RatioAtLeast {
                min: ROLLUP_SPEEDUP_GOAL,
            },
            json!({
                "speedup": w_ms / r_ms.max(1e-9),
                "rollup_api": rollup_api,
                "raw_api": raw_api,
                "rollup_result_size": r_rows,
                "raw_result_size": w_rows,
                "rollup_calls_per_batch": r_n,
                "raw_calls_per_batch": w_n,
                "rollup_batch_ms": r_samples,
                "raw_batch_ms": w_samples,
                "answers_equal_on_this_minute_aligned_hour": equal,
                "note": note,
            }),
        ));
        Ok(())
    };

    let raw_events = event::event_metrics(conn, hour, all)?;
    let rolled_events = event::event_summary_from_rollups(conn, hour, RunScope::AllRuns)?;
    one(
        "hour_event_metrics",
        "event metrics",
        "event_summary_rollups.sql",
        "event_metrics.sql",
        &|c| {
            Ok(
                event::event_summary_from_rollups(c, hour, RunScope::AllRuns)?.total_events
                    as usize,
            )
        },
        &|c| Ok(event::event_metrics(c, hour, all)?.total_events as usize),
        raw_events.total_events == rolled_events.total_events
            && raw_events.events_by_status == rolled_events.events_by_status
            && raw_events.peak_throughput == rolled_events.peak_throughput,
        "Counts, rates, mean latency and peak minute only: p95 latency stays exact from the raw rows.",
    )?;

    let raw_summary = worker::worker_performance_summary(conn, hour, all, &thresholds)?;
    let rolled_summary = rollups::worker_summary_from_rollups(conn, hour, RunScope::AllRuns)?;
    let workers_equal = raw_summary.workers.len() == rolled_summary.workers.len()
        && raw_summary.workers.iter().all(|(name, p)| {
            rolled_summary.workers.get(name).is_some_and(|q| {
                q.total_executions == p.total_executions
                    && q.successful_executions == p.successful_executions
                    && q.failed_executions == p.failed_executions
                    && q.timeout_executions == p.timeout_executions
            })
        });
    one(
        "hour_worker_summary",
        "worker performance summary",
        "worker_summary_rollups.sql",
        "tracked_workers.sql + worker_performance.sql per worker",
        &|c| {
            Ok(
                rollups::worker_summary_from_rollups(c, hour, RunScope::AllRuns)?
                    .workers
                    .len(),
            )
        },
        &|c| {
            Ok(
                worker::worker_performance_summary(c, hour, all, &thresholds)?
                    .workers
                    .len(),
            )
        },
        workers_equal
            && raw_summary.aggregated_metrics.total_commands
                == rolled_summary.aggregated_metrics.total_commands,
        "Counts, rates and mean durations only: p50/p95/p99 durations (and the health judgement on them) stay exact from the raw rows.",
    )?;

    let raw_tp = totals::throughput_per_minute(conn, hour, first, last)?;
    let rolled_tp = rollups::throughput_per_minute_from_rollups(conn, hour, RunScope::AllRuns)?;
    one(
        "hour_throughput_per_minute",
        "throughput per minute",
        "throughput_per_minute_rollups.sql",
        "throughput_per_minute.sql",
        &|c| Ok(rollups::throughput_per_minute_from_rollups(c, hour, RunScope::AllRuns)?.len()),
        &|c| Ok(totals::throughput_per_minute(c, hour, first, last)?.len()),
        raw_tp == rolled_tp,
        "Every run together (rollups are not per run).",
    )?;
    Ok(figures)
}
