//! One run of the loop: observe, decide, act, report.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tracing::{info, warn};

use crate::aws::Aws;
use crate::config::Config;
use crate::decide::settled;
use crate::decide::sight::{SplitReading, demand_load_at, split_reading};
use crate::decide::{Plan, Step, decide, percent};
use crate::error::{Error, Result};
use crate::marks::{self, Mark};
use crate::notify;
use crate::observed::{AlarmState, Drain, Observed, StoppedTask, Weights, is_ready};
use crate::poller::{Backoff, Budget, Check, PollStats, poll_until};
use crate::report::{ActionRecord, Notification, Outcome, Summary};
use crate::trigger::Trigger;

pub struct Controller {
    pub config: Config,
    pub aws: Aws,
}

/// When a run must be done by.
///
/// `wait` ends the wait for healthy targets: the budget, or the Lambda deadline less
/// `SPILLOVER_DEADLINE_MARGIN_MS`. Under a Lambda deadline, `steps` (half the margin before
/// it) bounds every call the run makes, and `report` (a quarter of the margin before it)
/// the final look and the notification, so that a call that hangs (each SDK call may take
/// up to its 20 s operation timeout) ends the run with its summary instead of Lambda
/// cutting it off with none. On the command line there is no such deadline.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub wait: Instant,
    pub steps: Option<Bound>,
    pub report: Option<Bound>,
}

/// A moment some time before the Lambda deadline.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub at: Instant,
    /// How long before the Lambda deadline `at` is.
    pub ahead: Duration,
}

/// `fut`, abandoned at `until` with [`Error::Deadline`] naming `what`.
async fn bounded<T>(
    until: Option<Bound>,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(until) = until else {
        return fut.await;
    };
    match tokio::time::timeout_at(until.at, fut).await {
        Ok(result) => result,
        Err(_) => {
            warn!(what, "abandoned: the Lambda deadline is near");
            Err(Error::Deadline(what.to_string(), until.ahead.as_secs_f64()))
        }
    }
}

impl Controller {
    pub fn new(config: Config, aws: Aws) -> Self {
        Controller { config, aws }
    }

    /// Reads everything the decision needs, in parallel (but the evidence that traffic
    /// has left ECS, which is read only when a scale-in is otherwise due).
    pub async fn observe(&self) -> Result<Observed> {
        self.look(true).await
    }

    /// Reads the world; the alarms' loads (`split_load`, `demand_load`), history and
    /// silence only with `loads`: a decision needs them, the last look of a run does not.
    async fn look(&self, loads: bool) -> Result<Observed> {
        let (alarms, (weights, sticky_secs), service, tasks, healthy, scalable) = tokio::try_join!(
            self.aws.alarms.read(),
            self.aws.listener.forward(),
            self.aws.ecs.service_state(),
            self.aws.ecs.tasks(),
            self.aws.listener.healthy_targets(),
            self.aws.scaling.target(),
        )?;
        let now = SystemTime::now();
        let age = |at: Option<SystemTime>| {
            at.map(|at| {
                now.duration_since(at)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0)
            })
        };
        let marks = marks::parse(&service.tags, now);
        let hold = self.config.return_hold;
        let settle = self.config.metric_settle;
        let in_hold = |at: Option<SystemTime>| age(at).is_some_and(|a| a < hold.as_secs_f64());
        // While spilled, or back on Lambda with the capacity still up, and out of ALARM, the
        // hold counts from when the alarms left ALARM: read from their history only when a
        // change inside the hold could hide it (ALARM -> INSUFFICIENT_DATA -> OK).
        let capacity_up =
            service.desired > self.config.idle_count || marks.saved_min_capacity.is_some();
        let out_of_alarm_since = if loads
            && alarms.spill.state != AlarmState::Alarm
            && (weights.ecs > 0 || capacity_up)
            && in_hold(alarms.spill.changed_at)
        {
            self.read_out_of_alarm_since(&alarms.spill, &marks, now)
                .await
        } else {
            alarms.spill.changed_at
        };
        // Read only when a step back may be due: split, OK, and OK for the return hold.
        let held = in_hold(out_of_alarm_since);
        let split = match &alarms.spill.projections {
            Some(projections)
                if loads && alarms.spill.state == AlarmState::Ok && weights.is_split() && !held =>
            {
                self.read_split_load(projections, marks.stepped_secs_ago, now)
                    .await
                    .unwrap_or_else(|e| {
                        let load = unread("the alarm's reading on Lambda", e);
                        SplitReading {
                            load,
                            settles_in: None,
                        }
                    })
            }
            _ => SplitReading {
                load: None,
                settles_in: None,
            },
        };
        // Read only when a step up may be due: ALARM, and ECS below the last step.
        let below_last = self
            .config
            .steps
            .last()
            .is_some_and(|&last| percent(weights) < f64::from(last));
        let (demand_load, demand_unsettled) = match &alarms.spill.demands {
            Some(demands) if loads && alarms.spill.state == AlarmState::Alarm && below_last => {
                match self.aws.alarms.demand_data(demands, settle).await {
                    Ok(data) => {
                        // Re-read the clock: the reads took time, and a period is settled by
                        // the time it is judged at.
                        let now = SystemTime::now();
                        let load = demand_load_at(&data, settled::horizon(now, settle), now);
                        (load, load.is_none())
                    }
                    Err(e) => (unread("the demand", e), false),
                }
            }
            _ => (None, false),
        };
        // Read only when an ALARM may rest on no data: all the traffic on ECS, so Lambda
        // publishes nothing the alarms could read, and every spill alarm's missing data is
        // breaching or keeps its state.
        let alarm_silent_secs = match alarms.spill.silenceable() {
            Some(projections)
                if loads
                    && alarms.spill.state == AlarmState::Alarm
                    && weights.lambda == 0
                    && weights.ecs > 0 =>
            {
                self.read_silence(&projections, now)
                    .await
                    .unwrap_or_else(|e| unread("when the alarm last had data", e))
            }
            _ => None,
        };
        // Read only when an ALARM may rest on no data while Lambda has a share: has the
        // alarm's metric read anything over its threshold lately?
        let alarm_breach_read = match alarms.spill.silenceable() {
            Some(projections)
                if loads && alarms.spill.state == AlarmState::Alarm && weights.lambda > 0 =>
            {
                self.read_breach(&projections, now, marks.stepped_secs_ago)
                    .await
                    .unwrap_or_else(|e| {
                        warn!(error = %e, "could not read the alarm's metric; the steps go as configured");
                        None
                    })
            }
            _ => None,
        };
        Ok(Observed {
            alarm: alarms.spill.state,
            alarm_age_secs: age(out_of_alarm_since),
            alarms_blind: alarms.spill.blind,
            warm: alarms.warm.as_ref().map(|w| w.state),
            warm_age_secs: alarms.warm.as_ref().and_then(|w| age(w.changed_at)),
            weights,
            desired: service.desired,
            running: tasks.running,
            healthy,
            sticky_secs,
            scalable,
            marks,
            drain: None,
            split_load: split.load,
            split_settles_in_secs: split.settles_in.map(|d| d.as_secs_f64()),
            demand_load,
            demand_unsettled,
            alarm_silent_secs,
            alarm_breach_read,
        })
    }

    /// Whether any of the alarms' metrics has a datapoint at or over its threshold (a
    /// partial one counts: it only grows) in a period that began within the settle time and
    /// two periods before `now`, and not before the last weight change.
    async fn read_breach(
        &self,
        projections: &[crate::decide::sight::Projection],
        now: SystemTime,
        stepped_secs_ago: Option<f64>,
    ) -> Result<Option<bool>> {
        let period = self.config.metric_period;
        let recent = self.config.metric_settle + period * 2;
        let ago = stepped_secs_ago
            .map(|s| Duration::from_secs_f64(s.max(0.0)))
            .unwrap_or(recent)
            .min(recent);
        let since = now - ago;
        // From one period before, so that the query is never empty; only periods that
        // began at or after `since` count.
        let points = self
            .aws
            .alarms
            .projection_datapoints(projections, since - period, period)
            .await?;
        Ok(Some(points.iter().zip(projections).any(|(points, p)| {
            points
                .iter()
                .any(|d| d.start >= since && d.value >= p.threshold)
        })))
    }

    /// Since when the spill alarms have been out of ALARM, from their history (see
    /// [`crate::decide::hold`]); from their last change when it cannot be read.
    async fn read_out_of_alarm_since(
        &self,
        spill: &crate::aws::alarms::Reading,
        marks: &crate::observed::Marks,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let stepped_at = marks
            .stepped_secs_ago
            .and_then(|secs| now.checked_sub(Duration::from_secs_f64(secs)));
        let hold = self.config.return_hold;
        let period = self.config.metric_period;
        let settled_until = settled::horizon(now, self.config.metric_settle);
        self.aws
            .alarms
            .out_of_alarm_since(spill, now, hold, period, stepped_at, settled_until)
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "could not read the alarms' history; the return hold counts from their last change");
                spill.changed_at
            })
    }

    /// How long the spill alarms' own metric has had no datapoint, as far as settled periods
    /// tell ([`settled::silence`]), over the last return hold, two metric periods and the
    /// settle time (at least the hold and two periods when it had none there).
    async fn read_silence(
        &self,
        projections: &[crate::decide::sight::Projection],
        now: SystemTime,
    ) -> Result<Option<f64>> {
        let period = self.config.metric_period;
        let settle = self.config.metric_settle;
        let since = now - (self.config.return_hold + period * 2 + settle);
        let starts = self
            .aws
            .alarms
            .datapoint_starts(projections, since, period)
            .await?;
        let silent = settled::silence(&starts, period, since, settled::horizon(now, settle));
        Ok(Some(silent.as_secs_f64()))
    }

    /// What the spill alarms that see the split read on Lambda lately: over the last
    /// three settled metric periods and the partial ones since, and only since the last
    /// weight change (see [`Observed::split_load`]). Recent, not the whole return hold: the
    /// hold already says the alarm has been calm; this says how far the next split is from
    /// its threshold now that the demand may have fallen. No query before a whole period
    /// since the change could have settled: a partial one alone can hold the step, which
    /// waits anyway.
    async fn read_split_load(
        &self,
        projections: &[crate::decide::sight::Projection],
        stepped_secs_ago: Option<f64>,
        now: SystemTime,
    ) -> Result<SplitReading> {
        let period = self.config.metric_period;
        let settle = self.config.metric_settle;
        let recent = settle + period * 3;
        let since_step = stepped_secs_ago
            .map(Duration::from_secs_f64)
            .unwrap_or(recent)
            .min(recent);
        let since = now - since_step;
        // No period since the change can have settled: no query (one from the very second
        // of the change would be refused anyway: "StartTime must not equal EndTime").
        if since_step < settle + period {
            let none = vec![Vec::new(); projections.len()];
            let horizon = settled::horizon(now, settle);
            return Ok(split_reading(projections, &none, since, period, horizon));
        }
        let points = self
            .aws
            .alarms
            .projection_datapoints(projections, since, period)
            .await?;
        let horizon = settled::horizon(SystemTime::now(), settle);
        Ok(split_reading(projections, &points, since, period, horizon))
    }

    /// The ECS target group's deregistration delay and its `RequestCount` over the window
    /// (the decision makes it reach past the settle time: see `decide::capacity`).
    async fn read_drain(&self, window_secs: f64) -> Result<Drain> {
        let (target_group, load_balancer) = self.aws.listener.ecs_metric_dimensions()?;
        let window = Duration::from_secs_f64(window_secs);
        let (deregistration_delay_secs, requests) = tokio::try_join!(
            self.aws.listener.deregistration_delay_secs(),
            self.aws.alarms.target_group_sum(
                "RequestCount",
                &target_group,
                &load_balancer,
                window,
                self.config.metric_period,
            ),
        )?;
        Ok(Drain {
            deregistration_delay_secs,
            requests,
            window_secs,
        })
    }

    /// Observes and decides; when the decision needs the evidence that traffic has left
    /// ECS, reads it and decides again.
    async fn observe_and_decide(&self, trigger: &Trigger) -> Result<(Observed, Plan)> {
        let mut observed = self.observe().await?;
        let mut plan = decide(trigger, &observed, &self.config);
        if let Some(window) = plan.needs_drain_window_secs {
            observed.drain = Some(self.read_drain(window).await?);
            plan = decide(trigger, &observed, &self.config);
        }
        Ok((observed, plan))
    }

    /// An ALARM that may rest on no data moves nothing until its metric reads a breach
    /// ([`crate::decide::hold::rests_on_no_data`]). CloudWatch evaluates on the datapoints
    /// it has and publishes late ones after the evaluation (Knowledge Center,
    /// cloudwatch-trigger-metric), so the breach often arrives a few seconds after the
    /// ALARM event. Rather than leave it to the next run (a scheduled tick up to a minute
    /// away, while Lambda throttles), the run reads the alarm and its metric every twelfth
    /// of a period (two reads, 5 s at 60 s) until the metric breaches or the alarm leaves ALARM, then looks
    /// and decides again. `None` when the wait budget ends first, or a read fails: the
    /// first plan stands, and the next run looks again.
    async fn await_breach(
        &self,
        trigger: &Trigger,
        observed: &Observed,
        deadline: Deadline,
    ) -> Option<(Observed, Plan)> {
        let started = SystemTime::now();
        let stepped_at = observed
            .marks
            .stepped_secs_ago
            .and_then(|ago| started.checked_sub(Duration::from_secs_f64(ago.max(0.0))));
        let interval = (self.config.metric_period / 12).max(self.config.poll.interval);
        let spent = || self.aws.calls.count().requests();
        let waited = poll_until(
            "a datapoint over the alarm's threshold",
            Backoff {
                interval,
                max_interval: interval,
            },
            Budget {
                per_sec: BREACH_READS_PER_CHECK / interval.as_secs_f64(),
                burst: BREACH_READS_PER_CHECK * 2.0,
                spent: &spent,
            },
            deadline.wait,
            || async {
                let alarms = self.aws.alarms.read().await?;
                let projections = match alarms.spill.silenceable() {
                    Some(p) if alarms.spill.state == AlarmState::Alarm => p,
                    _ => return Ok(Check::Ready(format!("alarm {}", alarms.spill.state))),
                };
                let now = SystemTime::now();
                let stepped = stepped_at
                    .and_then(|at| now.duration_since(at).ok())
                    .map(|d| d.as_secs_f64());
                Ok(match self.read_breach(&projections, now, stepped).await? {
                    Some(true) => Check::Ready("a datapoint over the threshold".to_string()),
                    _ => Check::NotYet("ALARM, no datapoint over the threshold yet".into()),
                })
            },
        )
        .await;
        let (found, stats) = match waited {
            Ok(found) => found,
            Err(e @ Error::Timeout { .. }) => {
                info!(error = %e, "no breach read before the wait budget ended; the next run looks again");
                return None;
            }
            Err(e) => {
                warn!(error = %e, "could not read the alarm's metric again; the next run looks again");
                return None;
            }
        };
        info!(found = %found, waited_ms = stats.waited_ms, checks = stats.checks, "the alarm's metric read again");
        let looking = Box::pin(self.observe_and_decide(trigger));
        match bounded(
            deadline.steps,
            "the look after the wait for a breach",
            looking,
        )
        .await
        {
            Ok((observed, mut plan)) => {
                plan.reason = format!(
                    "after {:.0}s, {found}: {}",
                    stats.waited_ms as f64 / 1000.0,
                    plan.reason
                );
                Some((observed, plan))
            }
            Err(e) => {
                warn!(error = %e, "could not look again after the wait for a breach; the next run looks again");
                None
            }
        }
    }

    /// When the run must be done by (see [`Deadline`]).
    ///
    /// A Lambda deadline already past when the invocation starts cannot be real (local
    /// emulators send a fixed placeholder): then the budget alone bounds the wait, and
    /// nothing else is bounded.
    pub fn deadline(&self, lambda_deadline: Option<SystemTime>) -> Deadline {
        let poll = self.config.poll;
        let now = Instant::now();
        let until_lambda_deadline =
            lambda_deadline.and_then(|d| d.duration_since(SystemTime::now()).ok());
        if lambda_deadline.is_some() && until_lambda_deadline.is_none() {
            warn!(
                "the runtime's deadline is already past; the wait is bounded by SPILLOVER_WAIT_BUDGET_SECS alone"
            );
        }
        let left = until_lambda_deadline
            .map(|left| left.saturating_sub(poll.deadline_margin))
            .map_or(poll.budget, |left| left.min(poll.budget));
        info!(wait_budget_ms = left.as_millis() as u64, "deadline set");
        let before = |part: u32| {
            let ahead = poll.deadline_margin / part;
            until_lambda_deadline.map(|until| Bound {
                at: now + until.saturating_sub(ahead),
                ahead,
            })
        };
        Deadline {
            wait: now + left,
            steps: before(2),
            report: before(4),
        }
    }

    /// Runs the loop once. Never panics on AWS trouble: failures end up in the summary.
    pub async fn run(&self, trigger: Trigger, deadline: Deadline, dry_run: bool) -> Summary {
        // Boxed: the loop's state machine is deep, and callers (the Lambda runtime, the
        // CLI) nest it further; on the heap it neither grows their futures nor trips the
        // compiler's layout depth limit.
        Box::pin(self.run_once(trigger, deadline, dry_run)).await
    }

    async fn run_once(&self, trigger: Trigger, deadline: Deadline, dry_run: bool) -> Summary {
        let started = Instant::now();
        let started_wall = SystemTime::now();
        let calls_before = self.aws.calls.count();
        let mut summary = Summary::new(trigger.clone());

        let observing = self.observe_and_decide(&trigger);
        let (observed, plan) = match bounded(deadline.steps, "the first look", observing).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "could not observe the world; nothing was written");
                summary.fail(e);
                return self
                    .finish(summary, started, calls_before, dry_run, deadline)
                    .await;
            }
        };
        let (observed, plan) = if plan.awaits_breach && !dry_run {
            // Boxed, as the run is: the wait and the second look are deep futures.
            match Box::pin(self.await_breach(&trigger, &observed, deadline)).await {
                Some(found) => found,
                None => (observed, plan),
            }
        } else {
            (observed, plan)
        };
        summary.durations_ms.observe = ms(started.elapsed());
        info!(intent = ?plan.intent, steps = plan.steps.len(), reason = %plan.reason, dry_run, "plan");
        summary.observed = Some(observed.clone());
        summary.plan = Some(plan.clone());
        summary.outcome = match (plan.is_noop(), dry_run) {
            (true, _) => Outcome::NoOp,
            (false, true) => Outcome::DryRun,
            (false, false) => Outcome::Done,
        };

        let act_started = Instant::now();
        let mut moves = observed.marks.moves;
        let mut ahead = None;
        let failed_starts = std::sync::Mutex::new(Vec::new());
        for step in plan.steps {
            let at = started.elapsed();
            if dry_run {
                info!(step = %step, "dry run: would do");
                summary
                    .actions
                    .push(record(step, at, Duration::ZERO, "skipped (dry run)", None));
                continue;
            }
            info!(step = %step, "start");
            let step_started = Instant::now();
            let executing = self.execute(
                &step,
                deadline.wait,
                started_wall,
                moves,
                &mut ahead,
                &failed_starts,
            );
            let result = bounded(deadline.steps, &format!("step \"{step}\""), executing).await;
            let took = step_started.elapsed();
            let failed = std::mem::take(&mut *failed_starts.lock().expect("not poisoned"));
            match result {
                Ok(stats) => {
                    info!(step = %step, took_ms = ms(took), "done");
                    if let Step::SetWeights { from, to } = step {
                        moves = Some(marks::moves_after(from, to, moves));
                    }
                    let mut action = record(step, at, took, "ok", stats);
                    action.failed_starts = failed;
                    summary.actions.push(action);
                }
                Err(e) => {
                    warn!(step = %step, error = %e, "failed; later steps skipped");
                    let mut action = record(step, at, took, "failed", None);
                    action.failed_starts = failed;
                    summary.actions.push(action);
                    summary.fail(e);
                    break;
                }
            }
        }
        summary.durations_ms.act = ms(act_started.elapsed());

        summary.final_state = if summary
            .actions
            .iter()
            .any(|a| a.result != "skipped (dry run)")
        {
            bounded(deadline.report, "the last look", self.look(false))
                .await
                .ok()
        } else {
            Some(observed)
        };
        self.finish(summary, started, calls_before, dry_run, deadline)
            .await
    }

    /// Counts, announces the run (a spill, a return or a failure; never a dry run) and
    /// counts again, so the summary includes the notification's call.
    async fn finish(
        &self,
        mut summary: Summary,
        started: Instant,
        before: crate::aws::CallCount,
        dry_run: bool,
        deadline: Deadline,
    ) -> Summary {
        let count = |summary: &mut Summary| {
            summary.aws_calls = self.aws.calls.count().since(before);
            summary.durations_ms.total = ms(started.elapsed());
        };
        count(&mut summary);
        if let (Some(bus), false) = (&self.aws.events, dry_run) {
            summary.notification = self.notify(bus, &summary, deadline.report).await;
            count(&mut summary);
        }
        summary
    }

    /// Publishes the run's event, if it has one. A failure is logged and recorded in the
    /// summary (and counted in the metrics); it never fails the run.
    async fn notify(
        &self,
        bus: &crate::aws::events::Events,
        summary: &Summary,
        until: Option<Bound>,
    ) -> Option<Notification> {
        let event = notify::event(summary, &self.config)?;
        let result = bounded(until, "the notification", bus.put(&event)).await;
        if let Err(e) = &result {
            warn!(error = %e, detail_type = event.detail_type, "could not publish the notification; the run goes on");
        }
        Some(Notification {
            detail_type: event.detail_type.to_string(),
            published: result.is_ok(),
            error: result.err().map(|e| e.to_string()),
        })
    }

    /// Carries out one step; `moves` is the spill's weight changes so far (a mark).
    /// `ahead` takes what a wait read last for the weight write that follows it, and gives
    /// it to that write (nothing else uses it).
    async fn execute(
        &self,
        step: &Step,
        deadline: Instant,
        since: SystemTime,
        moves: Option<u32>,
        ahead: &mut Option<ReadAhead>,
        failed_starts: &std::sync::Mutex<Vec<StoppedTask>>,
    ) -> Result<Option<PollStats>> {
        let read_ahead = ahead.take();
        match *step {
            Step::ScaleOut { to, .. } => {
                self.aws.ecs.set_desired_count(to).await?;
            }
            Step::RaiseMinCapacity { from, to, save } => {
                // The old minimum is kept first: if the raise fails, the tag is harmless;
                // if the tag failed after the raise, the minimum could not be restored.
                if save {
                    let saved = [(Mark::SavedMinCapacity.key(), from.to_string())];
                    self.aws.ecs.tag(&saved).await?;
                }
                self.aws.scaling.set_min_capacity(to).await?;
            }
            Step::ScaleIn { to, .. } => {
                self.no_ecs_weight().await?;
                self.aws.ecs.set_desired_count(to).await?;
            }
            Step::RestoreMinCapacity { from, to } => {
                self.no_ecs_weight().await?;
                if from != to {
                    self.aws.scaling.set_min_capacity(to).await?;
                }
                self.aws.ecs.untag(&[Mark::SavedMinCapacity.key()]).await?;
            }
            Step::WaitUntilReady { min_healthy } => {
                let (stats, read) = self
                    .wait_until_ready(min_healthy, deadline, since, failed_starts)
                    .await?;
                *ahead = Some(read);
                return Ok(Some(stats));
            }
            Step::SetWeights { from, to } => {
                self.set_weights(from, to, moves, read_ahead).await?;
            }
        }
        Ok(None)
    }

    /// Someone may have given ECS weight since we looked: never scale in under traffic.
    async fn no_ecs_weight(&self) -> Result<()> {
        let weights = self.aws.listener.weights().await?;
        if weights.ecs > 0 {
            return Err(Error::Changed(format!(
                "the ECS target group has weight again ({weights})"
            )));
        }
        Ok(())
    }

    /// Writes the weights, after the time marks. With ECS weight, health (and, for a step
    /// up, the alarm) is checked again right before: the plan was made before any wait.
    /// Those checks and the listener's actions come from the wait's last check when there
    /// was one (`ahead`), else from reads made together: each read in between is time
    /// Lambda throttles.
    async fn set_weights(
        &self,
        from: Weights,
        to: Weights,
        moves: Option<u32>,
        ahead: Option<ReadAhead>,
    ) -> Result<()> {
        let listener = &self.aws.listener;
        let (checks, actions) = match ahead {
            Some(read) => (Some((read.healthy, read.alarm)), read.actions),
            None if to.ecs > 0 => {
                let (healthy, alarm, actions) = tokio::try_join!(
                    listener.healthy_targets(),
                    self.aws.alarms.state(),
                    listener.actions()
                )?;
                (Some((healthy, alarm)), actions)
            }
            None => (None, listener.actions().await?),
        };
        if to.ecs > 0
            && let Some((healthy, alarm)) = checks
        {
            if healthy < self.config.min_healthy {
                return Err(Error::NotReady {
                    healthy,
                    min_healthy: self.config.min_healthy,
                });
            }
            if percent(to) > percent(from) && alarm != AlarmState::Alarm {
                return Err(Error::Changed(format!(
                    "the alarm went to {alarm} while tasks started"
                )));
            }
        }
        // The time of the change goes on the service first, so that a scale-in can never
        // believe traffic left ECS earlier than it did.
        let at = marks::time_value(SystemTime::now());
        let mut records: Vec<(&str, String)> = marks::for_weights(from, to)
            .into_iter()
            .map(|mark| (mark.key(), at.clone()))
            .collect();
        let moves = marks::moves_after(from, to, moves);
        records.push((Mark::Moves.key(), moves.to_string()));
        self.aws.ecs.tag(&records).await?;
        listener.set_weights(actions, to).await
    }

    /// Adds the failed starts found to those seen in this wait, each one logged once; the
    /// last one when they reach `enough` (the wait ends on it).
    fn count_failed_starts(
        found: Vec<StoppedTask>,
        seen: &std::sync::Mutex<Vec<StoppedTask>>,
        enough: usize,
    ) -> Option<StoppedTask> {
        let mut seen = seen.lock().expect("not poisoned");
        for task in found {
            if seen.iter().any(|s| s.arn == task.arn) {
                continue;
            }
            warn!(
                task = %task.arn,
                reason = %task.reason,
                failed_starts = seen.len() + 1,
                ends_the_wait_at = enough,
                "a task stopped while starting; ECS starts a replacement and the wait goes on"
            );
            seen.push(task);
        }
        (seen.len() >= enough).then(|| seen[seen.len() - 1].clone())
    }

    /// Polls until `min` tasks run and `min` targets are healthy, at most one check per
    /// poll interval. A check reads the target health (one call); the running count only
    /// when the targets look ready, and stopped tasks (alongside the health read) on the
    /// first check and every fifth, to see failed starts. So the wait
    /// makes about one read per check, and a [`Budget`] of 1.5 requests per interval holds
    /// back the checks after any that read more. A check whose read fails with a transient
    /// error (throttled, a 5xx, timed out, after the SDK's own retries) is one more "not
    /// yet" and is counted in the action's `errors`; another error (AccessDenied, a missing
    /// resource) ends the wait, and so do failed starts once they reach ECS's own circuit
    /// breaker threshold ([`failed_start_threshold`]); fewer are logged, recorded in the
    /// action (`failed_starts`) and announced with the run, and the wait goes on for the
    /// replacements ECS starts.
    ///
    /// The check that finds the targets healthy reads the running count (one call, where
    /// the task list and its describe are two in a row), the alarm and the listener's
    /// actions at once, for the weight write after the wait ([`ReadAhead`]).
    async fn wait_until_ready(
        &self,
        min: u32,
        deadline: Instant,
        since: SystemTime,
        failed_starts: &std::sync::Mutex<Vec<StoppedTask>>,
    ) -> Result<(PollStats, ReadAhead)> {
        let enough_failures = failed_start_threshold(self.config.spill_count.max(min as i32));
        let backoff = Backoff {
            interval: self.config.poll.interval,
            max_interval: self.config.poll.max_interval,
        };
        let spent = || self.aws.calls.count().requests();
        let budget = Budget {
            per_sec: WAIT_REQUESTS_PER_INTERVAL / self.config.poll.interval.as_secs_f64(),
            burst: WAIT_REQUEST_BURST,
            spent: &spent,
        };
        let mut checks = 0u32;
        let (read, stats) = poll_until(
            "ECS tasks running and targets healthy",
            backoff,
            budget,
            deadline,
            || {
                checks += 1;
                let look_for_failures = checks % 5 == 1;
                async move {
                    // The look for a failed start goes alongside the health read, not
                    // before it: a check that finds the targets healthy is no later for it.
                    let failed = async {
                        if look_for_failures {
                            self.aws.ecs.failed_tasks(since).await
                        } else {
                            Ok(Vec::new())
                        }
                    };
                    let (failed, healthy) =
                        tokio::try_join!(failed, self.aws.listener.healthy_targets())?;
                    if let Some(stopped) =
                        Self::count_failed_starts(failed, failed_starts, enough_failures)
                    {
                        return Err(Error::TaskStopped {
                            service: self.config.service.clone(),
                            task: stopped.arn,
                            reason: stopped.reason,
                        });
                    }
                    if healthy < min {
                        return Ok(Check::NotYet(format!("healthy {healthy}/{min}")));
                    }
                    let (running, alarm, actions) = tokio::try_join!(
                        self.aws.ecs.running_count(),
                        self.aws.alarms.state(),
                        self.aws.listener.actions()
                    )?;
                    Ok(if is_ready(running, healthy, min) {
                        Check::Ready(ReadAhead {
                            healthy,
                            alarm,
                            actions,
                        })
                    } else {
                        Check::NotYet(format!("running {running}/{min}, healthy {healthy}/{min}"))
                    })
                }
            },
        )
        .await?;
        Ok((stats, read))
    }
}

/// How many failed starts end a wait: the threshold of ECS's deployment circuit breaker,
/// half the desired count, at least 3 and at most 200 ("The deployment circuit breaker has
/// a minimum threshold of 3 and a maximum threshold of 200 ... 0.5 * desired task count",
/// ECS API reference, `ServiceDeploymentCircuitBreaker`). Fewer are what a service does
/// when a start fails now and then (an image pull, an ENI): ECS starts a replacement, and
/// the wait goes on for it.
fn failed_start_threshold(desired: i32) -> usize {
    (f64::from(desired.max(0)) * 0.5).ceil().clamp(3.0, 200.0) as usize
}

/// The reads of one check while an ALARM waits for its metric to breach: the alarm and
/// its metric.
const BREACH_READS_PER_CHECK: f64 = 2.0;

/// The wait's AWS requests (reads and the SDK's retries), on average, per poll interval:
/// 3 a second at the default 500 ms. The usual check reads once, so this only holds back
/// checks that read more: the targets healthy while the service does not count its tasks
/// running yet, when each check reads four.
const WAIT_REQUESTS_PER_INTERVAL: f64 = 1.5;

/// The wait's requests at once: the most one check reads (the target health, the stopped
/// tasks and their describe, then the running count, the alarm and the listener), so the
/// check that finds the targets healthy is never held back by the look beside it.
const WAIT_REQUEST_BURST: f64 = 6.0;

/// What the wait's last check read, for the weight write right after it.
#[derive(Debug)]
struct ReadAhead {
    healthy: u32,
    alarm: AlarmState,
    actions: Vec<aws_sdk_elasticloadbalancingv2::types::Action>,
}

/// A reading that only refines a step (`split_load`, `demand_load`) and could not be
/// taken: the step goes as if there were no datapoint, so a missing permission or a
/// throttled `GetMetricData` can neither stop a spill nor hold one for ever.
fn unread(what: &str, e: Error) -> Option<f64> {
    warn!(error = %e, "could not read {what}; the steps go as configured");
    None
}

fn record(
    step: Step,
    at: Duration,
    took: Duration,
    result: &'static str,
    wait: Option<PollStats>,
) -> ActionRecord {
    ActionRecord {
        step,
        started_at_ms: ms(at),
        duration_ms: ms(took),
        result,
        checks: wait.map(|w| w.checks),
        errors: wait.map(|w| w.errors),
        failed_starts: Vec::new(),
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::test_config;

    fn controller() -> Controller {
        let config = test_config();
        let shared = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let aws = Aws::new(
            &config,
            aws_sdk_cloudwatch::Client::new(&shared),
            aws_sdk_ecs::Client::new(&shared),
            aws_sdk_elasticloadbalancingv2::Client::new(&shared),
            aws_sdk_applicationautoscaling::Client::new(&shared),
        );
        Controller::new(config, aws)
    }

    fn left(deadline: Deadline) -> Duration {
        deadline.wait - Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_before_the_lambda_deadline_less_the_margin() {
        let c = controller();
        let lambda_deadline = SystemTime::now() + Duration::from_secs(60);
        let got = left(c.deadline(Some(lambda_deadline)));
        assert!(
            got <= Duration::from_secs(50) && got > Duration::from_secs(49),
            "{got:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_a_long_lambda_deadline_and_the_command_line() {
        let c = controller();
        let far = SystemTime::now() + Duration::from_secs(900);
        assert_eq!(left(c.deadline(Some(far))), Duration::from_secs(240));
        assert_eq!(left(c.deadline(None)), Duration::from_secs(240));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_inside_the_margin_leaves_no_time_to_wait() {
        let c = controller();
        let near = SystemTime::now() + Duration::from_secs(5);
        assert_eq!(left(c.deadline(Some(near))), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn under_a_lambda_deadline_every_call_is_bounded_before_it() {
        let c = controller();
        let d = c.deadline(Some(SystemTime::now() + Duration::from_secs(60)));
        let (steps, report) = (d.steps.unwrap(), d.report.unwrap());
        let near = |at: Instant, secs: f64| {
            let got = (at - Instant::now()).as_secs_f64();
            (got - secs).abs() < 1.0
        };
        assert!(
            near(steps.at, 55.0) && steps.ahead == Duration::from_secs(5),
            "{d:?}"
        );
        assert!(near(report.at, 57.5), "{d:?}");
        let cli = c.deadline(None);
        assert!(cli.steps.is_none() && cli.report.is_none());

        // A call that hangs is abandoned at the bound, naming what it was.
        let hung = async {
            tokio::time::sleep(Duration::from_secs(120)).await;
            Ok(())
        };
        match bounded(d.steps, "step \"set weights\"", hung).await {
            Err(Error::Deadline(what, ahead)) => {
                assert_eq!((what.as_str(), ahead), ("step \"set weights\"", 5.0));
            }
            other => panic!("expected a deadline error, got {other:?}"),
        }
        assert!(Instant::now() >= steps.at);
        assert!(bounded(None, "no bound", async { Ok(()) }).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_past_falls_back_to_the_budget() {
        let c = controller();
        let placeholder = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(
            left(c.deadline(Some(placeholder))),
            Duration::from_secs(240)
        );
        assert!(c.deadline(Some(placeholder)).steps.is_none());
    }
}
