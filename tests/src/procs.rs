//! Reading /proc: which processes belong to a node, whether they are alive, and how
//! much CPU and memory they use.

use std::fs;
use std::path::Path;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// The fields of `/proc/<pid>/stat` the bench needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Parent pid.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
    /// User-mode CPU time in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time in clock ticks.
    pub stime: u64,
    /// CPU time of waited-for children, user mode.
    pub cutime: u64,
    /// CPU time of waited-for children, kernel mode.
    pub cstime: u64,
}

impl ProcStat {
    /// Parses the text of `/proc/<pid>/stat`. The command name is in parentheses and may
    /// itself contain spaces or parentheses, so fields are counted after the *last* `)`.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let rest = &text[text.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // f[0] is field 3 (state) of proc(5).
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<i64>().ok());
        Some(ProcStat {
            state: f.first()?.chars().next()?,
            ppid: i32::try_from(num(1)?).ok()?,
            pgrp: i32::try_from(num(2)?).ok()?,
            utime: u64::try_from(num(11)?).ok()?,
            stime: u64::try_from(num(12)?).ok()?,
            cutime: u64::try_from(num(13)?).ok()?,
            cstime: u64::try_from(num(14)?).ok()?,
        })
    }

    /// Own plus reaped-children CPU ticks.
    pub fn total_ticks(&self) -> u64 {
        self.utime + self.stime + self.cutime + self.cstime
    }

    /// Zombies and dead tasks no longer run nor hold resources.
    pub fn is_gone(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads and parses `/proc/<pid>/stat`; `None` when the process does not exist.
pub fn stat(pid: i32) -> Option<ProcStat> {
    ProcStat::parse(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// True when `pid` exists and is neither a zombie nor dead.
pub fn is_alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| !s.is_gone())
}

/// The mount namespace identity of `pid` (e.g. `mnt:[4026532281]`).
pub fn mnt_ns(pid: i32) -> Option<String> {
    ns_link(&format!("/proc/{pid}/ns/mnt"))
}

/// The mount namespace of the calling process.
pub fn own_mnt_ns() -> Option<String> {
    ns_link("/proc/self/ns/mnt")
}

fn ns_link(path: &str) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// All pids currently listed in /proc.
pub fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Live processes that are in mount namespace `mnt` or in process group `pgrp`.
/// Together these cover a node: the daemon's helpers stay in its group, and scripts it
/// spawns (even ones that call setsid) stay in its private mount namespace.
pub fn node_processes(mnt: Option<&str>, pgrp: Option<i32>) -> Vec<i32> {
    let mut pids: Vec<i32> = all_pids()
        .into_iter()
        .filter(|&pid| {
            let Some(st) = stat(pid) else { return false };
            if st.is_gone() {
                return false;
            }
            pgrp.is_some_and(|g| st.pgrp == g)
                || mnt.is_some_and(|m| mnt_ns(pid).as_deref() == Some(m))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Sends `sig` to one process, ignoring "no such process".
pub fn signal(pid: i32, sig: Signal) {
    if pid > 1 {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Sends `sig` to process group `pgrp`, ignoring "no such process".
pub fn signal_group(pgrp: i32, sig: Signal) {
    if pgrp > 1 {
        let _ = killpg(Pid::from_raw(pgrp), sig);
    }
}

/// Memory of one process from `/proc/<pid>/smaps_rollup`, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size.
    pub rss_kb: u64,
    /// Proportional set size (shared pages divided among their users).
    pub pss_kb: u64,
}

impl Memory {
    /// Parses the text of `smaps_rollup`; missing fields count as 0.
    pub fn parse(text: &str) -> Memory {
        let mut m = Memory::default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(key), Some(val)) = (it.next(), it.next()) else {
                continue;
            };
            let Ok(val) = val.parse::<u64>() else {
                continue;
            };
            match key {
                "Rss:" => m.rss_kb = val,
                "Pss:" => m.pss_kb = val,
                _ => {}
            }
        }
        m
    }
}

/// Reads `/proc/<pid>/smaps_rollup`; `None` if the process is gone (or a kernel thread).
pub fn memory(pid: i32) -> Option<Memory> {
    fs::read_to_string(
        Path::new("/proc")
            .join(pid.to_string())
            .join("smaps_rollup"),
    )
    .ok()
    .map(|t| Memory::parse(&t))
}

/// CPU time of all threads of `pid`, in nanoseconds (first field of each
/// `/proc/<pid>/task/<tid>/schedstat`).
pub fn cpu_ns(pid: i32) -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Clock ticks per second, for converting `/proc/<pid>/stat` CPU times.
pub fn clock_ticks() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        // 100 is the Linux value on every architecture the bench runs on.
        _ => 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let text = "1234 (heart beat) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 5 1000 50 18446744073709551615";
        let st = ProcStat::parse(text).unwrap();
        assert_eq!(st.state, 'S');
        assert_eq!(st.ppid, 1);
        assert_eq!(st.pgrp, 1234);
        assert_eq!((st.utime, st.stime, st.cutime, st.cstime), (7, 3, 2, 1));
        assert_eq!(st.total_ticks(), 13);
        assert!(ProcStat::parse("garbage").is_none());
        assert!(ProcStat::parse("1 (a) Z 1").is_none());
    }

    #[test]
    fn own_process_is_found_and_alive() {
        let me = std::process::id() as i32;
        assert!(is_alive(me));
        let st = stat(me).unwrap();
        assert!(!st.is_gone());
        assert!(mnt_ns(me).unwrap().starts_with("mnt:["));
        assert_eq!(mnt_ns(me), own_mnt_ns());
        assert!(memory(me).unwrap().rss_kb > 0);
    }

    #[test]
    fn parses_smaps_rollup() {
        let m =
            Memory::parse("00400000-7ff [rollup]\nRss:  1500 kB\nPss:   700 kB\nPss_Anon: 5 kB\n");
        assert_eq!(
            m,
            Memory {
                rss_kb: 1500,
                pss_kb: 700
            }
        );
    }
}
