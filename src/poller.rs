//! The bounded poller: checks, sleeps with capped exponential backoff, and gives up at a
//! deadline. It never sleeps past the deadline and always checks once more at it. A check
//! that fails with a transient AWS error (throttling, a 5xx, a timeout: see
//! `Error::is_transient`) counts as "not yet": the next check may well succeed, and the
//! budget, not one unlucky call, bounds the wait.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::error::{Error, Result};

/// What one check found.
pub enum Check<T> {
    /// Done; stop polling.
    Ready(T),
    /// Not yet; the text says how far along it is (logged, and kept for the timeout error).
    NotYet(String),
}

/// How a finished wait went, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PollStats {
    pub checks: u32,
    /// Checks that failed with a transient error and counted as "not yet".
    pub errors: u32,
    pub waited_ms: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub interval: Duration,
    pub max_interval: Duration,
}

/// A cap on the AWS requests a wait makes: `per_sec` on average, `burst` at once. `spent`
/// is a running total of the requests made (the SDK's retries included), read before and
/// after each check. A check is never held up halfway, so it may overdraw the budget; the
/// next one then starts only once the debt is paid. A wait whose checks read one call each
/// stays within it and is never slowed; one whose every check reads four (the targets are
/// healthy while the service does not count its tasks running yet) is.
pub struct Budget<'a> {
    pub per_sec: f64,
    pub burst: f64,
    pub spent: &'a (dyn Fn() -> u32 + Sync),
}

/// A token bucket that may go into debt: full at `burst`, refilled at `per_sec`.
struct Bucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(per_sec: f64, burst: f64, now: Instant) -> Self {
        Bucket {
            per_sec,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes `requests` out at `now`; says how long until the bucket is out of debt.
    fn spend(&mut self, now: Instant, requests: u32) -> Duration {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refilled).min(self.burst) - f64::from(requests);
        self.at = now;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

/// Calls `check` until it is ready, fails, or `deadline` passes.
///
/// A check that returns a transient error counts as "not yet" (and in `PollStats::errors`);
/// any other error ends the wait at once (e.g. a task stopped with a reason, AccessDenied).
/// At the deadline the timeout names the last progress and the last error seen. The time
/// from one check's start to the next's starts at `interval` and doubles up to
/// `max_interval`: a check's own round trips come out of that time, not on top of it (a
/// check that took longer than the interval is followed at once). The next check also
/// waits for the `budget` to be out of debt.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    budget: Budget<'_>,
    deadline: Instant,
    mut check: F,
) -> Result<(T, PollStats)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let started = Instant::now();
    let mut bucket = Bucket::full(budget.per_sec, budget.burst, started);
    let mut delay = backoff.interval;
    let mut checks = 0;
    let mut errors = 0;
    let mut last_error = None;
    let mut progress = String::from("no check succeeded");
    loop {
        checks += 1;
        let check_started = Instant::now();
        let spent_before = (budget.spent)();
        let outcome = check().await;
        let now = Instant::now();
        let debt = bucket.spend(now, (budget.spent)().wrapping_sub(spent_before));
        match outcome {
            Ok(Check::Ready(value)) => {
                let waited_ms = started.elapsed().as_millis() as u64;
                return Ok((
                    value,
                    PollStats {
                        checks,
                        errors,
                        waited_ms,
                    },
                ));
            }
            Ok(Check::NotYet(now_seen)) => progress = now_seen,
            Err(e) if e.is_transient() => {
                warn!(what, error = %e, checks, "a check failed; counted as not yet");
                errors += 1;
                last_error = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        if now >= deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                waited_secs: (now - started).as_secs_f64(),
                last_seen: progress,
                errors,
                last_error,
            });
        }
        let sleep = (check_started + delay)
            .saturating_duration_since(now)
            .max(debt)
            .min(deadline - now);
        info!(
            what,
            %progress,
            checks,
            next_check_in_ms = sleep.as_millis() as u64,
            left_ms = (deadline - now).as_millis() as u64,
            "waiting"
        );
        tokio::time::sleep(sleep).await;
        delay = (delay * 2).min(backoff.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const BACKOFF: Backoff = Backoff {
        interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(8),
    };

    fn nothing_spent() -> u32 {
        0
    }

    /// A budget no check draws on.
    fn free() -> Budget<'static> {
        Budget {
            per_sec: 1.0,
            burst: 1.0,
            spent: &nothing_spent,
        }
    }

    /// Three requests a second, six at once, as the wait has at the default interval.
    fn three_a_second(spent: &(dyn Fn() -> u32 + Sync)) -> Budget<'_> {
        Budget {
            per_sec: 3.0,
            burst: 6.0,
            spent,
        }
    }

    const STEADY: Backoff = Backoff {
        interval: Duration::from_millis(500),
        max_interval: Duration::from_millis(500),
    };

    /// Runs 10 checks at `STEADY`, check `n` spending `requests(n)`; says when each started,
    /// in milliseconds from the start.
    async fn starts_spending(requests: fn(u32) -> u32) -> Vec<u64> {
        use std::sync::atomic::{AtomicU32, Ordering};
        let start = Instant::now();
        let spent = AtomicU32::new(0);
        let total = || spent.load(Ordering::Relaxed);
        let seen = RefCell::new(Vec::new());
        let deadline = start + Duration::from_secs(60);
        poll_until("targets", STEADY, three_a_second(&total), deadline, || {
            seen.borrow_mut().push(start.elapsed().as_millis() as u64);
            let n = seen.borrow().len() as u32;
            spent.fetch_add(requests(n), Ordering::Relaxed);
            async move {
                Ok(if n == 10 {
                    Check::Ready(())
                } else {
                    Check::NotYet(String::new())
                })
            }
        })
        .await
        .unwrap();
        seen.into_inner()
    }

    #[tokio::test(start_paused = true)]
    async fn checks_of_one_read_and_a_look_every_fifth_are_never_slowed_by_the_budget() {
        let starts = starts_spending(|n| if n % 5 == 1 { 3 } else { 1 }).await;
        assert_eq!(starts, (0..10).map(|i| i * 500).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn checks_that_overdraw_the_budget_hold_the_next_ones_to_its_rate() {
        // Four reads a check: the targets healthy, the service's running count behind.
        let starts = starts_spending(|_| 4).await;
        // The burst of six covers the first checks at the interval...
        assert_eq!(starts[..3], [0, 500, 1000]);
        // ...then the 1.5 requests refilled in each 500 ms leave one debt to pay,
        assert_eq!(starts[3], 2000);
        // and every check after waits for its four requests at three a second.
        for pair in starts[3..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!((1333..=1335).contains(&gap), "{starts:?}");
        }
        let requests = 4.0 * starts.len() as f64;
        let secs = *starts.last().unwrap() as f64 / 1000.0;
        assert!(requests <= 6.0 + 4.0 + 3.0 * secs, "{requests} in {secs} s");
    }

    /// A wait at `BACKOFF`, with a budget no check draws on, that ends `deadline_secs` after
    /// it starts, check `n` (from 1) answering `answer(n)`: its result, when each check ran
    /// (whole seconds from the start) and how long the wait took.
    async fn recorded<T>(
        deadline_secs: u64,
        answer: impl Fn(usize) -> Result<Check<T>>,
    ) -> (Result<(T, PollStats)>, Vec<u64>, Duration) {
        let start = Instant::now();
        let seen = RefCell::new(Vec::new());
        let deadline = start + Duration::from_secs(deadline_secs);
        let result = poll_until("tasks", BACKOFF, free(), deadline, || {
            seen.borrow_mut().push(start.elapsed().as_secs());
            let answer = answer(seen.borrow().len());
            async { answer }
        })
        .await;
        (result, seen.into_inner(), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_check_takes_its_time_out_of_the_interval() {
        let start = Instant::now();
        let seen = RefCell::new(Vec::new());
        let deadline = start + Duration::from_secs(60);
        let result = poll_until("targets", STEADY, free(), deadline, || {
            let n = {
                let mut seen = seen.borrow_mut();
                seen.push(start.elapsed().as_millis() as u64);
                seen.len()
            };
            async move {
                // Each check's reads take 200 ms; the fifth one a whole second.
                let took = if n == 5 { 1000 } else { 200 };
                tokio::time::sleep(Duration::from_millis(took)).await;
                Ok(if n == 7 {
                    Check::Ready(())
                } else {
                    Check::NotYet(format!("healthy 0/1 after {n}"))
                })
            }
        })
        .await;
        assert!(result.is_ok());
        // One check every 500 ms from start to start, not 500 ms after each one ends; the
        // check after the slow one at once.
        assert_eq!(*seen.borrow(), [0, 500, 1000, 1500, 2000, 3000, 3500]);
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_up_to_the_cap_and_gives_up_at_the_deadline() {
        let (result, seen, _) =
            recorded::<()>(40, |_| Ok(Check::NotYet("running 0/2".into()))).await;
        // 1, 2, 4, 8, 8, 8 ... capped, then one last check exactly at the deadline.
        assert_eq!(seen, [0, 1, 3, 7, 15, 23, 31, 39, 40]);
        match result {
            Err(Error::Timeout {
                waited_secs,
                last_seen,
                ..
            }) => {
                assert_eq!(waited_secs, 40.0);
                assert_eq!(last_seen, "running 0/2");
            }
            other => panic!("expected a timeout, got {:?}", other.map(|_| ())),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn returns_as_soon_as_the_check_is_ready() {
        let (result, seen, _) = recorded(60, |n| {
            Ok(if n == 3 {
                Check::Ready(n)
            } else {
                Check::NotYet(String::new())
            })
        })
        .await;
        let (value, stats) = result.unwrap();
        assert_eq!(value, 3);
        assert_eq!(
            stats,
            PollStats {
                checks: 3,
                errors: 0,
                waited_ms: 3_000
            }
        );
        assert_eq!(seen, [0, 1, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_early_when_a_check_fails() {
        let (result, seen, took) = recorded::<()>(60, |n| {
            if n == 2 {
                Err(Error::TaskStopped {
                    service: "web-app".into(),
                    task: "t1".into(),
                    reason: "CannotPullContainerError".into(),
                })
            } else {
                Ok(Check::NotYet(String::new()))
            }
        })
        .await;
        assert!(matches!(result, Err(Error::TaskStopped { .. })));
        assert_eq!(seen, [0, 1], "no check after the failure");
        assert_eq!(took, Duration::from_secs(1));
    }

    fn aws_error(transient: bool) -> Error {
        Error::Aws {
            operation: "elasticloadbalancing:DescribeTargetHealth",
            message: if transient {
                "service error: ServiceUnavailable".into()
            } else {
                "service error: AccessDenied".into()
            },
            transient,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_error_counts_as_not_yet_and_the_wait_goes_on() {
        let (result, seen, _) = recorded(60, |n| match n {
            2 | 3 => Err(aws_error(true)),
            4 => Ok(Check::Ready(n)),
            _ => Ok(Check::NotYet("healthy 0/1".into())),
        })
        .await;
        let (value, stats) = result.expect("the errors did not end the wait");
        assert_eq!(value, 4);
        assert_eq!((stats.checks, stats.errors), (4, 2));
        assert_eq!(seen, [0, 1, 3, 7], "paced as any other check");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_only_sees_errors_times_out_naming_the_last_one() {
        let (result, seen, took) = recorded::<()>(10, |n| {
            if n == 1 {
                Ok(Check::NotYet("healthy 0/1".into()))
            } else {
                Err(aws_error(true))
            }
        })
        .await;
        assert_eq!(took, Duration::from_secs(10), "used the whole budget");
        match result {
            Err(e @ Error::Timeout { .. }) => {
                let text = e.to_string();
                assert!(text.contains("last seen: healthy 0/1"), "{text}");
                assert!(text.contains("checks failed"), "{text}");
                assert!(text.contains("ServiceUnavailable"), "{text}");
                let Error::Timeout { errors, .. } = e else {
                    unreachable!()
                };
                assert_eq!(errors, seen.len() as u32 - 1);
            }
            other => panic!("expected a timeout, got {:?}", other.map(|_| ())),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_non_transient_aws_error_ends_the_wait_at_once() {
        let (result, seen, _) = recorded::<()>(60, |_| Err(aws_error(false))).await;
        match result {
            Err(Error::Aws { message, .. }) => assert!(message.contains("AccessDenied")),
            other => panic!("expected the AWS error, got {:?}", other.map(|_| ())),
        }
        assert_eq!(seen, [0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_passed_checks_once() {
        let (result, seen, _) = recorded::<()>(0, |_| Ok(Check::NotYet(String::new()))).await;
        assert!(matches!(result, Err(Error::Timeout { .. })));
        assert_eq!(seen.len(), 1);
    }
}
