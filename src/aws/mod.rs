//! Thin adapters over the AWS SDK: one module per service. They make the calls, count
//! them, and turn SDK output into domain values; they decide nothing.

pub mod alarms;
pub mod ecs;
pub mod events;
pub mod listener;
pub mod scaling;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;

use crate::config::Config;

/// AWS calls made during one invocation (each counted once, however often the SDK retried
/// it), and the SDK's retries: attempts beyond the first, over all calls.
#[derive(Debug, Default)]
pub struct Calls {
    reads: AtomicU32,
    writes: AtomicU32,
    retried: AtomicU32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub reads: u32,
    pub writes: u32,
    /// Attempts the SDK made beyond the first of each call (throttled, 5xx, timed out).
    pub retried: u32,
}

impl CallCount {
    /// The requests a wait counts against its budget: the reads and the SDK's retries.
    pub fn requests(&self) -> u32 {
        self.reads + self.retried
    }

    /// The calls made since `before`.
    pub fn since(self, before: CallCount) -> CallCount {
        CallCount {
            reads: self.reads - before.reads,
            writes: self.writes - before.writes,
            retried: self.retried - before.retried,
        }
    }
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
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}

/// Counts the SDK's retries: the orchestrator stores the attempt number in the config bag
/// before each attempt (aws-smithy-runtime `client/orchestrator.rs`, `RequestAttempts`,
/// starting at 1), and `read_before_attempt` runs inside every attempt.
#[derive(Debug)]
struct CountRetries(Arc<Calls>);

impl Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "CountRetries"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            self.0.retried.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The SDK's retry policy for every call, reads and writes alike.
///
/// - **Standard mode**, not adaptive. Standard retries throttling errors, 5xx, timeouts and
///   I/O errors with exponential backoff and full jitter, within a retry quota; adaptive
///   adds a client-side rate limiter that, once throttled, slows *every* later call of the
///   client, the weight write included, and the SDKs' reference guide calls it
///   experimental (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>).
///   spillover makes about 2 reads a second while it waits and a handful otherwise, far
///   below the APIs' buckets (ELBv2: 40 Describe* tokens, refilled 10 a second,
///   <https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html>;
///   ECS: <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>;
///   CloudWatch: a per-API transactions-per-second quota,
///   <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html>):
///   when it is throttled, the bucket is being emptied by someone else and refills within a
///   second, so a few short retries get through where a rate limiter would only slow us.
/// - **5 attempts** (the default is 3, <https://docs.aws.amazon.com/sdk-for-rust/latest/dg/retries.html>):
///   three throttles in a row must not fail an invocation, which under Lambda means waiting
///   a minute for the asynchronous retry while Lambda drops requests.
/// - **Backoff from 200 ms, at most 5 s** (defaults 1 s and 20 s): with full jitter the four
///   retries wait 1.5 s on average and 3 s at most, well within one refill of the buckets
///   above, and little next to the wait budget.
/// - **Writes** are retried like reads, which is safe because each is idempotent here:
///   `ModifyListener`/`ModifyRule` send the whole action list with absolute weights,
///   `UpdateService` an absolute desired count, `TagResource` absolute values,
///   `RegisterScalableTarget` an absolute minimum. A retry after a lost answer writes the
///   same state again.
/// - **Timeouts**: an attempt gets 5 s (these APIs answer in well under a second), a call
///   20 s with its retries and backoff, so a hung endpoint costs a bounded time and the
///   wait's own deadline still holds the invocation inside the Lambda timeout.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5))
}

/// Attempts per call, the first included.
pub const MAX_ATTEMPTS: u32 = 5;

fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(20))
        .build()
}

/// The adapters, sharing one call counter.
pub struct Aws {
    pub alarms: alarms::Alarms,
    pub ecs: ecs::Ecs,
    pub listener: listener::Listener,
    pub scaling: scaling::Scaling,
    /// The notification bus, when `SPILLOVER_EVENT_BUS` is set.
    pub events: Option<events::Events>,
    pub calls: Arc<Calls>,
}

impl Aws {
    /// Builds the adapters from SDK clients (real ones, or mocks in tests), each given the
    /// interceptor that counts the SDK's retries.
    pub fn new(
        config: &Config,
        cloudwatch: aws_sdk_cloudwatch::Client,
        ecs: aws_sdk_ecs::Client,
        elb: aws_sdk_elasticloadbalancingv2::Client,
        autoscaling: aws_sdk_applicationautoscaling::Client,
    ) -> Self {
        let calls = Arc::new(Calls::default());
        let count = || CountRetries(calls.clone());
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            cloudwatch
                .config()
                .to_builder()
                .interceptor(count())
                .build(),
        );
        let ecs =
            aws_sdk_ecs::Client::from_conf(ecs.config().to_builder().interceptor(count()).build());
        let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(
            elb.config().to_builder().interceptor(count()).build(),
        );
        let autoscaling = aws_sdk_applicationautoscaling::Client::from_conf(
            autoscaling
                .config()
                .to_builder()
                .interceptor(count())
                .build(),
        );
        Aws {
            alarms: alarms::Alarms::new(
                cloudwatch,
                config.alarm_names.clone(),
                config.warm_alarm_names.clone(),
                (
                    listener::target_group_dimension(&config.lambda_target_group_arn)
                        .unwrap_or_default(),
                    listener::target_group_dimension(&config.ecs_target_group_arn)
                        .unwrap_or_default(),
                ),
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
            events: None,
            calls,
        }
    }

    /// Builds the clients from the environment's AWS config (`AWS_ENDPOINT_URL` included),
    /// with spillover's retry policy and timeouts (`retry_config`).
    pub async fn from_env(config: &Config) -> Self {
        Self::from_shared(config, &shared_config().await)
    }

    /// Builds the clients from a shared config loaded by [`shared_config`].
    pub fn from_shared(config: &Config, shared: &aws_config::SdkConfig) -> Self {
        let mut aws = Self::new(
            config,
            aws_sdk_cloudwatch::Client::new(shared),
            aws_sdk_ecs::Client::new(shared),
            aws_sdk_elasticloadbalancingv2::Client::new(shared),
            aws_sdk_applicationautoscaling::Client::new(shared),
        );
        aws.events = config.event_bus.clone().map(|bus| {
            events::Events::new(
                aws_sdk_eventbridge::Client::new(shared),
                bus,
                aws.calls.clone(),
            )
        });
        aws
    }
}

/// The environment's AWS config (`AWS_ENDPOINT_URL` included), with spillover's retry policy
/// and timeouts (`retry_config`). Loading it makes no network call.
pub async fn shared_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}
