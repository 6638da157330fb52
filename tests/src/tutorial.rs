//! What the tutorial's resources need on a test node: our heartbeat-class `IPaddr`
//! entry point (ra-agents) and the LSB `httpd` script running our small web server,
//! both installed in the node's `resource.d` (per node; `/etc/init.d` is shared by
//! every namespace).

use std::path::Path;

use crate::error::{BenchError, Result};
use crate::{target_bin, workspace_root, NodeSpec};

/// Builds lrmd and ra-agents if this profile lacks them (the heartbeat package's build
/// does not produce them).
pub fn ensure_helpers() -> Result<()> {
    if target_bin("lrmd")?.is_file() && target_bin("ra-agents")?.is_file() {
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
            "building lrmd/ra-agents failed: {}",
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
        let ra_agents = target_bin("ra-agents")?;
        // ra-agents picks its agent from argv[0]: a symlink named IPaddr, which the
        // node's resource.d/IPaddr runs (node files are written as text).
        let tools = tempfile::Builder::new()
            .prefix("hbt-tutorial-")
            .tempdir()
            .map_err(|e| BenchError::Setup(format!("tempdir: {e}")))?;
        let ipaddr = tools.path().join("IPaddr");
        std::os::unix::fs::symlink(&ra_agents, &ipaddr)
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
