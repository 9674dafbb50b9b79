//! Alerts read back from the file: the seed's `alert_history` and the
//! alerts still firing, and the row a new alert is stored as.

use rusqlite::Connection;

use super::engine::{Alert, AlertStatus};
use super::rules::Severity;
use crate::clock;
use crate::monitor::error::MonitorError;
use crate::monitor::scope::{RunScope, WindowParams};
use crate::store::AlertFired;
use crate::window::TimeWindow;

/// The `alerts` row of a new alert; NaN values are stored as NULL.
pub(super) fn fired_record(a: &Alert) -> AlertFired {
    let details = serde_json::json!({ "worker": a.worker, "issues": a.issues });
    AlertFired {
        id: a.id,
        alert_type: a.alert_type.clone(),
        subject: a.worker.clone().unwrap_or_default(),
        severity: a.severity.as_str().to_string(),
        message: a.message.clone(),
        value: a.value.filter(|v| v.is_finite()),
        threshold: a.threshold.filter(|v| v.is_finite()),
        fired_at_us: a.fired_at_us,
        details_json: details.to_string(),
    }
}

fn alert_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let severity_text: String = row.get(3)?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown severity {severity_text:?}").into(),
        )
    })?;
    let subject: String = row.get(2)?;
    let details_json: String = row.get(9)?;
    // Details are for display: text we cannot read shows no issues rather
    // than hiding the alert.
    let issues = serde_json::from_str::<serde_json::Value>(&details_json)
        .ok()
        .and_then(|d| serde_json::from_value::<Vec<String>>(d.get("issues")?.clone()).ok())
        .unwrap_or_default();
    let fired_at_us: i64 = row.get(7)?;
    let resolved_at_us: Option<i64> = row.get(8)?;
    Ok(Alert {
        id: row.get(0)?,
        alert_type: row.get(1)?,
        severity,
        message: row.get(4)?,
        value: row.get(5)?,
        threshold: row.get(6)?,
        worker: (!subject.is_empty()).then_some(subject),
        issues,
        timestamp: clock::format_iso(fired_at_us),
        status: if resolved_at_us.is_some() {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        },
        resolved_at: resolved_at_us.map(clock::format_iso),
        fired_at_us,
        resolved_at_us,
    })
}

/// The seed's `alert_history`: alerts that fired in `window` in the runs of
/// `scope`, newest first (`queries/alert_history.sql`).
pub fn alert_history(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<Alert>, MonitorError> {
    let mut stmt = conn.prepare_cached(crate::sql::queries::ALERT_HISTORY)?;
    let rows = stmt.query_map(
        WindowParams::by_run_id(window, scope.run_id()).bind(),
        alert_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Alerts not yet resolved, newest first, of the runs in `scope`
/// (`queries/firing_alerts.sql`) — except runs whose process died: their
/// alerts are not firing even before a later process closes the run.
pub fn firing_alerts(conn: &Connection, scope: RunScope) -> Result<Vec<Alert>, MonitorError> {
    let crashed = crate::store::lifecycle::dead_open_runs_json(conn)?;
    let mut stmt = conn.prepare_cached(crate::sql::queries::FIRING_ALERTS)?;
    let rows = stmt.query_map(
        rusqlite::named_params! {":run_id": scope.run_id(), ":crashed_runs": crashed},
        alert_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
