//! Exponential backoff with jitter: how long to wait after the n-th failure.

use std::time::Duration;

/// How a wait is spread below its cap, so that clients failing together do not retry
/// together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the cap (deterministic; for one client talking to one peer).
    None,
    /// "Full jitter": uniformly in `[0, cap]`; spreads the most (many senders, one store).
    #[default]
    Full,
    /// "Equal jitter": uniformly in `[cap/2, cap]`; waits surely grow yet still spread.
    Equal,
}

/// Exponential backoff: the cap doubles per failure from `initial` up to `max`, and the
/// wait is drawn below the cap as [`Jitter`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The cap after the first failure.
    pub initial: Duration,
    /// The largest cap.
    pub max: Duration,
    /// How the wait is drawn below the cap.
    pub jitter: Jitter,
}

impl Backoff {
    /// A backoff from `initial` doubling to `max`, with full jitter.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max, jitter: Jitter::Full }
    }

    /// The same backoff with `jitter`.
    pub fn with_jitter(self, jitter: Jitter) -> Backoff {
        Backoff { jitter, ..self }
    }

    /// The cap after `failures` failed attempts (1-based): `min(max, initial × 2^(failures-1))`.
    pub fn cap(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The wait after `failures` failed attempts (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let cap = self.cap(failures);
        match self.jitter {
            Jitter::None => cap,
            Jitter::Full => cap.mul_f64(fastrand::f64()),
            Jitter::Equal => {
                let half = cap / 2;
                half + (cap - half).mul_f64(fastrand::f64())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn caps_double_then_stop_at_max() {
        let b = Backoff::new(ms(100), ms(1000));
        let caps: Vec<Duration> = (1..=6).map(|f| b.cap(f)).collect();
        assert_eq!(caps, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        assert_eq!(b.cap(0), ms(100), "no failure yet waits like the first");
        assert_eq!(b.cap(u32::MAX), ms(1000), "no overflow");
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads() {
        for (jitter, low) in [(Jitter::Full, 0.0), (Jitter::Equal, 0.5), (Jitter::None, 1.0)] {
            let b = Backoff::new(ms(100), ms(1000)).with_jitter(jitter);
            for failures in 1..30 {
                let cap = b.cap(failures);
                let waits: Vec<Duration> = (0..200).map(|_| b.delay(failures)).collect();
                assert!(waits.iter().all(|w| *w <= cap && *w >= cap.mul_f64(low)), "{jitter:?} {failures}");
                let distinct: std::collections::HashSet<_> = waits.iter().collect();
                if jitter == Jitter::None {
                    assert_eq!(distinct.len(), 1);
                } else {
                    assert!(distinct.len() > 100, "{jitter:?} spreads the waits");
                }
            }
        }
    }
}
