//! `spillover-demo-app`: the Lambda function when `AWS_LAMBDA_RUNTIME_API` is set (an ALB
//! target, through `lambda_http`), a plain HTTP server on `PORT` otherwise (a Fargate
//! task). Same router, same image, same answers, except `served_by`.

use std::process::ExitCode;
use std::time::Duration;

use spillover_demo_app::{Mode, Origin, router, server};

#[tokio::main]
async fn main() -> ExitCode {
    // Logs to stdout; Lambda's AWS_LAMBDA_LOG_LEVEL / AWS_LAMBDA_LOG_FORMAT, else RUST_LOG.
    lambda_http::tracing::init_default_subscriber();

    match Mode::from_env() {
        // Lambda: the binary is its own runtime client; ALB events in, ALB responses out.
        Mode::Lambda => {
            let app = router(Origin::lambda());
            if let Err(e) = lambda_http::run(app).await {
                tracing::error!(error = %e, "Lambda runtime stopped");
                return ExitCode::FAILURE;
            }
        }
        // Server: bind first (a bad HOST or PORT fails at once), learn the task, serve until SIGTERM.
        Mode::Server => {
            let addr = match server::addr_from_env() {
                Ok(addr) => addr,
                Err(e) => {
                    tracing::error!(error = %e, "bad configuration");
                    return ExitCode::from(2);
                }
            };
            let listener = match server::bind(addr).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::error!(error = %e, %addr, "cannot listen");
                    return ExitCode::FAILURE;
                }
            };
            let origin = Origin::server(Duration::from_secs(1)).await;
            tracing::info!(%addr, name = %origin.name, "serving HTTP");
            if let Err(e) = server::serve(listener, router(origin)).await {
                tracing::error!(error = %e, "server stopped");
                return ExitCode::FAILURE;
            }
            tracing::info!("stopped");
        }
    }
    ExitCode::SUCCESS
}
