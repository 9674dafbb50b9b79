//! Where alerts go besides the database: the log, a program, a webhook.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::engine::AlertChange;
use super::rules::Severity;
use crate::config::{NotifierConfig, NotifierKind};
use crate::monitor::error::MonitorError;

/// Somewhere alerts are sent (chat, pager, a script). Called on a blocking
/// thread for every change at or above the severity it was added with.
pub trait AlertNotifier: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> String;

    /// Delivers one change. Failures are returned for the caller to log;
    /// they never stop alerting.
    fn notify(&self, change: &AlertChange) -> Result<(), MonitorError>;
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

    fn notify(&self, change: &AlertChange) -> Result<(), MonitorError> {
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

    fn fail(&self, reason: impl Into<String>) -> MonitorError {
        MonitorError::Notifier {
            program: self.program(),
            reason: reason.into(),
        }
    }
}

impl AlertNotifier for CommandNotifier {
    fn name(&self) -> String {
        self.program()
    }

    fn notify(&self, change: &AlertChange) -> Result<(), MonitorError> {
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

/// POSTs each alert as JSON (the same object a [`CommandNotifier`] gets on
/// stdin) to a URL, the way Alertmanager's webhook receivers work.
///
/// Each attempt is bounded by the timeout; a connection failure, a timeout,
/// a `429` or a `5xx` answer is retried up to `retries` times after pauses
/// of 0.5 s, 1 s, 2 s … (at most 8 s); any other non-2xx answer fails at
/// once, since sending the same body again cannot change it. Redirects are
/// not followed: a webhook that moved should be reconfigured, not have
/// alerts POSTed wherever it points.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    url: String,
    shown: String,
    timeout: Duration,
    retries: u32,
    agent: ureq::Agent,
}

/// Pause before the first retry; doubled for each further one.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Longest pause between two attempts.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(8);

impl WebhookNotifier {
    /// A notifier POSTing to `url` with attempts bounded by `timeout`,
    /// retried `retries` times after a failure worth retrying.
    pub fn new(url: &str, timeout: Duration, retries: u32) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Status codes are judged here, retried or not.
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("multiagents/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut shown = NotifierConfig::new(NotifierKind::Webhook);
        shown.url = Some(url.to_string());
        WebhookNotifier {
            url: url.to_string(),
            shown: shown.redacted_url().unwrap_or_default(),
            timeout,
            retries,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    fn fail(&self, reason: impl Into<String>) -> MonitorError {
        MonitorError::Notifier {
            program: format!("webhook {}", self.shown),
            reason: reason.into(),
        }
    }

    /// One POST: `Ok` on 2xx, else the reason and whether to retry.
    fn attempt(&self, body: &[u8]) -> Result<(), (String, bool)> {
        match self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body)
        {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    let retry = status.is_server_error() || status.as_u16() == 429;
                    Err((format!("answered HTTP {}", status.as_u16()), retry))
                }
            }
            Err(ureq::Error::Timeout(_)) => {
                Err((format!("no answer within {:?}", self.timeout), true))
            }
            Err(
                e @ (ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Protocol(_)),
            ) => Err((e.to_string(), true)),
            Err(e) => Err((e.to_string(), false)),
        }
    }
}

impl AlertNotifier for WebhookNotifier {
    fn name(&self) -> String {
        format!("webhook {}", self.shown)
    }

    fn notify(&self, change: &AlertChange) -> Result<(), MonitorError> {
        let body = serde_json::to_vec(change.alert())
            .map_err(|e| self.fail(format!("cannot encode alert: {e}")))?;
        let mut pause = FIRST_RETRY_PAUSE;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(&body) {
                Ok(()) => return Ok(()),
                Err((reason, retry)) if retry && attempts <= self.retries => {
                    tracing::debug!(
                        notifier = %self.shown,
                        alert_id = change.alert().id,
                        attempt = attempts,
                        %reason,
                        "webhook attempt failed; retrying"
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                Err((reason, _)) => {
                    return Err(self.fail(format!(
                        "{reason} (after {attempts} attempt{})",
                        if attempts == 1 { "" } else { "s" }
                    )));
                }
            }
        }
    }
}

/// The notifier an `alerts.notifiers` entry describes.
pub fn notifier_from_config(config: &NotifierConfig) -> std::sync::Arc<dyn AlertNotifier> {
    match config.kind {
        NotifierKind::Log => std::sync::Arc::new(LogNotifier),
        NotifierKind::Command => {
            std::sync::Arc::new(CommandNotifier::new(config.argv.clone(), config.timeout()))
        }
        NotifierKind::Webhook => std::sync::Arc::new(WebhookNotifier::new(
            config.url.as_deref().unwrap_or(""),
            config.timeout(),
            config.retries(),
        )),
    }
}
