//! The reads behind `spillover check`, all read-only and independent: one that fails keeps
//! its error for its own line, the others still run.

use super::{Facts, SiteFacts};
use crate::aws::Aws;
use crate::aws::listener::{Role, forward_of};
use crate::config::Config;

/// Reads everything the checklist needs, in parallel.
pub async fn facts(aws: &Aws, config: &Config, function_timeout_secs: Option<f64>) -> Facts {
    let names: Vec<String> = config
        .alarm_names
        .iter()
        .chain(&config.warm_alarm_names)
        .cloned()
        .collect();
    let (site, lambda_tg, ecs_tg, ecs_tg_attributes, lambda_targets, service, scalable, alarms) = tokio::join!(
        aws.listener.site(),
        aws.listener.target_group(Role::Lambda),
        aws.listener.target_group(Role::Ecs),
        aws.listener.target_group_attributes(Role::Ecs),
        aws.listener.targets(Role::Lambda),
        aws.ecs.service_info(),
        aws.scaling.target(),
        aws.alarms.describe_for_check(&names),
    );
    let text = |e: crate::Error| e.to_string();
    Facts {
        site: site.map_err(text).map(|s| SiteFacts {
            is_default_rule: s.is_default_rule,
            forward: forward_of(
                &s.actions,
                &config.lambda_target_group_arn,
                &config.ecs_target_group_arn,
            )
            .map_err(text),
        }),
        lambda_tg: lambda_tg.map_err(text),
        ecs_tg: ecs_tg.map_err(text),
        ecs_tg_attributes: ecs_tg_attributes.map_err(text),
        lambda_targets: lambda_targets.map_err(text),
        service: service.map_err(text),
        scalable: scalable.map_err(text),
        alarms: alarms.map_err(text),
        function_timeout_secs,
    }
}
