//! What orchestrators and worker hosts write to Redis: the keys, and the
//! fields of a command entry and of a reply entry. Both sides use only this
//! module, so they cannot disagree about a name.
//!
//! Keys, under a namespace (`multiagents` unless configured):
//! - `NS:commands:WORKER` — a stream per worker; hosts read it in the
//!   consumer group [`GROUP`] (one delivery per entry, a pending-entries
//!   list per host for crash recovery), acknowledge and delete each entry
//!   once its reply is written, so the stream holds only work not yet done.
//! - `NS:replies:ORCHESTRATOR` — a stream per orchestrator, read by it
//!   alone; it deletes what it read. It expires when its orchestrator stops
//!   refreshing it, and a host drops commands whose reply stream is gone
//!   (their orchestrator is gone: nobody would record the result).
//! - `NS:host:NAME` — a host's heartbeat, a JSON [`HostBeat`] that expires
//!   unless refreshed; `NS:hosts` — the set of host names.

use std::collections::HashMap;
use std::sync::Arc;

use redis::Value as RedisValue;

use super::{CallEvent, RemoteResult, Reply};
use crate::store::EventType;

/// The consumer group of every command stream.
pub(crate) const GROUP: &str = "workers";

/// The namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "multiagents";

/// Key names under one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    namespace: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Keys {
            namespace: namespace.to_string(),
        }
    }

    pub(crate) fn commands(&self, worker: &str) -> String {
        format!("{}:commands:{worker}", self.namespace)
    }

    pub(crate) fn replies(&self, orchestrator: &str) -> String {
        format!("{}:replies:{orchestrator}", self.namespace)
    }

    pub(crate) fn host(&self, name: &str) -> String {
        format!("{}:host:{name}", self.namespace)
    }

    pub(crate) fn hosts(&self) -> String {
        format!("{}:hosts", self.namespace)
    }
}

/// A host's heartbeat, as JSON under `NS:host:NAME`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostBeat {
    /// The host's name (unique per process: `machine:pid` by default).
    pub name: String,
    /// The workers it serves.
    pub workers: Vec<String>,
    /// Steps it runs at once.
    pub concurrency: usize,
    /// Its process id.
    pub pid: u32,
    /// When it started, on its clock.
    pub started_at_us: i64,
    /// Steps running now.
    pub in_flight: usize,
}

/// One command as a host reads it.
#[derive(Debug, Clone)]
pub(crate) struct CommandEntry {
    pub(crate) id: i64,
    pub(crate) reply_to: String,
    pub(crate) worker: String,
    pub(crate) step: String,
    pub(crate) event_type: EventType,
    pub(crate) attempt: u32,
    pub(crate) transaction_id: String,
    pub(crate) context: String,
}

impl CommandEntry {
    /// The entry's fields, in the order they are written.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.to_string()),
            ("reply_to", self.reply_to.clone()),
            ("worker", self.worker.clone()),
            ("step", self.step.clone()),
            ("event_type", self.event_type.as_str().to_string()),
            ("attempt", self.attempt.to_string()),
            ("transaction_id", self.transaction_id.clone()),
            ("context", self.context.clone()),
        ]
    }

    /// Reads an entry; `None` names the first missing or malformed field.
    pub(crate) fn parse(map: &HashMap<String, RedisValue>) -> Result<Self, String> {
        let event_type = match text(map, "event_type")?.as_str() {
            "command" => EventType::Command,
            "compensation" => EventType::Compensation,
            other => return Err(format!("event_type {other:?}")),
        };
        Ok(CommandEntry {
            id: number(map, "id")?,
            reply_to: text(map, "reply_to")?,
            worker: text(map, "worker")?,
            step: text(map, "step")?,
            event_type,
            attempt: u32::try_from(number(map, "attempt")?).map_err(|_| "attempt".to_string())?,
            transaction_id: text(map, "transaction_id")?,
            context: text(map, "context")?,
        })
    }
}

/// A reply entry: the call's id and what happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReplyEntry {
    pub(crate) id: i64,
    pub(crate) event: CallEvent,
}

impl ReplyEntry {
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![("id", self.id.to_string())];
        match &self.event {
            CallEvent::Reclaimed {
                from_host,
                by_host,
                idle_ms,
            } => {
                fields.push(("kind", "reclaimed".into()));
                fields.push(("from_host", from_host.to_string()));
                fields.push(("host", by_host.to_string()));
                fields.push(("idle_ms", idle_ms.to_string()));
            }
            CallEvent::Replied(reply) => {
                fields.push(("kind", "reply".into()));
                fields.push(("host", reply.host.to_string()));
                fields.push(("picked_up_at_us", reply.picked_up_at_us.to_string()));
                fields.push(("processing_at_us", reply.processing_at_us.to_string()));
                fields.push(("finished_at_us", reply.finished_at_us.to_string()));
                match &reply.result {
                    RemoteResult::Completed(value) => {
                        fields.push(("outcome", "completed".into()));
                        fields.push(("result", value.to_string()));
                    }
                    RemoteResult::Failed { message, retryable } => {
                        fields.push(("outcome", "failed".into()));
                        fields.push(("error", message.clone()));
                        fields.push(("retryable", u8::from(*retryable).to_string()));
                    }
                }
            }
        }
        fields
    }

    pub(crate) fn parse(map: &HashMap<String, RedisValue>) -> Result<Self, String> {
        let id = number(map, "id")?;
        let host: Arc<str> = Arc::from(text(map, "host")?);
        let event = match text(map, "kind")?.as_str() {
            "reclaimed" => CallEvent::Reclaimed {
                from_host: Arc::from(text(map, "from_host")?),
                by_host: host,
                idle_ms: number(map, "idle_ms")?,
            },
            "reply" => {
                let result = match text(map, "outcome")?.as_str() {
                    "completed" => RemoteResult::Completed(
                        serde_json::from_str(&text(map, "result")?)
                            .map_err(|e| format!("result: {e}"))?,
                    ),
                    "failed" => RemoteResult::Failed {
                        message: text(map, "error")?,
                        retryable: number(map, "retryable")? != 0,
                    },
                    other => return Err(format!("outcome {other:?}")),
                };
                CallEvent::Replied(Reply {
                    host,
                    result,
                    picked_up_at_us: number(map, "picked_up_at_us")?,
                    processing_at_us: number(map, "processing_at_us")?,
                    finished_at_us: number(map, "finished_at_us")?,
                })
            }
            other => return Err(format!("kind {other:?}")),
        };
        Ok(ReplyEntry { id, event })
    }
}

fn text(map: &HashMap<String, RedisValue>, key: &str) -> Result<String, String> {
    match map.get(key) {
        Some(RedisValue::BulkString(bytes)) => {
            String::from_utf8(bytes.clone()).map_err(|_| format!("{key} is not UTF-8"))
        }
        Some(RedisValue::SimpleString(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{key} is not text")),
        None => Err(format!("{key} is missing")),
    }
}

fn number(map: &HashMap<String, RedisValue>, key: &str) -> Result<i64, String> {
    text(map, key)?
        .parse()
        .map_err(|_| format!("{key} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_map(fields: Vec<(&'static str, String)>) -> HashMap<String, RedisValue> {
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), RedisValue::BulkString(v.into_bytes())))
            .collect()
    }

    #[test]
    fn entries_read_back_as_written() {
        let command = CommandEntry {
            id: 7 << 40 | 3,
            reply_to: "ns:replies:o".into(),
            worker: "fast_processor".into(),
            step: "s".into(),
            event_type: EventType::Compensation,
            attempt: 2,
            transaction_id: "tx".into(),
            context: r#"{"data":"x"}"#.into(),
        };
        let back = CommandEntry::parse(&as_map(command.fields())).unwrap();
        assert_eq!(back.fields(), command.fields());
        for event in [
            CallEvent::Replied(Reply {
                host: Arc::from("h:1"),
                result: RemoteResult::Completed(serde_json::json!({"a": 1})),
                picked_up_at_us: 1,
                processing_at_us: 2,
                finished_at_us: 3,
            }),
            CallEvent::Replied(Reply {
                host: Arc::from("h:1"),
                result: RemoteResult::Failed {
                    message: "ValueError: no".into(),
                    retryable: false,
                },
                picked_up_at_us: 1,
                processing_at_us: 2,
                finished_at_us: 3,
            }),
            CallEvent::Reclaimed {
                from_host: Arc::from("a"),
                by_host: Arc::from("b"),
                idle_ms: 30_000,
            },
        ] {
            let entry = ReplyEntry { id: 5, event };
            assert_eq!(ReplyEntry::parse(&as_map(entry.fields())).unwrap(), entry);
        }
        let mut broken = as_map(command.fields());
        broken.remove("worker");
        assert_eq!(
            CommandEntry::parse(&broken).unwrap_err(),
            "worker is missing"
        );
    }
}
