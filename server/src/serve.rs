//! The accept loop: each connection served by hyper's HTTP/1 with a
//! header-read timeout (a client that sends nothing, or dribbles its
//! headers — slow-loris — is cut after `limits.header_timeout`), the
//! peer's address for the handlers (`ConnectInfo`), small send buffers, and
//! a graceful end on shutdown. HTTP/1 only: browsers' WebSockets and every
//! sender speak it, and it keeps one timer story.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::task::TaskTracker;
use tower_layer::Layer;

use tokio_util::sync::CancellationToken;

/// The accept queue asked of the kernel (which caps it at
/// `net.core.somaxconn`). When a node of a cluster dies, its screens all
/// reconnect to another within a second; with the usual 128, the
/// connections beyond it are dropped and wait for TCP's retransmits (1 s,
/// 3 s, 7 s…).
pub const ACCEPT_BACKLOG: u32 = 4096;

/// A listener on `addr` with the [`ACCEPT_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As the standard library's listeners do: a restarted server may bind
    // while the old one's connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves `router` on `listener` until shutdown; then lets requests in
/// flight finish (at most 5 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    header_timeout: Duration,
) {
    let connections = TaskTracker::new();
    let stop = shutdown.clone().cancelled_owned();
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, usually: wait for some to close.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        // Small kernel send buffers bound what a viewer that stopped
        // reading can pin in memory, and make it visible to the drain
        // bound quickly; no Nagle delay on tiny patches.
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(64 * 1024);
        // The peer goes into each request's extensions by a wrapper around
        // the router (not `Router::layer`, which would rebuild every route
        // for every connection).
        let service = TowerToHyperService::new(
            axum::Extension(ConnectInfo::<SocketAddr>(peer)).layer(router.clone()),
        );
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let stop = shutdown.cancelled_owned();
            tokio::pin!(stop);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = &mut stop => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.wait()).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Connections the kernel completes for a listener that has not
    /// accepted yet: all of a burst well past the usual 128 (bounded by
    /// this machine's `somaxconn`).
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_accept_queue() {
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let burst = somaxconn.min(600);
        assert!(burst > 129, "somaxconn {somaxconn} is too small to tell");
        let attempts: Vec<_> = (0..burst)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_millis(800),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut completed = Vec::new();
        for attempt in attempts {
            if let Ok(Ok(Ok(stream))) = attempt.await {
                completed.push(stream);
            }
        }
        // The kernel keeps backlog + 1 completed connections.
        assert!(
            completed.len() >= burst - 1,
            "{} of {burst} connections completed without an accept",
            completed.len()
        );
        drop(listener);
    }
}
