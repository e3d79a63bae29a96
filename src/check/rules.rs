//! The checks: a pure function from what `check` read to the checklist.

use super::{Facts, Item, SiteFacts, Status};
use crate::aws::alarms::{AlarmInfo, MetricRef};
use crate::aws::ecs::registers_in;
use crate::aws::listener::{TargetGroupInfo, target_types_fit};
use crate::config::{Config, ForwardSite};
use crate::decide::sight::{Sight, sight};

use Status::{Fail, Ok as Pass, Warn};

/// How long a Fargate task takes from `RunTask` to RUNNING (scheduling, ENI, image pull),
/// an estimate: <https://aws.amazon.com/blogs/containers/under-the-hood-task-networking-for-amazon-ecs/>
/// and AWS's own guidance count tens of seconds, more for large images.
pub const TASK_START_SECS: f64 = 60.0;

/// ALB's defaults when a target group does not say: 30 s interval, 5 healthy checks
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>).
const DEFAULT_INTERVAL_SECS: i32 = 30;
const DEFAULT_HEALTHY_THRESHOLD: i32 = 5;

/// ALB's default deregistration delay; longer keeps the service up longer after each return.
const DEFAULT_DEREGISTRATION_DELAY_SECS: f64 = 300.0;

/// Stickiness longer than this keeps clients on ECS for long after a return.
const LONG_STICKINESS_SECS: u32 = 3600;

/// The whole checklist, in the order a user fixes things.
pub fn checklist(facts: &Facts, config: &Config) -> Vec<Item> {
    let mut items = vec![site(&facts.site, config)];
    items.extend(target_groups(facts, config));
    items.push(health_check(facts, config));
    items.push(deregistration_delay(facts));
    items.push(stickiness(&facts.site, config));
    items.extend(service(facts, config));
    items.push(auto_scaling(facts, config));
    items.extend(alarms(facts, config));
    items.push(way_up(facts, config));
    items.push(way_back(facts, config));
    items.push(timeout(facts, config));
    items
}

fn site(site: &Result<SiteFacts, String>, config: &Config) -> Item {
    let topic = match &config.site {
        ForwardSite::Listener(_) => "listener",
        ForwardSite::Rule(_) => "rule",
    };
    match site {
        Err(e) => Item::new(Fail, topic, e),
        Ok(s) if s.is_default_rule => Item::new(
            Fail,
            topic,
            crate::aws::listener::default_rule_refused(config.site.arn()),
        ),
        Ok(SiteFacts {
            forward: Err(e), ..
        }) => Item::new(Fail, topic, e),
        Ok(SiteFacts {
            forward: Ok((weights, _)),
            ..
        }) => Item::new(
            Pass,
            topic,
            format!("exists; its forward action lists both target groups ({weights})"),
        ),
    }
}

fn target_groups(facts: &Facts, config: &Config) -> Vec<Item> {
    let topic = "target groups";
    let mut items = Vec::new();
    match (&facts.lambda_tg, &facts.ecs_tg) {
        (Err(e), _) | (_, Err(e)) => items.push(Item::new(Fail, topic, e)),
        (Ok(lambda), Ok(ecs)) => items.push(
            match target_types_fit(&lambda.target_type, &ecs.target_type) {
                Ok(()) => Item::new(
                    Pass,
                    topic,
                    format!(
                        "the Lambda target group is of type lambda, the ECS one of type {}",
                        ecs.target_type
                    ),
                ),
                Err(e) => Item::new(Fail, topic, e),
            },
        ),
    }
    items.push(match &facts.lambda_targets {
        Err(e) => Item::new(Fail, "lambda function", e),
        Ok(targets) if targets.is_empty() => Item::new(
            Warn,
            "lambda function",
            "the Lambda target group has no function registered; register the app's function in it",
        ),
        Ok(targets) => Item::new(
            Pass,
            "lambda function",
            format!("the Lambda target group holds {}", targets.join(", ")),
        ),
    });
    if let Ok(service) = &facts.service {
        items.push(
            match registers_in(&service.target_groups, &config.ecs_target_group_arn) {
                Ok(()) => Item::new(
                    Pass,
                    "service target group",
                    "the ECS service registers its tasks in SPILLOVER_ECS_TARGET_GROUP_ARN",
                ),
                Err(e) => Item::new(Fail, "service target group", e),
            },
        );
    }
    items
}

/// Interval × healthy threshold, and the time from a scale-out to a healthy target.
pub fn time_to_healthy(ecs: &TargetGroupInfo) -> (i32, i32, f64) {
    let interval = ecs
        .health_check_interval_secs
        .unwrap_or(DEFAULT_INTERVAL_SECS);
    let threshold = ecs.healthy_threshold.unwrap_or(DEFAULT_HEALTHY_THRESHOLD);
    let checks = f64::from(interval) * f64::from(threshold);
    (interval, threshold, TASK_START_SECS + checks)
}

fn health_check(facts: &Facts, config: &Config) -> Item {
    let topic = "health check";
    let Ok(ecs) = &facts.ecs_tg else {
        return Item::new(
            Fail,
            topic,
            "the ECS target group could not be read (see above)",
        );
    };
    let (interval, threshold, healthy_after) = time_to_healthy(ecs);
    let budget = config.poll.budget.as_secs_f64();
    let what = format!(
        "{interval} s × {threshold} healthy checks: a new task is healthy about {healthy_after:.0} s after a scale-out (with ~{TASK_START_SECS:.0} s to start a Fargate task)"
    );
    if healthy_after > budget {
        Item::new(
            Fail,
            topic,
            format!(
                "{what}, longer than SPILLOVER_WAIT_BUDGET_SECS ({budget:.0} s): every spill would time out; \
                 shorten the interval or the threshold (e.g. 5 s × 2) or raise the budget"
            ),
        )
    } else if healthy_after > 0.75 * budget {
        Item::new(
            Warn,
            topic,
            format!(
                "{what}, close to SPILLOVER_WAIT_BUDGET_SECS ({budget:.0} s): a slow image pull times out; shorten the health check or raise the budget"
            ),
        )
    } else {
        Item::new(
            Pass,
            topic,
            format!("{what}, within SPILLOVER_WAIT_BUDGET_SECS ({budget:.0} s)"),
        )
    }
}

fn deregistration_delay(facts: &Facts) -> Item {
    let topic = "deregistration delay";
    let Ok(attributes) = &facts.ecs_tg_attributes else {
        return Item::new(
            Fail,
            topic,
            facts.ecs_tg_attributes.clone().err().unwrap_or_default(),
        );
    };
    let delay = attributes
        .get("deregistration_delay.timeout_seconds")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(DEFAULT_DEREGISTRATION_DELAY_SECS);
    if delay > DEFAULT_DEREGISTRATION_DELAY_SECS {
        Item::new(
            Warn,
            topic,
            format!(
                "{delay:.0} s: the scale-in waits this long after every return; lower deregistration_delay.timeout_seconds \
                 on the ECS target group to what the app's longest request needs"
            ),
        )
    } else {
        Item::new(
            Pass,
            topic,
            format!("{delay:.0} s: the scale-in waits this long after a return"),
        )
    }
}

fn stickiness(site: &Result<SiteFacts, String>, config: &Config) -> Item {
    let topic = "stickiness";
    let Ok(SiteFacts {
        forward: Ok((_, sticky)),
        ..
    }) = site
    else {
        return Item::new(Warn, topic, "unknown: the forward action could not be read");
    };
    // Each request refreshes the cookie: a client stays on ECS until it pauses this long.
    let max_wait = config.scale_in_max_wait.as_secs();
    let waits = format!(
        "after a return a sticky client stays on ECS until it pauses this long (each request renews its cookie); \
         the scale-in waits for this long without a request on ECS, at most SPILLOVER_SCALE_IN_MAX_WAIT_SECS ({max_wait} s) after the return"
    );
    match *sticky {
        0 => Item::new(Pass, topic, "off: each weight change moves clients at once"),
        s if s > LONG_STICKINESS_SECS => Item::new(
            Warn,
            topic,
            format!(
                "{s} s: {waits}; a duration of at most {LONG_STICKINESS_SECS} s returns sooner"
            ),
        ),
        s => Item::new(Pass, topic, format!("{s} s: {waits}")),
    }
}

fn service(facts: &Facts, config: &Config) -> Vec<Item> {
    let service = match &facts.service {
        Err(e) => return vec![Item::new(Fail, "service", e)],
        Ok(s) => s,
    };
    let mut items = vec![Item::new(
        Pass,
        "service",
        format!(
            "{} in {}: task definition {}, desired count {}",
            config.service, config.cluster, service.task_definition, service.desired
        ),
    )];
    items.push(if service.subnets.is_empty() {
        Item::new(
            Fail,
            "service network",
            "no awsvpcConfiguration subnets: Fargate tasks need the awsvpc network mode with subnets the ALB reaches",
        )
    } else {
        Item::new(
            Pass,
            "service network",
            format!("awsvpc in subnets {}", service.subnets.join(", ")),
        )
    });
    let on_fargate = service.launch_type == "FARGATE"
        || (!service.capacity_providers.is_empty()
            && service
                .capacity_providers
                .iter()
                .all(|c| c.starts_with("FARGATE")));
    items.push(if on_fargate {
        let how = if service.capacity_providers.is_empty() {
            "launch type FARGATE".to_string()
        } else {
            format!("capacity providers {}", service.capacity_providers.join(", "))
        };
        Item::new(Pass, "capacity", how)
    } else {
        let how = if service.capacity_providers.is_empty() {
            format!("launch type {:?}", service.launch_type)
        } else {
            format!("capacity providers {}", service.capacity_providers.join(", "))
        };
        Item::new(
            Warn,
            "capacity",
            format!(
                "{how}: a scale-out may wait for instances first; size SPILLOVER_WAIT_BUDGET_SECS for it, or use Fargate"
            ),
        )
    });
    items
}

fn auto_scaling(facts: &Facts, config: &Config) -> Item {
    let topic = "auto scaling";
    match &facts.scalable {
        Err(e) => Item::new(Fail, topic, e),
        Ok(None) => Item::new(
            Pass,
            topic,
            "not a scalable target: spillover sets the desired count",
        ),
        Ok(Some(s)) if (s.max as i64) < config.min_healthy as i64 => Item::new(
            Fail,
            topic,
            format!(
                "a scalable target with MaxCapacity {} below SPILLOVER_MIN_HEALTHY ({}): the service can never get the tasks a spill needs; raise MaxCapacity",
                s.max, config.min_healthy
            ),
        ),
        Ok(Some(s)) if s.max < config.spill_count => Item::new(
            Warn,
            topic,
            format!(
                "a scalable target with MaxCapacity {} below SPILLOVER_SPILL_COUNT ({}): spillover raises MinCapacity only to {}; raise MaxCapacity",
                s.max, config.spill_count, s.max
            ),
        ),
        Ok(Some(s)) => Item::new(
            Pass,
            topic,
            format!(
                "a scalable target (min {}, max {}): spillover raises MinCapacity to {} while spilled and never writes the desired count",
                s.min, s.max, config.spill_count
            ),
        ),
    }
}

fn alarms(facts: &Facts, config: &Config) -> Vec<Item> {
    let found = match &facts.alarms {
        Err(e) => return vec![Item::new(Fail, "alarms", e)],
        Ok(found) => found,
    };
    let functions: Vec<&str> = facts
        .lambda_targets
        .as_ref()
        .map(|t| t.iter().map(|arn| function_name(arn)).collect())
        .unwrap_or_default();
    let lambda_tg = target_group_dimension(&config.lambda_target_group_arn);
    let ecs_tg = target_group_dimension(&config.ecs_target_group_arn);
    let mut items = Vec::new();
    let configured = config
        .alarm_names
        .iter()
        .map(|n| (n, "SPILLOVER_ALARM_NAMES"))
        .chain(
            config
                .warm_alarm_names
                .iter()
                .map(|n| (n, "SPILLOVER_WARM_ALARM_NAMES")),
        );
    for (name, variable) in configured {
        let topic = format!("alarm {name}");
        let Some(alarm) = found.iter().find(|a| &a.name == name) else {
            items.push(Item::new(
                Fail,
                topic,
                format!("does not exist in CloudWatch; create it, or fix its name in {variable}"),
            ));
            continue;
        };
        if alarm.composite {
            items.push(Item::new(
                Pass,
                topic,
                "a composite alarm; the metric alarms in its rule are not checked here (list them in SPILLOVER_ALARM_NAMES to check them)",
            ));
            continue;
        }
        let removed = removed_metrics(alarm, &functions, &lambda_tg, &ecs_tg);
        let missing = alarm.treat_missing_data.as_deref().unwrap_or("missing");
        items.push(watches(alarm, &removed, missing, topic.clone()));
        items.push(missing_data(
            &removed,
            missing,
            alarm.projection.is_some(),
            format!("{topic} missing data"),
        ));
        items.push(late_data(alarm, format!("{topic} late data")));
    }
    items
}

/// Whether the alarm holds up when CloudWatch's newest minutes are late or partial, as they
/// are: a metric reaches CloudWatch a minute or more after its period, in batches ("data
/// points published within the last minute ... not fully aggregated",
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-live-data.html>),
/// and an alarm evaluates "the datapoints that are immediately available"
/// (<https://repost.aws/knowledge-center/cloudwatch-trigger-metric>). `FILL(m, 0)` gives a
/// minute that has not arrived yet the value 0, which then decides the alarm; with one
/// period evaluated, a minute that has arrived only in part decides it alone.
fn late_data(alarm: &AlarmInfo, topic: String) -> Item {
    let fills = alarm
        .expressions
        .iter()
        .any(|e| e.to_ascii_uppercase().contains("FILL("));
    let single = alarm.evaluation_periods == Some(1);
    let mut problems = Vec::new();
    if fills {
        problems.push(
            "its metric math uses FILL: a minute CloudWatch has not received yet reads as the fill value, \
             so the newest minute can hold the alarm OK through an overload or clear it in the middle; \
             drop FILL (metric math counts a missing series as 0 where another has a datapoint)",
        );
    }
    if single {
        problems.push(
            "it evaluates 1 period: a newest minute that CloudWatch has received only in part can clear it \
             in the middle of an overload; evaluate 1 of the last 2 (EvaluationPeriods 2, DatapointsToAlarm 1)",
        );
    }
    if problems.is_empty() {
        return Item::new(
            Pass,
            topic,
            "no FILL, and more than one period evaluated: a late or partial newest minute cannot decide it alone",
        );
    }
    Item::new(
        Warn,
        topic,
        format!("{} (see docs/choosing-the-alarm.md)", problems.join("; ")),
    )
}

/// The metrics of an alarm that the spill takes away, described; empty for a demand alarm.
///
/// A Lambda metric of the function behind the Lambda target group (or an account-wide one),
/// or the Lambda target group's own ELB metrics, fall when traffic moves to ECS. An alarm
/// that also watches the ECS target group or the whole load balancer measures demand.
pub fn removed_metrics(
    alarm: &AlarmInfo,
    functions: &[&str],
    lambda_tg: &str,
    ecs_tg: &str,
) -> Vec<String> {
    let sees_demand = alarm.metrics.iter().any(|m| {
        m.namespace == "AWS/ApplicationELB"
            && (m.dimension("TargetGroup") == Some(ecs_tg)
                || (m.dimension("TargetGroup").is_none() && m.dimension("LoadBalancer").is_some()))
    });
    if sees_demand {
        return Vec::new();
    }
    alarm
        .metrics
        .iter()
        .filter_map(|m| removed(m, functions, lambda_tg))
        .collect()
}

fn removed(m: &MetricRef, functions: &[&str], lambda_tg: &str) -> Option<String> {
    match m.namespace.as_str() {
        "AWS/Lambda" => {
            let function = m.dimension("FunctionName").or_else(|| {
                m.dimension("Resource")
                    .map(|r| r.split(':').next().unwrap_or(r))
            });
            match function {
                None if m.dimensions.is_empty() => {
                    Some(format!("the account-wide Lambda {}", m.name))
                }
                Some(f) if functions.is_empty() || functions.contains(&f) => {
                    Some(format!("Lambda {} of {f}", m.name))
                }
                _ => None,
            }
        }
        "AWS/ApplicationELB" if m.dimension("TargetGroup") == Some(lambda_tg) => {
            Some(format!("{} of the Lambda target group", m.name))
        }
        _ => None,
    }
}

fn watches(alarm: &AlarmInfo, removed: &[String], missing: &str, topic: String) -> Item {
    if removed.is_empty() {
        let metrics: Vec<String> = alarm
            .metrics
            .iter()
            .map(|m| format!("{} {}", m.namespace, m.name))
            .collect();
        return Item::new(
            Pass,
            topic,
            format!(
                "watches {}: demand, not a metric the spill removes",
                if metrics.is_empty() {
                    "no metric".into()
                } else {
                    metrics.join(", ")
                }
            ),
        );
    }
    let fix = "an alarm on demand is recommended: metric math over both target groups' RequestCount, or the load balancer's \
               (see docs/choosing-the-alarm.md)";
    let status = if missing == "missing" { Warn } else { Fail };
    Item::new(
        status,
        topic,
        format!(
            "watches {}, which the spill takes away: at Lambda weight 0 it falls to about 0; {fix}",
            removed.join(", ")
        ),
    )
}

/// What `TreatMissingData` means for the return. `readable`: spillover can read the
/// alarm's own metric (see [`crate::decide::sight::projectable`]), so it sees an ALARM that
/// rests on no data (see [`crate::decide::hold::on_no_data`]).
fn missing_data(removed: &[String], missing: &str, readable: bool, topic: String) -> Item {
    let on_removed = !removed.is_empty();
    match (missing, on_removed) {
        ("breaching" | "ignore", true) if readable => Item::new(
            Warn,
            topic,
            format!(
                "{missing}: while spilled the alarm stays in ALARM on no data; after SPILLOVER_RETURN_HOLD_SECS without a datapoint spillover steps back one step to let Lambda report again (missing, or a demand alarm, is better)"
            ),
        ),
        ("breaching", true) => Item::new(
            Fail,
            topic,
            "breaching: with no datapoints while spilled the alarm stays in ALARM and traffic never returns; use missing, or a demand alarm",
        ),
        ("breaching", false) => Item::new(
            Fail,
            topic,
            "breaching: a period without requests puts the alarm in ALARM and spills an idle app; use notBreaching",
        ),
        ("ignore", true) => Item::new(
            Fail,
            topic,
            "ignore: with no datapoints while spilled the alarm keeps its ALARM state and traffic never returns; use missing, or a demand alarm",
        ),
        ("notBreaching", true) => Item::new(
            Fail,
            topic,
            "notBreaching: a period after the spill the alarm goes OK with no datapoints, traffic returns and spills again (flapping); use missing, or a demand alarm",
        ),
        ("missing", true) => Item::new(
            Warn,
            topic,
            "missing: while spilled the alarm goes INSUFFICIENT_DATA; after SPILLOVER_RETURN_HOLD_SECS spillover steps back one step to let Lambda report again",
        ),
        ("missing", false) => Item::new(
            Pass,
            topic,
            "missing: with no requests the alarm goes INSUFFICIENT_DATA, which counts as out of ALARM after the return hold",
        ),
        (other, false) => Item::new(
            Pass,
            topic,
            format!("{other}: a period without requests does not spill"),
        ),
        (other, true) => Item::new(
            Warn,
            topic,
            format!("{other}: not a value CloudWatch documents"),
        ),
    }
}

/// Each spill alarm with what it sees of the split (the same rule as the run's, [`sight`]),
/// or the line to print when the alarms cannot be read or one does not exist.
fn spill_alarms<'a>(
    facts: &'a Facts,
    config: &Config,
    topic: &'static str,
) -> Result<Vec<(&'a AlarmInfo, Sight)>, Item> {
    let Ok(found) = &facts.alarms else {
        return Err(Item::new(
            Warn,
            topic,
            "unknown: the alarms could not be read",
        ));
    };
    let lambda_tg = target_group_dimension(&config.lambda_target_group_arn);
    let ecs_tg = target_group_dimension(&config.ecs_target_group_arn);
    config
        .alarm_names
        .iter()
        .map(|name| {
            let alarm = found.iter().find(|a| &a.name == name).ok_or_else(|| {
                Item::new(Warn, topic, format!("unknown: alarm {name} does not exist"))
            })?;
            let metrics = (!alarm.composite).then_some(alarm.metrics.as_slice());
            Ok((alarm, sight(metrics, &lambda_tg, &ecs_tg)))
        })
        .collect()
}

/// How far traffic moves while the alarm fires: all of it, the configured steps, or only
/// the excess when every spill alarm is blind to the split and reads the demand (the same
/// rule as the run's, [`crate::decide::sight::reads_demand`]).
fn way_up(facts: &Facts, config: &Config) -> Item {
    let topic = "spill";
    let steps: Vec<String> = config.steps.iter().map(u8::to_string).collect();
    if config.steps.len() == 1 {
        return Item::new(
            Pass,
            topic,
            format!("all or nothing: {}% on ECS (SPILLOVER_STEPS)", steps[0]),
        );
    }
    let alarms = match spill_alarms(facts, config, topic) {
        Ok(alarms) => alarms,
        Err(item) => return item,
    };
    let steps = steps.join(", ");
    let unread = alarms
        .iter()
        .find(|(alarm, sight)| *sight != Sight::Blind || alarm.demand.is_none());
    if let Some((alarm, _)) = unread {
        return Item::new(
            Pass,
            topic,
            format!(
                "one step per run while the alarm fires ({steps} % on ECS): alarm {} does not say how far over its threshold the demand is",
                alarm.name
            ),
        );
    }
    Item::new(
        Pass,
        topic,
        format!(
            "only the excess moves: every spill alarm reads the demand, and a step up ({steps} % on ECS) stops at the share Lambda should not carry"
        ),
    )
}

/// How traffic comes back: in one move when every spill alarm is blind to the split (the
/// same rule as the run's, [`sight`]), else one step per run, each foreseen when every
/// alarm that sees the split can be carried to the next one (`projectable`).
fn way_back(facts: &Facts, config: &Config) -> Item {
    let topic = "return";
    let alarms = match spill_alarms(facts, config, topic) {
        Ok(alarms) => alarms,
        Err(item) => return item,
    };
    let seeing: Vec<_> = alarms
        .into_iter()
        .filter_map(|(alarm, sight)| match sight {
            Sight::Sees(why) => Some((&alarm.name, why, alarm.projection.is_some())),
            Sight::Blind => None,
        })
        .collect();
    if let Some((name, why, _)) = seeing.first() {
        let foreseen = if seeing.iter().all(|(_, _, carried)| *carried) {
            "each step back waits until its ConcurrentExecutions would be under the threshold on the next split"
        } else {
            "each step back is judged by the alarm after it"
        };
        return Item::new(
            Pass,
            topic,
            format!(
                "step by step (SPILLOVER_STEPS, one step per run after the hold; {foreseen}): alarm {name} sees the split: {why}"
            ),
        );
    }
    Item::new(
        Pass,
        topic,
        "in one move after the hold: every spill alarm measures demand whatever the split",
    )
}

fn timeout(facts: &Facts, config: &Config) -> Item {
    let topic = "function timeout";
    let budget = config.poll.budget.as_secs_f64();
    let margin = config.poll.deadline_margin.as_secs_f64();
    let Some(timeout) = facts.function_timeout_secs else {
        return Item::new(
            Warn,
            topic,
            format!(
                "unknown: pass --timeout-secs with the controller function's Timeout (or set AWS_LAMBDA_FUNCTION_TIMEOUT) \
                 to compare it with SPILLOVER_WAIT_BUDGET_SECS ({budget:.0} s)"
            ),
        );
    };
    let usable = (timeout - margin).max(0.0);
    let wait = usable.min(budget);
    let healthy_after = facts.ecs_tg.as_ref().ok().map(|tg| time_to_healthy(tg).2);
    if let Some(healthy_after) = healthy_after.filter(|h| wait < *h) {
        return Item::new(
            Fail,
            topic,
            format!(
                "{timeout:.0} s leaves {wait:.0} s to wait (timeout less SPILLOVER_DEADLINE_MARGIN_MS, at most the budget), \
                 less than the ~{healthy_after:.0} s a new task needs to turn healthy; raise the function's Timeout"
            ),
        );
    }
    if usable < budget {
        return Item::new(
            Warn,
            topic,
            format!(
                "{timeout:.0} s cuts SPILLOVER_WAIT_BUDGET_SECS ({budget:.0} s) to {usable:.0} s (less the {margin:.0} s margin); \
                 set the budget to at most {usable:.0} s or raise the Timeout"
            ),
        );
    }
    Item::new(
        Pass,
        topic,
        format!(
            "{timeout:.0} s covers SPILLOVER_WAIT_BUDGET_SECS ({budget:.0} s) and the {margin:.0} s deadline margin"
        ),
    )
}

/// `NAME` from `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
fn function_name(arn: &str) -> &str {
    arn.split(':').nth(6).unwrap_or(arn)
}

/// `targetgroup/NAME/ID`, CloudWatch's `TargetGroup` dimension, from a target group ARN.
fn target_group_dimension(arn: &str) -> String {
    arn.splitn(6, ':').nth(5).unwrap_or_default().to_string()
}
