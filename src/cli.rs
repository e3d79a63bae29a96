//! The command-line tool: `plan`, `replay`, `status` and `check`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::aws::Aws;
use crate::config::Config;
use crate::controller::Controller;
use crate::decide::decide;
use crate::error::{Error, Result};
use crate::observed::{AlarmState, Observed, Weights};
use crate::target::{Permission, Target, permission};
use crate::trigger::Trigger;

pub const USAGE: &str = "\
spillover: spill web traffic from Lambda to ECS Fargate while a CloudWatch alarm fires

Usage:
  spillover plan EVENT.json [--observed STATE.json]   print the plan for an event; no AWS calls
  spillover replay [--dry-run] EVENT.json...          run the loop for each event against the
                                                      local world (AWS_ENDPOINT_URL)
  spillover replay --aws [--yes] EVENT.json...        ... against real AWS: a dry run without --yes
  spillover replay --timeout-secs N ...               ... each run under a Lambda deadline N s away
  spillover status                                    print the observed state as JSON
  spillover check [--json] [--timeout-secs N]         check the configured resources; read-only

Configuration comes from SPILLOVER_* environment variables (see docs/configuration.md);
AWS_ENDPOINT_URL points the AWS calls at a local emulator; without it, replay refuses
to run unless --aws is given, and writes nothing unless --yes is given too.
Exit status: 0 done or nothing to do, 2 bad input or config, 1 AWS failure or timeout.";

/// Runs a command and returns the process exit status.
pub async fn run(args: Vec<String>) -> i32 {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["-h" | "--help" | "help", ..] => {
            println!("{USAGE}");
            return 0;
        }
        ["-V" | "--version", ..] => {
            println!("spillover {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        ["plan", rest @ ..] => plan(rest),
        ["replay", rest @ ..] => replay(rest).await,
        ["status"] => status().await,
        ["status", ..] => Err(usage_error("status takes no arguments")),
        ["check", rest @ ..] => check(rest).await,
        [other, ..] => Err(Error::BadInput(format!(
            "unknown command {other:?}\n\n{USAGE}"
        ))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spillover: {e}");
            e.exit_code()
        }
    }
}

fn usage_error(what: &str) -> Error {
    Error::BadInput(format!("{what}\n\n{USAGE}"))
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(Path::new(path))
        .map_err(|e| Error::BadInput(format!("cannot read {path}: {e}")))
}

fn print(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("summaries serialize")
    );
}

/// `plan EVENT.json [--observed STATE.json]`. Without `--observed`, the world is taken as
/// idle (traffic on Lambda, service at the idle count) with the alarm in the event's state
/// since the event (so an OK event is inside the return hold).
fn plan(args: &[&str]) -> Result<i32> {
    let (event, observed) = match args {
        [event] => (*event, None),
        [event, "--observed", state] | ["--observed", state, event] => (*event, Some(*state)),
        _ => {
            return Err(usage_error(
                "plan takes one EVENT.json and an optional --observed STATE.json",
            ));
        }
    };
    let config = Config::from_env()?;
    let trigger = Trigger::parse(&read(event)?, &config).map_err(|e| in_file(event, e))?;
    let observed = match observed {
        Some(path) => serde_json::from_str(&read(path)?).map_err(|e| {
            Error::BadInput(format!(
                "{path} is not an observed state (as `spillover status` prints it): {e}"
            ))
        })?,
        None => Observed {
            alarm: match &trigger {
                Trigger::Alarm { state, .. } => *state,
                Trigger::Tick { .. } => AlarmState::Ok,
            },
            alarm_age_secs: match &trigger {
                Trigger::Alarm { .. } => Some(0.0),
                Trigger::Tick { .. } => None,
            },
            alarms_blind: false,
            warm: None,
            warm_age_secs: None,
            weights: Weights::ON_LAMBDA,
            desired: config.idle_count,
            running: 0,
            healthy: 0,
            sticky_secs: 0,
            scalable: None,
            marks: Default::default(),
            drain: None,
            split_load: None,
            split_settles_in_secs: None,
            demand_load: None,
            demand_unsettled: false,
            alarm_silent_secs: None,
            alarm_breach_read: None,
        },
    };
    let plan = decide(&trigger, &observed, &config);
    print(&json!({ "trigger": trigger, "observed": observed, "plan": plan }));
    Ok(0)
}

/// `replay [--dry-run] [--aws [--yes]] [--timeout-secs N] EVENT.json...`: every event is
/// checked before the first AWS call, and real AWS is an explicit choice (see
/// [`crate::target`]). `--timeout-secs` runs each event as the function would with that
/// timeout: the wait ends the margin before the deadline, and every call is abandoned half
/// the margin before it.
async fn replay(args: &[&str]) -> Result<i32> {
    const FLAGS: [&str; 3] = ["--dry-run", "--aws", "--yes"];
    let flag = |name: &str| args.contains(&name);
    let mut timeout = None;
    let mut paths: Vec<&str> = Vec::new();
    let mut rest = args.iter().copied();
    while let Some(arg) = rest.next() {
        match arg {
            "--timeout-secs" => timeout = Some(function_timeout(rest.next())?),
            a if FLAGS.contains(&a) => {}
            a => paths.push(a),
        }
    }
    if paths.is_empty() {
        return Err(usage_error("replay needs at least one EVENT.json"));
    }
    if let Some(flag) = paths.iter().find(|p| p.starts_with("--")) {
        return Err(usage_error(&format!("unknown option {flag}")));
    }
    if flag("--yes") && !flag("--aws") {
        return Err(usage_error(
            "--yes confirms writes to real AWS: it goes with --aws",
        ));
    }
    let config = Config::from_env()?;
    let triggers = paths
        .iter()
        .map(|path| Trigger::parse(&read(path)?, &config).map_err(|e| in_file(path, e)))
        .collect::<Result<Vec<_>>>()?;
    let shared = crate::aws::shared_config().await;
    let target = Target::from_shared(&config, &shared)?;
    let dry_run = match permission(&target, flag("--aws"), flag("--yes"), flag("--dry-run"))? {
        Permission::Write => false,
        Permission::DryRun => true,
    };
    // Before the first call, on stderr: stdout carries only the summaries.
    eprintln!(
        "spillover: replaying {} event(s) against {target}{}",
        paths.len(),
        match (dry_run, target.is_real()) {
            (false, _) => ": writing",
            (true, true) if !flag("--dry-run") =>
                ": dry run, nothing is written (add --yes to write)",
            (true, _) => ": dry run, nothing is written",
        }
    );
    let controller = Controller::new(config.clone(), Aws::from_shared(&config, &shared));
    let mut worst = 0;
    for (path, trigger) in paths.iter().zip(triggers) {
        tracing::info!(event = path, "replay");
        let lambda_deadline = timeout.map(|secs| SystemTime::now() + Duration::from_secs_f64(secs));
        let summary = controller
            .run(trigger, controller.deadline(lambda_deadline), dry_run)
            .await;
        print(&summary);
        if let Some(e) = &summary.error {
            eprintln!("spillover: {path}: {e}");
        }
        worst = worst.max(summary.exit_code());
    }
    Ok(worst)
}

async fn status() -> Result<i32> {
    let config = Config::from_env()?;
    let controller = Controller::new(config.clone(), Aws::from_env(&config).await);
    print(&controller.observe().await?);
    Ok(0)
}

/// The value of `--timeout-secs`: the function's timeout in seconds, above 0.
fn function_timeout(value: Option<&str>) -> Result<f64> {
    let value = value.ok_or_else(|| usage_error("--timeout-secs needs a number of seconds"))?;
    match value.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(secs),
        _ => Err(usage_error(&format!(
            "the function timeout must be a number of seconds above 0, got {value:?}"
        ))),
    }
}

/// `check [--json] [--timeout-secs N]`: the checklist, exit 0 (all ✓), 1 (a ⚠) or 2 (a ✗).
/// The controller's Lambda timeout comes from `--timeout-secs`, else
/// `AWS_LAMBDA_FUNCTION_TIMEOUT`.
async fn check(args: &[&str]) -> Result<i32> {
    let mut json = false;
    let from_env = std::env::var("AWS_LAMBDA_FUNCTION_TIMEOUT").ok();
    let mut timeout = None;
    let mut rest = args.iter().copied();
    while let Some(arg) = rest.next() {
        match arg {
            "--json" => json = true,
            "--timeout-secs" => timeout = Some(function_timeout(rest.next())?),
            other => return Err(usage_error(&format!("check: unknown argument {other}"))),
        }
    }
    let timeout = match timeout {
        Some(secs) => Some(secs),
        None => from_env
            .as_deref()
            .map(|t| function_timeout(Some(t)))
            .transpose()?,
    };
    let config = Config::from_env()?;
    let aws = Aws::from_env(&config).await;
    let facts = crate::check::read::facts(&aws, &config, timeout).await;
    let items = crate::check::rules::checklist(&facts, &config);
    let code = crate::check::exit_code(&items);
    if json {
        print(&json!({ "checks": items, "exit_code": code }));
    } else {
        print!("{}", crate::check::render(&items));
    }
    Ok(code)
}

fn in_file(path: &str, e: Error) -> Error {
    match e {
        Error::BadInput(msg) => Error::BadInput(format!("{path}: {msg}")),
        other => other,
    }
}
