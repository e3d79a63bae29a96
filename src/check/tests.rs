//! One table of facts per rule: a healthy world gives every line ✓, and each fault its line.

use std::collections::HashMap;

use super::rules::checklist;
use super::*;
use crate::aws::alarms::{AlarmInfo, MetricRef};
use crate::aws::ecs::ServiceInfo;
use crate::aws::listener::TargetGroupInfo;
use crate::config::Config;
use crate::config::tests::test_config_with;
use crate::observed::{Scalable, Weights};

const LAMBDA_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1";
const ECS_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2";
const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:web-app";

fn config(extra: &[(&'static str, &str)]) -> Config {
    let mut vars = vec![("SPILLOVER_ALARM_NAMES", "demand")];
    vars.extend_from_slice(extra);
    test_config_with(&vars)
}

fn metric(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricRef {
    MetricRef {
        namespace: namespace.into(),
        name: name.into(),
        dimensions: dimensions
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

fn alarm(name: &str, metrics: Vec<MetricRef>, missing: Option<&str>) -> AlarmInfo {
    AlarmInfo {
        name: name.into(),
        composite: false,
        metrics,
        treat_missing_data: missing.map(String::from),
        projection: None,
        demand: None,
        expressions: vec![],
        evaluation_periods: None,
    }
}

/// The recommended demand alarm: RequestCount of both target groups.
fn demand() -> AlarmInfo {
    alarm(
        "demand",
        vec![
            metric(
                "AWS/ApplicationELB",
                "RequestCount",
                &[("TargetGroup", "targetgroup/lambda/1")],
            ),
            metric(
                "AWS/ApplicationELB",
                "RequestCount",
                &[("TargetGroup", "targetgroup/ecs/2")],
            ),
        ],
        Some("notBreaching"),
    )
}

fn target_group(arn: &str, target_type: &str) -> TargetGroupInfo {
    TargetGroupInfo {
        arn: arn.into(),
        target_type: target_type.into(),
        health_check_interval_secs: Some(10),
        healthy_threshold: Some(2),
    }
}

fn healthy() -> Facts {
    Facts {
        site: Ok(SiteFacts {
            is_default_rule: false,
            forward: Ok((Weights::ON_LAMBDA, 60)),
        }),
        lambda_tg: Ok(target_group(LAMBDA_TG, "lambda")),
        ecs_tg: Ok(target_group(ECS_TG, "ip")),
        ecs_tg_attributes: Ok(HashMap::from([(
            "deregistration_delay.timeout_seconds".to_string(),
            "30".to_string(),
        )])),
        lambda_targets: Ok(vec![FUNCTION.into()]),
        service: Ok(ServiceInfo {
            desired: 0,
            task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web-app:1".into(),
            subnets: vec!["subnet-1".into(), "subnet-2".into()],
            launch_type: "FARGATE".into(),
            capacity_providers: vec![],
            target_groups: vec![ECS_TG.into()],
        }),
        scalable: Ok(None),
        alarms: Ok(vec![demand()]),
        function_timeout_secs: Some(300.0),
    }
}

/// The one line of `topic`, as (status, message).
fn line(facts: &Facts, config: &Config, topic: &str) -> (Status, String) {
    let items = checklist(facts, config);
    let found: Vec<&Item> = items.iter().filter(|i| i.topic == topic).collect();
    assert_eq!(found.len(), 1, "one {topic:?} line in {items:#?}");
    (found[0].status, found[0].message.clone())
}

fn assert_line(facts: &Facts, config: &Config, topic: &str, status: Status, says: &str) {
    let (got, message) = line(facts, config, topic);
    assert_eq!(got, status, "{topic}: {message}");
    assert!(
        message.contains(says),
        "{topic}: {message:?} should say {says:?}"
    );
}

#[test]
fn a_healthy_world_is_all_ok_and_exits_0() {
    let items = checklist(&healthy(), &config(&[]));
    let not_ok: Vec<&Item> = items.iter().filter(|i| i.status != Status::Ok).collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(exit_code(&items), 0);
    assert!(
        render(&items).starts_with("✓ listener: exists"),
        "{}",
        render(&items)
    );
}

#[test]
fn the_exit_code_is_the_worst_line() {
    let item = |status| Item::new(status, "t", "m");
    assert_eq!(exit_code(&[item(Status::Ok), item(Status::Warn)]), 1);
    assert_eq!(exit_code(&[item(Status::Fail), item(Status::Warn)]), 2);
    assert_eq!(exit_code(&[]), 0);
}

#[test]
fn the_listener_or_rule_must_exist_not_be_a_default_rule_and_list_both_target_groups() {
    let cfg = config(&[]);
    let mut facts = healthy();
    facts.site = Err("listener x not found (check SPILLOVER_LISTENER_ARN)".into());
    assert_line(
        &facts,
        &cfg,
        "listener",
        Status::Fail,
        "check SPILLOVER_LISTENER_ARN",
    );

    facts.site = Ok(SiteFacts {
        is_default_rule: false,
        forward: Err(
            "the forward action does not list the target group of SPILLOVER_ECS_TARGET_GROUP_ARN"
                .into(),
        ),
    });
    assert_line(
        &facts,
        &cfg,
        "listener",
        Status::Fail,
        "SPILLOVER_ECS_TARGET_GROUP_ARN",
    );

    let rule = config(&[
        ("SPILLOVER_LISTENER_ARN", ""),
        (
            "SPILLOVER_RULE_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/2/3",
        ),
    ]);
    facts.site = Ok(SiteFacts {
        is_default_rule: true,
        forward: Ok((Weights::ON_LAMBDA, 0)),
    });
    assert_line(
        &facts,
        &rule,
        "rule",
        Status::Fail,
        "set SPILLOVER_LISTENER_ARN",
    );
}

#[test]
fn swapped_or_wrong_target_groups_fail() {
    let cfg = config(&[]);
    let mut facts = healthy();
    facts.lambda_tg = Ok(target_group(LAMBDA_TG, "ip"));
    facts.ecs_tg = Ok(target_group(ECS_TG, "lambda"));
    assert_line(&facts, &cfg, "target groups", Status::Fail, "are swapped");

    let mut facts = healthy();
    facts.ecs_tg = Ok(target_group(ECS_TG, "alb"));
    assert_line(
        &facts,
        &cfg,
        "target groups",
        Status::Fail,
        "SPILLOVER_ECS_TARGET_GROUP_ARN is a target group of type \"alb\"",
    );

    let mut facts = healthy();
    facts.lambda_tg =
        Err("target group x not found; check SPILLOVER_LAMBDA_TARGET_GROUP_ARN".into());
    assert_line(
        &facts,
        &cfg,
        "target groups",
        Status::Fail,
        "check SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
    );
}

#[test]
fn the_service_must_register_in_the_ecs_target_group() {
    let mut facts = healthy();
    if let Ok(s) = facts.service.as_mut() {
        s.target_groups = vec!["arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/old/9".into()];
    }
    assert_line(
        &facts,
        &config(&[]),
        "service target group",
        Status::Fail,
        "not in SPILLOVER_ECS_TARGET_GROUP_ARN",
    );
}

#[test]
fn an_empty_lambda_target_group_warns() {
    let mut facts = healthy();
    facts.lambda_targets = Ok(vec![]);
    assert_line(
        &facts,
        &config(&[]),
        "lambda function",
        Status::Warn,
        "no function registered",
    );
}

#[test]
fn the_time_to_healthy_is_checked_against_the_wait_budget() {
    let cfg = config(&[]);
    let with_check = |interval, threshold| {
        let mut facts = healthy();
        facts.ecs_tg = Ok(TargetGroupInfo {
            health_check_interval_secs: Some(interval),
            healthy_threshold: Some(threshold),
            ..target_group(ECS_TG, "ip")
        });
        facts
    };
    // 60 s to start + 10 × 2 = 80 s, within 240 s.
    assert_line(
        &with_check(10, 2),
        &cfg,
        "health check",
        Status::Ok,
        "healthy about 80 s after a scale-out",
    );
    // 60 + 30 × 5 = 210 s: more than three quarters of the budget.
    assert_line(
        &with_check(30, 5),
        &cfg,
        "health check",
        Status::Warn,
        "close to SPILLOVER_WAIT_BUDGET_SECS (240 s)",
    );
    // 60 + 60 × 4 = 300 s: every wait would time out.
    assert_line(
        &with_check(60, 4),
        &cfg,
        "health check",
        Status::Fail,
        "longer than SPILLOVER_WAIT_BUDGET_SECS (240 s)",
    );
    let longer = config(&[("SPILLOVER_WAIT_BUDGET_SECS", "600")]);
    assert_line(
        &with_check(60, 4),
        &longer,
        "health check",
        Status::Ok,
        "within",
    );
}

#[test]
fn a_long_deregistration_delay_or_stickiness_warns() {
    let cfg = config(&[]);
    let mut facts = healthy();
    facts.ecs_tg_attributes = Ok(HashMap::from([(
        "deregistration_delay.timeout_seconds".to_string(),
        "900".to_string(),
    )]));
    assert_line(&facts, &cfg, "deregistration delay", Status::Warn, "900 s");
    facts.ecs_tg_attributes = Ok(HashMap::new());
    assert_line(&facts, &cfg, "deregistration delay", Status::Ok, "300 s");

    let sticky = |secs| {
        let mut facts = healthy();
        facts.site = Ok(SiteFacts {
            is_default_rule: false,
            forward: Ok((Weights::ON_LAMBDA, secs)),
        });
        facts
    };
    assert_line(&sticky(0), &cfg, "stickiness", Status::Ok, "off");
    assert_line(&sticky(3600), &cfg, "stickiness", Status::Ok, "3600 s");
    assert_line(
        &sticky(60),
        &cfg,
        "stickiness",
        Status::Ok,
        "until it pauses this long",
    );
    assert_line(
        &sticky(60),
        &cfg,
        "stickiness",
        Status::Ok,
        "SPILLOVER_SCALE_IN_MAX_WAIT_SECS (1800 s)",
    );
    assert_line(&sticky(86400), &cfg, "stickiness", Status::Warn, "86400 s");
}

#[test]
fn the_service_needs_subnets_and_warns_off_fargate() {
    let cfg = config(&[]);
    let with = |f: &dyn Fn(&mut ServiceInfo)| {
        let mut facts = healthy();
        if let Ok(s) = facts.service.as_mut() {
            f(s);
        }
        facts
    };
    assert_line(
        &with(&|s| s.subnets.clear()),
        &cfg,
        "service network",
        Status::Fail,
        "awsvpc",
    );
    assert_line(
        &with(&|s| s.launch_type = "EC2".into()),
        &cfg,
        "capacity",
        Status::Warn,
        "launch type \"EC2\"",
    );
    let fargate_spot = with(&|s| {
        s.launch_type.clear();
        s.capacity_providers = vec!["FARGATE_SPOT".into(), "FARGATE".into()];
    });
    assert_line(
        &fargate_spot,
        &cfg,
        "capacity",
        Status::Ok,
        "FARGATE_SPOT, FARGATE",
    );
    let mut facts = healthy();
    facts.service = Err("ECS service \"web-app\" not found".into());
    assert_line(&facts, &cfg, "service", Status::Fail, "not found");
}

#[test]
fn a_scalable_target_is_checked_against_the_spill_count() {
    let with = |min, max| {
        let mut facts = healthy();
        facts.scalable = Ok(Some(Scalable { min, max }));
        facts
    };
    let cfg = config(&[
        ("SPILLOVER_SPILL_COUNT", "3"),
        ("SPILLOVER_MIN_HEALTHY", "2"),
    ]);
    assert_line(
        &with(1, 10),
        &cfg,
        "auto scaling",
        Status::Ok,
        "raises MinCapacity to 3",
    );
    assert_line(&with(1, 2), &cfg, "auto scaling", Status::Warn, "only to 2");
    assert_line(
        &with(0, 1),
        &cfg,
        "auto scaling",
        Status::Fail,
        "below SPILLOVER_MIN_HEALTHY (2)",
    );
}

#[test]
fn an_alarm_that_does_not_exist_fails_naming_its_variable() {
    let cfg = config(&[("SPILLOVER_WARM_ALARM_NAMES", "warm")]);
    assert_line(
        &healthy(),
        &cfg,
        "alarm warm",
        Status::Fail,
        "fix its name in SPILLOVER_WARM_ALARM_NAMES",
    );
}

#[test]
fn the_return_is_one_move_only_when_every_spill_alarm_is_blind_to_the_split() {
    let cfg = config(&[]);
    assert_line(&healthy(), &cfg, "return", Status::Ok, "in one move");
    let mut facts = healthy();
    facts.alarms = Ok(vec![alarm(
        "demand",
        vec![metric(
            "AWS/Lambda",
            "ConcurrentExecutions",
            &[("FunctionName", "web-app")],
        )],
        None,
    )]);
    assert_line(&facts, &cfg, "return", Status::Ok, "step by step");
    assert_line(&facts, &cfg, "return", Status::Ok, "ConcurrentExecutions");
    assert_line(
        &facts,
        &cfg,
        "return",
        Status::Ok,
        "judged by the alarm after it",
    );
    // The same alarm with a statistic, a comparison and a threshold: foreseen.
    if let Ok(alarms) = &mut facts.alarms {
        let concurrency = alarms[0].metrics[0].clone();
        alarms[0].projection = crate::decide::sight::projectable(
            &concurrency,
            Some("Maximum"),
            Some("GreaterThanOrEqualToThreshold"),
            Some(90.0),
        );
    }
    assert_line(
        &facts,
        &cfg,
        "return",
        Status::Ok,
        "would be under the threshold",
    );
    // A second spill alarm that sees the split makes the return stepwise too.
    let two = config(&[("SPILLOVER_ALARM_NAMES", "demand,lambda-side")]);
    let mut facts = healthy();
    facts.alarms = Ok(vec![
        demand(),
        alarm(
            "lambda-side",
            vec![metric(
                "AWS/ApplicationELB",
                "RequestCount",
                &[("TargetGroup", "targetgroup/lambda/1")],
            )],
            Some("notBreaching"),
        ),
    ]);
    assert_line(
        &facts,
        &two,
        "return",
        Status::Ok,
        "alarm lambda-side sees the split",
    );
    facts.alarms = Ok(vec![demand()]);
    assert_line(
        &facts,
        &two,
        "return",
        Status::Warn,
        "lambda-side does not exist",
    );
}

#[test]
fn an_alarm_on_a_metric_the_spill_removes_warns_or_fails_by_its_missing_data() {
    let cfg = config(&[]);
    let with = |a: AlarmInfo| {
        let mut facts = healthy();
        facts.alarms = Ok(vec![a]);
        facts
    };
    let concurrency = |missing| {
        alarm(
            "demand",
            vec![metric(
                "AWS/Lambda",
                "ConcurrentExecutions",
                &[("FunctionName", "web-app")],
            )],
            missing,
        )
    };
    // TreatMissingData missing (the default): supported through INSUFFICIENT_DATA.
    let facts = with(concurrency(None));
    assert_line(
        &facts,
        &cfg,
        "alarm demand",
        Status::Warn,
        "Lambda ConcurrentExecutions of web-app",
    );
    assert_line(
        &facts,
        &cfg,
        "alarm demand missing data",
        Status::Warn,
        "INSUFFICIENT_DATA",
    );
    for (missing, says) in [
        ("notBreaching", "flapping"),
        ("breaching", "never returns"),
        ("ignore", "never returns"),
    ] {
        let facts = with(concurrency(Some(missing)));
        assert_line(
            &facts,
            &cfg,
            "alarm demand",
            Status::Fail,
            "which the spill takes away",
        );
        assert_line(
            &facts,
            &cfg,
            "alarm demand missing data",
            Status::Fail,
            says,
        );
        // With the statistic, comparison and threshold spillover can read: it sees an
        // ALARM on no data, and steps back after the hold.
        let mut readable = concurrency(Some(missing));
        readable.projection = crate::decide::sight::projectable(
            &readable.metrics[0],
            Some("Maximum"),
            Some("GreaterThanOrEqualToThreshold"),
            Some(90.0),
        );
        let (status, says) = match missing {
            "notBreaching" => (Status::Fail, "flapping"),
            _ => (Status::Warn, "stays in ALARM on no data"),
        };
        assert_line(
            &with(readable),
            &cfg,
            "alarm demand missing data",
            status,
            says,
        );
    }
    // Metric math over the function's metric, by its alias; the Lambda target group alone;
    // the account-wide concurrency.
    for metrics in [
        vec![metric(
            "AWS/Lambda",
            "Throttles",
            &[("Resource", "web-app:live")],
        )],
        vec![metric(
            "AWS/ApplicationELB",
            "RequestCount",
            &[("TargetGroup", "targetgroup/lambda/1")],
        )],
        vec![metric("AWS/Lambda", "ConcurrentExecutions", &[])],
    ] {
        let facts = with(alarm("demand", metrics, Some("notBreaching")));
        assert_line(
            &facts,
            &cfg,
            "alarm demand",
            Status::Fail,
            "which the spill takes away",
        );
    }
    // Another function's metric, the load balancer's requests, both target groups: demand.
    for metrics in [
        vec![metric(
            "AWS/Lambda",
            "ConcurrentExecutions",
            &[("FunctionName", "other")],
        )],
        vec![metric(
            "AWS/ApplicationELB",
            "RequestCount",
            &[("LoadBalancer", "app/web/1")],
        )],
        demand().metrics,
    ] {
        let facts = with(alarm("demand", metrics, Some("notBreaching")));
        assert_line(&facts, &cfg, "alarm demand", Status::Ok, "demand");
        assert_line(
            &facts,
            &cfg,
            "alarm demand missing data",
            Status::Ok,
            "does not spill",
        );
    }
    // A demand alarm that breaches on missing data spills an idle app.
    let facts = with(alarm("demand", demand().metrics, Some("breaching")));
    assert_line(
        &facts,
        &cfg,
        "alarm demand missing data",
        Status::Fail,
        "spills an idle app",
    );
    // A composite alarm is named, not inspected.
    let facts = with(AlarmInfo {
        name: "demand".into(),
        composite: true,
        ..AlarmInfo::default()
    });
    assert_line(&facts, &cfg, "alarm demand", Status::Ok, "composite");
}

#[test]
fn the_function_timeout_is_checked_against_the_budget_and_the_time_to_healthy() {
    let with = |timeout| Facts {
        function_timeout_secs: timeout,
        ..healthy()
    };
    let cfg = config(&[]);
    assert_line(
        &with(None),
        &cfg,
        "function timeout",
        Status::Warn,
        "pass --timeout-secs",
    );
    // 240 s budget + 10 s margin.
    assert_line(
        &with(Some(250.0)),
        &cfg,
        "function timeout",
        Status::Ok,
        "covers",
    );
    assert_line(
        &with(Some(200.0)),
        &cfg,
        "function timeout",
        Status::Warn,
        "cuts SPILLOVER_WAIT_BUDGET_SECS (240 s) to 190 s",
    );
    // 60 s start + 10 s × 2 = 80 s to healthy; 60 s − 10 s leaves 50 s.
    assert_line(
        &with(Some(60.0)),
        &cfg,
        "function timeout",
        Status::Fail,
        "leaves 50 s to wait",
    );
}

#[test]
fn the_spill_moves_only_the_excess_when_every_alarm_reads_the_demand() {
    let cfg = config(&[]);
    // The recommended alarm, without a threshold: blind, but it does not say how far.
    assert_line(
        &healthy(),
        &cfg,
        "spill",
        Status::Ok,
        "does not say how far",
    );
    let mut facts = healthy();
    if let Ok(alarms) = &mut facts.alarms {
        alarms[0].demand = Some(crate::aws::alarms::Demand {
            queries: vec![],
            threshold: 90.0,
        });
    }
    assert_line(&facts, &cfg, "spill", Status::Ok, "only the excess moves");
    assert_line(
        &facts,
        &config(&[("SPILLOVER_STEPS", "100")]),
        "spill",
        Status::Ok,
        "all or nothing",
    );
    // A concurrency alarm sees the split: it cannot say.
    if let Ok(alarms) = &mut facts.alarms {
        alarms[0].metrics = vec![metric(
            "AWS/Lambda",
            "ConcurrentExecutions",
            &[("FunctionName", "web-app")],
        )];
    }
    assert_line(&facts, &cfg, "spill", Status::Ok, "does not say how far");
}

#[test]
fn an_alarm_that_a_late_or_partial_minute_can_decide_is_warned_about() {
    let cfg = config(&[]);
    let with = |expressions: &[&str], periods| Facts {
        alarms: Ok(vec![AlarmInfo {
            expressions: expressions.iter().map(|e| e.to_string()).collect(),
            evaluation_periods: periods,
            ..demand()
        }]),
        ..healthy()
    };
    let topic = "alarm demand late data";
    // The recommended alarm: no FILL, 1 of the last 2 minutes.
    assert_line(
        &with(&["(m1 + m2) * 0.5 / 60"], Some(2)),
        &cfg,
        topic,
        Status::Ok,
        "cannot decide it alone",
    );
    assert_line(
        &with(&["(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60"], Some(2)),
        &cfg,
        topic,
        Status::Warn,
        "drop FILL",
    );
    assert_line(
        &with(&["(m1 + fill(m2, 0))"], Some(2)),
        &cfg,
        topic,
        Status::Warn,
        "uses FILL",
    );
    assert_line(
        &with(&["(m1 + m2) * 0.5 / 60"], Some(1)),
        &cfg,
        topic,
        Status::Warn,
        "EvaluationPeriods 2, DatapointsToAlarm 1",
    );
    let (_, both) = line(&with(&["FILL(m1, 0)"], Some(1)), &cfg, topic);
    assert!(
        both.contains("drop FILL") && both.contains("evaluates 1 period"),
        "{both}"
    );
}
