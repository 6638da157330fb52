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
    Mcast6 {
        iface: String,
        group: std::net::Ipv6Addr,
        port: u16,
        hops: u8,
        loopback: bool,
    },
    Ucast6 {
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
            | MediumSpec::Ucast { iface, .. }
            | MediumSpec::Mcast6 { iface, .. }
            | MediumSpec::Ucast6 { iface, .. } => iface.clone(),
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

    /// Whether `link` is one of two or more serial ports: a node of a serial ring,
    /// which passes on what arrives on one port to the others.
    pub fn is_ring_port(&self, link: usize) -> bool {
        let mut ports = self
            .writers
            .iter()
            .filter(|(_, w)| matches!(w, Writer::Serial { .. }));
        ports.clone().count() >= 2 && ports.any(|(l, _)| *l == link)
    }

    /// Writes a forwarded classic message to every serial port but `arrived_on`.
    pub fn forward_serial(&self, arrived_on: usize, text: &[u8]) {
        for (link, w) in &self.writers {
            if let Writer::Serial { fd, name } = w {
                if *link == arrived_on {
                    continue;
                }
                if let Err(e) = write_all_fd(fd.get_ref(), text) {
                    tracing::warn!("TTY write failure on [{}]: {}", name, e);
                }
            }
        }
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

/// Opens every medium. UDP receive sockets are read by the event loop itself through
/// the returned [`UdpInbox`]; each tty gets a reader task feeding `tx`.
pub fn open(specs: &[MediumSpec], tx: mpsc::Sender<Inbound>) -> Result<(Media, UdpInbox)> {
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
    let own = OwnSenders::new(local_ip_addrs());
    let mut writers = Vec::new();
    let mut has_serial = false;
    // Receive sockets are shared per (interface, port): several ucast lines on one
    // interface must not open competing SO_REUSEPORT sockets that split the traffic.
    let mut udp_readers: BTreeMap<(String, u16), ()> = BTreeMap::new();
    let mut udp6_readers: BTreeMap<(String, u16), ()> = BTreeMap::new();
    let mut inbox = UdpInbox::new(own.clone())?;
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
                    let twin = twin_of(&r, Some(iface), None);
                    inbox.add(r, twin, link)?;
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
                let twin = twin_of(&r, None, Some(Group::V4(*group, addr)));
                inbox.add(r, twin, link)?;
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
                    let twin = twin_of(&r, Some(iface), None);
                    inbox.add(r, twin, link)?;
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
            MediumSpec::Mcast6 {
                iface,
                group,
                port,
                hops,
                loopback,
            } => {
                use crate::media6::*;
                let ifindex = iface_index(iface)?;
                let sock = udp6_send_socket(iface, &own)?;
                mcast6_sender(&sock, ifindex, *hops, *loopback)?;
                writers.push((
                    link,
                    Writer::Udp {
                        sock,
                        dests: vec![dest6(*group, *port, ifindex)],
                    },
                ));
                let r = udp6_recv_socket(iface, *group, *port)?;
                r.join_multicast_v6(group, ifindex)
                    .with_context(|| format!("cannot join multicast group {group} on {iface}"))?;
                let twin = twin_of(&r, Some(iface), Some(Group::V6(*group, ifindex)));
                inbox.add(r, twin, link)?;
                tracing::info!(
                    "UDP multicast heartbeat started for group {} port {} interface {} (hops={} loop={})",
                    group,
                    port,
                    iface,
                    hops,
                    *loopback as u8
                );
            }
            MediumSpec::Ucast6 { iface, peer, port } => {
                use crate::media6::*;
                let ip = resolve_v6(peer)
                    .with_context(|| format!("ucast6 {iface} {peer}: cannot resolve peer"))?;
                let ifindex = iface_index(iface)?;
                if udp6_readers.insert((iface.clone(), *port), ()).is_none() {
                    let r = udp6_recv_socket(iface, std::net::Ipv6Addr::UNSPECIFIED, *port)?;
                    let twin = twin_of(&r, Some(iface), None);
                    inbox.add(r, twin, link)?;
                }
                if own.is_own_addr(&IpAddr::V6(ip)) {
                    tracing::debug!("ucast6 {} {}: own address, not sending there", iface, peer);
                    continue;
                }
                let sock = udp6_send_socket(iface, &own)?;
                writers.push((
                    link,
                    Writer::Udp {
                        sock,
                        dests: vec![dest6(ip, *port, ifindex)],
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
    // Every send port is known only now: filter all receive sockets against all of them.
    inbox.filter_own_packets();
    Ok((
        Media {
            names,
            writers,
            has_serial,
        },
        inbox,
    ))
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
    addrs: Arc<Vec<IpAddr>>,
    ports: Arc<std::sync::Mutex<Vec<u16>>>,
}

impl OwnSenders {
    fn new(addrs: Vec<IpAddr>) -> Self {
        OwnSenders {
            addrs: Arc::new(addrs),
            ports: Arc::default(),
        }
    }

    pub(crate) fn add_port(&self, port: u16) {
        if let Ok(mut p) = self.ports.lock() {
            p.push(port);
        }
    }

    fn ports(&self) -> Vec<u16> {
        self.ports.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Our IPv4 addresses, for the kernel filter (it reads IPv4 headers only).
    fn v4(&self) -> Vec<Ipv4Addr> {
        self.addrs
            .iter()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect()
    }

    pub fn is_own_addr(&self, a: &IpAddr) -> bool {
        self.addrs.contains(a)
    }

    pub fn is_own(&self, from: &SocketAddr) -> bool {
        self.addrs.contains(&from.ip())
            && self
                .ports
                .lock()
                .map(|p| p.contains(&from.port()))
                .unwrap_or(false)
    }
}

pub(crate) fn udp_recv_socket(iface: Option<&str>, addr: Ipv4Addr, port: u16) -> Result<Socket> {
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

/// A multicast group a twin joins as its pair did: (group, interface address) for
/// IPv4, (group, interface index) for IPv6.
enum Group {
    V4(Ipv4Addr, Ipv4Addr),
    V6(std::net::Ipv6Addr, u32),
}

/// The steady-status twin of receive socket `prompt` (see parking.rs): same device,
/// address and port, joined to the same multicast group, bound second so the
/// reuseport program's index 1 is the twin. None when the kernel refuses any step:
/// then everything simply stays on the watched socket.
fn twin_of(prompt: &Socket, iface: Option<&str>, group: Option<Group>) -> Option<Socket> {
    let local = prompt.local_addr().ok()?.as_socket()?;
    let made = (|| -> Result<Socket> {
        let twin = match local {
            SocketAddr::V4(l) => udp_recv_socket(iface, *l.ip(), l.port())?,
            SocketAddr::V6(l) => {
                let iface = iface.ok_or_else(|| anyhow!("IPv6 needs the interface"))?;
                crate::media6::udp6_recv_socket(iface, *l.ip(), l.port())?
            }
        };
        match group {
            Some(Group::V4(g, a)) => twin.join_multicast_v4(&g, &a)?,
            Some(Group::V6(g, index)) => twin.join_multicast_v6(&g, index)?,
            None => {}
        }
        crate::parking::enable_stamps(&twin)?;
        crate::parking::attach_reuseport(prompt)?;
        Ok(twin)
    })();
    match made {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::debug!("no steady-status socket for {}: {:#}", local, e);
            None
        }
    }
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

/// Datagrams asked for per receive call. Getting fewer back proves the socket drained,
/// so its readiness is cleared without the extra `recvfrom` that only says EAGAIN.
pub(crate) const RECV_BATCH: usize = 2;
/// Room for the largest UDP datagram, so nothing is ever truncated.
const DATAGRAM_ROOM: usize = 65_536;
/// Consecutive receive errors tolerated on one socket within one poll.
const RECV_ERROR_RETRIES: u32 = 4;

struct InboxSocket {
    fd: AsyncFd<Socket>,
    link: usize,
}

/// One received datagram, borrowed from the inbox until its next `recv`.
pub struct Datagram<'a> {
    pub link: usize,
    pub bytes: &'a [u8],
    pub from: SocketAddr,
}

/// The UDP receive sockets, read by the event loop itself rather than by reader tasks:
/// a datagram then costs one wake-up and one `recvmmsg`, lands in a buffer reused for
/// every packet, and reaches the loop without a channel hop (a task waking the loop's
/// own future makes tokio poll epoll once more before running it).
pub struct UdpInbox {
    socks: Vec<InboxSocket>,
    /// `RECV_BATCH` slots of `DATAGRAM_ROOM` bytes.
    bufs: RecvRegion,
    /// (link, buffer, length, sender) of what the last `recv` returned.
    got: Vec<(usize, usize, usize, SocketAddr)>,
    /// Socket to read first next time, so a busy link cannot starve the others.
    next: usize,
    own: OwnSenders,
    /// The steady-status twins of `socks`.
    parking: crate::parking::Parking,
}

impl UdpInbox {
    fn new(own: OwnSenders) -> Result<UdpInbox> {
        Ok(UdpInbox {
            socks: Vec::new(),
            bufs: recv_region().context("cannot map UDP receive buffers")?,
            got: Vec::with_capacity(RECV_BATCH),
            next: 0,
            own,
            parking: crate::parking::Parking::new(),
        })
    }

    fn add(&mut self, sock: Socket, twin: Option<Socket>, link: usize) -> Result<()> {
        // SAFETY: the socket moves into the AsyncFd and stays open as long as it lives.
        let fd = unsafe { AsyncFd::register(sock) }
            .map_err(|e| anyhow!("cannot register UDP socket: {e:?}"))?;
        self.socks.push(InboxSocket { fd, link });
        if let Some(t) = twin {
            if let Err(e) = self.parking.add(t, link) {
                tracing::debug!("no steady-status socket on link {}: {}", link, e);
            }
        }
        Ok(())
    }

    /// Reads the steady status queued on the twins (see parking.rs); `each` gets every
    /// datagram not from ourselves with its kernel receive time.
    pub fn drain_parked(&mut self, mut each: impl FnMut(crate::parking::Parked<'_>)) {
        if self.parking.is_empty() {
            return;
        }
        let own = &self.own;
        self.parking.drain(|p| {
            if !own.is_own(&p.from) {
                each(p)
            }
        });
    }

    /// Leaves the twins out of the poll set (`true`, the cluster is settled) or puts
    /// them back.
    pub fn set_parking(&mut self, on: bool) {
        self.parking.set_parked(on);
    }

    /// Our own broadcasts (and multicasts with `loop`) come back to our receive
    /// sockets. A socket filter drops them in the kernel, before they are queued and
    /// wake the daemon; `OwnSenders::is_own` stays as the check of last resort (a
    /// packet queued before the filter, an address added later).
    ///
    /// With twins, the filters also split the steady status from the rest; if any of
    /// those cannot be attached the twins go (a broadcast reaches both sockets of a
    /// pair, and only the filters keep it from being handled twice).
    fn filter_own_packets(&mut self) {
        use crate::parking::{socket_filter, Family, Queue};
        let ports = self.own.ports();
        let own = own_packet_filter(&self.own.v4(), &ports);
        let mut split = !self.parking.is_empty();
        for s in &self.socks {
            let prompt = if self.parking.is_empty() {
                own.clone()
            } else {
                Some(socket_filter(
                    own.clone(),
                    Family::of(s.fd.get_ref()),
                    Queue::Prompt,
                ))
            };
            if let Some(prog) = &prompt {
                if let Err(e) = s.fd.get_ref().attach_filter(prog) {
                    tracing::debug!("no socket filter on link {}: {}", s.link, e);
                    split = false;
                }
            }
        }
        if !split {
            if !self.parking.is_empty() {
                self.parking.clear();
                if let Some(prog) = &own {
                    for s in &self.socks {
                        let _ = s.fd.get_ref().attach_filter(prog);
                    }
                } else {
                    for s in &self.socks {
                        let _ = s.fd.get_ref().detach_filter();
                    }
                }
            }
            return;
        }
        for fd in self.parking.fds() {
            // SAFETY: a borrowed view of a descriptor the twin keeps open meanwhile.
            let sock = std::mem::ManuallyDrop::new(unsafe {
                <Socket as std::os::fd::FromRawFd>::from_raw_fd(fd)
            });
            let parked = socket_filter(own.clone(), Family::of(&sock), Queue::Parked);
            if let Err(e) = sock.attach_filter(&parked) {
                tracing::debug!("no socket filter on a steady-status socket: {}", e);
                split = false;
            }
        }
        if !split {
            self.parking.clear();
            for s in &self.socks {
                let _ = s.fd.get_ref().detach_filter();
            }
            self.filter_own_packets();
        }
    }

    /// Waits for datagrams; returns how many [`UdpInbox::datagrams`] now holds (0 when
    /// only a watched twin is readable: [`UdpInbox::drain_parked`] reads it).
    pub async fn recv(&mut self) -> usize {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// What the last [`UdpInbox::recv`] returned.
    pub fn datagrams(&self) -> impl Iterator<Item = Datagram<'_>> {
        self.got.iter().map(|&(link, buf, len, from)| Datagram {
            link,
            bytes: slot(&self.bufs, buf, len),
            from,
        })
    }

    fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<usize> {
        use std::task::Poll;
        self.got.clear();
        // A watched twin only says "read the twins": the loop drains them after this.
        let twins_ready = self.parking.poll_ready(cx);
        let n = self.socks.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let sock = &self.socks[i];
            let mut errors = 0;
            loop {
                let mut guard = match sock.fd.poll_read_ready(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Ok(g)) => g,
                    Poll::Ready(Err(e)) => {
                        tracing::warn!("UDP receive poll failed on link {}: {}", sock.link, e);
                        break;
                    }
                };
                let mut meta = [(0usize, SocketAddr::from(([0, 0, 0, 0], 0))); RECV_BATCH];
                match recv_batch(
                    sock.fd.get_ref().as_raw_fd(),
                    &mut self.bufs,
                    &mut meta,
                    None,
                ) {
                    Ok(count) => {
                        errors = 0;
                        if count < RECV_BATCH {
                            guard.clear_ready();
                        }
                        for (b, &(len, from)) in meta.iter().enumerate().take(count) {
                            if !self.own.is_own(&from) {
                                self.got.push((sock.link, b, len, from));
                            }
                        }
                        if !self.got.is_empty() {
                            self.next = (i + 1) % n;
                            return Poll::Ready(self.got.len());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!("UDP receive error on link {}: {}", sock.link, e);
                        errors += 1;
                        if errors >= RECV_ERROR_RETRIES {
                            // A broken socket must not spin the loop or flood the log:
                            // register for its next event and leave it until then.
                            guard.clear_ready();
                            let _ = sock.fd.poll_read_ready(cx);
                            break;
                        }
                    }
                }
            }
        }
        if twins_ready {
            return Poll::Ready(0);
        }
        Poll::Pending
    }
}

/// One anonymous mapping for all receive slots: its pages stay shared zero pages until
/// a datagram reaches them, so the room for 64 KiB datagrams costs RSS only when such
/// datagrams come. (malloc would hand out, and zero, heap memory once its adaptive
/// mmap threshold has risen.)
pub(crate) struct RecvRegion {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl RecvRegion {
    fn new(len: usize) -> io::Result<RecvRegion> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(RecvRegion { ptr, len })
    }
}

impl std::ops::Deref for RecvRegion {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is `len` bytes, readable, and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for RecvRegion {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for RecvRegion {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `new`, once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub(crate) fn recv_region() -> io::Result<RecvRegion> {
    RecvRegion::new(RECV_BATCH * DATAGRAM_ROOM)
}

/// The first `len` bytes of slot `j` of a receive region.
pub(crate) fn slot(region: &[u8], j: usize, len: usize) -> &[u8] {
    &region[j * DATAGRAM_ROOM..][..len.min(DATAGRAM_ROOM)]
}

/// `recvmmsg` of up to `RECV_BATCH` datagrams into the slots of `region` without
/// blocking; fills `meta` with (length, sender) and returns the count.
///
/// With `stamps`, the kernel's receive time of each (SO_TIMESTAMPNS, wall-clock
/// nanoseconds; 0 when the socket does not stamp) is read from the control data.
pub(crate) fn recv_batch(
    fd: std::os::fd::RawFd,
    region: &mut [u8],
    meta: &mut [(usize, SocketAddr); RECV_BATCH],
    mut stamps: Option<&mut [u64; RECV_BATCH]>,
) -> io::Result<usize> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut names: [libc::sockaddr_storage; RECV_BATCH] = unsafe { std::mem::zeroed() };
    let mut iovs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
    // Room for one SCM_TIMESTAMPNS per datagram, aligned for cmsghdr.
    let mut controls = [[0u64; 8]; RECV_BATCH];
    let count = (region.len() / DATAGRAM_ROOM).min(RECV_BATCH);
    for (j, chunk) in region
        .chunks_exact_mut(DATAGRAM_ROOM)
        .take(count)
        .enumerate()
    {
        iovs[j] = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast(),
            iov_len: chunk.len(),
        };
        let h = &mut hdrs[j].msg_hdr;
        h.msg_name = (&mut names[j] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &mut iovs[j];
        h.msg_iovlen = 1;
        if stamps.is_some() {
            h.msg_control = controls[j].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of_val(&controls[j]) as _;
        }
    }
    // SAFETY: every header points at a live name buffer and a live iovec over a buffer
    // we own exclusively for the duration of the call; `count` headers are initialised.
    let rc = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = rc as usize;
    for j in 0..got {
        let len = (hdrs[j].msg_len as usize).min(DATAGRAM_ROOM);
        let from = sender(&names[j]);
        meta[j] = (len, from);
        if let Some(st) = stamps.as_deref_mut() {
            st[j] = rx_stamp(&hdrs[j].msg_hdr);
        }
    }
    Ok(got)
}

/// The sender recvmmsg wrote into a sockaddr_storage (0.0.0.0:0 if unknown).
fn sender(name: &libc::sockaddr_storage) -> SocketAddr {
    let p: *const libc::sockaddr_storage = name;
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which fits.
            let a = unsafe { &*p.cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*p.cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(std::net::SocketAddrV6::new(
                std::net::Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            ))
        }
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}

/// The SCM_TIMESTAMPNS of a received message header, in nanoseconds (0 if none).
fn rx_stamp(h: &libc::msghdr) -> u64 {
    // SAFETY: the header's control pointer and length are what recvmmsg filled in,
    // within the buffer we gave it; the CMSG macros stay inside msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return (ts.tv_sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    0
}

/// Classic BPF for a UDP socket: drop datagrams whose IPv4 source is one of `addrs`
/// and whose UDP source port is one of `ports` (our own send sockets), accept the
/// rest. Offsets are relative to the network header, which works whatever the kernel
/// has pulled; a header with options (never ours) is simply accepted.
fn own_packet_filter(addrs: &[Ipv4Addr], ports: &[u16]) -> Option<Vec<libc::sock_filter>> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const NET: u32 = (-0x10_0000i32) as u32; // SKF_NET_OFF
    let ins = |code: u16, jt: usize, jf: usize, k: u32| libc::sock_filter {
        code,
        jt: jt as u8,
        jf: jf as u8,
        k,
    };
    let (a, p) = (addrs.len(), ports.len());
    // Conditional jumps reach at most 255 instructions ahead.
    if a == 0 || p == 0 || a + p > 250 {
        return None;
    }
    let accept = 5 + a + p;
    let mut prog = Vec::with_capacity(accept + 2);
    prog.push(ins(LD_B_ABS, 0, 0, NET)); // version and header length
    prog.push(ins(JEQ_K, 0, accept - 2, 0x45));
    prog.push(ins(LD_W_ABS, 0, 0, NET + 12)); // source address
    for (j, addr) in addrs.iter().enumerate() {
        prog.push(ins(JEQ_K, a - j, 0, u32::from(*addr)));
    }
    prog.push(ins(JA, 0, 0, (p + 1) as u32));
    prog.push(ins(LD_H_ABS, 0, 0, NET + 20)); // UDP source port
    for (j, port) in ports.iter().enumerate() {
        prog.push(ins(JEQ_K, p - j, 0, u32::from(*port)));
    }
    prog.push(ins(RET_K, 0, 0, u32::MAX));
    prog.push(ins(RET_K, 0, 0, 0));
    debug_assert_eq!(prog.len(), accept + 2);
    Some(prog)
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
/// Every local address, IPv4 and IPv6 (scope ids are not compared).
fn local_ip_addrs() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(s) = a.address.as_ref() else {
                continue;
            };
            if let Some(sin) = s.as_sockaddr_in() {
                out.push(IpAddr::V4(sin.ip()));
            } else if let Some(sin6) = s.as_sockaddr_in6() {
                out.push(IpAddr::V6(sin6.ip()));
            }
        }
    }
    out
}

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
    match resolve(host, false)? {
        IpAddr::V4(v4) => Ok(v4),
        IpAddr::V6(_) => Err(anyhow!("{host} has no IPv4 address")),
    }
}

/// A peer's address of one family (`v6`): a literal (a `%scope` suffix is dropped:
/// the medium line names the interface) or the first such address of the name.
pub(crate) fn resolve(host: &str, v6: bool) -> Result<IpAddr> {
    let literal = host.split('%').next().unwrap_or(host);
    let wanted = |a: &IpAddr| a.is_ipv6() == v6;
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if wanted(&ip) {
            return Ok(ip);
        }
    }
    use std::net::ToSocketAddrs;
    if let Some(a) = (host, 0).to_socket_addrs()?.map(|a| a.ip()).find(wanted) {
        return Ok(a);
    }
    Err(anyhow!(
        "{host} has no {} address",
        if v6 { "IPv6" } else { "IPv4" }
    ))
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

    fn loopback_pair() -> (Socket, std::net::UdpSocket, std::net::UdpSocket, SocketAddr) {
        let rx = udp_recv_socket(None, Ipv4Addr::LOCALHOST, 0).unwrap();
        let to = rx.local_addr().unwrap().as_socket().unwrap();
        let ours = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        (rx, ours, peer, to)
    }

    fn recv_now(rx: &Socket) -> Option<(Vec<u8>, SocketAddr)> {
        let mut bufs = recv_region().unwrap();
        let mut meta = [(0usize, SocketAddr::from(([0, 0, 0, 0], 0))); RECV_BATCH];
        // Loopback delivery is synchronous with send, but allow a little slack.
        for _ in 0..50 {
            match recv_batch(rx.as_raw_fd(), &mut bufs, &mut meta, None) {
                Ok(n) if n > 0 => return Some((slot(&bufs, 0, meta[0].0).to_vec(), meta[0].1)),
                _ => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
        None
    }

    #[test]
    fn socket_filter_drops_own_packets_in_the_kernel() {
        let (rx, ours, peer, to) = loopback_pair();
        let own_port = ours.local_addr().unwrap().port();
        let prog = own_packet_filter(
            &[Ipv4Addr::new(10, 9, 8, 7), Ipv4Addr::LOCALHOST],
            &[1, own_port],
        )
        .unwrap();
        rx.attach_filter(&prog).unwrap();
        ours.send_to(b"own", to).unwrap();
        peer.send_to(b"peer", to).unwrap();
        // Had our own datagram been queued it would come first.
        let (bytes, from) = recv_now(&rx).expect("the peer's datagram arrives");
        assert_eq!(bytes, b"peer");
        assert_eq!(from, peer.local_addr().unwrap());
        assert_eq!(recv_now(&rx), None);
        // Same port from another source address is not ours: only the pair matches.
        let prog = own_packet_filter(&[Ipv4Addr::new(10, 9, 8, 7)], &[own_port]).unwrap();
        rx.attach_filter(&prog).unwrap();
        ours.send_to(b"kept", to).unwrap();
        assert_eq!(recv_now(&rx).map(|r| r.0), Some(b"kept".to_vec()));
    }

    #[test]
    fn batch_receive_reports_each_datagram_and_its_sender() {
        let (rx, ours, peer, to) = loopback_pair();
        ours.send_to(b"one", to).unwrap();
        peer.send_to(b"two!", to).unwrap();
        peer.send_to(b"three", to).unwrap();
        let mut bufs = recv_region().unwrap();
        let mut meta = [(0usize, SocketAddr::from(([0, 0, 0, 0], 0))); RECV_BATCH];
        let n = recv_batch(rx.as_raw_fd(), &mut bufs, &mut meta, None).unwrap();
        assert_eq!(n, 2, "a full batch when more is queued");
        assert_eq!(slot(&bufs, 0, meta[0].0), b"one");
        assert_eq!(meta[0].1, ours.local_addr().unwrap());
        assert_eq!(slot(&bufs, 1, meta[1].0), b"two!");
        assert_eq!(meta[1].1, peer.local_addr().unwrap());
        // A short batch is how the inbox knows the socket is drained.
        let n = recv_batch(rx.as_raw_fd(), &mut bufs, &mut meta, None).unwrap();
        assert_eq!(n, 1);
        assert_eq!(slot(&bufs, 0, meta[0].0), b"three");
        let e = recv_batch(rx.as_raw_fd(), &mut bufs, &mut meta, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn no_filter_without_ports_or_with_too_many() {
        assert!(own_packet_filter(&[Ipv4Addr::LOCALHOST], &[]).is_none());
        let many: Vec<u16> = (1..=300).collect();
        assert!(own_packet_filter(&[Ipv4Addr::LOCALHOST], &many).is_none());
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
