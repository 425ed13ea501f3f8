//! A TCP proxy in the harness that adds latency in front of a real
//! component (PostgreSQL): the `high_latency` fault for what has no knobs.
//! Each chunk the client sends waits `delay` (+ uniform jitter) before it
//! goes upstream, so every query or request is that much slower; replies
//! pass straight through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct DelayProxy {
    pub listen: String,
    delay_ms: Arc<AtomicU64>,
    jitter_ms: Arc<AtomicU64>,
    cancel: CancellationToken,
}

impl DelayProxy {
    /// Listen on a free loopback port and forward to `upstream`.
    pub async fn start(upstream: String) -> std::io::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?.to_string();
        let p = DelayProxy {
            listen,
            delay_ms: Arc::new(AtomicU64::new(0)),
            jitter_ms: Arc::new(AtomicU64::new(0)),
            cancel: CancellationToken::new(),
        };
        let q = p.clone();
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = q.cancel.cancelled() => return,
                };
                let (q, upstream) = (q.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        q.pipe(client, server).await;
                    }
                });
            }
        });
        Ok(p)
    }

    pub fn set_delay(&self, delay: Duration, jitter: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
        self.jitter_ms
            .store(jitter.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }

    async fn pipe(&self, client: TcpStream, server: TcpStream) {
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let up = {
            let (delay, jitter, cancel) = (
                self.delay_ms.clone(),
                self.jitter_ms.clone(),
                self.cancel.clone(),
            );
            async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = tokio::select! {
                        r = cr.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                        _ = cancel.cancelled() => break,
                    };
                    let d = delay.load(Ordering::Relaxed);
                    if d > 0 {
                        let j = jitter.load(Ordering::Relaxed);
                        let extra = if j > 0 {
                            rand::rng().random_range(0..=j)
                        } else {
                            0
                        };
                        tokio::time::sleep(Duration::from_millis(d + extra)).await;
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
            }
        };
        let down = async move {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            let _ = cw.shutdown().await;
        };
        tokio::join!(up, down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adds_the_delay_to_each_request_and_removes_it() {
        // An echo server upstream.
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = echo.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 64];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let p = DelayProxy::start(addr).await.unwrap();
        let mut c = TcpStream::connect(&p.listen).await.unwrap();
        assert!(roundtrip(&mut c).await < Duration::from_millis(50));
        p.set_delay(Duration::from_millis(200), Duration::ZERO);
        let slow = roundtrip(&mut c).await;
        assert!(
            slow >= Duration::from_millis(200) && slow < Duration::from_millis(400),
            "{slow:?}"
        );
        p.set_delay(Duration::ZERO, Duration::ZERO);
        assert!(roundtrip(&mut c).await < Duration::from_millis(50));
        p.stop();
    }

    async fn roundtrip(c: &mut TcpStream) -> Duration {
        let t = std::time::Instant::now();
        c.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
        t.elapsed()
    }
}
