//! Whether an alarm can see the split: does moving traffic to ECS change what it measures?
//!
//! An alarm on the app function's Lambda metrics (`ConcurrentExecutions`, `Invocations`,
//! `Throttles`, ...) or on the Lambda target group's requests alone watches the very traffic
//! a spill removes: every step back changes what it sees, so traffic steps back one step
//! at a time and the alarm gets the settle time to judge each. An alarm on demand that the
//! split cannot change (the recommended one: both target groups' `RequestCount`, or the
//! load balancer's) already said, for the whole return hold, that Lambda can take all of
//! it: then the return is one move, and the service is idle a settle time sooner.
//!
//! Anything this module cannot read (a composite alarm, a custom metric) counts as seeing
//! the split, the cautious side.
//!
//! One kind of alarm that sees the split can still foresee a step: the app function's
//! `ConcurrentExecutions` moves in proportion to Lambda's share, so its reading at one
//! split carries to the next ([`projectable`], [`carried`]). One kind of blind alarm says
//! how far over its threshold the demand is: requests in proportion, so only the excess
//! needs to move (`demand`: [`reads_demand`], [`excess_percent`]).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::settled::{Datapoint, is_settled};

/// One metric an alarm reads: its namespace, name and dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricRef {
    /// The value of one dimension (`TargetGroup` is `targetgroup/NAME/ID`).
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an alarm can see of the split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "sight", content = "why")]
pub enum Sight {
    /// It measures demand the split does not change.
    Blind,
    /// It measures traffic the split moves, or cannot be read: steps back one at a time.
    Sees(String),
}

/// What an alarm made of `metrics` sees, for the given target groups' dimension values.
/// `metrics` is `None` for a composite alarm.
pub fn sight(metrics: Option<&[MetricRef]>, lambda_tg: &str, ecs_tg: &str) -> Sight {
    let Some(metrics) = metrics.filter(|m| !m.is_empty()) else {
        return Sight::Sees("a composite alarm, or one without metrics".into());
    };
    let mut groups = Vec::new();
    for metric in metrics {
        match metric.namespace.as_str() {
            "AWS/Lambda" => {
                return Sight::Sees(format!(
                    "it watches AWS/Lambda {}, which a spill removes",
                    metric.name
                ));
            }
            "AWS/ApplicationELB" => {
                if let Some(group) = metric.dimension("TargetGroup") {
                    groups.push(group);
                }
            }
            other => {
                return Sight::Sees(format!("it watches {other} {}", metric.name));
            }
        }
    }
    // No target group at all: the load balancer's own metrics, the same whatever the
    // split. Both: demand over the two sides (the recommended metric math).
    let lambda = groups.contains(&lambda_tg);
    let ecs = groups.contains(&ecs_tg);
    if groups.is_empty() || (lambda && ecs) {
        Sight::Blind
    } else {
        Sight::Sees("it watches one side of the split's target groups".into())
    }
}

/// An alarm that sees the split, in a form whose reading can be carried to another split.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub metric: MetricRef,
    /// `Maximum` or `Average`.
    pub stat: String,
    pub threshold: f64,
}

/// Whether an alarm's reading can be carried to another split: a single metric (not metric
/// math) that is the app function's `ConcurrentExecutions`, under `Maximum` or `Average`,
/// alarming above a positive threshold. Lambda concurrency is request rate times duration
/// (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html>), so it moves in
/// proportion to Lambda's share of the traffic: what it reads at one split says what it
/// would read at the next. A sum (`Invocations`, `Sum`) would too, but only per period of
/// the alarm's own length; anything else (throttles, durations, custom metrics) does not
/// scale with the share, and its return stays judged by the alarm step by step.
pub fn projectable(
    metric: &MetricRef,
    stat: Option<&str>,
    comparison: Option<&str>,
    threshold: Option<f64>,
) -> Option<Projection> {
    let lambda_concurrency =
        metric.namespace == "AWS/Lambda" && metric.name == "ConcurrentExecutions";
    let stat = stat.filter(|s| matches!(*s, "Maximum" | "Average"))?;
    let threshold = above_threshold(comparison, threshold)?;
    lambda_concurrency.then(|| Projection {
        metric: metric.clone(),
        stat: stat.to_string(),
        threshold,
    })
}

/// The threshold of an alarm that fires above a positive one (`GreaterThan…`): the only
/// kind whose value over its threshold says how far over the alarm is.
fn above_threshold(comparison: Option<&str>, threshold: Option<f64>) -> Option<f64> {
    let above = matches!(
        comparison?,
        "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold"
    );
    threshold.filter(|t| above && *t > 0.0)
}

/// What a load measured with `from` percent of the traffic on ECS becomes at `to` percent:
/// Lambda's share is `100 - percent`. `None` when Lambda had no share to measure.
pub fn carried(load: f64, from: f64, to: f64) -> Option<f64> {
    let (share_from, share_to) = (100.0 - from, 100.0 - to);
    (share_from > 0.0).then(|| load * share_to / share_from)
}

/// What the alarms that see the split read on Lambda since the last weight change.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitReading {
    /// The highest value over its threshold among the alarms' periods that began at or
    /// after the change, settled or partial: a partial one is a lower bound, so one that
    /// would already cross the threshold at the next split holds the step for sure. `None`
    /// when there is no datapoint there.
    pub load: Option<f64>,
    /// Set when an alarm has no settled period since the change yet: how long until one
    /// surely has. A low reading of partial periods proves nothing, and the step back waits.
    pub settles_in: Option<Duration>,
}

/// The reading of `alarms` from `points` (`points[i]` the datapoints of `alarms[i]`'s metric
/// in periods of `period`) since `since`, with the periods that ended by `horizon` settled
/// (see [`super::settled`]). An alarm has a settled period since `since` when one of its
/// datapoints is in one, or when a whole period (wherever CloudWatch aligns it) surely lies
/// between `since` and the horizon: without a datapoint there, Lambda was not invoked, and
/// `ConcurrentExecutions` was 0.
/// <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html>
pub fn split_reading(
    alarms: &[Projection],
    points: &[Vec<Datapoint>],
    since: SystemTime,
    period: Duration,
    horizon: SystemTime,
) -> SplitReading {
    let surely_settled = since + period * 2;
    let mut load: Option<f64> = None;
    let mut covered = true;
    for (alarm, points) in alarms.iter().zip(points) {
        let points = points.iter().filter(|p| p.start >= since);
        let mut settled = false;
        for p in points {
            let value = p.value / alarm.threshold;
            load = Some(load.map_or(value, |l| l.max(value)));
            settled |= is_settled(p.start, period, horizon);
        }
        covered &= settled || surely_settled <= horizon;
    }
    SplitReading {
        load,
        settles_in: (!covered).then(|| surely_settled.duration_since(horizon).unwrap_or_default()),
    }
}

mod demand;
pub use demand::{
    DEMAND_PERIODS, DemandData, MathQuery, demand_ahead, demand_carried, demand_load,
    demand_load_at, excess_percent, reads_demand,
};

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const LAMBDA: &str = "targetgroup/lambda/1";
    pub(super) const ECS: &str = "targetgroup/ecs/2";

    pub(super) fn metric(namespace: &str, name: &str, group: Option<&str>) -> MetricRef {
        MetricRef {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: group
                .map(|g| ("TargetGroup".to_string(), g.to_string()))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn demand_over_both_target_groups_or_the_load_balancer_is_blind_to_the_split() {
        let both = [
            metric("AWS/ApplicationELB", "RequestCount", Some(LAMBDA)),
            metric("AWS/ApplicationELB", "RequestCount", Some(ECS)),
        ];
        assert_eq!(sight(Some(&both), LAMBDA, ECS), Sight::Blind);
        let load_balancer = [metric("AWS/ApplicationELB", "RequestCount", None)];
        assert_eq!(sight(Some(&load_balancer), LAMBDA, ECS), Sight::Blind);
    }

    #[test]
    fn lambda_metrics_one_target_group_custom_metrics_and_composites_see_it() {
        let table: [(Option<Vec<MetricRef>>, &str); 6] = [
            (
                Some(vec![metric("AWS/Lambda", "ConcurrentExecutions", None)]),
                "AWS/Lambda",
            ),
            (
                Some(vec![metric(
                    "AWS/ApplicationELB",
                    "RequestCount",
                    Some(LAMBDA),
                )]),
                "one side",
            ),
            (
                Some(vec![metric(
                    "AWS/ApplicationELB",
                    "RequestCount",
                    Some(ECS),
                )]),
                "one side",
            ),
            (
                Some(vec![
                    metric("AWS/ApplicationELB", "RequestCount", Some(LAMBDA)),
                    metric("AWS/ApplicationELB", "RequestCount", Some(ECS)),
                    metric("AWS/Lambda", "Throttles", None),
                ]),
                "AWS/Lambda",
            ),
            (Some(vec![metric("MyApp", "QueueDepth", None)]), "MyApp"),
            (None, "composite"),
        ];
        for (metrics, why) in table {
            match sight(metrics.as_deref(), LAMBDA, ECS) {
                Sight::Sees(text) => assert!(text.contains(why), "{text} / {why}"),
                Sight::Blind => panic!("{metrics:?} is not blind"),
            }
        }
        assert!(matches!(sight(Some(&[]), LAMBDA, ECS), Sight::Sees(_)));
    }

    #[test]
    fn only_lambda_concurrency_above_a_threshold_can_be_carried_to_another_split() {
        let concurrency = metric("AWS/Lambda", "ConcurrentExecutions", None);
        let above = Some("GreaterThanOrEqualToThreshold");
        let p = projectable(&concurrency, Some("Maximum"), above, Some(90.0)).unwrap();
        assert_eq!((p.stat.as_str(), p.threshold), ("Maximum", 90.0));
        let table = [
            (
                metric("AWS/Lambda", "Throttles", None),
                Some("Maximum"),
                above,
                Some(1.0),
            ),
            (
                metric("AWS/Lambda", "Invocations", None),
                Some("Sum"),
                above,
                Some(90.0),
            ),
            (concurrency.clone(), Some("p99"), above, Some(90.0)),
            (concurrency.clone(), None, above, Some(90.0)),
            (
                concurrency.clone(),
                Some("Maximum"),
                Some("LessThanThreshold"),
                Some(90.0),
            ),
            (concurrency.clone(), Some("Maximum"), above, Some(0.0)),
            (concurrency.clone(), Some("Maximum"), above, None),
        ];
        for (m, stat, comparison, threshold) in table {
            assert_eq!(
                projectable(&m, stat, comparison, threshold),
                None,
                "{m:?} {stat:?} {comparison:?} {threshold:?}"
            );
        }
    }

    #[test]
    fn a_step_back_reads_partial_periods_as_floors_and_needs_a_settled_one() {
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let point = |start: u64, value: f64| Datapoint {
            start: at(start),
            value,
        };
        let concurrency = metric("AWS/Lambda", "ConcurrentExecutions", None);
        let above = Some("GreaterThanOrEqualToThreshold");
        let alarm = projectable(&concurrency, Some("Maximum"), above, Some(90.0)).unwrap();
        let minute = Duration::from_secs(60);
        // The last weight change at 1_000; periods that ended by 1_500 have settled.
        let read = |points: Vec<Datapoint>| {
            split_reading(
                std::slice::from_ref(&alarm),
                &[points],
                at(1_000),
                minute,
                at(1_500),
            )
        };
        // A settled period since the change: the reading stands.
        let r = read(vec![point(1_380, 18.0), point(1_560, 9.0)]);
        assert_eq!((r.load, r.settles_in), (Some(0.2), None));
        // Only partial periods since it, low: no settled one yet. (The change itself, 1_000,
        // is long enough ago for a whole period to have settled since: so a datapoint-less
        // reading counts as settled there.)
        let r = split_reading(
            std::slice::from_ref(&alarm),
            &[vec![point(1_470, 9.0)]],
            at(1_400),
            minute,
            at(1_500),
        );
        assert_eq!(r.load, Some(0.1));
        assert_eq!(r.settles_in, Some(Duration::from_secs(20)));
        // The same change, and a datapoint in a period that has settled since it.
        let r = split_reading(
            std::slice::from_ref(&alarm),
            &[vec![point(1_420, 18.0), point(1_470, 9.0)]],
            at(1_400),
            minute,
            at(1_500),
        );
        assert_eq!((r.load, r.settles_in), (Some(0.2), None));
        // Partial and high: the reading holds the step whatever has settled.
        let r = read(vec![point(1_380, 18.0), point(1_560, 72.0)]);
        assert_eq!(r.load, Some(0.8));
        // Before the change: not read.
        let r = read(vec![point(900, 80.0), point(1_380, 18.0)]);
        assert_eq!(r.load, Some(0.2));
        // No datapoint at all, two periods since the change settled: Lambda was not invoked.
        let r = read(vec![]);
        assert_eq!((r.load, r.settles_in), (None, None));
    }

    #[test]
    fn a_load_is_carried_in_proportion_to_lambdas_share() {
        // 70 of a 90 threshold at 50 %: all of it on Lambda reads 140, 1.56 thresholds.
        let all = carried(70.0 / 90.0, 50.0, 0.0).unwrap();
        assert!((all - 140.0 / 90.0).abs() < 1e-9, "{all}");
        assert_eq!(carried(0.5, 75.0, 50.0), Some(1.0));
        assert_eq!(
            carried(0.5, 100.0, 50.0),
            None,
            "Lambda had nothing to measure"
        );
        assert_eq!(carried(0.0, 50.0, 0.0), Some(0.0));
    }
}
