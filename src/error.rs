//! Errors, what each one means for the caller, and which of them a retry can fix.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::ProvideErrorKind;

/// Everything that can stop one run of the loop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event is not one spillover accepts; retrying the same event cannot help.
    #[error("bad input: {0}")]
    BadInput(String),

    /// A `SPILLOVER_*` variable is missing or invalid.
    #[error("bad config: {0}")]
    Config(String),

    /// The AWS resources do not look like the config says (e.g. a target group is missing
    /// from the listener's forward action). Nothing was written.
    #[error("the AWS resources do not match the config: {0}")]
    Topology(String),

    /// An AWS API call failed after the SDK's own retries. `transient`: the kind of
    /// failure the SDK itself retries (throttling, a 5xx, a timeout, a dropped connection),
    /// so the same call a little later may succeed.
    #[error("AWS call {operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
        transient: bool,
    },

    /// The bounded poller ran out of time; traffic was left where it was.
    #[error(
        "timed out after {waited_secs:.1}s waiting for {what} (last seen: {last_seen}{}); traffic left where it was, a retry runs the loop again",
        errors_seen(*.errors, .last_error.as_deref())
    )]
    Timeout {
        what: String,
        waited_secs: f64,
        last_seen: String,
        /// Checks that failed with a transient error during the wait.
        errors: u32,
        last_error: Option<String>,
    },

    /// A task of the service stopped while we waited for it to start.
    #[error(
        "task {task} of service {service} stopped while starting: {reason}; traffic left where it was"
    )]
    TaskStopped {
        service: String,
        task: String,
        reason: String,
    },

    /// The ECS target group lost health between the wait and the weight change.
    #[error(
        "the ECS target group has {healthy} healthy targets, fewer than SPILLOVER_MIN_HEALTHY ({min_healthy}); traffic left where it was"
    )]
    NotReady { healthy: u32, min_healthy: u32 },

    /// The world changed between the decision and a write; the write was not made.
    #[error("{0}; nothing more was written and the loop runs again on the next event or retry")]
    Changed(String),

    /// A step (or the first look) had not finished when the Lambda deadline came near: it
    /// was abandoned so that the run still reports. A write it was making may or may not
    /// have happened; the next run reads the world again and converges.
    #[error(
        "{0} had not finished {1:.1}s before the Lambda deadline and was abandoned; whether it took effect is known only to the next run, which reads the world again"
    )]
    Deadline(String, f64),

    /// The weights read back after a write are not the ones written.
    #[error(
        "weights read back as lambda {got_lambda} / ecs {got_ecs} after writing lambda {want_lambda} / ecs {want_ecs}"
    )]
    Verify {
        want_lambda: i32,
        want_ecs: i32,
        got_lambda: i32,
        got_ecs: i32,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Exit status on the command line: 2 for bad input or config, 1 for AWS failures and timeouts.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput(_) | Error::Config(_) | Error::Topology(_) => 2,
            _ => 1,
        }
    }

    /// Whether running the loop again later may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Aws { .. }
                | Error::Timeout { .. }
                | Error::NotReady { .. }
                | Error::Changed(_)
                | Error::Deadline(..)
                | Error::Verify { .. }
        )
    }

    /// Whether the same call a little later may succeed: an AWS call that failed in a way
    /// the SDK retries. A wait counts such a failure as "not yet".
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                transient: true,
                ..
            }
        )
    }

    /// Wraps an SDK error with the operation's name and the full error chain, and whether
    /// it is transient. An error that says a configured resource does not exist is a
    /// [`Error::Topology`] naming the setting: retrying cannot make it exist.
    pub fn aws<E>(operation: &'static str, err: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
    {
        match err.code().and_then(setting_of_missing) {
            Some(setting) => Self::missing(operation, &err, setting),
            None => Error::Aws {
                operation,
                transient: is_transient(&err),
                message: DisplayErrorContext(&err).to_string(),
            },
        }
    }

    /// Like [`Error::aws`], for a call whose missing resource is named by `setting`.
    pub fn aws_naming<E>(operation: &'static str, err: SdkError<E>, setting: &str) -> Self
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
    {
        match err.code().and_then(setting_of_missing) {
            Some(_) => Self::missing(operation, &err, setting),
            None => Self::aws(operation, err),
        }
    }

    fn missing<E: ProvideErrorMetadata>(operation: &str, err: &E, setting: &str) -> Self {
        Error::Topology(format!(
            "{operation} says {}: {}; check {setting} (a resource in this account and region), then run `spillover check`",
            err.code().unwrap_or_default(),
            err.message().unwrap_or("not found").trim_end_matches('.'),
        ))
    }
}

/// The error codes that mean a configured resource does not exist, and the setting that
/// names it. ELBv2: `ListenerNotFound`, `RuleNotFound`, `TargetGroupNotFound`
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeListeners.html>,
/// `API_DescribeRules.html`, `API_DescribeTargetHealth.html`); ECS: `ClusterNotFoundException`,
/// `ServiceNotFoundException`, `ServiceNotActiveException`
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html>).
fn setting_of_missing(code: &str) -> Option<&'static str> {
    Some(match code {
        "ListenerNotFound" => "SPILLOVER_LISTENER_ARN",
        "RuleNotFound" => "SPILLOVER_RULE_ARN",
        "LoadBalancerNotFound" => "SPILLOVER_LISTENER_ARN or SPILLOVER_RULE_ARN",
        "TargetGroupNotFound" => {
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN"
        }
        "ClusterNotFoundException" => "SPILLOVER_CLUSTER",
        "ServiceNotFoundException" | "ServiceNotActiveException" => "SPILLOVER_SERVICE",
        _ => return None,
    })
}

/// The SDK's own classification of a failed attempt, applied to the error it gave up with
/// (aws-smithy-runtime `client/retries/classifiers.rs`: `TransientErrorClassifier`,
/// `HttpStatusCodeClassifier`, `ModeledAsRetryableClassifier`; aws-runtime
/// `retries/classifiers.rs`: `AwsErrorCodeClassifier`): timeouts, unparseable responses,
/// I/O and connection errors, HTTP 500/502/503/504, the throttling and transient error
/// codes, and errors the service models as retryable. Anything else (AccessDenied, a
/// validation error, a missing resource) is not.
fn is_transient<E>(err: &SdkError<E>) -> bool
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    const TRANSIENT_STATUS: [u16; 4] = [500, 502, 503, 504];
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::ServiceError(service) => {
            let code = ProvideErrorMetadata::code(service.err()).unwrap_or_default();
            TRANSIENT_STATUS.contains(&service.raw().status().as_u16())
                || THROTTLING_ERRORS.contains(&code)
                || TRANSIENT_ERRORS.contains(&code)
                || service.err().retryable_error_kind().is_some()
        }
        _ => false,
    }
}

/// "; N checks failed, the last with: ..." for a timeout whose wait saw errors.
fn errors_seen(errors: u32, last: Option<&str>) -> String {
    match last {
        Some(last) if errors > 0 => format!("; {errors} checks failed, the last with: {last}"),
        _ => String::new(),
    }
}
