//! The Lambda entry point: config and clients once at cold start, then one loop per event.

use std::time::SystemTime;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::{error, info, warn};

use crate::aws::Aws;
use crate::config::Config;
use crate::controller::Controller;
use crate::logging;
use crate::report::{Summary, log_line};
use crate::trigger::Trigger;

/// Serves invocations until the runtime stops. A bad config fails the cold start.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    if config.metrics.is_some()
        && logging::lambda_drops_info(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref())
    {
        warn!(
            "the function's log level is above INFO: Lambda drops the summary line (and its metrics) of every run that did not fail; set ApplicationLogLevel to INFO"
        );
    }
    let aws = Aws::from_env(&config).await;
    let controller = Controller::new(config, aws);
    let controller = &controller;
    // The payload is taken as raw text, so that the trigger's parser sees it as sent (a key
    // given twice included) rather than as a `Value` that kept the last one.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { handle(controller, event).await },
    ))
    .await
}

/// Returns the summary. A failure that a retry may fix is returned as an error, so that
/// Lambda's asynchronous retry (and then the on-failure destination) gets the event. One
/// that it cannot fix (a rejected event, a configuration the AWS resources contradict) is
/// returned as the summary: a retry would fail the same way, a minute later. It is still
/// reported: the log line at ERROR with its `Failed` or `Rejected` metric, and the failure
/// notification.
async fn handle(
    controller: &Controller,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Value, lambda_runtime::Error> {
    let summary = match Trigger::parse(event.payload.get(), &controller.config) {
        Ok(trigger) => {
            let deadline = controller.deadline(Some(event.context.deadline()));
            controller.run(trigger, deadline, false).await
        }
        Err(e) => {
            error!(error = %e, "event rejected; nothing was read or written");
            Summary::rejected(e)
        }
    };
    // One line per invocation, whatever the log format, for CloudWatch Logs Insights and
    // (as embedded metrics) for CloudWatch Metrics.
    let metrics = controller.config.metrics.as_ref();
    println!("{}", log_line(&summary, metrics, SystemTime::now()));
    let json = serde_json::to_value(&summary)?;
    match summary.error {
        Some(e) if e.is_retryable() => {
            error!(error = %e, "invocation failed; Lambda retries it");
            Err(e.into())
        }
        Some(e) => {
            error!(error = %e, "invocation failed; not retried: running it again cannot help");
            Ok(json)
        }
        None => {
            info!(outcome = ?summary.outcome, "invocation done");
            Ok(json)
        }
    }
}
