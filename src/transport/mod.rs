//! Where a step runs: in the orchestrator's own process (the default), or
//! on a worker host reached through a [`RemoteWorkers`] transport — Redis
//! Streams with consumer groups (`redis`, feature `distributed`).
//!
//! The orchestrator stays the only writer of its file. A remote step is one
//! [`Call`]: the orchestrator records the dispatch, hands the call to the
//! transport, and records the end from the host's [`Reply`]; the host's
//! stage times are placed on the orchestrator's clock by [`placed_stages`].
//! Step timeouts and cancels stay the orchestrator's: it stops waiting, and
//! a reply that comes later is counted as a duplicate, never recorded.

#[cfg(feature = "distributed")]
pub mod host;
#[cfg(feature = "distributed")]
pub mod redis;
#[cfg(feature = "distributed")]
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::store::{EventType, Writer};
use crate::worker::Context;

/// Why a remote step could not be run or its result not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// Redis could not be reached, or refused a command.
    #[error("TransportError: {0}")]
    Unreachable(String),
    /// No live worker host serves this worker.
    #[error("TransportError: no live worker host serves {0:?}")]
    NoHost(String),
    /// The context or result is larger than the transport accepts.
    #[error("PayloadTooLarge: {what} is {size} bytes, over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// What was too large ("the context of step \"x\"").
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The transport was configured wrongly (a bad URL, say).
    #[error("{0}")]
    Config(String),
}

impl TransportError {
    /// Whether another attempt may succeed (a configuration error or an
    /// oversized payload will not change).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable(_) | TransportError::NoHost(_)
        )
    }
}

/// One step attempt sent to a worker host.
#[derive(Debug, Clone)]
pub struct Call {
    /// The event id of the attempt that dispatched it: the key its reply
    /// names (a reclaimed delivery keeps it).
    pub id: i64,
    /// The worker to run.
    pub worker: Arc<str>,
    /// The step's name.
    pub step: Arc<str>,
    /// Command or compensation.
    pub event_type: EventType,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The workflow's transaction id (for the host's logs).
    pub transaction_id: Arc<str>,
    /// What the worker reads.
    pub context: Context,
}

/// How a remote worker call ended, as the host saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteResult {
    /// The worker returned this JSON object.
    Completed(Value),
    /// The worker failed (returned an error, panicked, or returned something
    /// other than an object).
    Failed {
        /// The full message (its type is the text before the first `:`).
        message: String,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
}

/// A host's answer to a [`Call`]. Times are microseconds on the host's
/// clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The host that ran it.
    pub host: Arc<str>,
    /// The outcome.
    pub result: RemoteResult,
    /// The host took the call from the stream.
    pub picked_up_at_us: i64,
    /// The worker function was called.
    pub processing_at_us: i64,
    /// The worker returned.
    pub finished_at_us: i64,
}

/// Something that happened to a call before its reply.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The host holding the call stopped answering; another host took the
    /// delivery over after the visibility timeout and runs it again.
    Reclaimed {
        /// The host that lost it.
        from_host: Arc<str>,
        /// The host that took it over.
        by_host: Arc<str>,
        /// How long the delivery had been idle, ms.
        idle_ms: i64,
    },
    /// The reply: the first one for this call (later ones are duplicates).
    Replied(Reply),
}

/// A call in flight: its events, in order, until the reply. Dropping it
/// stops waiting (a later reply is counted as a duplicate).
pub trait PendingCall: Send {
    /// The next thing that happened to the call.
    fn next(
        &mut self,
    ) -> Pin<Box<dyn Future<Output = Result<CallEvent, TransportError>> + Send + '_>>;
}

/// What [`RemoteWorkers::send`] returns: the call in flight, once sent.
pub type Sending<'a> =
    Pin<Box<dyn Future<Output = Result<Box<dyn PendingCall>, TransportError>> + Send + 'a>>;

/// A transport to worker hosts.
pub trait RemoteWorkers: Send + Sync + std::fmt::Debug {
    /// Whether steps of this worker are sent to hosts (rather than run in
    /// the orchestrator's own registry).
    fn serves(&self, worker: &str) -> bool;

    /// Sends `call` to a host serving its worker.
    fn send(&self, call: Call) -> Sending<'_>;

    /// Records the hosts it hears from into `writer` (the run's
    /// `run_hosts`) from now on; a later call (a new session) records into
    /// its writer instead, counting afresh.
    fn record_into(&self, writer: Writer) {
        let _ = writer;
    }

    /// Records the hosts' latest state now: the session calls it before the
    /// run closes, so the last counts are in the file.
    fn record_hosts(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// A host's stage times placed on the orchestrator's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedStages {
    /// Picked up by the host.
    pub picked_up_at_us: i64,
    /// The worker was called.
    pub processing_at_us: i64,
    /// The worker returned.
    pub finished_at_us: i64,
    /// The worker's own time, measured on the host.
    pub duration_us: i64,
}

/// The clock-skew rule. The host measures its stages on its own clock,
/// which may be ahead of or behind the orchestrator's; differences between
/// them are exact, absolute times are not. So the recorded stages keep the
/// host's differences (the worker's duration, the time from pick-up to
/// call) and are anchored on the orchestrator's clock at the moment the
/// reply arrived (`received_at_us`): the host's end is placed there, and
/// its earlier stages before it by the host's differences, never before the
/// dispatch (`dispatched_at_us`). The transit of the reply is counted in
/// the latency (dispatch to end), not in the duration.
pub fn placed_stages(reply: &Reply, dispatched_at_us: i64, received_at_us: i64) -> PlacedStages {
    let finished_at_us = received_at_us.max(dispatched_at_us);
    let duration_us = (reply.finished_at_us - reply.processing_at_us).max(0);
    let queued_us = (reply.processing_at_us - reply.picked_up_at_us).max(0);
    let processing_at_us = (finished_at_us - duration_us).max(dispatched_at_us);
    let picked_up_at_us = (processing_at_us - queued_us).max(dispatched_at_us);
    PlacedStages {
        picked_up_at_us,
        processing_at_us,
        finished_at_us,
        duration_us: duration_us.min(finished_at_us - dispatched_at_us),
    }
}

/// A Redis URL with its password (and user) replaced by `***`, for logs,
/// errors and the recorded command line.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

/// A command line with the value of every `--redis` option (and any word
/// that is a Redis URL with credentials) redacted by [`redact_url`].
pub fn redact_command_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if let Some(v) = a.strip_prefix("--redis=") {
                format!("--redis={}", redact_url(v))
            } else if a.starts_with("redis://") || a.starts_with("rediss://") {
                redact_url(a)
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(picked: i64, processing: i64, finished: i64) -> Reply {
        Reply {
            host: Arc::from("h"),
            result: RemoteResult::Completed(Value::Null),
            picked_up_at_us: picked,
            processing_at_us: processing,
            finished_at_us: finished,
        }
    }

    #[test]
    fn stages_keep_the_hosts_differences_whatever_its_clock() {
        // Host clock 1 s ahead, then 1 s behind: the same placement.
        for skew in [1_000_000, -1_000_000, 0] {
            let r = reply(1_100 + skew, 1_150 + skew, 1_450 + skew);
            let p = placed_stages(&r, 1_000, 1_500);
            assert_eq!(p.finished_at_us, 1_500);
            assert_eq!(p.duration_us, 300);
            assert_eq!(p.processing_at_us, 1_200);
            assert_eq!(p.picked_up_at_us, 1_150);
        }
    }

    #[test]
    fn stages_never_precede_the_dispatch() {
        // A host whose worker took longer than the round trip seen here
        // (impossible with true clocks; a clock running fast): clamped.
        let p = placed_stages(&reply(0, 0, 5_000), 1_000, 1_500);
        assert_eq!(p.picked_up_at_us, 1_000);
        assert_eq!(p.processing_at_us, 1_000);
        assert_eq!(p.duration_us, 500);
    }

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact_url("redis://:s3cret@127.0.0.1:6380/0"),
            "redis://***@127.0.0.1:6380/0"
        );
        assert_eq!(
            redact_url("rediss://user:p%40ss@host:6379"),
            "rediss://***@host:6379"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        let line = redact_command_line(&[
            "multiagents".into(),
            "demo".into(),
            "--redis".into(),
            "redis://:pw@h:1".into(),
            "--redis=redis://u:pw@h:2/".into(),
        ]);
        assert!(!line.contains("pw"), "{line}");
    }
}
