//! Steps on worker hosts over Redis (`bench --only distributed`): no-op
//! 3-step workflows per second recorded with every step run by one of two
//! `multiagents worker` processes, next to the Python original (which also
//! runs over Redis) and to our in-process figure from the same run; and the
//! latency a remote step adds at light load.
//!
//! In one run the suite starts its own `redis-server` on a free loopback
//! port (never a shared one; without `redis-server` every figure says
//! skipped and has no ratio), spawns two worker hosts of this executable
//! (`multiagents worker --workers noop_processor`), and drives them through
//! the library: [`Session::start_remote`] with [`RedisWorkers::connect`],
//! the no-op workflow of the throughput suite, many in flight. The
//! in-process side is the same session without the transport.
//!
//! Alongside the rates it measures where the time goes: the CPU time per
//! workflow of the orchestrator (this process), of each host and of
//! `redis-server` (from `/proc`), the machine's busy share during the run
//! (others' processes included), and the Redis commands per step
//! (`INFO commandstats`). When the throughput goal is missed the figure's
//! details say which of these bound it.
//!
//! The added latency: single no-op steps started at `light_rps` (20/s),
//! their latency (dispatch → end, read back from the recorded rows) remote
//! and in process; the figures are the differences of the same percentile
//! (p50, p99) of the two distributions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

use super::workload::{
    cpu_seconds, machine_cpu_seconds, process_cpu_seconds, register_three_steps, run_workflows,
};
use super::{BenchOptions, BenchResult, DOCUMENTED_PEER_WORKFLOWS_PER_S, Figure, Goal, Progress};
use crate::config::MonitoringConfig;
use crate::loadtest::{NOOP_WORKER, due_offset};
use crate::monitor::RunScope;
use crate::monitor::hosts::host_activity;
use crate::orchestrator::Orchestrator;
use crate::session::Session;
use crate::store::{RunInfo, WorkflowState, WriterOptions};
use crate::transport::RemoteWorkers;
use crate::transport::redis::{RedisOptions, RedisWorkers};
use crate::window::TimeWindow;
use crate::worker::{Context, WorkerRegistry};
use crate::workflow::WorkflowBuilder;

/// The goal: this many times the Python original's throughput.
pub const GOAL_TIMES_PEER: f64 = 100.0;
/// Worker host processes.
const HOSTS: usize = 2;
/// The 3-step no-op workflow (its steps run by [`NOOP_WORKER`]).
const NOOP3: &str = "noop3";
/// The 1-step no-op workflow of the latency figures.
const NOOP1: &str = "noop1";
/// How long the hosts get to announce themselves.
const HOSTS_WAIT: Duration = Duration::from_secs(30);

/// A process this suite started, ended (by its own handle) when dropped.
struct Spawned {
    what: String,
    child: Child,
}

impl Spawned {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process already exited (it could not start).
    fn check_running(&mut self) -> BenchResult<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited at start ({status})", self.what);
        }
        Ok(())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `redis-server` can be run; its version line.
fn redis_server_version() -> Option<String> {
    let out = Command::new("redis-server")
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A free loopback port (the kernel's pick, released at once: a race with
/// another program is possible and makes the start fail, which is retried).
fn free_port() -> BenchResult<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts a throw-away `redis-server` on a free loopback port, without
/// persistence; returns it and its URL once it answers PING.
async fn start_redis(dir: &Path) -> BenchResult<(Spawned, String)> {
    let mut last_error = None;
    for _ in 0..3 {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server")?;
        let mut server = Spawned {
            what: format!("redis-server on port {port}"),
            child,
        };
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if server.check_running().is_err() {
                break;
            }
            if ping(&url).await.is_ok() {
                return Ok((server, url));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last_error = Some(format!("{} did not answer PING", server.what));
    }
    bail!(
        "{}",
        last_error.unwrap_or_else(|| "redis-server did not start".into())
    )
}

async fn ping(url: &str) -> BenchResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(())
}

/// Redis's own counters: commands processed, and calls per command.
async fn redis_counters(url: &str) -> BenchResult<(u64, Vec<(String, u64)>)> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let stats: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await?;
    let commands: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    let total = stats
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // cmdstat_xadd:calls=123,usec=...
    let per_command = commands
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_string(), calls.parse().ok()?))
        })
        .collect();
    Ok((total, per_command))
}

/// Starts the worker hosts: this executable's `worker` subcommand.
fn start_hosts(exe: &Path, url: &str, concurrency: usize, dir: &Path) -> BenchResult<Vec<Spawned>> {
    let mut hosts = Vec::new();
    for i in 1..=HOSTS {
        let name = format!("bench-host-{i}");
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let child = Command::new(exe)
            .args(["worker", "--redis", url, "--workers", NOOP_WORKER])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--name", &name, "--grace", "1s"])
            .env_remove("MULTIAGENTS_REDIS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {} worker", exe.display()))?;
        hosts.push(Spawned { what: name, child });
    }
    Ok(hosts)
}

/// The workers the orchestrator itself runs: only [`NOOP_WORKER`] (for the
/// in-process side; the remote side sends every step to the hosts).
fn local_workers() -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    workers.register(NOOP_WORKER, |_ctx: Context| async { Ok(json!({})) });
    workers
}

fn register(orch: &Orchestrator) -> BenchResult<()> {
    register_three_steps(orch, NOOP3, NOOP_WORKER)?;
    orch.register_workflow(
        WorkflowBuilder::new(NOOP1)
            .step("only", NOOP_WORKER)
            .build()?,
    )?;
    Ok(())
}

/// A recording session over `path`, its steps on the hosts when `remote`
/// is given.
async fn session(path: &Path, remote: Option<RedisWorkers>) -> BenchResult<Session> {
    super::remove_db(path);
    let run = RunInfo {
        command: "multiagents bench --only distributed".into(),
        config_json: "{}".into(),
    };
    let (workers, remote) = match remote {
        Some(r) => (
            WorkerRegistry::new(),
            Some(Arc::new(r) as Arc<dyn RemoteWorkers>),
        ),
        None => (local_workers(), None),
    };
    let session = Session::start_remote(
        path,
        MonitoringConfig::default(),
        workers,
        run,
        WriterOptions::default(),
        remote,
    )
    .await
    .with_context(|| format!("cannot open {}", path.display()))?;
    register(session.orchestrator())?;
    Ok(session)
}

/// CPU seconds of this process, the hosts, redis-server and the machine.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    orchestrator: f64,
    hosts: f64,
    redis: f64,
    machine_busy: f64,
    machine_total: f64,
}

impl Cpu {
    fn read(hosts: &[Spawned], redis: Option<&Spawned>) -> Cpu {
        let (machine_busy, machine_total) = machine_cpu_seconds();
        Cpu {
            orchestrator: cpu_seconds(None),
            hosts: hosts.iter().map(|h| process_cpu_seconds(h.pid())).sum(),
            redis: redis.map_or(0.0, |r| process_cpu_seconds(r.pid())),
            machine_busy,
            machine_total,
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            orchestrator: self.orchestrator - before.orchestrator,
            hosts: self.hosts - before.hosts,
            redis: self.redis - before.redis,
            machine_busy: self.machine_busy - before.machine_busy,
            machine_total: self.machine_total - before.machine_total,
        }
    }
}

/// What one throughput side measured.
struct Side {
    workflows_per_s: f64,
    elapsed: Duration,
    cpu: Cpu,
    details: Value,
}

/// Runs `count` no-op 3-step workflows (after a warm-up of a tenth) on
/// `session` and reads what they cost.
async fn throughput_side(
    session: &Session,
    count: usize,
    in_flight: usize,
    hosts: &[Spawned],
    redis: Option<&Spawned>,
) -> BenchResult<Side> {
    let orch = session.orchestrator();
    run_workflows(orch, NOOP3, (count / 10).max(1), in_flight, 0).await?;
    let before = Cpu::read(hosts, redis);
    let elapsed = run_workflows(orch, NOOP3, count, in_flight, count).await?;
    let cpu = Cpu::read(hosts, redis).since(before);
    let n = count.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    let wall = elapsed.as_secs_f64().max(1e-9);
    let machine_busy_percent = 100.0 * cpu.machine_busy / cpu.machine_total.max(1e-9);
    let ours = cpu.orchestrator + cpu.hosts + cpu.redis;
    Ok(Side {
        workflows_per_s: count as f64 / wall,
        elapsed,
        cpu,
        details: json!({
            "workflows": count,
            "in_flight": in_flight,
            "elapsed_s": wall,
            "cpu_us_per_workflow": {
                "orchestrator": cpu.orchestrator * 1e6 / n,
                "hosts": cpu.hosts * 1e6 / n,
                "redis_server": cpu.redis * 1e6 / n,
                "all": ours * 1e6 / n,
            },
            "cores": cores,
            "cores_busy_by_these_processes": ours / wall,
            "machine_busy_percent": machine_busy_percent,
            "machine_busy_by_others_percent":
                (100.0 * (cpu.machine_busy - ours).max(0.0) / cpu.machine_total.max(1e-9)),
        }),
    })
}

/// Latencies (dispatch → end, µs) of the completed events of the file, and
/// the durations the workers measured, both sorted.
fn recorded_latencies(path: &Path) -> BenchResult<(Vec<i64>, Vec<i64>)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // Bench fixture SQL over a file of a few hundred events: every one of
    // them, as the figure's definition says (no query of the library asks
    // for raw latencies).
    let mut stmt = conn.prepare(
        "SELECT finished_at_us - dispatched_at_us, duration_us FROM events
         WHERE status = 'completed'",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    let (mut latency, mut duration): (Vec<i64>, Vec<i64>) =
        rows.collect::<Result<Vec<_>, _>>()?.into_iter().unzip();
    latency.sort_unstable();
    duration.sort_unstable();
    Ok((latency, duration))
}

/// Nearest-rank percentile of sorted values, µs as ms.
fn percentile_ms(sorted: &[i64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(p * sorted.len()).div_ceil(100).max(1) - 1] as f64 / 1000.0
}

/// Starts `count` single no-op steps at `rps` and waits for every one.
async fn light_load(session: &Session, count: usize, rps: f64) -> BenchResult<()> {
    let orch = session.orchestrator();
    let started = tokio::time::Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for k in 0..count {
        tokio::time::sleep_until(started + due_offset(k as u64, rps)).await;
        let orch = orch.clone();
        running.spawn(async move {
            let id = orch.execute_workflow(NOOP1, json!({})).await?;
            Ok::<_, anyhow::Error>(orch.wait(&id).await?.state)
        });
    }
    let mut failed = 0;
    while let Some(done) = running.join_next().await {
        if !matches!(done, Ok(Ok(WorkflowState::Completed))) {
            failed += 1;
        }
    }
    ensure!(
        failed == 0,
        "{failed} of {count} light-load workflows did not complete"
    );
    Ok(())
}

/// The light-load latencies of one side: runs them on a fresh file.
async fn latency_side(
    options: &BenchOptions,
    name: &str,
    remote: Option<RedisWorkers>,
) -> BenchResult<(Vec<i64>, Vec<i64>)> {
    let path = options.db_path(name);
    let session = session(&path, remote).await?;
    light_load(&session, options.light_steps, options.light_rps).await?;
    session.shutdown().await?;
    let latencies = recorded_latencies(&path)?;
    super::remove_db(&path);
    Ok(latencies)
}

/// Figures that could not be measured: named, no ratio, the reason in the
/// details.
fn skipped(why: &str, peer: (f64, &str)) -> Vec<Figure> {
    let details = json!({ "skipped": why });
    vec![
        Figure::new(
            "distributed_throughput",
            "no-op 3-step workflows/s with every step on one of two worker-host processes over Redis (skipped)",
            0.0,
            "workflows/s",
            None,
            Goal::RatioAtLeast {
                min: GOAL_TIMES_PEER,
            },
            json!({ "skipped": why, "peer": peer.0, "peer_label": peer.1 }),
        ),
        Figure::new(
            "distributed_vs_in_process",
            "no-op workflows/s over Redis vs in process (skipped)",
            0.0,
            "workflows/s",
            None,
            Goal::None,
            details.clone(),
        ),
        Figure::new(
            "remote_step_added_latency_p50",
            "p50 latency a remote no-op step adds at light load (skipped)",
            0.0,
            "ms",
            None,
            Goal::None,
            details.clone(),
        ),
        Figure::new(
            "remote_step_added_latency_p99",
            "p99 latency a remote no-op step adds at light load (skipped)",
            0.0,
            "ms",
            None,
            Goal::None,
            details,
        ),
    ]
}

/// Why the throughput is what it is, in one sentence from the measured
/// CPU: whichever bound it. `None` when the goal was met.
fn cause(
    remote: &Side,
    local: &Side,
    peer: f64,
    cores: f64,
    commands_per_step: f64,
) -> Option<String> {
    let goal = GOAL_TIMES_PEER * peer;
    if remote.workflows_per_s >= goal {
        return None;
    }
    let per_wf = |side: &Side, s: f64| {
        s * 1e6 / (side.workflows_per_s * side.elapsed.as_secs_f64()).max(1e-9)
    };
    let (orch, hosts, redis) = (
        per_wf(remote, remote.cpu.orchestrator),
        per_wf(remote, remote.cpu.hosts),
        per_wf(remote, remote.cpu.redis),
    );
    let local_orch = per_wf(local, local.cpu.orchestrator);
    let all = orch + hosts + redis;
    let total = remote.cpu.machine_total.max(1e-9);
    let busy = remote.cpu.machine_busy / total;
    let others =
        (remote.cpu.machine_busy - remote.cpu.orchestrator - remote.cpu.hosts - remote.cpu.redis)
            .max(0.0)
            / total;
    let needed = all * goal / 1e6;
    Some(if busy >= 0.85 {
        format!(
            "CPU-bound: the machine's {cores:.0} cores were {:.0}% busy ({:.0}% by other processes); a \
             workflow cost {all:.0} µs of CPU: {orch:.0} in the orchestrator (against {local_orch:.0} in \
             process: the rest is sending each step and reading its reply), {hosts:.0} in the two hosts, \
             {redis:.0} in redis-server, for {commands_per_step:.1} Redis commands per step (a host's \
             reply, acknowledgement and deletion are one script: one round trip). {goal:.0} \
             workflows/s would need {needed:.1} cores of that. What would reach it: hosts on other \
             machines, so the orchestrator and Redis keep these cores, and an orchestrator that sends \
             several steps per write and parses replies without a map per entry (most of its cost \
             over the in-process run)",
            busy * 100.0,
            others * 100.0,
        )
    } else {
        format!(
            "not CPU-bound (the machine was {:.0}% busy; {all:.0} µs of CPU per workflow would allow \
             {:.0} workflows/s on {cores:.0} cores): the round trips through Redis bound it; more workflows \
             in flight or batching several steps per Redis command would raise it",
            busy * 100.0,
            cores * 1e6 / all.max(1e-9)
        )
    })
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let (peer, peer_label) = match &options.peer {
        Some(p) => (
            p.workflows_per_s,
            "peer (Python original over Redis), measured",
        ),
        None => (
            DOCUMENTED_PEER_WORKFLOWS_PER_S,
            "peer (Python original over Redis), documented; --peer measures it",
        ),
    };
    let Some(redis_version) = redis_server_version() else {
        let why = "redis-server not found (apt-get install redis-server)";
        progress(&format!("  skipped: {why}"));
        return Ok(skipped(&format!("skipped: {why}"), (peer, peer_label)));
    };
    let exe: PathBuf = match &options.worker_exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().context("cannot find this executable")?,
    };
    let logs = options.dir.join("distributed-logs");
    std::fs::create_dir_all(&logs)?;
    let (redis, url) = start_redis(&options.dir).await?;
    progress(&format!("  {redis_version} at {url}"));
    let mut hosts = start_hosts(&exe, &url, options.host_concurrency, &logs)?;
    // A transport per session: each records the hosts into its own file.
    let connect = || async {
        let remote = RedisWorkers::connect(RedisOptions::new(url.clone())).await?;
        remote
            .wait_for_hosts(&[NOOP_WORKER.to_string()], HOSTS_WAIT)
            .await?;
        Ok::<_, anyhow::Error>(remote)
    };
    let first = connect().await;
    for h in &mut hosts {
        h.check_running()
            .with_context(|| format!("see {}", logs.display()))?;
    }
    let remote = first.with_context(|| {
        format!(
            "the worker hosts ({} worker) did not announce themselves; see {}",
            exe.display(),
            logs.display()
        )
    })?;
    // One host serving the worker is enough for wait_for_hosts; the figure
    // needs both.
    let deadline = Instant::now() + HOSTS_WAIT;
    while remote.live_hosts().len() < HOSTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = remote.live_hosts().len();
    ensure!(
        live >= HOSTS,
        "only {live} of {HOSTS} worker hosts announced themselves; see {}",
        logs.display()
    );
    let n = options.distributed_workflows;
    let in_flight = options.distributed_in_flight;

    progress(&format!(
        "  {n} no-op workflows over Redis, {HOSTS} hosts of concurrency {}, {in_flight} in flight",
        options.host_concurrency
    ));
    let remote_path = options.db_path("distributed-remote");
    let counters_before = redis_counters(&url).await?;
    let remote_side = {
        let s = session(&remote_path, Some(remote)).await?;
        let side = throughput_side(&s, n, in_flight, &hosts, Some(&redis)).await?;
        s.shutdown().await?;
        side
    };
    let counters_after = redis_counters(&url).await?;
    // Every workflow of the file (the warm-up too) ran 3 steps.
    let recorded_workflows = n + (n / 10).max(1);
    let steps = 3.0 * recorded_workflows as f64;
    let commands = counters_after.0.saturating_sub(counters_before.0) as f64;
    let mut per_command: Vec<(String, f64)> = counters_after
        .1
        .iter()
        .map(|(name, calls)| {
            let before = counters_before
                .1
                .iter()
                .find(|(b, _)| b == name)
                .map_or(0, |(_, c)| *c);
            (name.clone(), calls.saturating_sub(before) as f64 / steps)
        })
        .filter(|(_, per_step)| *per_step > 0.0)
        .collect();
    per_command.sort_by(|a, b| b.1.total_cmp(&a.1));
    let per_host = {
        let store = crate::store::Store::open_existing(&remote_path)?;
        let conn = store.reader()?;
        let activity = host_activity(
            &conn,
            TimeWindow {
                start_us: i64::MIN,
                end_us: i64::MAX,
            },
            RunScope::AllRuns,
        )?;
        activity
            .hosts
            .iter()
            .map(|h| (h.host.clone(), json!(h.total_executions)))
            .collect::<serde_json::Map<_, _>>()
    };
    super::remove_db(&remote_path);
    progress(&format!(
        "  over Redis: {:.0} workflows/s ({:.1} Redis commands per step)",
        remote_side.workflows_per_s,
        commands / steps
    ));

    progress(&format!(
        "  {n} no-op workflows in process, {in_flight} in flight"
    ));
    let local_path = options.db_path("distributed-local");
    let local_side = {
        let s = session(&local_path, None).await?;
        let side = throughput_side(&s, n, in_flight, &[], None).await?;
        s.shutdown().await?;
        side
    };
    super::remove_db(&local_path);
    progress(&format!(
        "  in process: {:.0} workflows/s",
        local_side.workflows_per_s
    ));

    progress(&format!(
        "  light load: {} single no-op steps at {}/s, over Redis then in process",
        options.light_steps, options.light_rps
    ));
    let (remote_latency, remote_duration) =
        latency_side(options, "distributed-light-remote", Some(connect().await?)).await?;
    let (local_latency, local_duration) =
        latency_side(options, "distributed-light-local", None).await?;
    drop(hosts);
    drop(redis);
    let _ = std::fs::remove_dir_all(&logs);

    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    let why = cause(&remote_side, &local_side, peer, cores, commands / steps);
    if let Some(why) = &why {
        progress(&format!("  goal not met: {why}"));
    }
    let latency = |sorted: &[i64], duration: &[i64]| {
        json!({
            "events": sorted.len(),
            "p50_ms": percentile_ms(sorted, 50),
            "p99_ms": percentile_ms(sorted, 99),
            "max_ms": sorted.last().map_or(0.0, |v| *v as f64 / 1000.0),
            "worker_duration_p50_ms": percentile_ms(duration, 50),
        })
    };
    let latency_details = json!({
        "steps_per_side": options.light_steps,
        "rps": options.light_rps,
        "remote": latency(&remote_latency, &remote_duration),
        "in_process": latency(&local_latency, &local_duration),
        "definition": "latency = dispatch -> end of a completed step as recorded (the remote end is placed \
                       at the reply's arrival on the orchestrator's clock); the figure is remote p - in-process p",
    });
    let added = |p: usize| percentile_ms(&remote_latency, p) - percentile_ms(&local_latency, p);
    Ok(vec![
        Figure::new(
            "distributed_throughput",
            "no-op 3-step workflows/s with every step on one of two worker-host processes over Redis Streams, everything recorded, each waited",
            remote_side.workflows_per_s,
            "workflows/s",
            Some((peer, peer_label)),
            Goal::RatioAtLeast {
                min: GOAL_TIMES_PEER,
            },
            json!({
                "remote": remote_side.details,
                "redis_server": redis_version,
                "host_concurrency": options.host_concurrency,
                "hosts": HOSTS,
                "executions_per_host": per_host,
                "redis_commands_per_step": commands / steps,
                "redis_calls_per_step": per_command.iter().map(|(n, c)| (n.clone(), json!(c))).collect::<serde_json::Map<_, _>>(),
                "in_process_workflows_per_s": local_side.workflows_per_s,
                "peer": options.peer,
                "cause": why,
            }),
        ),
        Figure::new(
            "distributed_vs_in_process",
            "no-op 3-step workflows/s over Redis (two worker hosts) vs in process, same session setup, same run",
            remote_side.workflows_per_s,
            "workflows/s",
            Some((local_side.workflows_per_s, "in process")),
            Goal::None,
            json!({ "remote": remote_side.details, "in_process": local_side.details }),
        ),
        Figure::new(
            "remote_step_added_latency_p50",
            "p50 latency of a no-op step over Redis minus p50 in process, single steps at light load",
            added(50),
            "ms",
            None,
            Goal::None,
            latency_details.clone(),
        ),
        Figure::new(
            "remote_step_added_latency_p99",
            "p99 latency of a no-op step over Redis minus p99 in process, single steps at light load",
            added(99),
            "ms",
            None,
            Goal::None,
            latency_details,
        ),
    ])
}
