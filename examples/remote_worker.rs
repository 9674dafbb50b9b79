//! Your own workers on other hosts: one program, two roles.
//!
//! A worker host serves the workers of its registry through Redis Streams;
//! an orchestrator records the workflows that use them into its SQLite
//! file, every step run on whichever host took it.
//!
//! ```sh
//! redis-server --port 6400 --save '' &          # any Redis 6.2 or newer
//! cargo run --release --example remote_worker -- host redis://127.0.0.1:6400 &
//! cargo run --release --example remote_worker -- host redis://127.0.0.1:6400 &
//! cargo run --release --example remote_worker -- orchestrate redis://127.0.0.1:6400 remote.db
//! multiagents --db remote.db query hosts
//! ```

use std::sync::Arc;
use std::time::Duration;

use multiagents::config::MonitoringConfig;
use multiagents::session::Session;
use multiagents::store::{RunInfo, WriterOptions};
use multiagents::transport::RemoteWorkers;
use multiagents::transport::host::{self, HostOptions};
use multiagents::transport::redis::{RedisOptions, RedisWorkers};
use multiagents::worker::{Context, WorkerError, WorkerRegistry};
use multiagents::workflow::WorkflowBuilder;
use serde_json::json;

/// The workers of this example: what a host serves.
fn registry() -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    workers.register("tokenize", |ctx: Context| async move {
        let text = ctx.get_str("text").unwrap_or("");
        let tokens: Vec<&str> = text.split_whitespace().collect();
        Ok(json!({ "tokens": tokens.len() }))
    });
    workers.register("score", |ctx: Context| async move {
        let tokens = ctx
            .get_i64("tokens")
            .ok_or_else(|| WorkerError::fatal("ValueError: no tokens"))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(json!({ "score": tokens * 10 }))
    });
    workers
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["host", url] => {
            let options = HostOptions::new(url, registry().names());
            println!("serving {:?} as {}", options.workers, options.name);
            // Ctrl-C: running steps finish (or are handed back), then it leaves.
            let summary = host::serve(registry(), options, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            println!("stopped: {summary:?}");
        }
        ["orchestrate", url, db] => {
            let remote = RedisWorkers::connect(RedisOptions::new(url)).await?;
            remote
                .wait_for_hosts(&registry().names(), Duration::from_secs(30))
                .await?;
            let session = Session::start_remote(
                std::path::Path::new(db),
                MonitoringConfig::default(),
                WorkerRegistry::new(),
                RunInfo::from_env("{}".into()),
                WriterOptions::default(),
                Some(Arc::new(remote) as Arc<dyn RemoteWorkers>),
            )
            .await?;
            let o = session.orchestrator();
            o.register_workflow(
                WorkflowBuilder::new("rate_text")
                    .step("tokenize", "tokenize")
                    .step("score", "score")
                    .build()?,
            )?;
            let mut ids = Vec::new();
            for i in 0..20 {
                let text = "word ".repeat(i + 1);
                ids.push(
                    o.execute_workflow("rate_text", json!({ "text": text }))
                        .await?,
                );
            }
            for id in ids {
                let status = o.wait(&id).await?;
                println!(
                    "{id}: {} {:?}",
                    status.state,
                    status.step_results.get("score")
                );
            }
            session.shutdown().await?;
        }
        _ => {
            eprintln!("usage: remote_worker host REDIS_URL | orchestrate REDIS_URL DB");
            std::process::exit(2);
        }
    }
    Ok(())
}
