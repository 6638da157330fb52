//! Process identity and supervision helpers.
//!
//! `kill -0` alone is not enough to tell that a pid file still names our
//! process: pids are recycled and zombies pass it too (reference 6.7). We
//! record the kernel's start time of the process (field 22 of
//! `/proc/<pid>/stat`) next to the pid and compare both.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `(state, starttime)` of a live process, `None` if there is no such pid.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // state is field 3; starttime is field 22, i.e. 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// True when `pid` exists and is not a zombie (or dead, 'X').
pub fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// The NUL-separated command line of `pid`, split into arguments.
pub fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A pid file plus the identity record we keep beside it.
#[derive(Debug, Clone)]
pub struct PidFile {
    pub path: PathBuf,
}

/// What a pid file says about its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidState {
    /// No pid file: cleanly stopped.
    Absent,
    /// The recorded process is alive and is the one we started.
    Running(i32),
    /// The pid file names a dead, zombie or different process.
    Stale(i32),
}

impl PidFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PidFile { path: path.into() }
    }

    fn ident_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".ident");
        PathBuf::from(p)
    }

    /// Writes `pid` and its start time (pid file first line is the bare
    /// pid, so other tools that read it keep working).
    pub fn write(&self, pid: i32) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        write_atomic(&self.path, format!("{pid}\n").as_bytes())?;
        if let Some((_, start)) = stat(pid) {
            write_atomic(&self.ident_path(), format!("{pid} {start}\n").as_bytes())?;
        }
        Ok(())
    }

    /// The pid recorded in the file, if readable.
    pub fn pid(&self) -> Option<i32> {
        let text = fs::read_to_string(&self.path).ok()?;
        // Take the last numeric line: login-shell noise before it must not
        // corrupt the pid (anything issue #1562).
        text.lines()
            .rev()
            .find_map(|l| l.trim().parse::<i32>().ok())
            .filter(|&p| p > 0)
    }

    /// Checks the pid file against the live process table. `looks_like`
    /// is the fallback identity test for pid files we did not write.
    pub fn state(&self, looks_like: impl Fn(i32) -> bool) -> PidState {
        if !self.path.exists() {
            return PidState::Absent;
        }
        let Some(pid) = self.pid() else {
            return PidState::Stale(0);
        };
        let Some((st, start)) = stat(pid) else {
            return PidState::Stale(pid);
        };
        if st == 'Z' || st == 'X' {
            return PidState::Stale(pid);
        }
        let recorded = fs::read_to_string(self.ident_path()).ok().and_then(|t| {
            let mut it = t.split_whitespace();
            let p: i32 = it.next()?.parse().ok()?;
            let s: u64 = it.next()?.parse().ok()?;
            Some((p, s))
        });
        let same = match recorded {
            Some((p, s)) if p == pid => s == start,
            _ => looks_like(pid),
        };
        if same {
            PidState::Running(pid)
        } else {
            PidState::Stale(pid)
        }
    }

    /// Removes the pid file and its identity record.
    pub fn remove(&self) -> std::io::Result<()> {
        for p in [self.path.clone(), self.ident_path()] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes a file via a temporary name and rename, so readers never see a
/// half-written pid.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
    }
    fs::rename(&tmp, path)
}

/// Sends `sig` to `pid`, and to its process group when it leads one (the
/// daemons we start are session leaders, so this reaches their children).
pub fn signal(pid: i32, sig: Signal) {
    let p = Pid::from_raw(pid);
    if nix::unistd::getpgid(Some(p)).ok() == Some(p) {
        let _ = kill(Pid::from_raw(-pid), sig);
    }
    let _ = kill(p, sig);
}

/// Polls until `pid` is gone (or a zombie) or `limit` has passed.
pub fn wait_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // Stops sit on the failover path: poll finely, it costs nothing here.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// TERM, wait up to `grace`, then KILL and wait up to `kill_wait`.
/// Returns whether the process is gone.
pub fn terminate(pid: i32, grace: Duration, kill_wait: Duration) -> bool {
    signal(pid, Signal::SIGTERM);
    if wait_gone(pid, grace) {
        return true;
    }
    signal(pid, Signal::SIGKILL);
    wait_gone(pid, kill_wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_with_a_start_time() {
        let me = std::process::id() as i32;
        let (state, start) = stat(me).expect("own stat");
        assert_ne!(state, 'Z');
        assert!(start > 0);
        assert!(alive(me));
    }

    #[test]
    fn pidfile_detects_recycled_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pf = PidFile::new(dir.path().join("x.pid"));
        assert_eq!(pf.state(|_| true), PidState::Absent);
        let me = std::process::id() as i32;
        pf.write(me).expect("write");
        assert_eq!(pf.state(|_| false), PidState::Running(me));
        // Same pid, different start time: a recycled pid is not ours.
        fs::write(pf.ident_path(), format!("{me} 1\n")).expect("ident");
        assert_eq!(pf.state(|_| true), PidState::Stale(me));
        pf.remove().expect("remove");
        assert!(!pf.path.exists());
    }

    #[test]
    fn pid_survives_login_shell_noise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pf = PidFile::new(dir.path().join("y.pid"));
        fs::write(&pf.path, "Welcome!\nmotd line\n4242\n").expect("write");
        assert_eq!(pf.pid(), Some(4242));
    }
}
