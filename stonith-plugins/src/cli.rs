//! The `stonith` command: cluster-glue 1.0.12's options, output texts
//! and exit codes (reference §4.5).

use std::io::Write;

use crate::error::{Rc, StonithError};
use crate::exec::ExecPolicy;
use crate::log::{self, Level};
use crate::plugin::{request, Action, InfoKind, Params, Plugin};
use crate::registry;

/// Version string printed by `-V`.
pub const VERSION: &str = "stonith: 1.0.12 (heartbeat-rs)";
/// Exit status of a failed `-l`, as in the original.
pub const EXIT_LIST_FAILED: i32 = 255;
/// Most name=value arguments the original accepts.
const MAX_NVPAIRS: usize = 50;

const USAGE: &str = "usage:
\t stonith [-svh] -L
\t stonith [-svh] -t stonith-device-type -n
\t stonith [-svh] -t stonith-device-type -m
\t stonith [-svh] -t stonith-device-type {-p stonith-device-parameters | -F stonith-device-parameters-file | -E | name=value...} [-c count] -lS
\t stonith [-svh] -t stonith-device-type {-p stonith-device-parameters | -F stonith-device-parameters-file | -E | name=value...} [-c count] -T {reset|on|off} nodename

where:
\t-L\tlist supported stonith device types
\t-l\tlist hosts controlled by this stonith device
\t-S\treport stonith device status
\t-s\tsilent
\t-v\tverbose
\t-n\toutput the config names of stonith-device-parameters
\t-m\tdisplay meta-data of the stonith device type
\t-h\tdisplay detailed help message with stonith device description(s)
";

/// Parsed command line.
#[derive(Debug, Default)]
struct Opts {
    count: u32,
    file: Option<String>,
    positional_params: Option<String>,
    type_name: Option<String>,
    action: Option<Action>,
    from_env: bool,
    silent: bool,
    names: bool,
    status: bool,
    list_hosts: bool,
    list_types: bool,
    metadata: bool,
    help: bool,
    version: bool,
    debug: u32,
    nvpairs: Vec<(String, String)>,
    nodes: Vec<String>,
}

enum ParseError {
    Usage(String),
}

/// getopt(3) with GNU permutation, for `c:F:p:t:T:EsnSlLmvhVd`.
fn parse(args: &[String]) -> Result<Opts, ParseError> {
    let mut o = Opts {
        count: 1,
        ..Opts::default()
    };
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_positional || !a.starts_with('-') || a == "-" {
            match a.split_once('=') {
                Some((n, v)) if !n.is_empty() => o.nvpairs.push((n.to_string(), v.to_string())),
                _ => o.nodes.push(a.clone()),
            }
            continue;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }
        let flags: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < flags.len() {
            let f = flags[j];
            j += 1;
            if "cFptT".contains(f) {
                let val = if j < flags.len() {
                    let v: String = flags[j..].iter().collect();
                    j = flags.len();
                    v
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(ParseError::Usage(format!(
                        "stonith: option requires an argument -- '{f}'"
                    )));
                };
                match f {
                    'c' => {
                        o.count = val
                            .trim()
                            .parse()
                            .ok()
                            .filter(|c| *c > 0)
                            .ok_or_else(|| ParseError::Usage(format!("bad count [{val}]")))?
                    }
                    'F' => o.file = Some(val),
                    'p' => o.positional_params = Some(val),
                    't' => o.type_name = Some(val),
                    _ => {
                        o.action =
                            Some(Action::parse(&val).ok_or_else(|| {
                                ParseError::Usage(format!("bad reset type [{val}]"))
                            })?)
                    }
                }
                continue;
            }
            match f {
                'E' => o.from_env = true,
                's' => o.silent = true,
                'n' => o.names = true,
                'S' => o.status = true,
                'l' => o.list_hosts = true,
                'L' => o.list_types = true,
                'm' => o.metadata = true,
                'v' => {}
                'h' => o.help = true,
                'V' => o.version = true,
                'd' => o.debug += 1,
                other => {
                    return Err(ParseError::Usage(format!(
                        "stonith: invalid option -- '{other}'"
                    )))
                }
            }
        }
    }
    Ok(o)
}

fn usage(err: &mut dyn Write, msg: Option<&str>) -> i32 {
    if let Some(m) = msg {
        let _ = writeln!(err, "{m}");
    }
    let _ = write!(err, "{USAGE}");
    Rc::BadConfig.code()
}

fn info_or_nil(p: &dyn Plugin, kind: InfoKind) -> String {
    match p.info(kind) {
        Ok(Some(s)) => s,
        Ok(None) => "(nil)".into(),
        Err(e) => {
            log::log(Level::Error, &e.to_string());
            "(nil)".into()
        }
    }
}

fn print_help(out: &mut dyn Write, p: &dyn Plugin) -> Result<(), StonithError> {
    let names = p.config_names()?;
    let t = p.type_name();
    let _ = write!(
        out,
        "\n\nSTONITH Device: {t} - {}\n",
        info_or_nil(p, InfoKind::DevDescr)
    );
    if let Ok(Some(url)) = p.info(InfoKind::DevUrl) {
        let _ = writeln!(out, "For more information see {url}");
    }
    let _ = writeln!(out, "List of valid parameter names for {t} STONITH device:");
    for n in &names {
        let _ = writeln!(out, "\t{n}");
    }
    let _ = write!(
        out,
        "For Config info [-p] syntax, give each of the above parameters in order as\nthe -p value.\nArguments are separated by white space.\nConfig file [-F] syntax is the same as -p, except # at the start of a line\ndenotes a comment\n"
    );
    Ok(())
}

/// The RA meta-data document `-m` prints (same template as cluster-glue).
pub fn metadata(p: &dyn Plugin) -> Result<String, StonithError> {
    let descr = info_or_nil(p, InfoKind::DevDescr);
    let id = info_or_nil(p, InfoKind::DevId);
    let xml = p.info(InfoKind::Xml)?.unwrap_or_default();
    Ok(format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n<resource-agent name=\"{}\">\n<version>1.0</version>\n<longdesc lang=\"en\">\n{}\n</longdesc>\n<shortdesc lang=\"en\">{}</shortdesc>\n{}\n<actions>\n<action name=\"start\"   timeout=\"20\" />\n<action name=\"stop\"    timeout=\"15\" />\n<action name=\"status\"  timeout=\"20\" />\n<action name=\"monitor\" timeout=\"20\" interval=\"3600\" />\n<action name=\"meta-data\"  timeout=\"15\" />\n</actions>\n<special tag=\"heartbeat\">\n<version>2.0</version>\n</special>\n</resource-agent>\n",
        crate::plugin::xml_escape(p.type_name()),
        crate::plugin::xml_escape(&descr),
        crate::plugin::xml_escape(&id),
        xml
    ))
}

fn install_sink(silent: bool, debug: u32) {
    log::set_sink(Box::new(move |level, msg| {
        let shown = match level {
            Level::Debug => debug > 0,
            Level::Info | Level::Notice => !silent,
            _ => true,
        };
        if shown {
            eprintln!("{}: {}", level.label(), msg);
        }
    }));
}

/// Run the `stonith` command with `args` (without argv[0]); returns the
/// exit status. Messages go to stderr as `<level>: <text>` whether or not
/// stdin is a tty (the original goes silent without a tty: bug 10).
pub fn main_with(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(ParseError::Usage(m)) => return usage(err, Some(&m)),
    };
    install_sink(o.silent, o.debug);
    let policy = ExecPolicy::from_env();

    if o.version {
        let _ = writeln!(out, "{VERSION}");
        return 0;
    }
    if o.list_types {
        for t in registry::list_types() {
            let _ = writeln!(out, "{t}");
        }
        return 0;
    }
    let Some(type_name) = o.type_name.clone() else {
        if o.help {
            let _ = write!(err, "{USAGE}");
            // fence/* agents are skipped: each needs a meta-data run
            // (a Python start-up), which would make -h take minutes.
            for t in registry::list_types()
                .iter()
                .filter(|t| !t.starts_with("fence/"))
            {
                if let Ok(p) = registry::create(t, policy) {
                    let _ = print_help(out, p.as_ref());
                }
            }
            return 0;
        }
        return usage(err, None);
    };
    let mut plugin = match registry::create(&type_name, policy) {
        Ok(p) => p,
        Err(e) => {
            log::log(Level::Error, &e.to_string());
            return e.rc();
        }
    };
    if o.help {
        return match print_help(out, plugin.as_ref()) {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    if o.metadata {
        return match metadata(plugin.as_ref()) {
            Ok(m) => {
                let _ = write!(out, "{m}");
                0
            }
            Err(e) => fail(e),
        };
    }
    let names = match plugin.config_names() {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    if o.names {
        let mut line = String::new();
        for n in &names {
            line.push_str(n);
            line.push_str("  ");
        }
        let _ = writeln!(out, "{line}");
        return 0;
    }

    let sources = [
        o.positional_params.is_some(),
        o.file.is_some(),
        o.from_env,
        !o.nvpairs.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        return usage(
            err,
            Some("Only one of -p, -F, -E or name=value arguments may be given"),
        );
    }
    if sources == 0 && !names.is_empty() {
        return usage(
            err,
            Some("Must specify either -p option, -F option, -E option, or name=value style arguments"),
        );
    }
    if o.nvpairs.len() > MAX_NVPAIRS {
        return usage(
            err,
            Some(&format!(
                "At most {MAX_NVPAIRS} name=value arguments are allowed"
            )),
        );
    }
    let ops = usize::from(o.list_hosts) + usize::from(o.status);
    if o.nodes.len() > 1
        || (o.nodes.is_empty() && ops == 0)
        || (o.action.is_some() && o.nodes.is_empty())
    {
        return usage(err, None);
    }

    // Build the configuration; like the original, a rejected -p/-F/-E
    // configuration is reported and the operations then fail on the
    // unconfigured device, while rejected name=value pairs stop here.
    let params = if let Some(line) = &o.positional_params {
        match Params::from_positional(&names, line) {
            Some(p) => p,
            None if names.is_empty() => Params::new(),
            None => {
                let _ = writeln!(err, "Invalid STONITH -p parameter [{line}]");
                return Rc::BadConfig.code();
            }
        }
    } else if let Some(path) = &o.file {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(_) => {
                log::log(Level::Crit, &format!("Cannot open {path}"));
                log::log(
                    Level::Error,
                    &format!("Invalid config file for {type_name} device."),
                );
                return Rc::BadConfig.code();
            }
        };
        let line = text
            .lines()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap_or("");
        match Params::from_positional(&names, line) {
            Some(p) => p,
            None if names.is_empty() => Params::new(),
            None => {
                log::log(
                    Level::Error,
                    &format!("Invalid config file for {type_name} device."),
                );
                return Rc::BadConfig.code();
            }
        }
    } else if o.from_env {
        let mut p = Params::new();
        for n in &names {
            if let Ok(v) = std::env::var(n) {
                p.push(n.clone(), v);
            }
        }
        p
    } else {
        Params(o.nvpairs.clone())
    };
    if let Err(e) = plugin.set_config(&params) {
        let _ = writeln!(err, "Invalid config info for {type_name} device");
        if !o.nvpairs.is_empty() {
            let _ = writeln!(err, "Valid config names are:");
            for n in &names {
                let _ = writeln!(err, "\t{n}");
            }
            log::log(Level::Debug, &e.to_string());
            return e.rc();
        }
        log::log(Level::Error, &e.to_string());
    }

    let mut rc = 0;
    for _ in 0..o.count {
        if o.status {
            rc = match plugin.status() {
                Ok(()) => {
                    log::log(Level::Info, &format!("{type_name} device OK."));
                    0
                }
                Err(e) => {
                    log::log(Level::Debug, &e.to_string());
                    log::log(Level::Error, &format!("{type_name} device not accessible."));
                    e.rc()
                }
            };
        }
        if o.list_hosts {
            rc = match plugin.hosts() {
                Ok(hosts) => {
                    for h in hosts {
                        let _ = writeln!(out, "{h}");
                    }
                    0
                }
                Err(e) => {
                    log::log(Level::Error, &e.to_string());
                    log::log(
                        Level::Error,
                        &format!("Could not list hosts for {type_name}."),
                    );
                    EXIT_LIST_FAILED
                }
            };
        }
        if let Some(node) = o.nodes.first() {
            let action = o.action.unwrap_or(Action::Reset);
            rc = match request(plugin.as_ref(), action, node) {
                Ok(()) => 0,
                Err(e) => {
                    log::log(Level::Error, &e.to_string());
                    e.rc()
                }
            };
        }
    }
    let _ = out.flush();
    rc
}

fn fail(e: StonithError) -> i32 {
    log::log(Level::Error, &e.to_string());
    e.rc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn getopt_permutes_and_clusters() {
        let Ok(o) = parse(&args(&[
            "-t",
            "null",
            "hostlist=a b",
            "-lS",
            "-c2",
            "-Treset",
            "node",
        ])) else {
            panic!("parse failed")
        };
        assert_eq!(o.type_name.as_deref(), Some("null"));
        assert!(o.list_hosts && o.status);
        assert_eq!(o.count, 2);
        assert_eq!(o.action, Some(Action::Reset));
        assert_eq!(o.nvpairs, vec![("hostlist".to_string(), "a b".to_string())]);
        assert_eq!(o.nodes, vec!["node"]);
        assert!(parse(&args(&["-W"])).is_err());
        assert!(parse(&args(&["-T", "bogus", "n"])).is_err());
        assert!(parse(&args(&["-t"])).is_err());
    }

    #[test]
    fn null_names_format_and_exit_codes() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(
            main_with(&args(&["-t", "null", "-n"]), &mut out, &mut err),
            0
        );
        assert_eq!(out, b"hostlist  \n");
        let mut out = Vec::new();
        assert_eq!(
            main_with(&args(&["-t", "null", "-l"]), &mut out, &mut err),
            1
        );
        assert_eq!(
            main_with(&args(&["-t", "null", "bogus=1", "-l"]), &mut out, &mut err),
            3
        );
        assert_eq!(
            main_with(&args(&["-t", "bogus", "-l"]), &mut out, &mut err),
            8
        );
        let mut out = Vec::new();
        assert_eq!(
            main_with(
                &args(&["-t", "null", "-p", "A b", "-l"]),
                &mut out,
                &mut err
            ),
            0
        );
        assert_eq!(out, b"a\nb\n");
    }
}
