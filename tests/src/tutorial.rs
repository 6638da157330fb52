//! What the tutorial's resources need on a test node: our heartbeat-class `IPaddr`
//! entry point (ra-agents) and the LSB `httpd` script running our small web server,
//! both installed in the node's `resource.d` (per node; `/etc/init.d` is shared by
//! every namespace); and the web client's side: [`HttpProbe`], which polls the VIP
//! from the client namespace and records which node answered when.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;

use crate::error::{BenchError, Result};
use crate::{target_bin, workspace_root, NodeSpec};

/// Builds lrmd, ra-agents and stonithd if this profile lacks them (the heartbeat package's build
/// does not produce them).
pub fn ensure_helpers() -> Result<()> {
    if ["lrmd", "ra-agents", "stonithd"]
        .iter()
        .all(|b| target_bin(b).is_ok_and(|p| p.is_file()))
    {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut argv = vec![
        cargo.as_str(),
        "build",
        "-q",
        "-p",
        "lrm",
        "--bin",
        "lrmd",
        "-p",
        "ra-agents",
        "-p",
        "stonithd",
    ];
    let profile = target_bin("x")?;
    if profile
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|p| p == "release")
    {
        argv.push("--release");
    }
    let out = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| BenchError::Setup(format!("cannot run cargo build: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "building lrmd/ra-agents/stonithd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The `IPaddr` and `httpd` resource scripts, ready to add to a node.
pub struct TutorialFiles {
    ipaddr_wrapper: String,
    httpd: String,
    _tools: tempfile::TempDir,
}

impl TutorialFiles {
    pub fn prepare() -> Result<TutorialFiles> {
        ensure_helpers()?;
        TutorialFiles::prepare_with(&target_bin("ra-agents")?)
    }

    /// Like [`TutorialFiles::prepare`] with a given `ra-agents` binary (a benchmark
    /// runs a private copy, so a rebuild of the tree cannot change it mid-run).
    pub fn prepare_with(ra_agents: &Path) -> Result<TutorialFiles> {
        // ra-agents picks its agent from argv[0]: a symlink named IPaddr, which the
        // node's resource.d/IPaddr runs (node files are written as text).
        let tools = tempfile::Builder::new()
            .prefix("hbt-tutorial-")
            .tempdir()
            .map_err(|e| BenchError::Setup(format!("tempdir: {e}")))?;
        let ipaddr = tools.path().join("IPaddr");
        std::os::unix::fs::symlink(ra_agents, &ipaddr)
            .map_err(|e| BenchError::Setup(format!("symlink IPaddr: {e}")))?;
        let script = workspace_root().join("resource-agents/agents/lsb/httpd");
        let httpd = std::fs::read_to_string(&script)
            .map_err(|e| BenchError::Setup(format!("{}: {e}", script.display())))?
            .replace("@RA_AGENTS@", &ra_agents.to_string_lossy());
        Ok(TutorialFiles {
            ipaddr_wrapper: format!("#!/bin/sh\nexec {} \"$@\"\n", ipaddr.display()),
            httpd,
            _tools: tools,
        })
    }

    /// Adds `resource.d/IPaddr` and `resource.d/httpd` to a node.
    pub fn install(&self, spec: NodeSpec) -> NodeSpec {
        spec.with_file("resource.d/IPaddr", &self.ipaddr_wrapper, 0o755)
            .with_file("resource.d/httpd", &self.httpd, 0o755)
    }
}

/// True when `vip` is configured on any interface of network namespace `ns`.
pub fn holds_vip(ns: &str, vip: Ipv4Addr) -> bool {
    crate::cmd::run(
        &["ip", "-n", ns, "-o", "-4", "addr", "show"],
        Duration::from_secs(5),
    )
    .map(|o| o.stdout.contains(&format!(" {vip}/")))
    .unwrap_or(false)
}

/// A connect attempt to a VIP nobody holds waits for ARP; giving up early and trying
/// again keeps the poll interval close to the nominal one during a failover.
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_millis(50);
/// Generous for a one-line page, short enough not to hide a failover behind one poll.
const PROBE_READ_TIMEOUT: Duration = Duration::from_millis(300);

/// One poll of [`HttpProbe`]: when it ended and which node (index into the names
/// given to [`HttpProbe::start`]) answered, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSample {
    pub at: Instant,
    pub answered_by: Option<usize>,
}

#[derive(Debug, Default)]
struct ProbeLog {
    samples: Vec<ProbeSample>,
    /// Why the poller could not run (e.g. entering the namespace failed).
    failed: Option<String>,
}

/// A web client polling `http://VIP/` from its own network namespace, in a thread of
/// this process (entered with setns, so a poll costs no process start): every poll is
/// recorded with the node the page names. Failover times are read off the record, so
/// the code causing a fault may block meanwhile.
#[derive(Debug)]
pub struct HttpProbe {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<ProbeLog>>,
    handle: Option<JoinHandle<()>>,
}

impl HttpProbe {
    /// Starts polling `http://vip/` from network namespace `client_ns` every
    /// `interval`; `names` are the node names a page may carry in its `<title>`.
    pub fn start(
        client_ns: &str,
        vip: Ipv4Addr,
        names: &[&str],
        interval: Duration,
    ) -> Result<HttpProbe> {
        let ns_path = format!("/run/netns/{client_ns}");
        let ns_file = std::fs::File::open(&ns_path)
            .map_err(|e| BenchError::io(format!("open {ns_path}"), e))?;
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(ProbeLog::default()));
        let (s, l) = (stop.clone(), log.clone());
        let handle = std::thread::Builder::new()
            .name("http-probe".into())
            .spawn(move || {
                // Only this thread moves: the rest of the process stays in the host
                // namespace (and `ip netns pids` only looks at thread group leaders).
                if let Err(e) = nix::sched::setns(&ns_file, CloneFlags::CLONE_NEWNET) {
                    if let Ok(mut g) = l.lock() {
                        g.failed = Some(format!("setns {ns_path}: {e}"));
                    }
                    return;
                }
                drop(ns_file);
                let addr = SocketAddr::from((vip, 80));
                while !s.load(Ordering::Relaxed) {
                    let next = Instant::now() + interval;
                    let answered_by = poll_once(addr, &names);
                    let sample = ProbeSample {
                        at: Instant::now(),
                        answered_by,
                    };
                    if let Ok(mut g) = l.lock() {
                        g.samples.push(sample);
                    }
                    if let Some(rest) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(rest);
                    }
                }
            })
            .map_err(|e| BenchError::io("spawn http probe thread", e))?;
        Ok(HttpProbe {
            stop,
            log,
            handle: Some(handle),
        })
    }

    fn check(&self) -> Result<()> {
        let failed = self.log.lock().ok().and_then(|g| g.failed.clone());
        match failed {
            Some(why) => Err(BenchError::Setup(format!("http probe: {why}"))),
            None => Ok(()),
        }
    }

    /// The first sample at or after `since` answered by node `who`, if any yet.
    pub fn first_answer(&self, who: usize, since: Instant) -> Option<ProbeSample> {
        let g = self.log.lock().ok()?;
        let from = g.samples.partition_point(|s| s.at < since);
        g.samples[from..]
            .iter()
            .find(|s| s.answered_by == Some(who))
            .copied()
    }

    /// Waits (bounded by `limit`, and giving up when `abort` says so) until node `who`
    /// answers a poll made after `since`; returns the time from `since` to that answer.
    pub fn wait_answer(
        &self,
        who: usize,
        since: Instant,
        limit: Duration,
        abort: impl Fn() -> bool,
    ) -> Result<Duration> {
        let deadline = Instant::now() + limit;
        loop {
            self.check()?;
            if let Some(s) = self.first_answer(who, since) {
                return Ok(s.at.saturating_duration_since(since));
            }
            if abort() {
                return Err(BenchError::Setup("interrupted".into()));
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: format!("an HTTP answer from node index {who}"),
                    after: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every sample taken at or after `since`.
    pub fn samples_since(&self, since: Instant) -> Vec<ProbeSample> {
        self.log
            .lock()
            .map(|g| {
                let from = g.samples.partition_point(|s| s.at < since);
                g.samples[from..].to_vec()
            })
            .unwrap_or_default()
    }
}

impl Drop for HttpProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One `GET /`: the index of the node named in the page's `<title>`, or `None` when
/// nothing answered in time.
fn poll_once(addr: SocketAddr, names: &[String]) -> Option<usize> {
    let mut s = TcpStream::connect_timeout(&addr, PROBE_CONNECT_TIMEOUT).ok()?;
    s.set_read_timeout(Some(PROBE_READ_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(PROBE_READ_TIMEOUT)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = Vec::new();
    s.take(64 * 1024).read_to_end(&mut body).ok()?;
    page_node(&String::from_utf8_lossy(&body), names)
}

/// Which of `names` the page's `<title>` is.
pub fn page_node(page: &str, names: &[String]) -> Option<usize> {
    let start = page.find("<title>")? + "<title>".len();
    let len = page[start..].find("</title>")?;
    let title = &page[start..start + len];
    names.iter().position(|n| n == title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_node_reads_the_title_exactly() {
        let names = vec!["node1".to_owned(), "node2".to_owned()];
        let page = "HTTP/1.0 200 OK\r\n\r\n<html><head><title>node2</title></head>\
                    <body><h1>node2</h1><p>on node node1?</p></body></html>";
        assert_eq!(page_node(page, &names), Some(1));
        assert_eq!(page_node("<title>node10</title>", &names), None);
        assert_eq!(page_node("no title node1", &names), None);
        assert_eq!(page_node("<title>node1", &names), None);
    }
}
