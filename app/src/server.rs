//! The plain HTTP server (the Fargate side): `PORT` on all interfaces, and a graceful stop.
//!
//! ECS stops a task with SIGTERM, and SIGKILL after the container's stop timeout (30 s by
//! default). By then the ALB has deregistered the target and drained it for the target
//! group's deregistration delay, so the requests still in flight are the last ones: the
//! server stops accepting, lets them finish, and exits 0.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Default port when `PORT` is unset, as in the demo stack's task definition.
pub const DEFAULT_PORT: u16 = 8080;

/// `PORT` from the environment, or [`DEFAULT_PORT`]; a bad value names the variable.
pub fn port_from_env() -> Result<u16, String> {
    port_from(std::env::var("PORT").ok().as_deref())
}

fn port_from(value: Option<&str>) -> Result<u16, String> {
    match value {
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("PORT={value:?} is not a port number")),
        None => Ok(DEFAULT_PORT),
    }
}

/// Binds `0.0.0.0:port` (the task's address is only known at run time).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
}

/// Serves `app` until SIGTERM or SIGINT, then waits for the requests in flight.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    let stop = stop_signal()?;
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

/// Installs the handlers now (a signal that arrives before the first poll is not lost, nor
/// fatal) and resolves on the first SIGTERM (ECS, `kill`) or SIGINT (Ctrl-C).
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "stopping: no new connections, finishing requests in flight"
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_defaults_to_8080_and_a_bad_one_names_the_variable() {
        assert_eq!(port_from(None), Ok(8080));
        assert_eq!(port_from(Some("9000")), Ok(9000));
        assert_eq!(port_from(Some(" 9000\n")), Ok(9000));
        for bad in ["", "http", "70000", "-1"] {
            assert!(
                port_from(Some(bad)).unwrap_err().starts_with("PORT="),
                "{bad}"
            );
        }
    }
}
