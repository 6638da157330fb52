//! Packet capture with tcpdump inside a node's network namespace.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::cmd;
use crate::error::{BenchError, Result};
use crate::net::Net;
use crate::procs;

/// A running `tcpdump -w`. Stopping (or dropping) it sends SIGTERM so the pcap file is
/// flushed, then SIGKILL if it lingers; always by pid.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    pcap: PathBuf,
    log: PathBuf,
}

impl Capture {
    /// Captures `filter` (tcpdump syntax, e.g. `udp or icmp`) on node `i`'s interface
    /// into `pcap`; returns once tcpdump reports it is listening.
    pub fn start(net: &Net, i: usize, pcap: &Path, filter: &str) -> Result<Capture> {
        let ns = net.ns(i)?;
        let log = pcap.with_extension("tcpdump.log");
        let err = File::create(&log)
            .map_err(|e| BenchError::io(format!("create {}", log.display()), e))?;
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &ns,
                "tcpdump",
                "-i",
                net.iface(i),
                "-s",
                "0",
                "-U",
                "-n",
                // Without it packets wait in the capture ring for a block timeout, and
                // a prompt stop loses them.
                "--immediate-mode",
                "-w",
            ])
            .arg(pcap)
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let child = command
            .spawn()
            .map_err(|e| BenchError::io("spawn tcpdump", e))?;
        let mut cap = Capture {
            child: Some(child),
            pcap: pcap.to_path_buf(),
            log,
        };
        let log = cap.log.clone();
        let mut exited = false;
        let ok = cmd::poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            if let Some(Ok(Some(_))) = cap.child.as_mut().map(|c| c.try_wait()) {
                exited = true;
                return true;
            }
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains("listening on"))
        });
        if exited || !ok {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(BenchError::Setup(format!(
                "tcpdump did not start: {}",
                text.trim()
            )));
        }
        Ok(cap)
    }

    /// The pcap file.
    pub fn path(&self) -> &Path {
        &self.pcap
    }

    /// Stops tcpdump and waits until the file is complete.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut c) = self.child.take() else {
            return Ok(());
        };
        let pid = i32::try_from(c.id()).map_err(|_| BenchError::Setup("bad tcpdump pid".into()))?;
        procs::signal(pid, Signal::SIGTERM);
        let done = cmd::wait_child(&mut c, Duration::from_secs(5))
            .map_err(|e| BenchError::io("wait for tcpdump", e))?;
        if done.is_none() {
            procs::signal(pid, Signal::SIGKILL);
            let _ = cmd::wait_child(&mut c, Duration::from_secs(5));
        }
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
