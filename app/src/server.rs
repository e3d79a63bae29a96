//! The plain HTTP server (the Fargate side): `HOST`:`PORT` (all interfaces by default), and
//! a graceful stop.
//!
//! ECS stops a task with SIGTERM, and SIGKILL after the container's stop timeout (30 s by
//! default). By then the ALB has deregistered the target and drained it for the target
//! group's deregistration delay, so the requests still in flight are the last ones: the
//! server stops accepting, lets them finish, and exits 0.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use tokio::net::TcpListener;

/// Default port when `PORT` is unset, as in the demo stack's task definition.
pub const DEFAULT_PORT: u16 = 8080;

/// Default address when `HOST` is unset: every interface, since a task's own address is
/// only known at run time. Tests and benchmarks set `HOST=127.0.0.1`.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// `HOST` and `PORT` from the environment, with their defaults; a bad value names the
/// variable.
pub fn addr_from_env() -> Result<SocketAddr, String> {
    addr_from(
        std::env::var("HOST").ok().as_deref(),
        std::env::var("PORT").ok().as_deref(),
    )
}

fn addr_from(host: Option<&str>, port: Option<&str>) -> Result<SocketAddr, String> {
    let host = match host {
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("HOST={value:?} is not an IP address"))?,
        None => DEFAULT_HOST,
    };
    let port = match port {
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("PORT={value:?} is not a port number"))?,
        None => DEFAULT_PORT,
    };
    Ok(SocketAddr::new(host, port))
}

/// Binds the listening socket.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
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
    fn address_defaults_to_every_interface_on_8080() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(addr_from(None, None), Ok(addr("0.0.0.0:8080")));
        assert_eq!(
            addr_from(Some("127.0.0.1"), Some(" 9000\n")),
            Ok(addr("127.0.0.1:9000"))
        );
        assert_eq!(addr_from(Some("::1"), Some("9000")), Ok(addr("[::1]:9000")));
    }

    #[test]
    fn a_bad_host_or_port_names_the_variable() {
        for bad in ["", "http", "70000", "-1"] {
            let error = addr_from(None, Some(bad)).unwrap_err();
            assert!(error.starts_with("PORT="), "{bad}: {error}");
        }
        for bad in ["", "localhost", "1.2.3"] {
            let error = addr_from(Some(bad), None).unwrap_err();
            assert!(error.starts_with("HOST="), "{bad}: {error}");
        }
    }
}
