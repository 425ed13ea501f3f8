//! When an outage verifiably took effect: the first moment a probe from
//! outside saw the target down, not the moment the call that stops it
//! returned. `service_down` (SIGKILL) and `database_down` (fast shutdown)
//! are in force at the first refused connection; `service_down` with
//! `mode: freeze` (SIGSTOP) at the start of the first probe the service
//! accepted but never answered. Bounded: after [`PROBE_FOR`] without such a
//! probe, the fault is reported as not verified.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long an outage is probed for before it counts as not in force.
pub const PROBE_FOR: Duration = Duration::from_secs(10);
const EVERY: Duration = Duration::from_millis(25);
/// A frozen service accepts (the kernel does) and never answers.
const UNANSWERED_AFTER: Duration = Duration::from_millis(500);

/// `host:port` of a component URL (`http://h:p/…`, `postgresql://h:p`).
pub fn address(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    authority.contains(':').then(|| authority.to_string())
}

/// One probe: `Some(start)` when it saw the target down.
async fn down_once(addr: &str, frozen: bool) -> Option<DateTime<Utc>> {
    let start = Utc::now();
    match tokio::time::timeout(UNANSWERED_AFTER, TcpStream::connect(addr)).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(start),
        Ok(Err(_)) => None,
        // Not even accepted within the bound: unanswered.
        Err(_) => frozen.then_some(start),
        Ok(Ok(mut conn)) if frozen => {
            let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if conn.write_all(req.as_bytes()).await.is_err() {
                return Some(start);
            }
            let mut byte = [0u8; 1];
            match tokio::time::timeout(UNANSWERED_AFTER, conn.read(&mut byte)).await {
                Err(_) => Some(start),
                Ok(_) => None,
            }
        }
        Ok(Ok(_)) => None,
    }
}

/// Probe `addr` until it is seen down or [`PROBE_FOR`] has passed; the
/// moment and how it was seen, or why not.
pub async fn first_down(addr: &str, frozen: bool) -> Result<(DateTime<Utc>, String), String> {
    first_down_within(addr, frozen, PROBE_FOR).await
}

/// [`first_down`], probing for `within` rather than [`PROBE_FOR`].
pub async fn first_down_within(
    addr: &str,
    frozen: bool,
    within: Duration,
) -> Result<(DateTime<Utc>, String), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut probes = 0u32;
    while tokio::time::Instant::now() < deadline {
        probes += 1;
        if let Some(at) = down_once(addr, frozen).await {
            let how = if frozen {
                "the first probe it accepted and never answered"
            } else {
                "the first refused connection"
            };
            return Ok((at, format!("{how} to {addr} (probe {probes})")));
        }
        tokio::time::sleep(EVERY).await;
    }
    Err(format!(
        "{addr} still answered {probes} probes over {}",
        crate::input::units::human_duration(within)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_component_urls() {
        assert_eq!(
            address("http://127.0.0.1:80/x").as_deref(),
            Some("127.0.0.1:80")
        );
        assert_eq!(
            address("postgresql://u:p@127.0.0.1:5432/db").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(address("redis://[::1]:6379").as_deref(), Some("[::1]:6379"));
        assert_eq!(address("no-port"), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_down_and_a_listening_one_is_not() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        // Answering: never down within one probe.
        let server = tokio::spawn(async move {
            loop {
                let (mut c, _) = l.accept().await.unwrap();
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            }
        });
        assert!(down_once(&addr, false).await.is_none());
        assert!(down_once(&addr, true).await.is_none());
        server.abort();
        let _ = server.await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (at, how) = first_down(&addr, false).await.unwrap();
        assert!(how.contains("refused"), "{how}");
        assert!(at <= Utc::now());
    }

    #[tokio::test]
    async fn a_service_that_accepts_and_never_answers_is_frozen() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                let (c, _) = l.accept().await.unwrap();
                open.push(c);
            }
        });
        let (_, how) = first_down(&addr, true).await.unwrap();
        assert!(how.contains("never answered"), "{how}");
    }
}
