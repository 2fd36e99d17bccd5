//! Periodic work that stops with the process: one loop shape instead of an
//! `interval` + `select!` in every task that polls or scrapes.

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

use crate::Shutdown;

/// Ticks every `period` until `shutdown` fires. The first tick is immediate; a tick
/// missed while the work ran late is delayed, never bunched.
pub struct Ticker {
    interval: Interval,
    shutdown: Shutdown,
}

impl Ticker {
    /// A ticker for `period`, ending with `shutdown`.
    pub fn new(period: Duration, shutdown: Shutdown) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker { interval, shutdown }
    }

    /// Waits for the next tick: `true`, or `false` once shutdown has fired.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ticks_until_shutdown() {
        let shutdown = Shutdown::new();
        let mut ticker = Ticker::new(Duration::from_millis(50), shutdown.clone());
        let start = tokio::time::Instant::now();
        assert!(ticker.tick().await, "the first tick is immediate");
        assert!(start.elapsed() < Duration::from_millis(50));
        assert!(ticker.tick().await);
        assert!(start.elapsed() >= Duration::from_millis(50));
        shutdown.cancel();
        assert!(!ticker.tick().await, "no tick after shutdown");
    }
}
