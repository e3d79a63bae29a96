//! The state the fake AWS keeps between calls, and the names in it.

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ecs::types::TaskStopCode;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
    TargetTypeEnum,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub const LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2";
pub const RULE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/2/3";
pub const LAMBDA_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1";
pub const ECS_TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2";
pub const OTHER_TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/canary/3";
pub const ALARM: &str = "web-app-concurrency-high";
pub const WARM_ALARM: &str = "web-app-concurrency-warm";
pub const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/web-app/web-app";
pub const RESOURCE_ID: &str = "service/web-app/web-app";

/// The state the fake AWS keeps between calls.
pub struct World {
    pub alarm: StateValue,
    pub weights: (i32, i32),
    /// A third target group in the forward action, which spillover must leave alone.
    pub other_tg: bool,
    pub desired: i32,
    /// Target-health checks after a scale-out before the targets turn healthy.
    pub healthy_after_checks: u32,
    pub checks_since_scale_out: u32,
    /// Targets that stay unhealthy whatever happens.
    pub never_healthy: bool,
    /// Start tasks that stop with this reason instead of running: each look at the stopped
    /// tasks finds one more (ECS starts a replacement, which fails too), up to
    /// `fail_starts` of them when set; after those the replacements run.
    pub fail_reason: Option<String>,
    pub fail_starts: Option<u32>,
    /// The failed tasks so far.
    pub failed: u32,
    /// The stop code those tasks get.
    pub fail_stop_code: TaskStopCode,
    /// ModifyListener answers with the listener it leaves unchanged: a write that lies.
    pub lying_write: bool,
    /// The alarm goes back to OK after this many target-health checks.
    pub alarm_clears_after_checks: Option<u32>,
    /// Someone else gives ECS this weight on the listener's Nth read.
    pub ecs_weight_on_read: Option<(u32, i32)>,
    pub listener_reads: u32,
    /// Target-group stickiness (3600 s) on the forward action.
    pub sticky: bool,
    /// How long ago the alarm last changed state.
    pub alarm_changed_secs_ago: u64,
    /// The warm alarm, when there is one.
    pub warm: Option<StateValue>,
    /// The service's tags.
    pub tags: HashMap<String, String>,
    /// The scalable target's (min, max), when the service is one.
    pub scalable: Option<(i32, i32)>,
    /// RequestCount datapoints of the ECS target group, and the queries made for them.
    pub request_counts: Vec<f64>,
    /// The spill alarm is the app function's `ConcurrentExecutions`, Maximum, at or above
    /// 90: a reading spillover can carry to another split. These are its datapoints, as
    /// (seconds ago its 60 s period began, value); a read gets those inside its range.
    pub concurrency: Option<Vec<(u64, f64)>>,
    /// Datapoints of that metric that reach CloudWatch late: (from its Nth read on, seconds
    /// ago its period began, value).
    pub concurrency_late: Vec<(usize, u64, f64)>,
    /// The concurrency alarm's `TreatMissingData` (CloudWatch's default, `missing`, when
    /// `None`).
    pub treat_missing: Option<&'static str>,
    pub metric_queries: Vec<String>,
    /// The ECS target group's deregistration delay.
    pub deregistration_delay: &'static str,
    /// The spill alarm is metric math over both target groups' `RequestCount` (demand the
    /// split cannot change) rather than a single metric.
    pub demand_alarm: bool,
    /// The demand alarm alarms at or above 90, so it reads the demand: these are the
    /// datapoints of the query it evaluates in settled 60 s periods, oldest first, the
    /// newest ended 181 s ago.
    pub demand: Option<Vec<f64>>,
    /// Its datapoints in the partial periods since, oldest first, the newest still being
    /// filled (it began 30 s ago).
    pub demand_partial: Vec<f64>,
    /// The target types of the Lambda and the ECS target group.
    pub target_types: (TargetTypeEnum, TargetTypeEnum),
    /// The target groups named in the service's `loadBalancers`.
    pub service_target_groups: Vec<&'static str>,
    /// The rule is its listener's default rule.
    pub default_rule: bool,
    /// The spill alarm's state changes, newest first: (seconds ago, from, to). `None`: one,
    /// from ALARM to its state, when it last changed.
    pub alarm_history: Option<Vec<(u64, &'static str, &'static str)>>,
    /// The alarm names and start dates (seconds ago) of the history read.
    pub history_queries: Vec<String>,
    /// `DescribeServices` counts no running task until this many target-health checks
    /// after a scale-out, healthy targets or not.
    pub running_after_checks: Option<u32>,
    /// `ListTasks` calls for the running tasks (not the stopped ones).
    pub running_task_lists: u32,
    /// Every write, in order.
    pub writes: Vec<String>,
}

impl World {
    pub fn idle() -> Self {
        World {
            alarm: StateValue::Ok,
            weights: (1, 0),
            other_tg: false,
            desired: 0,
            healthy_after_checks: 2,
            checks_since_scale_out: 0,
            never_healthy: false,
            fail_reason: None,
            fail_starts: None,
            failed: 0,
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
            concurrency_late: Vec::new(),
            treat_missing: None,
            metric_queries: Vec::new(),
            deregistration_delay: "0",
            demand_alarm: false,
            demand: None,
            demand_partial: Vec::new(),
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

    pub fn spilled() -> Self {
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
    pub fn half_with_demand(demand: Vec<f64>) -> Self {
        let mut world = World {
            weights: (1, 1),
            demand: Some(demand),
            ..World::spilled()
        };
        world.tags.insert("spillover:moves".into(), "1".into());
        world
    }

    pub fn with_alarm(self, alarm: StateValue) -> Self {
        World { alarm, ..self }
    }

    /// A spillover mark, set `secs_ago` seconds ago.
    pub fn with_mark(mut self, key: &str, secs_ago: u64) -> Self {
        self.set_mark(key, secs_ago);
        self
    }

    pub fn set_mark(&mut self, key: &str, secs_ago: u64) {
        let at = SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        self.tags.insert(key.into(), format!("{secs:.3}"));
    }

    /// The tag keys set, sorted, for compact asserts.
    pub fn tag_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.tags.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// The service's `runningCount`: its tasks run once their targets are healthy, unless
    /// `running_after_checks` says later.
    pub fn running(&self) -> i32 {
        let late = self
            .running_after_checks
            .is_some_and(|n| self.checks_since_scale_out < n);
        if late || self.healthy() == 0 {
            0
        } else {
            self.desired
        }
    }

    pub fn healthy(&self) -> i32 {
        let ready = !self.never_healthy
            && (self.fail_reason.is_none() || self.fail_starts.is_some_and(|n| self.failed >= n))
            && self.checks_since_scale_out >= self.healthy_after_checks;
        if ready { self.desired } else { 0 }
    }

    pub fn forward_action(&self) -> Action {
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
    pub fn write_actions(&mut self, what: &str, actions: &[Action]) {
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

pub type Shared = Arc<Mutex<World>>;
