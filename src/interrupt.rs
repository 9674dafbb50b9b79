//! A request to stop: what a signal handler (or an embedding program) sets
//! and what the code that starts work watches.
//!
//! Stopping is cooperative: whoever starts workflows (the load test's
//! scheduler, the demo) checks [`Interrupt::is_triggered`] or waits on
//! [`Interrupt::triggered`] and stops starting; the session then gives the
//! workflows in flight a grace period and closes the run as interrupted
//! (see [`crate::session::Session::shutdown_with`]).

use std::sync::Arc;

use tokio::sync::watch;

/// A one-shot stop request with a reason. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct Interrupt {
    reason: Arc<watch::Sender<Option<String>>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Self::new()
    }
}

impl Interrupt {
    /// A request not yet made.
    pub fn new() -> Self {
        Interrupt {
            reason: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Asks everything that watches this to stop; `reason` says why
    /// ("interrupted by SIGINT"). The first reason is kept.
    pub fn trigger(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// Whether a stop was asked for.
    pub fn is_triggered(&self) -> bool {
        self.reason.borrow().is_some()
    }

    /// Why a stop was asked for, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason.borrow().clone()
    }

    /// Waits until a stop is asked for (at once if it already was).
    pub async fn triggered(&self) {
        let mut rx = self.reason.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_is_kept_and_waiters_wake() {
        let interrupt = Interrupt::new();
        assert!(!interrupt.is_triggered());
        let waiter = {
            let interrupt = interrupt.clone();
            tokio::spawn(async move { interrupt.triggered().await })
        };
        interrupt.trigger("interrupted by SIGINT");
        interrupt.trigger("interrupted by SIGTERM");
        waiter.await.unwrap();
        assert_eq!(interrupt.reason().as_deref(), Some("interrupted by SIGINT"));
        // Waiting after the fact returns at once.
        interrupt.triggered().await;
    }
}
