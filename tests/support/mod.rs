//! A local AWS world for end-to-end tests: `python -m world serve` runs moto on 127.0.0.1,
//! seeds the topology and plays the ECS scheduler. Each test starts its own and the
//! world is killed when the handle drops, whatever the test's outcome.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv's Python, which has moto: `make venv` creates it.
pub fn python() -> PathBuf {
    let python = std::env::var_os("SPILLOVER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run `make venv` (or set SPILLOVER_PYTHON to a Python with moto[server])",
        python.display()
    );
    python
}

pub fn event(name: &str) -> String {
    format!("{ROOT}/events/{name}")
}

pub struct World {
    child: Child,
    pub dir: PathBuf,
    pub env: HashMap<String, String>,
    pub info: Value,
}

impl World {
    /// Starts a world with the scheduler's delays and options (`--task-start-delay 1` …).
    pub fn start(args: &[&str]) -> World {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spillover-e2e-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("world.log")).unwrap();
        let child = Command::new(python())
            .args(["-m", "world", "serve", "--dir"])
            .arg(&dir)
            .args(["--lifetime", "300", "--tick", "0.1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .env("PYTHONPATH", ROOT)
            .spawn()
            .expect("start python -m world serve");
        let mut world = World {
            child,
            dir,
            env: HashMap::new(),
            info: Value::Null,
        };
        let ready = world.dir.join("world.json");
        let started = Instant::now();
        while !ready.exists() {
            if let Some(status) = world.child.try_wait().unwrap() {
                panic!(
                    "the world exited ({status}) before it was ready:\n{}",
                    world.log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the world was not ready in 90s:\n{}",
                world.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        world.info = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
        world.env = serde_json::from_value(world.info["env"].clone()).unwrap();
        world
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("world.log")).unwrap_or_default()
    }

    fn world_py(&self, args: &[&str]) -> Output {
        let out = Command::new(python())
            .args(["-m", "world"])
            .args(args)
            .env("PYTHONPATH", ROOT)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python -m world {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Sets the alarm in moto the way the recorded event says CloudWatch did.
    pub fn alarm_from(&self, event_name: &str) {
        self.world_py(&["alarm", "--event", &event(event_name)]);
    }

    pub fn set_alarm(&self, state: &str) {
        self.world_py(&["alarm", "--state", state]);
    }

    pub fn snapshot(&self) -> Value {
        serde_json::from_slice(&self.world_py(&["snapshot"]).stdout).expect("snapshot is JSON")
    }

    /// The scheduler's independent record of what changed and when.
    pub fn timeline(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("timeline.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("timeline line is JSON"))
            .collect()
    }

    /// The AWS writes moto applied, in order (`api.jsonl`): `{"seq", "t", "api", ...}`.
    pub fn api_writes(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("api.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("api line is JSON"))
            .collect()
    }

    /// Runs the spillover binary against this world.
    pub fn spillover(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_spillover"))
            .args(args)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("AWS_PROFILE")
            .envs(&self.env)
            .env("SPILLOVER_POLL_INTERVAL_MS", "250")
            .env("SPILLOVER_POLL_MAX_INTERVAL_MS", "1000")
            .envs(FAST_POLICY.iter().copied())
            .envs(extra_env.iter().copied())
            .output()
            .unwrap();
        Run::from(out)
    }

    /// Runs the binary with no global `AWS_ENDPOINT_URL`, so that it believes it targets
    /// real AWS, while per-service endpoints still send every call to this world.
    pub fn spillover_as_if_real(&self, args: &[&str]) -> Run {
        let endpoint = self.env["AWS_ENDPOINT_URL"].clone();
        let per_service = [
            "AWS_ENDPOINT_URL_ECS",
            "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
            "AWS_ENDPOINT_URL_CLOUDWATCH",
            "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
        ];
        let out = Command::new(env!("CARGO_BIN_EXE_spillover"))
            .args(args)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("AWS_PROFILE")
            .envs(&self.env)
            .env_remove("AWS_ENDPOINT_URL")
            .envs(per_service.map(|name| (name, endpoint.as_str())))
            .env("SPILLOVER_POLL_INTERVAL_MS", "250")
            .env("SPILLOVER_POLL_MAX_INTERVAL_MS", "1000")
            .envs(FAST_POLICY.iter().copied())
            .output()
            .unwrap();
        Run::from(out)
    }

    /// Sets the ECS target group's deregistration delay, as a user would with the AWS CLI.
    pub fn set_deregistration_delay(&self, secs: u32) {
        let script = format!(
            "import boto3, json, sys\n\
             env = json.load(open(sys.argv[1]))['env']\n\
             elb = boto3.client('elbv2', endpoint_url=env['AWS_ENDPOINT_URL'], region_name=env['AWS_REGION'],\n\
                 aws_access_key_id=env['AWS_ACCESS_KEY_ID'], aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'])\n\
             elb.modify_target_group_attributes(TargetGroupArn=env['SPILLOVER_ECS_TARGET_GROUP_ARN'],\n\
                 Attributes=[{{'Key': 'deregistration_delay.timeout_seconds', 'Value': '{secs}'}}])\n"
        );
        let out = Command::new(python())
            .args(["-c", &script])
            .arg(self.dir.join("world.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "setting the deregistration delay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Replaces the world's fault rules (`world/faults.py`), e.g.
    /// `json!([{"operation": "DescribeAlarms", "kind": "throttle", "count": 4}])`.
    pub fn set_faults(&self, rules: Value) {
        let body = serde_json::json!({ "rules": rules }).to_string();
        let (status, answer) = self.faults_api("POST", &body);
        assert_eq!(status, 200, "the world refused the fault rules: {answer}");
    }

    /// The fault rules, each with how many calls it `matched` and faults it `injected`.
    pub fn faults(&self) -> Value {
        let (status, answer) = self.faults_api("GET", "");
        assert_eq!(status, 200, "reading the fault rules failed: {answer}");
        serde_json::from_str(&answer).expect("the fault report is JSON")
    }

    /// Faults injected so far, over every rule.
    pub fn faults_injected(&self) -> i64 {
        self.faults()["injected"]
            .as_i64()
            .expect("an injected count")
    }

    /// One HTTP/1.1 request to the world's control API on 127.0.0.1 (no client crate
    /// needed): the status and the body.
    fn faults_api(&self, method: &str, body: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let endpoint = &self.env["AWS_ENDPOINT_URL"];
        let host = endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).expect("connect to the world");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} /_world/faults HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("the world answers");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }

    /// Replays one event: the alarm is set in moto first, as CloudWatch would have.
    pub fn replay(&self, event_name: &str) -> Run {
        self.alarm_from(event_name);
        self.spillover(&["replay", &event(event_name)], &[])
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("world left in {} for inspection", self.dir.display());
        }
    }
}

/// The control policy's timing for tests that replay events one after the other: all or
/// nothing, no return hold, no minimum spill or settle time, one-second metric periods that
/// moto serves complete at once. Tests that check those rules set them back.
pub const FAST_POLICY: [(&str, &str); 7] = [
    ("SPILLOVER_STEPS", "100"),
    ("SPILLOVER_RETURN_HOLD_SECS", "0"),
    ("SPILLOVER_MIN_SPILL_SECS", "0"),
    ("SPILLOVER_STEP_SETTLE_SECS", "0"),
    ("SPILLOVER_METRIC_PERIOD_SECS", "1"),
    ("SPILLOVER_METRIC_SETTLE_SECS", "0"),
    ("SPILLOVER_ELB_METRIC_SETTLE_SECS", "0"),
];

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The JSON summaries printed on stdout, one per replayed event.
    pub fn summaries(&self) -> Vec<Value> {
        serde_json::Deserializer::from_str(&self.stdout)
            .into_iter::<Value>()
            .map(|v| v.expect("stdout is JSON"))
            .collect()
    }

    pub fn summary(&self) -> Value {
        let mut all = self.summaries();
        assert_eq!(all.len(), 1, "one summary expected:\n{}", self.stdout);
        all.remove(0)
    }

    pub fn expect_ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "spillover failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The listener default action's weights in a snapshot, as (lambda, ecs).
pub fn weights(snapshot: &Value) -> (i64, i64) {
    (
        snapshot["lambda_weight"].as_i64().unwrap(),
        snapshot["ecs_weight"].as_i64().unwrap(),
    )
}

/// The stickiness config of the listener's forward action in a snapshot.
pub fn stickiness(snapshot: &Value) -> Value {
    snapshot["listener_default_actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["Type"] == "forward"))
        .map(|a| a["ForwardConfig"]["TargetGroupStickinessConfig"].clone())
        .expect("a forward action")
}
