//! The accept loop: each connection served by hyper with a header-read
//! timeout (a client that dribbles its headers — slow-loris — is cut after
//! `limits.header_timeout`), the peer's address for the handlers
//! (`ConnectInfo`), small send buffers, and a graceful end on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

/// Serves `router` on `listener` until shutdown; then lets requests in
/// flight finish (at most 5 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    header_timeout: Duration,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let stop = shutdown.clone().wait();
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
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer))),
        );
        let shutdown = shutdown.clone();
        let open = open.clone();
        open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            let stop = shutdown.wait();
            tokio::pin!(stop);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = &mut stop => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while open.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
