//! Where alerts go besides the database: the log, a program, a webhook.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::engine::AlertChange;
use super::rules::Severity;
use crate::monitor::custom::MetricsError;

/// Somewhere alerts are sent (chat, pager, a script). Called on a blocking
/// thread for every change at or above the severity it was added with.
pub trait AlertNotifier: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> String;

    /// Delivers one change. Failures are returned for the caller to log;
    /// they never stop alerting.
    fn notify(&self, change: &AlertChange) -> Result<(), MetricsError>;
}

/// Writes alerts to the log: the seed's `send_critical_notification`
/// printed critical alerts; here they are `error` events, others `warn`,
/// resolutions `info`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl AlertNotifier for LogNotifier {
    fn name(&self) -> String {
        "log".to_string()
    }

    fn notify(&self, change: &AlertChange) -> Result<(), MetricsError> {
        let a = change.alert();
        match change {
            AlertChange::Fired(_) if a.severity == Severity::Critical => {
                tracing::error!(alert_type = %a.alert_type, alert_id = a.id, "CRITICAL ALERT: {}", a.message);
            }
            AlertChange::Fired(_) => {
                tracing::warn!(alert_type = %a.alert_type, alert_id = a.id, "ALERT: {}", a.message);
            }
            AlertChange::Resolved(_) => {
                tracing::info!(alert_type = %a.alert_type, alert_id = a.id, "RESOLVED: {}", a.message);
            }
        }
        Ok(())
    }
}

/// Runs a program for each alert, with the alert as JSON on its stdin.
///
/// The program is an argv (no shell: nothing in an alert can be
/// interpreted as a command). It must exit 0 within the timeout; otherwise
/// it is killed and the failure reported. Only the program itself is
/// killed: children it started in the background are left alone, and we no
/// longer wait for them. stdout is discarded; the start of stderr is quoted
/// in the error.
#[derive(Debug, Clone)]
pub struct CommandNotifier {
    argv: Vec<String>,
    timeout: Duration,
}

/// How much of a notifier's stderr is kept for the error message.
const STDERR_KEEP: u64 = 4096;

impl CommandNotifier {
    /// A notifier running `argv[0]` with arguments `argv[1..]`, killed after
    /// `timeout`.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Self {
        CommandNotifier { argv, timeout }
    }

    fn program(&self) -> String {
        self.argv.first().cloned().unwrap_or_default()
    }

    fn fail(&self, reason: impl Into<String>) -> MetricsError {
        MetricsError::Notifier {
            program: self.program(),
            reason: reason.into(),
        }
    }
}

impl AlertNotifier for CommandNotifier {
    fn name(&self) -> String {
        self.program()
    }

    fn notify(&self, change: &AlertChange) -> Result<(), MetricsError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(self.fail("no program given"));
        };
        let json = serde_json::to_vec(change.alert())
            .map_err(|e| self.fail(format!("cannot encode alert: {e}")))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.fail(format!("cannot start: {e}")))?;
        // Feed stdin and drain stderr on their own threads, so that a
        // program that reads nothing or writes a lot cannot block us past
        // the timeout. Their results come back over channels with a bounded
        // wait: a grandchild that inherited the pipes (`sh -c 'x &'`) may
        // keep them open long after the program itself has gone.
        let (fed_tx, fed_rx) = std::sync::mpsc::channel();
        let stdin = child.stdin.take();
        let _ = std::thread::Builder::new()
            .name("alert-notifier-stdin".into())
            .spawn(move || {
                // Dropping `stdin` at the end closes it: the program sees EOF.
                let fed = match stdin {
                    Some(mut stdin) => stdin.write_all(&json),
                    None => Ok(()),
                };
                let _ = fed_tx.send(fed);
            });
        let (err_tx, err_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take();
        let _ = std::thread::Builder::new()
            .name("alert-notifier-stderr".into())
            .spawn(move || {
                let mut kept = String::new();
                if let Some(mut stderr) = stderr {
                    let _ = (&mut stderr).take(STDERR_KEEP).read_to_string(&mut kept);
                    let _ = err_tx.send(kept);
                    let _ = std::io::copy(&mut stderr, &mut std::io::sink());
                } else {
                    let _ = err_tx.send(kept);
                }
            });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(self.fail(format!("timed out after {:?}; killed", self.timeout)));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(self.fail(format!("cannot wait for it: {e}")));
                }
            }
        };
        let status = status?;
        let grace = Duration::from_millis(500);
        let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
        if !status.success() {
            return Err(self.fail(format!("exited with {status}: {}", stderr.trim())));
        }
        // A program that exits 0 without reading its input got no alert.
        match fed_rx.recv_timeout(grace) {
            Ok(Err(e)) => Err(self.fail(format!("could not write the alert to its stdin: {e}"))),
            _ => Ok(()),
        }
    }
}
