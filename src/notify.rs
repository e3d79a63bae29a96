//! The event published on a spill, a return and a failure: a custom EventBridge event
//! (`source: spillover`) that a user routes with a rule to email, chat, a pager or a queue.
//!
//! EventBridge rather than an SNS topic: the default bus exists in every account, so
//! spillover needs no resource of its own and one `events:PutEvents` grant on that bus;
//! a rule can filter on any field (one service, failures only) and reach SNS (email),
//! Amazon Q Developer in chat applications (through SNS), SQS, Lambda or an API
//! destination, several at once. Pure: the event is a function of the summary.

use serde_json::{Value, json};

use crate::config::Config;
use crate::metrics::Figures;
use crate::report::{Effect, Summary};

/// The event's `source`.
pub const SOURCE: &str = "spillover";

/// One event to put on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub detail_type: &'static str,
    pub detail: Value,
    /// ARNs the event is about: the listener or rule, and the two target groups.
    pub resources: Vec<String>,
}

/// The `detail-type` of each effect that is announced.
pub fn detail_type(effect: Effect) -> Option<&'static str> {
    match effect {
        Effect::Spilled => Some("Spillover Traffic Spilled"),
        Effect::Returned => Some("Spillover Traffic Returned"),
        Effect::Failed => Some("Spillover Run Failed"),
        // A run that changed nothing, or capacity only, is not news; a rejected event
        // made no AWS call and must not make one.
        Effect::Scaled | Effect::NoOp | Effect::Rejected => None,
    }
}

/// The event for a run, or `None` when the run is not announced.
pub fn event(summary: &Summary, config: &Config) -> Option<Event> {
    let effect = summary.effect();
    let detail_type = detail_type(effect)?;
    let figures = Figures::of(summary);
    let before = summary
        .observed
        .as_ref()
        .map(|o| crate::decide::percent(o.weights));
    let reason = summary.plan.as_ref().map(|p| p.reason.clone());
    let error = summary.error.as_ref().map(ToString::to_string);
    let share = |p: Option<f64>| p.map_or("unknown".to_string(), |p| format!("{p:.0}%"));
    let failed_starts: Vec<_> = summary
        .actions
        .iter()
        .flat_map(|a| a.failed_starts.iter())
        .collect();
    let message = match effect {
        Effect::Spilled | Effect::Returned => format!(
            "{}: {} of traffic on ECS (was {}). {}",
            config.service,
            share(figures.ecs_share),
            share(before),
            reason.as_deref().unwrap_or_default()
        ),
        _ => format!(
            "{}: the run failed, {} of traffic on ECS. {}",
            config.service,
            share(figures.ecs_share),
            error.as_deref().unwrap_or_default()
        ),
    };
    // A start that failed while the run waited is news even when the spill went on.
    let message = match failed_starts.last() {
        Some(last) => format!(
            "{} {} task start(s) failed while the run waited, the last: {}.",
            message.trim_end(),
            failed_starts.len(),
            last.reason
        ),
        None => message,
    };
    let weights = summary.last_seen().map(|o| o.weights);
    let detail = json!({
        "effect": effect.name(),
        "message": message.trim_end(),
        "reason": reason,
        "error": error,
        "retryable": summary.retryable,
        "cluster": config.cluster,
        "service": config.service,
        "trigger": summary.trigger,
        "ecs_share_before": before,
        "ecs_share_after": figures.ecs_share,
        "weights": weights,
        "desired": figures.desired,
        "running": figures.running,
        "healthy": figures.healthy,
        "time_to_ready_ms": figures.time_to_ready_ms,
        "reaction_ms": figures.reaction_ms,
        "failed_starts": failed_starts,
        "actions": summary.actions,
        "durations_ms": summary.durations_ms,
    });
    Some(Event {
        detail_type,
        detail,
        resources: vec![
            config.site.arn().to_string(),
            config.lambda_target_group_arn.clone(),
            config.ecs_target_group_arn.clone(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::test_config;
    use crate::decide::Step;
    use crate::error::Error;
    use crate::observed::{AlarmState, Observed, Weights};
    use crate::report::{ActionRecord, Outcome};
    use crate::trigger::Trigger;

    fn seen(weights: Weights) -> Observed {
        Observed {
            alarm: AlarmState::Ok,
            alarm_age_secs: None,
            alarms_blind: false,
            warm: None,
            warm_age_secs: None,
            weights,
            desired: 2,
            running: 2,
            healthy: 2,
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

    fn moved(from: Weights, to: Weights) -> Summary {
        let mut s = Summary::new(Trigger::Tick { event_id: None });
        s.outcome = Outcome::Done;
        s.observed = Some(seen(from));
        s.final_state = Some(seen(to));
        s.actions = vec![ActionRecord {
            step: Step::SetWeights { from, to },
            started_at_ms: 10,
            duration_ms: 5,
            result: "ok",
            checks: None,
            errors: None,
            failed_starts: vec![],
        }];
        s
    }

    #[test]
    fn a_return_says_what_happened_and_the_numbers() {
        let on_ecs = Weights { lambda: 0, ecs: 1 };
        let event = event(&moved(on_ecs, Weights::ON_LAMBDA), &test_config()).unwrap();
        assert_eq!(event.detail_type, "Spillover Traffic Returned");
        let d = &event.detail;
        assert_eq!(d["effect"], "Returned");
        assert_eq!(
            (
                d["ecs_share_before"].as_f64(),
                d["ecs_share_after"].as_f64()
            ),
            (Some(100.0), Some(0.0))
        );
        assert_eq!(d["service"], "web-app");
        assert!(
            d["message"]
                .as_str()
                .unwrap()
                .starts_with("web-app: 0% of traffic on ECS (was 100%)"),
            "{d}"
        );
        assert_eq!(event.resources.len(), 3);
    }

    #[test]
    fn a_failure_is_announced_with_its_error() {
        let mut s = moved(Weights::ON_LAMBDA, Weights::ON_LAMBDA);
        s.actions.clear();
        s.fail(Error::NotReady {
            healthy: 0,
            min_healthy: 1,
        });
        let event = event(&s, &test_config()).unwrap();
        assert_eq!(event.detail_type, "Spillover Run Failed");
        assert_eq!(event.detail["retryable"], true);
        assert!(
            event.detail["error"]
                .as_str()
                .unwrap()
                .contains("SPILLOVER_MIN_HEALTHY")
        );
    }

    #[test]
    fn no_op_capacity_only_and_rejected_runs_are_not_announced() {
        let mut s = moved(Weights::ON_LAMBDA, Weights::ON_LAMBDA);
        s.actions.clear();
        assert_eq!(event(&s, &test_config()), None, "no-op");
        s.actions.push(ActionRecord {
            step: Step::ScaleIn { from: 2, to: 0 },
            started_at_ms: 1,
            duration_ms: 1,
            result: "ok",
            checks: None,
            errors: None,
            failed_starts: vec![],
        });
        assert_eq!(event(&s, &test_config()), None, "scale-in only");
        let rejected = Summary::rejected(Error::BadInput("x".into()));
        assert_eq!(event(&rejected, &test_config()), None);
    }
}
