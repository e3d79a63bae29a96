//! Hysteresis: when traffic may step back and capacity may go.
//!
//! - Every configured alarm must have been out of ALARM for `SPILLOVER_RETURN_HOLD_SECS`,
//!   measured from the alarm's own state change (`StateTransitionedTimestamp`), like the
//!   stabilization window of Kubernetes' HPA. A run inside the hold changes nothing; the
//!   reconcile tick looks again.
//! - INSUFFICIENT_DATA counts as out of ALARM once it has lasted the same hold. An alarm on
//!   the very traffic a spill removes (Lambda `ConcurrentExecutions` with
//!   `TreatMissingData: missing`) goes INSUFFICIENT_DATA when Lambda gets nothing, and
//!   would hold a spill for ever. Stepping down one step gives Lambda traffic again, so
//!   the alarm gets datapoints back and tells the truth: ALARM steps up again, OK goes on
//!   down. It is safe because only one step moves per run and the alarm gets the settle
//!   time to see the new split before the next one.
//! - The hold counts from when the alarm left ALARM, not from its last change: the OK that
//!   follows that step down (INSUFFICIENT_DATA -> OK) does not start the hold again. The
//!   controller reads when each alarm left ALARM from its history ([`out_of_alarm_since`])
//!   while a transition inside the hold could hide it. An alarm with `TreatMissingData:
//!   notBreaching` goes OK instead of INSUFFICIENT_DATA at the same moment, and is held
//!   the same way.
//! - An ALARM that has rested on no data for the same hold counts as INSUFFICIENT_DATA of
//!   that age ([`on_no_data`]), the silence read from settled periods only. The same alarm
//!   with `TreatMissingData: breaching` (missing data is breaching) or `ignore` (the state
//!   stays) stays in ALARM once Lambda gets nothing, and would hold a spill for ever: the
//!   same step down lets it read again. Its time in ALARM on no data does not count
//!   against the hold either
//!   ([`out_of_alarm_since`] with its datapoints). The controller reads them only for such
//!   alarms: with `missing` or `notBreaching`, an ALARM rests on a datapoint or on
//!   someone's `SetAlarmState`.
//! - Never before `SPILLOVER_MIN_SPILL_SECS` since the shift to ECS, and never sooner than
//!   `SPILLOVER_STEP_SETTLE_SECS` after the last weight change (times from the service's
//!   tags).
//! - Scale-in and the end of a pre-warm wait for the same hold on the warm alarms.
//!
//! An age CloudWatch or the tags do not give (a missing timestamp or tag) counts as
//! "long ago": the rule then cannot hold traffic on ECS for ever.

use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::observed::{AlarmState, Observed};

/// One state change of an alarm, from its history (`DescribeAlarmHistory`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub at: SystemTime,
    pub from: AlarmState,
    pub to: AlarmState,
}

/// How far a history item's time may be from `StateTransitionedTimestamp` for the same
/// change: both are CloudWatch's, but not promised to be the same instant.
const SAME_CHANGE_SECS: u64 = 5;

/// The datapoints of an alarm's own metric over the same window, by the start of their
/// period, and the period: what tells an ALARM on data from an ALARM on none.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoints {
    pub starts: Vec<SystemTime>,
    pub period: Duration,
    /// The settle horizon ([`crate::decide::settled::horizon`]): a period that ended after it
    /// may have a datapoint still on its way, so no datapoint there proves no silence.
    pub settled_until: SystemTime,
    /// The last weight change: the data that follows it is what that change let Lambda
    /// report, and says nothing of the ALARM before it.
    pub stepped_at: Option<SystemTime>,
}

/// Since when an alarm that is out of ALARM has been so, from the state changes it made
/// after `since` (in any order) and its last change, `changed_at`: the latest change out
/// of ALARM, or `since` when none of them left ALARM (the alarm was out of it all along).
/// A history that does not show the last change (not yet written, or cut short) or that
/// ends in ALARM proves nothing: then `changed_at`, as without it.
///
/// With the alarm's `data`, a time in ALARM during which its metric had no datapoint (the
/// periods it evaluated, from one period before it entered ALARM to one before it left, or
/// before the last weight change if that came first) is an ALARM on no data, like
/// [`on_no_data`]'s, and does not count: once those periods have all settled. Until then
/// the datapoint may be on its way, and the ALARM counts.
pub fn out_of_alarm_since(
    changes: &[Transition],
    since: SystemTime,
    changed_at: SystemTime,
    data: Option<&Datapoints>,
) -> SystemTime {
    let near = |at: SystemTime| {
        let apart = at
            .duration_since(changed_at)
            .or_else(|_| changed_at.duration_since(at))
            .unwrap_or_default();
        apart.as_secs() < SAME_CHANGE_SECS
    };
    let Some(last) = changes.iter().max_by_key(|c| c.at) else {
        return changed_at;
    };
    if !near(last.at) || last.to == AlarmState::Alarm {
        return changed_at;
    }
    let mut changes = changes.to_vec();
    changes.sort_by_key(|c| c.at);
    let on_no_data = |entered: SystemTime, left: SystemTime| {
        data.is_some_and(|d| {
            let end = d
                .stepped_at
                .filter(|&at| at > entered)
                .map_or(left, |at| at.min(left));
            let (from, to) = (entered - d.period, end - d.period);
            end <= d.settled_until && !d.starts.iter().any(|&s| s >= from && s < to)
        })
    };
    let mut entered = since;
    let mut left_alarm = None;
    for change in &changes {
        if change.to == AlarmState::Alarm {
            entered = change.at;
        } else if change.from == AlarmState::Alarm && !on_no_data(entered, change.at) {
            left_alarm = Some(change.at);
        }
    }
    left_alarm.unwrap_or(since).min(changed_at)
}

/// The observed state as the return rules see it when the spill alarms are in ALARM on no
/// data (`alarm_silent_secs`) for at least the return hold: INSUFFICIENT_DATA, as old as
/// the silence. `None` otherwise. The silence counts from the last weight change at most
/// (`spillover:stepped-at`): before it Lambda had a share, and the alarm read it. Both
/// count only up to `SPILLOVER_METRIC_SETTLE_SECS` ago: a newer period without a datapoint
/// proves nothing, its datapoint may be on its way (see [`crate::decide::settled`]).
pub fn on_no_data(observed: &Observed, config: &Config) -> Option<Observed> {
    let silent = settled_silence(observed, config)?;
    (silent >= config.return_hold.as_secs_f64()).then(|| Observed {
        alarm: AlarmState::InsufficientData,
        alarm_age_secs: Some(silent),
        ..observed.clone()
    })
}

/// How long the spill alarms in ALARM have rested on no data, as settled periods tell:
/// the silence read, from the last weight change at most (see [`on_no_data`]). `None` when
/// not read, or out of ALARM.
pub fn settled_silence(observed: &Observed, config: &Config) -> Option<f64> {
    let read = observed.alarm_silent_secs?;
    let settle = config.metric_settle.as_secs_f64();
    let silent = observed
        .marks
        .stepped_secs_ago
        .map_or(read, |stepped| read.min((stepped - settle).max(0.0)));
    (observed.alarm == AlarmState::Alarm).then_some(silent)
}

/// Why nothing steps up: the spill alarms are in ALARM, but each one's ALARM may rest on no
/// data (`breaching` or `ignore` on the app function's metric) and its metric has read no
/// datapoint over the threshold lately (since the last weight change at most). CloudWatch's
/// metrics arrive a minute or more after their period, so such an alarm is in ALARM on the
/// periods not received yet: right after a step down (Lambda's new share not reported yet),
/// or whenever Lambda's data come later than the alarm's evaluation range reaches. A spill
/// or a step up then would be undone by the next step down, again and again. A datapoint
/// over the threshold, even partial (it only grows), makes the ALARM real.
pub fn rests_on_no_data(observed: &Observed) -> Option<String> {
    (observed.alarm == AlarmState::Alarm && observed.alarm_breach_read == Some(false)).then(|| {
        let since = observed
            .marks
            .stepped_secs_ago
            .map(|ago| format!(" (the weights changed {ago:.0}s ago)"))
            .unwrap_or_default();
        format!(
            "the alarm is in ALARM but its metric has read nothing over its threshold lately{since}; its missing data is breaching or kept and CloudWatch's metrics come late, so the ALARM rests on no data: nothing steps up"
        )
    })
}

/// Why a return waits, and for how long at least.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub why: String,
    pub secs_left: f64,
}

/// Whether every spill alarm has been out of ALARM for the return hold.
pub fn calm(observed: &Observed, config: &Config) -> Result<(), Held> {
    debug_assert_ne!(observed.alarm, AlarmState::Alarm);
    waited(
        observed.alarm_age_secs,
        config.return_hold.as_secs_f64(),
        |age, hold| {
            format!(
                "alarm {}, out of ALARM for {age:.0}s of the {hold:.0}s return hold",
                observed.alarm
            )
        },
    )
}

/// Whether the warm alarms (if any) allow capacity to go.
pub fn warm_calm(observed: &Observed, config: &Config) -> Result<(), Held> {
    match observed.warm {
        None => Ok(()),
        Some(AlarmState::Alarm) => Err(Held {
            why: "a warm alarm is in ALARM".into(),
            secs_left: config.return_hold.as_secs_f64(),
        }),
        Some(state) => waited(
            observed.warm_age_secs,
            config.return_hold.as_secs_f64(),
            |age, hold| format!("warm alarm {state} for {age:.0}s of the {hold:.0}s return hold"),
        ),
    }
}

/// The minimum spill time and the settle time since the last weight change.
pub fn may_step_down(observed: &Observed, config: &Config) -> Result<(), Held> {
    waited(
        observed.marks.shifted_secs_ago,
        config.min_spill.as_secs_f64(),
        |age, min| format!("spilled {age:.0}s of the {min:.0}s minimum"),
    )?;
    waited(
        observed.marks.stepped_secs_ago,
        config.step_settle.as_secs_f64(),
        |age, settle| format!("last weight change {age:.0}s ago, settle time {settle:.0}s"),
    )
}

fn waited(age: Option<f64>, needed: f64, why: impl Fn(f64, f64) -> String) -> Result<(), Held> {
    match age {
        Some(age) if age < needed => Err(Held {
            why: why(age, needed),
            secs_left: needed - age,
        }),
        _ => Ok(()),
    }
}
