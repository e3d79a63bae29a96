//! Structured logs through `tracing`: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise.
//! Logs go to stderr so that stdout carries only the JSON a command prints.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL").map(|_| level_from_lambda()))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder
            .json()
            .with_current_span(false)
            .flatten_event(true)
            .init();
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder.with_ansi(ansi).init();
    }
}

/// Lambda's own log level names (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) as a filter.
fn level_from_lambda() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_default()
        .to_lowercase();
    EnvFilter::new(if level == "fatal" {
        "error".to_string()
    } else {
        level
    })
}
