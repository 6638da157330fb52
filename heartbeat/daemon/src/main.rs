//! `heartbeat`: the cluster messaging and membership daemon.
//!
//! Command line as heartbeat 3.0.6 (`-dDkMrRsvWlVf`), plus long options that move its
//! configuration, state and run directories and set the node name, so tests can run
//! several nodes on one machine.

mod app;
mod child;
mod config;
mod fencing;
mod fifo;
mod logging;
mod lrmd_client;
mod media;
mod media6;
mod parking;
mod paths;
mod ping;
mod respawn;
mod rm;
mod state;
mod timer;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::paths::Paths;

#[derive(Parser, Debug)]
#[command(
    name = "heartbeat",
    about = "Linux-HA heartbeat: cluster messaging and membership daemon",
    disable_version_flag = true
)]
pub struct Opts {
    /// Raise the debug level (repeatable)
    #[arg(short = 'd', action = ArgAction::Count)]
    pub debug: u8,
    /// Print the ha.cf directives and their defaults, then exit
    #[arg(short = 'D')]
    pub defaults: bool,
    /// With -D: print as a wiki table
    #[arg(short = 'W')]
    pub wiki: bool,
    /// Stop the running heartbeat (SIGTERM to the pid in the pid file) and wait
    #[arg(short = 'k')]
    pub kill: bool,
    /// Reload the running heartbeat's configuration (SIGHUP)
    #[arg(short = 'r')]
    pub reload: bool,
    /// Report whether heartbeat is running
    #[arg(short = 's')]
    pub status: bool,
    /// Print the version
    #[arg(short = 'V')]
    pub version: bool,
    /// Run without resource management
    #[arg(short = 'M')]
    pub no_resources: bool,
    /// Do not try to run with realtime priority
    #[arg(short = 'l')]
    pub no_realtime: bool,
    /// Stay in the foreground
    #[arg(short = 'f')]
    pub foreground: bool,
    /// Verbose
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Restarted by a reload (internal; accepted for compatibility)
    #[arg(short = 'R')]
    pub restarted: bool,
    /// Current resource state after a reload (internal; accepted for compatibility)
    #[arg(short = 'C', value_name = "Current-resource-state")]
    pub current_rsc: Option<String>,
    /// Configuration directory (ha.cf, authkeys, haresources)
    #[arg(long, value_name = "DIR", default_value = paths::DEFAULT_CONFIG_DIR)]
    pub config_dir: PathBuf,
    /// State directory (hb_generation, hb_uuid)
    #[arg(long, value_name = "DIR", default_value = paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Run directory (the API socket `register`, rsctmp)
    #[arg(long, value_name = "DIR", default_value = paths::DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// Pid file
    #[arg(long, value_name = "FILE", default_value = paths::DEFAULT_PID_FILE)]
    pub pid_file: PathBuf,
    /// Local node name (default: /etc/ha.d/nodeinfo, else `uname -n`)
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

impl Opts {
    pub fn paths(&self) -> Paths {
        Paths {
            config_dir: self.config_dir.clone(),
            state_dir: self.state_dir.clone(),
            run_dir: self.run_dir.clone(),
            pid_file: self.pid_file.clone(),
        }
    }
}

pub const VERSION: &str = concat!("3.0.6 (rust-heartbeat ", env!("CARGO_PKG_VERSION"), ")");

fn main() -> ExitCode {
    let opts = Opts::parse();
    if opts.version {
        println!("{VERSION}");
        return ExitCode::SUCCESS;
    }
    if opts.defaults {
        config::print_defaults(opts.wiki);
        return ExitCode::SUCCESS;
    }
    let paths = opts.paths();
    if opts.status {
        return match running_pid(&paths) {
            Some(pid) => {
                let node = paths::local_node_name(opts.node.as_deref(), &paths.nodeinfo())
                    .unwrap_or_default();
                println!("heartbeat OK [pid {pid} et al] is running on {node} [{node}]...");
                ExitCode::SUCCESS
            }
            None => {
                println!("heartbeat is stopped. No process");
                ExitCode::from(3)
            }
        };
    }
    if opts.kill {
        return stop_running(&paths);
    }
    if opts.reload {
        return match running_pid(&paths) {
            Some(pid) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGHUP,
                );
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("heartbeat is not running.");
                ExitCode::from(1)
            }
        };
    }
    match app::start(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("Heartbeat not started: {:#}", e);
            eprintln!("heartbeat: Heartbeat not started: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The pid in the pid file, if that process is alive.
pub fn running_pid(paths: &Paths) -> Option<i32> {
    let text = std::fs::read_to_string(&paths.pid_file).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 {
        return None;
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).ok()?;
    Some(pid)
}

/// `heartbeat -k`: SIGTERM and wait until the daemon has released its resources and gone.
fn stop_running(paths: &Paths) -> ExitCode {
    let Some(pid) = running_pid(paths) else {
        eprintln!("INFO: Heartbeat already stopped.");
        return ExitCode::SUCCESS;
    };
    let target = nix::unistd::Pid::from_raw(pid);
    if let Err(e) = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM) {
        eprintln!("heartbeat: cannot signal pid {pid}: {e}");
        return ExitCode::from(1);
    }
    // Bounded like the systemd unit's TimeoutStopSec: resource stops may take long.
    for _ in 0..(30 * 60 * 10) {
        if nix::sys::signal::kill(target, None).is_err() {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("heartbeat: pid {pid} did not stop within 30 minutes");
    ExitCode::from(1)
}
