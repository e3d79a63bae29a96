//! ECS: the service's desired count and tags (spillover's marks), its tasks, and whether
//! it registers its tasks in the configured ECS target group.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{DesiredStatus, Service, Tag, Task};

use super::Calls;
use crate::error::{Error, Result};
use crate::observed::StoppedTask;

/// The service's tasks, counted by status.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskCounts {
    pub running: u32,
    pub pending: u32,
}

pub struct Ecs {
    client: aws_sdk_ecs::Client,
    cluster: String,
    service: String,
    /// `SPILLOVER_ECS_TARGET_GROUP_ARN`: the service's `loadBalancers` must name it.
    target_group: String,
    /// The service's ARN, as `DescribeServices` gives it (long or short format).
    arn: OnceLock<String>,
    calls: Arc<Calls>,
}

/// The service as read: its desired count and its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    pub desired: i32,
    pub tags: HashMap<String, String>,
}

/// The service as `DescribeServices` describes it (for `spillover check`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceInfo {
    pub desired: i32,
    pub task_definition: String,
    /// `awsvpcConfiguration.subnets`; empty without an awsvpc network configuration.
    pub subnets: Vec<String>,
    /// `FARGATE`, `EC2`, `EXTERNAL`, or empty with a capacity provider strategy.
    pub launch_type: String,
    pub capacity_providers: Vec<String>,
    /// The target groups of its `loadBalancers`.
    pub target_groups: Vec<String>,
}

impl Ecs {
    pub fn new(
        client: aws_sdk_ecs::Client,
        cluster: String,
        service: String,
        target_group: String,
        calls: Arc<Calls>,
    ) -> Self {
        Ecs {
            client,
            cluster,
            service,
            target_group,
            arn: OnceLock::new(),
            calls,
        }
    }

    /// The desired count and the tags (two reads: `DescribeServices`, `ListTagsForResource`).
    /// A service whose `loadBalancers` do not name the ECS target group is refused: its
    /// tasks would never turn healthy there.
    pub async fn service_state(&self) -> Result<ServiceState> {
        let service = self.describe_service().await?;
        let info = service_info(&service);
        registers_in(&info.target_groups, &self.target_group).map_err(Error::Topology)?;
        let tags = self.tags().await?;
        Ok(ServiceState {
            desired: info.desired,
            tags,
        })
    }

    /// The service's task definition, network, launch type and target groups.
    pub async fn service_info(&self) -> Result<ServiceInfo> {
        Ok(service_info(&self.describe_service().await?))
    }

    async fn arn(&self) -> Result<String> {
        if let Some(arn) = self.arn.get() {
            return Ok(arn.clone());
        }
        self.desired_count().await?;
        Ok(self.arn.get().cloned().unwrap_or_default())
    }

    async fn tags(&self) -> Result<HashMap<String, String>> {
        let arn = self.arn().await?;
        self.calls.read();
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| Error::aws("ecs:ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    /// Adds or overwrites tags on the service.
    pub async fn tag(&self, tags: &[(&str, String)]) -> Result<()> {
        let arn = self.arn().await?;
        self.calls.write();
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| Error::aws("ecs:TagResource", e))?;
        Ok(())
    }

    /// Removes tags from the service.
    pub async fn untag(&self, keys: &[&str]) -> Result<()> {
        let arn = self.arn().await?;
        self.calls.write();
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .await
            .map_err(|e| Error::aws("ecs:UntagResource", e))?;
        Ok(())
    }

    pub async fn desired_count(&self) -> Result<i32> {
        Ok(self.describe_service().await?.desired_count())
    }

    async fn describe_service(&self) -> Result<Service> {
        self.calls.read();
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .send()
            .await
            .map_err(|e| Error::aws("ecs:DescribeServices", e))?;
        // A service that does not exist is not an error but a `failures` entry with reason
        // MISSING: <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html>.
        let service = out
            .services()
            .iter()
            .find(|s| s.service_name() == Some(self.service.as_str()) && s.status() != Some("INACTIVE"))
            .ok_or_else(|| {
                Error::Topology(format!(
                    "ECS service {:?} not found in cluster {:?} (check SPILLOVER_CLUSTER and SPILLOVER_SERVICE)",
                    self.service, self.cluster
                ))
            })?;
        if let Some(arn) = service.service_arn() {
            let _ = self.arn.set(arn.to_string());
        }
        Ok(service.clone())
    }

    pub async fn set_desired_count(&self, desired: i32) -> Result<()> {
        self.calls.write();
        self.client
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| Error::aws("ecs:UpdateService", e))?;
        Ok(())
    }

    /// The service's tasks by status.
    pub async fn tasks(&self) -> Result<TaskCounts> {
        let arns = self.list_tasks(DesiredStatus::Running).await?;
        let tasks = self.describe_tasks(arns).await?;
        Ok(classify(&tasks, &self.service))
    }

    /// The service's running tasks in one read: `DescribeServices`' `runningCount`, "the
    /// number of tasks in the cluster that are in the RUNNING state" (ECS API reference,
    /// `Service`). The last check before a weight change reads it rather than the task
    /// list and its describe, two reads in a row while Lambda throttles; the healthy targets
    /// it goes with are the stronger condition anyway.
    pub async fn running_count(&self) -> Result<u32> {
        let service = self.describe_service().await?;
        Ok(u32::try_from(service.running_count()).unwrap_or(0))
    }

    /// The tasks of the service that stopped with a reason after `since` (failed starts),
    /// from the stopped tasks only: usually one read, since there are none.
    pub async fn failed_tasks(&self, since: SystemTime) -> Result<Vec<StoppedTask>> {
        let arns = self.list_tasks(DesiredStatus::Stopped).await?;
        let tasks = self.describe_tasks(arns).await?;
        Ok(failed_starts(&tasks, &self.service, since))
    }

    async fn list_tasks(&self, status: DesiredStatus) -> Result<Vec<String>> {
        let mut arns = Vec::new();
        let mut next = None;
        loop {
            self.calls.read();
            let out = self
                .client
                .list_tasks()
                .cluster(&self.cluster)
                .service_name(&self.service)
                .desired_status(status.clone())
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| Error::aws("ecs:ListTasks", e))?;
            arns.extend(out.task_arns().iter().cloned());
            next = out.next_token().map(String::from);
            if next.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn describe_tasks(&self, arns: Vec<String>) -> Result<Vec<Task>> {
        let mut tasks = Vec::with_capacity(arns.len());
        // DescribeTasks takes at most 100 tasks per call.
        for chunk in arns.chunks(100) {
            self.calls.read();
            let out = self
                .client
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| Error::aws("ecs:DescribeTasks", e))?;
            tasks.extend(out.tasks().iter().cloned());
        }
        Ok(tasks)
    }
}

fn service_info(service: &Service) -> ServiceInfo {
    let subnets = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|a| a.subnets().to_vec())
        .unwrap_or_default();
    ServiceInfo {
        desired: service.desired_count(),
        task_definition: service.task_definition().unwrap_or_default().to_string(),
        subnets,
        launch_type: service
            .launch_type()
            .map(|l| l.as_str().to_string())
            .unwrap_or_default(),
        capacity_providers: service
            .capacity_provider_strategy()
            .iter()
            .map(|c| c.capacity_provider().to_string())
            .collect(),
        target_groups: service
            .load_balancers()
            .iter()
            .filter_map(|l| l.target_group_arn().map(String::from))
            .collect(),
    }
}

/// The service must register its tasks in the ECS target group, or they never turn healthy
/// there (and a wrong target group gets the weight).
pub fn registers_in(service_target_groups: &[String], ecs_tg: &str) -> Result<(), String> {
    if service_target_groups.iter().any(|tg| tg == ecs_tg) {
        return Ok(());
    }
    let registers = if service_target_groups.is_empty() {
        "no target group (no loadBalancers)".to_string()
    } else {
        service_target_groups.join(", ")
    };
    Err(format!(
        "the ECS service registers its tasks in {registers}, not in SPILLOVER_ECS_TARGET_GROUP_ARN ({ecs_tg}); \
         set SPILLOVER_ECS_TARGET_GROUP_ARN to the service's target group, or add it to the service's loadBalancers"
    ))
}

/// The tasks of `service`. Only tasks whose group is `service:NAME` count: `ListTasks` may
/// return other tasks of the cluster (the local emulator ignores `serviceName`), and
/// one-off tasks are not ours.
fn of_service<'a>(tasks: &'a [Task], service: &str) -> impl Iterator<Item = &'a Task> {
    let group = format!("service:{service}");
    tasks
        .iter()
        .filter(move |t| t.group() == Some(group.as_str()))
}

/// Counts running and pending tasks of `service`.
fn classify(tasks: &[Task], service: &str) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for task in of_service(tasks, service) {
        match task.last_status().unwrap_or_default() {
            // A task still RUNNING but told to stop is draining, not serving.
            "RUNNING" if task.desired_status() != Some("STOPPED") => counts.running += 1,
            "PROVISIONING" | "PENDING" | "ACTIVATING" => counts.pending += 1,
            _ => {}
        }
    }
    counts
}

/// The tasks of `service` stopped (or stopping) after `since` that failed to start.
fn failed_starts(tasks: &[Task], service: &str, since: SystemTime) -> Vec<StoppedTask> {
    of_service(tasks, service)
        .filter(|t| {
            matches!(
                t.last_status().unwrap_or_default(),
                "STOPPED" | "DEACTIVATING" | "STOPPING" | "DEPROVISIONING"
            )
        })
        .filter_map(|t| failed_start(t, since))
        .collect()
}

/// A task stopped after `since` for a reason other than the scheduler scaling the service in
/// or replacing the task.
///
/// A stopped reason that starts with "Scaling activity initiated by" is a scale-in (or a
/// deployment replacing the task); "ECS is performing maintenance on the underlying
/// infrastructure hosting the task" is a task moved off retired infrastructure, which the
/// service scheduler replaces (most often an older task, stopped while we wait for the new
/// ones). The stop code does not tell them apart: ECS also stops with
/// `ServiceSchedulerInitiated` the tasks that fail their container health checks ("Task
/// failed container health checks") or their ELB health checks ("Task failed ELB health
/// checks in (target-group ...)"), and those mean the capacity we wait for is not coming
/// as planned
/// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html>,
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-maintenance.html>,
/// <https://repost.aws/knowledge-center/ecs-task-stopped>).
fn failed_start(task: &Task, since: SystemTime) -> Option<StoppedTask> {
    let since = DateTime::from(since);
    let stopped_at = task
        .stopping_at()
        .or(task.stopped_at())
        .or(task.created_at())?;
    let reason = task.stopped_reason().filter(|r| !r.is_empty())?;
    let replaced = reason.starts_with(SCALE_IN_REASON) || reason.starts_with(MAINTENANCE_REASON);
    (stopped_at.secs() >= since.secs() && !replaced).then(|| StoppedTask {
        arn: task.task_arn().unwrap_or_default().to_string(),
        reason: reason.to_string(),
    })
}

/// How the service scheduler's stopped reason starts when it scales in or replaces a task
/// in a deployment: "Scaling activity initiated by (deployment ecs-svc/...)".
const SCALE_IN_REASON: &str = "Scaling activity initiated by";

/// How ECS's stopped reason starts when it retires the infrastructure under a task.
const MAINTENANCE_REASON: &str = "ECS is performing maintenance";

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::TaskStopCode;
    use std::time::Duration;

    fn task(arn: &str, group: &str, status: &str) -> aws_sdk_ecs::types::builders::TaskBuilder {
        Task::builder()
            .task_arn(arn)
            .group(group)
            .last_status(status)
    }

    fn at(t: SystemTime) -> DateTime {
        DateTime::from(t)
    }

    #[test]
    fn the_service_must_register_its_tasks_in_the_ecs_target_group() {
        let ecs = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/ecs/2";
        let other = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/old/3";
        assert_eq!(registers_in(&[other.into(), ecs.into()], ecs), Ok(()));
        let err = registers_in(&[other.into()], ecs).unwrap_err();
        assert!(
            err.contains(&format!(
                "registers its tasks in {other}, not in SPILLOVER_ECS_TARGET_GROUP_ARN"
            )),
            "{err}"
        );
        let err = registers_in(&[], ecs).unwrap_err();
        assert!(err.contains("no target group"), "{err}");
    }

    #[test]
    fn only_this_services_tasks_count() {
        let tasks = [
            task("a", "service:web-app", "RUNNING").build(),
            task("b", "service:web-app", "PENDING").build(),
            task("c", "service:other", "RUNNING").build(),
            task("d", "family:batch", "RUNNING").build(),
            task("e", "service:web-app", "RUNNING").build(),
        ];
        assert_eq!(
            classify(&tasks, "web-app"),
            TaskCounts {
                running: 2,
                pending: 1,
            }
        );
    }

    #[test]
    fn a_task_that_stopped_with_a_reason_since_the_wait_began_is_reported() {
        let now = SystemTime::now();
        let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)";
        let tasks = [
            task("old", "service:web-app", "STOPPED")
                .stopped_reason("Essential container exited")
                .stopped_at(at(now - Duration::from_secs(3600)))
                .build(),
            task("new", "service:web-app", "STOPPED")
                .stopped_reason(reason)
                .stop_code(TaskStopCode::TaskFailedToStart)
                .stopped_at(at(now + Duration::from_secs(2)))
                .build(),
        ];
        let stopped = failed_starts(&tasks, "web-app", now).into_iter().next();
        assert_eq!(
            stopped,
            Some(StoppedTask {
                arn: "new".into(),
                reason: reason.into()
            })
        );
    }

    #[test]
    fn a_draining_task_is_not_counted_as_running() {
        let tasks = [
            task("a", "service:web-app", "RUNNING")
                .desired_status("RUNNING")
                .build(),
            task("b", "service:web-app", "RUNNING")
                .desired_status("STOPPED")
                .build(),
        ];
        assert_eq!(classify(&tasks, "web-app").running, 1);
    }

    #[test]
    fn tasks_stopped_by_a_scale_in_are_not_failures() {
        let now = SystemTime::now();
        let tasks = [
            task("a", "service:web-app", "STOPPED")
                .stopped_reason("Scaling activity initiated by (deployment ecs-svc/123)")
                .stopped_at(at(now + Duration::from_secs(1)))
                .build(),
            task("b", "service:web-app", "STOPPED")
                .stopped_reason("Scaling activity initiated by (deployment ecs-svc/456)")
                .stop_code(TaskStopCode::ServiceSchedulerInitiated)
                .stopped_at(at(now + Duration::from_secs(1)))
                .build(),
        ];
        assert_eq!(failed_starts(&tasks, "web-app", now), vec![]);
    }

    #[test]
    fn a_task_moved_off_retired_infrastructure_is_not_a_failure() {
        let now = SystemTime::now();
        let tasks = [task("old", "service:web-app", "STOPPED")
            .stopped_reason(
                "ECS is performing maintenance on the underlying infrastructure hosting the task",
            )
            .stop_code(TaskStopCode::ServiceSchedulerInitiated)
            .stopped_at(at(now + Duration::from_secs(1)))
            .build()];
        assert_eq!(failed_starts(&tasks, "web-app", now), vec![]);
    }

    #[test]
    fn scheduler_stops_for_health_checks_are_failures() {
        let now = SystemTime::now();
        for reason in [
            "Task failed container health checks",
            "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/ecs/2)",
        ] {
            let tasks = [task("a", "service:web-app", "STOPPED")
                .stopped_reason(reason)
                .stop_code(TaskStopCode::ServiceSchedulerInitiated)
                .stopped_at(at(now + Duration::from_secs(1)))
                .build()];
            assert_eq!(
                failed_starts(&tasks, "web-app", now)
                    .into_iter()
                    .next()
                    .map(|s| s.reason),
                Some(reason.to_string()),
                "{reason}"
            );
        }
    }
}
