//! `cl_status`: heartbeat's command-line status tool (§7.7), as a library function so
//! its output and exit codes can be tested against a fake daemon. The binary in
//! `heartbeat/daemon/src/bin/cl_status.rs` only adds the 5 s watchdog and prints.
//!
//! Syntax, texts and exit codes follow the Debian 3.0.6 tool, including its GNU
//! `getopt` option handling (options may follow the positional arguments). Our
//! additions: `--json` (one JSON object on stdout for every sub-command) and
//! `--socket PATH` / `HA_API_SOCKET` (talk to a daemon whose socket is elsewhere).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::client::{HbClient, NodeEntry};
use crate::error::ApiError;
use crate::rscgroups::RscGroup;

/// Exit codes of the original tool.
pub const OK: i32 = 0;
/// "Normal" failure: node dead, link down, heartbeat stopped, client offline.
pub const NORMAL_FAIL: i32 = 1;
pub const PARAMETER_ERROR: i32 = 11;
/// The global 5 s alarm fired.
pub const TIMEOUT: i32 = 12;
pub const UNKNOWN_ERROR: i32 = 13;

/// cl_status gives up after this long (`alarm(5)` in the original).
pub const OVERALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The original's help text, byte for byte.
pub const USAGE: &str = "Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
\tShow the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
\tShow the status of a heartbeat link
hbstatus
\tIndicate if heartbeat is running on the local system.
\tOptions:
\t\t-v\tverbose: also add \"listnodes -v\" output
listnodes [<option>]
\tList the nodes in the cluster.
\tOptions:
\t\t-p\tlist only 'ping' type nodes
\t\t-n\tlist only 'normal' type nodes
\t\t-v\tverbose: also list type and status,
\t\t\tthen add \"listhblinks -v\" output
listhblinks <node-name>
\tList the network interfaces used as hearbeat links.
\tOptions:
\t\t-v\tverbose: list link status as well
nodestatus <node-name>
\tList the node status.
nodeweight <node-name>
\tList the node weight.
nodesite <node-name>
\tList the node site.
nodetype <node-name>
\tList the nodes of a given type.
rscstatus
\tShow the status of cluster resources.
hbparameter -p <parameter-name>
\tRetrieve the value of a cluster parameter.
\tAs for the valid parameter names, please refer to the man page.
";

/// What the tool printed and its exit code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Sub-commands: name, getopt option string (None: no option parsing at all) and
/// whether a failed sign-on is fatal.
const CMDS: &[(&str, Option<&str>, bool)] = &[
    ("hbstatus", Some("mv"), false),
    ("listnodes", Some("mpnv"), true),
    ("nodestatus", Some("m"), true),
    ("nodeweight", Some("m"), true),
    ("nodesite", Some("m"), true),
    ("nodetype", Some("m"), true),
    ("listhblinks", Some("mv"), true),
    ("hblinkstatus", Some("m"), true),
    ("clientstatus", Some("m"), true),
    ("rscstatus", Some("m"), true),
    ("rscgroups", Some("m"), true),
    ("hbparameter", Some("mp:"), true),
    ("test", None, true),
];

/// Runs cl_status with `args` (without the program name). `env_socket` is the value
/// of `HA_API_SOCKET`; `--socket` overrides it.
pub fn run(args: &[String], env_socket: Option<&str>) -> Outcome {
    let mut socket = env_socket
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::API_REGSOCK));
    let mut json_mode = false;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--json" {
            json_mode = true;
        } else if a == "--socket" {
            match it.next() {
                Some(p) => socket = PathBuf::from(p),
                None => {
                    let mut t = Tool::new(json_mode);
                    t.log_err("--socket requires a path");
                    return t.finish(PARAMETER_ERROR);
                }
            }
        } else if let Some(p) = a.strip_prefix("--socket=") {
            socket = PathBuf::from(p);
        } else {
            rest.push(a.clone());
        }
    }
    let mut tool = Tool::new(json_mode);
    let code = tool.main(&rest, &socket);
    tool.finish(code)
}

/// Output collector and the state the C tool keeps in globals.
struct Tool {
    json_mode: bool,
    human: bool,
    out: String,
    err: String,
    json: Option<Json>,
    last_error: Option<String>,
    deadline: Instant,
}

/// Parsed options of one sub-command.
#[derive(Debug, Default)]
struct Opts {
    flags: Vec<char>,
    optarg: Vec<(char, String)>,
    positionals: Vec<String>,
    /// The first option getopt rejected.
    bad: Option<char>,
}

impl Opts {
    fn has(&self, c: char) -> bool {
        self.flags.contains(&c)
    }

    fn arg(&self, c: char) -> Option<&str> {
        self.optarg
            .iter()
            .rev()
            .find(|(o, _)| *o == c)
            .map(|(_, v)| v.as_str())
    }

    fn pos(&self, i: usize) -> Option<&str> {
        self.positionals.get(i).map(String::as_str)
    }
}

impl Tool {
    fn new(json_mode: bool) -> Tool {
        Tool {
            json_mode,
            human: false,
            out: String::new(),
            err: String::new(),
            json: None,
            last_error: None,
            deadline: Instant::now() + OVERALL_TIMEOUT,
        }
    }

    fn finish(mut self, code: i32) -> Outcome {
        if self.json_mode {
            let v = match self.json.take() {
                Some(v) => v,
                None => json!({
                    "error": self.last_error.clone().unwrap_or_else(|| "failed".into()),
                    "exit_code": code,
                }),
            };
            self.out = format!("{v}\n");
        }
        Outcome {
            stdout: self.out,
            stderr: self.err,
            code,
        }
    }

    /// Text output; suppressed in JSON mode, where `self.json` is printed instead.
    fn print(&mut self, s: &str) {
        if !self.json_mode {
            self.out.push_str(s);
        }
    }

    /// A plain `fprintf(stderr, ...)` of the original.
    fn eprint(&mut self, s: &str) {
        self.err.push_str(s);
        self.err.push('\n');
        self.last_error = Some(s.to_string());
    }

    /// A `cl_log(LOG_ERR, ...)` of the original, which goes to stderr with a syslog-like
    /// prefix: `Nov 26 11:12:04 host cl_status: [pid]: ERROR: msg`.
    fn log_err(&mut self, msg: &str) {
        self.err.push_str(&format!(
            "{} {} cl_status: [{}]: ERROR: {}\n",
            syslog_time(),
            short_hostname(),
            std::process::id(),
            msg
        ));
        if !msg.starts_with("REASON: ") || self.last_error.is_none() {
            self.last_error = Some(msg.to_string());
        } else if let Some(prev) = &self.last_error {
            self.last_error = Some(format!("{prev} ({})", &msg["REASON: ".len()..]));
        }
    }

    fn main(&mut self, args: &[String], socket: &std::path::Path) -> i32 {
        if args.is_empty() || (args.len() == 1 && (args[0] == "-h" || args[0] == "--help")) {
            if self.json_mode {
                self.json = Some(json!({ "usage": USAGE }));
            }
            self.print(USAGE);
            return OK;
        }
        let name = args[0].as_str();
        let Some(&(_, optstr, needsignon)) = CMDS.iter().find(|(n, _, _)| *n == name) else {
            self.log_err(&format!("{name}: invalid sub-command."));
            return PARAMETER_ERROR;
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        let signon = HbClient::signon_with_timeout(socket, None, Some(left));
        if let Err(e) = &signon {
            if e.is_timeout() {
                return TIMEOUT;
            }
            if needsignon {
                self.log_err("Cannot signon with heartbeat");
                self.log_err(&format!("REASON: {}", reason(e)));
                return NORMAL_FAIL;
            }
        }
        let opts = match optstr {
            Some(o) => self.getopt(name, &args[1..], o),
            None => Opts::default(),
        };
        let (code, client) = match signon {
            Ok(mut c) => (self.dispatch(name, &mut c, &opts), Some(c)),
            Err(e) => (self.hbstatus_down(&e, &opts), None),
        };
        if let Some(c) = client {
            if let Err(e) = c.signoff() {
                self.log_err("Cannot sign off from heartbeat.");
                self.log_err(&format!("REASON: {}", reason(&e)));
            }
        }
        code
    }

    fn dispatch(&mut self, name: &str, c: &mut HbClient, o: &Opts) -> i32 {
        let r = match name {
            "hbstatus" => self.hbstatus(c, o),
            "listnodes" => self.listnodes(c, o),
            "nodestatus" => self.nodestatus(c, o),
            "nodeweight" => self.nodeweight(c, o),
            "nodesite" => self.nodesite(c, o),
            "nodetype" => self.nodetype(c, o),
            "listhblinks" => self.listhblinks(c, o),
            "hblinkstatus" => self.hblinkstatus(c, o),
            "clientstatus" => self.clientstatus(c, o),
            "rscstatus" => self.rscstatus(c, o),
            "rscgroups" => self.rscgroups(c, o),
            "hbparameter" => self.hbparameter(c, o),
            "test" => self.test(c),
            _ => Ok(PARAMETER_ERROR),
        };
        // A reply that never came is what the original's alarm() turns into exit 12.
        r.unwrap_or(TIMEOUT)
    }

    /// GNU getopt over the arguments after the sub-command (the original calls
    /// `getopt(argc-1, argv+1, optstr)`, so messages name the sub-command).
    fn getopt(&mut self, cmd: &str, args: &[String], optstr: &str) -> Opts {
        let mut o = Opts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                o.positionals.extend(it.by_ref().cloned());
                break;
            }
            if a.starts_with("--") {
                self.eprint(&format!("{cmd}: unrecognized option '{a}'"));
                o.bad.get_or_insert('?');
                continue;
            }
            let Some(cluster) = a.strip_prefix('-').filter(|s| !s.is_empty()) else {
                o.positionals.push(a.clone());
                continue;
            };
            for (i, ch) in cluster.char_indices() {
                let spec = optstr.find(ch).filter(|_| ch != ':');
                match spec {
                    None => {
                        self.eprint(&format!("{cmd}: invalid option -- '{ch}'"));
                        o.bad.get_or_insert(ch);
                    }
                    Some(p) if optstr[p + ch.len_utf8()..].starts_with(':') => {
                        let rest = &cluster[i + ch.len_utf8()..];
                        if !rest.is_empty() {
                            o.optarg.push((ch, rest.to_string()));
                        } else if let Some(next) = it.next() {
                            o.optarg.push((ch, next.clone()));
                        } else {
                            self.eprint(&format!("{cmd}: option requires an argument -- '{ch}'"));
                            o.bad.get_or_insert(ch);
                        }
                        break;
                    }
                    Some(_) => {
                        if ch == 'm' {
                            self.human = true;
                        }
                        o.flags.push(ch);
                    }
                }
            }
        }
        o
    }

    /// `general_simple_opt_deal`: only `-m` is valid; anything else is a parameter error.
    fn simple_opts_ok(&mut self, o: &Opts) -> bool {
        if o.bad.is_some() {
            self.log_err("Error: getopt returnedcharacter ?.");
            return false;
        }
        true
    }

    fn opts_ok_code(&mut self, o: &Opts) -> bool {
        if o.bad.is_some() {
            self.log_err("Error: getopt returnedcharacter code ?.");
            return false;
        }
        true
    }

    fn hbstatus_down(&mut self, e: &ApiError, o: &Opts) -> i32 {
        let refused_but_running =
            matches!(e, ApiError::Refused { deadtime_ms: Some(d), .. } if *d != 0);
        let why = reason(e);
        let code = if refused_but_running {
            self.print(
                "Heartbeat is apparently running on this machine, but refuses my connection\n",
            );
            OK
        } else {
            self.print("Heartbeat is stopped on this machine.\n");
            NORMAL_FAIL
        };
        if o.has('v') && !why.is_empty() {
            self.print(&format!("({why})\n"));
        }
        self.json = Some(json!({
            "running": refused_but_running,
            "refused": refused_but_running,
            "reason": why,
        }));
        code
    }

    fn hbstatus(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !o.has('v') {
            self.print("Heartbeat is running on this machine.\n");
            self.json = Some(json!({ "running": true }));
            return Ok(OK);
        }
        let version = param_or_none(c.get_parameter(crate::fields::KEY_HBVERSION))?;
        let (pcmk, pcmk_value) = pacemaker_enabled(c)?;
        if self.human {
            match &version {
                Some(v) => self.print(&format!("Heartbeat version {v}\n")),
                None => self.print("Heartbeat is running on this machine.\n"),
            }
            if pcmk {
                self.print("Resources controlled by Pacemaker.\n");
            } else {
                self.print("Resources controlled by \"haresources\"\n");
            }
        } else {
            self.print(&format!(
                "version:\t{}\n",
                version.as_deref().unwrap_or("unknown")
            ));
            if pcmk {
                self.print(&format!(
                    "managed by:\tpacemaker\t({})\n",
                    pcmk_value.as_deref().unwrap_or("(null)")
                ));
            } else {
                self.print("managed by:\t\"haresources\"\n");
            }
        }
        // CCM membership is not shown: there is no CCM in this implementation yet.
        let (_, nodes) = self.list_nodes(c, false, false, true)?;
        self.json = Some(json!({
            "running": true,
            "version": version,
            "managed_by": if pcmk { "pacemaker" } else { "haresources" },
            "pacemaker": pcmk_value,
            "nodes": nodes,
        }));
        Ok(OK)
    }

    fn listnodes(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.opts_ok_code(o) {
            return Ok(PARAMETER_ERROR);
        }
        let (code, nodes) = self.list_nodes(c, o.has('n'), o.has('p'), o.has('v'))?;
        if code == OK {
            self.json = Some(json!({ "nodes": nodes }));
        }
        Ok(code)
    }

    /// `__listnodes`: the node walk, in libhbclient's (reversed) order.
    fn list_nodes(
        &mut self,
        c: &mut HbClient,
        normal_only: bool,
        ping_only: bool,
        verbose: bool,
    ) -> Result<(i32, Json), ApiError> {
        let nodes = match c.nodelist() {
            Ok(n) => n,
            Err(e) if e.is_timeout() => return Err(e),
            Err(e) => {
                self.log_err("Cannot start node walk.");
                self.log_err(&format!("REASON: {}", reason(&e)));
                return Ok((UNKNOWN_ERROR, Json::Null));
            }
        };
        let (normal_only, ping_only) = if normal_only && ping_only {
            (false, false)
        } else {
            (normal_only, ping_only)
        };
        if self.human {
            self.print("The nodes are as follow:\n");
        }
        let mut listed = Vec::new();
        for n in nodes.iter().rev() {
            if (normal_only && n.node_type != "normal") || (ping_only && n.node_type != "ping") {
                continue;
            }
            let mut j = node_json(n);
            if verbose {
                self.print(&format!(
                    "\n{}\t{}\t(nodetype: {})\n",
                    n.name, n.status, n.node_type
                ));
                let (_, links) = self.list_links(c, &n.name, true)?;
                j["links"] = links;
            } else {
                self.print(&format!("{}\n", n.name));
            }
            listed.push(j);
        }
        Ok((OK, Json::Array(listed)))
    }

    /// `__listhblinks`.
    fn list_links(
        &mut self,
        c: &mut HbClient,
        node: &str,
        verbose: bool,
    ) -> Result<(i32, Json), ApiError> {
        let links = match c.if_list(node) {
            Ok(l) => l,
            Err(e) if e.is_timeout() => return Err(e),
            Err(e) => {
                self.log_err("Cannot start heartbeat link interface walk.");
                self.log_err(&format!("REASON: {}", reason(&e)));
                return Ok((UNKNOWN_ERROR, Json::Null));
            }
        };
        if self.human {
            self.print("\tthis node has the following heartbeat links:\n");
        }
        let mut listed = Vec::new();
        for (name, status) in links.iter().rev() {
            if verbose {
                self.print(&format!("\t{name}\t{status}\n"));
            } else {
                self.print(&format!("\t{name}\n"));
            }
            listed.push(json!({ "name": name, "status": status }));
        }
        Ok((OK, Json::Array(listed)))
    }

    fn listhblinks(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.opts_ok_code(o) {
            return Ok(PARAMETER_ERROR);
        }
        let Some(node) = o.pos(0) else {
            self.eprint("No enough parameter.");
            return Ok(PARAMETER_ERROR);
        };
        let (code, links) = self.list_links(c, node, o.has('v'))?;
        if code == OK {
            self.json = Some(json!({ "node": node, "links": links }));
        }
        Ok(code)
    }

    fn nodestatus(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        let Some(node) = o.pos(0) else {
            self.eprint("Not enough parameters.");
            return Ok(PARAMETER_ERROR);
        };
        let Some(status) = self.answer(c.node_status(node))? else {
            self.eprint("Error. May be due to incorrect node name");
            return Ok(PARAMETER_ERROR);
        };
        if self.human {
            self.print(&format!("The cluster node {node} is {status}\n"));
        } else {
            self.print(&format!("{status}\n"));
        }
        self.json = Some(json!({ "node": node, "status": status }));
        Ok(if matches!(status.as_str(), "active" | "up" | "ping") {
            OK
        } else {
            NORMAL_FAIL
        })
    }

    fn nodeweight(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        let Some(node) = o.pos(0) else {
            self.eprint("Not enough parameters.");
            return Ok(PARAMETER_ERROR);
        };
        let Some(weight) = self.answer(c.node_weight(node))? else {
            self.eprint("Error. Maybe due to incorrect node name.");
            return Ok(PARAMETER_ERROR);
        };
        if self.human {
            self.print(&format!(
                "The weight of the cluster node {node} is {weight}\n"
            ));
        } else {
            self.print(&format!("{weight}\n"));
        }
        self.json = Some(json!({ "node": node, "weight": weight }));
        Ok(OK)
    }

    fn nodesite(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        let Some(node) = o.pos(0) else {
            self.eprint("Not enough parameters.");
            return Ok(PARAMETER_ERROR);
        };
        let Some(site) = self.answer(c.node_site(node))? else {
            self.eprint("Error. May be due to incorrect node name");
            return Ok(PARAMETER_ERROR);
        };
        if self.human {
            self.print(&format!("The site of the cluster node {node} is {site}\n"));
        } else {
            self.print(&format!("{site}\n"));
        }
        self.json = Some(json!({ "node": node, "site": site }));
        Ok(OK)
    }

    fn nodetype(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        let Some(node) = o.pos(0) else {
            self.eprint("No enough parameter.");
            return Ok(PARAMETER_ERROR);
        };
        let Some(t) = self.answer(c.node_type(node))? else {
            self.eprint("Error. May be due to incorrect node name");
            return Ok(PARAMETER_ERROR);
        };
        if self.human {
            self.print(&format!("The node {node}'s type: {t}\n"));
        } else {
            self.print(&format!("{t}\n"));
        }
        self.json = Some(json!({ "node": node, "type": t }));
        Ok(OK)
    }

    fn hblinkstatus(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        let (Some(node), Some(link)) = (o.pos(0), o.pos(1)) else {
            self.eprint("No enough parameter.");
            return Ok(PARAMETER_ERROR);
        };
        let status = match c.if_status(node, link) {
            Ok(s) => s,
            Err(e) if e.is_timeout() => return Err(e),
            Err(e) => {
                self.log_err("Cannot get heartbeat link status");
                self.log_err(&format!("REASON: {}", reason(&e)));
                return Ok(UNKNOWN_ERROR);
            }
        };
        if self.human {
            self.print(&format!(
                "The node {node}'s heartbeat link {link} is {status}\n"
            ));
        } else {
            self.print(&format!("{status}\n"));
        }
        self.json = Some(json!({ "node": node, "link": link, "status": status }));
        Ok(if status == "up" { OK } else { NORMAL_FAIL })
    }

    fn clientstatus(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        let (Some(node), Some(client)) = (o.pos(0), o.pos(1)) else {
            self.eprint("No enough parameter.");
            return Ok(PARAMETER_ERROR);
        };
        let timeout_ms = o.pos(2).map(c_atoi).unwrap_or(500).max(0) as u64;
        let status = match c.client_status(node, client, Duration::from_millis(timeout_ms)) {
            Ok(s) => s,
            Err(e) => {
                // Here a timeout is the tool's own (the per-request one), not the alarm.
                self.log_err(&format!("Cannot get heartbeat client {client}'s status"));
                self.log_err(&format!("REASON: {}", reason(&e)));
                return Ok(UNKNOWN_ERROR);
            }
        };
        self.print(&format!("{status}\n"));
        self.json = Some(json!({ "node": node, "client": client, "status": status }));
        Ok(match status.as_str() {
            "online" => OK,
            "offline" => NORMAL_FAIL,
            "join" => 2,
            "leave" => 3,
            _ => UNKNOWN_ERROR,
        })
    }

    fn rscstatus(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        if pacemaker_enabled(c)?.0 {
            self.log_err("Cannot get cluster resource status of a pacemaker cluster; try crm_mon");
            return Ok(NORMAL_FAIL);
        }
        let rsc = match c.get_resources() {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(e),
            Err(e) => {
                self.log_err("Cannot get cluster resource status");
                self.log_err(&format!("REASON: {}", reason(&e)));
                return Ok(UNKNOWN_ERROR);
            }
        };
        if self.human {
            self.print(&format!("This node is holding {rsc} resources.\n"));
        } else {
            self.print(&format!("{rsc}\n"));
        }
        self.json = Some(json!({ "resources": rsc }));
        Ok(OK)
    }

    /// Our extension: one line per haresources group with its state on this node
    /// (format in docs/api.md §8; `--json` prints an array of objects).
    fn rscgroups(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.simple_opts_ok(o) {
            return Ok(PARAMETER_ERROR);
        }
        if pacemaker_enabled(c)?.0 {
            self.log_err("Cannot get resource groups of a pacemaker cluster; try crm_mon");
            return Ok(NORMAL_FAIL);
        }
        let groups = match c.rsc_groups() {
            Ok(g) => g,
            Err(e) if e.is_timeout() => return Err(e),
            Err(e) => {
                self.log_err("Cannot get resource groups");
                self.log_err(&format!("REASON: {}", reason(&e)));
                // An older heartbeat or one without resource manager is an answer
                // ("nothing to show here"), not a malfunction.
                let expected = matches!(
                    e,
                    ApiError::Unsupported { .. } | ApiError::BadRequest { info: Some(_), .. }
                );
                return Ok(if expected { NORMAL_FAIL } else { UNKNOWN_ERROR });
            }
        };
        if groups.is_empty() {
            self.log_err("No haresources resource groups on this node");
            return Ok(NORMAL_FAIL);
        }
        for g in &groups {
            let line = if self.human {
                rscgroup_sentence(g)
            } else {
                rscgroup_line(g)
            };
            self.print(&line);
            self.print("\n");
        }
        self.json = Some(Json::Array(groups.iter().map(rscgroup_json).collect()));
        Ok(OK)
    }

    fn hbparameter(&mut self, c: &mut HbClient, o: &Opts) -> Result<i32, ApiError> {
        if !self.opts_ok_code(o) {
            return Ok(PARAMETER_ERROR);
        }
        let Some(name) = o.arg('p') else {
            self.log_err("parameter name required");
            return Ok(PARAMETER_ERROR);
        };
        let value = match c.get_parameter(name) {
            Ok(Some(v)) => v,
            Err(e) if e.is_timeout() => return Err(e),
            other => {
                self.log_err(&format!("Cannot get parameter {name}'s value"));
                let why = match other {
                    Err(e) => reason(&e),
                    _ => String::new(),
                };
                self.log_err(&format!("REASON: {why}"));
                return Ok(NORMAL_FAIL);
            }
        };
        if self.human {
            self.print(&format!("Heartbeat parameter {name}'s value: {value}\n"));
        } else {
            self.print(&format!("{value}\n"));
        }
        self.json = Some(json!({ "name": name, "value": value }));
        Ok(OK)
    }

    fn test(&mut self, c: &mut HbClient) -> Result<i32, ApiError> {
        let rsc = match c.get_resources() {
            Ok(r) => Some(r),
            Err(e) if e.is_timeout() => return Err(e),
            Err(_) => None,
        };
        self.print(&format!(
            "Dead time: {}\n keeplive time: {}\n mynodeid: {}\n rsc: {}\n",
            c.deadtime(),
            c.keepalive(),
            c.local_node(),
            rsc.as_deref().unwrap_or("(null)")
        ));
        self.json = Some(json!({
            "deadtime_ms": c.deadtime(),
            "keepalive_ms": c.keepalive(),
            "node": c.local_node(),
            "resources": rsc,
        }));
        Ok(OK)
    }

    /// Turns "heartbeat said no" into `None` (the C API's NULL), keeping timeouts fatal.
    fn answer<T>(&mut self, r: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_timeout() => Err(e),
            Err(e) => {
                self.last_error = Some(reason(&e));
                Ok(None)
            }
        }
    }
}

/// `<resources>\tpreferred=<node>\tholder=<node|->\tstate=<state>\tfailures=<n>[\tlast="<text>"]`
fn rscgroup_line(g: &RscGroup) -> String {
    let mut line = format!(
        "{}\tpreferred={}\tholder={}\tstate={}\tfailures={}",
        g.resources.join(" "),
        g.preferred,
        g.holder.as_deref().unwrap_or("-"),
        g.state,
        g.failures
    );
    if let Some(last) = &g.last_failure {
        line.push_str(&format!("\tlast={}", crate::rscgroups::quote(last)));
    }
    line
}

/// The `-m` form of [`rscgroup_line`].
fn rscgroup_sentence(g: &RscGroup) -> String {
    let holder = match &g.holder {
        Some(h) => format!("held by {h}"),
        None => "held by no known node".to_string(),
    };
    let mut s = format!(
        "Resource group {} (preferred node {}) is {} on this node, {holder}, {} failure{}",
        g.resources.join(" "),
        g.preferred,
        g.state,
        g.failures,
        if g.failures == 1 { "" } else { "s" }
    );
    if let Some(last) = &g.last_failure {
        s.push_str(&format!(", last: {last}"));
    }
    s.push('.');
    s
}

fn rscgroup_json(g: &RscGroup) -> Json {
    json!({
        "key": g.key,
        "resources": g.resources,
        "preferred": g.preferred,
        "holder": g.holder,
        "state": g.state,
        "failures": g.failures,
        "last_failure": g.last_failure,
    })
}

fn node_json(n: &NodeEntry) -> Json {
    json!({ "name": n.name, "type": n.node_type, "status": n.status })
}

/// A failed `get_parameter` is a NULL in C; only a timeout is fatal.
fn param_or_none(r: Result<Option<String>, ApiError>) -> Result<Option<String>, ApiError> {
    match r {
        Err(e) if e.is_timeout() => Err(e),
        Err(_) => Ok(None),
        Ok(v) => Ok(v),
    }
}

/// `is_pacemaker_enabled`: the `pacemaker` parameter (or its old name `crm`); any
/// value that is not a plain boolean (`respawn`, `manual`, unset...) counts as enabled.
fn pacemaker_enabled(c: &mut HbClient) -> Result<(bool, Option<String>), ApiError> {
    let mut v = param_or_none(c.get_parameter(crate::fields::KEY_PACEMAKER))?;
    if v.is_none() {
        v = param_or_none(c.get_parameter(crate::fields::KEY_REL2))?;
    }
    let enabled = v.as_deref().and_then(str_to_boolean).unwrap_or(true);
    Ok((enabled, v))
}

/// clplumbing's `cl_str_to_boolean`.
fn str_to_boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// The text libhbclient's `errmsg()` would give for a failure.
fn reason(e: &ApiError) -> String {
    match e {
        ApiError::Connect { .. } => "hb_api_signon: Can't initiate connection to heartbeat".into(),
        ApiError::Refused { reason, .. } => reason.clone().unwrap_or_default(),
        ApiError::BadRequest { info, .. } => info.clone().unwrap_or_default(),
        ApiError::Timeout { .. } => "No timely response.".into(),
        other => other.to_string(),
    }
}

/// C `atoi`.
fn c_atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |v, b| {
            v.saturating_mul(10).saturating_add(i64::from(b - b'0'))
        });
    if neg {
        -v
    } else {
        v
    }
}

/// Local time as syslog prints it (`Nov 26 11:12:04`).
fn syslog_time() -> String {
    let mut buf = [0u8; 32];
    // SAFETY: localtime_r writes into the zeroed `tm` we own; strftime writes at most
    // buf.len() bytes into `buf` and returns how many it wrote.
    let n = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%b %d %H:%M:%S".as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn short_hostname() -> String {
    let h = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    h.split('.').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests;
