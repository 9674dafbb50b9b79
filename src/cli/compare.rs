//! `multiagents compare`: two recorded runs side by side, regressions
//! flagged (exit 1 when any).

use clap::Args;
use multiagents::compare::{self, Comparison, Delta, Figures, Thresholds};
use multiagents::runs::{self, RunSelector};
use multiagents::store::Store;

use super::format::{self, Format};
use super::output;
use super::{Globals, Outcome};

/// Arguments of `multiagents compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run: a run id (see `query runs`) or 'latest'.
    #[arg(long)]
    base: RunSelector,
    /// The run judged against the baseline: a run id or 'latest'.
    #[arg(long)]
    head: RunSelector,
    /// Tolerance t: a regression is a success rate more than t×100 points
    /// lower, a p95 more than (1+t) times higher, or a throughput less than
    /// (1−t) times the base's. Range: 0.001 to 100.
    #[arg(long, default_value = "0.2", value_parser = compare::parse_threshold)]
    threshold: f64,
    /// A p95 increase must also exceed this many milliseconds to count, so
    /// that sub-millisecond jitter is not a regression. Range: 0 to 3600000.
    #[arg(long, default_value = "1.0", value_parser = compare::parse_p95_floor_ms)]
    p95_floor_ms: f64,
    /// Text for people, JSON for programs, HTML for a page with both runs'
    /// series on shared charts and the regressed rows highlighted.
    #[arg(short = 'f', long, default_value = "text", value_parser = format::formats(format::TEXT_JSON_HTML))]
    format: Format,
    #[command(flatten)]
    out: output::OutArgs,
}

/// Runs `multiagents compare`.
pub async fn run(globals: &Globals, args: CompareArgs) -> anyhow::Result<Outcome> {
    // Before any work: a refused --out costs nothing and changes nothing.
    let out = args.out.check(&globals.db)?;
    let store = Store::open_existing(&globals.db)?;
    let thresholds = Thresholds {
        threshold: args.threshold,
        p95_floor_ms: args.p95_floor_ms.max(0.0),
    };
    let format = args.format;
    let (comparison, series) = tokio::task::spawn_blocking(move || {
        let conn = store.reader()?;
        let base = runs::resolve_run(&conn, args.base)?;
        let head = runs::resolve_run(&conn, args.head)?;
        // Only the page draws the series: the other forms skip the reads.
        let series = if format == Format::Html {
            Some((
                compare::run_series(&conn, &base)?,
                compare::run_series(&conn, &head)?,
            ))
        } else {
            None
        };
        let comparison = compare::compare_runs(&conn, base, head, &thresholds)?;
        Ok::<_, anyhow::Error>((comparison, series))
    })
    .await??;
    let text = match (format, series) {
        (Format::Html, Some((base, head))) => {
            multiagents::export::compare_html::render_compare_html(&comparison, &base, &head)
        }
        (Format::Json, _) => serde_json::to_string_pretty(&comparison)?,
        _ => render(&comparison),
    };
    output::emit(out, format, text.trim_end_matches('\n'))?;
    Ok(if comparison.has_regressions() {
        Outcome::Problem
    } else {
        Outcome::Ok
    })
}

fn side(f: Option<&Figures>, value: fn(&Figures) -> String) -> String {
    f.map_or_else(|| "-".to_string(), value)
}

fn row(d: &Delta) -> Vec<String> {
    let change = |ratio: Option<f64>| ratio.map_or(String::new(), |r| format!(" ({r:.2}×)"));
    let flags: Vec<&str> = d.regressions.iter().map(|m| m.as_str()).collect();
    vec![
        d.kind.as_str().to_string(),
        d.name.clone(),
        format!(
            "{} → {}",
            side(d.base.as_ref(), |f| f.count.to_string()),
            side(d.head.as_ref(), |f| f.count.to_string())
        ),
        format!(
            "{} → {}",
            side(d.base.as_ref(), |f| format!("{:.1}", f.success_rate)),
            side(d.head.as_ref(), |f| format!("{:.1}", f.success_rate))
        ),
        format!(
            "{} → {}{}",
            side(d.base.as_ref(), |f| format!("{:.1}", f.p95_ms)),
            side(d.head.as_ref(), |f| format!("{:.1}", f.p95_ms)),
            change(d.p95_ratio)
        ),
        format!(
            "{} → {}{}",
            side(d.base.as_ref(), |f| format!(
                "{:.1}",
                f.throughput_per_minute
            )),
            side(d.head.as_ref(), |f| format!(
                "{:.1}",
                f.throughput_per_minute
            )),
            change(d.throughput_ratio)
        ),
        if flags.is_empty() {
            match (&d.base, &d.head) {
                (None, _) => "only in head".to_string(),
                (_, None) => "only in base".to_string(),
                _ => String::new(),
            }
        } else {
            format!("REGRESSION: {}", flags.join(", "))
        },
    ]
}

fn render(c: &Comparison) -> String {
    let mut table = output::table(&[
        "kind",
        "name",
        "count",
        "success %",
        "p95 ms",
        "per minute",
        "flag",
    ]);
    for d in c.workers.iter().chain(c.workflows.iter()) {
        table.add_row(row(d));
    }
    let mut text = format!(
        "base run {} ({} workflows over {:.1} s) → head run {} ({} workflows over {:.1} s), threshold {}\n{table}\n",
        c.base.run.run_id,
        c.base.workflows,
        c.base.active_span_s,
        c.head.run.run_id,
        c.head.workflows,
        c.head.active_span_s,
        c.thresholds.threshold
    );
    if c.regressions.is_empty() {
        text.push_str("no regressions");
    } else {
        text.push_str(&format!("{} regressions:", c.regressions.len()));
        for r in &c.regressions {
            text.push_str("\n  ");
            text.push_str(&r.describe());
        }
    }
    text
}
