//! The Lambda entry point: config and clients once at cold start, then one loop per event.

use std::time::SystemTime;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(controller, event).await
    }))
    .await
}

/// Returns the summary; a failure is returned as an error so that the asynchronous retry
/// (and then the on-failure destination) gets the event.
async fn handle(
    controller: &Controller,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let summary = match Trigger::from_value(event.payload, &controller.config) {
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
        Some(e) => {
            error!(error = %e, retryable = e.is_retryable(), "invocation failed");
            Err(e.into())
        }
        None => {
            info!(outcome = ?summary.outcome, "invocation done");
            Ok(json)
        }
    }
}
