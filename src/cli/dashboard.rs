//! `multiagents dashboard`: a live view of a database another process is
//! writing, or one plain-text snapshot with `--once`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use multiagents::clock;
use multiagents::dashboard;
use multiagents::monitor::{HealthThresholds, MonitorError, RunScope};
use multiagents::runs::{self, RunSelector};
use multiagents::store::Store;
use multiagents::window;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// How often the screen is refreshed, e.g. 3s. Range: 100ms to 1h.
    #[arg(long, default_value = "3s", allow_hyphen_values = true, value_parser = window::parse_refresh)]
    refresh: Duration,
    /// Window the figures cover, e.g. 1m (the seed's dashboard: last
    /// minute). Range: 1ms to 36500d.
    #[arg(short = 'w', long, default_value = "1m", allow_hyphen_values = true, value_parser = window::parse_window_option)]
    window: Duration,
    /// Only this run: `latest` or a run id (default: every run in the file).
    /// A run is shown as it was at its end (a run without an end: at its
    /// latest record).
    #[arg(short = 'r', long)]
    run: Option<RunSelector>,
    /// Print one snapshot and exit (for scripts and tests).
    #[arg(long)]
    once: bool,
    /// With --once: text for people, JSON for programs (the live screen has
    /// no format).
    #[arg(short = 'f', long, default_value = "text", requires = "once", value_parser = format::formats(format::TEXT_JSON))]
    format: Format,
}

/// Runs `multiagents dashboard`.
pub async fn run(globals: &Globals, args: DashboardArgs) -> anyhow::Result<Outcome> {
    let store = Store::open_existing(&globals.db)?;
    // A run is shown as it was at its end (one past its last microsecond:
    // windows are half-open), like `query --run`, `report` and `export
    // --run`; a run without an end (still going, or killed) at its latest
    // record, looked up again at each refresh so a live run moves on.
    let run = match args.run {
        Some(selector) => Some(runs::resolve_run(&*store.reader()?, selector)?),
        None => None,
    };
    let scope = run.map_or(RunScope::AllRuns, |r| RunScope::Run(r.run_id));
    let thresholds = HealthThresholds::from_config(&globals.config);
    let snapshot = || {
        let at_us = match run {
            None => clock::now_us(),
            Some(r) if !r.unfinished => r.ended_at_us + 1,
            Some(r) => {
                runs::resolve_run(&*store.reader()?, RunSelector::Id(r.run_id))?.ended_at_us + 1
            }
        };
        dashboard::collect(&store, &thresholds, scope, args.window, at_us)
    };
    if args.once {
        let snap = snapshot()?;
        match args.format {
            Format::Json => output::print_json(&snap)?,
            _ => output::print(&dashboard::render_text(&snap))?,
        }
        return Ok(Outcome::Ok);
    }
    let mut terminal = ratatui::try_init().context("cannot take over the terminal")?;
    let result = live(&mut terminal, snapshot, args.refresh);
    ratatui::restore();
    result
}

fn live(
    terminal: &mut ratatui::DefaultTerminal,
    snapshot: impl Fn() -> Result<dashboard::DashboardSnapshot, MonitorError>,
    refresh: Duration,
) -> anyhow::Result<Outcome> {
    loop {
        let snap = snapshot()?;
        terminal.draw(|frame| dashboard::render(frame, &snap))?;
        let deadline = Instant::now() + refresh;
        // Wait for the next refresh, but react to keys at once.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if event::poll(left)? {
                match event::read()? {
                    Event::Key(key) if key.kind == KeyEventKind::Press => {
                        let ctrl_c = key.code == KeyCode::Char('c')
                            && key.modifiers.contains(KeyModifiers::CONTROL);
                        if matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                            return Ok(Outcome::Ok);
                        }
                    }
                    Event::Resize(_, _) => {
                        terminal.draw(|frame| dashboard::render(frame, &snap))?;
                    }
                    _ => {}
                }
            }
        }
    }
}
