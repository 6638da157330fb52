//! `ra-agents`: the OCF resource agents shipped with rust-heartbeat, as one
//! multi-call binary. The agent is chosen by the name it is invoked as
//! (`/usr/lib/ocf/resource.d/rustha/IPaddr2 start`), or explicitly as
//! `ra-agents <Agent> <action>` for testing.

mod anything;
mod arp;
mod dummy;
mod heartbeat;
mod httpd;
mod ipaddr;
mod netif;
mod ocf;
mod procs;
mod sendarp;
mod webserver;

use std::ffi::OsString;
use std::path::Path;

/// Every agent name this binary answers to.
const AGENTS: &[&str] = &[
    "Dummy",
    "IPaddr2",
    "IPaddr",
    "SendArp",
    "anything",
    "webserver",
];

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    std::process::exit(dispatch(&args));
}

fn dispatch(args: &[OsString]) -> i32 {
    let prog = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if AGENTS.contains(&prog.as_str()) || prog == "send_arp" || prog == "httpd-server" {
        return run_named(&prog, &prog_path(args), args.get(1..).unwrap_or(&[]));
    }
    match args.get(1).map(|a| a.to_string_lossy().into_owned()) {
        Some(name) if name != "-h" && name != "--help" => {
            run_named(&name, &name, args.get(2..).unwrap_or(&[]))
        }
        _ => {
            println!(
                "usage: ra-agents <agent> <action>   agents: {}\n       \
                 ra-agents IPaddr <ip>[/<mask>[/<nic>[/<broadcast>]]] start|stop|status\n       \
                 ra-agents httpd-server [--port N] [--bind ADDR] [--root DIR] [--pidfile FILE]\n       \
                 ra-agents send_arp [-i ms] [-r count] [-p pidfile] <device> <ip>",
                AGENTS.join(" ")
            );
            if args.len() > 1 {
                0
            } else {
                ocf::OcfRc::ErrArgs.code()
            }
        }
    }
}

fn prog_path(args: &[OsString]) -> String {
    args.first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn run_named(name: &str, prog: &str, rest: &[OsString]) -> i32 {
    use heartbeat::Wrapper;
    // Two positional arguments (`<spec> <op>`) is the heartbeat class;
    // OCF passes the action alone.
    let hb = rest.len() == 2;
    let wrapper = match name {
        "IPaddr" if hb => Some(Wrapper::IPaddr),
        "IPaddr2" if hb => Some(Wrapper::IPaddr2),
        "SendArp" if hb => Some(Wrapper::SendArp),
        _ => None,
    };
    if let Some(w) = wrapper {
        return heartbeat::run(w, prog, rest);
    }
    let agent: Box<dyn ocf::Agent> = match name {
        "Dummy" => Box::new(dummy::Dummy),
        "IPaddr2" => Box::new(ipaddr::IpAgent(ipaddr::Flavor::IPaddr2)),
        "IPaddr" => Box::new(ipaddr::IpAgent(ipaddr::Flavor::IPaddr)),
        "SendArp" => Box::new(sendarp::SendArp),
        "anything" => Box::new(anything::Anything),
        "webserver" => Box::new(webserver::WebServer),
        "httpd-server" => return httpd::main(rest),
        "send_arp" => return arp::cli(rest),
        other => {
            eprintln!(
                "ra-agents: unknown agent {other:?} (known: {})",
                AGENTS.join(" ")
            );
            return ocf::OcfRc::ErrInstalled.code();
        }
    };
    let action = rest
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = ocf::OcfEnv::from_process(&action);
    ocf::run(agent.as_ref(), &env)
}
