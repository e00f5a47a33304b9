//! A deadline and an outer cancellation folded into one [`CancelToken`] for a board operation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::CancelToken;

/// Cancels `inner` when `outer` is cancelled or the deadline passes, until dropped. Lets one
/// token serve both a user's Stop/Ctrl-C (`outer`) and a time limit.
pub struct Watchdog {
    done: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(outer: CancelToken, inner: CancelToken, timeout: Option<Duration>) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = timeout.map(|t| Instant::now() + t);
        let thread = {
            let (done, timed_out) = (done.clone(), timed_out.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if outer.is_cancelled() {
                        inner.cancel();
                        return;
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        timed_out.store(true, Ordering::SeqCst);
                        inner.cancel();
                        return;
                    }
                    // Parked rather than asleep: dropping the watchdog unparks it, so the
                    // operation it guards does not wait out the tick.
                    thread::park_timeout(Duration::from_millis(20));
                }
            })
        };
        Watchdog {
            done,
            timed_out,
            thread: Some(thread),
        }
    }

    /// Whether the deadline (not `outer`) cancelled `inner`.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
