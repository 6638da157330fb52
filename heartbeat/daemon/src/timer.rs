//! The event loop's one timer, on a timerfd armed at an absolute CLOCK_MONOTONIC time.
//!
//! tokio's timer wheel wakes long sleeps early at a slot boundary and parks again, so
//! a one-second keepalive costs two wake-ups; on an idle node those wake-ups are most
//! of the daemon's CPU. A timerfd fires once, at the deadline.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use tokio::io::unix::AsyncFd;

pub struct DeadlineTimer {
    fd: AsyncFd<OwnedFd>,
    /// The origin of `Instant`s in CLOCK_MONOTONIC terms: std's Instant is that clock.
    armed: Option<Instant>,
}

fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

impl DeadlineTimer {
    pub fn new() -> io::Result<DeadlineTimer> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open while it lives.
        let fd = unsafe { AsyncFd::register(owned) }
            .map_err(|e| io::Error::other(format!("cannot poll timerfd: {e:?}")))?;
        Ok(DeadlineTimer { fd, armed: None })
    }

    /// Arms the timer for `deadline` (a no-op if it is already armed for it).
    pub fn set(&mut self, deadline: Instant) -> io::Result<()> {
        if self.armed == Some(deadline) {
            return Ok(());
        }
        // Convert the Instant to an absolute CLOCK_MONOTONIC time through "now" on
        // both clocks (std's Instant reads CLOCK_MONOTONIC on Linux).
        let now_i = Instant::now();
        let now_ts = monotonic_now();
        let delta = deadline.saturating_duration_since(now_i);
        let mut sec = now_ts.tv_sec + delta.as_secs() as libc::time_t;
        let mut nsec = now_ts.tv_nsec + delta.subsec_nanos() as libc::c_long;
        if nsec >= 1_000_000_000 {
            sec += 1;
            nsec -= 1_000_000_000;
        }
        // A zero it_value disarms a timerfd: a deadline already due fires in 1 ns.
        if delta.is_zero() {
            nsec = now_ts.tv_nsec.max(1);
            sec = now_ts.tv_sec;
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            },
        };
        // SAFETY: timerfd_settime reads the itimerspec we own.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.get_ref().as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(deadline);
        Ok(())
    }

    /// Waits until the armed deadline passes.
    ///
    /// The expiration count is never read: `timerfd_settime` resets it when the timer
    /// is armed again, and every expiry is a new epoll event whether or not the count
    /// was read, so reading would only add a syscall (and another to learn EAGAIN).
    pub async fn wait(&mut self) -> io::Result<()> {
        let mut guard = self.fd.readable().await?;
        guard.clear_ready();
        self.armed = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_at_the_deadline_not_before() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            t.set(start + Duration::from_millis(120)).unwrap();
            t.wait().await.unwrap();
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(120), "{took:?}");
            assert!(took < Duration::from_millis(1000), "{took:?}");
            // The expiry count was left unread: re-arming must still wait for the new
            // deadline rather than report the old expiry again.
            let s1 = Instant::now();
            t.set(s1 + Duration::from_millis(150)).unwrap();
            t.wait().await.unwrap();
            let took = s1.elapsed();
            assert!(took >= Duration::from_millis(150), "{took:?}");
            // A deadline in the past fires at once.
            t.set(start).unwrap();
            tokio::time::timeout(Duration::from_secs(1), t.wait())
                .await
                .expect("past deadline fires")
                .unwrap();
            // Re-arming moves the deadline.
            let s2 = Instant::now();
            t.set(s2 + Duration::from_secs(30)).unwrap();
            t.set(s2 + Duration::from_millis(50)).unwrap();
            tokio::time::timeout(Duration::from_secs(2), t.wait())
                .await
                .expect("re-armed deadline fires")
                .unwrap();
        });
    }
}
