//! ELBv2: the two forward weights of a listener default action or rule, the ECS target
//! group's health, and what the two target groups are (checked once per process).
//!
//! A write sends back the actions exactly as read, with only the two weights changed, so
//! stickiness, other target groups, authentication actions and their order are kept.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, TargetHealthStateEnum};

use super::Calls;
use crate::config::ForwardSite;
use crate::error::{Error, Result};
use crate::observed::Weights;

pub struct Listener {
    client: aws_sdk_elasticloadbalancingv2::Client,
    site: ForwardSite,
    lambda_tg: String,
    ecs_tg: String,
    /// Set once the two target groups were found of the right types: they are read once
    /// per process (a Lambda cold start), not on every tick.
    target_groups_checked: OnceLock<()>,
    calls: Arc<Calls>,
}

/// Which of the two configured target groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Lambda,
    Ecs,
}

impl Role {
    /// The variable that names it.
    pub fn variable(self) -> &'static str {
        match self {
            Role::Lambda => "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
            Role::Ecs => "SPILLOVER_ECS_TARGET_GROUP_ARN",
        }
    }
}

/// A target group as `DescribeTargetGroups` gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetGroupInfo {
    pub arn: String,
    /// `lambda`, `ip`, `instance` or `alb`.
    pub target_type: String,
    pub health_check_interval_secs: Option<i32>,
    pub healthy_threshold: Option<i32>,
}

/// The listener or rule that holds the forward action, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteInfo {
    /// A rule that is its listener's default rule (`IsDefault`).
    pub is_default_rule: bool,
    pub actions: Vec<Action>,
}

impl Listener {
    pub fn new(
        client: aws_sdk_elasticloadbalancingv2::Client,
        site: ForwardSite,
        lambda_tg: String,
        ecs_tg: String,
        calls: Arc<Calls>,
    ) -> Self {
        Listener {
            client,
            site,
            lambda_tg,
            ecs_tg,
            target_groups_checked: OnceLock::new(),
            calls,
        }
    }

    pub async fn weights(&self) -> Result<Weights> {
        Ok(self.forward().await?.0)
    }

    /// The two weights and the forward action's stickiness in seconds (0 when off). The
    /// first call in a process also checks the two target groups' types.
    pub async fn forward(&self) -> Result<(Weights, u32)> {
        let (actions, ()) = tokio::try_join!(self.actions(), self.check_target_groups())?;
        let action = &actions[forward_action(&actions, &self.lambda_tg, &self.ecs_tg)?];
        Ok((
            weights_of(action, &self.lambda_tg, &self.ecs_tg),
            sticky_secs(action),
        ))
    }

    /// Writes `to` into `current`, the actions as [`Listener::actions`] read them just
    /// before (the caller reads them alongside its other checks: one round trip fewer
    /// between "targets ready" and the write), and checks that the write took: from the
    /// listener or rule that the `ModifyListener`/`ModifyRule` answer itself returns, else
    /// by reading it back. Fails with `Error::Verify` if the weights are not `to`. Writes
    /// nothing when the weights already are `to`.
    ///
    /// ELBv2 is eventually consistent: a `Describe*` right after a write may still show
    /// the old actions (Terraform's AWS provider retries its reads after ELBv2 writes for
    /// up to `elbv2PropagationTimeout`, 5 minutes: hashicorp/terraform-provider-aws
    /// `internal/service/elbv2/consts.go` and `listener_rule.go`,
    /// `tfresource.RetryWhenNewResourceNotFound`). The write's own answer is not subject to
    /// that, so it is the check; a read-back, retried briefly, is used only when the
    /// answer does not include the listener or rule.
    pub async fn set_weights(&self, current: Vec<Action>, to: Weights) -> Result<()> {
        if find_weights(&current, &self.lambda_tg, &self.ecs_tg)? == to {
            return Ok(());
        }
        let updated = with_weights(&current, &self.lambda_tg, &self.ecs_tg, to)?;
        self.calls.write();
        let answered = match &self.site {
            ForwardSite::Listener(arn) => self
                .client
                .modify_listener()
                .listener_arn(arn)
                .set_default_actions(Some(updated))
                .send()
                .await
                .map_err(|e| Error::aws("elasticloadbalancing:ModifyListener", e))?
                .listeners()
                .iter()
                .find(|l| l.listener_arn() == Some(arn.as_str()))
                .map(|l| l.default_actions().to_vec()),
            ForwardSite::Rule(arn) => self
                .client
                .modify_rule()
                .rule_arn(arn)
                .set_actions(Some(updated))
                .send()
                .await
                .map_err(|e| Error::aws("elasticloadbalancing:ModifyRule", e))?
                .rules()
                .iter()
                .find(|r| r.rule_arn() == Some(arn.as_str()))
                .map(|r| r.actions().to_vec()),
        };
        let got = match answered {
            Some(actions) => find_weights(&actions, &self.lambda_tg, &self.ecs_tg)?,
            None => self.read_back(to).await?,
        };
        if got != to {
            return Err(Error::Verify {
                want_lambda: to.lambda,
                want_ecs: to.ecs,
                got_lambda: got.lambda,
                got_ecs: got.ecs,
            });
        }
        Ok(())
    }

    /// Reads the weights until they are `to`, at most `READ_BACK_DELAYS.len() + 1` times
    /// over about 2 s (a stale read is usually fresh within a second); the last read if
    /// they never are.
    async fn read_back(&self, to: Weights) -> Result<Weights> {
        let mut got = self.weights().await?;
        for delay in READ_BACK_DELAYS {
            if got == to {
                break;
            }
            tokio::time::sleep(delay).await;
            got = self.weights().await?;
        }
        Ok(got)
    }

    /// Targets of the ECS target group that pass their health check.
    pub async fn healthy_targets(&self) -> Result<u32> {
        self.calls.read();
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(&self.ecs_tg)
            .send()
            .await
            .map_err(|e| Error::aws("elasticloadbalancing:DescribeTargetHealth", e))?;
        let healthy = out
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
            })
            .count();
        Ok(healthy as u32)
    }

    /// The ECS target group's deregistration delay in seconds: how long ALB keeps sending
    /// in-flight requests to a target after it leaves
    /// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay>).
    pub async fn deregistration_delay_secs(&self) -> Result<f64> {
        self.calls.read();
        let out = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(&self.ecs_tg)
            .send()
            .await
            .map_err(|e| Error::aws("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok())
            // ALB's default when the attribute is not reported.
            .unwrap_or(300.0))
    }

    /// The CloudWatch dimensions of the ECS target group's metrics: `TargetGroup` and
    /// `LoadBalancer`, derived from the ARNs.
    pub fn ecs_metric_dimensions(&self) -> Result<(String, String)> {
        Ok((
            target_group_dimension(&self.ecs_tg)?,
            load_balancer_dimension(self.site.arn())?,
        ))
    }

    /// Refuses target groups of the wrong type (the two ARNs swapped, or another target
    /// group): two `DescribeTargetGroups` the first time, nothing after that.
    async fn check_target_groups(&self) -> Result<()> {
        if self.target_groups_checked.get().is_some() {
            return Ok(());
        }
        let (lambda, ecs) = tokio::try_join!(
            self.target_group(Role::Lambda),
            self.target_group(Role::Ecs)
        )?;
        target_types_fit(&lambda.target_type, &ecs.target_type).map_err(Error::Topology)?;
        let _ = self.target_groups_checked.set(());
        Ok(())
    }

    /// One of the two target groups (`DescribeTargetGroups`); a missing one is an error
    /// naming its variable.
    pub async fn target_group(&self, role: Role) -> Result<TargetGroupInfo> {
        let arn = self.arn_of(role);
        self.calls.read();
        let out = self
            .client
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(|e| {
                Error::aws_naming(
                    "elasticloadbalancing:DescribeTargetGroups",
                    e,
                    role.variable(),
                )
            })?;
        let found = out
            .target_groups()
            .iter()
            .find(|t| t.target_group_arn() == Some(arn))
            .ok_or_else(|| {
                Error::Topology(format!(
                    "target group {arn} not found; check {}",
                    role.variable()
                ))
            })?;
        Ok(TargetGroupInfo {
            arn: arn.to_string(),
            target_type: found
                .target_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            health_check_interval_secs: found.health_check_interval_seconds(),
            healthy_threshold: found.healthy_threshold_count(),
        })
    }

    /// A target group's attributes (`DescribeTargetGroupAttributes`), by key.
    pub async fn target_group_attributes(&self, role: Role) -> Result<HashMap<String, String>> {
        self.calls.read();
        let out = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(self.arn_of(role))
            .send()
            .await
            .map_err(|e| {
                Error::aws_naming(
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    e,
                    role.variable(),
                )
            })?;
        Ok(out
            .attributes()
            .iter()
            .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
            .collect())
    }

    /// The targets registered in a target group (`DescribeTargetHealth`): for the Lambda
    /// target group, the function's ARN.
    pub async fn targets(&self, role: Role) -> Result<Vec<String>> {
        self.calls.read();
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(self.arn_of(role))
            .send()
            .await
            .map_err(|e| {
                Error::aws_naming(
                    "elasticloadbalancing:DescribeTargetHealth",
                    e,
                    role.variable(),
                )
            })?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target()?.id().map(String::from))
            .collect())
    }

    /// The listener or rule as read, default rule or not (for `spillover check`).
    pub async fn site(&self) -> Result<SiteInfo> {
        self.calls.read();
        match &self.site {
            ForwardSite::Listener(arn) => {
                let out = self
                    .client
                    .describe_listeners()
                    .listener_arns(arn)
                    .send()
                    .await
                    .map_err(|e| Error::aws("elasticloadbalancing:DescribeListeners", e))?;
                let listener = out.listeners().first().ok_or_else(|| {
                    Error::Topology(format!(
                        "listener {arn} not found (check SPILLOVER_LISTENER_ARN)"
                    ))
                })?;
                Ok(SiteInfo {
                    is_default_rule: false,
                    actions: listener.default_actions().to_vec(),
                })
            }
            ForwardSite::Rule(arn) => {
                let out = self
                    .client
                    .describe_rules()
                    .rule_arns(arn)
                    .send()
                    .await
                    .map_err(|e| Error::aws("elasticloadbalancing:DescribeRules", e))?;
                let rule = out.rules().first().ok_or_else(|| {
                    Error::Topology(format!("rule {arn} not found (check SPILLOVER_RULE_ARN)"))
                })?;
                // `IsDefault` is in every rule DescribeRules returns:
                // <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Rule.html>.
                Ok(SiteInfo {
                    is_default_rule: rule.is_default() == Some(true),
                    actions: rule.actions().to_vec(),
                })
            }
        }
    }

    fn arn_of(&self, role: Role) -> &str {
        match role {
            Role::Lambda => &self.lambda_tg,
            Role::Ecs => &self.ecs_tg,
        }
    }

    /// The actions of the listener default action or rule, as they are now; a default rule
    /// is refused before anything is written.
    pub async fn actions(&self) -> Result<Vec<Action>> {
        let site = self.site().await?;
        if site.is_default_rule {
            return Err(Error::Topology(default_rule_refused(self.site.arn())));
        }
        Ok(site.actions)
    }
}

/// `targetgroup/NAME/ID` from a target group ARN: CloudWatch's `TargetGroup` dimension.
pub(crate) fn target_group_dimension(arn: &str) -> Result<String> {
    resource(arn)
        .filter(|r| r.starts_with("targetgroup/") && r.split('/').count() == 3)
        .map(String::from)
        .ok_or_else(|| Error::Config(format!("{arn:?} is not a target group ARN")))
}

/// `app/NAME/ID` from a listener or listener rule ARN: CloudWatch's `LoadBalancer` dimension.
fn load_balancer_dimension(arn: &str) -> Result<String> {
    let parts: Vec<&str> = resource(arn).unwrap_or_default().split('/').collect();
    match parts.as_slice() {
        ["listener" | "listener-rule", kind, name, id, ..] => Ok(format!("{kind}/{name}/{id}")),
        _ => Err(Error::Config(format!(
            "{arn:?} is not a listener or listener rule ARN"
        ))),
    }
}

/// The resource part of an ARN (after the fifth colon).
fn resource(arn: &str) -> Option<&str> {
    arn.splitn(6, ':').nth(5)
}

/// The pauses between reads of the weights after a write whose answer did not show them.
const READ_BACK_DELAYS: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(250),
    std::time::Duration::from_millis(500),
    std::time::Duration::from_millis(1000),
];

/// Why a listener's default rule is refused, and what to set instead.
pub fn default_rule_refused(arn: &str) -> String {
    format!(
        "SPILLOVER_RULE_ARN ({arn}) is its listener's default rule, which ModifyRule cannot change; \
         unset SPILLOVER_RULE_ARN and set SPILLOVER_LISTENER_ARN to the listener's ARN to weight its default action"
    )
}

/// The Lambda target group must be of type `lambda`, the ECS one `ip` (Fargate) or
/// `instance`; the two swapped is named as such.
pub fn target_types_fit(lambda: &str, ecs: &str) -> Result<(), String> {
    let serves_tasks = |t: &str| t == "ip" || t == "instance";
    if serves_tasks(lambda) && ecs == "lambda" {
        return Err(format!(
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN are swapped: the first is an {lambda} target group, \
             the second a lambda one; swap their values"
        ));
    }
    if lambda != "lambda" {
        return Err(format!(
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN is a target group of type {lambda:?}; set it to the target group of type lambda that holds the function"
        ));
    }
    if !serves_tasks(ecs) {
        return Err(format!(
            "SPILLOVER_ECS_TARGET_GROUP_ARN is a target group of type {ecs:?}; set it to the ip (Fargate) or instance target group the ECS service registers its tasks in"
        ));
    }
    Ok(())
}

/// ALB treats a target group listed without a weight as weight 1.
const DEFAULT_WEIGHT: i32 = 1;

/// The index of the forward action that lists both target groups.
fn forward_action(actions: &[Action], lambda_tg: &str, ecs_tg: &str) -> Result<usize> {
    let forwards: Vec<usize> = actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.r#type() == Some(&ActionTypeEnum::Forward))
        .map(|(i, _)| i)
        .collect();
    let lists = |a: &Action, tg: &str| {
        a.forward_config().is_some_and(|f| {
            f.target_groups()
                .iter()
                .any(|t| t.target_group_arn() == Some(tg))
        })
    };
    let Some(&first) = forwards.first() else {
        return Err(Error::Topology(
            "no forward action found; spillover needs a weighted forward action listing both target groups"
                .into(),
        ));
    };
    forwards
        .iter()
        .copied()
        .find(|&i| lists(&actions[i], lambda_tg) && lists(&actions[i], ecs_tg))
        .ok_or_else(|| {
            let missing: Vec<&str> = [("SPILLOVER_LAMBDA_TARGET_GROUP_ARN", lambda_tg), ("SPILLOVER_ECS_TARGET_GROUP_ARN", ecs_tg)]
                .into_iter()
                .filter(|(_, tg)| !lists(&actions[first], tg))
                .map(|(name, _)| name)
                .collect();
            Error::Topology(format!(
                "the forward action does not list the target group of {}; add both target groups to it (weights 1 and 0) before using spillover",
                missing.join(" and ")
            ))
        })
}

/// The two weights and the stickiness of the forward action that lists both target groups.
pub fn forward_of(actions: &[Action], lambda_tg: &str, ecs_tg: &str) -> Result<(Weights, u32)> {
    let action = &actions[forward_action(actions, lambda_tg, ecs_tg)?];
    Ok((weights_of(action, lambda_tg, ecs_tg), sticky_secs(action)))
}

fn find_weights(actions: &[Action], lambda_tg: &str, ecs_tg: &str) -> Result<Weights> {
    Ok(weights_of(
        &actions[forward_action(actions, lambda_tg, ecs_tg)?],
        lambda_tg,
        ecs_tg,
    ))
}

/// The two weights of a forward action that lists both target groups.
fn weights_of(action: &Action, lambda_tg: &str, ecs_tg: &str) -> Weights {
    let weight_of = |tg: &str| {
        action
            .forward_config()
            .and_then(|f| {
                f.target_groups()
                    .iter()
                    .find(|t| t.target_group_arn() == Some(tg))
            })
            .and_then(|t| t.weight())
            .unwrap_or(DEFAULT_WEIGHT)
    };
    Weights {
        lambda: weight_of(lambda_tg),
        ecs: weight_of(ecs_tg),
    }
}

/// How long target-group stickiness keeps a client on the target group it first got.
fn sticky_secs(action: &Action) -> u32 {
    action
        .forward_config()
        .and_then(|f| f.target_group_stickiness_config())
        .filter(|s| s.enabled() == Some(true))
        .and_then(|s| s.duration_seconds())
        .map_or(0, |d| d.max(0) as u32)
}

/// The same actions with only the two weights changed.
fn with_weights(
    actions: &[Action],
    lambda_tg: &str,
    ecs_tg: &str,
    to: Weights,
) -> Result<Vec<Action>> {
    let index = forward_action(actions, lambda_tg, ecs_tg)?;
    let mut updated = actions.to_vec();
    // Describe* never returns an OIDC client secret, and Modify* accepts it missing only
    // when told to keep the one it has.
    for oidc in updated
        .iter_mut()
        .filter_map(|a| a.authenticate_oidc_config.as_mut())
    {
        if oidc.client_secret.is_none() {
            oidc.use_existing_client_secret = Some(true);
        }
    }
    if let Some(forward) = updated[index].forward_config.as_mut() {
        for tuple in forward.target_groups.iter_mut().flatten() {
            match tuple.target_group_arn.as_deref() {
                Some(tg) if tg == lambda_tg => tuple.weight = Some(to.lambda),
                Some(tg) if tg == ecs_tg => tuple.weight = Some(to.ecs),
                _ => {}
            }
        }
    }
    Ok(updated)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{
        AuthenticateOidcActionConfig, ForwardActionConfig, TargetGroupStickinessConfig,
        TargetGroupTuple,
    };

    pub(crate) const LAMBDA_TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1";
    pub(crate) const ECS_TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2";
    const OTHER_TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/canary/3";

    fn tuple(arn: &str, weight: i32) -> TargetGroupTuple {
        TargetGroupTuple::builder()
            .target_group_arn(arn)
            .weight(weight)
            .build()
    }

    /// A forward action with stickiness, as a listener created with weights would return it.
    pub(crate) fn forward(lambda: i32, ecs: i32) -> Action {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .order(2)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(tuple(LAMBDA_TG, lambda))
                    .target_groups(tuple(ECS_TG, ecs))
                    .target_group_stickiness_config(
                        TargetGroupStickinessConfig::builder()
                            .enabled(true)
                            .duration_seconds(3600)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn authenticate() -> Action {
        Action::builder()
            .r#type(ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .authenticate_oidc_config(
                AuthenticateOidcActionConfig::builder()
                    .issuer("https://idp.example.com")
                    .client_id("spillover")
                    .authorization_endpoint("https://idp.example.com/auth")
                    .token_endpoint("https://idp.example.com/token")
                    .user_info_endpoint("https://idp.example.com/userinfo")
                    .build(),
            )
            .build()
    }

    #[test]
    fn metric_dimensions_come_from_the_arns() {
        assert_eq!(target_group_dimension(ECS_TG).unwrap(), "targetgroup/ecs/2");
        assert_eq!(
            load_balancer_dimension(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
            )
            .unwrap(),
            "app/web/50dc6c495c0c9188"
        );
        assert_eq!(
            load_balancer_dimension(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/2/3"
            )
            .unwrap(),
            "app/web/1"
        );
        assert!(load_balancer_dimension(ECS_TG).is_err());
        assert!(target_group_dimension("arn:aws:ecs:x").is_err());
    }

    #[test]
    fn reads_the_two_weights() {
        assert_eq!(
            find_weights(&[forward(1, 0)], LAMBDA_TG, ECS_TG).unwrap(),
            Weights { lambda: 1, ecs: 0 }
        );
    }

    #[test]
    fn changes_only_the_two_weights_and_keeps_everything_else() {
        let mut three = forward(1, 0);
        three
            .forward_config
            .as_mut()
            .unwrap()
            .target_groups
            .as_mut()
            .unwrap()
            .push(tuple(OTHER_TG, 7));
        let actions = vec![authenticate(), three.clone()];
        let updated =
            with_weights(&actions, LAMBDA_TG, ECS_TG, Weights { lambda: 0, ecs: 1 }).unwrap();

        let mut expected = three;
        let tgs = expected
            .forward_config
            .as_mut()
            .unwrap()
            .target_groups
            .as_mut()
            .unwrap();
        tgs[0].weight = Some(0);
        tgs[1].weight = Some(1);
        let mut keeps_secret = authenticate();
        keeps_secret
            .authenticate_oidc_config
            .as_mut()
            .unwrap()
            .use_existing_client_secret = Some(true);
        assert_eq!(updated, vec![keeps_secret, expected]);
        assert_eq!(
            updated[1]
                .forward_config()
                .unwrap()
                .target_group_stickiness_config(),
            forward(1, 0)
                .forward_config()
                .unwrap()
                .target_group_stickiness_config(),
        );
    }

    #[test]
    fn stickiness_counts_only_when_enabled() {
        assert_eq!(sticky_secs(&forward(1, 0)), 3600);
        let mut off = forward(1, 0);
        let config = off
            .forward_config
            .as_mut()
            .unwrap()
            .target_group_stickiness_config
            .as_mut()
            .unwrap();
        config.enabled = Some(false);
        assert_eq!(sticky_secs(&off), 0);
        assert_eq!(sticky_secs(&authenticate()), 0);
    }

    #[test]
    fn a_forward_action_without_both_target_groups_is_refused() {
        let only_lambda = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(tuple(LAMBDA_TG, 1))
                    .build(),
            )
            .build();
        let err = with_weights(&[only_lambda], LAMBDA_TG, ECS_TG, Weights::ON_LAMBDA).unwrap_err();
        assert!(matches!(err, Error::Topology(_)));
        assert!(
            err.to_string().contains("SPILLOVER_ECS_TARGET_GROUP_ARN"),
            "{err}"
        );
        assert!(
            !err.to_string()
                .contains("SPILLOVER_LAMBDA_TARGET_GROUP_ARN"),
            "{err}"
        );

        let err = find_weights(&[authenticate()], LAMBDA_TG, ECS_TG).unwrap_err();
        assert!(err.to_string().contains("no forward action"), "{err}");
    }

    #[test]
    fn target_groups_of_the_wrong_type_are_refused_and_swapped_ones_named() {
        assert_eq!(target_types_fit("lambda", "ip"), Ok(()));
        assert_eq!(target_types_fit("lambda", "instance"), Ok(()));
        let swapped = target_types_fit("ip", "lambda").unwrap_err();
        assert!(swapped.contains("are swapped"), "{swapped}");
        let wrong_lambda = target_types_fit("instance", "ip").unwrap_err();
        assert!(
            wrong_lambda.starts_with(
                "SPILLOVER_LAMBDA_TARGET_GROUP_ARN is a target group of type \"instance\""
            ),
            "{wrong_lambda}"
        );
        let wrong_ecs = target_types_fit("lambda", "alb").unwrap_err();
        assert!(
            wrong_ecs
                .starts_with("SPILLOVER_ECS_TARGET_GROUP_ARN is a target group of type \"alb\""),
            "{wrong_ecs}"
        );
    }

    #[test]
    fn a_target_group_without_a_weight_counts_as_weight_one() {
        let mut action = forward(0, 0);
        action
            .forward_config
            .as_mut()
            .unwrap()
            .target_groups
            .as_mut()
            .unwrap()[0]
            .weight = None;
        assert_eq!(
            find_weights(&[action], LAMBDA_TG, ECS_TG).unwrap(),
            Weights { lambda: 1, ecs: 0 }
        );
    }
}
