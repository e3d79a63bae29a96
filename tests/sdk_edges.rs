//! The SDK edge, tested with `aws-smithy-mocks`: a small in-memory world answers the
//! calls, so these tests see exactly which requests go out and in what order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

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
use aws_sdk_ecs::types::{DesiredStatus, LoadBalancer, Service, Tag, Task, TaskStopCode};
use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_group_attributes::DescribeTargetGroupAttributesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerOutput;
use aws_sdk_elasticloadbalancingv2::operation::modify_rule::ModifyRuleOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Listener, Rule as ListenerRule, TargetGroup,
    TargetGroupAttribute, TargetGroupStickinessConfig, TargetGroupTuple, TargetHealth,
    TargetHealthDescription, TargetHealthStateEnum, TargetTypeEnum,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use spillover::aws::Aws;
use spillover::config::Config;
use spillover::controller::Controller;
use spillover::report::{Outcome, Summary};
use spillover::{Error, trigger::Trigger};

const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2";
const RULE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/2/3";
const LAMBDA_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1";
const ECS_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2";
const OTHER_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/canary/3";
const ALARM: &str = "web-app-concurrency-high";
const WARM_ALARM: &str = "web-app-concurrency-warm";
const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/web-app/web-app";
const RESOURCE_ID: &str = "service/web-app/web-app";

/// The state the fake AWS keeps between calls.
struct World {
    alarm: StateValue,
    weights: (i32, i32),
    /// A third target group in the forward action, which spillover must leave alone.
    other_tg: bool,
    desired: i32,
    /// Target-health checks after a scale-out before the targets turn healthy.
    healthy_after_checks: u32,
    checks_since_scale_out: u32,
    /// Targets that stay unhealthy whatever happens.
    never_healthy: bool,
    /// Start tasks that stop with this reason instead of running.
    fail_reason: Option<String>,
    /// The stop code those tasks get.
    fail_stop_code: TaskStopCode,
    /// ModifyListener answers with the listener it leaves unchanged: a write that lies.
    lying_write: bool,
    /// The alarm goes back to OK after this many target-health checks.
    alarm_clears_after_checks: Option<u32>,
    /// Someone else gives ECS this weight on the listener's Nth read.
    ecs_weight_on_read: Option<(u32, i32)>,
    listener_reads: u32,
    /// Target-group stickiness (3600 s) on the forward action.
    sticky: bool,
    /// How long ago the alarm last changed state.
    alarm_changed_secs_ago: u64,
    /// The warm alarm, when there is one.
    warm: Option<StateValue>,
    /// The service's tags.
    tags: HashMap<String, String>,
    /// The scalable target's (min, max), when the service is one.
    scalable: Option<(i32, i32)>,
    /// RequestCount datapoints of the ECS target group, and the queries made for them.
    request_counts: Vec<f64>,
    /// The spill alarm is the app function's `ConcurrentExecutions`, Maximum, at or above
    /// 90: a reading spillover can carry to another split. These are its datapoints.
    concurrency: Option<Vec<f64>>,
    /// For a read of `ConcurrentExecutions` over the return hold or longer: how many
    /// seconds ago each period with a datapoint began.
    concurrency_periods_ago: Option<Vec<u64>>,
    /// The concurrency alarm's `TreatMissingData` (CloudWatch's default, `missing`, when
    /// `None`).
    treat_missing: Option<&'static str>,
    metric_queries: Vec<String>,
    /// The ECS target group's deregistration delay.
    deregistration_delay: &'static str,
    /// The spill alarm is metric math over both target groups' `RequestCount` (demand the
    /// split cannot change) rather than a single metric.
    demand_alarm: bool,
    /// The demand alarm alarms at or above 90, so it reads the demand: these are the
    /// datapoints of the query it evaluates.
    demand: Option<Vec<f64>>,
    /// The target types of the Lambda and the ECS target group.
    target_types: (TargetTypeEnum, TargetTypeEnum),
    /// The target groups named in the service's `loadBalancers`.
    service_target_groups: Vec<&'static str>,
    /// The rule is its listener's default rule.
    default_rule: bool,
    /// The spill alarm's state changes, newest first: (seconds ago, from, to). `None`: one,
    /// from ALARM to its state, when it last changed.
    alarm_history: Option<Vec<(u64, &'static str, &'static str)>>,
    /// The alarm names and start dates (seconds ago) of the history read.
    history_queries: Vec<String>,
    /// `DescribeServices` counts no running task until this many target-health checks
    /// after a scale-out, healthy targets or not.
    running_after_checks: Option<u32>,
    /// `ListTasks` calls for the running tasks (not the stopped ones).
    running_task_lists: u32,
    /// Every write, in order.
    writes: Vec<String>,
}

impl World {
    fn idle() -> Self {
        World {
            alarm: StateValue::Ok,
            weights: (1, 0),
            other_tg: false,
            desired: 0,
            healthy_after_checks: 2,
            checks_since_scale_out: 0,
            never_healthy: false,
            fail_reason: None,
            fail_stop_code: TaskStopCode::TaskFailedToStart,
            lying_write: false,
            alarm_clears_after_checks: None,
            ecs_weight_on_read: None,
            listener_reads: 0,
            sticky: true,
            alarm_changed_secs_ago: 7200,
            warm: None,
            tags: HashMap::new(),
            scalable: None,
            request_counts: Vec::new(),
            concurrency: None,
            concurrency_periods_ago: None,
            treat_missing: None,
            metric_queries: Vec::new(),
            deregistration_delay: "0",
            demand_alarm: false,
            demand: None,
            target_types: (TargetTypeEnum::Lambda, TargetTypeEnum::Ip),
            service_target_groups: vec![ECS_TG],
            default_rule: false,
            alarm_history: None,
            history_queries: Vec::new(),
            running_after_checks: None,
            running_task_lists: 0,
            writes: Vec::new(),
        }
    }

    fn spilled() -> Self {
        World {
            alarm: StateValue::Alarm,
            weights: (0, 1),
            desired: 2,
            healthy_after_checks: 0,
            ..World::idle()
        }
    }

    /// Half on ECS after one weight change (the shift), the demand alarm firing with these
    /// datapoints of its evaluated query.
    fn half_with_demand(demand: Vec<f64>) -> Self {
        let mut world = World {
            weights: (1, 1),
            demand: Some(demand),
            ..World::spilled()
        };
        world.tags.insert("spillover:moves".into(), "1".into());
        world
    }

    fn with_alarm(self, alarm: StateValue) -> Self {
        World { alarm, ..self }
    }

    /// A spillover mark, set `secs_ago` seconds ago.
    fn with_mark(mut self, key: &str, secs_ago: u64) -> Self {
        self.set_mark(key, secs_ago);
        self
    }

    fn set_mark(&mut self, key: &str, secs_ago: u64) {
        let at = SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        self.tags.insert(key.into(), format!("{secs:.3}"));
    }

    /// The tag keys set, sorted, for compact asserts.
    fn tag_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.tags.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// The service's `runningCount`: its tasks run once their targets are healthy, unless
    /// `running_after_checks` says later.
    fn running(&self) -> i32 {
        let late = self
            .running_after_checks
            .is_some_and(|n| self.checks_since_scale_out < n);
        if late || self.healthy() == 0 {
            0
        } else {
            self.desired
        }
    }

    fn healthy(&self) -> i32 {
        let ready = !self.never_healthy
            && self.fail_reason.is_none()
            && self.checks_since_scale_out >= self.healthy_after_checks;
        if ready { self.desired } else { 0 }
    }

    fn forward_action(&self) -> Action {
        let tuple = |arn: &str, w: i32| {
            TargetGroupTuple::builder()
                .target_group_arn(arn)
                .weight(w)
                .build()
        };
        let mut config = ForwardActionConfig::builder()
            .target_groups(tuple(LAMBDA_TG, self.weights.0))
            .target_groups(tuple(ECS_TG, self.weights.1))
            .target_group_stickiness_config(
                TargetGroupStickinessConfig::builder()
                    .enabled(self.sticky)
                    .duration_seconds(3600)
                    .build(),
            );
        if self.other_tg {
            config = config.target_groups(tuple(OTHER_TG, 5));
        }
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(config.build())
            .build()
    }

    /// Takes the weights from a written forward action, checking nothing else changed.
    fn write_actions(&mut self, what: &str, actions: &[Action]) {
        assert_eq!(actions.len(), 1, "one action in, one action out");
        let forward = actions[0].forward_config().expect("forward config kept");
        let stickiness = forward
            .target_group_stickiness_config()
            .expect("stickiness kept");
        assert_eq!(
            (stickiness.enabled(), stickiness.duration_seconds()),
            (Some(self.sticky), Some(3600))
        );
        let weight = |arn: &str| {
            forward
                .target_groups()
                .iter()
                .find(|t| t.target_group_arn() == Some(arn))
                .and_then(|t| t.weight())
        };
        if self.other_tg {
            assert_eq!(
                weight(OTHER_TG),
                Some(5),
                "the third target group's weight is kept"
            );
        }
        self.weights = (weight(LAMBDA_TG).unwrap(), weight(ECS_TG).unwrap());
        self.writes.push(format!(
            "{what} lambda={} ecs={}",
            self.weights.0, self.weights.1
        ));
    }
}

type Shared = Arc<Mutex<World>>;

/// The mock rules, kept so tests can count calls.
struct Fake {
    world: Shared,
    describe_alarms: Rule,
    describe_listeners: Rule,
    describe_rules: Rule,
    modify_listener: Rule,
    modify_rule: Rule,
    target_health: Rule,
    describe_services: Rule,
    list_tasks: Rule,
    describe_tasks: Rule,
    update_service: Rule,
    list_tags: Rule,
    tag_resource: Rule,
    untag_resource: Rule,
    describe_scalable_targets: Rule,
    register_scalable_target: Rule,
    get_metric_data: Rule,
    describe_alarm_history: Rule,
    target_group_attributes: Rule,
    describe_target_groups: Rule,
}

impl Fake {
    fn new(world: World) -> Self {
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
            let arns: Vec<String> = match (&w.fail_reason, stopped) {
                (Some(_), true) => vec!["task/failed".into()],
                (None, false) => (0..w.desired).map(|i| format!("task/{i}")).collect(),
                _ => vec![],
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
                    match &w.fail_reason {
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
                    // One whole 60 s period each, oldest first, newest first in the answer
                    // (CloudWatch's default order), and the period still being filled.
                    let mut values = w.demand.clone().unwrap_or_default();
                    let end = r.end_time().unwrap().secs();
                    let mut stamps: Vec<_> = (0..values.len() as i64)
                        .map(|i| {
                            aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                                end - 60 * (values.len() as i64 - i) - 1,
                            )
                        })
                        .collect();
                    if !values.is_empty() {
                        values.push(1.0);
                        stamps.push(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                            end - 30,
                        ));
                    }
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
                if metric.metric_name() == Some("ConcurrentExecutions")
                    && window >= 360
                    && let Some(ago) = &w.concurrency_periods_ago
                {
                    let end = r.end_time().unwrap().secs();
                    let stamps: Vec<_> = ago
                        .iter()
                        .map(|a| {
                            aws_sdk_cloudwatch::primitives::DateTime::from_secs(end - *a as i64)
                        })
                        .collect();
                    return GetMetricDataOutput::builder()
                        .metric_data_results(
                            MetricDataResult::builder()
                                .id(query.id().unwrap())
                                .set_values(Some(vec![30.0; stamps.len()]))
                                .set_timestamps(Some(stamps))
                                .build(),
                        )
                        .build();
                }
                if metric.metric_name() == Some("ConcurrentExecutions") {
                    // Stamped inside the query's range, as CloudWatch would.
                    let values = w.concurrency.clone().unwrap_or_default();
                    let at = aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        r.end_time().unwrap().secs() - 30,
                    );
                    return GetMetricDataOutput::builder()
                        .metric_data_results(
                            MetricDataResult::builder()
                                .id(query.id().unwrap())
                                .set_timestamps(Some(vec![at; values.len()]))
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

    fn controller(&self, extra: &[(&'static str, &str)]) -> Controller {
        self.controller_with_metric_data(extra, &self.get_metric_data)
    }

    /// The controller with another answer to `GetMetricData`.
    fn controller_with_metric_data(
        &self,
        extra: &[(&'static str, &str)],
        get_metric_data: &Rule,
    ) -> Controller {
        self.controller_with_reads(extra, get_metric_data, &self.describe_alarm_history)
    }

    /// The controller with other answers to `GetMetricData` and `DescribeAlarmHistory`.
    fn controller_with_reads(
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

    fn autoscaling(&self) -> aws_sdk_applicationautoscaling::Client {
        mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [
                &self.describe_scalable_targets,
                &self.register_scalable_target
            ]
        )
    }

    fn writes(&self) -> Vec<String> {
        self.world.lock().unwrap().writes.clone()
    }
}

/// A rule that answers `$op` once with AccessDenied for `$action`, as AWS does.
macro_rules! denied_once {
    ($op:path, $action:literal) => {
        mock!($op)
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

fn tick() -> Trigger {
    Trigger::Tick { event_id: None }
}

async fn run(controller: &Controller) -> Summary {
    controller
        .run(tick(), controller.deadline(None), false)
        .await
}

#[tokio::test]
async fn spill_scales_out_waits_for_health_then_shifts_only_the_two_weights() {
    let fake = Fake::new(World {
        other_tg: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;

    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::Done);
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
    assert_eq!(fake.modify_listener.num_calls(), 1);
    assert_eq!(fake.update_service.num_calls(), 1);
    let wait = summary
        .actions
        .iter()
        .find(|a| a.checks.is_some())
        .expect("a wait step ran");
    assert!(
        wait.checks.unwrap() >= 2,
        "targets needed two checks to turn healthy"
    );
    assert_eq!(summary.aws_calls.writes, 3);
    let after = summary.final_state.expect("final state observed");
    assert_eq!(
        (after.weights.lambda, after.weights.ecs, after.desired),
        (0, 1, 2)
    );
}

#[tokio::test]
async fn a_converged_world_makes_no_writes() {
    for world in [World::spilled(), World::idle()] {
        let fake = Fake::new(world);
        let summary = run(&fake.controller(&[])).await;
        assert_eq!(summary.outcome, Outcome::NoOp);
        assert_eq!(fake.modify_listener.num_calls(), 0);
        assert_eq!(fake.update_service.num_calls(), 0);
        assert_eq!(summary.aws_calls.writes, 0);
        assert!(
            fake.describe_alarms.num_calls() >= 1,
            "the alarm state was read, not trusted from the event"
        );
    }
}

#[tokio::test]
async fn weights_already_in_place_are_not_written_again() {
    let fake = Fake::new(World::idle());
    let controller = fake.controller(&[]);
    let on_lambda = spillover::observed::Weights::ON_LAMBDA;
    let listener = &controller.aws.listener;
    let current = listener.actions().await.unwrap();
    listener.set_weights(current, on_lambda).await.unwrap();
    assert_eq!(fake.modify_listener.num_calls(), 0);
    assert_eq!(controller.aws.calls.count().writes, 0);
}

#[tokio::test]
async fn return_shifts_back_first_and_scales_in_on_a_later_run_once_traffic_left() {
    let fake = Fake::new(World {
        sticky: false,
        ..World::spilled().with_alarm(StateValue::Ok)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );
    assert_eq!(
        fake.get_metric_data.num_calls(),
        0,
        "no evidence read in the return run"
    );

    // Seconds later: one metric period (60 s) has not passed since the return.
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let after = summary.plan.unwrap().scale_in_after_secs.unwrap();
    assert!(after > 55.0 && after <= 60.0, "{after}");
    assert_eq!(fake.get_metric_data.num_calls(), 0);

    // Two minutes after the return, no requests and the delay over: scale in.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 120);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0",
            "desired=0"
        ]
    );
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        [
            "AWS/ApplicationELB RequestCount TargetGroup=targetgroup/ecs/2,LoadBalancer=app/web/1 Sum period=60 window=120"
        ]
    );
    assert_eq!(fake.target_group_attributes.num_calls(), 1);
}

/// Traffic back on Lambda `returned_secs_ago`, no stickiness, the ECS target group still
/// serving these `RequestCount` datapoints.
fn returned_with_requests(request_counts: Vec<f64>, returned_secs_ago: u64) -> Fake {
    let fake = Fake::new(World {
        sticky: false,
        request_counts,
        ..World::spilled()
            .with_alarm(StateValue::Ok)
            .with_mark("spillover:returned-at", returned_secs_ago)
    });
    fake.world.lock().unwrap().weights = (1, 0);
    fake
}

#[tokio::test]
async fn no_scale_in_while_the_ecs_target_group_still_serves_requests_or_drains() {
    let fake = returned_with_requests(vec![3.0, 1.0], 600);
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let reason = summary.plan.unwrap().reason;
    assert!(reason.contains("still served 4 requests"), "{reason}");

    // No requests, but a deregistration delay longer than the time since the return.
    {
        let mut world = fake.world.lock().unwrap();
        world.request_counts.clear();
        world.deregistration_delay = "900";
    }
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert_eq!(
        summary.plan.unwrap().scale_in_after_secs.map(f64::round),
        Some(300.0)
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_trickle_that_never_stops_is_scaled_in_after_the_longest_wait() {
    let fake = returned_with_requests(vec![1.0], 1700);
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let plan = summary.plan.unwrap();
    assert!(
        plan.reason.contains("still served 1 requests"),
        "{}",
        plan.reason
    );
    // The next look: one window (60 s) later, sooner than the longest wait (100 s away).
    assert_eq!(plan.scale_in_after_secs.map(f64::round), Some(60.0));

    // 30 minutes since the return, a request still arrives now and then: scale in.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 1800);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let reason = summary.plan.unwrap().reason;
    assert!(
        reason.contains("SPILLOVER_SCALE_IN_MAX_WAIT_SECS"),
        "{reason}"
    );
    assert_eq!(fake.writes(), ["desired=0"]);
}

#[tokio::test]
async fn progressive_steps_move_one_step_per_run_and_record_each_change() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller = fake.controller(&[("SPILLOVER_STEPS", "50,100")]);
    run(&controller).await;
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=1"
        ]
    );
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes()[3..],
        [
            "tag spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
    // The spill's weight changes are counted with the marks: the shift and one step.
    assert_eq!(fake.world.lock().unwrap().tags["spillover:moves"], "2");
    let summary = run(&controller).await;
    assert_eq!(summary.outcome, Outcome::NoOp, "at the top step");
    assert_eq!(
        fake.world.lock().unwrap().tag_keys(),
        [
            "spillover:moves",
            "spillover:shifted-at",
            "spillover:stepped-at"
        ]
    );
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

#[tokio::test]
async fn a_demand_alarm_returns_in_one_move_and_a_lambda_metric_alarm_one_step() {
    for (demand_alarm, weights) in [
        (true, "weights lambda=1 ecs=0"),
        (false, "weights lambda=1 ecs=1"),
    ] {
        let fake = Fake::new(World {
            demand_alarm,
            ..World::spilled().with_alarm(StateValue::Ok)
        });
        let summary = run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
        assert!(summary.error.is_none(), "{:?}", summary.error);
        assert_eq!(summary.observed.unwrap().alarms_blind, demand_alarm);
        assert_eq!(
            fake.writes().last().map(String::as_str),
            Some(weights),
            "demand alarm: {demand_alarm}"
        );
    }
}

#[tokio::test]
async fn a_return_waits_for_the_alarm_to_be_ok_for_the_hold() {
    let fake = Fake::new(World {
        alarm_changed_secs_ago: 10,
        ..World::spilled().with_alarm(StateValue::Ok)
    });
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let left = summary.plan.unwrap().return_after_secs.unwrap();
    assert!(left > 285.0 && left <= 290.0, "{left}");
    assert!(fake.writes().is_empty());
    // With a hold of 7.5 s (a faster world), the same state returns.
    let summary = run(&fake.controller(&[("SPILLOVER_RETURN_HOLD_SECS", "7.5")])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );
}

/// Half on ECS after a step down 130 s ago, the concurrency alarm OK for 20 s and low
/// enough for Lambda to take it all; its state changes before that are `history`. Its
/// metric had a datapoint in the periods that began 150 and 50 s ago.
fn probed(history: Option<Vec<(u64, &'static str, &'static str)>>) -> Fake {
    let mut world = World {
        alarm_changed_secs_ago: 20,
        alarm_history: history,
        concurrency_periods_ago: Some(vec![150, 50]),
        ..World::spilled()
            .with_alarm(StateValue::Ok)
            .with_mark("spillover:shifted-at", 900)
            .with_mark("spillover:stepped-at", 130)
    };
    world.weights = (1, 1);
    world.concurrency = Some(vec![30.0]);
    Fake::new(world)
}

#[tokio::test]
async fn the_ok_after_insufficient_data_does_not_start_the_hold_again() {
    let steps = [("SPILLOVER_STEPS", "50,100")];
    let returned = ["weights lambda=1 ecs=0"];
    // The alarm went blind at 100 % (ALARM -> INSUFFICIENT_DATA, 420 s ago), the step down
    // after that hold gave Lambda traffic again, and the alarm went OK: out of ALARM for
    // the whole hold, so the spill goes on back.
    let fake = probed(Some(vec![
        (20, "INSUFFICIENT_DATA", "OK"),
        (420, "ALARM", "INSUFFICIENT_DATA"),
    ]));
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes()[1..], returned);
    assert_eq!(
        fake.world.lock().unwrap().history_queries,
        ["web-app-concurrency-high since 300s"]
    );

    // Held: the alarm was in ALARM inside the hold, its history does not show its last
    // change (not written yet), or the default: from ALARM to OK 20 s ago.
    let held = [
        Some(vec![
            (20, "ALARM", "OK"),
            (200, "INSUFFICIENT_DATA", "ALARM"),
            (420, "ALARM", "INSUFFICIENT_DATA"),
        ]),
        Some(vec![(420, "ALARM", "INSUFFICIENT_DATA")]),
        None,
    ];
    for history in held {
        let fake = probed(history.clone());
        let summary = run(&fake.controller(&steps)).await;
        assert_eq!(summary.outcome, Outcome::NoOp, "{history:?}");
        let left = summary.plan.unwrap().return_after_secs.unwrap();
        assert!(left > 275.0 && left <= 280.0, "{history:?}: {left}");
        assert!(fake.writes().is_empty(), "{history:?}");
        assert_eq!(fake.world.lock().unwrap().history_queries.len(), 1);
    }

    // An ALARM on no data (TreatMissingData breaching) until the step down: its metric had
    // no datapoint from before the hold until the period that began 50 s ago, the step's.
    // That time in ALARM does not count, and the spill goes on back.
    let fake = probed(None);
    fake.world.lock().unwrap().concurrency_periods_ago = Some(vec![50]);
    fake.world.lock().unwrap().treat_missing = Some("breaching");
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes()[1..], returned);
    // The same with missing data missing: an ALARM on no data is someone's SetAlarmState,
    // and counts.
    let fake = probed(None);
    fake.world.lock().unwrap().concurrency_periods_ago = Some(vec![50]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty());

    // A history that cannot be read holds as it did before it was read, and fails nothing.
    let denied_history = denied_once!(
        aws_sdk_cloudwatch::Client::describe_alarm_history,
        "cloudwatch:DescribeAlarmHistory"
    );
    let fake = probed(Some(vec![
        (20, "INSUFFICIENT_DATA", "OK"),
        (420, "ALARM", "INSUFFICIENT_DATA"),
    ]));
    let controller = fake.controller_with_reads(&steps, &fake.get_metric_data, &denied_history);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(denied_history.num_calls(), 1);
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty());

    // No history is read for a change before the hold, or with nothing on ECS.
    let long_calm = probed(None);
    long_calm.world.lock().unwrap().alarm_changed_secs_ago = 7200;
    run(&long_calm.controller(&steps)).await;
    assert_eq!(long_calm.writes()[1..], returned);
    let idle = Fake::new(World {
        alarm_changed_secs_ago: 20,
        ..World::idle()
    });
    run(&idle.controller(&steps)).await;
    for fake in [&long_calm, &idle] {
        assert!(fake.world.lock().unwrap().history_queries.is_empty());
        assert_eq!(fake.describe_alarm_history.num_calls(), 0);
    }
}

#[tokio::test]
async fn an_alarm_in_alarm_on_no_data_steps_down_one_step_after_the_hold() {
    // The concurrency alarm with TreatMissingData breaching, all traffic on ECS for long:
    // Lambda publishes nothing and the alarm stays in ALARM.
    let steps = [("SPILLOVER_STEPS", "50,100")];
    let silent = |datapoints: Vec<f64>| {
        Fake::new(World {
            concurrency: Some(datapoints),
            treat_missing: Some("breaching"),
            ..World::spilled()
                .with_mark("spillover:shifted-at", 900)
                .with_mark("spillover:stepped-at", 900)
        })
    };
    let fake = silent(vec![]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, Some(420.0));
    assert_eq!(fake.writes()[1..], ["weights lambda=1 ecs=1"]);
    // The alarm's own metric and statistic, over the hold and two periods.
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        ["AWS/Lambda ConcurrentExecutions FunctionName=web-app Maximum period=60 window=420"]
    );

    // A datapoint in the last period: the ALARM is real, and the spill stays.
    let fake = silent(vec![95.0]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, Some(0.0));
    assert!(fake.writes().is_empty());

    // Not read with Lambda still in the split, for an alarm whose missing data is missing
    // (its ALARM rests on data, or on someone's SetAlarmState), nor for one that cannot be
    // read.
    let fake = Fake::new(World {
        concurrency: Some(vec![]),
        ..World::spilled()
            .with_mark("spillover:shifted-at", 900)
            .with_mark("spillover:stepped-at", 900)
    });
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, None);
    assert!(fake.writes().is_empty());
    let mut half = World {
        concurrency: Some(vec![]),
        treat_missing: Some("breaching"),
        ..World::spilled()
    };
    half.weights = (1, 1);
    let fake = Fake::new(half);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, None);
    let fake = Fake::new(World::spilled());
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, None);
    assert_eq!(fake.get_metric_data.num_calls(), 0);
}

#[tokio::test]
async fn a_scalable_target_gets_its_minimum_raised_and_restored_never_its_desired_count() {
    let fake = Fake::new(World {
        scalable: Some((0, 10)),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:saved-min-capacity",
            "min capacity=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
    assert_eq!(
        fake.world.lock().unwrap().tags["spillover:saved-min-capacity"],
        "0"
    );

    // The alarm cleared long ago and the spill is old: weights back.
    {
        let mut world = fake.world.lock().unwrap();
        world.alarm = StateValue::Ok;
        world.set_mark("spillover:shifted-at", 3600);
        world.set_mark("spillover:stepped-at", 3600);
    }
    run(&fake.controller(&[])).await;
    // Traffic left long ago: the saved minimum goes back, and its tag.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 3600);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes()[4..],
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0",
            "min capacity=0",
            "untag spillover:saved-min-capacity"
        ]
    );
    assert_eq!(
        fake.update_service.num_calls(),
        0,
        "desired count never written"
    );
    assert_eq!(fake.world.lock().unwrap().scalable, Some((0, 10)));
}

#[tokio::test]
async fn a_warm_alarm_scales_out_at_weight_zero_and_in_after_it_clears() {
    let fake = Fake::new(World {
        warm: Some(StateValue::Alarm),
        ..World::idle()
    });
    let controller = fake.controller(&[("SPILLOVER_WARM_ALARM_NAMES", WARM_ALARM)]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes(), ["desired=2"]);
    assert_eq!(fake.modify_listener.num_calls(), 0);
    assert_eq!(
        fake.describe_alarms.num_calls(),
        2,
        "one DescribeAlarms per observation, both groups"
    );

    fake.world.lock().unwrap().warm = Some(StateValue::Ok);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes(), ["desired=2", "desired=0"]);
    assert_eq!(fake.modify_listener.num_calls(), 0);
}

/// One run that waits for healthy targets, a check every 2.5 ms; it must succeed.
async fn run_waiting(fake: &Fake) -> Summary {
    let controller = fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "2.5"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "2.5"),
    ]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    summary
}

#[tokio::test]
async fn the_wait_reads_the_target_health_and_looks_at_the_tasks_rarely() {
    let fake = Fake::new(World {
        healthy_after_checks: 12,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run_waiting(&fake).await;
    let checks = u64::from(summary.actions.iter().find_map(|a| a.checks).unwrap());
    assert!(checks >= 10, "{checks}");
    // Observe twice (1 ListTasks each), one failure scan every 5 checks.
    let list_tasks = fake.list_tasks.num_calls() as u64;
    assert!(
        list_tasks <= 2 + checks.div_ceil(5),
        "{list_tasks} ListTasks for {checks} checks"
    );
    // The check that found the targets healthy read the running count in one call, not the
    // task list and then its describe: only the two looks list the running tasks.
    assert_eq!(fake.world.lock().unwrap().running_task_lists, 2);
    // One target-health read per check, plus the two observations: the check that found
    // them healthy is the pre-shift check (it reads the alarm and the listener as well).
    assert_eq!(fake.target_health.num_calls() as u64, checks + 2);
    assert_eq!(
        fake.describe_alarms.num_calls(),
        3,
        "observe, last check, last look"
    );
}

#[tokio::test]
async fn healthy_targets_wait_for_the_service_to_count_its_tasks_running() {
    let fake = Fake::new(World {
        healthy_after_checks: 2,
        running_after_checks: Some(6),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run_waiting(&fake).await;
    let checks = summary.actions.iter().find_map(|a| a.checks).unwrap();
    assert!(
        checks >= 5,
        "shifted after {checks} checks, before the tasks ran"
    );
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
}

#[tokio::test]
async fn a_service_slow_to_count_its_tasks_running_does_not_make_the_wait_read_faster() {
    // The targets are healthy at once, and DescribeServices counts no task running for 30
    // checks: each of those reads the target health, the running count, the alarm and the
    // listener, four reads where a check usually makes one.
    let fake = Fake::new(World {
        healthy_after_checks: 0,
        running_after_checks: Some(30),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "10"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "10"),
    ]))
    .await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let wait = summary.actions.iter().find(|a| a.checks.is_some()).unwrap();
    let checks = f64::from(wait.checks.unwrap());
    assert!(checks >= 28.0, "{checks}");
    assert!(fake.describe_services.num_calls() as f64 >= checks);
    // 1.5 requests per 10 ms interval is 150 a second, with 6 at once and one check's
    // overdraft: at the interval alone it would be 400.
    let reads = 4.0 * checks;
    let ms = wait.duration_ms as f64;
    assert!(
        reads <= 6.0 + 4.0 + 0.15 * ms,
        "{reads} reads in {ms} ms: more than 150 a second"
    );
}

#[tokio::test]
async fn rule_mode_writes_the_rule_and_not_the_listener() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller =
        fake.controller(&[("SPILLOVER_LISTENER_ARN", ""), ("SPILLOVER_RULE_ARN", RULE)]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "rule weights lambda=0 ecs=1"
        ]
    );
    assert_eq!(fake.modify_listener.num_calls(), 0);
    assert_eq!(fake.describe_listeners.num_calls(), 0);
}

#[tokio::test]
async fn a_task_that_cannot_pull_its_image_ends_the_wait_and_traffic_stays_on_lambda() {
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)";
    let fake = Fake::new(World {
        fail_reason: Some(reason.into()),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "1000"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "1000"),
    ]))
    .await;
    match &summary.error {
        Some(Error::TaskStopped {
            reason: got, task, ..
        }) => {
            assert_eq!(got, reason);
            assert_eq!(task, "task/failed");
        }
        other => panic!("expected TaskStopped, got {other:?}"),
    }
    assert_eq!(summary.exit_code(), 1);
    assert_eq!(fake.writes(), ["desired=2"], "no weight change");
    assert!(
        summary.durations_ms.total < 1000,
        "stopped at the first check, took {}ms",
        summary.durations_ms.total
    );
}

#[tokio::test]
async fn a_task_the_scheduler_stops_for_failed_health_checks_ends_the_wait() {
    // ECS gives these the stop code of a scale-in, ServiceSchedulerInitiated; only the
    // reason tells them apart.
    for reason in [
        "Task failed container health checks",
        "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/ecs/2)",
    ] {
        let fake = Fake::new(World {
            fail_reason: Some(reason.into()),
            fail_stop_code: TaskStopCode::ServiceSchedulerInitiated,
            ..World::idle().with_alarm(StateValue::Alarm)
        });
        let summary = run(&fake.controller(&[("SPILLOVER_WAIT_BUDGET_SECS", "2")])).await;
        match &summary.error {
            Some(Error::TaskStopped { reason: got, .. }) => assert_eq!(got, reason),
            other => panic!("expected TaskStopped for {reason:?}, got {other:?}"),
        }
        assert_eq!(fake.writes(), ["desired=2"], "no weight change");
    }
}

#[tokio::test]
async fn a_task_moved_off_retired_infrastructure_does_not_end_the_wait() {
    // The scheduler replaces it: the wait goes on to its budget rather than failing at
    // the first check.
    let fake = Fake::new(World {
        fail_reason: Some(
            "ECS is performing maintenance on the underlying infrastructure hosting the task"
                .into(),
        ),
        fail_stop_code: TaskStopCode::ServiceSchedulerInitiated,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[("SPILLOVER_WAIT_BUDGET_SECS", "2")])).await;
    match &summary.error {
        Some(Error::Timeout { .. }) => {}
        other => panic!("expected the wait to time out, got {other:?}"),
    }
    assert!(
        summary.durations_ms.total >= 1900,
        "{}",
        summary.durations_ms.total
    );
    assert_eq!(fake.writes(), ["desired=2"], "no weight change");
}

#[tokio::test]
async fn a_weight_write_whose_answer_shows_other_weights_is_an_error() {
    let fake = Fake::new(World {
        lying_write: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    match &summary.error {
        Some(Error::Verify {
            want_ecs, got_ecs, ..
        }) => assert_eq!((*want_ecs, *got_ecs), (1, 0)),
        other => panic!("expected Verify, got {other:?}"),
    }
    assert_eq!(summary.retryable, Some(true));
}

#[tokio::test]
async fn never_healthy_within_the_budget_times_out_and_leaves_traffic() {
    let fake = Fake::new(World {
        never_healthy: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[("SPILLOVER_WAIT_BUDGET_SECS", "1")])).await;
    assert!(
        matches!(summary.error, Some(Error::Timeout { .. })),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.retryable, Some(true));
    assert_eq!(summary.exit_code(), 1);
    assert_eq!(fake.writes(), ["desired=2"]);
    let weights = summary.final_state.unwrap().weights;
    assert_eq!((weights.lambda, weights.ecs), (1, 0));
}

#[tokio::test]
async fn a_listener_without_the_ecs_target_group_fails_before_any_write() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller = fake.controller(&[(
        "SPILLOVER_ECS_TARGET_GROUP_ARN",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/elsewhere/9",
    )]);
    let summary = run(&controller).await;
    assert!(
        matches!(summary.error, Some(Error::Topology(_))),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.exit_code(), 2);
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn dry_run_reads_and_plans_but_writes_nothing() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller = fake.controller(&[]);
    let summary = controller
        .run(tick(), controller.deadline(None), true)
        .await;
    assert_eq!(summary.outcome, Outcome::DryRun);
    assert_eq!(summary.plan.unwrap().steps.len(), 3);
    assert!(
        summary
            .actions
            .iter()
            .all(|a| a.result == "skipped (dry run)")
    );
    assert!(fake.writes().is_empty());
    assert_eq!(summary.aws_calls.writes, 0);
}

#[tokio::test]
async fn throttled_calls_are_retried_by_the_sdk() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(400, Some(throttled.into()))
        .times(2)
        .output(|| {
            DescribeServicesOutput::builder()
                .services(
                    Service::builder()
                        .service_name("web-app")
                        .status("ACTIVE")
                        .desired_count(3)
                        .build(),
                )
                .build()
        })
        .build();
    let fake = Fake::new(World::idle());
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&describe_services, &fake.list_tasks]
    );
    let controller = fake.controller(&[]);
    let aws = Aws::new(
        &controller.config,
        mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&fake.describe_alarms]
        ),
        ecs,
        mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&fake.describe_listeners, &fake.target_health]
        ),
        fake.autoscaling(),
    );
    assert_eq!(
        aws.ecs
            .desired_count()
            .await
            .expect("retried until it succeeded"),
        3
    );
    assert_eq!(describe_services.num_calls(), 3);
    assert_eq!(
        aws.calls.count().reads,
        1,
        "one logical call, however many attempts"
    );
    assert_eq!(
        aws.calls.count().retried,
        2,
        "the two attempts after the first"
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_a_retryable_error() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(400, Some(throttled.into()))
        .times(5)
        .build();
    let fake = Fake::new(World::idle());
    let controller = fake.controller(&[]);
    let aws = Aws::new(
        &controller.config,
        mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&fake.describe_alarms]
        ),
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe_services]),
        mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&fake.describe_listeners]
        ),
        fake.autoscaling(),
    );
    let err = aws.ecs.desired_count().await.expect_err("gave up");
    assert!(err.is_retryable(), "{err}");
    assert!(err.is_transient(), "a wait counts it as not yet: {err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(
        describe_services.num_calls(),
        3,
        "the SDK's standard retry makes 3 attempts"
    );
}

#[tokio::test]
async fn access_denied_is_not_transient_and_not_retried() {
    let describe_services = denied_once!(
        aws_sdk_ecs::Client::describe_services,
        "ecs:DescribeServices"
    );
    let fake = Fake::new(World::idle());
    let controller = fake.controller(&[]);
    let aws = Aws::new(
        &controller.config,
        mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&fake.describe_alarms]
        ),
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe_services]),
        mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&fake.describe_listeners]
        ),
        fake.autoscaling(),
    );
    let err = aws.ecs.desired_count().await.expect_err("denied");
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert_eq!(describe_services.num_calls(), 1);
    assert_eq!(aws.calls.count().retried, 0);
}

#[tokio::test]
async fn the_wait_is_paced_by_the_poll_interval() {
    let fake = Fake::new(World {
        healthy_after_checks: 6,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let controller = fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "20"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "40"),
    ]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let wait = summary.actions.iter().find(|a| a.checks.is_some()).unwrap();
    // Sleeps of 20, 40, 40, 40... between checks: the wait lasts at least that long.
    let checks = wait.checks.unwrap() as u64;
    assert!(
        wait.duration_ms >= 20 + 40 * (checks.saturating_sub(2)),
        "{checks} checks in {}ms",
        wait.duration_ms
    );
}

#[tokio::test]
async fn an_alarm_that_clears_while_tasks_start_gets_no_shift() {
    let fake = Fake::new(World {
        healthy_after_checks: 2,
        alarm_clears_after_checks: Some(2),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(
        matches!(summary.error, Some(Error::Changed(_))),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.retryable, Some(true));
    assert_eq!(
        fake.writes(),
        ["desired=2"],
        "scaled out, but no weight moved"
    );
}

#[tokio::test]
async fn no_scale_in_when_someone_gave_ecs_weight_after_we_looked() {
    // Return with weights already on Lambda: the plan is one scale-in; the listener's
    // second read (the check right before it) finds ECS weighted again.
    let fake = Fake::new(World {
        weights: (1, 0),
        ecs_weight_on_read: Some((2, 1)),
        ..World::spilled().with_alarm(StateValue::Ok)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(
        matches!(summary.error, Some(Error::Changed(_))),
        "{:?}",
        summary.error
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn with_stickiness_the_scale_in_waits_until_sticky_sessions_expire() {
    // The OK event: weights back, no scale-in in the same run.
    let fake = Fake::new(World::spilled().with_alarm(StateValue::Ok));
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );

    // A tick soon after: the stickiness window (3600 s) since the return is ahead.
    let summary = run(&fake.controller(&[])).await;
    let after = summary.plan.unwrap().scale_in_after_secs.unwrap();
    assert!(after > 3590.0 && after <= 3600.0, "{after}");

    // A reconcile tick after the stickiness duration, no requests over it: the scale-in.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 3601);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes()[2..], ["desired=0"]);
    assert!(
        fake.world.lock().unwrap().metric_queries[0].ends_with("window=3660"),
        "{:?}",
        fake.world.lock().unwrap().metric_queries
    );
}

/// A run refused for its configuration: exit 2, not retryable, nothing written.
fn assert_refused(fake: &Fake, summary: &Summary, names: &str) {
    match &summary.error {
        Some(e @ Error::Topology(msg)) => {
            assert!(msg.contains(names), "{msg} should name {names}");
            assert!(!e.is_retryable(), "{e}");
        }
        other => panic!("expected a Topology error naming {names}, got {other:?}"),
    }
    assert_eq!(summary.exit_code(), 2);
    assert!(fake.writes().is_empty(), "wrote {:?}", fake.writes());
    assert_eq!(fake.update_service.num_calls(), 0);
}

#[tokio::test]
async fn target_groups_of_swapped_types_are_refused_before_any_write() {
    let fake = Fake::new(World {
        target_types: (TargetTypeEnum::Ip, TargetTypeEnum::Lambda),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert_refused(
        &fake,
        &summary,
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN are swapped",
    );
}

#[tokio::test]
async fn the_target_group_types_are_read_once_per_process() {
    let fake = Fake::new(World::idle());
    let controller = fake.controller(&[]);
    let first = run(&controller).await;
    let second = run(&controller).await;
    assert!(first.error.is_none() && second.error.is_none());
    assert_eq!(
        fake.describe_target_groups.num_calls(),
        2,
        "one DescribeTargetGroups per target group, on the first run only"
    );
    assert_eq!(
        first.aws_calls.reads,
        second.aws_calls.reads + 2,
        "the second run reads what it read before the check existed"
    );
}

#[tokio::test]
async fn a_service_that_does_not_register_in_the_ecs_target_group_is_refused() {
    let fake = Fake::new(World {
        service_target_groups: vec![OTHER_TG],
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert_refused(&fake, &summary, "not in SPILLOVER_ECS_TARGET_GROUP_ARN");
}

#[tokio::test]
async fn a_default_rule_is_refused_before_the_scale_out() {
    let fake = Fake::new(World {
        default_rule: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let controller =
        fake.controller(&[("SPILLOVER_LISTENER_ARN", ""), ("SPILLOVER_RULE_ARN", RULE)]);
    let summary = run(&controller).await;
    assert_refused(&fake, &summary, "set SPILLOVER_LISTENER_ARN");
    assert_eq!(fake.modify_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_listener_or_cluster_that_does_not_exist_is_a_config_error_not_a_retry() {
    // The error bodies as ELBv2 (query protocol, XML) and ECS (JSON) send them.
    let no_listener = "<ErrorResponse><Error><Type>Sender</Type><Code>ListenerNotFound</Code>\
        <Message>The specified listener does not exist.</Message></Error><RequestId>1</RequestId></ErrorResponse>";
    let describe_listeners = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
        .sequence()
        .http_status(400, Some(no_listener.into()))
        .build();
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let config = fake.controller(&[]).config;
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [
            &describe_listeners,
            &fake.target_health,
            &fake.describe_target_groups
        ]
    );
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [
            &fake.describe_services,
            &fake.list_tasks,
            &fake.describe_tasks,
            &fake.list_tags
        ]
    );
    let cloudwatch = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&fake.describe_alarms]
    );
    let controller = Controller::new(
        config.clone(),
        Aws::new(&config, cloudwatch.clone(), ecs, elb, fake.autoscaling()),
    );
    assert_refused(
        &fake,
        &run(&controller).await,
        "check SPILLOVER_LISTENER_ARN",
    );

    let no_cluster = r#"{"__type":"ClusterNotFoundException","message":"Cluster not found."}"#;
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(400, Some(no_cluster.into()))
        .build();
    let list_tasks = mock!(aws_sdk_ecs::Client::list_tasks)
        .sequence()
        .http_status(400, Some(no_cluster.into()))
        .build();
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [
            &fake.describe_listeners,
            &fake.target_health,
            &fake.describe_target_groups
        ]
    );
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&describe_services, &list_tasks]
    );
    let controller = Controller::new(
        config.clone(),
        Aws::new(&config, cloudwatch, ecs, elb, fake.autoscaling()),
    );
    assert_refused(&fake, &run(&controller).await, "check SPILLOVER_CLUSTER");
}

#[tokio::test]
async fn a_concurrency_alarm_holds_the_last_step_back_until_lambda_could_carry_it_all() {
    // Half on ECS, the alarm OK for two hours, the last step long ago: only the reading
    // can hold the return. Lambda reads 70 of the alarm's 90 with half the traffic.
    let mut world = World::spilled()
        .with_alarm(StateValue::Ok)
        .with_mark("spillover:shifted-at", 7200)
        .with_mark("spillover:stepped-at", 7200);
    world.weights = (1, 1);
    world.concurrency = Some(vec![40.0, 70.0]);
    let fake = Fake::new(world);
    let controller = fake.controller(&[("SPILLOVER_STEPS", "50,100")]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    let reason = summary.plan.unwrap().reason;
    assert!(
        reason.contains("at 0% the alarm would read 156% of its threshold"),
        "{reason}"
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // The alarm's own metric, statistic and dimensions, over the last three periods.
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        ["AWS/Lambda ConcurrentExecutions FunctionName=web-app Maximum period=60 window=180"]
    );

    // The overload is over: 15 of 90 with half is 30 with all of it.
    fake.world.lock().unwrap().concurrency = Some(vec![15.0]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );

    // The last weight change less than a period ago (the settle time 0): no whole period to
    // read, no query, and the step is judged by the alarm after it.
    let mut world = World::spilled()
        .with_alarm(StateValue::Ok)
        .with_mark("spillover:shifted-at", 7200)
        .with_mark("spillover:stepped-at", 0);
    world.weights = (1, 1);
    world.concurrency = Some(vec![70.0]);
    let fake = Fake::new(world);
    let summary = run(&fake.controller(&[
        ("SPILLOVER_STEPS", "50,100"),
        ("SPILLOVER_STEP_SETTLE_SECS", "0"),
    ]))
    .await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert!(fake.world.lock().unwrap().metric_queries.is_empty());
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=0")
    );

    // No datapoint (Lambda published nothing): the step is judged by the alarm after it.
    let mut world = World::spilled()
        .with_alarm(StateValue::Ok)
        .with_mark("spillover:shifted-at", 7200)
        .with_mark("spillover:stepped-at", 7200);
    world.weights = (1, 1);
    world.concurrency = Some(vec![]);
    let fake = Fake::new(world);
    run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=0")
    );
}

#[tokio::test]
async fn a_demand_alarm_that_reads_the_demand_moves_only_the_excess() {
    // Half on ECS, the demand alarm firing: its evaluated query read 450 for two whole
    // periods against a threshold of 90 (the period still being filled, 1, is left out).
    // Lambda should keep 90 / 450 = 20 %: the step to 100 stops at 80.
    // One weight change so far, the shift: the stop, the last step and the return fit in
    // two changes per step.
    let fake = Fake::new(World::half_with_demand(vec![450.0, 450.0]));
    let controller = fake.controller(&[("SPILLOVER_STEPS", "50,100")]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.observed.as_ref().unwrap().demand_load, Some(5.0));
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=4"),
        "{:?}",
        summary.plan
    );
    // The alarm's queries as they are, over its last three periods (and one before).
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        ["(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60 ids=m1,m2,e1 window=240"]
    );
    assert_eq!(fake.world.lock().unwrap().tags["spillover:moves"], "2");

    // The demand falls to 100: 80 % on ECS still carries the excess, nothing moves.
    let writes = fake.writes().len();
    fake.world.lock().unwrap().demand = Some(vec![100.0]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert_eq!(
        summary.observed.as_ref().unwrap().demand_load,
        Some(100.0 / 90.0)
    );
    assert!(
        summary.plan.unwrap().reason.contains("carries the excess"),
        "{:?}",
        fake.writes()
    );
    assert_eq!(fake.writes().len(), writes);

    // It rises, 300 then 420: read a period ahead, 540 is 6 thresholds, 84 % on ECS. A
    // second stop after the shift and the first would leave no change for the last step
    // and the return: the last step.
    fake.world.lock().unwrap().demand = Some(vec![300.0, 420.0]);
    let summary = run(&controller).await;
    assert_eq!(summary.observed.as_ref().unwrap().demand_load, Some(6.0));
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );
    assert_eq!(fake.world.lock().unwrap().tags["spillover:moves"], "3");

    // No datapoint: the steps as configured.
    let fake = Fake::new(World::half_with_demand(vec![]));
    run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );

    // At the last step there is nothing to read for.
    let fake = Fake::new(World {
        demand: Some(vec![450.0]),
        ..World::spilled()
    });
    run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
    assert!(fake.world.lock().unwrap().metric_queries.is_empty());
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_reading_that_cannot_be_taken_neither_stops_a_spill_nor_holds_one() {
    let get_metric_data = || {
        denied_once!(
            aws_sdk_cloudwatch::Client::get_metric_data,
            "cloudwatch:GetMetricData"
        )
    };
    let steps = [("SPILLOVER_STEPS", "50,100")];

    // The demand alarm fires at half on ECS: without its reading, the next step as
    // configured.
    let fake = Fake::new(World::half_with_demand(vec![450.0, 450.0]));
    let denied_read = get_metric_data();
    let summary = run(&fake.controller_with_metric_data(&steps, &denied_read)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(denied_read.num_calls(), 1);
    assert_eq!(summary.observed.unwrap().demand_load, None);
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );

    // A concurrency alarm calm for long at half on ECS: without its reading, the step back
    // is judged by the alarm after it, as before the reading existed.
    let mut world = World::spilled()
        .with_alarm(StateValue::Ok)
        .with_mark("spillover:shifted-at", 7200)
        .with_mark("spillover:stepped-at", 7200);
    world.weights = (1, 1);
    world.concurrency = Some(vec![70.0]);
    let fake = Fake::new(world);
    let denied_read = get_metric_data();
    let summary = run(&fake.controller_with_metric_data(&steps, &denied_read)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(denied_read.num_calls(), 1);
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=0")
    );
}
