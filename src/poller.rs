//! The bounded poller: checks, sleeps with capped exponential backoff, and gives up at a
//! deadline. It never sleeps past the deadline and always checks once more at it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::info;

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
    pub waited_ms: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub interval: Duration,
    pub max_interval: Duration,
}

/// Calls `check` until it is ready, fails, or `deadline` passes.
///
/// A check that returns `Err` ends the wait at once with that error (e.g. a task stopped
/// with a reason). The time between checks starts at `interval` and doubles up to
/// `max_interval`.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    deadline: Instant,
    mut check: F,
) -> Result<(T, PollStats)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let started = Instant::now();
    let mut delay = backoff.interval;
    let mut checks = 0;
    loop {
        checks += 1;
        let progress = match check().await? {
            Check::Ready(value) => {
                let waited_ms = started.elapsed().as_millis() as u64;
                return Ok((value, PollStats { checks, waited_ms }));
            }
            Check::NotYet(progress) => progress,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                waited_secs: (now - started).as_secs_f64(),
                last_seen: progress,
            });
        }
        let sleep = delay.min(deadline - now);
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

    /// Records when each check ran, relative to the start, in whole seconds.
    fn recorder() -> (Instant, RefCell<Vec<u64>>) {
        (Instant::now(), RefCell::new(Vec::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_up_to_the_cap_and_gives_up_at_the_deadline() {
        let (start, seen) = recorder();
        let deadline = start + Duration::from_secs(40);
        let result: Result<((), PollStats)> = poll_until("tasks", BACKOFF, deadline, || {
            seen.borrow_mut().push(start.elapsed().as_secs());
            async { Ok(Check::NotYet("running 0/2".into())) }
        })
        .await;
        // 1, 2, 4, 8, 8, 8 ... capped, then one last check exactly at the deadline.
        assert_eq!(*seen.borrow(), [0, 1, 3, 7, 15, 23, 31, 39, 40]);
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
        let (start, seen) = recorder();
        let (value, stats) = poll_until("tasks", BACKOFF, start + Duration::from_secs(60), || {
            seen.borrow_mut().push(start.elapsed().as_secs());
            let n = seen.borrow().len();
            async move {
                Ok(if n == 3 {
                    Check::Ready(n)
                } else {
                    Check::NotYet(String::new())
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
        assert_eq!(
            stats,
            PollStats {
                checks: 3,
                waited_ms: 3_000
            }
        );
        assert_eq!(*seen.borrow(), [0, 1, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_early_when_a_check_fails() {
        let (start, seen) = recorder();
        let result: Result<((), PollStats)> =
            poll_until("tasks", BACKOFF, start + Duration::from_secs(60), || {
                seen.borrow_mut().push(start.elapsed().as_secs());
                let n = seen.borrow().len();
                async move {
                    if n == 2 {
                        Err(Error::TaskStopped {
                            service: "web-app".into(),
                            task: "t1".into(),
                            reason: "CannotPullContainerError".into(),
                        })
                    } else {
                        Ok(Check::NotYet(String::new()))
                    }
                }
            })
            .await;
        assert!(matches!(result, Err(Error::TaskStopped { .. })));
        assert_eq!(*seen.borrow(), [0, 1], "no check after the failure");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_passed_checks_once() {
        let (start, seen) = recorder();
        let result: Result<((), PollStats)> = poll_until("tasks", BACKOFF, start, || {
            seen.borrow_mut().push(start.elapsed().as_secs());
            async { Ok(Check::NotYet(String::new())) }
        })
        .await;
        assert!(matches!(result, Err(Error::Timeout { .. })));
        assert_eq!(seen.borrow().len(), 1);
    }
}
