//! The orchestrator's side of the Redis transport: sends each remote step
//! as an entry of its worker's command stream, reads its own reply stream,
//! and watches the hosts' heartbeats (recorded in the run's `run_hosts`).
//!
//! Delivery is at least once: a host that dies holding a command loses it
//! to another host after the visibility timeout (see [`super::host`]), and
//! a command whose fate is unknown — Redis went away while it was out — is
//! failed here with a retryable [`TransportError`], so the step's retry
//! policy decides. The first reply of a call wins; any later one (a
//! reclaimed delivery that ran twice, a reply after a timeout or cancel) is
//! counted per host as a duplicate and never recorded.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamMaxlen, StreamReadOptions, StreamReadReply};
use tokio::sync::mpsc;

use super::wire::{CommandEntry, GROUP, HostBeat, Keys, ReplyEntry};
use super::{Call, CallEvent, PendingCall, RemoteWorkers, Sending, TransportError, redact_url};
use crate::clock;
use crate::store::{HostSeen, Record, Writer};

pub use super::wire::DEFAULT_NAMESPACE;

/// How the orchestrator reaches its worker hosts.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://[:password@]host:port[/db]` or `rediss://…` for TLS.
    pub url: String,
    /// Prefix of every key, so deployments can share one Redis.
    pub namespace: String,
    /// With `rediss://`: a PEM file of the certificate authority that signed
    /// the server's certificate, when it is not in the system's trust store.
    pub ca_cert: Option<std::path::PathBuf>,
    /// The workers whose steps go to hosts; `None`: every worker.
    pub workers: Option<Vec<String>>,
    /// Largest context sent, in bytes (JSON).
    pub max_payload_bytes: usize,
    /// How long Redis may be unreachable before calls waiting on it fail.
    pub unreachable_after: Duration,
    /// How long a worker may have no live host before calls waiting for it
    /// fail (a host's heartbeat lapses after three missed beats).
    pub host_lost_after: Duration,
}

impl RedisOptions {
    /// Defaults for `url`: every worker remote, 8 MiB payloads, calls
    /// failed after 5 s without Redis or 15 s without a host.
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            namespace: DEFAULT_NAMESPACE.to_string(),
            ca_cert: None,
            workers: None,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            unreachable_after: Duration::from_secs(5),
            host_lost_after: Duration::from_secs(15),
        }
    }
}

/// The default limit of a context or result sent through Redis.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 8 << 20;

/// Replies kept at most in a reply stream nobody reads any more.
pub(crate) const REPLY_STREAM_MAXLEN: usize = 100_000;
/// A reply stream outlives its orchestrator by this long.
const REPLY_STREAM_TTL_S: i64 = 60;
/// How often hosts' heartbeats are read.
const HOSTS_POLL: Duration = Duration::from_millis(500);
/// Longest wait of one blocking read, ms.
const READ_BLOCK_MS: usize = 500;
/// Longest wait for one Redis command (a blocking read waits longer).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a client for `url` (trusting `ca_cert` for `rediss://`), with the
/// password kept out of every message.
pub(crate) fn client(
    url: &str,
    ca_cert: Option<&std::path::Path>,
) -> Result<redis::Client, TransportError> {
    let invalid = |e: redis::RedisError| {
        TransportError::Config(format!(
            "invalid Redis URL {}: {}",
            redact_url(url),
            redact_error(&e, url)
        ))
    };
    match ca_cert {
        None => redis::Client::open(url).map_err(invalid),
        Some(path) => {
            if !url.starts_with("rediss://") {
                return Err(TransportError::Config(format!(
                    "a CA certificate ({}) is for TLS: the Redis URL must start with rediss://",
                    path.display()
                )));
            }
            let pem = std::fs::read(path).map_err(|e| {
                TransportError::Config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
            redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
            .map_err(invalid)
        }
    }
}

/// A Redis error's text without the URL's password (some errors quote it).
pub(crate) fn redact_error(e: &redis::RedisError, url: &str) -> String {
    let text = e.to_string();
    match password_of(url) {
        Some(p) if !p.is_empty() => text.replace(&p, "***"),
        _ => text,
    }
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (credentials, _) = authority.rsplit_once('@')?;
    Some(match credentials.split_once(':') {
        Some((_, p)) => p.to_string(),
        None => credentials.to_string(),
    })
}

/// A connection manager: reconnects by itself, every command bounded.
pub(crate) async fn manager(
    client: &redis::Client,
    url: &str,
) -> Result<ConnectionManager, TransportError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(|e| unreachable(&e, url))
}

/// A connection of its own for blocking reads (a blocking read on a shared
/// connection would hold up every command behind it).
pub(crate) async fn reading_connection(
    client: &redis::Client,
    url: &str,
) -> Result<MultiplexedConnection, TransportError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(
            RESPONSE_TIMEOUT + Duration::from_millis(READ_BLOCK_MS as u64),
        ));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| unreachable(&e, url))
}

pub(crate) fn unreachable(e: &redis::RedisError, url: &str) -> TransportError {
    TransportError::Unreachable(format!(
        "Redis at {}: {}",
        redact_url(url),
        redact_error(e, url)
    ))
}

/// A call waiting for its reply.
struct Waiting {
    worker: Arc<str>,
    events: mpsc::UnboundedSender<Result<CallEvent, TransportError>>,
}

/// What one host did for this orchestrator.
#[derive(Debug, Clone, Default)]
struct HostState {
    beat: Option<HostBeat>,
    first_seen_us: i64,
    last_seen_us: i64,
    reclaimed: i64,
    duplicates: i64,
    alive: bool,
}

struct Shared {
    options: RedisOptions,
    keys: Keys,
    reply_key: String,
    conn: ConnectionManager,
    waiting: Mutex<HashMap<i64, Waiting>>,
    hosts: Mutex<HashMap<Arc<str>, HostState>>,
    /// Since when each worker has had no live host (absent: it has one).
    hostless_since: Mutex<HashMap<String, Instant>>,
    /// Where the hosts are recorded, and since when (a host seen before is
    /// first seen then, for this run).
    writer: Mutex<Option<(Writer, i64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Worker hosts reached through Redis Streams: a [`RemoteWorkers`] for
/// [`crate::session::Session::start_remote`] (or
/// [`crate::orchestrator::OrchestratorOptions::remote`]). Its background
/// tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct RedisWorkers {
    shared: Arc<Shared>,
    _tasks: Arc<TaskGuard>,
}

impl std::fmt::Debug for RedisWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWorkers")
            .field("url", &redact_url(&self.shared.options.url))
            .field("reply_key", &self.shared.reply_key)
            .finish()
    }
}

struct TaskGuard(Vec<tokio::task::AbortHandle>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A live host as the orchestrator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveHost {
    /// Its heartbeat.
    pub beat: HostBeat,
    /// Deliveries it reclaimed for this orchestrator.
    pub reclaimed: i64,
    /// Duplicate replies it sent to this orchestrator.
    pub duplicates: i64,
}

impl RedisWorkers {
    /// Connects, creates this orchestrator's reply stream and starts reading
    /// replies and heartbeats (recorded once [`RemoteWorkers::record_into`]
    /// names the writer). Fails, changing nothing, when Redis cannot be
    /// reached.
    pub async fn connect(options: RedisOptions) -> Result<RedisWorkers, TransportError> {
        let client = client(&options.url, options.ca_cert.as_deref())?;
        let mut conn = manager(&client, &options.url).await?;
        let keys = Keys::new(&options.namespace);
        let me = format!(
            "{}:{}:{}",
            crate::store::host_name(),
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let reply_key = keys.replies(&me);
        // The stream exists from now on (hosts drop commands whose reply
        // stream is gone), with one entry that says whose it is.
        let _: String = conn
            .xadd(&reply_key, "*", &[("kind", "hello"), ("id", "0")])
            .await
            .map_err(|e| unreachable(&e, &options.url))?;
        let _: bool = conn
            .expire(&reply_key, REPLY_STREAM_TTL_S)
            .await
            .map_err(|e| unreachable(&e, &options.url))?;
        let shared = Arc::new(Shared {
            options,
            keys,
            reply_key,
            conn,
            waiting: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            hostless_since: Mutex::new(HashMap::new()),
            writer: Mutex::new(None),
        });
        shared.poll_hosts().await?;
        let reader = tokio::spawn(read_replies(Arc::clone(&shared), client));
        let poller = tokio::spawn(watch_hosts(Arc::clone(&shared)));
        Ok(RedisWorkers {
            shared,
            _tasks: Arc::new(TaskGuard(vec![
                reader.abort_handle(),
                poller.abort_handle(),
            ])),
        })
    }

    /// The hosts alive now (their heartbeat has not lapsed).
    pub fn live_hosts(&self) -> Vec<LiveHost> {
        let hosts = lock(&self.shared.hosts);
        let mut live: Vec<LiveHost> = hosts
            .values()
            .filter(|h| h.alive)
            .filter_map(|h| {
                h.beat.clone().map(|beat| LiveHost {
                    beat,
                    reclaimed: h.reclaimed,
                    duplicates: h.duplicates,
                })
            })
            .collect();
        live.sort_by(|a, b| a.beat.name.cmp(&b.beat.name));
        live
    }

    /// Waits until every one of `workers` has a live host, up to `limit`;
    /// the error names those still without one.
    pub async fn wait_for_hosts(
        &self,
        workers: &[String],
        limit: Duration,
    ) -> Result<(), TransportError> {
        let deadline = Instant::now() + limit;
        loop {
            self.shared.poll_hosts().await?;
            let missing: Vec<&str> = workers
                .iter()
                .filter(|w| !self.shared.has_host(w))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TransportError::NoHost(missing.join(", ")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Duplicate replies received so far, all hosts together.
    pub fn duplicates(&self) -> i64 {
        lock(&self.shared.hosts)
            .values()
            .map(|h| h.duplicates)
            .sum()
    }
}

impl Shared {
    fn has_host(&self, worker: &str) -> bool {
        lock(&self.hosts).values().any(|h| {
            h.alive
                && h.beat
                    .as_ref()
                    .is_some_and(|b| b.workers.iter().any(|w| w == worker))
        })
    }

    /// Reads the heartbeats: which hosts are alive and what they serve.
    async fn poll_hosts(&self) -> Result<(), TransportError> {
        let url = &self.options.url;
        let mut conn = self.conn.clone();
        let names: Vec<String> = conn
            .smembers(self.keys.hosts())
            .await
            .map_err(|e| unreachable(&e, url))?;
        let beats: Vec<Option<String>> = if names.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<String> = names.iter().map(|n| self.keys.host(n)).collect();
            redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(|e| unreachable(&e, url))?
        };
        let now = clock::now_us();
        let mut gone = Vec::new();
        {
            let mut hosts = lock(&self.hosts);
            for state in hosts.values_mut() {
                state.alive = false;
            }
            for (name, beat) in names.iter().zip(beats) {
                let Some(beat) = beat.and_then(|b| serde_json::from_str::<HostBeat>(&b).ok())
                else {
                    gone.push(name.clone());
                    continue;
                };
                let state = hosts.entry(Arc::from(name.as_str())).or_default();
                if state.first_seen_us == 0 {
                    state.first_seen_us = now;
                }
                state.last_seen_us = now;
                state.alive = true;
                state.beat = Some(beat);
            }
        }
        if !gone.is_empty() {
            let _: Result<i64, _> = conn.srem(self.keys.hosts(), &gone).await;
        }
        Ok(())
    }

    /// Keeps the reply stream alive, and makes it again if Redis lost it (a
    /// restart without persistence): hosts drop the commands of an
    /// orchestrator whose reply stream is gone.
    async fn keep_reply_stream(&self) {
        let mut conn = self.conn.clone();
        let kept: Result<bool, _> = conn.expire(&self.reply_key, REPLY_STREAM_TTL_S).await;
        if matches!(kept, Ok(false)) {
            let made: Result<(), _> = redis::pipe()
                .xadd(&self.reply_key, "*", &[("kind", "hello"), ("id", "0")])
                .ignore()
                .expire(&self.reply_key, REPLY_STREAM_TTL_S)
                .ignore()
                .query_async(&mut conn)
                .await;
            if let Err(e) = made {
                tracing::debug!(error = %unreachable(&e, &self.options.url), "could not make the reply stream");
            }
        }
    }

    async fn record_hosts(&self) {
        let Some((writer, since_us)) = lock(&self.writer).clone() else {
            return;
        };
        let records: Vec<HostSeen> = lock(&self.hosts)
            .iter()
            .filter(|(_, h)| h.last_seen_us >= since_us)
            .filter_map(|(name, h)| {
                h.beat.as_ref().map(|beat| HostSeen {
                    name: Arc::clone(name),
                    workers: beat.workers.join(","),
                    concurrency: i64::try_from(beat.concurrency).unwrap_or(i64::MAX),
                    first_seen_us: h.first_seen_us.max(since_us),
                    last_heartbeat_us: h.last_seen_us,
                    reclaimed: h.reclaimed,
                    duplicates: h.duplicates,
                })
            })
            .collect();
        for record in records {
            if let Err(e) = writer.record(Record::HostSeen(record)).await {
                tracing::debug!(error = %e, "could not record a host");
            }
        }
    }

    /// Fails the waiting calls `pick` selects with `error`.
    fn fail_waiting(&self, pick: impl Fn(&Waiting) -> bool, error: &TransportError) -> usize {
        let failed: Vec<Waiting> = {
            let mut waiting = lock(&self.waiting);
            let ids: Vec<i64> = waiting
                .iter()
                .filter(|(_, w)| pick(w))
                .map(|(&id, _)| id)
                .collect();
            ids.into_iter()
                .filter_map(|id| waiting.remove(&id))
                .collect()
        };
        for w in &failed {
            let _ = w.events.send(Err(error.clone()));
        }
        failed.len()
    }

    /// Hands a reply entry to its waiting call, or counts it as a duplicate.
    fn deliver(&self, entry: ReplyEntry) {
        match entry.event {
            CallEvent::Reclaimed { ref by_host, .. } => {
                lock(&self.hosts)
                    .entry(Arc::clone(by_host))
                    .or_default()
                    .reclaimed += 1;
                if let Some(w) = lock(&self.waiting).get(&entry.id) {
                    let _ = w.events.send(Ok(entry.event.clone()));
                }
            }
            CallEvent::Replied(ref reply) => {
                let waiting = lock(&self.waiting).remove(&entry.id);
                match waiting {
                    Some(w) => {
                        let _ = w.events.send(Ok(entry.event.clone()));
                    }
                    None => {
                        lock(&self.hosts)
                            .entry(Arc::clone(&reply.host))
                            .or_default()
                            .duplicates += 1;
                        tracing::debug!(id = entry.id, host = %reply.host, "duplicate reply");
                    }
                }
            }
        }
    }
}

/// Reads this orchestrator's replies until dropped, reconnecting with
/// backoff. While Redis is unreachable for longer than `unreachable_after`,
/// or as soon as the connection was lost with calls out (their commands may
/// be gone with it), the waiting calls fail with a retryable error.
async fn read_replies(shared: Arc<Shared>, client: redis::Client) {
    let url = shared.options.url.clone();
    let mut last_id = "0".to_string();
    let mut backoff = Duration::from_millis(50);
    let mut down_since: Option<Instant> = None;
    loop {
        let mut conn = match reading_connection(&client, &url).await {
            Ok(conn) => conn,
            Err(e) => {
                let since = *down_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= shared.options.unreachable_after {
                    shared.fail_waiting(|_| true, &e);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if down_since.take().is_some() {
            tracing::info!(url = %redact_url(&url), "reconnected to Redis");
        }
        backoff = Duration::from_millis(50);
        let options = StreamReadOptions::default().block(READ_BLOCK_MS).count(512);
        loop {
            let read: Result<Option<StreamReadReply>, _> = conn
                .xread_options(&[&shared.reply_key], &[&last_id], &options)
                .await;
            let reply = match read {
                Ok(reply) => reply,
                Err(e) => {
                    let error = unreachable(&e, &url);
                    tracing::warn!(error = %error, "lost the connection to Redis");
                    let lost = TransportError::Unreachable(format!(
                        "the connection to Redis was lost while the step was out ({})",
                        error
                    ));
                    shared.fail_waiting(|_| true, &lost);
                    down_since = Some(Instant::now());
                    break;
                }
            };
            let mut read_ids = Vec::new();
            for key in reply.map(|r| r.keys).unwrap_or_default() {
                for entry in key.ids {
                    last_id.clone_from(&entry.id);
                    if entry
                        .map
                        .get("kind")
                        .is_some_and(|k| matches!(k, redis::Value::BulkString(b) if b == b"hello"))
                    {
                        read_ids.push(entry.id);
                        continue;
                    }
                    match ReplyEntry::parse(&entry.map) {
                        Ok(reply) => shared.deliver(reply),
                        Err(e) => tracing::warn!(error = %e, id = %entry.id, "unreadable reply"),
                    }
                    read_ids.push(entry.id);
                }
            }
            if !read_ids.is_empty() {
                let deleted: Result<i64, _> = conn.xdel(&shared.reply_key, &read_ids).await;
                if let Err(e) = deleted {
                    tracing::debug!(error = %unreachable(&e, &url), "could not trim replies");
                }
            }
        }
    }
}

/// Reads heartbeats twice a second, keeps the reply stream alive, records
/// the hosts in the run, and fails calls whose worker lost its last host.
async fn watch_hosts(shared: Arc<Shared>) {
    let mut ticks = 0u64;
    loop {
        tokio::time::sleep(HOSTS_POLL).await;
        ticks += 1;
        if let Err(e) = shared.poll_hosts().await {
            tracing::debug!(error = %e, "could not read heartbeats");
            continue;
        }
        shared.keep_reply_stream().await;
        // Workers with calls out and no live host.
        let workers: Vec<Arc<str>> = {
            let waiting = lock(&shared.waiting);
            let mut w: Vec<Arc<str>> = waiting.values().map(|w| Arc::clone(&w.worker)).collect();
            w.sort();
            w.dedup();
            w
        };
        let now = Instant::now();
        let mut lost = Vec::new();
        {
            let mut hostless = lock(&shared.hostless_since);
            hostless.retain(|w, _| !shared.has_host(w));
            for worker in workers {
                if shared.has_host(&worker) {
                    continue;
                }
                let since = *hostless.entry(worker.to_string()).or_insert(now);
                if now.duration_since(since) >= shared.options.host_lost_after {
                    lost.push(worker);
                }
            }
        }
        for worker in lost {
            let error = TransportError::NoHost(worker.to_string());
            let n = shared.fail_waiting(|w| w.worker == worker, &error);
            if n > 0 {
                tracing::warn!(worker = %worker, calls = n, "no live worker host: calls failed");
            }
        }
        // The run's hosts, every two seconds (and at the end of the run).
        if ticks.is_multiple_of(4) {
            shared.record_hosts().await;
        }
    }
}

/// The receiving end of one call.
struct Pending {
    id: i64,
    events: mpsc::UnboundedReceiver<Result<CallEvent, TransportError>>,
    shared: Arc<Shared>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Stops waiting: a reply that comes later is a duplicate.
        lock(&self.shared.waiting).remove(&self.id);
    }
}

impl PendingCall for Pending {
    fn next(
        &mut self,
    ) -> Pin<Box<dyn Future<Output = Result<CallEvent, TransportError>> + Send + '_>> {
        Box::pin(async move {
            match self.events.recv().await {
                Some(event) => event,
                None => Err(TransportError::Unreachable(
                    "the transport stopped".to_string(),
                )),
            }
        })
    }
}

impl RemoteWorkers for RedisWorkers {
    fn record_into(&self, writer: Writer) {
        // A new session starts counting afresh: its run's counts are its own.
        for host in lock(&self.shared.hosts).values_mut() {
            host.reclaimed = 0;
            host.duplicates = 0;
        }
        *lock(&self.shared.writer) = Some((writer, clock::now_us()));
    }

    fn record_hosts(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if self.shared.poll_hosts().await.is_ok() {
                self.shared.record_hosts().await;
            }
        })
    }

    fn serves(&self, worker: &str) -> bool {
        match &self.shared.options.workers {
            Some(workers) => workers.iter().any(|w| w == worker),
            None => true,
        }
    }

    fn send(&self, call: Call) -> Sending<'_> {
        Box::pin(async move {
            let shared = &self.shared;
            let context = serde_json::to_string(call.context.as_map())
                .map_err(|e| TransportError::Config(format!("context is not JSON: {e}")))?;
            if context.len() > shared.options.max_payload_bytes {
                return Err(TransportError::PayloadTooLarge {
                    what: format!("the context of step {:?}", call.step.as_ref()),
                    size: context.len(),
                    limit: shared.options.max_payload_bytes,
                });
            }
            if !shared.has_host(&call.worker) {
                return Err(TransportError::NoHost(call.worker.to_string()));
            }
            let entry = CommandEntry {
                id: call.id,
                reply_to: shared.reply_key.clone(),
                worker: call.worker.to_string(),
                step: call.step.to_string(),
                event_type: call.event_type,
                attempt: call.attempt,
                transaction_id: call.transaction_id.to_string(),
                context,
            };
            // Waiting before the command is out: the reply may come first.
            let (tx, rx) = mpsc::unbounded_channel();
            lock(&shared.waiting).insert(
                call.id,
                Waiting {
                    worker: Arc::clone(&call.worker),
                    events: tx,
                },
            );
            let pending = Pending {
                id: call.id,
                events: rx,
                shared: Arc::clone(shared),
            };
            let mut conn = shared.conn.clone();
            let added: Result<String, _> = conn
                .xadd(shared.keys.commands(&call.worker), "*", &entry.fields())
                .await;
            match added {
                Ok(_) => Ok(Box::new(pending) as Box<dyn PendingCall>),
                Err(e) => Err(unreachable(&e, &shared.options.url)),
            }
        })
    }
}

/// Creates the consumer group of a command stream (and the stream) unless
/// it exists, from the stream's start so no command added before is missed.
pub(crate) async fn ensure_group(
    conn: &mut ConnectionManager,
    stream: &str,
    url: &str,
) -> Result<(), TransportError> {
    let created: Result<(), redis::RedisError> =
        conn.xgroup_create_mkstream(stream, GROUP, "0").await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(unreachable(&e, url)),
    }
}

/// Adds a reply, bounded so an orchestrator that went away leaves a
/// bounded stream behind.
pub(crate) async fn add_reply(
    conn: &mut ConnectionManager,
    reply_to: &str,
    entry: &ReplyEntry,
    url: &str,
) -> Result<(), TransportError> {
    let added: Result<String, _> = conn
        .xadd_maxlen(
            reply_to,
            StreamMaxlen::Approx(REPLY_STREAM_MAXLEN),
            "*",
            &entry.fields(),
        )
        .await;
    added.map(|_| ()).map_err(|e| unreachable(&e, url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_found_to_be_hidden() {
        assert_eq!(password_of("redis://:pw@h:1/0").as_deref(), Some("pw"));
        assert_eq!(password_of("redis://user:pw@h:1").as_deref(), Some("pw"));
        assert_eq!(password_of("redis://h:1"), None);
    }
}
