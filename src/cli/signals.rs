//! SIGINT and SIGTERM for the commands that record (`load-test`, `demo`).
//!
//! The first signal asks the command to stop gracefully: no new workflows,
//! those in flight get the grace period, the rest are recorded `cancelled`
//! ("interrupted"), the run is closed and the summary printed; the command
//! then exits 130 (SIGINT) or 143 (SIGTERM), as shells expect of a process
//! ended by that signal. A second signal exits at once: the run is left
//! open, and the next process that records into the file (or `cleanup`)
//! closes it as crashed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use multiagents::interrupt::Interrupt;
use tokio::signal::unix::{SignalKind, signal};

/// The installed handlers: the stop request they trigger, and the exit
/// code of the signal that triggered it.
pub struct Signals {
    /// Triggered by the first signal.
    pub interrupt: Interrupt,
    code: Arc<AtomicU8>,
}

impl Signals {
    /// The exit code the command must end with (130 or 143), if a signal
    /// arrived.
    pub fn exit_code(&self) -> Option<u8> {
        match self.code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }
}

/// Installs the handlers; `grace` is only for the message printed.
pub fn install(grace: Duration) -> anyhow::Result<Signals> {
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let interrupt = Interrupt::new();
    let code = Arc::new(AtomicU8::new(0));
    let signals = Signals {
        interrupt: interrupt.clone(),
        code: Arc::clone(&code),
    };
    tokio::spawn(async move {
        let (name, first) = next_signal(&mut int, &mut term).await;
        code.store(first, Ordering::Release);
        eprintln!(
            "multiagents: {name} received: starting no new workflows, giving those in flight up to {:.1} s, then closing the run (send it again to stop at once)",
            grace.as_secs_f64()
        );
        interrupt.trigger(format!("interrupted by {name}"));
        let (name, second) = next_signal(&mut int, &mut term).await;
        eprintln!(
            "multiagents: {name} received again: stopping at once; the run is left open and the next process recording into this file (or `cleanup`) will close it as crashed"
        );
        std::process::exit(i32::from(second));
    });
    Ok(signals)
}

/// The next SIGINT or SIGTERM: its name and the exit code it stands for.
async fn next_signal(
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> (&'static str, u8) {
    tokio::select! {
        _ = int.recv() => ("SIGINT", 130),
        _ = term.recv() => ("SIGTERM", 143),
    }
}
