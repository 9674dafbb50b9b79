//! `multiagents load-test`: start workflows at a steady rate, for a count,
//! or following stages; record the run; report what was achieved and
//! whether the thresholds held (exit 1 when one broke).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use multiagents::loadtest::{
    self, LoadProgress, LoadTarget, LoadTestOptions, LoadTestReport, Mix, MixEntry, Phase,
    SeriesFormat, Stage, Threshold, load_test_workers,
};
use multiagents::output_path::OutputPath;
use multiagents::session::Session;
use multiagents::store::RunInfo;
use multiagents::window;
use multiagents::workload::DemoSettings;

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents load-test`.
#[derive(Debug, Args)]
pub struct LoadTestArgs {
    /// How long to start workflows (e.g. 10s, 1m); workflows still in flight
    /// are then awaited (see --drain-timeout). Range: 1ms to 30d.
    #[arg(long, default_value = "60s", value_parser = window::parse_run_length)]
    duration: Duration,
    /// Start exactly COUNT workflows at --rps instead of starting for
    /// --duration. Range: 1 to 100000000.
    #[arg(short = 'n', long, value_name = "COUNT", conflicts_with = "duration",
          value_parser = loadtest::parse_workflow_count)]
    workflows: Option<u64>,
    /// A stage of a ramp, DURATION:RATE (k6 style), repeatable: over
    /// DURATION the rate moves linearly to RATE workflows per second, from
    /// where the previous stage left it (the first from 0); e.g. --stage
    /// 10s:100 --stage 30s:500 --stage 10s:0. Replaces --rps and
    /// --duration.
    #[arg(long = "stage", visible_alias = "ramp", value_name = "DURATION:RATE",
          conflicts_with_all = ["duration", "rps", "workflows"],
          value_parser = loadtest::parse_stage)]
    stages: Vec<Stage>,
    /// A pass/fail criterion, repeatable; a broken one sets exit code 1:
    /// METRIC OP VALUE, optionally for one workflow (NAME:METRIC OP
    /// VALUE): p50, p90, p95, p99, p99.9, avg, max against a duration
    /// (p95<500ms, simple:p99<2s; a bare number is ms); success, error_rate
    /// against a ratio or percentage (success>=0.99, error_rate<1%); rate
    /// against workflows started per second (rate>=90). OP: < <= > >= == !=.
    #[arg(long = "threshold", value_name = "EXPR")]
    thresholds: Vec<String>,
    /// Write the per-second series (started, completed, failed, p50/p95
    /// latency, in flight, target rate) to FILE: CSV or JSON by its
    /// extension (.csv, .json). Never the database or another SQLite file.
    #[arg(long, value_name = "FILE")]
    series: Option<PathBuf>,
    /// Replace the --series file if it already exists (a regular, writable,
    /// non-SQLite file only).
    #[arg(long, requires = "series")]
    force: bool,
    /// Most workflows in flight at once; a start waits for a free slot (and
    /// the report says so). Range: 1 to 1000000.
    #[arg(long, default_value = "100", value_parser = loadtest::parse_concurrency)]
    concurrency: usize,
    /// Target rate: workflows started per second (fractions allowed, e.g.
    /// 0.5). Range: 0.001 to 1000000.
    #[arg(long, default_value = "10", value_parser = loadtest::parse_rps)]
    rps: f64,
    /// Workflows to start, comma-separated, drawn at random (repeat a name to
    /// weigh it): simple, parallel, error, cpu, noop (three no-op steps).
    #[arg(long, default_value = "simple,parallel,error", value_parser = loadtest::parse_mix)]
    mix: Mix,
    /// Seed of the mix's draws and of the demo workers' durations and
    /// failures. Range: 0 to 18446744073709551615.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Multiplies the demo workers' sleeps: 1.0 is the seed's timing, 0.1 ten
    /// times quicker, 0 no sleeps. Range: 0 to 1000.
    #[arg(long, default_value = "1.0", value_parser = loadtest::parse_time_scale)]
    time_scale: f64,
    /// How long to wait for workflows in flight after the last start; those
    /// still running then are reported as unfinished. Range: 1ms to 30d.
    #[arg(long, default_value = "30s", value_parser = window::parse_run_length)]
    drain_timeout: Duration,
    /// After Ctrl-C or SIGTERM, how long workflows in flight get to finish
    /// before they are stopped and recorded as cancelled ("interrupted");
    /// a second signal stops at once. Range: 1ms to 30d.
    #[arg(long, default_value = "10s", value_parser = window::parse_run_length)]
    grace: Duration,
    /// Text for people, JSON for programs.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
    /// Serve GET /metrics and GET /health on this loopback address while
    /// the test runs (port 0 picks a free one; the address is printed on
    /// stderr). Unlike `multiagents serve` on the file, this exposition
    /// adds the recording process's own figures: writer queue depth,
    /// producer waits, commit latency, rows written, workflows in flight.
    #[arg(long, value_name = "ADDR")]
    serve: Option<std::net::SocketAddr>,
    #[command(flatten)]
    remote: super::remote::RedisArgs,
}

/// A progress bar on stderr, hidden when stderr is not a terminal: over
/// the planned time, or over the count of workflows to start.
fn progress_bar(duration: Duration, count: Option<u64>) -> ProgressBar {
    let length = count.unwrap_or_else(|| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:24}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// The progress line. Its figures are the summary's: workflows started,
/// ended and in flight, completed / ended, and the nearest-rank p95 of
/// the workflow latency (created → ended) of the workflows ended so far.
fn progress_message(p: &LoadProgress) -> String {
    let mut text = format!(
        "{} workflows started | {} ended | {:.1}% ok | {} in flight",
        p.started, p.finished, p.success_rate, p.in_flight
    );
    if let Some(p95) = p.p95_ms {
        text.push_str(&format!(" | workflow p95 {p95:.1} ms"));
    }
    if p.phase == Phase::Load {
        text.push_str(&format!(" | target {}/s", rate(p.target_rate)));
    }
    if p.phase == Phase::Drain {
        text.push_str(" | draining");
    }
    text
}

/// Parses the `--threshold` expressions; a workflow may be named as in
/// `--mix` (`simple`) or by its registered name (`simple_monitoring`), and
/// must be one the mix starts.
fn thresholds(expressions: &[String], mix: &Mix) -> anyhow::Result<Vec<Threshold>> {
    let mut out = Vec::with_capacity(expressions.len());
    for text in expressions {
        let mut threshold = loadtest::parse_threshold(text).map_err(anyhow::Error::msg)?;
        if let Some(name) = &threshold.workflow
            && let Ok(entry) = name.parse::<MixEntry>()
        {
            threshold.workflow = Some(entry.workflow().to_string());
        }
        if let Some(name) = &threshold.workflow
            && !mix.workflows().contains(&name.as_str())
        {
            anyhow::bail!(
                "invalid threshold {:?}: workflow {name:?} is not in the mix ({})",
                threshold.expression,
                mix.workflows().join(", ")
            );
        }
        out.push(threshold);
    }
    Ok(out)
}

/// Runs `multiagents load-test`.
pub async fn run(globals: &Globals, args: LoadTestArgs) -> anyhow::Result<Outcome> {
    let settings = DemoSettings {
        seed: args.seed,
        time_scale: args.time_scale,
        ..DemoSettings::default()
    };
    let options = LoadTestOptions {
        duration: args.duration,
        concurrency: args.concurrency,
        rps: args.rps,
        stages: args.stages,
        workflows: args.workflows,
        thresholds: thresholds(&args.thresholds, &args.mix)?,
        mix: args.mix,
        settings,
        drain_timeout: args.drain_timeout,
    };
    options.validate()?;
    options.check_thresholds(&LoadTarget::from_mix(&options.mix))?;
    // Refused before anything runs (or the database is created): a bad
    // extension, the database, a SQLite file, an existing file without
    // --force.
    let series = match &args.series {
        Some(path) => {
            let format = SeriesFormat::of_path(path).map_err(anyhow::Error::msg)?;
            Some((
                format,
                OutputPath::check(path, Some(&globals.db), args.force)?,
            ))
        }
        None => None,
    };
    // Refused (or bound) before anything runs: a taken port costs nothing.
    let listener = match args.serve {
        Some(addr) => Some(super::serve::bind_loopback(addr, false).await?),
        None => None,
    };
    // Before the session starts, so that a signal during startup is handled.
    let signals = super::signals::install(args.grace)?;
    let workers = load_test_workers(settings);
    let remote = args.remote.connect(&options.mix.workers()?).await?;
    let run = RunInfo::from_env(globals.config.to_json().to_string());
    let mut session = Session::start_remote(
        &globals.db,
        globals.config.clone(),
        workers,
        run,
        multiagents::store::WriterOptions::default(),
        remote,
    )
    .await?;
    session.set_interrupter(signals.interrupt.clone());
    session.set_grace(args.grace);
    let server = match listener {
        Some(listener) => Some(super::serve::spawn_live(globals, listener, &session)?),
        None => None,
    };
    let bar = progress_bar(
        options.plan().length().unwrap_or(options.duration),
        options.workflows,
    );
    let result = loadtest::run_load_test(&session, &options, |p| {
        let position = match p.workflows {
            Some(_) => p.started,
            None => u64::try_from(p.elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        bar.set_position(position.min(bar.length().unwrap_or(u64::MAX)));
        bar.set_message(progress_message(p));
        bar.tick();
    })
    .await;
    bar.finish_and_clear();
    let shutdown = session.shutdown_with(args.grace).await;
    if let Some(server) = server {
        server.stop().await;
    }
    let report = result?;
    let closed = shutdown?;
    match args.format {
        Format::Json => output::print_json(&report)?,
        _ => output::print(&render(&report))?,
    }
    if let Some((format, out)) = series {
        let bytes = format
            .render(&report.series)
            .context("rendering the series")?;
        out.write(&bytes)?;
    }
    match signals.exit_code() {
        Some(code) => {
            eprintln!(
                "multiagents: run {} closed as {} ({})",
                closed.run_id, closed.status, closed.reason
            );
            Ok(Outcome::Interrupted(code))
        }
        None if !report.thresholds_passed => Ok(Outcome::Problem),
        None => Ok(Outcome::Ok),
    }
}

/// A rate with two decimals, or three significant digits below 1/s (the
/// slowest accepted target, 0.001/s, must not read as 0.00).
fn rate(per_s: f64) -> String {
    if per_s >= 1.0 || per_s == 0.0 {
        format!("{per_s:.2}")
    } else {
        format!("{per_s:.3e}")
    }
}

fn latency_line(l: &loadtest::LatencyPercentiles) -> String {
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
        l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p99_9_ms, l.max_ms
    )
}

/// oha's histogram: one line per bucket, its upper bound, its count and a
/// bar scaled to the largest.
fn histogram(r: &LoadTestReport) -> String {
    const WIDTH: u64 = 40;
    let largest = r
        .latency_histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0);
    if largest == 0 {
        return String::new();
    }
    let mut text = String::from("workflow latency histogram (ms):\n");
    for b in &r.latency_histogram {
        let bar = (b.count * WIDTH).div_ceil(largest);
        text.push_str(&format!(
            "  {:>10.3} [{:>7}] |{}\n",
            b.le_ms,
            b.count,
            "■".repeat(bar as usize)
        ));
    }
    text
}

fn render(r: &LoadTestReport) -> String {
    let mut summary = output::table(&["figure", "value"]);
    let planned = if !r.stages.is_empty() {
        let stages: Vec<String> = r
            .stages
            .iter()
            .map(|s| format!("{:.1}s:{}", s.duration.as_secs_f64(), rate(s.target)))
            .collect();
        format!("stages {}", stages.join(" "))
    } else if let Some(n) = r.workflows_requested {
        format!("{n} workflows at {}/s", rate(r.target_rps))
    } else {
        format!("{:.1} s at {}/s", r.duration_s, rate(r.target_rps))
    };
    let rows: Vec<(&str, String)> = vec![
        ("run", r.run_id.to_string()),
        ("mix", r.mix.join(", ")),
        ("plan", planned),
        ("workflows started", r.started.to_string()),
        (
            "duration",
            format!("{:.1} s (+ {:.1} s drain)", r.load_phase_s, r.drain_s),
        ),
        (
            "achieved rate",
            format!(
                "{}/s of {}/s target ({:.0}%)",
                rate(r.achieved_rps),
                rate(r.target_rps),
                r.achieved_rps / r.target_rps * 100.0
            ),
        ),
        (
            "success rate",
            format!(
                "{:.1}% ({} completed, {} failed, {} compensated, {} cancelled, {} unfinished)",
                r.success_rate, r.completed, r.failed, r.compensated, r.cancelled, r.unfinished
            ),
        ),
        ("workflow latency", latency_line(&r.latency)),
        (
            "peak throughput",
            format!("{} events/min", r.peak_throughput_per_minute),
        ),
        (
            "events",
            format!(
                "{} ({:.1}% ok, p95 {:.1} ms)",
                r.events.total_events, r.events.success_rate, r.events.p95_latency_ms
            ),
        ),
        (
            "max in flight",
            format!("{} of {}", r.scheduling.max_in_flight, r.concurrency),
        ),
        (
            "start lag",
            format!(
                "mean {:.2} ms, max {:.1} ms",
                r.scheduling.mean_start_lag_ms, r.scheduling.max_start_lag_ms
            ),
        ),
        ("recorder waits", r.scheduling.recorder_waits.to_string()),
    ];
    for (name, value) in rows {
        summary.add_row(vec![name.to_string(), value]);
    }
    let mut per_workflow = output::table(&[
        "workflow",
        "ended",
        "success %",
        "p50 ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
    ]);
    for w in &r.workflows {
        let name = w.workflow_name.clone().unwrap_or_default();
        let l = r
            .latency_by_workflow
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let mut row = vec![name, w.total.to_string(), format!("{:.1}", w.success_rate)];
        for v in [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p99_9_ms, l.max_ms] {
            row.push(format!("{v:.1}"));
        }
        per_workflow.add_row(row);
    }
    let mut text = format!("{summary}\n{per_workflow}\n");
    text.push_str(&histogram(r));
    if !r.errors.is_empty() {
        let mut errors = output::table(&["ended", "error", "workflows"]);
        for e in &r.errors {
            errors.add_row(vec![e.state.clone(), e.error.clone(), e.count.to_string()]);
        }
        text.push_str(&format!("workflows that did not complete:\n{errors}\n"));
    }
    if let Some(reason) = &r.interrupted {
        text.push_str(&format!(
            "stopped early ({reason}) after {:.1} s: figures are those of what ran; {} workflows still running after the grace period were recorded as cancelled\n",
            r.load_phase_s, r.stopped_in_flight
        ));
    }
    if r.target_missed.is_empty() {
        text.push_str("target rate reached");
    } else {
        let lines: Vec<String> = r.target_missed.iter().map(|s| s.describe()).collect();
        text.push_str(&lines.join("\n"));
    }
    if let Some(line) = r.provenance.as_ref().and_then(|p| p.describe()) {
        text.push('\n');
        text.push_str(&line);
    }
    if !r.thresholds.is_empty() {
        let mut verdicts = output::table(&["threshold", "measured", "verdict"]);
        for v in &r.thresholds {
            verdicts.add_row(vec![
                v.threshold.expression.clone(),
                v.measured_text(),
                if v.passed { "pass" } else { "FAIL" }.to_string(),
            ]);
        }
        let broken = r.thresholds.iter().filter(|v| !v.passed).count();
        text.push_str(&format!("\nthresholds:\n{verdicts}\n"));
        text.push_str(&if broken == 0 {
            format!("all {} thresholds passed", r.thresholds.len())
        } else {
            format!("{broken} of {} thresholds broken", r.thresholds.len())
        });
    }
    text
}
