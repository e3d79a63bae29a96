//! CloudWatch embedded metrics (EMF) for the per-invocation log line: CloudWatch Logs
//! turns the line into metrics as it ingests it, so they cost no API call and no IAM.
//!
//! Written by hand after the specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! the root holds `_aws` (`Timestamp` in epoch milliseconds, `CloudWatchMetrics`: one
//! directive with `Namespace`, `Dimensions` as an array of dimension sets of at most 30
//! keys, and `Metrics` of at most 100 `{Name, Unit}`), each dimension's value as a string
//! member and each metric's value as a number member. The crates that exist
//! (`metrics_cloudwatch_embedded`, on the `metrics` facade) keep a global recorder and
//! flush a document of their own: the metrics would not share the summary's line, and
//! the values, known only once the run is over, would pass through a global registry.
//! Here they are a pure function of the summary.

use serde_json::{Map, Value, json};

use crate::config::MetricsSettings;
use crate::decide::{Step, percent};
use crate::report::{Effect, Summary};

/// EMF: at most 30 dimension keys in a dimension set.
pub const MAX_DIMENSIONS: usize = 30;
/// EMF: at most 100 metrics in a directive.
pub const MAX_METRICS: usize = 100;

/// CloudWatch units the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Percent => "Percent",
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Every metric a line may carry, with its unit.
pub const METRICS: [(&str, Unit); 15] = [
    ("EcsTrafficShare", Unit::Percent),
    ("DesiredTasks", Unit::Count),
    ("RunningTasks", Unit::Count),
    ("HealthyTargets", Unit::Count),
    ("TimeToReady", Unit::Milliseconds),
    ("ReactionTime", Unit::Milliseconds),
    ("RunDuration", Unit::Milliseconds),
    ("AwsCalls", Unit::Count),
    ("AwsCallsRetried", Unit::Count),
    ("NotificationFailed", Unit::Count),
    ("Spilled", Unit::Count),
    ("Returned", Unit::Count),
    ("Scaled", Unit::Count),
    ("NoOp", Unit::Count),
    ("Failed", Unit::Count),
];

/// `Rejected` is counted too; kept apart so that `METRICS` lists the ones a run that
/// reached AWS may carry. (Both lists together are the line's metric names.)
const REJECTED: (&str, Unit) = ("Rejected", Unit::Count);

/// The figures of one run, as the metrics and the notification report them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Percent of traffic on ECS after the run (0..=100).
    pub ecs_share: Option<f64>,
    pub desired: Option<i32>,
    pub running: Option<u32>,
    pub healthy: Option<u32>,
    /// From the start of the scale-out to enough healthy targets, when both happened in
    /// this run.
    pub time_to_ready_ms: Option<u64>,
    /// From the moment the run knew the targets were healthy (the end of the wait, or of
    /// the observation when no wait was needed) to the weights moved toward ECS.
    pub reaction_ms: Option<u64>,
}

impl Figures {
    pub fn of(summary: &Summary) -> Figures {
        let seen = summary.last_seen();
        let ok = |pick: fn(&Step) -> bool| {
            summary
                .actions
                .iter()
                .find(|a| a.result == "ok" && pick(&a.step))
        };
        let scaled_out_at =
            ok(|s| matches!(s, Step::ScaleOut { .. } | Step::RaiseMinCapacity { .. }))
                .map(|a| a.started_at_ms);
        let ready_at = ok(|s| matches!(s, Step::WaitUntilReady { .. }))
            .map(|a| a.started_at_ms + a.duration_ms);
        let shifted_at =
            ok(|s| matches!(s, Step::SetWeights { from, to } if percent(*to) > percent(*from)))
                .map(|a| a.started_at_ms + a.duration_ms);
        Figures {
            ecs_share: seen.map(|o| percent(o.weights)),
            desired: seen.map(|o| o.desired),
            running: seen.map(|o| o.running),
            healthy: seen.map(|o| o.healthy),
            time_to_ready_ms: scaled_out_at
                .zip(ready_at)
                .map(|(from, to)| to.saturating_sub(from)),
            reaction_ms: shifted_at.map(|shifted| {
                shifted.saturating_sub(ready_at.unwrap_or(summary.durations_ms.observe))
            }),
        }
    }
}

/// Whether a name is already a member of the log line, so a dimension must not take it.
pub fn is_reserved(name: &str) -> bool {
    const LINE: [&str; 13] = [
        "outcome",
        "trigger",
        "observed",
        "plan",
        "actions",
        "final_state",
        "error",
        "retryable",
        "durations_ms",
        "aws_calls",
        "notification",
        "level",
        "timestamp",
    ];
    name == "_aws"
        || LINE.contains(&name)
        || METRICS.iter().chain([&REJECTED]).any(|(m, _)| *m == name)
}

/// The members EMF adds to the line: `_aws` and one member per dimension and per metric.
/// A metric whose value the run does not know (no observation, no wait) is left out.
pub fn emf(summary: &Summary, settings: &MetricsSettings, at_ms: u64) -> Map<String, Value> {
    let figures = Figures::of(summary);
    let effect = summary.effect();
    let calls = summary.aws_calls;
    let mut values: Vec<(&str, Unit, Option<f64>)> = vec![
        ("EcsTrafficShare", Unit::Percent, figures.ecs_share),
        ("DesiredTasks", Unit::Count, figures.desired.map(f64::from)),
        ("RunningTasks", Unit::Count, figures.running.map(f64::from)),
        (
            "HealthyTargets",
            Unit::Count,
            figures.healthy.map(f64::from),
        ),
        (
            "TimeToReady",
            Unit::Milliseconds,
            figures.time_to_ready_ms.map(|ms| ms as f64),
        ),
        (
            "ReactionTime",
            Unit::Milliseconds,
            figures.reaction_ms.map(|ms| ms as f64),
        ),
        (
            "RunDuration",
            Unit::Milliseconds,
            Some(summary.durations_ms.total as f64),
        ),
        (
            "AwsCalls",
            Unit::Count,
            Some(f64::from(calls.reads + calls.writes)),
        ),
        (
            "AwsCallsRetried",
            Unit::Count,
            Some(f64::from(calls.retried)),
        ),
        (
            "NotificationFailed",
            Unit::Count,
            summary
                .notification
                .as_ref()
                .map(|n| if n.published { 0.0 } else { 1.0 }),
        ),
    ];
    // Every outcome every time, 0 or 1: a Sum over any period counts the runs of each kind,
    // and an alarm on one of them sees 0, not missing data, when it does not happen.
    for kind in Effect::ALL {
        let one = if kind == effect { 1.0 } else { 0.0 };
        values.push((kind.name(), Unit::Count, Some(one)));
    }

    let mut root = Map::new();
    let mut definitions = Vec::new();
    for (name, unit, value) in values {
        if let Some(value) = value {
            definitions.push(json!({ "Name": name, "Unit": unit.as_str() }));
            root.insert(name.into(), json!(value));
        }
    }
    debug_assert!(definitions.len() <= MAX_METRICS);
    let mut dimension_set = Vec::new();
    for (name, value) in &settings.dimensions {
        dimension_set.push(Value::from(name.as_str()));
        root.insert(name.clone(), Value::from(value.as_str()));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": settings.namespace,
                "Dimensions": [dimension_set],
                "Metrics": definitions,
            }],
        }),
    );
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::test_config_with;
    use crate::decide::{Intent, Plan};
    use crate::error::Error;
    use crate::observed::{AlarmState, Observed, Weights};
    use crate::report::{ActionRecord, Outcome, log_line};
    use crate::trigger::Trigger;

    fn observed(weights: Weights, desired: i32, running: u32, healthy: u32) -> Observed {
        Observed {
            alarm: AlarmState::Alarm,
            alarm_age_secs: Some(1.0),
            alarms_blind: false,
            warm: None,
            warm_age_secs: None,
            weights,
            desired,
            running,
            healthy,
            sticky_secs: 0,
            scalable: None,
            marks: Default::default(),
            drain: None,
            split_load: None,
            split_settles_in_secs: None,
            demand_load: None,
            demand_unsettled: false,
            alarm_silent_secs: None,
            alarm_breach_read: None,
        }
    }

    fn action(step: Step, started_at_ms: u64, duration_ms: u64) -> ActionRecord {
        ActionRecord {
            step,
            started_at_ms,
            duration_ms,
            result: "ok",
            checks: None,
            errors: None,
            failed_starts: vec![],
        }
    }

    /// A spill as the controller reports it: scale-out at 40 ms, healthy at 5 040 ms,
    /// weights moved at 5 090 ms.
    fn spill() -> Summary {
        let mut s = Summary::new(Trigger::Tick { event_id: None });
        s.outcome = Outcome::Done;
        s.observed = Some(observed(Weights::ON_LAMBDA, 0, 0, 0));
        s.plan = Some(Plan {
            intent: Intent::Spill,
            reason: "alarm".into(),
            steps: vec![],
            return_after_secs: None,
            scale_in_after_secs: None,
            needs_drain_window_secs: None,
            awaits_breach: false,
        });
        s.actions = vec![
            action(Step::ScaleOut { from: 0, to: 2 }, 40, 10),
            action(Step::WaitUntilReady { min_healthy: 1 }, 50, 4_990),
            action(
                Step::SetWeights {
                    from: Weights::ON_LAMBDA,
                    to: Weights { lambda: 0, ecs: 1 },
                },
                5_040,
                50,
            ),
        ];
        s.durations_ms.observe = 40;
        s.durations_ms.total = 5_200;
        s.final_state = Some(observed(Weights { lambda: 0, ecs: 1 }, 2, 2, 2));
        s.aws_calls.reads = 12;
        s.aws_calls.writes = 3;
        s.aws_calls.retried = 1;
        s
    }

    fn settings() -> MetricsSettings {
        test_config_with(&[])
            .metrics
            .expect("metrics are on by default")
    }

    /// The structure the specification requires, checked on any line.
    fn assert_valid_emf(line: &Map<String, Value>) {
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].is_u64(), "Timestamp in epoch ms: {aws}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("an array");
        assert!(!directives.is_empty());
        for directive in directives {
            let namespace = directive["Namespace"].as_str().expect("a Namespace");
            assert!(!namespace.is_empty() && namespace.len() <= 255);
            let sets = directive["Dimensions"].as_array().expect("Dimensions");
            for set in sets {
                let keys = set.as_array().expect("a dimension set is an array");
                assert!(keys.len() <= MAX_DIMENSIONS);
                for key in keys {
                    let key = key.as_str().expect("dimension keys are strings");
                    assert!(line[key].is_string(), "dimension {key} has a string value");
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics");
            assert!(!metrics.is_empty() && metrics.len() <= MAX_METRICS);
            for metric in metrics {
                let name = metric["Name"].as_str().expect("a Name");
                assert!(metric["Unit"].is_string(), "{metric}");
                assert!(line[name].is_number(), "metric {name} has a number value");
            }
        }
    }

    fn emf_of(summary: &Summary) -> Map<String, Value> {
        emf(summary, &settings(), 1_700_000_000_000)
    }

    #[test]
    fn a_spill_carries_its_share_tasks_and_timings() {
        let line = emf_of(&spill());
        assert_valid_emf(&line);
        assert_eq!(line["EcsTrafficShare"], 100.0);
        assert_eq!(
            (
                &line["DesiredTasks"],
                &line["RunningTasks"],
                &line["HealthyTargets"]
            ),
            (&json!(2.0), &json!(2.0), &json!(2.0))
        );
        assert_eq!(line["TimeToReady"], 5_000.0, "scale-out start to ready");
        assert_eq!(line["ReactionTime"], 50.0, "ready to weights moved");
        assert_eq!(line["AwsCalls"], 15.0);
        assert_eq!(line["AwsCallsRetried"], 1.0);
        assert_eq!(line["Spilled"], 1.0);
        for other in ["Returned", "Scaled", "NoOp", "Failed", "Rejected"] {
            assert_eq!(line[other], 0.0, "{other}");
        }
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "spillover");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(line["Service"], "web-app");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }

    #[test]
    fn a_return_counts_as_returned_with_no_timings() {
        let mut s = spill();
        s.observed = Some(observed(Weights { lambda: 0, ecs: 1 }, 2, 2, 2));
        s.actions = vec![action(
            Step::SetWeights {
                from: Weights { lambda: 0, ecs: 1 },
                to: Weights::ON_LAMBDA,
            },
            30,
            20,
        )];
        s.final_state = Some(observed(Weights::ON_LAMBDA, 2, 2, 2));
        let line = emf_of(&s);
        assert_valid_emf(&line);
        assert_eq!(line["Returned"], 1.0);
        assert_eq!(line["Spilled"], 0.0);
        assert_eq!(line["EcsTrafficShare"], 0.0);
        assert!(!line.contains_key("TimeToReady"));
        assert!(!line.contains_key("ReactionTime"));
    }

    #[test]
    fn a_step_up_with_targets_already_healthy_reacts_from_the_observation() {
        let mut s = spill();
        s.observed = Some(observed(Weights { lambda: 1, ecs: 1 }, 2, 2, 2));
        s.actions = vec![action(
            Step::SetWeights {
                from: Weights { lambda: 1, ecs: 1 },
                to: Weights { lambda: 0, ecs: 1 },
            },
            40,
            25,
        )];
        let figures = Figures::of(&s);
        assert_eq!(figures.reaction_ms, Some(25));
        assert_eq!(figures.time_to_ready_ms, None);
        assert_eq!(s.effect(), Effect::Spilled);
    }

    #[test]
    fn a_scale_in_alone_is_scaled_and_a_failure_is_failed() {
        let mut s = spill();
        s.actions = vec![action(Step::ScaleIn { from: 2, to: 0 }, 10, 10)];
        assert_eq!(s.effect(), Effect::Scaled);
        s.fail(Error::NotReady {
            healthy: 0,
            min_healthy: 1,
        });
        assert_eq!(s.effect(), Effect::Failed);
        assert_eq!(emf_of(&s)["Failed"], 1.0);
        s.actions.clear();
        s.error = None;
        s.outcome = Outcome::NoOp;
        assert_eq!(s.effect(), Effect::NoOp);
    }

    #[test]
    fn a_rejected_event_has_a_line_with_only_what_it_knows() {
        let s = Summary::rejected(Error::BadInput("not an alarm event".into()));
        let line = emf_of(&s);
        assert_valid_emf(&line);
        assert_eq!(line["Rejected"], 1.0);
        assert_eq!(line["AwsCalls"], 0.0);
        assert!(
            !line.contains_key("EcsTrafficShare"),
            "nothing was observed"
        );
    }

    #[test]
    fn namespace_and_dimensions_come_from_the_config() {
        let config = test_config_with(&[
            ("SPILLOVER_METRICS_NAMESPACE", "acme/edge"),
            ("SPILLOVER_METRICS_DIMENSIONS", "Service=web, Stage=prod"),
        ]);
        let line = emf(&spill(), config.metrics.as_ref().unwrap(), 1);
        assert_valid_emf(&line);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "acme/edge");
        assert_eq!(directive["Dimensions"], json!([["Service", "Stage"]]));
        assert_eq!(
            (&line["Service"], &line["Stage"]),
            (&json!("web"), &json!("prod"))
        );
    }

    #[test]
    fn every_metric_name_is_known_and_unique() {
        let mut names: Vec<&str> = METRICS.iter().chain([&REJECTED]).map(|(n, _)| *n).collect();
        for kind in Effect::ALL {
            assert!(names.contains(&kind.name()), "{kind:?} is counted");
        }
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
        assert!(before <= MAX_METRICS);
        let line = emf_of(&spill());
        for key in line.keys().filter(|k| *k != "_aws" && *k != "Service") {
            assert!(
                names.contains(&key.as_str()),
                "{key} is not listed in METRICS"
            );
        }
    }

    #[test]
    fn the_log_line_has_a_level_a_timestamp_and_the_summary() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_763_838_884_123);
        let line = log_line(&spill(), Some(&settings()), at);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["timestamp"], "2025-11-22T19:14:44.123Z");
        assert_eq!(line["outcome"], "done");
        assert_eq!(line["_aws"]["Timestamp"], 1_763_838_884_123u64);
        assert_valid_emf(line.as_object().unwrap());

        let rejected = Summary::rejected(Error::BadInput("bad".into()));
        let line = log_line(&rejected, None, at);
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["outcome"], "rejected");
        assert!(line.get("_aws").is_none(), "metrics off");
    }
}
