//! From the files in /etc/ha.d to what each part of the daemon needs.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use hb_config::authkeys::{AuthKeys, AuthMethodName};
use hb_config::hacf::{self, HaCf, Medium};
use hb_core::CoreConfig;
use hb_wire::auth::{AuthKey, AuthMethod, Keyring};
use hb_wire::compress::Compression;
use hb_wire::packet::{MsgFmt, PacketOptions};

use crate::logging::LogConfig;
use crate::media::MediumSpec;
use crate::paths::Paths;
use crate::ping::PingTarget;
use crate::state::GenMethod;

pub struct DaemonConfig {
    pub hacf: HaCf,
    pub node: String,
    pub packet: PacketOptions,
    pub msgfmt: MsgFmt,
    pub media: Vec<MediumSpec>,
    pub ping: Vec<(String, Vec<SocketAddr>)>,
    pub log: LogConfig,
    pub log_badpack: bool,
    pub warnings: Vec<String>,
    pub apiauth: Vec<hb_api::server::ApiAuth>,
    pub genmethod: GenMethod,
    pub uuid_from_nodename: bool,
    pub realtime: bool,
    authkeys_path: PathBuf,
    authkeys_mtime: Option<SystemTime>,
}

pub fn keyring_from(keys: &AuthKeys) -> Keyring {
    let mut ring = Keyring {
        active: keys.active,
        ..Keyring::default()
    };
    for (idx, (method, key)) in &keys.slots {
        let method = match method {
            AuthMethodName::Crc => AuthMethod::Crc,
            AuthMethodName::Md5 => AuthMethod::Md5,
            AuthMethodName::Sha1 => AuthMethod::Sha1,
        };
        if let Some(slot) = ring.slots.get_mut(*idx as usize) {
            *slot = Some(AuthKey::new(method, key.as_deref().unwrap_or("")));
        }
    }
    ring
}

impl DaemonConfig {
    /// Loads ha.cf and authkeys; every error names the file (and line).
    pub fn load(paths: &Paths, node: &str, debug_flags: u8, foreground: bool) -> Result<Self> {
        let hacf = hacf::load(&paths.ha_cf())?;
        hacf.validate(node)?;
        let authkeys_path = paths.authkeys();
        let keys = hb_config::authkeys::load(&authkeys_path)?;
        let authkeys_mtime = std::fs::metadata(&authkeys_path)
            .and_then(|m| m.modified())
            .ok();
        let keyring = keyring_from(&keys);
        let msgfmt = match hacf.msgfmt {
            hacf::MsgFmt::Classic => MsgFmt::Classic,
            hacf::MsgFmt::Netstring => MsgFmt::Netstring,
        };
        let packet = PacketOptions {
            keyring,
            msgfmt,
            compression: match hacf.compression {
                hacf::Compression::Zlib => Compression::Zlib,
                hacf::Compression::Bz2 => Compression::Bz2,
            },
            compression_threshold: hacf.compression_threshold_kib as usize * 1024,
            traditional_compression: hacf.traditional_compression,
        };

        let mut media = Vec::new();
        let mut ping = Vec::new();
        for m in &hacf.media {
            match m {
                Medium::Bcast { iface, udpport } => media.push(MediumSpec::Bcast {
                    iface: iface.clone(),
                    port: *udpport,
                }),
                Medium::Mcast {
                    iface,
                    group,
                    port,
                    ttl,
                    loop_,
                } => media.push(MediumSpec::Mcast {
                    iface: iface.clone(),
                    group: *group,
                    port: *port,
                    ttl: *ttl as u32,
                    loopback: *loop_,
                }),
                Medium::Ucast {
                    iface,
                    peer,
                    udpport,
                } => media.push(MediumSpec::Ucast {
                    iface: iface.clone(),
                    peer: peer.clone(),
                    port: *udpport,
                }),
                Medium::Mcast6 {
                    iface,
                    group,
                    port,
                    hops,
                    loop_,
                } => media.push(MediumSpec::Mcast6 {
                    iface: iface.clone(),
                    group: *group,
                    port: *port,
                    hops: *hops,
                    loopback: *loop_,
                }),
                Medium::Ucast6 {
                    iface,
                    peer,
                    udpport,
                } => media.push(MediumSpec::Ucast6 {
                    iface: iface.clone(),
                    peer: peer.clone(),
                    port: *udpport,
                }),
                Medium::Serial { device } => media.push(MediumSpec::Serial {
                    device: device.clone(),
                    baud: hacf.baud,
                }),
                Medium::Ping { addr } => {
                    let ip: Ipv4Addr = addr
                        .parse()
                        .with_context(|| format!("ping {addr}: not an IPv4 address"))?;
                    ping.push((addr.clone(), vec![SocketAddr::from((ip, 0))]));
                }
                Medium::Ping6 { addr } => {
                    let to =
                        crate::ping::ping6_target(addr).with_context(|| format!("ping6 {addr}"))?;
                    ping.push((addr.clone(), vec![to]));
                }
                Medium::PingGroup { name, addrs } => {
                    let mut ips = Vec::new();
                    for a in addrs {
                        let ip = a.parse::<Ipv4Addr>().with_context(|| {
                            format!("ping_group {name} {a}: not an IPv4 address")
                        })?;
                        ips.push(SocketAddr::from((ip, 0)));
                    }
                    ping.push((name.clone(), ips));
                }
            }
        }
        if media.is_empty() {
            bail!("{}: no communication medium", paths.ha_cf().display());
        }

        let warnings = hacf.warnings.clone();

        let facility = hacf
            .logfacility
            .filter(|f| f.logs_to_syslog())
            .map(|f| f.code);
        let any_dest = hacf.logfile.is_some() || hacf.debugfile.is_some() || facility.is_some();
        let log = LogConfig {
            logfile: hacf.logfile.clone(),
            debugfile: hacf.debugfile.clone(),
            // heartbeat with no destination logs through ha_logd to syslog.
            facility: if any_dest {
                facility
            } else {
                crate::logging::facility_code("daemon")
            },
            syslogmsgfmt: hacf.syslogmsgfmt,
            debug: hacf.debug.saturating_add(debug_flags),
            stderr: foreground && !any_dest,
            entity: "heartbeat".into(),
            hostname: node.to_string(),
        };

        let apiauth = hacf
            .apiauth
            .iter()
            .map(|a| hb_api::server::ApiAuth {
                name: a.client.clone(),
                uids: a.uids.clone().unwrap_or_default(),
                gids: a.gids.clone().unwrap_or_default(),
            })
            .collect();

        Ok(DaemonConfig {
            node: node.to_string(),
            packet,
            msgfmt,
            media,
            ping,
            log,
            log_badpack: hacf.log_badpack,
            warnings,
            apiauth,
            genmethod: match hacf.hbgenmethod {
                hacf::GenMethod::File => GenMethod::File,
                hacf::GenMethod::Time => GenMethod::Time,
            },
            uuid_from_nodename: hacf.uuidfrom == hacf::UuidFrom::Nodename,
            realtime: hacf.realtime,
            hacf,
            authkeys_path,
            authkeys_mtime,
        })
    }

    /// The core's configuration; `links` are the heartbeat media names followed by one
    /// link per ping node.
    pub fn core_config(&self, links: Vec<String>, generation: u64, uuid: [u8; 16]) -> CoreConfig {
        let h = &self.hacf;
        let mut c = CoreConfig::new(self.node.clone(), h.nodes.clone());
        c.local_uuid = uuid;
        c.generation = generation;
        c.ping_nodes = self.ping.iter().map(|(n, _)| n.clone()).collect();
        c.links = links;
        c.keepalive = h.keepalive;
        c.deadtime = h.deadtime;
        c.warntime = h.warntime;
        c.initdead = h.initdead;
        c.deadping = h.deadping;
        c.max_rexmit_delay = h.max_rexmit_delay;
        c.hopfudge = h.hopfudge as u32;
        c.autojoin = match h.autojoin {
            hacf::AutoJoin::None => hb_core::AutoJoin::None,
            hacf::AutoJoin::Other => hb_core::AutoJoin::Other,
            hacf::AutoJoin::Any => hb_core::AutoJoin::Any,
        };
        c.rng_seed = generation ^ u64::from_le_bytes(uuid[..8].try_into().unwrap_or([0; 8]));
        c
    }

    /// Ping targets with their link indexes, given where ping links start.
    pub fn ping_targets(&self, first_link: usize) -> Vec<PingTarget> {
        self.ping
            .iter()
            .enumerate()
            .map(|(i, (node, addrs))| PingTarget {
                node: node.clone(),
                addrs: addrs.clone(),
                link: first_link + i,
            })
            .collect()
    }

    /// SIGHUP: re-reads authkeys if it changed. Returns whether it did.
    pub fn reload_authkeys(&mut self, _paths: &Paths) -> Result<bool> {
        let mtime = std::fs::metadata(&self.authkeys_path)
            .and_then(|m| m.modified())
            .ok();
        if mtime == self.authkeys_mtime {
            return Ok(false);
        }
        let keys = hb_config::authkeys::load(&self.authkeys_path)?;
        self.packet.keyring = keyring_from(&keys);
        self.authkeys_mtime = mtime;
        Ok(true)
    }
}

/// `heartbeat -D`: the directives and their defaults.
pub fn print_defaults(wiki: bool) {
    if wiki {
        println!("||'''Directive'''||'''Default'''||'''Description'''||");
        for (d, def, desc) in hacf::defaults_table() {
            println!("||{d}||{def}||{desc}||");
        }
    } else {
        print!("{}", hacf::render_defaults_table());
    }
}
