//! SendArp: broadcasts unsolicited ARP announcements for an address that
//! is already configured elsewhere (a pseudo resource, like the original:
//! monitor does not check the network).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::arp::{self, ArpPlan};
use crate::ocf::{Action, Agent, AgentError, AgentResult, MetaData, OcfEnv, OcfRc, Param};
use crate::procs::{PidFile, PidState};

/// The SendArp agent.
pub struct SendArp;

struct Config {
    ip: Ipv4Addr,
    nic: String,
    background: bool,
    plan: ArpPlan,
}

fn config(env: &OcfEnv) -> Result<Config, AgentError> {
    let ip_s = env
        .param("ip")
        .ok_or_else(|| AgentError::configured("IP address (the ip parameter) is mandatory"))?;
    let ip = ip_s
        .trim()
        .parse()
        .map_err(|_| AgentError::configured(format!("IP address [{ip_s}] not valid")))?;
    let nic = env
        .param("nic")
        .ok_or_else(|| {
            AgentError::configured("Network interface (the nic parameter) is mandatory")
        })?
        .to_string();
    let count = env.param_u64("arp_count", 5)?;
    Ok(Config {
        ip,
        nic,
        background: env.param_bool("background", true),
        plan: ArpPlan {
            count: u32::try_from(count)
                .map_err(|_| AgentError::configured(format!("arp_count {count} is too large")))?,
            interval: Duration::from_millis(env.param_u64("arp_interval", 200)?),
        },
    })
}

fn state_file(env: &OcfEnv) -> PathBuf {
    env.rsctmp.join(format!("SendArp_{}", env.instance))
}

fn pidfile(env: &OcfEnv, ip: Ipv4Addr) -> PathBuf {
    env.rsctmp.join(format!("send_arp-{ip}"))
}

fn monitor(env: &OcfEnv, c: &Config) -> AgentResult {
    let running = state_file(env).exists()
        || matches!(
            PidFile::new(pidfile(env, c.ip)).state(|_| false),
            PidState::Running(_)
        );
    Ok(if running {
        OcfRc::Success
    } else {
        OcfRc::NotRunning
    })
}

fn start(env: &OcfEnv, c: &Config) -> AgentResult {
    if nix::net::if_::if_nametoindex(c.nic.as_str()).is_err() {
        return Err(AgentError::new(
            OcfRc::ErrArgs,
            format!("Interface {} does not exist", c.nic),
        ));
    }
    // Checked here even for background sending, so a NIC without a usable
    // hardware address (loopback, a typo) fails start instead of silently
    // announcing nothing.
    arp::hw_addr(&c.nic).map_err(|e| {
        AgentError::new(OcfRc::ErrArgs, format!("cannot announce on {}: {e}", c.nic))
    })?;
    std::fs::create_dir_all(&env.rsctmp)
        .map_err(|e| AgentError::generic(format!("creating {}: {e}", env.rsctmp.display())))?;
    let pf = pidfile(env, c.ip);
    arp::stop_background(&pf);
    if c.background {
        arp::announce_background(&c.nic, c.ip, c.plan, &pf)
            .map_err(|e| AgentError::generic(format!("starting background ARP sender: {e}")))?;
    } else {
        arp::announce(&c.nic, c.ip, c.plan).map_err(|e| {
            let rc = if e.is_permission() {
                OcfRc::ErrPerm
            } else {
                OcfRc::ErrGeneric
            };
            AgentError::new(rc, format!("gratuitous ARP: {e}"))
        })?;
    }
    let state = state_file(env);
    std::fs::write(&state, b"")
        .map_err(|e| AgentError::generic(format!("creating {}: {e}", state.display())))?;
    Ok(OcfRc::Success)
}

fn stop(env: &OcfEnv, c: &Config) -> AgentResult {
    arp::stop_background(&pidfile(env, c.ip));
    let state = state_file(env);
    match std::fs::remove_file(&state) {
        Ok(()) => Ok(OcfRc::Success),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OcfRc::Success),
        Err(e) => Err(AgentError::generic(format!(
            "removing {}: {e}",
            state.display()
        ))),
    }
}

impl Agent for SendArp {
    fn metadata(&self, _env: &OcfEnv) -> MetaData {
        MetaData {
            name: "SendArp",
            shortdesc: "Broadcasts unsolicited ARP announcements",
            longdesc:
                "This RA can be used instead of the IPaddr2 or IPaddr RA to send gratuitous ARP \
                       for an IP address which is not managed by the cluster.",
            params: vec![
                Param::new("ip", "IP address", "The IP address for sending ARP packet.")
                    .required()
                    .unique(),
                Param::new("nic", "NIC", "The NIC for sending ARP packet.").required(),
                Param::new(
                    "background",
                    "Run in background",
                    "Whether or not to send the ARP packets in the background.",
                )
                .ty("boolean")
                .default("true"),
                Param::new(
                    "arp_count",
                    "ARP packet count",
                    "How many request+reply pairs to send.",
                )
                .ty("integer")
                .default("5"),
                Param::new(
                    "arp_interval",
                    "ARP interval in ms",
                    "Milliseconds between announcements.",
                )
                .ty("integer")
                .default("200"),
            ],
            actions: vec![
                Action::new("start", "20s"),
                Action::new("stop", "20s"),
                Action::monitor("20s", "10s"),
                Action::new("meta-data", "5s"),
                Action::new("validate-all", "20s"),
            ],
        }
    }

    fn action(&self, env: &OcfEnv) -> AgentResult {
        let c = match config(env) {
            Ok(c) => c,
            Err(_) if env.action == "stop" => return Ok(OcfRc::Success),
            Err(e) => return Err(e),
        };
        match env.action.as_str() {
            "start" => start(env, &c),
            "stop" => stop(env, &c),
            "monitor" => monitor(env, &c),
            "validate-all" => {
                arp::hw_addr(&c.nic).map_err(|e| {
                    AgentError::new(OcfRc::ErrArgs, format!("cannot announce on {}: {e}", c.nic))
                })?;
                Ok(OcfRc::Success)
            }
            other => Err(AgentError::new(
                OcfRc::ErrUnimplemented,
                format!("unsupported action {other}"),
            )),
        }
    }
}
