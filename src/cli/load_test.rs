//! `multiagents load-test`: start workflows at a steady rate, record the run,
//! report what was achieved.

use std::io::IsTerminal as _;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use multiagents::loadtest::{
    self, LoadProgress, LoadTestOptions, LoadTestReport, Mix, Phase, load_test_workers,
};
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
    #[command(flatten)]
    remote: super::remote::RedisArgs,
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress_bar(duration: Duration) -> ProgressBar {
    let length = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
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

fn progress_message(p: &LoadProgress) -> String {
    let mut text = format!(
        "{} requests | {:.1}% ok | {} in flight",
        p.started, p.success_rate, p.in_flight
    );
    if let Some(events) = &p.recent_events {
        text.push_str(&format!(
            " | p95 {:.1} ms | {} events in the last minute",
            events.p95_latency_ms, events.total_events
        ));
    }
    if p.phase == Phase::Drain {
        text.push_str(" | draining");
    }
    text
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
        mix: args.mix,
        settings,
        drain_timeout: args.drain_timeout,
    };
    options.validate()?;
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
    let bar = progress_bar(options.duration);
    let result = loadtest::run_load_test(&session, &options, |p| {
        let elapsed = u64::try_from(p.elapsed.as_millis()).unwrap_or(u64::MAX);
        bar.set_position(elapsed.min(bar.length().unwrap_or(u64::MAX)));
        bar.set_message(progress_message(p));
        bar.tick();
    })
    .await;
    bar.finish_and_clear();
    let shutdown = session.shutdown_with(args.grace).await;
    let report = result?;
    let closed = shutdown?;
    match args.format {
        Format::Json => output::print_json(&report)?,
        _ => output::print(&render(&report))?,
    }
    match signals.exit_code() {
        Some(code) => {
            eprintln!(
                "multiagents: run {} closed as {} ({})",
                closed.run_id, closed.status, closed.reason
            );
            Ok(Outcome::Interrupted(code))
        }
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

fn render(r: &LoadTestReport) -> String {
    let mut summary = output::table(&["figure", "value"]);
    let rows: Vec<(&str, String)> = vec![
        ("run", r.run_id.to_string()),
        ("mix", r.mix.join(", ")),
        ("total requests", r.total_requests.to_string()),
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
        (
            "workflow latency",
            format!(
                "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                r.latency.p50_ms, r.latency.p95_ms, r.latency.p99_ms, r.latency.max_ms
            ),
        ),
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
        "p95 ms",
        "p99 ms",
    ]);
    for w in &r.workflows {
        per_workflow.add_row(vec![
            w.workflow_name.clone().unwrap_or_default(),
            w.total.to_string(),
            format!("{:.1}", w.success_rate),
            format!("{:.1}", w.p50_latency_ms),
            format!("{:.1}", w.p95_latency_ms),
            format!("{:.1}", w.p99_latency_ms),
        ]);
    }
    let mut text = format!("{summary}\n{per_workflow}\n");
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
    text
}
