//! Sleeping until an arrival is due, precisely, for the engine's runtime.
//!
//! tokio's timer has 1 ms ticks (its driver waits in `epoll_wait`, whose
//! timeout is in milliseconds), which made requests leave up to ~1.8 ms
//! late at p99. Here a thread of its own sleeps on the kernel's timer (its
//! timer slack, 50 µs by default) and wakes the engine when the instant
//! comes. The engine asks only when the next arrival is ahead of it:
//! behind schedule (at high rates) the two threads do not meet at all.
//!
//! (A `timerfd` registered with tokio would avoid the thread, but tokio
//! now registers raw descriptors only through `unsafe`, which this crate
//! forbids.)

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use tokio::sync::Notify;

pub(super) struct Timer {
    tx: Option<mpsc::Sender<Instant>>,
    woken: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Timer {
    pub(super) fn new() -> std::io::Result<Timer> {
        let (tx, rx) = mpsc::channel::<Instant>();
        let woken = Arc::new(Notify::new());
        let wake = woken.clone();
        let thread = std::thread::Builder::new()
            .name("zeta-timer".into())
            .spawn(move || {
                // Ends when the Timer is dropped (the channel closes).
                while let Ok(due) = rx.recv() {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    wake.notify_one();
                }
            })?;
        Ok(Timer {
            tx: Some(tx),
            woken,
            thread: Some(thread),
        })
    }

    /// Return at `due` (or at once if it has passed). Never early.
    pub(super) async fn sleep_until(&self, due: Instant) -> std::io::Result<()> {
        while Instant::now() < due {
            self.tx
                .as_ref()
                .and_then(|tx| tx.send(due).ok())
                .ok_or_else(|| std::io::Error::other("the load engine's timer thread is gone"))?;
            // A wake left over from an abandoned sleep only costs one more
            // round of this loop.
            self.woken.notified().await;
        }
        Ok(())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// How late it wakes is a benchmark's business (README, The load
    /// engine); here: never early, past instants at once, and the thread
    /// ends with the timer.
    #[tokio::test(flavor = "current_thread")]
    async fn never_wakes_early() {
        let t = Timer::new().unwrap();
        for i in 0..100u64 {
            // Deliberately off the millisecond grid.
            let due = Instant::now() + Duration::from_micros(300 + (i * 37) % 700);
            t.sleep_until(due).await.unwrap();
            let now = Instant::now();
            assert!(now >= due, "woke {:?} early", due - now);
        }
        let before = Instant::now();
        t.sleep_until(before - Duration::from_millis(1))
            .await
            .unwrap();
        drop(t);
    }
}
