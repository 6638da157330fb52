//! Communication media: the sockets and ttys heartbeat packets travel on.
//!
//! A *link* is what `cl_status listhblinks` shows: one local interface (or tty) name.
//! Several ha.cf media lines can share a link (two `ucast eth0 …` lines), and every
//! outgoing packet goes out on every link, as heartbeat's write children do, so the
//! links are redundant paths for the same stream.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Largest datagram heartbeat reads (MAXMSG).
pub const MAXMSG: usize = 262_144;

/// One medium line of ha.cf, resolved to what the daemon needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediumSpec {
    Bcast {
        iface: String,
        port: u16,
    },
    Mcast {
        iface: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u32,
        loopback: bool,
    },
    Ucast {
        iface: String,
        peer: String,
        port: u16,
    },
    Serial {
        device: PathBuf,
        baud: u32,
    },
}

impl MediumSpec {
    /// The link name peers' status is reported under (a local name).
    pub fn link_name(&self) -> String {
        match self {
            MediumSpec::Bcast { iface, .. }
            | MediumSpec::Mcast { iface, .. }
            | MediumSpec::Ucast { iface, .. } => iface.clone(),
            MediumSpec::Serial { device, .. } => device.display().to_string(),
        }
    }
}

/// A packet that arrived on a link.
#[derive(Debug)]
pub struct Inbound {
    pub link: usize,
    pub bytes: Vec<u8>,
    /// Peer address or tty, for error messages.
    pub from: String,
}

enum Writer {
    Udp {
        sock: Socket,
        dests: Vec<SocketAddr>,
    },
    Serial {
        fd: Arc<AsyncFd<OwnedFd>>,
        name: String,
    },
}

/// The outgoing side of all links.
pub struct Media {
    names: Vec<String>,
    writers: Vec<(usize, Writer)>,
    has_serial: bool,
}

/// The two renderings of one outgoing message: UDP media carry the netstring packet,
/// serial media the classic text with its in-band `auth` field.
pub struct OutPacket<'a> {
    pub udp: &'a [u8],
    pub serial: Option<&'a [u8]>,
}

impl Media {
    pub fn link_names(&self) -> &[String] {
        &self.names
    }

    pub fn has_serial(&self) -> bool {
        self.has_serial
    }

    /// Writes one packet to every link. A failing link is logged and skipped: the
    /// other links are the redundancy that keeps the node alive.
    pub fn send(&self, pkt: &OutPacket<'_>) {
        for (link, w) in &self.writers {
            match w {
                Writer::Udp { sock, dests } => {
                    for d in dests {
                        if let Err(e) = sock.send_to(pkt.udp, &(*d).into()) {
                            tracing::error!(
                                "Unable to send HBcomm packet {} {} len={}: {}",
                                self.names[*link],
                                d,
                                pkt.udp.len(),
                                e
                            );
                        }
                    }
                }
                Writer::Serial { fd, name } => {
                    if let Some(text) = pkt.serial {
                        if let Err(e) = write_all_fd(fd.get_ref(), text) {
                            tracing::warn!("TTY write failure on [{}]: {}", name, e);
                        }
                    }
                }
            }
        }
    }
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    // A tty whose peer is not reading fills up; bounded retries keep the master loop
    // from blocking on a dead cable (heartbeat uses a 500 ms alarm for the same reason).
    let mut spins = 0;
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EAGAIN) if spins < 50 => {
                spins += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(())
}

/// Opens every medium, starts one reader task per socket/tty feeding `tx`.
pub fn open(specs: &[MediumSpec], tx: mpsc::Sender<Inbound>) -> Result<Media> {
    let mut names: Vec<String> = Vec::new();
    let mut link_of = BTreeMap::new();
    for s in specs {
        let n = s.link_name();
        if !link_of.contains_key(&n) {
            link_of.insert(n.clone(), names.len());
            names.push(n);
        }
    }
    let local_addrs = local_ipv4_addrs();
    let own = OwnSenders::new(local_addrs.clone());
    let mut writers = Vec::new();
    let mut has_serial = false;
    // Receive sockets are shared per (interface, port): several ucast lines on one
    // interface must not open competing SO_REUSEPORT sockets that split the traffic.
    let mut udp_readers: BTreeMap<(String, u16), ()> = BTreeMap::new();
    for s in specs {
        let link = link_of[&s.link_name()];
        match s {
            MediumSpec::Bcast { iface, port } => {
                let bcast = iface_broadcast(iface)?;
                let sock = udp_send_socket(iface, &own)?;
                sock.set_broadcast(true)
                    .context("SO_BROADCAST on bcast socket")?;
                set_dontroute(&sock)?;
                writers.push((
                    link,
                    Writer::Udp {
                        sock,
                        dests: vec![SocketAddr::V4(SocketAddrV4::new(bcast, *port))],
                    },
                ));
                if udp_readers.insert((iface.clone(), *port), ()).is_none() {
                    let r = udp_recv_socket(Some(iface), Ipv4Addr::UNSPECIFIED, *port)?;
                    spawn_udp_reader(r, link, tx.clone(), own.clone())?;
                }
                tracing::info!(
                    "UDP Broadcast heartbeat started on port {} ({}) interface {}",
                    port,
                    port,
                    iface
                );
            }
            MediumSpec::Mcast {
                iface,
                group,
                port,
                ttl,
                loopback,
            } => {
                let addr = iface_ipv4(iface)?;
                let sock = udp_send_socket(iface, &own)?;
                sock.set_multicast_if_v4(&addr).context("IP_MULTICAST_IF")?;
                sock.set_multicast_ttl_v4(*ttl)
                    .context("IP_MULTICAST_TTL")?;
                sock.set_multicast_loop_v4(*loopback)
                    .context("IP_MULTICAST_LOOP")?;
                writers.push((
                    link,
                    Writer::Udp {
                        sock,
                        dests: vec![SocketAddr::V4(SocketAddrV4::new(*group, *port))],
                    },
                ));
                let r = udp_recv_socket(None, *group, *port)?;
                r.join_multicast_v4(group, &addr).with_context(|| {
                    format!("cannot join multicast group {group} on {iface} ({addr})")
                })?;
                spawn_udp_reader(r, link, tx.clone(), own.clone())?;
                tracing::info!(
                    "UDP multicast heartbeat started for group {} port {} interface {} (ttl={} loop={})",
                    group,
                    port,
                    iface,
                    ttl,
                    *loopback as u8
                );
            }
            MediumSpec::Ucast { iface, peer, port } => {
                let ip = resolve_v4(peer)
                    .with_context(|| format!("ucast {iface} {peer}: cannot resolve peer"))?;
                if udp_readers.insert((iface.clone(), *port), ()).is_none() {
                    let r = udp_recv_socket(Some(iface), Ipv4Addr::UNSPECIFIED, *port)?;
                    spawn_udp_reader(r, link, tx.clone(), own.clone())?;
                }
                if local_addrs.contains(&ip) {
                    // Identical ha.cf files on every node list every node's address;
                    // the line naming ourselves is simply not used for sending.
                    tracing::debug!("ucast {} {}: own address, not sending there", iface, peer);
                    continue;
                }
                let sock = udp_send_socket(iface, &own)?;
                writers.push((
                    link,
                    Writer::Udp {
                        sock,
                        dests: vec![SocketAddr::V4(SocketAddrV4::new(ip, *port))],
                    },
                ));
                tracing::info!(
                    "UDP unicast heartbeat started to {} port {} interface {}",
                    ip,
                    port,
                    iface
                );
            }
            MediumSpec::Serial { device, baud } => {
                let fd = open_tty(device, *baud)?;
                // SAFETY: the OwnedFd is moved into the AsyncFd and stays open as long
                // as it lives.
                let fd = unsafe { AsyncFd::register(fd) }
                    .map_err(|e| anyhow!("cannot poll {}: {:?}", device.display(), e))?;
                let fd = Arc::new(fd);
                has_serial = true;
                writers.push((
                    link,
                    Writer::Serial {
                        fd: fd.clone(),
                        name: device.display().to_string(),
                    },
                ));
                spawn_serial_reader(fd, link, device.display().to_string(), tx.clone());
                tracing::info!(
                    "Starting serial heartbeat on tty {} (baud {})",
                    device.display(),
                    baud
                );
            }
        }
    }
    Ok(Media {
        names,
        writers,
        has_serial,
    })
}

fn udp_send_socket(iface: &str, own: &OwnSenders) -> Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot create UDP socket")?;
    s.bind_device(Some(iface.as_bytes()))
        .with_context(|| format!("SO_BINDTODEVICE {iface}"))?;
    // Bind now so the source port is known: our own broadcasts come back to us and
    // are recognised by it.
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())
        .context("cannot bind UDP send socket")?;
    if let Some(port) = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
    {
        own.add_port(port);
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The addresses our own packets leave from. The kernel hands every broadcast we send
/// back to our receive socket; the core needs nothing from those copies (our own links
/// never time out), so they are dropped before paying for authentication.
#[derive(Clone)]
pub struct OwnSenders {
    addrs: Arc<Vec<Ipv4Addr>>,
    ports: Arc<std::sync::Mutex<Vec<u16>>>,
}

impl OwnSenders {
    fn new(addrs: Vec<Ipv4Addr>) -> Self {
        OwnSenders {
            addrs: Arc::new(addrs),
            ports: Arc::default(),
        }
    }

    fn add_port(&self, port: u16) {
        if let Ok(mut p) = self.ports.lock() {
            p.push(port);
        }
    }

    pub fn is_own(&self, from: &SocketAddr) -> bool {
        let SocketAddr::V4(v4) = from else {
            return false;
        };
        self.addrs.contains(v4.ip())
            && self
                .ports
                .lock()
                .map(|p| p.contains(&v4.port()))
                .unwrap_or(false)
    }
}

fn udp_recv_socket(iface: Option<&str>, addr: Ipv4Addr, port: u16) -> Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot create UDP socket")?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if let Some(i) = iface {
        s.bind_device(Some(i.as_bytes()))
            .with_context(|| format!("SO_BINDTODEVICE {i}"))?;
    }
    let _ = s.set_recv_buffer_size(MAXMSG * 2);
    s.bind(&SocketAddr::V4(SocketAddrV4::new(addr, port)).into())
        .with_context(|| format!("cannot bind UDP {addr}:{port}"))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn set_dontroute(s: &Socket) -> Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: plain setsockopt on a socket we own, with a correctly sized int.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DONTROUTE,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).context("SO_DONTROUTE");
    }
    Ok(())
}

fn spawn_udp_reader(
    sock: Socket,
    link: usize,
    tx: mpsc::Sender<Inbound>,
    own: OwnSenders,
) -> Result<()> {
    let std_sock: std::net::UdpSocket = sock.into();
    let sock = UdpSocket::from_std(std_sock).context("cannot register UDP socket")?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    if own.is_own(&from) {
                        continue;
                    }
                    let msg = Inbound {
                        link,
                        bytes: buf[..n].to_vec(),
                        from: from.to_string(),
                    };
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("UDP receive error on link {}: {}", link, e);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

fn baud_rate(baud: u32) -> Result<nix::sys::termios::BaudRate> {
    use nix::sys::termios::BaudRate as B;
    Ok(match baud {
        9600 => B::B9600,
        19200 => B::B19200,
        38400 => B::B38400,
        57600 => B::B57600,
        115200 => B::B115200,
        230400 => B::B230400,
        460800 => B::B460800,
        _ => bail!("unsupported baud rate {baud}"),
    })
}

fn open_tty(device: &Path, baud: u32) -> Result<OwnedFd> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use nix::sys::termios::{self, ControlFlags, SetArg};
    use std::os::fd::FromRawFd;
    let raw = open(
        device,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", device.display()))?;
    // SAFETY: `raw` was just returned by open(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut t =
        termios::tcgetattr(&fd).with_context(|| format!("{} is not a tty", device.display()))?;
    termios::cfmakeraw(&mut t);
    t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
    termios::cfsetspeed(&mut t, baud_rate(baud)?)?;
    termios::tcsetattr(&fd, SetArg::TCSANOW, &t)
        .with_context(|| format!("cannot set line parameters of {}", device.display()))?;
    let _ = termios::tcflush(&fd, termios::FlushArg::TCIOFLUSH);
    Ok(fd)
}

/// Splits a serial byte stream into classic messages: everything from a `>>>` line up
/// to and including the next `<<<` line. Bytes before a `>>>` are line noise.
#[derive(Default)]
pub struct SerialFramer {
    buf: Vec<u8>,
}

impl SerialFramer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let start = find(&self.buf, b">>>\n")?;
            if start > 0 && self.buf[start - 1] != b'\n' {
                // ">>>" in the middle of a line is not a message start.
                self.buf.drain(..start + 1);
                continue;
            }
            self.buf.drain(..start);
            match find(&self.buf, b"\n<<<\n") {
                Some(end) => {
                    let frame: Vec<u8> = self.buf.drain(..end + 5).collect();
                    return Some(frame);
                }
                None => {
                    if self.buf.len() > MAXMSG {
                        tracing::error!("serial_read: serial_pkt exceeds MAXMSG");
                        self.buf.clear();
                    }
                    return None;
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn spawn_serial_reader(
    fd: Arc<AsyncFd<OwnedFd>>,
    link: usize,
    name: String,
    tx: mpsc::Sender<Inbound>,
) {
    tokio::spawn(async move {
        let mut framer = SerialFramer::default();
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = match fd.readable().await {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!("serial {}: poll failed: {}", name, e);
                    return;
                }
            };
            match guard.try_io(|inner| {
                nix::unistd::read(inner.get_ref().as_raw_fd(), &mut buf).map_err(io::Error::from)
            }) {
                Ok(Ok(0)) => {
                    // Peer end of a pty closed: wait instead of spinning.
                    guard.clear_ready();
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Ok(Ok(n)) => {
                    framer.push(&buf[..n]);
                    while let Some(frame) = framer.next_frame() {
                        let msg = Inbound {
                            link,
                            bytes: frame,
                            from: name.clone(),
                        };
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!("EOF in ttygets [{}]: {}", name, e);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(_would_block) => continue,
            }
        }
    });
}

/// IPv4 addresses configured on this host (this namespace).
pub fn local_ipv4_addrs() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
                out.push(sin.ip());
            }
        }
    }
    out
}

fn iface_ipv4(iface: &str) -> Result<Ipv4Addr> {
    let addrs = nix::ifaddrs::getifaddrs().context("getifaddrs")?;
    for a in addrs {
        if a.interface_name != iface {
            continue;
        }
        if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
            return Ok(sin.ip());
        }
    }
    Err(anyhow!("interface {iface} has no IPv4 address"))
}

fn iface_broadcast(iface: &str) -> Result<Ipv4Addr> {
    let addrs = nix::ifaddrs::getifaddrs().context("getifaddrs")?;
    for a in addrs {
        if a.interface_name != iface {
            continue;
        }
        if let Some(sin) = a.broadcast.as_ref().and_then(|s| s.as_sockaddr_in()) {
            return Ok(sin.ip());
        }
    }
    Err(anyhow!(
        "interface {iface} has no IPv4 broadcast address (bcast medium)"
    ))
}

fn resolve_v4(host: &str) -> Result<Ipv4Addr> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    for a in (host, 0).to_socket_addrs()? {
        if let IpAddr::V4(v4) = a.ip() {
            return Ok(v4);
        }
    }
    Err(anyhow!("{host} has no IPv4 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_framer_skips_noise_and_splits_messages() {
        let mut f = SerialFramer::default();
        f.push(b"garbage\n>>>\nt=status\n");
        assert_eq!(f.next_frame(), None);
        f.push(b"<<<\n>>>\nt=a\n<<<\n>>>\nt=b");
        assert_eq!(f.next_frame().unwrap(), b">>>\nt=status\n<<<\n");
        assert_eq!(f.next_frame().unwrap(), b">>>\nt=a\n<<<\n");
        assert_eq!(f.next_frame(), None);
        f.push(b"\n<<<\n");
        assert_eq!(f.next_frame().unwrap(), b">>>\nt=b\n<<<\n");
    }

    #[test]
    fn serial_framer_ignores_marker_inside_a_line() {
        let mut f = SerialFramer::default();
        f.push(b"x>>>\nt=evil\n<<<\n>>>\nt=ok\n<<<\n");
        assert_eq!(f.next_frame().unwrap(), b">>>\nt=ok\n<<<\n");
    }

    #[test]
    fn serial_framer_bounds_its_buffer() {
        let mut f = SerialFramer::default();
        f.push(b">>>\n");
        f.push(&vec![b'a'; MAXMSG + 10]);
        assert_eq!(f.next_frame(), None);
        f.push(b">>>\nt=x\n<<<\n");
        assert_eq!(f.next_frame().unwrap(), b">>>\nt=x\n<<<\n");
    }

    #[test]
    fn link_names_are_local_names() {
        let m = MediumSpec::Serial {
            device: "/dev/ttyS0".into(),
            baud: 19200,
        };
        assert_eq!(m.link_name(), "/dev/ttyS0");
        let u = MediumSpec::Ucast {
            iface: "eth1".into(),
            peer: "10.0.0.2".into(),
            port: 694,
        };
        assert_eq!(u.link_name(), "eth1");
    }
}
