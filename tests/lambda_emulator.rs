//! The same events through the Lambda runtime emulator (`cargo lambda watch` and
//! `cargo lambda invoke`, from the venv), with the binary running as the `bootstrap`.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ROOT, World, event, weights};

fn cargo_lambda() -> String {
    let path = Path::new(ROOT).join(".venv/bin/cargo-lambda");
    assert!(
        path.exists(),
        "{} not found: run `make venv`",
        path.display()
    );
    path.display().to_string()
}

/// `cargo lambda watch`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Emulator {
    child: Child,
    port: u16,
}

impl Emulator {
    fn start(world: &World) -> Emulator {
        // `cargo lambda watch` runs `cargo run --bin spillover`: build that binary first, so
        // the first invocation does not wait for a build (`make test` has built it already).
        let build = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--bin", "spillover"])
            .current_dir(ROOT)
            .status();
        assert!(
            build.expect("run cargo build").success(),
            "cargo build --bin spillover failed"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(world.dir.join("watch.log")).unwrap();
        let child = Command::new(cargo_lambda())
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--quiet",
                "--timeout",
                "120",
            ])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .current_dir(ROOT)
            // cargo-lambda looks for zig and cargo through PATH; the venv comes first.
            .env(
                "PATH",
                format!(
                    "{ROOT}/.venv/bin:{}",
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .envs(&world.env)
            .envs(support::FAST_POLICY.iter().copied())
            .env("SPILLOVER_POLL_INTERVAL_MS", "250")
            .env("SPILLOVER_POLL_MAX_INTERVAL_MS", "500")
            .env("SPILLOVER_DEADLINE_MARGIN_MS", "1000")
            // Lambda's log level (ApplicationLogLevel) must win over RUST_LOG in Lambda.
            .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start cargo lambda watch");
        let emulator = Emulator { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "cargo lambda watch did not listen in 240s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        emulator
    }

    /// Invokes the function with a recorded event; returns (exit status, stdout, stderr).
    fn invoke(&self, event_name: &str) -> (i32, String, String) {
        let out = Command::new(cargo_lambda())
            .args(["lambda", "invoke", "spillover", "--output-format", "json"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
            ])
            .args(["--data-file", &event(event_name)])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A rejected event is answered with its summary (no retry can help), not failed.
fn rejected_answer(code: i32, stdout: &str, stderr: &str) -> Value {
    assert_eq!(code, 0, "{stderr}");
    let response: Value = serde_json::from_str(stdout).unwrap();
    assert_eq!(
        (&response["outcome"], &response["retryable"]),
        (&Value::from("rejected"), &Value::from(false)),
        "{response}"
    );
    response
}

#[test]
fn alarm_and_ok_through_the_lambda_runtime_emulator() {
    let world = World::start(&[
        "--task-start-delay",
        "0.3",
        "--health-delay",
        "0.5",
        "--sticky-secs",
        "0",
    ]);
    let emulator = Emulator::start(&world);
    let watch_log = || std::fs::read_to_string(world.dir.join("watch.log")).unwrap_or_default();

    world.alarm_from("alarm-metric.json");
    let (code, stdout, stderr) = emulator.invoke("alarm-metric.json");
    assert_eq!(code, 0, "invoke failed: {stderr}\n{}", watch_log());
    let response: Value = serde_json::from_str(&stdout).expect("the response is the JSON summary");
    assert_eq!(response["outcome"], "done", "{response}");
    assert_eq!(weights(&world.snapshot()), (0, 1));

    world.alarm_from("ok-metric.json");
    let (code, stdout, stderr) = emulator.invoke("ok-metric.json");
    assert_eq!(code, 0, "invoke failed: {stderr}\n{}", watch_log());
    let response: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(response["outcome"], "done", "{response}");
    // Weights back; the scale-in waits for a later run, once ALB has applied them.
    let snapshot = world.snapshot();
    assert_eq!(
        (weights(&snapshot), snapshot["desired"].as_i64()),
        ((1, 0), Some(2))
    );

    // An alarm that is not configured is rejected, and nothing is written. Running it again
    // cannot help, so it is answered (not failed): Lambda does not retry it.
    let (code, stdout, stderr) = emulator.invoke("alarm-unconfigured.json");
    let response = rejected_answer(code, &stdout, &stderr);
    assert!(
        response["error"]
            .as_str()
            .unwrap_or_default()
            .contains("billing-estimate-high"),
        "{response}"
    );
    assert_eq!(
        world.snapshot()["listener_default_actions"],
        snapshot["listener_default_actions"]
    );

    // A key given twice is refused on the Lambda path too, whichever name comes last.
    let (code, stdout, stderr) = emulator.invoke("malformed-duplicate-key.json");
    rejected_answer(code, &stdout, &stderr);
    assert!(
        watch_log().contains("the key \"alarmName\" appears twice"),
        "{stderr}
{}",
        watch_log()
    );
    assert_eq!(
        world.snapshot()["listener_default_actions"],
        snapshot["listener_default_actions"]
    );

    // The summary is logged as one JSON line per invocation, the rejected events' too,
    // with a level and a timestamp for Lambda's log-level filter and the embedded metrics.
    let log = watch_log();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("outcome").is_some())
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    let (spill, back, rejected) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(lines[3]["outcome"], "rejected");
    for line in &lines {
        let ts = line["timestamp"].as_str().expect("a timestamp");
        assert!(
            ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
            "RFC 3339: {ts}"
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "spillover", "{line}");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Service"]]));
        assert_eq!(line["Service"], "web-app");
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value: {line}");
        }
    }
    assert_eq!(spill["level"], "INFO");
    assert_eq!(
        (
            &spill["Spilled"],
            &spill["Returned"],
            &spill["EcsTrafficShare"]
        ),
        (&Value::from(1.0), &Value::from(0.0), &Value::from(100.0)),
        "{spill}"
    );
    assert_eq!(spill["DesiredTasks"], 2.0);
    assert!(spill["HealthyTargets"].as_f64() >= Some(1.0), "{spill}");
    // Tasks start after 0.3 s and their targets turn healthy 0.5 s later.
    assert!(spill["TimeToReady"].as_f64() >= Some(500.0), "{spill}");
    assert!(spill["ReactionTime"].as_f64() >= Some(0.0), "{spill}");
    assert!(spill["AwsCalls"].as_f64() > Some(5.0), "{spill}");
    assert_eq!(
        (
            &back["Returned"],
            &back["Spilled"],
            &back["EcsTrafficShare"]
        ),
        (&Value::from(1.0), &Value::from(0.0), &Value::from(0.0)),
        "{back}"
    );
    assert!(back.get("TimeToReady").is_none(), "{back}");
    assert_eq!(rejected["level"], "ERROR");
    assert_eq!(rejected["outcome"], "rejected");
    assert_eq!(rejected["Rejected"], 1.0);
    assert_eq!(rejected["AwsCalls"], 0.0);

    // AWS_LAMBDA_LOG_LEVEL=WARN won over RUST_LOG=info: no INFO log, and the cold start
    // says the summary lines of good runs would be dropped in Lambda.
    assert!(!log.contains("invocation done"), "{log}");
    assert!(log.contains("log level is above INFO"), "{log}");
}
