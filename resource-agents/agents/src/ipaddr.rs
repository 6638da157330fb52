//! IPaddr2 and IPaddr: a virtual IPv4 address on an interface.
//!
//! Both flavours share this code. Start adds the address with `ip addr add`
//! (what administrators know and can reproduce by hand), brings the link
//! up and announces the address with gratuitous ARP; stop removes it;
//! monitor reads the kernel's address list directly and also requires the
//! link to be up with carrier (reference 6.3: a VIP on a dead link is not
//! a healthy VIP).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::arp::{self, ArpPlan};
use crate::netif::{self, AddrEntry};
use crate::ocf::{
    self, Action, Agent, AgentError, AgentResult, Level, MetaData, OcfEnv, OcfRc, Param,
};

/// Which agent is being run: they differ in meta-data, defaults and in
/// how an unlabelled address is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Linux `ip`-style: no label unless `iflabel` (or `nic:label`) says so.
    IPaddr2,
    /// ifconfig alias style: unlabelled addresses get the first free `nic:N`.
    IPaddr,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::IPaddr2 => "IPaddr2",
            Flavor::IPaddr => "IPaddr",
        }
    }
}

/// The OCF agent for either flavour.
pub struct IpAgent(pub Flavor);

/// Parameters after parsing (before interface discovery).
#[derive(Debug, Clone)]
pub struct IpParams {
    pub ip: Ipv4Addr,
    pub prefix: Option<u8>,
    pub nic: Option<String>,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    pub arp: ArpPlan,
    pub arp_bg: bool,
    pub check_link: bool,
    /// Probe for another host using the address before adding it.
    pub run_arping: bool,
}

/// A fully resolved address: where it goes and how it is named.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub nic: String,
    pub broadcast: Option<Ipv4Addr>,
}

/// Longest label the kernel accepts (IFNAMSIZ - 1).
const MAX_LABEL: usize = 15;

impl IpParams {
    /// Parses and checks parameters that need no look at the host.
    pub fn from_env(env: &OcfEnv) -> Result<Self, AgentError> {
        let ip_s = env
            .param("ip")
            .ok_or_else(|| AgentError::configured("IP address (the ip parameter) is mandatory"))?;
        let ip: Ipv4Addr = ip_s.trim().parse().map_err(|_| {
            AgentError::configured(format!("IP address [{ip_s}] not valid (IPv4 only)"))
        })?;
        // IPaddr2 still honours the pre-cidr_netmask name.
        let mask_s = env.param("cidr_netmask").or_else(|| env.param("netmask"));
        let prefix = match mask_s {
            None => None,
            Some(m) => Some(netif::parse_netmask(m).ok_or_else(|| {
                AgentError::configured(format!("Invalid netmask specification [{m}]"))
            })?),
        };
        let (nic, mut label) = match env.param("nic") {
            // The nic:label form (haresources' IPaddr2::ip/mask/eth0:web).
            Some(n) => match n.split_once(':') {
                Some((dev, l)) => (Some(dev.to_string()), Some(format!("{dev}:{l}"))),
                None => (Some(n.to_string()), None),
            },
            None => (None, None),
        };
        if let Some(l) = env.param("iflabel") {
            // The device part is added once the nic is known.
            label = Some(l.to_string());
        }
        let broadcast = match env.param("broadcast") {
            None => None,
            Some(b) => Some(b.trim().parse().map_err(|_| {
                AgentError::new(OcfRc::ErrArgs, format!("Invalid broadcast address [{b}]"))
            })?),
        };
        let interval_ms = env.param_u64("arp_interval", 200)?;
        let count = env.param_u64("arp_count", 5)?;
        let count = u32::try_from(count)
            .map_err(|_| AgentError::configured(format!("arp_count {count} is too large")))?;
        Ok(IpParams {
            ip,
            prefix,
            nic,
            label,
            broadcast,
            arp: ArpPlan {
                count,
                interval: Duration::from_millis(interval_ms),
            },
            arp_bg: env.param_bool("arp_bg", true),
            check_link: env.param_bool("check_link_status", true),
            run_arping: env.param_bool("run_arping", false),
        })
    }

    /// Interface discovery: fills in nic, netmask and broadcast.
    pub fn resolve(&self, addrs: &[AddrEntry]) -> Result<Resolved, AgentError> {
        let found = netif::findif(addrs, self.ip, self.nic.as_deref(), self.prefix)
            .ok_or_else(|| AgentError::generic(format!(
                "Unable to find nic or netmask for {}: no interface has a subnet containing it; set nic and cidr_netmask",
                self.ip
            )))?;
        if self.nic.is_none() || self.prefix.is_none() {
            ocf::log(
                Level::Info,
                &format!(
                    "Using {}/{} on {} (findif)",
                    self.ip, found.prefix, found.nic
                ),
            );
        }
        let broadcast = self.broadcast.or(found.broadcast);
        if let Some(b) = self.broadcast {
            // A broadcast outside the subnet is a typo, not a choice.
            if found.prefix < 31 && !netif::contains(self.ip, found.prefix, b) {
                return Err(AgentError::new(
                    OcfRc::ErrArgs,
                    format!("Broadcast {b} is not in {}/{}", self.ip, found.prefix),
                ));
            }
        }
        Ok(Resolved {
            ip: self.ip,
            prefix: found.prefix,
            nic: found.nic,
            broadcast,
        })
    }

    /// The full label (`nic:label`) to give the address, if any.
    fn full_label(
        &self,
        flavor: Flavor,
        r: &Resolved,
        addrs: &[AddrEntry],
    ) -> Result<Option<String>, AgentError> {
        let label = match (&self.label, flavor) {
            (Some(l), _) if l.starts_with(&format!("{}:", r.nic)) => Some(l.clone()),
            (Some(l), _) => Some(format!("{}:{l}", r.nic)),
            (None, Flavor::IPaddr2) => None,
            (None, Flavor::IPaddr) => {
                // ifconfig-style alias: first free nic:N.
                let used: Vec<&str> = addrs.iter().map(|a| a.label.as_str()).collect();
                (0..)
                    .map(|n| format!("{}:{n}", r.nic))
                    .find(|l| !used.contains(&l.as_str()))
            }
        };
        if let Some(l) = &label {
            if l.len() > MAX_LABEL {
                return Err(AgentError::configured(format!(
                    "Label {l} is longer than {MAX_LABEL} characters"
                )));
            }
        }
        Ok(label)
    }
}

/// Where the address currently is, if anywhere.
fn find_served(addrs: &[AddrEntry], ip: Ipv4Addr) -> Vec<&AddrEntry> {
    addrs.iter().filter(|a| a.ip == ip).collect()
}

fn read_addrs() -> Result<Vec<AddrEntry>, AgentError> {
    netif::ipv4_addrs().map_err(|e| AgentError::generic(format!("getifaddrs: {e}")))
}

/// IFF_UP of `nic` from sysfs; unknown counts as down (then `ip link set up` runs).
fn link_is_up(nic: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{nic}/flags"))
        .ok()
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|flags| flags & libc::IFF_UP as u32 != 0)
}

/// Runs `ip <args>`; a missing binary is OCF_ERR_INSTALLED.
fn ip_cmd(args: &[String]) -> Result<(), AgentError> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AgentError::new(OcfRc::ErrInstalled, "ip (iproute2) is not installed")
        } else {
            AgentError::generic(format!("running ip {}: {e}", args.join(" ")))
        }
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(AgentError::generic(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn arp_pidfile(env: &OcfEnv, ip: Ipv4Addr) -> PathBuf {
    env.rsctmp.join(format!("send_arp-{ip}"))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Sends the gratuitous ARPs for a freshly added address.
fn announce(env: &OcfEnv, p: &IpParams, nic: &str) -> Result<(), AgentError> {
    if p.arp.count == 0 {
        return Ok(());
    }
    if p.arp_bg {
        let pidfile = arp_pidfile(env, p.ip);
        if let Some(dir) = pidfile.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        arp::stop_background(&pidfile);
        arp::announce_background(nic, p.ip, p.arp, &pidfile)
            .map_err(|e| AgentError::generic(format!("starting background ARP sender: {e}")))
    } else {
        arp::announce(nic, p.ip, p.arp).map_err(|e| {
            let rc = if e.is_permission() {
                OcfRc::ErrPerm
            } else {
                OcfRc::ErrGeneric
            };
            AgentError::new(rc, format!("gratuitous ARP: {e}"))
        })
    }
}

/// Refuses an address another host already answers for (RFC 5227 probe).
/// Interfaces without ARP (loopback, tunnels) cannot be probed and pass.
fn check_duplicate(r: &Resolved) -> Result<(), AgentError> {
    match arp::find_duplicate(&r.nic, r.ip, 2, Duration::from_millis(1500)) {
        Ok(None) => Ok(()),
        Ok(Some(mac)) => Err(AgentError::generic(format!(
            "IPv4 address collision {} [DAD]: already in use by {} on {}",
            r.ip,
            arp::fmt_mac(mac),
            r.nic
        ))),
        Err(e) => {
            ocf::log(
                Level::Warn,
                &format!("duplicate address probe skipped: {e}"),
            );
            Ok(())
        }
    }
}

/// Start: idempotent add + link up + ARP.
pub fn start(flavor: Flavor, env: &OcfEnv, p: &IpParams) -> AgentResult {
    if !is_root() {
        return Err(AgentError::new(
            OcfRc::ErrPerm,
            format!("{} must be run as root", flavor.name()),
        ));
    }
    let addrs = read_addrs()?;
    let r = p.resolve(&addrs)?;
    let served = find_served(&addrs, p.ip);
    if let Some(a) = served.iter().find(|a| a.device() == r.nic) {
        ocf::log(
            Level::Info,
            &format!("{} already on {} ({})", p.ip, r.nic, a.label),
        );
        return Ok(OcfRc::Success);
    }
    if let Some(a) = served.first() {
        return Err(AgentError::generic(format!(
            "{} is already configured on {}, not on {}",
            p.ip,
            a.device(),
            r.nic
        )));
    }
    if nix::net::if_::if_nametoindex(r.nic.as_str()).is_err() {
        return Err(AgentError::new(
            OcfRc::ErrArgs,
            format!("Interface {} does not exist", r.nic),
        ));
    }
    let label = p.full_label(flavor, &r, &addrs)?;
    if p.run_arping {
        check_duplicate(&r)?;
    }
    let mut args: Vec<String> = vec![
        "-f".into(),
        "inet".into(),
        "addr".into(),
        "add".into(),
        format!("{}/{}", r.ip, r.prefix),
    ];
    if let Some(b) = r.broadcast {
        args.extend(["brd".into(), b.to_string()]);
    }
    args.extend(["dev".into(), r.nic.clone()]);
    if let Some(l) = &label {
        args.extend(["label".into(), l.clone()]);
    }
    ocf::log(
        Level::Info,
        &format!(
            "Adding inet address {}/{} to device {}",
            r.ip, r.prefix, r.nic
        ),
    );
    ip_cmd(&args)?;
    // One exec less on the failover path when the link is up already (the usual case).
    if !link_is_up(&r.nic) {
        ocf::log(Level::Info, &format!("Bringing device {} up", r.nic));
        ip_cmd(&["link".into(), "set".into(), r.nic.clone(), "up".into()])?;
    }
    let addrs = read_addrs()?;
    let is_lo = addrs.iter().any(|a| a.device() == r.nic && a.is_loopback());
    if !is_lo {
        announce(env, p, &r.nic)?;
    }
    Ok(OcfRc::Success)
}

/// Stop: removes the address from its nic (any nic if none configured);
/// an absent address is success.
pub fn stop(flavor: Flavor, env: &OcfEnv, p: &IpParams) -> AgentResult {
    arp::stop_background(&arp_pidfile(env, p.ip));
    let addrs = read_addrs()?;
    let mine: Vec<&AddrEntry> = find_served(&addrs, p.ip)
        .into_iter()
        .filter(|a| p.nic.as_deref().map_or(true, |n| a.device() == n))
        .collect();
    if mine.is_empty() {
        ocf::log(
            Level::Info,
            &format!("IP status = no: {} is not configured", p.ip),
        );
        return Ok(OcfRc::Success);
    }
    if !is_root() {
        return Err(AgentError::new(
            OcfRc::ErrPerm,
            format!("{} must be run as root", flavor.name()),
        ));
    }
    for a in mine {
        ocf::log(
            Level::Info,
            &format!("Removing {}/{} from {}", a.ip, a.prefix, a.device()),
        );
        ip_cmd(&[
            "-f".into(),
            "inet".into(),
            "addr".into(),
            "delete".into(),
            format!("{}/{}", a.ip, a.prefix),
            "dev".into(),
            a.device().to_string(),
        ])?;
    }
    Ok(OcfRc::Success)
}

/// Monitor: 0 when the address is on the nic and the link is up, 7 when it
/// is absent, 1 when it is present on a link that is down.
pub fn monitor(_flavor: Flavor, _env: &OcfEnv, p: &IpParams) -> AgentResult {
    let addrs = read_addrs()?;
    let served: Vec<&AddrEntry> = find_served(&addrs, p.ip);
    let here = served
        .iter()
        .find(|a| p.nic.as_deref().map_or(true, |n| a.device() == n));
    match here {
        None => {
            if let Some(a) = served.first() {
                ocf::log(
                    Level::Warn,
                    &format!(
                        "{} is configured on {}, not on the configured nic",
                        p.ip,
                        a.device()
                    ),
                );
            }
            Ok(OcfRc::NotRunning)
        }
        Some(a) if p.check_link && !a.link_up() => Err(AgentError::generic(format!(
            "{} is configured but link {} is down (no carrier or admin down)",
            p.ip,
            a.device()
        ))),
        Some(_) => Ok(OcfRc::Success),
    }
}

/// validate-all: parameters and interface discovery must succeed.
pub fn validate(_flavor: Flavor, _env: &OcfEnv, p: &IpParams) -> AgentResult {
    let addrs = read_addrs()?;
    let r = p.resolve(&addrs)?;
    if nix::net::if_::if_nametoindex(r.nic.as_str()).is_err() {
        return Err(AgentError::new(
            OcfRc::ErrArgs,
            format!("Interface {} does not exist", r.nic),
        ));
    }
    Ok(OcfRc::Success)
}

/// Runs one action (other than meta-data) of either flavour.
pub fn run_action(flavor: Flavor, env: &OcfEnv) -> AgentResult {
    let p = match IpParams::from_env(env) {
        Ok(p) => p,
        // Stop must not fail on parameters it cannot use: nothing can be
        // running under a configuration that cannot be parsed.
        Err(e) if env.action == "stop" => {
            ocf::log(Level::Warn, &format!("{}; nothing to stop", e.reason));
            return Ok(OcfRc::Success);
        }
        Err(e) => return Err(e),
    };
    match env.action.as_str() {
        "start" => start(flavor, env, &p),
        "stop" => stop(flavor, env, &p),
        "monitor" => monitor(flavor, env, &p),
        "status" => {
            let rc = monitor(flavor, env, &p);
            // The historical status action prints its verdict on stdout.
            match &rc {
                Ok(OcfRc::Success) => println!("running"),
                _ => println!("stopped"),
            }
            rc
        }
        "validate-all" => validate(flavor, env, &p),
        other => Err(AgentError::new(
            OcfRc::ErrUnimplemented,
            format!("unsupported action {other}"),
        )),
    }
}

impl Agent for IpAgent {
    fn metadata(&self, _env: &OcfEnv) -> MetaData {
        let flavor = self.0;
        let mut params = vec![
            Param::new(
                "ip",
                "IPv4 address",
                "The IPv4 address to be configured in dotted quad notation, for example \"192.168.1.1\".",
            )
            .required()
            .unique(),
            Param::new(
                "nic",
                "Network interface",
                "The base network interface on which the IP address will be brought online. \
                 If left empty, the interface whose configured subnet contains the address is used \
                 (longest prefix wins).",
            ),
            Param::new(
                "cidr_netmask",
                "CIDR netmask",
                "The netmask for the interface in CIDR format (e.g. 24) or dotted quad. \
                 If unspecified, it is taken from the subnet the address belongs to.",
            ),
            Param::new(
                "broadcast",
                "Broadcast address",
                "Broadcast address associated with the IP. If left empty, it is derived from the netmask.",
            ),
            Param::new(
                "iflabel",
                "Interface label",
                "A label for the address (the address shows up as nic:iflabel). \
                 The full label must not exceed 15 characters.",
            ),
        ];
        params.extend([
            Param::new(
                "arp_interval",
                "ARP packet interval in ms",
                "Milliseconds between gratuitous ARP announcements.",
            )
            .ty("integer")
            .default("200"),
            Param::new(
                "arp_count",
                "ARP packet count",
                "Number of gratuitous ARP announcements (each is an ARP request and an ARP reply) sent on start.",
            )
            .ty("integer")
            .default("5"),
            Param::new(
                "arp_bg",
                "ARP from background",
                "Send the gratuitous ARPs from a background process, so start returns at once.",
            )
            .ty("boolean")
            .default("true"),
            Param::new(
                "run_arping",
                "Run duplicate address detection",
                "Before adding the address, send ARP probes (RFC 5227) and refuse to start \
                 if another host answers for it.",
            )
            .ty("boolean")
            .default("false"),
            Param::new(
                "check_link_status",
                "Check link status",
                "Monitor fails (returns 1) when the address is present but its interface \
                 is administratively down or has no carrier.",
            )
            .ty("boolean")
            .default("true"),
        ]);
        let (shortdesc, longdesc, interval) = match flavor {
            Flavor::IPaddr2 => (
                "Manages virtual IPv4 addresses (Linux specific version)",
                "This Linux-specific resource manages IP alias IP addresses. \
                 It can add an IP alias, or remove one, and announces it with gratuitous ARP.",
                "10s",
            ),
            Flavor::IPaddr => (
                "Manages virtual IPv4 addresses (portable version)",
                "This script manages IP alias IP addresses. It can add an IP alias, or remove one. \
                 Unlabelled addresses are named nic:N like ifconfig aliases.",
                "5s",
            ),
        };
        MetaData {
            name: flavor.name(),
            shortdesc,
            longdesc,
            params,
            actions: vec![
                Action::new("start", "20s"),
                Action::new("stop", "20s"),
                Action::new("status", "20s"),
                Action::monitor("20s", interval),
                Action::new("meta-data", "5s"),
                Action::new("validate-all", "20s"),
            ],
        }
    }

    fn action(&self, env: &OcfEnv) -> AgentResult {
        run_action(self.0, env)
    }
}
