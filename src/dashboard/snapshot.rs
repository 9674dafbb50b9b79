//! What the dashboard shows, as plain data: filled from the monitors, drawn
//! by `render`, printed by `--once`.

use crate::monitor::coverage::Provenance;

/// The events panel.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EventPanel {
    /// Events that ended in the window.
    pub total: i64,
    /// Percent completed.
    pub success_rate: f64,
    /// Percent failed or timed out.
    pub error_rate: f64,
    /// Events per minute over the elapsed part of the window (see
    /// [`DashboardSnapshot::elapsed_seconds`]): 5 s into a run, the events
    /// of those 5 s divided by 5 s, not by the whole window.
    pub throughput_per_minute: f64,
    /// Mean dispatch → end latency.
    pub avg_latency_ms: f64,
    /// 95th percentile of the same.
    pub p95_latency_ms: f64,
}

/// One worker's row.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WorkerRow {
    /// Worker name.
    pub name: String,
    /// Executions in the window.
    pub commands: i64,
    /// Percent completed.
    pub success_rate: f64,
    /// Mean duration.
    pub avg_duration_ms: f64,
    /// 95th percentile duration.
    pub p95_duration_ms: f64,
    /// healthy, degraded, failing or inactive.
    pub health: String,
    /// Why, when not healthy.
    pub issues: Vec<String>,
}

/// The system panel.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SystemPanel {
    /// Latest whole-machine CPU percent.
    pub cpu_usage_percent: f64,
    /// Latest memory percent.
    pub memory_usage_percent: f64,
    /// Latest one-minute load average.
    pub load_avg_1m: f64,
    /// Latest database connections in use by the recording process.
    pub active_connections: i64,
    /// CPU percent of the samples in the window, oldest first.
    pub cpu_series: Vec<f64>,
    /// Memory percent of the samples in the window, oldest first.
    pub memory_series: Vec<f64>,
    /// Samples in the window.
    pub samples: usize,
    /// When each sample of the series was taken: seconds from the start of
    /// the elapsed part of the window (the x axis of the charts; samples
    /// arrive every few seconds, not once per bucket).
    pub sample_offsets_s: Vec<f64>,
}

/// One bucket of the window's trend (from [`crate::monitor::series`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TrendPoint {
    /// Seconds from the start of the elapsed part of the window.
    pub offset_s: f64,
    /// Executions that ended per second of the bucket.
    pub throughput_per_s: f64,
    /// 95th percentile event latency, ms; `None` where nothing ended.
    pub p95_latency_ms: Option<f64>,
    /// Percent of the bucket's executions that failed or timed out.
    pub error_rate: f64,
}

/// How the window moved: the charts of throughput, p95 latency and error
/// rate.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Trend {
    /// Width of a bucket, seconds.
    pub bucket_s: f64,
    /// Every bucket of the elapsed part of the window, oldest first.
    pub points: Vec<TrendPoint>,
}

/// One active workflow.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ActiveRow {
    /// Its transaction id.
    pub transaction_id: String,
    /// Definition name.
    pub workflow: String,
    /// The step it is at.
    pub current_step: String,
    /// Seconds since it was created.
    pub age_seconds: f64,
}

/// One firing alert.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AlertRow {
    /// info, warning or critical.
    pub severity: String,
    /// Rule name.
    pub alert_type: String,
    /// Human sentence.
    pub message: String,
    /// When it fired (ISO-8601).
    pub fired_at: String,
}

/// Everything on one screen.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DashboardSnapshot {
    /// When the snapshot was taken (ISO-8601).
    pub generated_at: String,
    /// The database it was read from.
    pub database: String,
    /// Window the figures cover, minutes.
    pub window_minutes: f64,
    /// The part of the window that elapsed, seconds: from the later of the
    /// window's start and the start of the recording, to its end. Rates
    /// are divided by this.
    pub elapsed_seconds: f64,
    /// Events panel.
    pub events: EventPanel,
    /// Throughput, p95 latency and error rate per bucket of the elapsed
    /// part of the window.
    pub trend: Trend,
    /// Workers panel.
    pub workers: Vec<WorkerRow>,
    /// System panel.
    pub system: SystemPanel,
    /// Active workflows (the first [`super::collect::ACTIVE_ROWS`], oldest
    /// first).
    pub active: Vec<ActiveRow>,
    /// How many workflows are active in all.
    pub active_total: i64,
    /// Firing alerts.
    pub alerts: Vec<AlertRow>,
    /// Where the figures come from: `source` is `raw`, or `rollups` /
    /// `raw+rollups` when retention deleted the raw events of part of the
    /// window (which part, which figures are estimates, and what no rollup
    /// keeps: samples and alerts).
    pub provenance: Provenance,
}

impl DashboardSnapshot {
    /// The "Source:" line both views show: raw rows, or what retention
    /// removed and where the figures come from instead.
    pub fn source_line(&self) -> String {
        self.provenance
            .describe()
            .unwrap_or_else(|| "Source: raw rows.".to_string())
    }
}

impl DashboardSnapshot {
    /// A copy with every text from the database (worker names, issues,
    /// workflow and step names, alert messages…) escaped for a terminal by
    /// [`crate::terminal::escape`]: the live screen and `--once` show an
    /// ESC as `\x1b` instead of obeying it. JSON output uses the original.
    pub fn for_terminal(&self) -> DashboardSnapshot {
        let e = |s: &String| crate::terminal::escape(s).into_owned();
        DashboardSnapshot {
            generated_at: e(&self.generated_at),
            database: e(&self.database),
            workers: self
                .workers
                .iter()
                .map(|w| WorkerRow {
                    name: e(&w.name),
                    health: e(&w.health),
                    issues: w.issues.iter().map(e).collect(),
                    ..w.clone()
                })
                .collect(),
            active: self
                .active
                .iter()
                .map(|a| ActiveRow {
                    transaction_id: e(&a.transaction_id),
                    workflow: e(&a.workflow),
                    current_step: e(&a.current_step),
                    age_seconds: a.age_seconds,
                })
                .collect(),
            alerts: self
                .alerts
                .iter()
                .map(|a| AlertRow {
                    severity: e(&a.severity),
                    alert_type: e(&a.alert_type),
                    message: e(&a.message),
                    fired_at: e(&a.fired_at),
                })
                .collect(),
            provenance: Provenance {
                notes: self.provenance.notes.iter().map(e).collect(),
                ..self.provenance.clone()
            },
            ..self.clone()
        }
    }
}
