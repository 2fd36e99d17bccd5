//! The tower retry [`Policy`]: a [`RetryPolicy`] (backoff, limits, `Retry-After`) plus a
//! [`Classify`] that judges each result, for `tower::retry::Retry`.

use std::time::Duration;

use tokio::time::Instant;

use crate::{ErrorKind, RetryPolicy, Retryable, Verdict};

/// How a tower retry judges one attempt of a request, beyond backoff and limits.
pub trait Classify<Req, Res, E> {
    /// Judges one attempt's `result`. [`Verdict::Permanent`] means no further attempt
    /// (the result is final, success included). May rewrite `req` for the next attempt,
    /// e.g. to keep only the part that failed.
    fn classify(&mut self, req: &mut Req, result: &mut Result<Res, E>) -> Verdict;

    /// Called once when a retryable result is final because the policy gave up, e.g. to
    /// record what is lost.
    fn give_up(&mut self, _req: &mut Req, _result: &mut Result<Res, E>, _exhausted: &Exhausted) {}

    /// A copy of the request for the next attempt (`None`: no retries for this request).
    fn clone_request(&mut self, req: &Req) -> Option<Req>;
}

/// How a policy gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    /// The limit reached.
    pub kind: ErrorKind,
    /// Attempts made.
    pub attempts: u32,
    /// Time since the first attempt started.
    pub elapsed: Duration,
}

/// The plain [`Classify`]: errors are judged by their [`Retryable`] verdict, successes are
/// final, requests are cloned.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByError;

impl<Req: Clone, Res, E: Retryable> Classify<Req, Res, E> for ByError {
    fn classify(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Verdict {
        match result {
            Ok(_) => Verdict::Permanent,
            Err(e) => e.verdict(),
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// A `tower::retry::Policy`: cloned per request by `tower::retry::Retry`, so it counts
/// that request's attempts and measures its time from the first attempt.
#[derive(Debug, Clone)]
pub struct Policy<C> {
    policy: RetryPolicy,
    classify: C,
    attempts: u32,
    started: Option<Instant>,
}

impl<C> Policy<C> {
    /// `policy` judged by `classify`.
    pub fn new(policy: RetryPolicy, classify: C) -> Policy<C> {
        Policy { policy, classify, attempts: 0, started: None }
    }
}

/// A `tower::retry::RetryLayer` with `policy` judged by `classify`.
pub fn layer<C>(policy: RetryPolicy, classify: C) -> tower::retry::RetryLayer<Policy<C>> {
    tower::retry::RetryLayer::new(Policy::new(policy, classify))
}

impl<Req, Res, E, C: Classify<Req, Res, E>> tower::retry::Policy<Req, Res, E> for Policy<C> {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        self.attempts += 1;
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        let after = match self.classify.classify(req, result) {
            Verdict::Permanent => return None,
            Verdict::Outage { after } => return Some(tokio::time::sleep(self.policy.wait(self.attempts, after))),
            Verdict::Retry { after } => after,
        };
        match self.policy.next_wait(self.attempts, elapsed, after) {
            Ok(wait) => Some(tokio::time::sleep(wait)),
            Err(kind) => {
                let exhausted = Exhausted { kind, attempts: self.attempts, elapsed };
                self.classify.give_up(req, result, &exhausted);
                None
            }
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        // `Retry::call` asks the service's own policy (which never sees a result) for the
        // first copy and then clones it into the request's future: that is when the
        // request starts.
        if self.attempts == 0 {
            self.started = Some(Instant::now());
        }
        self.classify.clone_request(req)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tower::{Service, ServiceBuilder, ServiceExt};

    use super::*;
    use crate::{Backoff, Jitter};

    #[derive(Debug, Clone, PartialEq)]
    enum Answer {
        Busy(Option<Duration>),
        Bad,
    }

    impl Retryable for Answer {
        fn verdict(&self) -> Verdict {
            match self {
                Answer::Busy(after) => Verdict::Retry { after: *after },
                Answer::Bad => Verdict::Permanent,
            }
        }
    }

    /// A service that answers from a script (after `work` each) and records when each
    /// attempt started.
    fn scripted(
        answers: Vec<Result<&'static str, Answer>>,
        work: Duration,
    ) -> (impl Service<u8, Response = &'static str, Error = Answer> + Clone, Arc<Mutex<Vec<Instant>>>) {
        let answers = Arc::new(Mutex::new(answers));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let svc = tower::service_fn(move |_req: u8| {
            c.lock().unwrap().push(Instant::now());
            let next = answers.lock().unwrap().remove(0);
            async move {
                tokio::time::sleep(work).await;
                next
            }
        });
        (svc, calls)
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Backoff::new(Duration::from_secs(1), Duration::from_secs(10)).with_jitter(Jitter::None))
    }

    fn gaps(calls: &Mutex<Vec<Instant>>) -> Vec<Duration> {
        calls.lock().unwrap().windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_capped_by_the_policy() {
        let s = Duration::from_secs;
        let script =
            vec![Err(Answer::Busy(Some(s(4)))), Err(Answer::Busy(Some(s(60)))), Err(Answer::Busy(None)), Ok("ok")];
        let (svc, calls) = scripted(script, Duration::ZERO);
        let mut svc = ServiceBuilder::new().layer(layer(policy(), ByError)).service(svc);
        assert_eq!(svc.ready().await.unwrap().call(0).await, Ok("ok"));
        assert_eq!(gaps(&calls), [s(4), s(10), s(4)], "asked 4 s; 60 s cut to the 10 s cap; then backoff 1 × 2^2");
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_final() {
        let (svc, calls) = scripted(vec![Err(Answer::Bad), Ok("ok")], Duration::ZERO);
        let mut svc = ServiceBuilder::new().layer(layer(policy(), ByError)).service(svc);
        assert_eq!(svc.ready().await.unwrap().call(0).await, Err(Answer::Bad));
        assert_eq!(calls.lock().unwrap().len(), 1);
    }

    /// Records what it was told when the policy gave up.
    #[derive(Clone, Default)]
    struct Recording(Arc<Mutex<Option<Exhausted>>>);

    impl Classify<u8, &'static str, Answer> for Recording {
        fn classify(&mut self, req: &mut u8, result: &mut Result<&'static str, Answer>) -> Verdict {
            ByError.classify(req, result)
        }
        fn give_up(&mut self, _: &mut u8, _: &mut Result<&'static str, Answer>, exhausted: &Exhausted) {
            *self.0.lock().unwrap() = Some(*exhausted);
        }
        fn clone_request(&mut self, req: &u8) -> Option<u8> {
            Some(*req)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn time_limit_counts_from_the_first_attempt() {
        let (svc, calls) = scripted(vec![Err(Answer::Busy(None)); 5], Duration::from_secs(3));
        let seen = Recording::default();
        let retry = layer(policy().max_elapsed(Duration::from_secs(8)), seen.clone());
        let mut svc = ServiceBuilder::new().layer(retry).service(svc);
        // The clock starts at the call, not when the service was built.
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(svc.ready().await.unwrap().call(0).await.is_err());
        // Attempts take 3 s: 0-3, wait 1, 4-7, the next wait (2) would end at 9 > 8.
        assert_eq!(calls.lock().unwrap().len(), 2);
        let exhausted = seen.0.lock().unwrap().unwrap();
        assert_eq!((exhausted.kind, exhausted.attempts), (ErrorKind::Elapsed, 2));
        assert_eq!(exhausted.elapsed, Duration::from_secs(7));
    }
}
