//! The Lambda entry point: config and clients once at cold start, then one loop per event.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::{error, info};

use crate::aws::Aws;
use crate::config::Config;
use crate::controller::Controller;
use crate::trigger::Trigger;

/// Serves invocations until the runtime stops. A bad config fails the cold start.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
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

/// Returns the summary; a failure is returned as an error so that the asynchronous retry
/// (and then the on-failure destination) gets the event.
async fn handle(
    controller: &Controller,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Value, lambda_runtime::Error> {
    let trigger = Trigger::parse(event.payload.get(), &controller.config).inspect_err(|e| {
        error!(error = %e, "event rejected; nothing was written");
    })?;
    let deadline = controller.deadline(Some(event.context.deadline()));
    let summary = controller.run(trigger, deadline, false).await;
    let json = serde_json::to_value(&summary)?;
    // One line per invocation, whatever the log format, for CloudWatch Logs Insights.
    println!("{json}");
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
