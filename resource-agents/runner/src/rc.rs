//! Exit codes: OCF names, and how LSB and heartbeat-class results map onto them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An OCF exit code with its `ocf-returncodes` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OcfRc {
    /// 0 `OCF_SUCCESS`; for monitor: running.
    Success,
    /// 1 `OCF_ERR_GENERIC` (soft).
    ErrGeneric,
    /// 2 `OCF_ERR_ARGS`: parameters invalid on this host.
    ErrArgs,
    /// 3 `OCF_ERR_UNIMPLEMENTED`.
    ErrUnimplemented,
    /// 4 `OCF_ERR_PERM`.
    ErrPerm,
    /// 5 `OCF_ERR_INSTALLED`.
    ErrInstalled,
    /// 6 `OCF_ERR_CONFIGURED`.
    ErrConfigured,
    /// 7 `OCF_NOT_RUNNING`: cleanly stopped (monitor only).
    NotRunning,
    /// 8 `OCF_RUNNING_MASTER`.
    RunningMaster,
    /// 9 `OCF_FAILED_MASTER`.
    FailedMaster,
    /// 190 (OCF 1.1, Pacemaker `PCMK_OCF_DEGRADED`): active but degraded.
    Degraded,
    /// 191 (OCF 1.1): promoted but degraded.
    DegradedMaster,
    /// Anything else (only seen for non-OCF classes, which pass codes through).
    Other(i32),
}

impl OcfRc {
    /// Names a numeric code.
    pub fn from_code(rc: i32) -> OcfRc {
        match rc {
            0 => OcfRc::Success,
            1 => OcfRc::ErrGeneric,
            2 => OcfRc::ErrArgs,
            3 => OcfRc::ErrUnimplemented,
            4 => OcfRc::ErrPerm,
            5 => OcfRc::ErrInstalled,
            6 => OcfRc::ErrConfigured,
            7 => OcfRc::NotRunning,
            8 => OcfRc::RunningMaster,
            9 => OcfRc::FailedMaster,
            190 => OcfRc::Degraded,
            191 => OcfRc::DegradedMaster,
            other => OcfRc::Other(other),
        }
    }

    /// The numeric code.
    pub fn code(self) -> i32 {
        match self {
            OcfRc::Success => 0,
            OcfRc::ErrGeneric => 1,
            OcfRc::ErrArgs => 2,
            OcfRc::ErrUnimplemented => 3,
            OcfRc::ErrPerm => 4,
            OcfRc::ErrInstalled => 5,
            OcfRc::ErrConfigured => 6,
            OcfRc::NotRunning => 7,
            OcfRc::RunningMaster => 8,
            OcfRc::FailedMaster => 9,
            OcfRc::Degraded => 190,
            OcfRc::DegradedMaster => 191,
            OcfRc::Other(n) => n,
        }
    }

    /// The shell name (`OCF_SUCCESS`, ...); 190/191 use Pacemaker's names.
    pub fn name(self) -> &'static str {
        match self {
            OcfRc::Success => "OCF_SUCCESS",
            OcfRc::ErrGeneric => "OCF_ERR_GENERIC",
            OcfRc::ErrArgs => "OCF_ERR_ARGS",
            OcfRc::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfRc::ErrPerm => "OCF_ERR_PERM",
            OcfRc::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfRc::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfRc::NotRunning => "OCF_NOT_RUNNING",
            OcfRc::RunningMaster => "OCF_RUNNING_MASTER",
            OcfRc::FailedMaster => "OCF_FAILED_MASTER",
            OcfRc::Degraded => "OCF_DEGRADED",
            OcfRc::DegradedMaster => "OCF_DEGRADED_MASTER",
            OcfRc::Other(_) => "OCF_UNKNOWN",
        }
    }

    /// cluster-glue's `execra_code2string` text, as lrmadmin prints it.
    pub fn text(self) -> &'static str {
        match self {
            OcfRc::Success => "ok",
            OcfRc::ErrGeneric => "unknown error",
            OcfRc::ErrArgs => "invalid parameter",
            OcfRc::ErrUnimplemented => "unimplemented feature",
            OcfRc::ErrPerm => "insufficient privileges",
            OcfRc::ErrInstalled => "not installed",
            OcfRc::ErrConfigured => "not configured",
            OcfRc::NotRunning => "not running",
            OcfRc::RunningMaster => "master",
            OcfRc::FailedMaster => "master (failed)",
            OcfRc::Degraded => "degraded",
            OcfRc::DegradedMaster => "master (degraded)",
            OcfRc::Other(_) => "unknown exit code",
        }
    }

    /// True for results a recurring monitor treats as "resource active".
    pub fn is_running(self) -> bool {
        matches!(
            self,
            OcfRc::Success | OcfRc::RunningMaster | OcfRc::Degraded | OcfRc::DegradedMaster
        )
    }
}

impl fmt::Display for OcfRc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.text())
    }
}

/// OCF class: codes 0–9 and 190/191 pass; anything else is a generic error,
/// like lrmd's `map_ra_retvalue` (which predates 190/191).
pub fn map_ocf(exit: i32) -> i32 {
    match exit {
        0..=9 | 190 | 191 => exit,
        _ => 1,
    }
}

/// LSB class, `status` (and `monitor`, which is sent as `status`).
///
/// 0 running; 1, 2, 3 (dead with pid file, dead with lock file, stopped) →
/// 7; 4 (unknown) → 1. 5 stays "not installed": init scripts use `exit 5`
/// for a removed package whatever the action, and lrmd kept it. Pacemaker's
/// 150/151 become 5/4. Anything else → 1 (Pacemaker; lrmd passed it through).
pub fn map_lsb_status(exit: i32) -> i32 {
    match exit {
        0 => 0,
        1..=3 => 7,
        5 | 150 => 5,
        151 => 4,
        _ => 1,
    }
}

/// LSB class, every action but `status`: the LSB codes 0–7 are OCF's 0–7;
/// anything else is a generic error.
pub fn map_lsb_other(exit: i32) -> i32 {
    match exit {
        0..=7 => exit,
        _ => 1,
    }
}

/// Heartbeat class, `status`/`monitor`: the exit code is ignored and the
/// first line of stdout decides (lrmd's `raexechb` rule).
///
/// Lower-cased, it is first matched against `*stopped*` and `*not*running*`
/// (→ 7), then `*running*` (→ 0); `OK` matches case-sensitively (→ 0).
/// No output or no match means stopped (7). heartbeat v1's ResourceManager
/// rule (`*not *running*` → stopped, `*running*`/`*OK*` → running) gives the
/// same answer for every output the shipped wrappers print.
pub fn map_heartbeat_status(stdout: &[u8]) -> i32 {
    let first = stdout.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(first);
    let lower = text.to_ascii_lowercase();
    let not_running = lower
        .find("not")
        .map(|i| lower[i + 3..].contains("running"))
        .unwrap_or(false);
    if lower.contains("stopped") || not_running {
        7
    } else if lower.contains("running") || text.contains("OK") {
        0
    } else {
        7
    }
}

/// Heartbeat class, other actions: the exit code as it is (negative → 1).
pub fn map_heartbeat_other(exit: i32) -> i32 {
    if exit < 0 {
        1
    } else {
        exit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in (0..=9).chain([190, 191, 42]) {
            assert_eq!(OcfRc::from_code(c).code(), c);
        }
        assert_eq!(OcfRc::from_code(7), OcfRc::NotRunning);
        assert_eq!(OcfRc::from_code(190), OcfRc::Degraded);
    }

    #[test]
    fn ocf_clamps_unknown_codes() {
        assert_eq!(map_ocf(7), 7);
        assert_eq!(map_ocf(191), 191);
        assert_eq!(map_ocf(42), 1);
        assert_eq!(map_ocf(-2), 1);
    }

    #[test]
    fn lsb_status_codes() {
        assert_eq!(map_lsb_status(0), 0);
        assert_eq!(map_lsb_status(1), 7);
        assert_eq!(map_lsb_status(2), 7);
        assert_eq!(map_lsb_status(3), 7);
        assert_eq!(map_lsb_status(4), 1);
        assert_eq!(map_lsb_status(5), 5);
        assert_eq!(map_lsb_status(150), 5);
        assert_eq!(map_lsb_status(151), 4);
        assert_eq!(map_lsb_status(99), 1);
        assert_eq!(map_lsb_other(3), 3);
        assert_eq!(map_lsb_other(8), 1);
    }

    #[test]
    fn heartbeat_status_text() {
        assert_eq!(map_heartbeat_status(b"INFO:  Running OK\n"), 0);
        assert_eq!(map_heartbeat_status(b"INFO:  Resource is stopped\n"), 7);
        assert_eq!(map_heartbeat_status(b"foo is not running\n"), 7);
        assert_eq!(map_heartbeat_status(b"Not  Running"), 7);
        assert_eq!(map_heartbeat_status(b"status OK"), 0);
        // "ok" only counts upper-case, as in lrmd.
        assert_eq!(map_heartbeat_status(b"status ok"), 7);
        assert_eq!(map_heartbeat_status(b"running"), 0);
        assert_eq!(map_heartbeat_status(b""), 7);
        // Only the first line counts.
        assert_eq!(map_heartbeat_status(b"hello\nrunning\n"), 7);
    }
}
