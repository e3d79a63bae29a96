//! The router: the same routes whether Lambda or the server delivers the request.
//!
//! - `GET /health`: 200 `ok`, for the ALB health check of the ECS target group;
//! - `GET /`: who served the request (`lambda` or `server`) and from which function or task;
//! - `GET /sleep?ms=N`: holds the request N ms without using CPU, to make concurrency on purpose;
//! - `GET /work?ms=N`: burns one core for N ms, to make CPU load on purpose.
//!
//! N is bounded by [`MAX_MS`]; a missing, malformed or larger N is a 400.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Origin;

/// Upper bound of `ms` for `/sleep` and `/work`: one minute, under the ALB's and a Lambda
/// function's usual timeouts.
pub const MAX_MS: u64 = 60_000;

/// The app's router; `origin` is what `/` and the other answers report as their server.
pub fn router(origin: Origin) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/", get(root))
        .route("/sleep", get(sleep))
        .route("/work", get(work))
        .with_state(Arc::new(origin))
}

async fn health() -> &'static str {
    "ok"
}

async fn root(State(origin): State<Arc<Origin>>) -> Json<Origin> {
    Json(origin.as_ref().clone())
}

/// `?ms=N`.
#[derive(Debug, Deserialize)]
struct Millis {
    ms: Option<u64>,
}

/// A query axum cannot parse (`ms=abc`) is answered like any other bad `ms`.
type MillisQuery = Result<Query<Millis>, QueryRejection>;

/// A 400 with a JSON `error` that says what was wrong with `ms`.
#[derive(Debug)]
struct BadMs(String);

impl IntoResponse for BadMs {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": self.0 }))).into_response()
    }
}

/// `ms` as a duration, within [`MAX_MS`].
fn bounded(query: MillisQuery) -> Result<Duration, BadMs> {
    match query.map_err(|e| BadMs(e.body_text()))?.0.ms {
        Some(ms) if ms <= MAX_MS => Ok(Duration::from_millis(ms)),
        Some(ms) => Err(BadMs(format!("ms={ms} is above the limit of {MAX_MS}"))),
        None => Err(BadMs("ms is required, e.g. ?ms=200".to_owned())),
    }
}

async fn sleep(
    State(origin): State<Arc<Origin>>,
    query: MillisQuery,
) -> Result<Json<Value>, BadMs> {
    let wait = bounded(query)?;
    tokio::time::sleep(wait).await;
    Ok(Json(json!({
        "served_by": origin.served_by,
        "name": origin.name,
        "slept_ms": wait.as_millis(),
    })))
}

async fn work(State(origin): State<Arc<Origin>>, query: MillisQuery) -> Result<Json<Value>, BadMs> {
    let budget = bounded(query)?;
    // Off the async workers, so a busy server still answers /health.
    let rounds = tokio::task::spawn_blocking(move || burn(budget))
        .await
        .unwrap_or(0);
    Ok(Json(json!({
        "served_by": origin.served_by,
        "name": origin.name,
        "worked_ms": budget.as_millis(),
        "rounds": rounds,
    })))
}

/// Spins one core for `budget`; returns how many hashing rounds fit in it.
fn burn(budget: Duration) -> u64 {
    let start = Instant::now();
    let mut rounds = 0u64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while start.elapsed() < budget {
        for _ in 0..1_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        rounds = std::hint::black_box(rounds + 1);
    }
    std::hint::black_box(x);
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    fn served_by(mode: Mode) -> Origin {
        Origin {
            served_by: mode,
            name: "test-function".into(),
            instance: Some("2024/01/01/[$LATEST]abc".into()),
        }
    }

    async fn get(origin: Origin, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = router(origin)
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let value =
            serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
        (status, value)
    }

    #[tokio::test]
    async fn health_is_200_ok() {
        assert_eq!(
            get(served_by(Mode::Server), "/health").await,
            (StatusCode::OK, json!("ok"))
        );
    }

    #[tokio::test]
    async fn root_says_lambda_or_server_and_which_one() {
        let (status, body) = get(served_by(Mode::Lambda), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["served_by"], "lambda");
        assert_eq!(body["name"], "test-function");
        assert_eq!(body["instance"], "2024/01/01/[$LATEST]abc");
        assert_eq!(
            get(served_by(Mode::Server), "/").await.1["served_by"],
            "server"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_holds_the_request_for_ms() {
        let start = tokio::time::Instant::now();
        let (status, body) = get(served_by(Mode::Server), "/sleep?ms=1500").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["slept_ms"], 1500);
        assert_eq!(body["served_by"], "server");
        assert!(start.elapsed() >= Duration::from_millis(1500));
        // The bound itself is allowed, and other parameters are ignored.
        assert_eq!(
            get(served_by(Mode::Server), "/sleep?ms=60000&x=1").await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn sleep_and_work_refuse_a_missing_malformed_or_too_large_ms() {
        for uri in [
            "/sleep",
            "/sleep?ms=abc",
            "/sleep?ms=-1",
            "/sleep?ms=60001",
            "/work",
            "/work?ms=1e3",
            "/work?ms=999999999999",
        ] {
            let (status, body) = get(served_by(Mode::Server), uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(body["error"].is_string(), "{uri}: {body}");
        }
    }

    #[tokio::test]
    async fn work_burns_cpu_for_ms() {
        let start = Instant::now();
        let (status, body) = get(served_by(Mode::Lambda), "/work?ms=50").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["worked_ms"], 50);
        assert!(body["rounds"].as_u64().unwrap() > 0);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn the_recorded_alb_event_reaches_the_router_as_a_get_of_root() {
        use lambda_http::RequestExt;
        use lambda_http::request::RequestContext;

        let request =
            lambda_http::request::from_str(include_str!("../events/alb-get-root.json")).unwrap();
        assert!(matches!(
            request.request_context_ref(),
            Some(RequestContext::Alb(_))
        ));
        assert_eq!(request.uri().path(), "/");
        assert_eq!(request.uri().query(), Some("from=load-test"));
        let response = router(served_by(Mode::Lambda))
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 1 << 16).await.unwrap())
                .unwrap();
        assert_eq!(body["served_by"], "lambda");
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        assert_eq!(
            get(served_by(Mode::Server), "/nope").await.0,
            StatusCode::NOT_FOUND
        );
    }
}
