//! The `spillover` binary: the Lambda `bootstrap` when `AWS_LAMBDA_RUNTIME_API` is set,
//! the command-line tool otherwise.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Logs to stderr, JSON when AWS_LAMBDA_LOG_FORMAT=JSON.
    spillover::logging::init();

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // Lambda: config and clients once at cold start, then one loop per event.
        if let Err(e) = spillover::lambda::serve().await {
            tracing::error!(error = %e, "spillover stopped");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }

    // Command line: plan, replay or status.
    let code = spillover::cli::run(std::env::args().skip(1).collect()).await;
    ExitCode::from(code as u8)
}
