//! Structured logs through `tracing`: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise.
//! Logs go to stderr so that stdout carries only the JSON a command prints.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(lambda_level))
        .unwrap_or_else(|| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(directives))
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

/// Lambda's log levels (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) as a `tracing` filter.
fn lambda_level(level: String) -> String {
    match level.to_ascii_lowercase().as_str() {
        "fatal" => "error".into(),
        other => other.into(),
    }
}
