//! A worker host: serves some workers of a [`WorkerRegistry`] to
//! orchestrators on other processes or machines, through Redis Streams.
//!
//! The host reads its workers' command streams in the consumer group
//! `workers` (each command goes to one host), runs each command with at
//! most `concurrency` at once, writes the reply to the orchestrator's reply
//! stream, then acknowledges and deletes the command. Until then the
//! command sits in the host's pending-entries list; the host touches it
//! there while it runs, so a long step is not taken for a lost one. A host
//! that dies (SIGKILL, a lost machine) stops touching its commands; after
//! the visibility timeout another host claims them, tells the orchestrator
//! (which records the lost attempt and a new one), and runs them again.
//!
//! Stopping (Ctrl-C) is orderly: no new command is read, the running ones
//! get `grace` to finish, and those that do not are handed back — added
//! again to their stream for another host — before the host leaves.
//!
//! A host announces itself with a heartbeat (`NS:host:NAME`, refreshed
//! every `heartbeat_interval`, lapsing after three missed beats); the
//! orchestrators record them (`query hosts`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamPendingCountReply, StreamReadOptions, StreamReadReply};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::redis::{
    DEFAULT_MAX_PAYLOAD_BYTES, REPLY_STREAM_MAXLEN, add_reply, client, ensure_group, manager,
    reading_connection, unreachable,
};
use super::wire::{CommandEntry, GROUP, HostBeat, Keys, ReplyEntry};
use super::{CallEvent, RemoteResult, Reply, TransportError, redact_url};
use crate::clock;
use crate::worker::{Context, WorkerError, WorkerFn, WorkerRegistry, json_kind, panic_message};

/// Adds a reply to its orchestrator's stream (KEYS[1], trimmed to about
/// ARGV[1] entries), then acknowledges and deletes the command (ARGV[3]) in
/// its stream (KEYS[2]) for the group ARGV[2]; ARGV[4..] are the reply's
/// fields and values.
const REPLY_AND_ACK: &str = r"
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])
redis.call('XDEL', KEYS[2], ARGV[3])
return redis.status_reply('OK')
";

/// How a host serves.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// `redis://…` or `rediss://…`.
    pub url: String,
    /// Key prefix; the orchestrators' must be the same.
    pub namespace: String,
    /// With `rediss://`: the PEM certificate authority of the server's
    /// certificate, when not in the system's trust store.
    pub ca_cert: Option<std::path::PathBuf>,
    /// Unique among the hosts (`machine:pid` by default).
    pub name: String,
    /// The workers to serve (each must be in the registry).
    pub workers: Vec<String>,
    /// Commands run at once.
    pub concurrency: usize,
    /// A command held this long without a touch by its host is taken over
    /// by another host.
    pub visibility_timeout: Duration,
    /// How often the heartbeat is refreshed.
    pub heartbeat_interval: Duration,
    /// Largest result sent back, bytes (JSON).
    pub max_payload_bytes: usize,
    /// After a stop, how long running commands get to finish before they
    /// are handed back.
    pub grace: Duration,
}

impl HostOptions {
    /// Defaults: named `machine:pid`, 16 at once, 30 s visibility timeout,
    /// heartbeat every second, 8 MiB results, 10 s grace.
    pub fn new(url: impl Into<String>, workers: Vec<String>) -> Self {
        HostOptions {
            url: url.into(),
            namespace: super::wire::DEFAULT_NAMESPACE.to_string(),
            ca_cert: None,
            name: default_host_name(),
            workers,
            concurrency: 16,
            visibility_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(1),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            grace: Duration::from_secs(10),
        }
    }
}

/// `machine:pid`: unique per process, so two hosts on one machine differ.
pub fn default_host_name() -> String {
    format!("{}:{}", crate::store::host_name(), std::process::id())
}

/// What a host did, when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostSummary {
    /// Commands run to a reply.
    pub executed: u64,
    /// Of which the worker failed.
    pub failed: u64,
    /// Commands taken over from lost hosts.
    pub reclaimed: u64,
    /// Commands handed back at the stop (not finished within the grace).
    pub handed_back: u64,
    /// Commands dropped because their orchestrator was gone.
    pub orphaned: u64,
}

#[derive(Default)]
struct Counters {
    executed: AtomicU64,
    failed: AtomicU64,
    reclaimed: AtomicU64,
    handed_back: AtomicU64,
    orphaned: AtomicU64,
}

/// A command being run: where it came from, so it can be touched, acked
/// or handed back.
#[derive(Clone)]
struct Held {
    stream: String,
    fields: Vec<(&'static str, String)>,
}

struct Host {
    options: HostOptions,
    keys: Keys,
    conn: ConnectionManager,
    workers: HashMap<String, WorkerFn>,
    /// Entry id → the command, while it runs.
    held: Mutex<HashMap<String, Held>>,
    permits: Arc<Semaphore>,
    /// Reply streams seen to exist, and when: checked again after a second,
    /// not for every command.
    live_replies: Mutex<HashMap<String, std::time::Instant>>,
    counters: Counters,
    started_at_us: i64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves `options.workers` from `registry` until `stop` completes, then
/// leaves in order (see the module's documentation).
pub async fn serve(
    registry: WorkerRegistry,
    options: HostOptions,
    stop: impl Future<Output = ()> + Send,
) -> Result<HostSummary, TransportError> {
    if options.workers.is_empty() {
        return Err(TransportError::Config(
            "a worker host needs at least one worker to serve".into(),
        ));
    }
    if options.concurrency == 0 {
        return Err(TransportError::Config(
            "concurrency must be at least 1".into(),
        ));
    }
    let mut workers = HashMap::new();
    for name in &options.workers {
        let f = registry.get(name).ok_or_else(|| {
            TransportError::Config(format!(
                "unknown worker {name:?}; known: {}",
                registry.names().join(", ")
            ))
        })?;
        workers.insert(name.clone(), Arc::clone(f));
    }
    let client = client(&options.url, options.ca_cert.as_deref())?;
    let mut conn = manager(&client, &options.url).await?;
    let keys = Keys::new(&options.namespace);
    for worker in &options.workers {
        ensure_group(&mut conn, &keys.commands(worker), &options.url).await?;
    }
    let host = Arc::new(Host {
        permits: Arc::new(Semaphore::new(options.concurrency)),
        keys,
        conn,
        workers,
        held: Mutex::new(HashMap::new()),
        live_replies: Mutex::new(HashMap::new()),
        counters: Counters::default(),
        started_at_us: clock::now_us(),
        options,
    });
    host.beat().await?;
    tracing::info!(
        host = %host.options.name,
        url = %redact_url(&host.options.url),
        workers = %host.options.workers.join(","),
        concurrency = host.options.concurrency,
        "worker host serving"
    );
    let beating = tokio::spawn(Arc::clone(&host).keep_beating());
    let keeping = tokio::spawn(Arc::clone(&host).keep_and_reclaim());
    let mut running = tokio::task::JoinSet::new();
    {
        let reading = Arc::clone(&host).read(client, &mut running);
        tokio::pin!(reading);
        tokio::pin!(stop);
        tokio::select! {
            _ = &mut stop => {}
            _ = &mut reading => {}
        }
    }
    // Stopping: nothing new is read; the running commands get the grace.
    tracing::info!(host = %host.options.name, running = running.len(), "worker host stopping");
    let finished = tokio::time::timeout(host.options.grace, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !finished {
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
    keeping.abort();
    host.hand_back().await;
    beating.abort();
    host.leave().await;
    let c = &host.counters;
    Ok(HostSummary {
        executed: c.executed.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        reclaimed: c.reclaimed.load(Ordering::Relaxed),
        handed_back: c.handed_back.load(Ordering::Relaxed),
        orphaned: c.orphaned.load(Ordering::Relaxed),
    })
}

impl Host {
    fn url(&self) -> &str {
        &self.options.url
    }

    /// Writes the heartbeat: alive for three intervals.
    async fn beat(&self) -> Result<(), TransportError> {
        let beat = HostBeat {
            name: self.options.name.clone(),
            workers: self.options.workers.clone(),
            concurrency: self.options.concurrency,
            pid: std::process::id(),
            started_at_us: self.started_at_us,
            in_flight: lock(&self.held).len(),
        };
        let json = serde_json::to_string(&beat)
            .map_err(|e| TransportError::Config(format!("heartbeat: {e}")))?;
        let ttl_ms = u64::try_from((self.options.heartbeat_interval * 3).as_millis())
            .unwrap_or(u64::MAX)
            .max(1_000);
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .set(self.keys.host(&self.options.name), json)
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .sadd(self.keys.hosts(), &self.options.name)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(&e, self.url()))?;
        Ok(())
    }

    async fn keep_beating(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.options.heartbeat_interval).await;
            if let Err(e) = self.beat().await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
        }
    }

    /// Removes the heartbeat: orchestrators see the host gone at once.
    async fn leave(&self) {
        let mut conn = self.conn.clone();
        let _: Result<(), _> = redis::pipe()
            .del(self.keys.host(&self.options.name))
            .ignore()
            .srem(self.keys.hosts(), &self.options.name)
            .ignore()
            .query_async(&mut conn)
            .await;
    }

    /// Reads new commands while permits are free, each run in `running`.
    async fn read(self: Arc<Self>, client: redis::Client, running: &mut tokio::task::JoinSet<()>) {
        let streams: Vec<String> = self
            .options
            .workers
            .iter()
            .map(|w| self.keys.commands(w))
            .collect();
        let ids: Vec<&str> = streams.iter().map(|_| ">").collect();
        let mut backoff = Duration::from_millis(50);
        loop {
            let mut conn = match reading_connection(&client, self.url()).await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach Redis; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            backoff = Duration::from_millis(50);
            loop {
                // Reap finished commands so the set does not grow.
                while running.try_join_next().is_some() {}
                let Ok(first) = Arc::clone(&self.permits).acquire_owned().await else {
                    return;
                };
                let free = self.permits.available_permits() + 1;
                drop(first);
                let options = StreamReadOptions::default()
                    .group(GROUP, &self.options.name)
                    .block(500)
                    .count(free);
                let read: Result<Option<StreamReadReply>, _> =
                    conn.xread_options(&streams, &ids, &options).await;
                let reply = match read {
                    Ok(reply) => reply,
                    Err(e) => {
                        if e.code() == Some("NOGROUP") {
                            // Redis lost its data (a restart without
                            // persistence): the groups come back.
                            let mut c = self.conn.clone();
                            for s in &streams {
                                let _ = ensure_group(&mut c, s, self.url()).await;
                            }
                        }
                        tracing::warn!(error = %unreachable(&e, self.url()), "reading commands failed");
                        break;
                    }
                };
                for key in reply.map(|r| r.keys).unwrap_or_default() {
                    for entry in key.ids {
                        self.start(&key.key, entry, None, running);
                    }
                }
            }
        }
    }

    /// Runs one delivered command in its own task once a permit is free.
    /// It is held (and so touched) from now on: a read may deliver more
    /// commands than there are free permits, and those waiting must not be
    /// taken for lost.
    fn start(
        self: &Arc<Self>,
        stream: &str,
        entry: StreamId,
        reclaimed_from: Option<(String, i64)>,
        running: &mut tokio::task::JoinSet<()>,
    ) {
        let host = Arc::clone(self);
        let stream = stream.to_string();
        let command = match CommandEntry::parse(&entry.map) {
            Ok(command) => command,
            Err(e) => {
                tracing::warn!(stream, id = %entry.id, error = %e, "dropping an unreadable command");
                running.spawn(async move { host.done(&stream, &entry.id).await });
                return;
            }
        };
        lock(&self.held).insert(
            entry.id.clone(),
            Held {
                stream: stream.clone(),
                fields: command.fields(),
            },
        );
        running.spawn(async move {
            let Ok(_permit) = Arc::clone(&host.permits).acquire_owned().await else {
                return;
            };
            host.execute(&stream, &entry.id, command, reclaimed_from)
                .await;
        });
    }

    async fn execute(
        &self,
        stream: &str,
        entry_id: &str,
        command: CommandEntry,
        reclaimed_from: Option<(String, i64)>,
    ) {
        let picked_up_at_us = clock::now_us();
        let mut conn = self.conn.clone();
        // Nobody would record the result of a gone orchestrator.
        if !self.orchestrator_alive(&command.reply_to).await {
            self.counters.orphaned.fetch_add(1, Ordering::Relaxed);
            self.done(stream, entry_id).await;
            return;
        }
        if let Some((from_host, idle_ms)) = reclaimed_from {
            self.counters.reclaimed.fetch_add(1, Ordering::Relaxed);
            let notice = ReplyEntry {
                id: command.id,
                event: CallEvent::Reclaimed {
                    from_host: Arc::from(from_host),
                    by_host: Arc::from(self.options.name.as_str()),
                    idle_ms,
                },
            };
            if let Err(e) = add_reply(&mut conn, &command.reply_to, &notice, self.url()).await {
                tracing::warn!(error = %e, "could not announce a reclaimed command");
            }
        }
        let (result, processing_at_us, finished_at_us) = self.run_worker(&command).await;
        if matches!(result, RemoteResult::Failed { .. }) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        let reply = ReplyEntry {
            id: command.id,
            event: CallEvent::Replied(Reply {
                host: Arc::from(self.options.name.as_str()),
                result,
                picked_up_at_us,
                processing_at_us,
                finished_at_us,
            }),
        };
        // The reply and the acknowledgement in one round trip, in that
        // order and all or nothing (a script: an error in the XADD stops it
        // before the XACK). Until it succeeds the command stays pending, and
        // a crash leaves it for another host to run again.
        let mut backoff = Duration::from_millis(50);
        loop {
            let replied: Result<(), _> = redis::cmd("EVAL")
                .arg(REPLY_AND_ACK)
                .arg(2)
                .arg(&command.reply_to)
                .arg(stream)
                .arg(REPLY_STREAM_MAXLEN)
                .arg(GROUP)
                .arg(entry_id)
                .arg(reply.fields())
                .query_async(&mut conn)
                .await;
            match replied {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %unreachable(&e, self.url()), "could not send a reply; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        lock(&self.held).remove(entry_id);
        self.counters.executed.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the reply stream exists (its orchestrator is alive), asked
    /// of Redis at most once a second per stream. When Redis cannot say,
    /// the command runs: the reply waits for Redis like any other.
    async fn orchestrator_alive(&self, reply_to: &str) -> bool {
        let fresh = lock(&self.live_replies)
            .get(reply_to)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1));
        if fresh {
            return true;
        }
        let mut conn = self.conn.clone();
        let exists: Result<bool, _> = conn.exists(reply_to).await;
        let mut live = lock(&self.live_replies);
        match exists {
            Ok(false) => {
                live.remove(reply_to);
                false
            }
            _ => {
                if live.len() > 10_000 {
                    live.clear();
                }
                live.insert(reply_to.to_string(), std::time::Instant::now());
                true
            }
        }
    }

    /// Runs the worker in its own task (a panic stays there).
    async fn run_worker(&self, command: &CommandEntry) -> (RemoteResult, i64, i64) {
        let failed = |message: String, retryable: bool| RemoteResult::Failed { message, retryable };
        let Some(f) = self.workers.get(&command.worker) else {
            let now = clock::now_us();
            return (
                failed(
                    format!("UnknownWorker: host serves no worker {:?}", command.worker),
                    false,
                ),
                now,
                now,
            );
        };
        let context: Map<String, Value> = match serde_json::from_str(&command.context) {
            Ok(map) => map,
            Err(e) => {
                let now = clock::now_us();
                return (failed(format!("JsonError: context: {e}"), false), now, now);
            }
        };
        let processing_at_us = clock::now_us();
        let joined = tokio::spawn(f(Context::new(context))).await;
        let finished_at_us = clock::now_us();
        let result = match joined {
            Ok(Ok(Value::Object(fields))) => {
                let value = Value::Object(fields);
                let size = value.to_string().len();
                if size > self.options.max_payload_bytes {
                    failed(
                        TransportError::PayloadTooLarge {
                            what: format!("the result of worker {:?}", command.worker),
                            size,
                            limit: self.options.max_payload_bytes,
                        }
                        .to_string(),
                        false,
                    )
                } else {
                    RemoteResult::Completed(value)
                }
            }
            Ok(Ok(other)) => failed(
                format!(
                    "InvalidResult: worker {:?} returned {}, expected a JSON object",
                    command.worker,
                    json_kind(&other)
                ),
                false,
            ),
            Ok(Err(e)) => failed(e.message().to_string(), e.is_retryable()),
            Err(join) if join.is_panic() => failed(panic_message(join.into_panic()), true),
            Err(_) => failed(
                WorkerError::new("Cancelled: the worker host stopped").to_string(),
                true,
            ),
        };
        (result, processing_at_us, finished_at_us)
    }

    /// Acknowledges and deletes a command: done with it.
    async fn done(&self, stream: &str, id: &str) {
        lock(&self.held).remove(id);
        let mut conn = self.conn.clone();
        let acked: Result<(), _> = redis::pipe()
            .xack(stream, GROUP, &[id])
            .ignore()
            .xdel(stream, &[id])
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = acked {
            // Still pending: after the visibility timeout another host runs
            // it again, and the orchestrator counts the second reply.
            tracing::warn!(error = %unreachable(&e, self.url()), "could not acknowledge a command");
        }
    }

    /// Touches the held commands (so they are not taken for lost) and
    /// claims those that other hosts stopped touching.
    async fn keep_and_reclaim(self: Arc<Self>) {
        let every = (self.options.visibility_timeout / 4).max(Duration::from_millis(50));
        let mut reclaimed = tokio::task::JoinSet::new();
        loop {
            tokio::time::sleep(every).await;
            while reclaimed.try_join_next().is_some() {}
            self.touch_held().await;
            if self.permits.available_permits() == 0 {
                continue;
            }
            for worker in &self.options.workers {
                let stream = self.keys.commands(worker);
                if let Err(e) = self.reclaim(&stream, &mut reclaimed).await {
                    tracing::debug!(error = %e, "reclaiming failed");
                }
            }
        }
    }

    async fn touch_held(&self) {
        let mut by_stream: HashMap<String, Vec<String>> = HashMap::new();
        for (id, held) in lock(&self.held).iter() {
            by_stream
                .entry(held.stream.clone())
                .or_default()
                .push(id.clone());
        }
        let mut conn = self.conn.clone();
        for (stream, ids) in by_stream {
            let touched: Result<redis::Value, _> = redis::cmd("XCLAIM")
                .arg(&stream)
                .arg(GROUP)
                .arg(&self.options.name)
                .arg(0)
                .arg(&ids)
                .arg("JUSTID")
                .query_async(&mut conn)
                .await;
            if let Err(e) = touched {
                tracing::debug!(error = %unreachable(&e, self.url()), "could not touch held commands");
            }
        }
    }

    async fn reclaim(
        self: &Arc<Self>,
        stream: &str,
        running: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), TransportError> {
        let idle_ms =
            u64::try_from(self.options.visibility_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(GROUP)
            .arg("IDLE")
            .arg(idle_ms)
            .arg("-")
            .arg("+")
            .arg(self.permits.available_permits().max(1))
            .query_async(&mut conn)
            .await
            .map_err(|e| unreachable(&e, self.url()))?;
        for lost in pending
            .ids
            .into_iter()
            .filter(|p| p.consumer != self.options.name)
        {
            // Claimed only if still idle that long: two hosts racing for it
            // cannot both win.
            let claimed: redis::streams::StreamClaimReply = conn
                .xclaim(stream, GROUP, &self.options.name, idle_ms, &[&lost.id])
                .await
                .map_err(|e| unreachable(&e, self.url()))?;
            for entry in claimed.ids {
                tracing::warn!(
                    stream,
                    id = %entry.id,
                    from = %lost.consumer,
                    idle_ms = lost.last_delivered_ms,
                    "reclaimed a command from a lost host"
                );
                let from = Some((
                    lost.consumer.clone(),
                    i64::try_from(lost.last_delivered_ms).unwrap_or(i64::MAX),
                ));
                self.start(stream, entry, from, running);
            }
        }
        Ok(())
    }

    /// Adds every command still held back to its stream for another host,
    /// then acknowledges the original.
    async fn hand_back(&self) {
        let held: Vec<(String, Held)> = lock(&self.held).drain().collect();
        let mut conn = self.conn.clone();
        for (id, held) in held {
            let added: Result<String, _> = conn.xadd(&held.stream, "*", &held.fields).await;
            match added {
                Ok(_) => {
                    self.counters.handed_back.fetch_add(1, Ordering::Relaxed);
                    let _: Result<(), _> = redis::pipe()
                        .xack(&held.stream, GROUP, &[&id])
                        .ignore()
                        .xdel(&held.stream, &[&id])
                        .ignore()
                        .query_async(&mut conn)
                        .await;
                }
                Err(e) => tracing::warn!(
                    error = %unreachable(&e, self.url()),
                    "could not hand a command back; another host will reclaim it"
                ),
            }
        }
    }
}
