//! `--redis URL` of the recording commands (`demo`, `load-test`): run every
//! step on worker hosts (`multiagents worker`) through Redis Streams.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use multiagents::transport::RemoteWorkers;
use multiagents::transport::redact_url;
use multiagents::transport::redis::{DEFAULT_NAMESPACE, RedisOptions, RedisWorkers};

/// Where the steps run.
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// Run every step on worker hosts (`multiagents worker`) reached through
    /// this Redis: redis://[:password@]host:port[/db], or rediss:// for TLS.
    /// The password is never printed, logged or recorded. Without it, steps
    /// run in this process.
    #[arg(long, env = "MULTIAGENTS_REDIS", hide_env_values = true)]
    redis: Option<String>,
    /// Prefix of the keys in Redis (hosts and orchestrators must agree), so
    /// several deployments can share one server.
    #[arg(long, default_value = DEFAULT_NAMESPACE, requires = "redis")]
    redis_namespace: String,
    /// With a rediss:// URL: the PEM file of the certificate authority that
    /// signed the server's certificate, when the system does not trust it.
    #[arg(long, env = "MULTIAGENTS_REDIS_CA", requires = "redis")]
    redis_ca: Option<std::path::PathBuf>,
    /// With --redis: how long to wait at the start for hosts serving every
    /// worker before giving up. Range: 1ms to 30d.
    #[arg(long, default_value = "30s", value_parser = multiagents::window::parse_run_length, requires = "redis")]
    wait_for_hosts: Duration,
}

impl RedisArgs {
    /// Connects when `--redis` was given and waits for hosts serving
    /// `workers`; before anything is recorded, so a wrong URL or missing
    /// hosts change no file.
    pub async fn connect(
        &self,
        workers: &[String],
    ) -> anyhow::Result<Option<Arc<dyn RemoteWorkers>>> {
        let Some(url) = &self.redis else {
            return Ok(None);
        };
        let mut options = RedisOptions::new(url.clone());
        options.namespace.clone_from(&self.redis_namespace);
        options.ca_cert.clone_from(&self.redis_ca);
        let remote = RedisWorkers::connect(options).await.context("--redis")?;
        eprintln!(
            "multiagents: steps run on worker hosts through {}; waiting up to {:.0} s for hosts serving {}",
            redact_url(url),
            self.wait_for_hosts.as_secs_f64(),
            workers.join(", ")
        );
        remote
            .wait_for_hosts(workers, self.wait_for_hosts)
            .await
            .context("start them with `multiagents worker --redis URL`")?;
        let hosts = remote.live_hosts();
        eprintln!(
            "multiagents: {} worker host(s): {}",
            hosts.len(),
            hosts
                .iter()
                .map(|h| h.beat.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Some(Arc::new(remote)))
    }
}
