//! Application Auto Scaling: whether the ECS service is a scalable target, and its minimum.

use std::sync::Arc;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

use super::Calls;
use crate::error::{Error, Result};
use crate::observed::Scalable;

pub struct Scaling {
    client: aws_sdk_applicationautoscaling::Client,
    /// `service/CLUSTER/SERVICE`, the resource ID of an ECS service's scalable target.
    resource_id: String,
    calls: Arc<Calls>,
}

impl Scaling {
    pub fn new(
        client: aws_sdk_applicationautoscaling::Client,
        cluster: &str,
        service: &str,
        calls: Arc<Calls>,
    ) -> Self {
        Scaling {
            client,
            resource_id: resource_id(cluster, service),
            calls,
        }
    }

    /// The service's scalable target (`ecs:service:DesiredCount`), if it has one.
    pub async fn target(&self) -> Result<Option<Scalable>> {
        self.calls.read();
        let out = self
            .client
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(&self.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
            .map_err(|e| Error::aws("application-autoscaling:DescribeScalableTargets", e))?;
        Ok(out
            .scalable_targets()
            .iter()
            .find(|t| t.resource_id() == self.resource_id)
            .map(|t| Scalable {
                min: t.min_capacity(),
                max: t.max_capacity(),
            }))
    }

    /// Sets the target's `MinCapacity`, leaving everything else as it is. Application Auto
    /// Scaling moves the current capacity into the new range right away: "If it's below the
    /// minimum capacity ... Application Auto Scaling adjusts the capacity of the scalable
    /// target to place it within these bounds"
    /// (<https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html>).
    pub async fn set_min_capacity(&self, min: i32) -> Result<()> {
        self.calls.write();
        self.client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&self.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(min)
            .send()
            .await
            .map_err(|e| Error::aws("application-autoscaling:RegisterScalableTarget", e))?;
        Ok(())
    }
}

/// `service/CLUSTER/SERVICE`; a cluster given as an ARN is taken by its name.
fn resource_id(cluster: &str, service: &str) -> String {
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    format!("service/{cluster}/{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_id_names_cluster_and_service() {
        assert_eq!(resource_id("web-app", "spill"), "service/web-app/spill");
        assert_eq!(
            resource_id(
                "arn:aws:ecs:us-east-1:123456789012:cluster/web-app",
                "spill"
            ),
            "service/web-app/spill"
        );
    }
}
