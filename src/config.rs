//! Typed configuration from `SPILLOVER_*` environment variables, read and checked once.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::observed::Weights;

/// Where the weighted forward action lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardSite {
    /// The default action of a listener (`SPILLOVER_LISTENER_ARN`).
    Listener(String),
    /// The actions of one listener rule (`SPILLOVER_RULE_ARN`).
    Rule(String),
}

impl ForwardSite {
    pub fn arn(&self) -> &str {
        match self {
            ForwardSite::Listener(arn) | ForwardSite::Rule(arn) => arn,
        }
    }
}

/// How the bounded poller paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    /// First wait between two checks.
    pub interval: Duration,
    /// The wait doubles after every check up to this.
    pub max_interval: Duration,
    /// The longest the loop waits for tasks, whatever the Lambda deadline.
    pub budget: Duration,
    /// Kept free before the Lambda deadline so the loop can report and return.
    pub deadline_margin: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub cluster: String,
    pub service: String,
    pub site: ForwardSite,
    pub lambda_target_group_arn: String,
    pub ecs_target_group_arn: String,
    pub alarm_names: Vec<String>,
    /// Desired count while spilled.
    pub spill_count: i32,
    /// Desired count after returning.
    pub idle_count: i32,
    /// Healthy targets (and running tasks) needed before the ECS target group gets weight.
    pub min_healthy: u32,
    /// Weights while spilled.
    pub spill_weights: Weights,
    pub poll: PollSettings,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let vars = Vars(&get);
        let site = match (
            vars.optional("SPILLOVER_LISTENER_ARN"),
            vars.optional("SPILLOVER_RULE_ARN"),
        ) {
            (Some(listener), None) => {
                ForwardSite::Listener(arn("SPILLOVER_LISTENER_ARN", listener)?)
            }
            (None, Some(rule)) => ForwardSite::Rule(arn("SPILLOVER_RULE_ARN", rule)?),
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "set only one of SPILLOVER_LISTENER_ARN and SPILLOVER_RULE_ARN".into(),
                ));
            }
            (None, None) => {
                return Err(Error::Config(
                    "SPILLOVER_LISTENER_ARN or SPILLOVER_RULE_ARN must be set to the listener or rule whose forward action spillover weights".into(),
                ));
            }
        };
        let alarm_names: Vec<String> = vars
            .required("SPILLOVER_ALARM_NAMES")?
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(String::from)
            .collect();
        if alarm_names.is_empty() {
            return Err(Error::Config(
                "SPILLOVER_ALARM_NAMES must list at least one alarm name (comma-separated)".into(),
            ));
        }

        let config = Config {
            cluster: vars.required("SPILLOVER_CLUSTER")?,
            service: service_name(vars.required("SPILLOVER_SERVICE")?),
            site,
            lambda_target_group_arn: arn(
                "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
                vars.required("SPILLOVER_LAMBDA_TARGET_GROUP_ARN")?,
            )?,
            ecs_target_group_arn: arn(
                "SPILLOVER_ECS_TARGET_GROUP_ARN",
                vars.required("SPILLOVER_ECS_TARGET_GROUP_ARN")?,
            )?,
            alarm_names,
            spill_count: vars.number("SPILLOVER_SPILL_COUNT", 2)?,
            idle_count: vars.number("SPILLOVER_IDLE_COUNT", 0)?,
            min_healthy: vars.number("SPILLOVER_MIN_HEALTHY", 1)?,
            spill_weights: Weights {
                lambda: vars.number("SPILLOVER_SPILL_LAMBDA_WEIGHT", 0)?,
                ecs: vars.number("SPILLOVER_SPILL_ECS_WEIGHT", 1)?,
            },
            poll: PollSettings {
                interval: Duration::from_millis(vars.number("SPILLOVER_POLL_INTERVAL_MS", 2_000)?),
                max_interval: Duration::from_millis(
                    vars.number("SPILLOVER_POLL_MAX_INTERVAL_MS", 15_000)?,
                ),
                budget: Duration::from_secs(vars.number("SPILLOVER_WAIT_BUDGET_SECS", 240)?),
                deadline_margin: Duration::from_millis(
                    vars.number("SPILLOVER_DEADLINE_MARGIN_MS", 10_000)?,
                ),
            },
        };
        config.check()
    }

    /// Cross-variable rules, each error naming the variables involved.
    fn check(self) -> Result<Self> {
        let fail = |msg: String| Err(Error::Config(msg));
        if self.lambda_target_group_arn == self.ecs_target_group_arn {
            return fail("SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN are the same target group".into());
        }
        if self.spill_count < 1 {
            return fail(format!(
                "SPILLOVER_SPILL_COUNT must be at least 1, got {}",
                self.spill_count
            ));
        }
        if self.idle_count < 0 || self.idle_count >= self.spill_count {
            return fail(format!(
                "SPILLOVER_IDLE_COUNT must be within 0..SPILLOVER_SPILL_COUNT ({}), got {}",
                self.spill_count, self.idle_count
            ));
        }
        if self.min_healthy < 1 || self.min_healthy as i64 > self.spill_count as i64 {
            return fail(format!(
                "SPILLOVER_MIN_HEALTHY must be within 1..=SPILLOVER_SPILL_COUNT ({}), got {}",
                self.spill_count, self.min_healthy
            ));
        }
        if self.spill_weights.ecs == 0 {
            return fail(
                "SPILLOVER_SPILL_ECS_WEIGHT must be above 0, or spilling moves no traffic".into(),
            );
        }
        if let Err(why) = self.spill_weights.check() {
            return fail(format!(
                "SPILLOVER_SPILL_LAMBDA_WEIGHT / SPILLOVER_SPILL_ECS_WEIGHT: {why}"
            ));
        }
        if self.poll.interval.is_zero() || self.poll.max_interval < self.poll.interval {
            return fail(
                "SPILLOVER_POLL_INTERVAL_MS must be above 0 and at most SPILLOVER_POLL_MAX_INTERVAL_MS"
                    .into(),
            );
        }
        if self.poll.budget.is_zero() {
            return fail("SPILLOVER_WAIT_BUDGET_SECS must be above 0".into());
        }
        Ok(self)
    }

    pub fn is_configured_alarm(&self, name: &str) -> bool {
        self.alarm_names.iter().any(|n| n == name)
    }
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<String> {
        self.optional(name).ok_or_else(|| {
            Error::Config(format!(
                "{name} is not set; see the README's configuration table"
            ))
        })
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| Error::Config(format!("{name} must be a whole number, got {raw:?}"))),
        }
    }
}

/// A service ARN (what CloudFormation's `Ref` of a service gives) names the service in its
/// last segment; tasks carry the name, not the ARN, in their group.
fn service_name(value: String) -> String {
    match value.strip_prefix("arn:") {
        Some(rest) => rest.rsplit('/').next().unwrap_or_default().to_string(),
        None => value,
    }
}

fn arn(name: &str, value: String) -> Result<String> {
    if value.starts_with("arn:") {
        Ok(value)
    } else {
        Err(Error::Config(format!(
            "{name} must be an ARN (arn:…), got {value:?}"
        )))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn base_vars() -> HashMap<&'static str, String> {
        HashMap::from([
            ("SPILLOVER_CLUSTER", "web-app".to_string()),
            ("SPILLOVER_SERVICE", "web-app".to_string()),
            (
                "SPILLOVER_LISTENER_ARN",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2"
                    .to_string(),
            ),
            (
                "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1"
                    .to_string(),
            ),
            (
                "SPILLOVER_ECS_TARGET_GROUP_ARN",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2".to_string(),
            ),
            (
                "SPILLOVER_ALARM_NAMES",
                "web-app-concurrency-high, web-app-concurrency-percent,web-app-overloaded"
                    .to_string(),
            ),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<Config> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    /// The config the decision tests use.
    pub(crate) fn test_config() -> Config {
        load(&base_vars()).expect("base vars are valid")
    }

    fn error_of(vars: &HashMap<&'static str, String>) -> String {
        load(vars)
            .expect_err("config should be rejected")
            .to_string()
    }

    #[test]
    fn defaults_fill_every_optional_variable() {
        let config = test_config();
        assert_eq!(config.spill_count, 2);
        assert_eq!(config.idle_count, 0);
        assert_eq!(config.min_healthy, 1);
        assert_eq!(config.spill_weights, Weights { lambda: 0, ecs: 1 });
        assert_eq!(config.poll.interval, Duration::from_secs(2));
        assert_eq!(config.poll.budget, Duration::from_secs(240));
        assert_eq!(
            config.alarm_names,
            [
                "web-app-concurrency-high",
                "web-app-concurrency-percent",
                "web-app-overloaded"
            ]
        );
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        for name in [
            "SPILLOVER_CLUSTER",
            "SPILLOVER_SERVICE",
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
            "SPILLOVER_ECS_TARGET_GROUP_ARN",
            "SPILLOVER_ALARM_NAMES",
        ] {
            let mut vars = base_vars();
            vars.remove(name);
            assert!(error_of(&vars).contains(name), "{name}");
        }
    }

    #[test]
    fn listener_and_rule_are_mutually_exclusive_and_one_is_required() {
        let mut vars = base_vars();
        vars.insert(
            "SPILLOVER_RULE_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/x".into(),
        );
        assert!(error_of(&vars).contains("only one of"));
        vars.remove("SPILLOVER_LISTENER_ARN");
        assert!(matches!(load(&vars).unwrap().site, ForwardSite::Rule(_)));
        vars.remove("SPILLOVER_RULE_ARN");
        assert!(error_of(&vars).contains("SPILLOVER_LISTENER_ARN or SPILLOVER_RULE_ARN"));
    }

    #[test]
    fn invalid_numbers_and_ranges_name_the_variable() {
        let cases = [
            (
                "SPILLOVER_SPILL_COUNT",
                "two",
                "SPILLOVER_SPILL_COUNT must be a whole number",
            ),
            (
                "SPILLOVER_SPILL_COUNT",
                "0",
                "SPILLOVER_SPILL_COUNT must be at least 1",
            ),
            ("SPILLOVER_MIN_HEALTHY", "3", "SPILLOVER_MIN_HEALTHY"),
            ("SPILLOVER_IDLE_COUNT", "2", "SPILLOVER_IDLE_COUNT"),
            ("SPILLOVER_SPILL_ECS_WEIGHT", "1000", "0..=999"),
            (
                "SPILLOVER_SPILL_ECS_WEIGHT",
                "0",
                "SPILLOVER_SPILL_ECS_WEIGHT must be above 0",
            ),
            (
                "SPILLOVER_POLL_INTERVAL_MS",
                "0",
                "SPILLOVER_POLL_INTERVAL_MS",
            ),
            ("SPILLOVER_ECS_TARGET_GROUP_ARN", "ecs-tg", "must be an ARN"),
        ];
        for (name, value, expected) in cases {
            let mut vars = base_vars();
            vars.insert(name, value.into());
            let err = error_of(&vars);
            assert!(err.contains(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_service_arn_is_taken_by_its_name() {
        let mut vars = base_vars();
        vars.insert(
            "SPILLOVER_SERVICE",
            "arn:aws:ecs:us-east-1:123456789012:service/web-app/web-app-spill".into(),
        );
        assert_eq!(load(&vars).unwrap().service, "web-app-spill");
    }

    #[test]
    fn the_same_target_group_twice_is_rejected() {
        let mut vars = base_vars();
        vars.insert(
            "SPILLOVER_ECS_TARGET_GROUP_ARN",
            vars["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"].clone(),
        );
        assert!(error_of(&vars).contains("same target group"));
    }
}
