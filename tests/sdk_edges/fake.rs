//! The fake AWS: `aws-smithy-mocks` rules that answer from a [`World`], and one run of
//! the controller against it.

use crate::world::*;
use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
use aws_sdk_applicationautoscaling::operation::register_scalable_target::RegisterScalableTargetOutput;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ScalableTarget, ServiceNamespace};
use aws_sdk_cloudwatch::operation::describe_alarm_history::DescribeAlarmHistoryOutput;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::{MetricAlarm, MetricDataResult, StateValue};
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::tag_resource::TagResourceOutput;
use aws_sdk_ecs::operation::untag_resource::UntagResourceOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{DesiredStatus, LoadBalancer, Service, Tag, Task};
use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_group_attributes::DescribeTargetGroupAttributesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerOutput;
use aws_sdk_elasticloadbalancingv2::operation::modify_rule::ModifyRuleOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    Listener, Rule as ListenerRule, TargetGroup, TargetGroupAttribute, TargetHealth,
    TargetHealthDescription, TargetHealthStateEnum,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use spillover::aws::Aws;
use spillover::config::Config;
use spillover::controller::Controller;
use spillover::report::Summary;
use spillover::trigger::Trigger;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The mock rules, kept so tests can count calls.
pub struct Fake {
    pub world: Shared,
    pub describe_alarms: Rule,
    pub describe_listeners: Rule,
    pub describe_rules: Rule,
    pub modify_listener: Rule,
    pub modify_rule: Rule,
    pub target_health: Rule,
    pub describe_services: Rule,
    pub list_tasks: Rule,
    pub describe_tasks: Rule,
    pub update_service: Rule,
    pub list_tags: Rule,
    pub tag_resource: Rule,
    pub untag_resource: Rule,
    pub describe_scalable_targets: Rule,
    pub register_scalable_target: Rule,
    pub get_metric_data: Rule,
    pub describe_alarm_history: Rule,
    pub target_group_attributes: Rule,
    pub describe_target_groups: Rule,
}

impl Fake {
    pub fn new(world: World) -> Self {
        let world = Arc::new(Mutex::new(world));
        let w = world.clone();
        let describe_alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .then_compute_output(move |_| {
                let w = w.lock().unwrap();
                let changed =
                    SystemTime::now() - std::time::Duration::from_secs(w.alarm_changed_secs_ago);
                let alarm = |name: &str, state: StateValue| {
                    MetricAlarm::builder()
                        .alarm_name(name)
                        .state_value(state)
                        .state_transitioned_timestamp(
                            aws_sdk_cloudwatch::primitives::DateTime::from(changed),
                        )
                };
                let spill = if w.demand.is_some() {
                    use aws_sdk_cloudwatch::types::ComparisonOperator;
                    requests_of_both_target_groups(alarm(ALARM, w.alarm.clone()))
                        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                        .threshold(90.0)
                } else if w.demand_alarm {
                    requests_of_both_target_groups(alarm(ALARM, w.alarm.clone()))
                } else if w.concurrency.is_some() {
                    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
                    alarm(ALARM, w.alarm.clone())
                        .namespace("AWS/Lambda")
                        .metric_name("ConcurrentExecutions")
                        .dimensions(
                            Dimension::builder()
                                .name("FunctionName")
                                .value("web-app")
                                .build(),
                        )
                        .statistic(Statistic::Maximum)
                        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                        .threshold(90.0)
                        .set_treat_missing_data(w.treat_missing.map(String::from))
                } else {
                    alarm(ALARM, w.alarm.clone())
                        .namespace("AWS/Lambda")
                        .metric_name("ConcurrentExecutions")
                };
                let mut out = DescribeAlarmsOutput::builder().metric_alarms(spill.build());
                if let Some(warm) = &w.warm {
                    out = out.metric_alarms(alarm(WARM_ALARM, warm.clone()).build());
                }
                out.build()
            });
        let w = world.clone();
        let describe_listeners = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
            .match_requests(|r| r.listener_arns() == [LISTENER])
            .then_compute_output(move |_| {
                let mut w = w.lock().unwrap();
                w.listener_reads += 1;
                if let Some((read, ecs)) = w.ecs_weight_on_read
                    && read == w.listener_reads
                {
                    w.weights.1 = ecs;
                }
                let listener = Listener::builder()
                    .listener_arn(LISTENER)
                    .default_actions(w.forward_action())
                    .build();
                DescribeListenersOutput::builder()
                    .listeners(listener)
                    .build()
            });
        let w = world.clone();
        let describe_rules = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_rules)
            .match_requests(|r| r.rule_arns() == [RULE])
            .then_compute_output(move |_| {
                let w = w.lock().unwrap();
                let rule = ListenerRule::builder()
                    .rule_arn(RULE)
                    .is_default(w.default_rule)
                    .actions(w.forward_action())
                    .build();
                DescribeRulesOutput::builder().rules(rule).build()
            });
        let w = world.clone();
        let modify_listener = mock!(aws_sdk_elasticloadbalancingv2::Client::modify_listener)
            .match_requests(|r| r.listener_arn() == Some(LISTENER))
            .then_compute_output(move |r| {
                let mut w = w.lock().unwrap();
                if w.lying_write {
                    // Answers, as AWS does, with the listener: here, still as it was.
                    let listener = Listener::builder()
                        .listener_arn(LISTENER)
                        .default_actions(w.forward_action())
                        .build();
                    return ModifyListenerOutput::builder().listeners(listener).build();
                }
                w.write_actions("weights", r.default_actions());
                ModifyListenerOutput::builder().build()
            });
        let w = world.clone();
        let modify_rule = mock!(aws_sdk_elasticloadbalancingv2::Client::modify_rule)
            .match_requests(|r| r.rule_arn() == Some(RULE))
            .then_compute_output(move |r| {
                w.lock().unwrap().write_actions("rule weights", r.actions());
                ModifyRuleOutput::builder().build()
            });
        let w = world.clone();
        let target_health = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
            .match_requests(|r| r.target_group_arn() == Some(ECS_TG))
            .then_compute_output(move |_| {
                let mut w = w.lock().unwrap();
                w.checks_since_scale_out += 1;
                if w.alarm_clears_after_checks
                    .is_some_and(|n| w.checks_since_scale_out >= n)
                {
                    w.alarm = StateValue::Ok;
                }
                let healthy = (0..w.healthy()).map(|i| {
                    TargetHealthDescription::builder()
                        .target_health(
                            TargetHealth::builder()
                                .state(TargetHealthStateEnum::Healthy)
                                .build(),
                        )
                        .health_check_port(format!("{}", 8080 + i))
                        .build()
                });
                DescribeTargetHealthOutput::builder()
                    .set_target_health_descriptions(Some(healthy.collect()))
                    .build()
            });
        let w = world.clone();
        let describe_services =
            mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |_| {
                let w = w.lock().unwrap();
                let load_balancers = w.service_target_groups.iter().map(|tg| {
                    LoadBalancer::builder()
                        .target_group_arn(*tg)
                        .container_name("app")
                        .container_port(8080)
                        .build()
                });
                let service = Service::builder()
                    .service_name("web-app")
                    .service_arn(SERVICE_ARN)
                    .status("ACTIVE")
                    .desired_count(w.desired)
                    .running_count(w.running())
                    .set_load_balancers(Some(load_balancers.collect()))
                    .build();
                DescribeServicesOutput::builder().services(service).build()
            });
        let w = world.clone();
        let list_tasks = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |r| {
            let mut w = w.lock().unwrap();
            let stopped = r.desired_status() == Some(&DesiredStatus::Stopped);
            if !stopped {
                w.running_task_lists += 1;
            }
            let replaced = w.fail_starts.is_some_and(|n| w.failed >= n);
            let arns: Vec<String> = match (&w.fail_reason, stopped) {
                (Some(_), true) => {
                    if !replaced {
                        w.failed += 1;
                    }
                    (1..=w.failed).map(|i| format!("task/failed-{i}")).collect()
                }
                (Some(_), false) if !replaced => vec![],
                (_, false) => (0..w.desired).map(|i| format!("task/{i}")).collect(),
                (None, true) => vec![],
            };
            ListTasksOutput::builder().set_task_arns(Some(arns)).build()
        });
        let w = world.clone();
        let describe_tasks =
            mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |r| {
                let w = w.lock().unwrap();
                let running = w.healthy() > 0;
                let tasks = r.tasks().iter().map(|arn| {
                    let task = Task::builder().task_arn(arn).group("service:web-app");
                    match w
                        .fail_reason
                        .as_ref()
                        .filter(|_| arn.starts_with("task/failed"))
                    {
                        Some(reason) => task
                            .last_status("STOPPED")
                            .stopped_reason(reason)
                            .stop_code(w.fail_stop_code.clone())
                            .stopped_at(aws_sdk_ecs::primitives::DateTime::from(SystemTime::now()))
                            .build(),
                        None => task
                            .last_status(if running { "RUNNING" } else { "PENDING" })
                            .build(),
                    }
                });
                DescribeTasksOutput::builder()
                    .set_tasks(Some(tasks.collect()))
                    .build()
            });
        let w = world.clone();
        let update_service =
            mock!(aws_sdk_ecs::Client::update_service).then_compute_output(move |r| {
                let mut w = w.lock().unwrap();
                w.desired = r.desired_count().expect("desired count set");
                w.checks_since_scale_out = 0;
                let desired = w.desired;
                w.writes.push(format!("desired={desired}"));
                UpdateServiceOutput::builder().build()
            });
        let w = world.clone();
        let list_tags = mock!(aws_sdk_ecs::Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(SERVICE_ARN))
            .then_compute_output(move |_| {
                let tags = w.lock().unwrap().tags.clone();
                ListTagsForResourceOutput::builder()
                    .set_tags(Some(
                        tags.into_iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .build()
            });
        let w = world.clone();
        let tag_resource = mock!(aws_sdk_ecs::Client::tag_resource)
            .match_requests(|r| r.resource_arn() == Some(SERVICE_ARN))
            .then_compute_output(move |r| {
                let mut w = w.lock().unwrap();
                let mut keys = Vec::new();
                for tag in r.tags() {
                    let key = tag.key().unwrap().to_string();
                    w.tags.insert(key.clone(), tag.value().unwrap().to_string());
                    keys.push(key);
                }
                w.writes.push(format!("tag {}", keys.join(",")));
                TagResourceOutput::builder().build()
            });
        let w = world.clone();
        let untag_resource = mock!(aws_sdk_ecs::Client::untag_resource)
            .match_requests(|r| r.resource_arn() == Some(SERVICE_ARN))
            .then_compute_output(move |r| {
                let mut w = w.lock().unwrap();
                for key in r.tag_keys() {
                    w.tags.remove(key);
                }
                w.writes.push(format!("untag {}", r.tag_keys().join(",")));
                UntagResourceOutput::builder().build()
            });
        let w = world.clone();
        let describe_scalable_targets =
            mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
                .match_requests(|r| {
                    r.service_namespace() == Some(&ServiceNamespace::Ecs)
                        && r.resource_ids() == [RESOURCE_ID]
                        && r.scalable_dimension()
                            == Some(&ScalableDimension::EcsServiceDesiredCount)
                })
                .then_compute_output(move |_| {
                    let targets = w.lock().unwrap().scalable.map(|(min, max)| {
                        ScalableTarget::builder()
                            .service_namespace(ServiceNamespace::Ecs)
                            .resource_id(RESOURCE_ID)
                            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                            .min_capacity(min)
                            .max_capacity(max)
                            .role_arn("arn:aws:iam::123456789012:role/aas")
                            .creation_time(
                                aws_sdk_applicationautoscaling::primitives::DateTime::from_secs(0),
                            )
                            .build()
                            .unwrap()
                    });
                    DescribeScalableTargetsOutput::builder()
                        .set_scalable_targets(Some(targets.into_iter().collect()))
                        .build()
                });
        let w = world.clone();
        let register_scalable_target =
            mock!(aws_sdk_applicationautoscaling::Client::register_scalable_target)
                .match_requests(|r| {
                    r.resource_id() == Some(RESOURCE_ID)
                        && r.max_capacity().is_none()
                        && r.role_arn().is_none()
                })
                .then_compute_output(move |r| {
                    let mut w = w.lock().unwrap();
                    let min = r.min_capacity().expect("min capacity set");
                    let (_, max) = w.scalable.expect("a scalable target");
                    w.scalable = Some((min, max));
                    // Application Auto Scaling moves the capacity into the new range.
                    w.desired = w.desired.clamp(min, max);
                    w.writes.push(format!("min capacity={min}"));
                    RegisterScalableTargetOutput::builder().build()
                });
        let w = world.clone();
        let get_metric_data = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .then_compute_output(move |r| {
                let mut w = w.lock().unwrap();
                let window = r.end_time().unwrap().secs() - r.start_time().unwrap().secs();
                let queries = r.metric_data_queries();
                if let Some(evaluated) = queries.iter().find(|q| q.expression().is_some()) {
                    // The demand alarm's own metric math, as it is.
                    let ids: Vec<&str> = queries.iter().filter_map(|q| q.id()).collect();
                    w.metric_queries.push(format!(
                        "{} ids={} window={window}",
                        evaluated.expression().unwrap(),
                        ids.join(",")
                    ));
                    // One 60 s period each, oldest first: the settled ones, the newest of
                    // them ended 181 s ago, then the partial ones, the newest still being
                    // filled; newest first in the answer (CloudWatch's default order).
                    let end = r.end_time().unwrap().secs();
                    let settled = w.demand.clone().unwrap_or_default();
                    let partial = w.demand_partial.clone();
                    let n = settled.len() as i64;
                    let p = partial.len() as i64;
                    let mut stamps: Vec<_> = (0..n)
                        .map(|i| end - 181 - 60 * (n - i))
                        .chain((0..p).map(|i| end - 30 - 60 * (p - 1 - i)))
                        .map(aws_sdk_cloudwatch::primitives::DateTime::from_secs)
                        .collect();
                    let mut values = settled;
                    values.extend(partial);
                    values.reverse();
                    stamps.reverse();
                    return GetMetricDataOutput::builder()
                        .metric_data_results(
                            MetricDataResult::builder()
                                .id(evaluated.id().unwrap())
                                .set_timestamps(Some(stamps))
                                .set_values(Some(values))
                                .build(),
                        )
                        .build();
                }
                let query = &queries[0];
                let stat = query.metric_stat().unwrap();
                let metric = stat.metric().unwrap();
                let dims: Vec<String> = metric
                    .dimensions()
                    .iter()
                    .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
                    .collect();
                w.metric_queries.push(format!(
                    "{} {} {} {} period={} window={window}",
                    metric.namespace().unwrap(),
                    metric.metric_name().unwrap(),
                    dims.join(","),
                    stat.stat().unwrap(),
                    stat.period().unwrap(),
                ));
                if metric.metric_name() == Some("ConcurrentExecutions") {
                    // The periods that began inside the query's range.
                    let (start, end) =
                        (r.start_time().unwrap().secs(), r.end_time().unwrap().secs());
                    let reads = w
                        .metric_queries
                        .iter()
                        .filter(|q| q.contains("ConcurrentExecutions"))
                        .count();
                    let arrived = w
                        .concurrency_late
                        .iter()
                        .filter(|(from, _, _)| reads >= *from)
                        .map(|&(_, ago, value)| (ago, value));
                    let (stamps, values): (Vec<_>, Vec<_>) = w
                        .concurrency
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .chain(arrived)
                        .map(|(ago, value)| (end - ago as i64, value))
                        .filter(|(at, _)| *at >= start && *at < end)
                        .map(|(at, value)| {
                            (
                                aws_sdk_cloudwatch::primitives::DateTime::from_secs(at),
                                value,
                            )
                        })
                        .unzip();
                    return GetMetricDataOutput::builder()
                        .metric_data_results(
                            MetricDataResult::builder()
                                .id(query.id().unwrap())
                                .set_timestamps(Some(stamps))
                                .set_values(Some(values))
                                .build(),
                        )
                        .build();
                }
                GetMetricDataOutput::builder()
                    .metric_data_results(
                        MetricDataResult::builder()
                            .id(query.id().unwrap())
                            .set_values(Some(w.request_counts.clone()))
                            .build(),
                    )
                    .build()
            });
        let w = world.clone();
        let describe_alarm_history = mock!(aws_sdk_cloudwatch::Client::describe_alarm_history)
            .then_compute_output(move |r| {
                use aws_sdk_cloudwatch::types::{AlarmHistoryItem, HistoryItemType};
                let mut w = w.lock().unwrap();
                assert_eq!(r.history_item_type(), Some(&HistoryItemType::StateUpdate));
                let now = SystemTime::now();
                let start = SystemTime::try_from(*r.start_date().unwrap()).unwrap();
                let start_secs_ago = now.duration_since(start).unwrap().as_secs_f64().round();
                w.history_queries.push(format!(
                    "{} since {start_secs_ago}s",
                    r.alarm_name().unwrap()
                ));
                let history = w.alarm_history.clone().unwrap_or_else(|| {
                    vec![(w.alarm_changed_secs_ago, "ALARM", w.alarm.as_str())]
                });
                let items = history
                    .into_iter()
                    .map(|(secs_ago, from, to)| (now - std::time::Duration::from_secs(secs_ago), from, to))
                    .filter(|(at, _, _)| *at >= start)
                    .map(|(at, from, to)| {
                        AlarmHistoryItem::builder()
                            .alarm_name(ALARM)
                            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(at))
                            .history_item_type(HistoryItemType::StateUpdate)
                            .history_summary(format!("Alarm updated from {from} to {to}"))
                            .history_data(format!(
                                r#"{{"version":"1.0","oldState":{{"stateValue":"{from}"}},"newState":{{"stateValue":"{to}"}}}}"#
                            ))
                            .build()
                    });
                DescribeAlarmHistoryOutput::builder()
                    .set_alarm_history_items(Some(items.collect()))
                    .build()
            });
        let w = world.clone();
        let target_group_attributes =
            mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_group_attributes)
                .match_requests(|r| r.target_group_arn() == Some(ECS_TG))
                .then_compute_output(move |_| {
                    DescribeTargetGroupAttributesOutput::builder()
                        .attributes(
                            TargetGroupAttribute::builder()
                                .key("deregistration_delay.timeout_seconds")
                                .value(w.lock().unwrap().deregistration_delay)
                                .build(),
                        )
                        .build()
                });
        let w = world.clone();
        let describe_target_groups =
            mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
                .then_compute_output(move |r| {
                    let w = w.lock().unwrap();
                    let found = r.target_group_arns().iter().filter_map(|arn| {
                        let target_type = match arn.as_str() {
                            LAMBDA_TG => w.target_types.0.clone(),
                            ECS_TG => w.target_types.1.clone(),
                            _ => return None,
                        };
                        Some(
                            TargetGroup::builder()
                                .target_group_arn(arn)
                                .target_type(target_type)
                                .build(),
                        )
                    });
                    DescribeTargetGroupsOutput::builder()
                        .set_target_groups(Some(found.collect()))
                        .build()
                });
        Fake {
            world,
            describe_alarms,
            describe_listeners,
            describe_rules,
            modify_listener,
            modify_rule,
            target_health,
            describe_services,
            list_tasks,
            describe_tasks,
            update_service,
            list_tags,
            tag_resource,
            untag_resource,
            describe_scalable_targets,
            register_scalable_target,
            get_metric_data,
            describe_alarm_history,
            target_group_attributes,
            describe_target_groups,
        }
    }

    pub fn controller(&self, extra: &[(&'static str, &str)]) -> Controller {
        self.controller_with_metric_data(extra, &self.get_metric_data)
    }

    /// The controller with another answer to `GetMetricData`.
    pub fn controller_with_metric_data(
        &self,
        extra: &[(&'static str, &str)],
        get_metric_data: &Rule,
    ) -> Controller {
        self.controller_with_reads(extra, get_metric_data, &self.describe_alarm_history)
    }

    /// The controller with other answers to `GetMetricData` and `DescribeAlarmHistory`.
    pub fn controller_with_reads(
        &self,
        extra: &[(&'static str, &str)],
        get_metric_data: &Rule,
        describe_alarm_history: &Rule,
    ) -> Controller {
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("SPILLOVER_CLUSTER", "web-app".into()),
            ("SPILLOVER_SERVICE", "web-app".into()),
            ("SPILLOVER_LISTENER_ARN", LISTENER.into()),
            ("SPILLOVER_LAMBDA_TARGET_GROUP_ARN", LAMBDA_TG.into()),
            ("SPILLOVER_ECS_TARGET_GROUP_ARN", ECS_TG.into()),
            ("SPILLOVER_ALARM_NAMES", ALARM.into()),
            ("SPILLOVER_POLL_INTERVAL_MS", "5".into()),
            ("SPILLOVER_POLL_MAX_INTERVAL_MS", "20".into()),
            // All or nothing unless a test says otherwise.
            ("SPILLOVER_STEPS", "100".into()),
        ]);
        for (name, value) in extra {
            if value.is_empty() {
                vars.remove(name);
            } else {
                vars.insert(name, value.to_string());
            }
        }
        let config =
            Config::from_lookup(|name| vars.get(name).cloned()).expect("test config is valid");
        let cloudwatch = mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [
                &self.describe_alarms,
                get_metric_data,
                describe_alarm_history
            ]
        );
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [
                &self.describe_services,
                &self.list_tasks,
                &self.describe_tasks,
                &self.update_service,
                &self.list_tags,
                &self.tag_resource,
                &self.untag_resource
            ]
        );
        let elb = mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [
                &self.describe_listeners,
                &self.describe_rules,
                &self.modify_listener,
                &self.modify_rule,
                &self.target_health,
                &self.target_group_attributes,
                &self.describe_target_groups
            ]
        );
        Controller::new(
            config.clone(),
            Aws::new(&config, cloudwatch, ecs, elb, self.autoscaling()),
        )
    }

    pub fn autoscaling(&self) -> aws_sdk_applicationautoscaling::Client {
        mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [
                &self.describe_scalable_targets,
                &self.register_scalable_target
            ]
        )
    }

    pub fn writes(&self) -> Vec<String> {
        self.world.lock().unwrap().writes.clone()
    }
}

/// The recommended demand alarm: `(m1 + m2) * duration / 60` over both target groups.
fn requests_of_both_target_groups(
    alarm: aws_sdk_cloudwatch::types::builders::MetricAlarmBuilder,
) -> aws_sdk_cloudwatch::types::builders::MetricAlarmBuilder {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let requests = |id: &str, arn: &str| {
        let group = arn.rsplit_once(':').unwrap().1;
        MetricDataQuery::builder()
            .id(id)
            .return_data(false)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/ApplicationELB")
                            .metric_name("RequestCount")
                            .dimensions(
                                Dimension::builder()
                                    .name("TargetGroup")
                                    .value(group)
                                    .build(),
                            )
                            .dimensions(
                                Dimension::builder()
                                    .name("LoadBalancer")
                                    .value("app/web/1")
                                    .build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .build()
    };
    alarm
        .metrics(requests("m1", LAMBDA_TG))
        .metrics(requests("m2", ECS_TG))
        .metrics(
            MetricDataQuery::builder()
                .id("e1")
                .expression("(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60")
                .return_data(true)
                .build(),
        )
}

/// A rule that answers `$op` once with AccessDenied for `$action`, as AWS does.
macro_rules! denied_once {
    ($op:path, $action:literal) => {
        ::aws_smithy_mocks::mock!($op)
            .sequence()
            .http_status(
                400,
                Some(
                    concat!(
                        r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: "#,
                        $action,
                        r#""}"#
                    )
                    .into(),
                ),
            )
            .times(1)
            .build()
    };
}

pub fn tick() -> Trigger {
    Trigger::Tick { event_id: None }
}

pub async fn run(controller: &Controller) -> Summary {
    controller
        .run(tick(), controller.deadline(None), false)
        .await
}
