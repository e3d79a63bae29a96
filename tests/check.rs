//! `spillover check` and the refusals before the first write, against a local moto world:
//! one world per test, broken and fixed between the runs with boto3 as a user would.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{World, event, python, weights};

/// Runs Python with boto3 clients on the world (`elb`, `ecs`, `cw`, `aas`) and its `env`;
/// returns what the code prints.
fn aws(world: &World, code: &str) -> String {
    let script = format!(
        "import boto3, json, sys\n\
         env = json.load(open(sys.argv[1]))['env']\n\
         kw = dict(endpoint_url=env['AWS_ENDPOINT_URL'], region_name=env['AWS_REGION'],\n\
                   aws_access_key_id=env['AWS_ACCESS_KEY_ID'], aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'])\n\
         elb, ecs, cw, aas = (boto3.client(s, **kw) for s in ('elbv2', 'ecs', 'cloudwatch', 'application-autoscaling'))\n\
         {code}\n"
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .arg(world.dir.join("world.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The checklist of `spillover check --json` and its exit status.
struct Checklist {
    code: i32,
    items: Vec<Value>,
}

impl Checklist {
    fn run(world: &World, env: &[(&str, &str)], args: &[&str]) -> Checklist {
        let mut all = vec!["check", "--json"];
        all.extend_from_slice(args);
        let run = world.spillover(&all, env);
        let doc: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("check prints JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
        assert_eq!(
            doc["exit_code"], run.code,
            "the exit status is the document's"
        );
        Checklist {
            code: run.code,
            items: doc["checks"].as_array().unwrap().clone(),
        }
    }

    fn with(&self, status: &str) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| i["status"] == status)
            .map(|i| {
                format!(
                    "{}: {}",
                    i["topic"].as_str().unwrap(),
                    i["message"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Asserts a line of this topic has this status and says `says`.
    fn expect(&self, status: &str, topic: &str, says: &str) {
        let found = self.items.iter().any(|i| {
            i["status"] == status
                && i["topic"] == topic
                && i["message"].as_str().unwrap().contains(says)
        });
        assert!(
            found,
            "no {status} line on {topic:?} saying {says:?} in {:#?}",
            self.items
        );
    }
}

/// A demand alarm as docs/choosing-the-alarm.md recommends: concurrency Lambda would have,
/// from both target groups' RequestCount (the load balancer's, for brevity here), missing
/// data not breaching, no FILL and 1 of the last 2 minutes, so a late or partial newest
/// minute cannot decide it.
const DEMAND_ALARM: &str = "\
cw.put_metric_alarm(AlarmName='web-app-demand', EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=900.0,
    ComparisonOperator='GreaterThanThreshold', TreatMissingData='notBreaching',
    Metrics=[{'Id': 'e1', 'Expression': 'l + e', 'ReturnData': True},
             {'Id': 'l', 'ReturnData': False, 'MetricStat': {'Metric': {'Namespace': 'AWS/ApplicationELB',
                 'MetricName': 'RequestCount', 'Dimensions': [{'Name': 'TargetGroup', 'Value': env['SPILLOVER_LAMBDA_TARGET_GROUP_ARN'].split(':')[5]}]},
                 'Period': 60, 'Stat': 'Sum'}},
             {'Id': 'e', 'ReturnData': False, 'MetricStat': {'Metric': {'Namespace': 'AWS/ApplicationELB',
                 'MetricName': 'RequestCount', 'Dimensions': [{'Name': 'TargetGroup', 'Value': env['SPILLOVER_ECS_TARGET_GROUP_ARN'].split(':')[5]}]},
                 'Period': 60, 'Stat': 'Sum'}}])";

#[test]
fn check_passes_a_healthy_world_and_names_each_broken_part() {
    let world = World::start(&["--sticky-secs", "60"]);
    let seeded = world.api_writes();
    aws(&world, DEMAND_ALARM);
    let demand = [("SPILLOVER_ALARM_NAMES", "web-app-demand")];
    let timeout = ["--timeout-secs", "300"];

    // Healthy: every line ✓.
    let healthy = Checklist::run(&world, &demand, &timeout);
    assert_eq!(healthy.with("warn"), Vec::<String>::new());
    assert_eq!(healthy.with("fail"), Vec::<String>::new());
    assert_eq!(healthy.code, 0);
    for topic in [
        "listener",
        "target groups",
        "lambda function",
        "service target group",
        "health check",
        "deregistration delay",
        "stickiness",
        "service",
        "service network",
        "capacity",
        "auto scaling",
        "alarm web-app-demand",
        "alarm web-app-demand missing data",
        "alarm web-app-demand late data",
        "spill",
        "return",
        "function timeout",
    ] {
        assert!(
            healthy.items.iter().any(|i| i["topic"] == topic),
            "no {topic:?} line: {:#?}",
            healthy.items
        );
    }
    // The recommended alarm reads the demand (as described by DescribeAlarms): with steps,
    // only the excess moves.
    let stepped = [
        ("SPILLOVER_ALARM_NAMES", "web-app-demand"),
        ("SPILLOVER_STEPS", "50,100"),
    ];
    Checklist::run(&world, &stepped, &timeout).expect("ok", "spill", "only the excess moves");

    // Without the timeout, one warning says how to give it; the text form has the symbols.
    let text = world.spillover(&["check"], &demand);
    assert_eq!(text.code, 1, "{}", text.stdout);
    assert!(
        text.stdout.contains("✓ listener: exists"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("⚠ function timeout: unknown: pass --timeout-secs"),
        "{}",
        text.stdout
    );

    // The world's own alarm watches the app's Lambda concurrency (TreatMissingData missing):
    // supported through the INSUFFICIENT_DATA rule, so a warning with the fix.
    let concurrency = Checklist::run(&world, &[], &timeout);
    concurrency.expect(
        "warn",
        "alarm web-app-concurrency-high",
        "watches Lambda ConcurrentExecutions of web-app, which the spill takes away",
    );
    concurrency.expect(
        "warn",
        "alarm web-app-concurrency-high missing data",
        "INSUFFICIENT_DATA",
    );
    concurrency.expect(
        "warn",
        "alarm web-app-concurrency-high late data",
        "evaluates 1 period",
    );
    assert_eq!(concurrency.code, 1);

    // An alarm on the app's Lambda metric that goes OK without data: traffic would flap.
    aws(
        &world,
        "cw.put_metric_alarm(AlarmName='web-app-invocations', Namespace='AWS/Lambda', MetricName='Invocations',
             Dimensions=[{'Name': 'FunctionName', 'Value': 'web-app'}], Statistic='Sum', Period=60,
             EvaluationPeriods=1, Threshold=1000.0, ComparisonOperator='GreaterThanThreshold',
             TreatMissingData='notBreaching')",
    );
    let flapping = Checklist::run(
        &world,
        &[("SPILLOVER_ALARM_NAMES", "web-app-invocations")],
        &timeout,
    );
    flapping.expect(
        "fail",
        "alarm web-app-invocations",
        "Lambda Invocations of web-app",
    );
    flapping.expect("fail", "alarm web-app-invocations missing data", "flapping");
    assert_eq!(flapping.code, 2);

    // An alarm that does not exist, as a warm alarm.
    let missing = Checklist::run(
        &world,
        &[demand[0], ("SPILLOVER_WARM_ALARM_NAMES", "web-app-warm")],
        &timeout,
    );
    missing.expect(
        "fail",
        "alarm web-app-warm",
        "does not exist in CloudWatch; create it, or fix its name in SPILLOVER_WARM_ALARM_NAMES",
    );
    assert_eq!(missing.code, 2);

    // The two target groups swapped.
    let (lambda_tg, ecs_tg) = (
        world.env["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"].clone(),
        world.env["SPILLOVER_ECS_TARGET_GROUP_ARN"].clone(),
    );
    let swapped = Checklist::run(
        &world,
        &[
            demand[0],
            ("SPILLOVER_LAMBDA_TARGET_GROUP_ARN", &ecs_tg),
            ("SPILLOVER_ECS_TARGET_GROUP_ARN", &lambda_tg),
        ],
        &timeout,
    );
    swapped.expect("fail", "target groups", "are swapped");
    swapped.expect(
        "fail",
        "service target group",
        "not in SPILLOVER_ECS_TARGET_GROUP_ARN",
    );
    assert_eq!(swapped.code, 2);

    // A listener and a rule that do not exist, and the listener's default rule.
    let listener = &world.env["SPILLOVER_LISTENER_ARN"];
    let gone = format!("{}ff", &listener[..listener.len() - 2]);
    let no_listener = Checklist::run(
        &world,
        &[demand[0], ("SPILLOVER_LISTENER_ARN", &gone)],
        &timeout,
    );
    no_listener.expect("fail", "listener", "ListenerNotFound");
    no_listener.expect("fail", "listener", "check SPILLOVER_LISTENER_ARN");
    let rule = world.info["arns"]["rule"].as_str().unwrap();
    let no_rule = format!("{}ff", &rule[..rule.len() - 2]);
    let rule_env = |arn: &str| {
        Checklist::run(
            &world,
            &[
                demand[0],
                ("SPILLOVER_LISTENER_ARN", ""),
                ("SPILLOVER_RULE_ARN", arn),
            ],
            &timeout,
        )
    };
    rule_env(&no_rule).expect("fail", "rule", "check SPILLOVER_RULE_ARN");
    assert_eq!(rule_env(rule).code, 0, "the world's own rule is fine");
    let default_rule = aws(
        &world,
        "print([r['RuleArn'] for r in elb.describe_rules(ListenerArn=env['SPILLOVER_LISTENER_ARN'])['Rules'] if r['IsDefault']][0])",
    );
    rule_env(&default_rule).expect(
        "fail",
        "rule",
        "set SPILLOVER_LISTENER_ARN to the listener's ARN",
    );

    // A target group the service does not register its tasks in.
    let other_tg = aws(
        &world,
        "vpc = elb.describe_target_groups(TargetGroupArns=[env['SPILLOVER_ECS_TARGET_GROUP_ARN']])['TargetGroups'][0]['VpcId']
print(elb.create_target_group(Name='other', TargetType='ip', Protocol='HTTP', Port=8080, VpcId=vpc)['TargetGroups'][0]['TargetGroupArn'])",
    );
    let elsewhere = Checklist::run(
        &world,
        &[demand[0], ("SPILLOVER_ECS_TARGET_GROUP_ARN", &other_tg)],
        &timeout,
    );
    elsewhere.expect(
        "fail",
        "service target group",
        &format!("registers its tasks in {ecs_tg}, not in SPILLOVER_ECS_TARGET_GROUP_ARN"),
    );
    elsewhere.expect(
        "fail",
        "listener",
        "does not list the target group of SPILLOVER_ECS_TARGET_GROUP_ARN",
    );

    // A scalable target whose maximum is below what a spill needs, then below the spill count.
    aas_register(&world, 0, 1);
    let capped = Checklist::run(
        &world,
        &[demand[0], ("SPILLOVER_MIN_HEALTHY", "2")],
        &timeout,
    );
    capped.expect(
        "fail",
        "auto scaling",
        "MaxCapacity 1 below SPILLOVER_MIN_HEALTHY (2)",
    );
    Checklist::run(&world, &demand, &timeout).expect(
        "warn",
        "auto scaling",
        "raises MinCapacity only to 1",
    );
    aas_register(&world, 0, 4);
    let scalable = Checklist::run(&world, &demand, &timeout);
    scalable.expect("ok", "auto scaling", "never writes the desired count");
    assert_eq!(scalable.code, 0);

    // A health check that takes longer than the wait budget, and a timeout shorter than it.
    aws(
        &world,
        "elb.modify_target_group(TargetGroupArn=env['SPILLOVER_ECS_TARGET_GROUP_ARN'], HealthCheckIntervalSeconds=300, HealthyThresholdCount=10)",
    );
    let slow = Checklist::run(&world, &demand, &["--timeout-secs", "60"]);
    slow.expect("fail", "health check", "300 s × 10 healthy checks");
    slow.expect(
        "fail",
        "health check",
        "longer than SPILLOVER_WAIT_BUDGET_SECS (240 s)",
    );
    slow.expect("fail", "function timeout", "60 s leaves 50 s to wait");

    // check writes nothing.
    assert_eq!(world.api_writes(), seeded, "nothing written after the seed");
}

fn aas_register(world: &World, min: i32, max: i32) {
    aws(
        world,
        &format!(
            "aas.register_scalable_target(ServiceNamespace='ecs', ResourceId='service/web-app/web-app',
                 ScalableDimension='ecs:service:DesiredCount', MinCapacity={min}, MaxCapacity={max})"
        ),
    );
}

/// Replays an alarm in ALARM with `env`: refused with exit 2, nothing written.
fn assert_refused(world: &World, env: &[(&str, &str)], says: &str) {
    let before = world.snapshot();
    let run = world.spillover(&["replay", &event("alarm-metric.json")], env);
    assert_eq!(
        run.code, 2,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let summary = run.summary();
    assert_eq!(summary["retryable"], false, "{summary}");
    assert!(
        summary["error"].as_str().unwrap_or_default().contains(says),
        "{summary} should say {says:?}"
    );
    assert_eq!(summary["aws_calls"]["writes"], 0, "{summary}");
    let after = world.snapshot();
    assert_eq!(weights(&after), weights(&before));
    assert_eq!(after["desired"], before["desired"]);
}

#[test]
fn replay_refuses_a_misconfigured_world_before_any_write() {
    let world = World::start(&[]);
    let seeded = world.api_writes();
    world.set_alarm("ALARM");
    let (lambda_tg, ecs_tg) = (
        world.env["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"].clone(),
        world.env["SPILLOVER_ECS_TARGET_GROUP_ARN"].clone(),
    );
    // Swapped target groups: refused for the types or for the service's target group,
    // whichever read answers first; both name SPILLOVER_ECS_TARGET_GROUP_ARN.
    assert_refused(
        &world,
        &[
            ("SPILLOVER_LAMBDA_TARGET_GROUP_ARN", &ecs_tg),
            ("SPILLOVER_ECS_TARGET_GROUP_ARN", &lambda_tg),
        ],
        "SPILLOVER_ECS_TARGET_GROUP_ARN",
    );
    let listener = &world.env["SPILLOVER_LISTENER_ARN"];
    let gone = format!("{}ff", &listener[..listener.len() - 2]);
    assert_refused(
        &world,
        &[("SPILLOVER_LISTENER_ARN", &gone)],
        "check SPILLOVER_LISTENER_ARN",
    );
    assert_refused(
        &world,
        &[("SPILLOVER_CLUSTER", "no-such-cluster")],
        "check SPILLOVER_CLUSTER",
    );
    let default_rule = aws(
        &world,
        "print([r['RuleArn'] for r in elb.describe_rules(ListenerArn=env['SPILLOVER_LISTENER_ARN'])['Rules'] if r['IsDefault']][0])",
    );
    assert_refused(
        &world,
        &[
            ("SPILLOVER_LISTENER_ARN", ""),
            ("SPILLOVER_RULE_ARN", &default_rule),
        ],
        "set SPILLOVER_LISTENER_ARN",
    );
    assert_eq!(world.api_writes(), seeded, "nothing written after the seed");
}

/// Application Auto Scaling: the spill raises the scalable target's minimum (the world, as
/// AAS, moves the desired count into it) and the return restores it; spillover's own steps
/// never write the desired count.
#[test]
fn a_scalable_service_is_spilled_through_its_minimum_never_its_desired_count() {
    let world = World::start(&[
        "--scalable",
        "0,10",
        "--task-start-delay",
        "0.3",
        "--health-delay",
        "0.3",
        "--sticky-secs",
        "0",
        "--deregistration-delay",
        "0",
    ]);
    let steps = |summary: &Value| -> Vec<String> {
        summary["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["step"].as_str().unwrap(),
                    a["result"].as_str().unwrap()
                )
            })
            .collect()
    };
    let spill = world.replay("alarm-metric.json").expect_ok().summary();
    assert_eq!(
        steps(&spill),
        [
            "raise_min_capacity ok",
            "wait_until_ready ok",
            "set_weights ok"
        ],
        "{spill}"
    );
    let spilled = world.snapshot();
    assert_eq!(weights(&spilled), (0, 1));
    assert_eq!(spilled["desired"], 2, "moved into the raised minimum");
    let min = || {
        aws(
            &world,
            "print(aas.describe_scalable_targets(ServiceNamespace='ecs', ResourceIds=['service/web-app/web-app'])['ScalableTargets'][0]['MinCapacity'])",
        )
    };
    assert_eq!(min(), "2");

    let back = world.replay("ok-metric.json").expect_ok().summary();
    assert_eq!(steps(&back), ["set_weights ok"], "{back}");
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let tick = world
        .spillover(&["replay", &event("scheduled-tick.json")], &[])
        .expect_ok()
        .summary();
    assert_eq!(steps(&tick), ["restore_min_capacity ok"], "{tick}");
    assert_eq!(min(), "0", "the saved minimum is back");
}
