//! Structured logs through `tracing`: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise.
//! Logs go to stderr so that stdout carries only the JSON a command prints.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let directives = directives(
        std::env::var("RUST_LOG").ok(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(),
        std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some(),
    );
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

/// The log filter. Inside Lambda the function's log level (`AWS_LAMBDA_LOG_LEVEL`, from
/// its `ApplicationLogLevel`) wins over `RUST_LOG`, as the runtime's own helper does
/// (`lambda_runtime_api_client::tracing::init_default_subscriber_with_writer`, 1.1: "if
/// `AWS_LAMBDA_LOG_LEVEL` is set, it takes precedence over any other environment
/// variables"): Lambda drops lines below that level anyway, so logging them only costs
/// time. On the command line `RUST_LOG` wins. Default: `info`.
pub fn directives(
    rust_log: Option<String>,
    lambda_level: Option<String>,
    in_lambda: bool,
) -> String {
    let rust_log = rust_log.filter(|v| !v.trim().is_empty());
    let lambda_level = lambda_level
        .filter(|v| !v.trim().is_empty())
        .map(lambda_level_directive);
    let chosen = if in_lambda {
        lambda_level.or(rust_log)
    } else {
        rust_log.or(lambda_level)
    };
    chosen.unwrap_or_else(|| "info".into())
}

/// Whether Lambda's log-level filter drops INFO lines, and with them the summary line of
/// every run that did not fail (and its embedded metrics).
pub fn lambda_drops_info(lambda_level: Option<&str>) -> bool {
    lambda_level.is_some_and(|l| {
        matches!(
            l.trim().to_ascii_lowercase().as_str(),
            "warn" | "error" | "fatal"
        )
    })
}

/// Lambda's log levels (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) as a `tracing` filter.
fn lambda_level_directive(level: String) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "fatal" => "error".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn inside_lambda_the_functions_log_level_wins_over_rust_log() {
        assert_eq!(directives(some("debug"), some("WARN"), true), "warn");
        assert_eq!(directives(some("debug"), some("FATAL"), true), "error");
        assert_eq!(directives(some("debug"), None, true), "debug");
        assert_eq!(directives(None, None, true), "info");
    }

    #[test]
    fn on_the_command_line_rust_log_wins() {
        assert_eq!(directives(some("debug"), some("WARN"), false), "debug");
        assert_eq!(directives(None, some("ERROR"), false), "error");
        assert_eq!(directives(some(" "), None, false), "info");
    }

    #[test]
    fn warn_and_above_drop_the_summary_line_of_a_good_run() {
        assert!(lambda_drops_info(Some("WARN")));
        assert!(lambda_drops_info(Some("fatal")));
        assert!(!lambda_drops_info(Some("INFO")));
        assert!(!lambda_drops_info(None));
    }
}
