//! Thin adapters over the AWS SDK: one module per service. They make the calls, count
//! them, and turn SDK output into domain values; they decide nothing.

pub mod alarms;
pub mod ecs;
pub mod listener;
pub mod scaling;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;

use crate::config::Config;

/// AWS calls made during one invocation (each counted once, however often the SDK retried it).
#[derive(Debug, Default)]
pub struct Calls {
    reads: AtomicU32,
    writes: AtomicU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub reads: u32,
    pub writes: u32,
}

impl Calls {
    pub fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> CallCount {
        CallCount {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

/// The adapters, sharing one call counter.
pub struct Aws {
    pub alarms: alarms::Alarms,
    pub ecs: ecs::Ecs,
    pub listener: listener::Listener,
    pub scaling: scaling::Scaling,
    pub calls: Arc<Calls>,
}

impl Aws {
    /// Builds the adapters from SDK clients (real ones, or mocks in tests).
    pub fn new(
        config: &Config,
        cloudwatch: aws_sdk_cloudwatch::Client,
        ecs: aws_sdk_ecs::Client,
        elb: aws_sdk_elasticloadbalancingv2::Client,
        autoscaling: aws_sdk_applicationautoscaling::Client,
    ) -> Self {
        let calls = Arc::new(Calls::default());
        Aws {
            alarms: alarms::Alarms::new(
                cloudwatch,
                config.alarm_names.clone(),
                config.warm_alarm_names.clone(),
                calls.clone(),
            ),
            ecs: ecs::Ecs::new(
                ecs,
                config.cluster.clone(),
                config.service.clone(),
                config.ecs_target_group_arn.clone(),
                calls.clone(),
            ),
            listener: listener::Listener::new(
                elb,
                config.site.clone(),
                config.lambda_target_group_arn.clone(),
                config.ecs_target_group_arn.clone(),
                calls.clone(),
            ),
            scaling: scaling::Scaling::new(
                autoscaling,
                &config.cluster,
                &config.service,
                calls.clone(),
            ),
            calls,
        }
    }

    /// Builds the clients from the environment's AWS config (`AWS_ENDPOINT_URL` included).
    pub async fn from_env(config: &Config) -> Self {
        // A hung call must not eat the Lambda deadline: each attempt and each call is bounded.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .operation_attempt_timeout(std::time::Duration::from_secs(10))
            .operation_timeout(std::time::Duration::from_secs(30))
            .build();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        Self::new(
            config,
            aws_sdk_cloudwatch::Client::new(&shared),
            aws_sdk_ecs::Client::new(&shared),
            aws_sdk_elasticloadbalancingv2::Client::new(&shared),
            aws_sdk_applicationautoscaling::Client::new(&shared),
        )
    }
}
