//! lrmadmin: cluster-glue's LRM command-line tool, talking to our lrmd's JSON socket.
//!
//! Options, argument order, output lines and exit codes follow cluster-glue 1.0.12's
//! lrmadmin; `--json` prints the daemon's reply instead, `--socket` picks the socket.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lrm::client::{Client, ClientError};
use lrm::model::{OpRecord, OpStatus, Resource, RscState, TARGET_CHANGED, TARGET_EVERYTIME};
use lrm::proto::{ErrorCode, DEFAULT_SOCKET};
use serde_json::{json, Value};

const HELP: &str = "lrmadmin -d,--daemon
         -A,--add <rscid> <raclass> <ratype> <provider|NULL> [<rsc_params_list>]
         -D,--delete <rscid>
         -F,--flush <rscid>
         -X,--fail <rscid> [<fail_rc> [<fail_reason>]]
         -E,--execute <rscid> <operator> <timeout> <interval> <target_rc|EVERYTIME|CHANGED> [<operator_parameters_list>]
         -S,--state <rscid> [-n <fake_name>]
         -L,--listall
         -I,--information <rsc_id>
         -C,--raclass_supported
         -T,--ratype_supported <raclass>
         -O,--all metadata of this class <raclass>
         -M,--metadata <raclass> <ratype> <provider|NULL>
         -P,--provider <raclass> <ratype>
         -p,--set_lrmd_param <name> <value>
         -g,--get_lrmd_param <name>
         -v,--version
         -h,--help
Extensions of this implementation:
         -c,--cancel <rscid> <operator> <interval>
         --failcount <rscid> [reset]
         --json            print lrmd's JSON reply instead of the text output
         --socket <path>   lrmd socket (default /run/heartbeat/lrm/lrmd.sock)";

/// lrmadmin's exit codes.
const EXIT_NOT_RUNNING: u8 = 254; // -2
const EXIT_FAILED: u8 = 253; // -3
const EXIT_TIMEOUT: u8 = 251; // -5
const EXIT_USAGE: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Daemon,
    Add,
    Delete,
    Flush,
    Fail,
    Execute,
    State,
    ListAll,
    Info,
    Classes,
    Types,
    AllMeta,
    Metadata,
    Provider,
    SetParam,
    GetParam,
    Version,
    Help,
    Cancel,
    FailCount,
}

fn command_of(arg: &str) -> Option<Cmd> {
    Some(match arg {
        "-d" | "--daemon" => Cmd::Daemon,
        "-A" | "--add" => Cmd::Add,
        "-D" | "--delete" => Cmd::Delete,
        "-F" | "--flush" => Cmd::Flush,
        "-X" | "--fail" => Cmd::Fail,
        "-E" | "--execute" | "--executera" => Cmd::Execute,
        "-S" | "--state" => Cmd::State,
        "-L" | "--listall" => Cmd::ListAll,
        "-I" | "--information" => Cmd::Info,
        "-C" | "--raclass_supported" => Cmd::Classes,
        "-T" | "--ratype_supported" => Cmd::Types,
        "-O" | "--all_type_metadata" => Cmd::AllMeta,
        "-M" | "--metadata" => Cmd::Metadata,
        "-P" | "--provider" => Cmd::Provider,
        "-p" | "--set_lrmd_param" => Cmd::SetParam,
        "-g" | "--get_lrmd_param" => Cmd::GetParam,
        "-v" | "--version" => Cmd::Version,
        "-h" | "--help" => Cmd::Help,
        "-c" | "--cancel" => Cmd::Cancel,
        "--failcount" => Cmd::FailCount,
        _ => return None,
    })
}

struct Opts {
    cmd: Cmd,
    args: Vec<String>,
    json: bool,
    socket: PathBuf,
}

enum Parsed {
    Run(Opts),
    Usage(Option<&'static str>),
}

fn parse_args(argv: &[String]) -> Parsed {
    let mut cmd = None;
    let mut args = Vec::new();
    let mut json = false;
    let mut socket = PathBuf::from(DEFAULT_SOCKET);
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--socket" => match it.next() {
                Some(p) => socket = PathBuf::from(p),
                None => return Parsed::Usage(None),
            },
            // The app name only selected another client's history in cluster-glue; our
            // history is shared, so it is accepted and ignored.
            "-n" => {
                if it.next().is_none() {
                    return Parsed::Usage(None);
                }
            }
            s if s.starts_with("--socket=") => socket = PathBuf::from(&s["--socket=".len()..]),
            s => match command_of(s) {
                Some(c) if cmd.is_none() => cmd = Some(c),
                Some(_) => return Parsed::Usage(Some("Obscure options.")),
                None if s.starts_with('-') && s.len() > 1 && s.parse::<i64>().is_err() => {
                    return Parsed::Usage(None)
                }
                None => args.push(s.to_string()),
            },
        }
    }
    match cmd {
        Some(cmd) => Parsed::Run(Opts {
            cmd,
            args,
            json,
            socket,
        }),
        None => Parsed::Usage(None),
    }
}

fn main() -> ExitCode {
    // Like a C tool: `lrmadmin -T ocf | head` ends quietly on a closed pipe.
    // SAFETY: setting a signal disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&argv) {
        Parsed::Run(o) => o,
        Parsed::Usage(msg) => {
            if let Some(m) = msg {
                println!("{m}");
            }
            println!("{HELP}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match opts.cmd {
        Cmd::Help => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Cmd::Version => {
            println!("1.0.12");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let mut client = match Client::connect(&opts.socket) {
        Ok(c) => c,
        Err(e) => {
            if opts.cmd == Cmd::Daemon {
                println!("lrmd is not running.");
                return ExitCode::from(3);
            }
            println!("lrmd is not running.");
            eprintln!("lrmadmin: {e}");
            return ExitCode::from(EXIT_NOT_RUNNING);
        }
    };
    match run(&mut client, &opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lrmadmin: {e}");
            match e {
                Failure::Usage => {
                    println!("{HELP}");
                    ExitCode::from(EXIT_USAGE)
                }
                Failure::Client(ClientError::Refused(_)) => ExitCode::from(EXIT_FAILED),
                Failure::Client(_) => ExitCode::from(EXIT_NOT_RUNNING),
                Failure::Other(_) => ExitCode::from(EXIT_FAILED),
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("wrong number or format of arguments")]
    Usage,
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Other(String),
}

fn arg(opts: &Opts, i: usize) -> Result<&str, Failure> {
    opts.args.get(i).map(String::as_str).ok_or(Failure::Usage)
}

fn print_json(v: &Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("lrmadmin: cannot print reply: {e}"),
    }
}

/// Positional values for lsb/heartbeat (`1`, `2`, ...), `name=value` for ocf.
fn param_list(class: &str, items: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    if class == "ocf" {
        for it in items {
            let (k, v) = it
                .split_once('=')
                .ok_or_else(|| Failure::Other(format!("parameter {it:?} is not name=value")))?;
            out.insert(k.to_string(), v.to_string());
        }
    } else {
        for (i, it) in items.iter().enumerate() {
            out.insert((i + 1).to_string(), it.clone());
        }
    }
    Ok(out)
}

fn provider_arg(p: &str) -> Option<String> {
    // cluster-glue compared with strncmp(..., "NULL", 4).
    if p.starts_with("NULL") {
        None
    } else {
        Some(p.to_string())
    }
}

/// A simple success/failure command: prints one of two lines.
fn simple(
    client: &mut Client,
    opts: &Opts,
    req: Value,
    ok: &str,
    fail: &str,
) -> Result<ExitCode, Failure> {
    match client.call(req) {
        Ok(v) => {
            if opts.json {
                print_json(&v);
            } else {
                println!("{ok}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused(e)) => {
            if opts.json {
                print_json(&json!({ "ok": false, "error": e }));
            } else {
                println!("{fail}");
                eprintln!("lrmadmin: {}", e.message);
            }
            Ok(ExitCode::from(EXIT_FAILED))
        }
        Err(e) => Err(e.into()),
    }
}

fn run(client: &mut Client, opts: &Opts) -> Result<ExitCode, Failure> {
    match opts.cmd {
        Cmd::Daemon => {
            let v = client.call(json!({"request": "ping"}))?;
            if opts.json {
                print_json(&v);
            } else {
                // Sic: cluster-glue's lrmadmin says "stopped" when lrmd answers.
                println!("lrmd is stopped.");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Add => {
            let (id, class, rtype, prov) =
                (arg(opts, 0)?, arg(opts, 1)?, arg(opts, 2)?, arg(opts, 3)?);
            let params = param_list(class, &opts.args[4..])?;
            let req = json!({"request": "register", "rsc": id, "type": rtype, "class": class,
                "provider": provider_arg(prov), "params": params});
            simple(
                client,
                opts,
                req,
                "Succeeded in adding this resource.",
                "Failed to add this resource.",
            )
        }
        Cmd::Delete => simple(
            client,
            opts,
            json!({"request": "unregister", "rsc": arg(opts, 0)?}),
            "Succeeded in deleting this resource.",
            "Failed to delete this resource.",
        ),
        Cmd::Flush => simple(
            client,
            opts,
            json!({"request": "flush", "rsc": arg(opts, 0)?}),
            "Succeeded in flushing.",
            "Failed to flush.",
        ),
        Cmd::Fail => {
            let rc = match opts.args.get(1) {
                Some(s) => Some(s.parse::<i32>().map_err(|_| Failure::Usage)?),
                None => None,
            };
            simple(
                client,
                opts,
                json!({"request": "fail", "rsc": arg(opts, 0)?, "rc": rc, "reason": opts.args.get(2)}),
                "Succeeded in failing the resource.",
                "Failed to fail the resource.",
            )
        }
        Cmd::Cancel => {
            let interval: u64 = arg(opts, 2)?.parse().map_err(|_| Failure::Usage)?;
            simple(
                client,
                opts,
                json!({"request": "cancel", "rsc": arg(opts, 0)?, "operation": arg(opts, 1)?, "interval": interval}),
                "Succeeded in cancelling this operation.",
                "Failed to cancel this operation.",
            )
        }
        Cmd::FailCount => {
            let rsc = arg(opts, 0)?;
            if opts.args.get(1).map(String::as_str) == Some("reset") {
                return simple(
                    client,
                    opts,
                    json!({"request": "failcount-reset", "rsc": rsc}),
                    "Succeeded in resetting the fail count.",
                    "Failed to reset the fail count.",
                );
            }
            let v = client.call(json!({"request": "failcount-get", "rsc": rsc}))?;
            if opts.json {
                print_json(&v);
            } else {
                println!(
                    "fail-count: {}",
                    v.get("count").and_then(Value::as_u64).unwrap_or(0)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Execute => execute(client, opts),
        Cmd::State => state(client, opts),
        Cmd::ListAll => {
            let v = client.call(json!({"request": "list"}))?;
            if opts.json {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let rscs: Vec<Resource> =
                serde_json::from_value(v.get("resources").cloned().unwrap_or(json!([])))
                    .map_err(|e| Failure::Other(format!("bad list reply: {e}")))?;
            if rscs.is_empty() {
                println!("Currently no resources are managed by LRM.");
            }
            for r in &rscs {
                print_rsc(r);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Info => {
            let v = match client.call(json!({"request": "get", "rsc": arg(opts, 0)?})) {
                Ok(v) => v,
                Err(ClientError::Refused(e)) if e.code == ErrorCode::UnknownResource => {
                    if opts.json {
                        print_json(&json!({"ok": false, "error": e}));
                    } else {
                        println!("There is no such resource.");
                    }
                    return Ok(ExitCode::from(EXIT_FAILED));
                }
                Err(e) => return Err(e.into()),
            };
            if opts.json {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let r: Resource =
                serde_json::from_value(v).map_err(|e| Failure::Other(format!("bad reply: {e}")))?;
            print_rsc(&r);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Classes => {
            let v = client.call(json!({"request": "classes"}))?;
            print_list(opts, &v, "classes", |n| {
                Some(format!("There are {n} RA classes supported:"))
            });
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Types => {
            let v = client.call(json!({"request": "types", "class": arg(opts, 0)?}))?;
            print_list(opts, &v, "types", |n| Some(format!("There are {n} RAs:")));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Provider => {
            let v = client.call(
                json!({"request": "providers", "class": arg(opts, 0)?, "type": arg(opts, 1)?}),
            )?;
            print_list(opts, &v, "providers", |_| None);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Metadata => {
            let (class, rtype, prov) = (arg(opts, 0)?, arg(opts, 1)?, arg(opts, 2)?);
            let v = client.call(json!({"request": "metadata", "class": class, "type": rtype,
                "provider": provider_arg(prov)}))?;
            if opts.json {
                print_json(&v);
            } else {
                println!(
                    "{}",
                    v.get("metadata")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::AllMeta => {
            let class = arg(opts, 0)?;
            let types = strings(
                &client.call(json!({"request": "types", "class": class}))?,
                "types",
            );
            let mut all = Vec::new();
            for t in types {
                let provs = strings(
                    &client.call(json!({"request": "providers", "class": class, "type": t}))?,
                    "providers",
                );
                for p in provs {
                    let md = client.call(
                        json!({"request": "metadata", "class": class, "type": t, "provider": p}),
                    );
                    let text = match md {
                        Ok(v) => v
                            .get("metadata")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        Err(ClientError::Refused(e)) => {
                            eprintln!("lrmadmin: {t}:{p}: {}", e.message);
                            String::new()
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if opts.json {
                        all.push(json!({"type": t, "provider": p, "metadata": text}));
                    } else {
                        println!("{t}:{p}");
                        println!("{text}");
                    }
                }
            }
            if opts.json {
                print_json(&Value::Array(all));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::SetParam => {
            let v = client.call(
                json!({"request": "set-param", "name": arg(opts, 0)?, "value": arg(opts, 1)?}),
            )?;
            if opts.json {
                print_json(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::GetParam => {
            let name = arg(opts, 0)?;
            let v = client.call(json!({"request": "get-param", "name": name}))?;
            if opts.json {
                print_json(&v);
            } else {
                println!(
                    "{name}: {}",
                    v.get("value").and_then(Value::as_str).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Help | Cmd::Version => Ok(ExitCode::SUCCESS),
    }
}

/// A reply's string list, one per line after an optional header (lrmadmin's -C/-T/-P
/// output), or the raw reply with --json.
fn print_list(opts: &Opts, v: &Value, key: &str, header: impl Fn(usize) -> Option<String>) {
    if opts.json {
        print_json(v);
        return;
    }
    let list = strings(v, key);
    if let Some(h) = header(list.len()) {
        println!("{h}");
    }
    for item in list {
        println!("{item}");
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Positional parameters in numeric key order, as cluster-glue printed them.
fn positional(params: &BTreeMap<String, String>) -> Vec<&str> {
    let mut v: Vec<(u32, &str)> = params
        .iter()
        .filter_map(|(k, val)| k.parse::<u32>().ok().map(|n| (n, val.as_str())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, s)| s).collect()
}

fn print_rsc(r: &Resource) {
    println!();
    println!("Resource ID:{}", r.id);
    println!("Resource agent class:{}", r.class);
    println!("Resource agent type:{}", r.agent_type);
    println!(
        "Resource agent provider:{}",
        r.provider.as_deref().unwrap_or("default")
    );
    if !r.params.is_empty() {
        let text: String = if r.class == "ocf" {
            r.params.iter().map(|(k, v)| format!("{k}={v}  ")).collect()
        } else {
            positional(&r.params)
                .iter()
                .map(|v| format!("{v}  "))
                .collect()
        };
        println!("Resource agent parameters:{text}");
    }
}

fn execute(client: &mut Client, opts: &Opts) -> Result<ExitCode, Failure> {
    let rsc = arg(opts, 0)?;
    let operation = arg(opts, 1)?;
    let timeout: u64 = arg(opts, 2)?.parse().map_err(|_| Failure::Usage)?;
    let interval: u64 = arg(opts, 3)?.parse().map_err(|_| Failure::Usage)?;
    let target = match arg(opts, 4)? {
        "EVERYTIME" => TARGET_EVERYTIME,
        "CHANGED" => TARGET_CHANGED,
        n => n.parse::<i32>().map_err(|_| Failure::Usage)?,
    };
    let info = match client.call(json!({"request": "get", "rsc": rsc})) {
        Ok(v) => v,
        Err(ClientError::Refused(e)) => {
            println!("lrmadmin: {}", e.message);
            return Ok(ExitCode::from(EXIT_NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    let class = info
        .get("class")
        .and_then(Value::as_str)
        .unwrap_or("ocf")
        .to_string();
    let params = param_list(&class, &opts.args[5..])?;
    let reply = client.call(
        json!({"request": "exec", "rsc": rsc, "operation": operation,
        "timeout": timeout, "interval": interval, "target_rc": target, "params": params}),
    );
    let call_id = match reply {
        Ok(v) => v.get("call_id").and_then(Value::as_u64).unwrap_or(0),
        Err(ClientError::Refused(e)) => {
            println!("lrmadmin: {}", e.message);
            return Ok(ExitCode::from(EXIT_NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    if !opts.json {
        println!("Waiting for lrmd to callback...");
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout + 1000));
    let rec = match client.wait_result(call_id, deadline) {
        Ok(r) => r,
        Err(ClientError::Timeout) => {
            println!("ERROR: This operation has timed out - no result from lrmd.");
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
        Err(e) => return Err(e.into()),
    };
    if opts.json {
        print_json(&serde_json::to_value(&rec).unwrap_or(Value::Null));
    } else {
        print_result(&rec);
    }
    // lrmadmin exits with the op's rc (wrapped to a byte as exit(3) does).
    Ok(ExitCode::from(rec.rc as u8))
}

fn print_result(rec: &OpRecord) {
    println!("----------------operation--------------");
    println!("type:{}", rec.spec.operation);
    println!("operation status:{}", rec.status.lrmadmin_text());
    println!("op_status: {}", rec.status.code());
    println!("return code: {}", rec.rc);
    println!("output data: ");
    match &rec.output {
        Some(o) => println!("{o}"),
        None => println!("[null]"),
    }
    println!("---------------------------------------");
}

/// cluster-glue's rc words, indexed by rc + 2.
fn rc_text(rc: i32) -> &'static str {
    const WORDS: [&str; 17] = [
        "unknown error",
        "no ra",
        "ok",
        "unknown error",
        "invalid parameter",
        "unimplement feature",
        "insufficient priority",
        "not installed",
        "not configured",
        "not running",
        "running master",
        "failed master",
        "invalid rc",
        "daemon dead1",
        "daemon dead2",
        "daemon stopped",
        "status unknow",
    ];
    usize::try_from(rc + 2)
        .ok()
        .and_then(|i| WORDS.get(i))
        .copied()
        .unwrap_or("invalid rc")
}

/// `ctime(3)` without the newline, in local time.
fn ctime(t: u64) -> String {
    let tt = t as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    if unsafe { libc::localtime_r(&tt, &mut tm) }.is_null() {
        return t.to_string();
    }
    let mut buf = [0u8; 64];
    let fmt = b"%a %b %e %H:%M:%S %Y\0";
    // SAFETY: buf is writable for its length, fmt is NUL-terminated, tm initialised above.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr().cast(), &tm) };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn state(client: &mut Client, opts: &Opts) -> Result<ExitCode, Failure> {
    let v = match client.call(json!({"request": "state", "rsc": arg(opts, 0)?})) {
        Ok(v) => v,
        Err(ClientError::Refused(e)) => {
            println!("lrmadmin: {}", e.message);
            return Ok(ExitCode::from(EXIT_FAILED));
        }
        Err(e) => return Err(e.into()),
    };
    if opts.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let s: RscState =
        serde_json::from_value(v).map_err(|e| Failure::Other(format!("bad state reply: {e}")))?;
    println!(
        "resource state:{}",
        if s.state == "busy" {
            "LRM_RSC_BUSY"
        } else {
            "LRM_RSC_IDLE"
        }
    );
    println!("The resource {} operations' information:", s.ops.len());
    for op in &s.ops {
        println!(
            "   operation '{}' [call_id={}]:",
            op.spec.operation, op.call_id
        );
        println!(
            "      start_delay={}, interval={}, timeout={}, app_name=lrmd-client",
            op.spec.start_delay, op.spec.interval, op.spec.timeout
        );
        if op.status == OpStatus::Pending {
            println!(
                "      rc={} ({}), op_status={} ({})",
                op.rc,
                rc_text(op.rc),
                op.status.code(),
                op.status.lrmadmin_text()
            );
        } else {
            println!(
                "      rc={} ({}), op_status={} ({})",
                op.rc,
                rc_text(op.rc),
                op.status.code(),
                op.status.lrmadmin_text()
            );
            println!("      run at: {}", ctime(op.t_run));
            println!("      last rc change at: {}", ctime(op.t_rcchange));
            println!(
                "      queue time: {}ms, exec time: {}ms",
                op.queue_time, op.exec_time
            );
        }
        if !op.spec.params.is_empty() {
            let p: String = op
                .spec
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}  "))
                .collect();
            println!("      parameters: {}", p.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}
