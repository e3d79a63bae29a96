//! The demo app spillover moves traffic for. One [`axum::Router`] is served two ways from
//! one binary (see `main.rs`): as an ALB Lambda target through `lambda_http`, or as a plain
//! HTTP server on `PORT` in a Fargate task. Every answer says which of the two served it,
//! so a load test shows the spill happen.
//!
//! - `routes`: the router and its handlers (pure of the environment: the identity is given);
//! - `origin`: who is serving, read from the Lambda or ECS environment;
//! - `server`: the HTTP server with graceful shutdown on SIGTERM.

pub mod origin;
pub mod routes;
pub mod server;

pub use origin::{Mode, Origin};
pub use routes::{MAX_MS, router};
