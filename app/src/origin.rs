//! Who is serving: the mode (Lambda or plain server) and the function instance or ECS task.
//!
//! Lambda names the function and the execution environment (its log stream) in environment
//! variables. ECS gives a task its metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`),
//! whose `/task` document holds the task ARN; outside ECS the host name is all there is.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

/// How the request reached the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Invoked by the Lambda runtime with an ALB event.
    Lambda,
    /// A plain HTTP server (a Fargate task, or a developer's machine).
    Server,
}

impl Mode {
    /// Lambda when the runtime API is there to poll, as in the seed app.
    pub fn from_env() -> Self {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            Mode::Lambda
        } else {
            Mode::Server
        }
    }
}

/// The identity every answer carries: `served_by` and where exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub served_by: Mode,
    /// Function name (Lambda) or task ARN, else host name (server).
    pub name: String,
    /// The Lambda execution environment (log stream name), or the host name of a task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Origin {
    /// The Lambda side, from the variables the Lambda service sets.
    pub fn lambda() -> Self {
        Origin {
            served_by: Mode::Lambda,
            name: env_or("AWS_LAMBDA_FUNCTION_NAME", "unknown-function"),
            instance: std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").ok(),
        }
    }

    /// The server side: the ECS task ARN when the metadata endpoint answers within
    /// `timeout`, else the host name alone.
    pub async fn server(timeout: Duration) -> Self {
        let host = hostname();
        let task = match std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
            Ok(uri) => match tokio::time::timeout(timeout, ecs_task_arn(&uri)).await {
                Ok(Ok(arn)) => Some(arn),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "ECS task metadata unreadable; using the host name");
                    None
                }
                Err(_) => {
                    tracing::warn!("ECS task metadata did not answer in time; using the host name");
                    None
                }
            },
            Err(_) => None,
        };
        match task {
            Some(arn) => Origin {
                served_by: Mode::Server,
                name: arn,
                instance: Some(host),
            },
            None => Origin {
                served_by: Mode::Server,
                name: host,
                instance: None,
            },
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The kernel's host name: a `FROM scratch` image has no `/etc/hostname` of its own.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| env_or("HOSTNAME", "unknown-host"))
}

/// `GET {ECS_CONTAINER_METADATA_URI_V4}/task` and its `TaskARN`.
async fn ecs_task_arn(base: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let uri: axum::http::Uri = format!("{}/task", base.trim_end_matches('/')).parse()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<String>();
    let response = client.get(uri).await?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()).into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    task_arn_of(&body)
}

/// The `TaskARN` field of a task metadata document (ECS task metadata endpoint v4).
pub fn task_arn_of(document: &[u8]) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    #[derive(serde::Deserialize)]
    struct Task {
        #[serde(rename = "TaskARN")]
        task_arn: String,
    }
    Ok(serde_json::from_slice::<Task>(document)?.task_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_arn_is_read_from_the_metadata_document() {
        let doc = br#"{"Cluster":"c","TaskARN":"arn:aws:ecs:us-east-1:123456789012:task/c/abc","Family":"app"}"#;
        assert_eq!(
            task_arn_of(doc).unwrap(),
            "arn:aws:ecs:us-east-1:123456789012:task/c/abc"
        );
        assert!(task_arn_of(b"{}").is_err());
    }

    #[test]
    fn origin_serialises_as_served_by_and_names() {
        let origin = Origin {
            served_by: Mode::Lambda,
            name: "app".into(),
            instance: None,
        };
        assert_eq!(
            serde_json::to_value(&origin).unwrap(),
            serde_json::json!({"served_by": "lambda", "name": "app"})
        );
    }

    #[tokio::test]
    async fn server_without_ecs_metadata_falls_back_to_the_host_name() {
        // Only meaningful outside ECS; inside a task the real endpoint would answer.
        if std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_some() {
            return;
        }
        let origin = Origin::server(Duration::from_millis(100)).await;
        assert_eq!(origin.served_by, Mode::Server);
        assert!(!origin.name.is_empty());
    }
}
