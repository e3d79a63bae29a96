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

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA: &str = "targetgroup/lambda/1";
    const ECS: &str = "targetgroup/ecs/2";

    fn metric(namespace: &str, name: &str, group: Option<&str>) -> MetricRef {
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
}
