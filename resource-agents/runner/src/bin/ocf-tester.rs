//! `ocf-tester`: checks an OCF resource agent the way resource-agents'
//! `ocf-tester` does (same options, same test order, same messages and
//! exit code), running every action through `ra_runner`, i.e. exactly as
//! our lrmd will run it.
//!
//! Deliberate differences from the shell original, documented in the README:
//! the agent gets the full lrmd environment (`OCF_RA_VERSION_*`,
//! `OCF_RESOURCE_TYPE`, ...); every action is killed after the 20 s the agent
//! is told it has; meta-data is validated by `ra_runner::validate_dtd`
//! instead of xmllint; `-L` is accepted (the runner *is* the LRM path);
//! unknown options are errors instead of printing the help.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ra_runner::{run, AgentSpec, Class, OpRequest, OpResult, OpStatus, RawExit, Roots};

const USAGE: &str = "Tool for testing if a cluster resource is OCF compliant

Usage: ocf-tester [-hvqdXL] -n resource_name [-o name=value]* /full/path/to/resource/agent

Options:
  -h       		This text
  -v       		Be verbose while testing
  -q       		Be quiet while testing
  -d       		Turn on RA debugging
  -X       		Turn on RA tracing (expect large output)
  -L       		Accepted for compatibility: actions always run through the LRM runner
  -n name		Name of the resource
  -o name=value		Name and value of any parameters required by the agent";

/// What the agent is told its timeout is (ocf-tester exports 20000 ms); we
/// also enforce it.
const OP_TIMEOUT: Duration = Duration::from_secs(20);
const STOPPED_RC: i32 = 7;
const INSTALLED_RC: i32 = 5;

struct Abort;

struct Tester {
    agent: PathBuf,
    spec: AgentSpec,
    roots: Roots,
    verbose: bool,
    quiet: bool,
    /// `OCF_RESOURCE_INSTANCE` and `OCF_RESKEY_*`, exported only after the
    /// meta-data tests, as in the original.
    instance: String,
    params: BTreeMap<String, String>,
    exported: bool,
    interval_ms: u64,
    fail_have_binary: bool,
    extra_env: BTreeMap<String, String>,
    num_errors: u32,
    /// Output of the last non-verbose command, shown when a test aborts.
    command_output: String,
}

fn usage(code: u8) -> ExitCode {
    if code == 0 {
        println!("{USAGE}");
    } else {
        eprintln!("{USAGE}");
    }
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut verbose = false;
    let mut quiet = false;
    let mut instance = String::new();
    let mut params = BTreeMap::new();
    let mut extra_env = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match a {
            "-n" => {
                instance = value;
                i += 2;
            }
            "-o" => {
                // `${2%%=*}` / `${2#*=}`: without '=', name and value are both the word.
                let (name, val) = value.split_once('=').unwrap_or((&value, &value));
                params.insert(name.to_string(), val.to_string());
                i += 2;
            }
            "-v" => {
                verbose = true;
                i += 1;
            }
            "-d" => {
                extra_env.insert("HA_debug".to_string(), "1".to_string());
                i += 1;
            }
            "-X" => {
                extra_env.insert("OCF_TRACE_RA".to_string(), "1".to_string());
                verbose = true;
                i += 1;
            }
            "-q" => {
                quiet = true;
                i += 1;
            }
            "-L" => i += 1,
            "-h" | "-?" | "--help" => return usage(0),
            "--version" => {
                println!(
                    "{} (ra-runner; resource-agents 4.12 compatible)",
                    env!("CARGO_PKG_VERSION")
                );
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("unknown option: {s}");
                return usage(1);
            }
            _ => break,
        }
    }

    let roots = Roots {
        ocf_root: std::env::var_os("OCF_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| Roots::default().ocf_root),
        ..Roots::default()
    };
    if !roots.ocf_root.is_dir() {
        eprintln!("You must supply the location of OCF_ROOT (common location is /usr/lib/ocf)");
        return usage(1);
    }
    if instance.is_empty() {
        instance = std::env::var("OCF_RESOURCE_INSTANCE").unwrap_or_default();
    }
    if instance.is_empty() {
        eprintln!("You must give your resource a name, set OCF_RESOURCE_INSTANCE");
        return usage(1);
    }
    let Some(agent_arg) = args.get(i) else {
        eprintln!("You must provide the full path to your resource agent");
        return usage(1);
    };
    if args.len() > i + 1 {
        // The original stops parsing at the agent path and silently drops
        // the rest; we keep the semantics but say so.
        eprintln!(
            "WARN: ignoring arguments after the agent path: {}",
            args[i + 1..].join(" ")
        );
    }
    let agent = PathBuf::from(agent_arg);
    if !agent.exists() {
        eprintln!("You must provide the full path to your resource agent");
        return usage(1);
    }
    let absolute = if agent.is_absolute() {
        agent.clone()
    } else {
        std::env::current_dir()
            .map(|d| d.join(&agent))
            .unwrap_or_else(|_| agent.clone())
    };
    let provider = provider_of(&absolute, &roots).unwrap_or_else(|| "heartbeat".to_string());
    let spec = match AgentSpec::new(Class::Ocf, Some(&provider), &absolute.to_string_lossy()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return usage(1);
        }
    };

    let mut t = Tester {
        agent,
        spec,
        roots,
        verbose,
        quiet,
        instance,
        params,
        exported: false,
        interval_ms: 10_000,
        fail_have_binary: false,
        extra_env,
        num_errors: 0,
        command_output: String::new(),
    };
    match t.run_tests() {
        Ok(()) => {
            if t.num_errors > 0 {
                eprintln!(
                    "Tests failed: {} failed {} tests",
                    t.agent.display(),
                    t.num_errors
                );
                ExitCode::from(1)
            } else {
                println!("{} passed all tests", t.agent.display());
                ExitCode::SUCCESS
            }
        }
        Err(Abort) => ExitCode::from(1),
    }
}

/// `<OCF_ROOT>/resource.d/<provider>/<type>` → provider.
fn provider_of(agent: &Path, roots: &Roots) -> Option<String> {
    let rel = agent.strip_prefix(roots.ocf_ra_dir()).ok()?;
    let mut parts = rel.components();
    let provider = parts.next()?.as_os_str().to_str()?.to_string();
    parts.next()?;
    Some(provider)
}

impl Tester {
    fn info(&self, msg: &str) {
        if !self.quiet {
            println!("{msg}");
        }
    }

    fn debug(&self, msg: &str) {
        if self.verbose {
            println!("{msg}");
        }
    }

    /// The original's `assert rc target msg [exit_code]`.
    fn check(&mut self, rc: i32, targets: &[i32], msg: &str, abort: bool) -> Result<(), Abort> {
        if !targets.contains(&rc) {
            self.num_errors += 1;
            println!("* rc={rc}: {msg}");
            if abort {
                if !self.command_output.is_empty() {
                    println!("{}", self.command_output);
                }
                println!("Aborting tests");
                return Err(Abort);
            }
        }
        self.command_output.clear();
        Ok(())
    }

    fn request(&self, action: &str) -> OpRequest {
        let mut req = OpRequest::new(self.spec.clone(), action);
        req.timeout = OP_TIMEOUT;
        req.interval = Duration::from_millis(self.interval_ms);
        if self.exported {
            req.instance = self.instance.clone();
            req.params = self.params.clone();
        }
        req.env = self.extra_env.clone();
        req.env
            .insert("__OCF_ACTION".to_string(), action.to_string());
        if self.fail_have_binary {
            req.env
                .insert("OCF_TESTER_FAIL_HAVE_BINARY".to_string(), "1".to_string());
        }
        req
    }

    /// Runs `action`; returns the exit status the shell would have seen.
    fn command(&mut self, action: &str, msg: Option<&str>) -> i32 {
        let req = self.request(action);
        if self.verbose {
            self.debug(&normalize_words(
                msg.unwrap_or(&format!("Testing: {action}")),
            ));
        }
        match run(&req, &self.roots) {
            Ok(r) => {
                if self.verbose {
                    print!("{}", r.stdout_str());
                    eprint!("{}", r.stderr_str());
                    if r.status == OpStatus::TimedOut {
                        eprintln!("{action} timed out after {OP_TIMEOUT:?} and was killed");
                    }
                } else {
                    let mut out = String::new();
                    out.push_str(&r.stdout_str());
                    out.push_str(&r.stderr_str());
                    if r.status == OpStatus::TimedOut {
                        out.push_str(&format!(
                            "\n{action} timed out after {OP_TIMEOUT:?} and was killed"
                        ));
                    }
                    self.command_output = out.trim_end_matches('\n').to_string();
                }
                shell_status(&r)
            }
            Err(e) => {
                let text = e.to_string();
                if self.verbose {
                    eprintln!("{text}");
                } else {
                    self.command_output = text;
                }
                // What sh reports for a command it could not run.
                126
            }
        }
    }

    fn test_permissions(&mut self) -> i32 {
        self.debug("Testing permissions with uid nobody");
        let Some(nobody) = nix::unistd::User::from_name("nobody").ok().flatten() else {
            eprintln!("WARN: no user nobody; cannot check the agent's permissions");
            return 0;
        };
        let mut req = self.request("meta-data");
        req.env.remove("__OCF_ACTION");
        req.credentials = Some((nobody.uid.as_raw(), nobody.gid.as_raw()));
        match run(&req, &self.roots) {
            Ok(r) => {
                // su's stdout went to /dev/null; stderr reached the terminal.
                eprint!("{}", r.stderr_str());
                shell_status(&r)
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        }
    }

    /// `meta-data | xmllint --noout --valid -`: xmllint's status is what counts.
    fn test_metadata(&mut self) -> i32 {
        self.debug("Testing: meta-data");
        let mut req = self.request("meta-data");
        req.env.remove("__OCF_ACTION");
        req.output_limit = ra_runner::metadata::METADATA_LIMIT;
        let xml = match run(&req, &self.roots) {
            Ok(r) => {
                eprint!("{}", r.stderr_str());
                r.stdout_str().into_owned()
            }
            Err(e) => {
                eprintln!("{e}");
                String::new()
            }
        };
        let problems = ra_runner::validate_dtd(&xml);
        for p in &problems {
            eprintln!("-:{p}");
        }
        match ra_runner::MetaData::parse(&xml) {
            // xmllint: 1 for a document that does not parse, 4 when invalid.
            Err(ra_runner::MetaDataError::Xml { .. }) => 1,
            _ if problems.is_empty() => 0,
            _ => 4,
        }
    }

    fn run_tests(&mut self) -> Result<(), Abort> {
        let agent = self.agent.display().to_string();
        self.info(&format!("Beginning tests for {agent}..."));

        if !self.agent.is_file() {
            self.check(7, &[0], &format!("Could not find file: {agent}"), false)?;
        }

        if nix::unistd::Uid::effective().is_root() {
            let rc = self.test_permissions();
            self.check(
                rc,
                &[0],
                "Your agent has too restrictive permissions: should be 755",
                false,
            )?;
        } else {
            println!(
                "WARN: Can't check agent's permissions because we're not root; they should be 755"
            );
        }

        let rc = self.test_metadata();
        self.check(
            rc,
            &[0],
            "Your agent produces meta-data which does not conform to ra-api-1.dtd",
            false,
        )?;

        self.fail_have_binary = true;
        let rc = self.command("meta-data", None);
        if rc == 3 {
            self.check(
                rc,
                &[0],
                "Your agent does not support the meta-data action",
                false,
            )?;
        } else {
            self.check(
                rc,
                &[0],
                "The meta-data action cannot fail and must return 0",
                false,
            )?;
        }
        self.fail_have_binary = false;

        self.exported = true;
        let rc = self.command("validate-all", None);
        if rc == 3 {
            self.check(
                rc,
                &[0],
                "Your agent does not support the validate-all action",
                false,
            )?;
        } else if rc != 0 {
            self.check(
                rc,
                &[0],
                "Validation failed.  Did you supply enough options with -o ?",
                true,
            )?;
        }

        let rc = self.command("monitor", Some("Checking current state"));
        if rc == 3 {
            self.check(
                rc,
                &[7],
                "Your agent does not support the monitor action",
                true,
            )?;
        } else if rc == 8 {
            let rc = self.command("demote", Some("Cleanup, demote"));
            self.check(
                rc,
                &[0],
                "Your agent was promoted and could not be demoted",
                true,
            )?;
            let rc = self.command("stop", Some("Cleanup, stop"));
            self.check(
                rc,
                &[0],
                "Your agent was promoted and could not be stopped",
                true,
            )?;
        } else if rc != 7 {
            let rc = self.command("stop", None);
            self.check(
                rc,
                &[0],
                "Your agent was active and could not be stopped",
                true,
            )?;
        }

        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[STOPPED_RC],
            &format!("Monitoring a stopped resource should return {STOPPED_RC}"),
            false,
        )?;

        self.fail_have_binary = true;
        self.interval_ms = 0;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[STOPPED_RC, INSTALLED_RC],
            &format!(
                "The initial probe for a stopped resource should return {STOPPED_RC} or {INSTALLED_RC} even if all binaries are missing"
            ),
            false,
        )?;
        self.fail_have_binary = false;
        self.interval_ms = 20_000;

        let rc = self.command("start", None);
        self.check(
            rc,
            &[0],
            "Start failed.  Did you supply enough options with -o ?",
            true,
        )?;

        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[0],
            "Monitoring an active resource should return 0",
            false,
        )?;

        self.interval_ms = 0;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[0],
            "Probing an active resource should return 0",
            false,
        )?;
        self.interval_ms = 20_000;

        let rc = self.command("notify", None);
        if rc == 3 {
            self.info("* Your agent does not support the notify action (optional)");
        } else {
            self.check(
                rc,
                &[0],
                "The notify action cannot fail and must return 0",
                false,
            )?;
        }

        let mut has_demote = true;
        let mut has_promote = true;
        if self.command("demote", Some("Checking for demote action")) == 3 {
            has_demote = false;
            self.info("* Your agent does not support the demote action (optional)");
        }
        if self.command("promote", Some("Checking for promote action")) == 3 {
            has_promote = false;
            self.info("* Your agent does not support the promote action (optional)");
        }

        if has_promote && has_demote {
            let rc = self.command("demote", Some("Testing: demotion of started resource"));
            self.check(rc, &[0], "Demoting a start resource should not fail", false)?;
            let rc = self.command("promote", None);
            self.check(rc, &[0], "Promote failed", false)?;
            let rc = self.command("demote", None);
            self.check(rc, &[0], "Demote failed", true)?;
            let rc = self.command("demote", Some("Testing: demotion of demoted resource"));
            self.check(
                rc,
                &[0],
                "Demoting a demoted resource should not fail",
                false,
            )?;
            let rc = self.command("promote", Some("Promoting resource"));
            self.check(rc, &[0], "Promote failed", true)?;
            let rc = self.command("promote", Some("Testing: promotion of promoted resource"));
            self.check(
                rc,
                &[0],
                "Promoting a promoted resource should not fail",
                false,
            )?;
            let rc = self.command("demote", Some("Demoting resource"));
            self.check(rc, &[0], "Demote failed", true)?;
        } else if !has_promote && !has_demote {
            self.info("* Your agent does not support promotable clones (optional)");
        } else {
            println!("* Your agent partially supports promotable clones");
            self.num_errors += 1;
        }

        let rc = self.command("stop", None);
        self.check(rc, &[0], "Stop failed", true)?;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[STOPPED_RC],
            &format!("Monitoring a stopped resource should return {STOPPED_RC}"),
            false,
        )?;

        let rc = self.command("start", Some("Restarting resource..."));
        self.check(rc, &[0], "Start failed", true)?;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[0],
            "Monitoring an active resource should return 0",
            false,
        )?;

        let rc = self.command("start", Some("Testing: starting a started resource"));
        self.check(
            rc,
            &[0],
            "Starting a running resource is required to succeed",
            false,
        )?;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[0],
            "Monitoring an active resource should return 0",
            false,
        )?;

        let rc = self.command("stop", Some("Stopping resource"));
        self.check(
            rc,
            &[0],
            "Stop could not clean up after multiple starts",
            true,
        )?;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[STOPPED_RC],
            &format!("Monitoring a stopped resource should return {STOPPED_RC}"),
            false,
        )?;

        let rc = self.command("stop", Some("Testing: stopping a stopped resource"));
        self.check(
            rc,
            &[0],
            "Stopping a stopped resource is required to succeed",
            false,
        )?;
        let rc = self.command("monitor", None);
        self.check(
            rc,
            &[STOPPED_RC],
            &format!("Monitoring a stopped resource should return {STOPPED_RC}"),
            false,
        )?;

        // The original tests `$?` after an `if` whose branch may not have
        // run, so the "not supported" line only appears when migrate_to is
        // supported and migrate_from is not. Kept for identical output.
        let rc = self.command("migrate_to", Some("Checking for migrate_to action"));
        let last = if rc != 3 {
            self.command("migrate_from", Some("Checking for migrate_from action"))
        } else {
            0
        };
        if last == 3 {
            self.info("* Your agent does not support the migrate action (optional)");
        }

        if self.command("reload", Some("Checking for reload action")) == 3 {
            self.info("* Your agent does not support the reload action (optional)");
        }
        Ok(())
    }
}

/// `$?` as sh would report it.
fn shell_status(r: &OpResult) -> i32 {
    match r.raw {
        RawExit::Exited(c) => c,
        RawExit::Signaled(s) => 128 + s,
        RawExit::NotStarted => match r.status {
            OpStatus::NotInstalled => 127,
            _ => 126,
        },
    }
}

/// `debug $msg` is unquoted in the original: words are re-joined by one space.
fn normalize_words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
