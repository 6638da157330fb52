//! Gratuitous ARP over a raw AF_PACKET socket, replacing heartbeat's
//! `send_arp`: each repetition broadcasts an ARP request and an ARP reply
//! announcing `ip is-at <our MAC>` (some switches only learn from replies,
//! reference 6.1), then sleeps the interval.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use crate::procs::PidFile;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const ARPOP_REQUEST: u16 = 1;
const ARPOP_REPLY: u16 = 2;
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Errors while sending ARP announcements.
#[derive(Debug, thiserror::Error)]
pub enum ArpError {
    #[error("interface {nic}: {source}")]
    Interface {
        nic: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {nic} has no usable hardware address ({addr:?})")]
    NoMac { nic: String, addr: String },
    #[error("raw ARP socket on {nic}: {source}")]
    Socket {
        nic: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sending ARP for {ip} on {nic}: {source}")]
    Send {
        nic: String,
        ip: Ipv4Addr,
        #[source]
        source: std::io::Error,
    },
}

impl ArpError {
    /// Permission problems map to OCF_ERR_PERM, the rest to a generic error.
    pub fn is_permission(&self) -> bool {
        let e = match self {
            ArpError::Interface { source, .. }
            | ArpError::Socket { source, .. }
            | ArpError::Send { source, .. } => source,
            ArpError::NoMac { .. } => return false,
        };
        e.kind() == std::io::ErrorKind::PermissionDenied
    }
}

/// How many announcements to send and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPlan {
    pub count: u32,
    pub interval: Duration,
}

/// The interface's MAC from sysfs.
pub fn hw_addr(nic: &str) -> Result<[u8; 6], ArpError> {
    let path = format!("/sys/class/net/{nic}/address");
    let text = std::fs::read_to_string(&path).map_err(|source| ArpError::Interface {
        nic: nic.to_string(),
        source,
    })?;
    parse_mac(text.trim()).ok_or_else(|| ArpError::NoMac {
        nic: nic.to_string(),
        addr: text.trim().to_string(),
    })
}

/// `aa:bb:cc:dd:ee:ff` → bytes; all-zero (loopback) is not usable.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    if parts.next().is_some() || mac == [0; 6] {
        return None;
    }
    Some(mac)
}

/// Builds one Ethernet frame carrying an ARP announcement for `ip`.
pub fn frame(mac: [u8; 6], ip: Ipv4Addr, op: u16) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&BROADCAST_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // htype Ethernet
    f[16..18].copy_from_slice(&ETH_P_IP.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&op.to_be_bytes());
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    // Target hardware address: broadcast, like send_arp's default
    // ARP_NETMASK ffffffffffff; target protocol address: the VIP itself.
    f[32..38].copy_from_slice(&BROADCAST_MAC);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// A raw ARP socket bound to one interface.
struct ArpSocket {
    fd: OwnedFd,
    nic: String,
    mac: [u8; 6],
    /// Link-level destination: the broadcast address on this interface.
    dest: libc::sockaddr_ll,
}

impl ArpSocket {
    fn open(nic: &str) -> Result<Self, ArpError> {
        let mac = hw_addr(nic)?;
        let ifindex = nix::net::if_::if_nametoindex(nic).map_err(|e| ArpError::Interface {
            nic: nic.to_string(),
            source: e.into(),
        })?;
        let sock_err = |source| ArpError::Socket {
            nic: nic.to_string(),
            source,
        };
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ARP.to_be()),
            )
        };
        if raw < 0 {
            return Err(sock_err(std::io::Error::last_os_error()));
        }
        // SAFETY: raw is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid start.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ARP.to_be();
        sll.sll_ifindex = ifindex as i32;
        // Binding restricts what we receive (for the duplicate probe) to
        // this interface.
        // SAFETY: sll is a valid sockaddr_ll and the length matches it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(sock_err(std::io::Error::last_os_error()));
        }
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
        Ok(ArpSocket {
            fd,
            nic: nic.to_string(),
            mac,
            dest: sll,
        })
    }

    fn send(&self, f: &[u8], ip: Ipv4Addr) -> Result<(), ArpError> {
        // SAFETY: f and dest outlive the call; lengths match the buffers.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                f.as_ptr().cast(),
                f.len(),
                0,
                (&self.dest as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(ArpError::Send {
                nic: self.nic.clone(),
                ip,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Receives one frame, or None when `timeout` passes first.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Option<usize> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd; buf is writable for its length.
        unsafe {
            if libc::poll(&mut pfd, 1, ms) <= 0 {
                return None;
            }
            let n = libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
            usize::try_from(n).ok()
        }
    }
}

/// Sends `plan.count` request+reply pairs for `ip` on `nic`.
pub fn announce(nic: &str, ip: Ipv4Addr, plan: ArpPlan) -> Result<(), ArpError> {
    let sock = ArpSocket::open(nic)?;
    let frames = [
        frame(sock.mac, ip, ARPOP_REQUEST),
        frame(sock.mac, ip, ARPOP_REPLY),
    ];
    for i in 0..plan.count {
        for f in &frames {
            sock.send(f, ip)?;
        }
        if i + 1 < plan.count {
            std::thread::sleep(plan.interval);
        }
    }
    Ok(())
}

/// An RFC 5227 ARP probe: "who has `ip`?" from sender address 0.0.0.0, so
/// nobody's cache is touched.
pub fn probe_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = frame(mac, ip, ARPOP_REQUEST);
    f[28..32].copy_from_slice(&[0; 4]);
    f[32..38].copy_from_slice(&[0; 6]);
    f
}

/// Whether a received ARP frame shows another host using `ip`: any ARP
/// packet whose sender protocol address is `ip` from a MAC not ours.
pub fn claims(frame: &[u8], ip: Ipv4Addr, our_mac: [u8; 6]) -> Option<[u8; 6]> {
    if frame.len() < 42 || frame[12..14] != ETH_P_ARP.to_be_bytes() {
        return None;
    }
    let sha: [u8; 6] = frame[22..28].try_into().ok()?;
    (frame[28..32] == ip.octets() && sha != our_mac).then_some(sha)
}

/// Duplicate address detection before taking an address over: sends
/// `probes` ARP probes and listens for `wait`. Returns the MAC of a host
/// that answers for `ip`, if any.
pub fn find_duplicate(
    nic: &str,
    ip: Ipv4Addr,
    probes: u32,
    wait: Duration,
) -> Result<Option<[u8; 6]>, ArpError> {
    let sock = ArpSocket::open(nic)?;
    let probe = probe_frame(sock.mac, ip);
    let deadline = std::time::Instant::now() + wait;
    let gap = wait / probes.max(1);
    let mut buf = [0u8; 1514];
    for _ in 0..probes.max(1) {
        sock.send(&probe, ip)?;
        let until = (std::time::Instant::now() + gap).min(deadline);
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            // The payload starts after the link header when the socket
            // is SOCK_RAW, so offsets match `frame`.
            if let Some(n) = sock.recv(&mut buf, left) {
                if let Some(mac) = claims(&buf[..n], ip, sock.mac) {
                    return Ok(Some(mac));
                }
            }
        }
    }
    Ok(None)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Starts `announce` in a detached child (`ra-agents send_arp …`) that
/// records itself in `pidfile`, so start does not wait for the ARP train.
pub fn announce_background(
    nic: &str,
    ip: Ipv4Addr,
    plan: ArpPlan,
    pidfile: &std::path::Path,
) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    // Dispatch is by argv[0], which also lets stop recognise the sender.
    cmd.arg0("send_arp")
        .arg("-i")
        .arg(plan.interval.as_millis().to_string())
        .arg("-r")
        .arg(plan.count.to_string())
        .arg("-p")
        .arg(pidfile)
        .arg(nic)
        .arg(ip.to_string())
        // No inherited stdout/stderr: a runner waiting for EOF on the
        // agent's pipes must not wait for the ARP train. Failures go to syslog.
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env("RA_SEND_ARP_SYSLOG", "1");
    // SAFETY: setsid is async-signal-safe; it detaches the sender from the
    // agent's process group so an op timeout kill does not cut it short.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn()?;
    PidFile::new(pidfile).write(child.id() as i32)
}

/// Stops a background sender recorded in `pidfile`, if it is still ours.
pub fn stop_background(pidfile: &std::path::Path) {
    let pf = PidFile::new(pidfile);
    let looks_like = |pid: i32| crate::procs::cmdline(pid).iter().any(|a| a == "send_arp");
    if let crate::procs::PidState::Running(pid) = pf.state(looks_like) {
        crate::procs::terminate(pid, Duration::from_secs(1), Duration::from_secs(1));
    }
    let _ = pf.remove();
}

/// `ra-agents send_arp [-i ms] [-r count] [-p pidfile] device ip [hwaddr bcast netmask]`:
/// the command line of heartbeat's send_arp (the trailing arguments are
/// accepted and ignored like the original's).
pub fn cli(args: &[OsString]) -> i32 {
    let usage = "usage: send_arp [-i repeatinterval-ms] [-r repeatcount] [-p pidfile] \
                 device src_ip_addr [src_hw_addr broadcast_ip_addr netmask]";
    let mut plan = ArpPlan {
        count: 5,
        interval: Duration::from_millis(200),
    };
    let mut pidfile: Option<PathBuf> = None;
    let mut pos: Vec<String> = Vec::new();
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        match a.as_str() {
            "-i" | "-r" | "-p" => {
                let Some(v) = it.next() else {
                    eprintln!("{usage}");
                    return 1;
                };
                match a.as_str() {
                    "-i" => match v.parse() {
                        Ok(ms) => plan.interval = Duration::from_millis(ms),
                        Err(_) => {
                            eprintln!("send_arp: bad interval {v:?}");
                            return 1;
                        }
                    },
                    "-r" => match v.parse() {
                        Ok(n) => plan.count = n,
                        Err(_) => {
                            eprintln!("send_arp: bad repeat count {v:?}");
                            return 1;
                        }
                    },
                    _ => pidfile = Some(PathBuf::from(v)),
                }
            }
            _ => pos.push(a),
        }
    }
    let (Some(nic), Some(ip)) = (pos.first(), pos.get(1)) else {
        eprintln!("{usage}");
        return 1;
    };
    let Ok(ip) = ip.parse::<Ipv4Addr>() else {
        eprintln!("send_arp: invalid IPv4 address {ip:?}");
        return 1;
    };
    let pf = pidfile.map(PidFile::new);
    if let Some(pf) = &pf {
        if let Err(e) = pf.write(std::process::id() as i32) {
            eprintln!("send_arp: pid file {}: {e}", pf.path.display());
        }
    }
    let rc = match announce(nic, ip, plan) {
        Ok(()) => 0,
        Err(e) => {
            let msg = format!("send_arp: {e}");
            eprintln!("{msg}");
            if std::env::var_os("RA_SEND_ARP_SYSLOG").is_some() {
                syslog_err(&msg);
            }
            1
        }
    };
    if let Some(pf) = &pf {
        let _ = pf.remove();
    }
    rc
}

/// Reports a background sender's failure, which nobody else would see.
fn syslog_err(msg: &str) {
    let Ok(text) = std::ffi::CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated and outlive the calls; "%s"
    // keeps the message from being interpreted as a format.
    unsafe {
        libc::openlog(c"send_arp".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON);
        libc::syslog(libc::LOG_ERR, c"%s".as_ptr(), text.as_ptr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_announces_ip_from_mac() {
        let mac = [2, 0, 0, 0, 0, 1];
        let ip: Ipv4Addr = "10.0.0.9".parse().expect("ip");
        let f = frame(mac, ip, ARPOP_REPLY);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 2]);
        assert_eq!(&f[22..28], &mac);
        assert_eq!(&f[28..32], &[10, 0, 0, 9]);
        assert_eq!(&f[38..42], &[10, 0, 0, 9]);
    }

    #[test]
    fn probe_and_conflict_detection() {
        let ours = [2, 0, 0, 0, 0, 1];
        let theirs = [2, 0, 0, 0, 0, 2];
        let ip: Ipv4Addr = "10.0.0.9".parse().expect("ip");
        let p = probe_frame(ours, ip);
        assert_eq!(&p[28..32], &[0; 4], "probe sender ip is 0.0.0.0");
        assert_eq!(&p[38..42], &[10, 0, 0, 9]);
        // Our own probe/announcements are not a conflict; another MAC
        // answering for the address is.
        assert_eq!(claims(&p, ip, ours), None);
        assert_eq!(claims(&frame(ours, ip, ARPOP_REPLY), ip, ours), None);
        assert_eq!(
            claims(&frame(theirs, ip, ARPOP_REPLY), ip, ours),
            Some(theirs)
        );
        assert_eq!(
            claims(&frame(theirs, ip, ARPOP_REPLY)[..20], ip, ours),
            None
        );
        assert_eq!(fmt_mac(theirs), "02:00:00:00:00:02");
    }

    #[test]
    fn mac_parsing_rejects_loopback_and_garbage() {
        assert_eq!(parse_mac("02:00:00:00:00:01"), Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(parse_mac("00:00:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("zz:00:00:00:00:01"), None);
    }
}
