//! The live dashboard on ratatui's test backend, drawn from a real recorded
//! file (the generated dataset written through the real writer, read by a
//! second store as another process would):
//!
//! - at 80×24, 120×40 and 200×60 every panel's title and at least one data
//!   row are on the screen;
//! - sorting keys change the order of the worker table;
//! - Enter opens a worker's view (error patterns, slowest executions, its
//!   trend) and an active workflow's live trace; `?` shows the help;
//! - rates are divided by the elapsed part of the window;
//! - a refresh leaves no read transaction open: the writer commits and a
//!   WAL checkpoint (TRUNCATE) completes between two refreshes.

mod support;

use std::time::Duration;

use multiagents::dashboard::{
    self, Action, DashboardSnapshot, Detail, Focus, ViewState, collect_detail,
};
use multiagents::monitor::{HealthThresholds, RunScope};
use multiagents::runs::{RunSelector, resolve_run};
use multiagents::store::{AlertFired, Record, Store, SystemSample, Writer};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const SECOND: i64 = 1_000_000;
const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

struct Recorded {
    _db: support::TempDb,
    writer: Writer,
    /// A second store on the same file: the dashboard's process.
    reader: Store,
    path: std::path::PathBuf,
    run_id: i64,
    run_start: i64,
    now: i64,
}

/// 150 workflows over the 40 s after the run started, 30 still in flight,
/// four system samples 15 s apart at ~2 % memory, one firing alert.
fn record() -> Recorded {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let run = resolve_run(&store.reader().unwrap(), RunSelector::Latest).unwrap();
    let t0 = run.started_at_us + SECOND;
    let data = support::dataset::generate(&writer, 7, 150, 30, t0, 40 * SECOND);
    support::dataset::write(&writer, &data);
    for (i, memory) in [2.0, 2.1, 2.3, 2.2].into_iter().enumerate() {
        writer
            .blocking_record(Record::SystemSample(SystemSample {
                sampled_at_us: t0 + i as i64 * 14 * SECOND,
                cpu_usage_percent: 20.0 + 10.0 * i as f64,
                memory_usage_percent: memory,
                load_avg_1m: 1.5,
                ..SystemSample::default()
            }))
            .unwrap();
    }
    writer
        .blocking_record(Record::AlertFired(AlertFired {
            id: writer.next_id(),
            alert_type: "high_error_rate".into(),
            subject: "flaky_processor".into(),
            severity: "warning".into(),
            message: "flaky_processor error rate above threshold".into(),
            value: Some(30.0),
            threshold: Some(20.0),
            fired_at_us: t0 + 20 * SECOND,
            details_json: "{}".into(),
        }))
        .unwrap();
    writer.blocking_flush().unwrap();
    let reader = Store::open_existing(&db.path).unwrap();
    Recorded {
        path: db.path.clone(),
        _db: db,
        writer,
        reader,
        run_id: run.run_id,
        run_start: run.started_at_us,
        now: t0 + 45 * SECOND,
    }
}

fn snapshot(r: &Recorded, window: Duration) -> DashboardSnapshot {
    dashboard::collect(
        &r.reader,
        &HealthThresholds::default(),
        RunScope::AllRuns,
        window,
        r.now,
    )
    .unwrap()
}

fn detail(r: &Recorded, focus: &Focus) -> Detail {
    collect_detail(
        &r.reader,
        RunScope::Run(r.run_id),
        Duration::from_secs(60),
        r.now,
        focus,
    )
    .unwrap()
}

fn screen(
    (width, height): (u16, u16),
    snap: &DashboardSnapshot,
    state: &ViewState,
    detail: Option<&Detail>,
) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| dashboard::render(f, snap, state, detail))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

fn press(state: &mut ViewState, snap: &DashboardSnapshot, code: KeyCode) -> Action {
    state.handle_key(KeyEvent::new(code, KeyModifiers::NONE), snap)
}

/// The screen line holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not on the screen:\n{text}"))
}

#[test]
fn every_panel_title_and_a_data_row_at_three_sizes() {
    let r = record();
    let snap = snapshot(&r, Duration::from_secs(60));
    // The three steps' workers and the compensation worker.
    assert_eq!(snap.workers.len(), 4);
    assert_eq!(snap.active_total, 30);
    assert_eq!(snap.alerts.len(), 1);
    let first_active = &snap.active[0].transaction_id;
    for size in SIZES {
        let text = screen(size, &snap, &ViewState::default(), None);
        for title in [
            "MULTIAGENTS",
            "Events",
            "Throughput",
            "p95 latency",
            "Error rate",
            "System",
            "Workers (4)",
            "Active workflows (30)",
            "Alerts (1)",
        ] {
            assert!(text.contains(title), "{size:?}: no {title}:\n{text}");
        }
        for row in [
            "fast_processor",
            first_active.as_str(),
            "flaky_processor error rate",
            "cpu",
            "mem",
            "q quit",
            "? help",
        ] {
            assert!(text.contains(row), "{size:?}: no {row}:\n{text}");
        }
        // The axes are labelled: the x axis runs to "now".
        if size.1 >= 40 {
            assert!(text.contains("now"), "{size:?}:\n{text}");
        }
    }
}

#[test]
fn rows_go_to_the_panel_with_content() {
    // 4 workers and 30 active workflows at 120x40: the workers box has no
    // empty rows, and the active box lists more than a handful.
    let r = record();
    let snap = snapshot(&r, Duration::from_secs(60));
    let text = screen((120, 40), &snap, &ViewState::default(), None);
    let header = line_of(&text, "1 worker");
    let last_worker = [
        "compensator",
        "fast_processor",
        "flaky_processor",
        "slow_processor",
    ]
    .iter()
    .map(|w| line_of(&text, w))
    .max()
    .unwrap();
    assert_eq!(last_worker, header + 4, "{text}");
    let bottom_border = text.lines().nth(last_worker + 1).unwrap();
    assert!(bottom_border.starts_with('└'), "{text}");
    let listed = snap
        .active
        .iter()
        .filter(|a| text.contains(&a.transaction_id))
        .count();
    assert!(
        listed >= 10,
        "only {listed} active workflows shown:\n{text}"
    );
}

#[test]
fn sorting_changes_the_order() {
    let r = record();
    let snap = snapshot(&r, Duration::from_secs(60));
    let mut state = ViewState::default();
    let order = |state: &ViewState| {
        let text = screen((120, 40), &snap, state, None);
        let mut names = ["fast_processor", "flaky_processor", "slow_processor"];
        names.sort_by_key(|n| line_of(&text, n));
        names
    };
    assert_eq!(
        order(&state),
        ["fast_processor", "flaky_processor", "slow_processor"]
    );
    press(&mut state, &snap, KeyCode::Char('1'));
    assert_eq!(
        order(&state),
        ["slow_processor", "flaky_processor", "fast_processor"],
        "pressing the sorted column again reverses it"
    );
    // By p95 duration, slowest first: the slow worker leads.
    press(&mut state, &snap, KeyCode::Char('5'));
    assert_eq!(order(&state)[0], "slow_processor");
    press(&mut state, &snap, KeyCode::Char('r'));
    assert_eq!(order(&state)[2], "slow_processor");
    // By success rate, lowest first after a reverse: the flaky worker.
    press(&mut state, &snap, KeyCode::Char('3'));
    press(&mut state, &snap, KeyCode::Char('r'));
    assert_eq!(order(&state)[0], "flaky_processor");
    let text = screen((120, 40), &snap, &state, None);
    assert!(
        text.contains("3 ok%▲"),
        "the sorted column is marked:\n{text}"
    );
}

#[test]
fn drill_down_views_render() {
    let r = record();
    let snap = snapshot(&r, Duration::from_secs(60));
    let mut state = ViewState::default();
    // Worst success rate first, then Enter on the first row.
    press(&mut state, &snap, KeyCode::Char('3'));
    press(&mut state, &snap, KeyCode::Char('r'));
    assert_eq!(press(&mut state, &snap, KeyCode::Enter), Action::Refresh);
    let focus = Focus::Worker("flaky_processor".into());
    assert_eq!(state.view, dashboard::state::View::Detail(focus.clone()));
    let worker = detail(&r, &focus);
    let Detail::Worker(w) = &worker else {
        panic!("{worker:?}")
    };
    assert!(!w.error_patterns.is_empty());
    assert!(!w.slowest.is_empty());
    assert!(
        w.slowest
            .windows(2)
            .all(|p| p[0].duration_ms >= p[1].duration_ms)
    );
    assert!(w.trend.iter().any(|p| p.throughput_per_s > 0.0));
    for size in SIZES {
        let text = screen(size, &snap, &state, Some(&worker));
        for part in [
            "Worker flaky_processor",
            "Error patterns",
            "Slowest executions",
            w.error_patterns[0].error_type.as_str(),
            "Esc back",
        ] {
            assert!(text.contains(part), "{size:?}: no {part}:\n{text}");
        }
        if size.1 >= 40 {
            assert!(text.contains("p95 duration"), "{size:?}:\n{text}");
        }
    }
    // Back, then the first active workflow's live trace.
    press(&mut state, &snap, KeyCode::Esc);
    press(&mut state, &snap, KeyCode::Tab);
    assert_eq!(press(&mut state, &snap, KeyCode::Enter), Action::Refresh);
    let id = snap.active[0].transaction_id.clone();
    let trace = detail(&r, &Focus::Workflow(id.clone()));
    for size in SIZES {
        let text = screen(size, &snap, &state, Some(&trace));
        for part in [
            format!("Workflow {id}"),
            "dispatched".into(),
            "running for".into(),
        ] {
            assert!(text.contains(&part), "{size:?}: no {part}:\n{text}");
        }
    }
    // A workflow the file does not hold says so instead of failing.
    let gone = collect_detail(
        &r.reader,
        RunScope::AllRuns,
        Duration::from_secs(60),
        r.now,
        &Focus::Workflow("no-such-id".into()),
    );
    assert!(gone.is_err());
    // The help overlay.
    press(&mut state, &snap, KeyCode::Char('?'));
    for size in SIZES {
        let text = screen(size, &snap, &state, Some(&trace));
        assert!(text.contains("Help"), "{size:?}:\n{text}");
        assert!(text.contains("sort workers"), "{size:?}:\n{text}");
    }
}

#[test]
fn rates_are_divided_by_the_elapsed_part_of_the_window() {
    let r = record();
    // A minute's window 45 s after the data began (46 s after the run
    // started): 46 s elapsed, not 60.
    let snap = snapshot(&r, Duration::from_secs(60));
    let elapsed = (r.now - r.run_start) as f64 / 1e6;
    assert!(
        (snap.elapsed_seconds - elapsed).abs() < 1e-6,
        "{}",
        snap.elapsed_seconds
    );
    let expected = snap.events.total as f64 * 60.0 / elapsed;
    assert!((snap.events.throughput_per_minute - expected).abs() < 1e-6);
    // The trend covers the elapsed part only, in one-second buckets.
    assert_eq!(snap.trend.bucket_s, 1.0);
    assert_eq!(snap.trend.points.len(), elapsed.ceil() as usize);
    let executions: f64 = snap.trend.points.iter().map(|p| p.throughput_per_s).sum();
    assert!(executions > 0.0);
    // A window inside the run: all of it elapsed.
    let short = snapshot(&r, Duration::from_secs(10));
    assert_eq!(short.elapsed_seconds, 10.0);
    assert!((short.events.throughput_per_minute - short.events.total as f64 * 6.0).abs() < 1e-6);
    // Samples are placed by time from the start of the elapsed part.
    assert_eq!(snap.system.samples, 4);
    assert!(
        snap.system
            .sample_offsets_s
            .windows(2)
            .all(|p| p[1] - p[0] == 14.0)
    );
}

#[test]
fn refreshes_hold_no_read_transaction_between_them() {
    let r = record();
    // TRUNCATE waits for every reader to leave the WAL. The writer may be
    // checkpointing at the same moment (then SQLite answers busy at once):
    // try again, a bounded number of times. A read transaction the
    // dashboard kept open would make every attempt busy.
    let checkpoint = || {
        let conn = rusqlite::Connection::open(&r.path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let mut last = (1, 0, 0);
        for _ in 0..100 {
            last = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .unwrap();
            if last.0 == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (busy, log, done): (i64, i64, i64) = last;
        assert_eq!(busy, 0, "a reader kept the checkpoint from completing");
        assert_eq!(log, done, "every WAL frame was checkpointed");
    };
    checkpoint();
    let first = snapshot(&r, Duration::from_secs(60));
    detail(&r, &Focus::Worker("flaky_processor".into()));
    detail(&r, &Focus::Workflow(first.active[0].transaction_id.clone()));
    checkpoint();
    // The writer commits between two refreshes; the next one sees it.
    let more = support::dataset::generate(&r.writer, 8, 20, 0, r.now - 5 * SECOND, 4 * SECOND);
    support::dataset::write(&r.writer, &more);
    r.writer.blocking_flush().unwrap();
    checkpoint();
    let second = snapshot(&r, Duration::from_secs(60));
    assert!(second.events.total > first.events.total);
    checkpoint();
    r.writer.blocking_shutdown().unwrap();
}
