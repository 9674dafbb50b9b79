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
use ratatui::crossterm::event::{self, Event, KeyEventKind};

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
    let at_us = || -> Result<i64, MonitorError> {
        Ok(match run {
            None => clock::now_us(),
            Some(r) if !r.unfinished => r.ended_at_us + 1,
            Some(r) => {
                runs::resolve_run(&*store.reader()?, RunSelector::Id(r.run_id))?.ended_at_us + 1
            }
        })
    };
    let snapshot = || dashboard::collect(&store, &thresholds, scope, args.window, at_us()?);
    // A view that cannot be read (a workflow retention just deleted) says
    // why on the screen instead of ending the dashboard.
    let detail = |focus: &dashboard::Focus| {
        at_us()
            .and_then(|at| dashboard::collect_detail(&store, scope, args.window, at, focus))
            .unwrap_or_else(|e| dashboard::Detail::Unavailable(e.to_string()))
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
    let result = live(&mut terminal, snapshot, detail, args.refresh);
    ratatui::restore();
    result
}

fn live(
    terminal: &mut ratatui::DefaultTerminal,
    snapshot: impl Fn() -> Result<dashboard::DashboardSnapshot, MonitorError>,
    detail: impl Fn(&dashboard::Focus) -> dashboard::Detail,
    refresh: Duration,
) -> anyhow::Result<Outcome> {
    let mut state = dashboard::ViewState::default();
    let read_detail = |state: &dashboard::ViewState| match &state.view {
        dashboard::state::View::Detail(focus) => Some(detail(focus)),
        dashboard::state::View::Main => None,
    };
    loop {
        // Each refresh reads afresh; nothing stays open in between.
        let snap = snapshot()?;
        let mut shown = read_detail(&state);
        terminal.draw(|frame| dashboard::render(frame, &snap, &state, shown.as_ref()))?;
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
                        match state.handle_key(key, &snap) {
                            dashboard::Action::Quit => return Ok(Outcome::Ok),
                            dashboard::Action::Refresh => shown = read_detail(&state),
                            dashboard::Action::Redraw => {}
                        }
                        terminal.draw(|frame| {
                            dashboard::render(frame, &snap, &state, shown.as_ref())
                        })?;
                    }
                    Event::Resize(_, _) => {
                        terminal.draw(|frame| {
                            dashboard::render(frame, &snap, &state, shown.as_ref())
                        })?;
                    }
                    _ => {}
                }
            }
        }
    }
}
