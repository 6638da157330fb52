//! Parking the steady heartbeat.
//!
//! Once every node is active with every link up, the only traffic is each node's
//! `t=status st=active` once per keepalive. Waking for each of them doubles an idle
//! node's wake-ups (its own send timer, then every peer's status) although nothing
//! about them is urgent: they only refresh liveness, and liveness is judged at our own
//! timer. So every UDP receive socket has a twin bound to the same address and port:
//! the kernel steers those steady status datagrams into the twin (a reuseport program
//! for unicast, where only one socket of the group gets a datagram; a socket filter on
//! each for broadcast and multicast, where every socket gets a copy), and the twin is
//! not watched by the event loop while the cluster is settled. The loop reads it at
//! every wake it has anyway, at the latest at its next keepalive, and the kernel's
//! arrival stamp (SO_TIMESTAMPNS) stands in for "now", so dead times, late-heartbeat
//! warnings and link states are exactly what immediate processing would give.
//!
//! Anything else (a status saying init, up or dead, every other message, compressed or
//! malformed datagrams) goes to the watched socket and is handled at once. While the
//! cluster is not settled (a node dead or coming up, a link down), the twins are
//! watched too, so a returning node is seen as fast as before.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::Socket;
use tokio::io::unix::AsyncFd;

use crate::media::{recv_batch, recv_region, slot, RecvRegion, RECV_BATCH};

/// What a steady status datagram starts with, Debian heartbeat 3.0.6's and ours alike:
/// the netstring frame, then `t` and `st` as the first two fields.
pub const STEADY_STATUS: &[u8] = b"###\n11:(0)t=status,12:(0)st=active,";

/// Which socket of a receive pair a filter is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// Watched by the loop: everything but steady status.
    Prompt,
    /// The twin: steady status only.
    Parked,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
const LD_W_LEN: u16 = 0x80; // BPF_LD | BPF_W | BPF_LEN
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
/// SKF_NET_OFF: offsets relative to the IP header, whatever the kernel has pulled.
const NET: u32 = (-0x10_0000i32) as u32;
/// recvmmsg calls per twin and drain.
const DRAIN_ROUNDS: usize = 64;
/// Not in every libc release.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The IP version of a receive socket, which decides where the payload starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(sock: &Socket) -> Family {
        match sock.local_addr().ok().and_then(|a| a.as_socket()) {
            Some(SocketAddr::V6(_)) => Family::V6,
            _ => Family::V4,
        }
    }
}

/// Appends a program tail that returns `steady` when the datagram's payload starts
/// with [`STEADY_STATUS`] behind a plain header (IPv4 without options, or IPv6 with
/// UDP as the next header), else `other`.
///
/// `min_len` is the smallest packet length (as the program sees it) that can hold
/// the prefix: a load past the end would end the program with 0, which must not
/// decide anything for the watched socket.
fn push_classifier(
    prog: &mut Vec<libc::sock_filter>,
    family: Family,
    min_len: u32,
    steady: u32,
    other: u32,
) {
    // (instruction, whether its false branch goes to the `other` return)
    let mut body: Vec<(libc::sock_filter, bool)> = vec![
        (ins(LD_W_LEN, 0, 0, 0), false),
        (ins(JGE_K, 0, 0, min_len), true),
        (ins(LD_B_ABS, 0, 0, NET), false),
    ];
    let payload = match family {
        Family::V4 => {
            body.push((ins(JEQ_K, 0, 0, 0x45), true));
            NET + 28
        }
        Family::V6 => {
            body.push((ins(0x54, 0, 0, 0xf0), false)); // BPF_ALU | BPF_AND | BPF_K
            body.push((ins(JEQ_K, 0, 0, 0x60), true));
            body.push((ins(LD_B_ABS, 0, 0, NET + 6), false)); // next header
            body.push((ins(JEQ_K, 0, 0, 17), true)); // UDP
            NET + 48
        }
    };
    let p = STEADY_STATUS;
    let mut off = 0;
    while off < p.len() {
        let rest = p.len() - off;
        let (code, n) = if rest >= 4 {
            (LD_W_ABS, 4)
        } else if rest >= 2 {
            (LD_H_ABS, 2)
        } else {
            (LD_B_ABS, 1)
        };
        let v = p[off..off + n]
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        body.push((ins(code, 0, 0, payload + off as u32), false));
        body.push((ins(JEQ_K, 0, 0, v), true));
        off += n;
    }
    body.push((ins(RET_K, 0, 0, steady), false));
    body.push((ins(RET_K, 0, 0, other), false));
    let other_at = body.len() - 1;
    for (i, (mut f, to_other)) in body.into_iter().enumerate() {
        if to_other {
            f.jf = (other_at - i - 1) as u8;
        }
        prog.push(f);
    }
}

/// The socket filter of one socket of a receive pair: `own` (a program dropping our
/// own datagrams, ending in "accept, drop") runs first when given.
pub fn socket_filter(
    own: Option<Vec<libc::sock_filter>>,
    family: Family,
    queue: Queue,
) -> Vec<libc::sock_filter> {
    let mut prog = match own {
        Some(mut own) if own.len() >= 2 => {
            // Its "accept" becomes a jump over its "drop", into the classifier.
            let accept = own.len() - 2;
            own[accept] = ins(0x05, 0, 0, 1); // BPF_JMP | BPF_JA
            own
        }
        _ => Vec::new(),
    };
    // A socket filter sees the UDP header too.
    let min_len = 8 + STEADY_STATUS.len() as u32;
    match queue {
        Queue::Prompt => push_classifier(&mut prog, family, min_len, 0, u32::MAX),
        Queue::Parked => push_classifier(&mut prog, family, min_len, u32::MAX, 0),
    }
    prog
}

/// The reuseport program of a pair: index 1 (the twin, bound second) for steady
/// status, 0 for the rest. It sees the payload only.
pub fn reuseport_program(family: Family) -> Vec<libc::sock_filter> {
    let mut prog = Vec::new();
    push_classifier(&mut prog, family, STEADY_STATUS.len() as u32, 1, 0);
    prog
}

fn set_cbpf(fd: RawFd, opt: libc::c_int, prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the kernel copies the program during the call; `prog` outlives it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches the reuseport program to the group `sock` belongs to.
pub fn attach_reuseport(sock: &Socket) -> io::Result<()> {
    set_cbpf(
        sock.as_raw_fd(),
        SO_ATTACH_REUSEPORT_CBPF,
        &reuseport_program(Family::of(sock)),
    )
}

/// Asks for the kernel's receive time on every datagram.
pub fn enable_stamps(sock: &Socket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: plain setsockopt on a socket we own, with a correctly sized int.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

enum Watch {
    /// Not in the event loop's poll set: read when the loop wakes anyway.
    Parked(Socket),
    /// In the poll set (the cluster is not settled).
    Watched(AsyncFd<Socket>),
    /// Only while switching.
    Switching,
}

struct Twin {
    link: usize,
    watch: Watch,
}

impl Twin {
    fn fd(&self) -> Option<RawFd> {
        match &self.watch {
            Watch::Parked(s) => Some(s.as_raw_fd()),
            Watch::Watched(a) => Some(a.get_ref().as_raw_fd()),
            Watch::Switching => None,
        }
    }
}

/// The twins of the receive sockets.
pub struct Parking {
    twins: Vec<Twin>,
    bufs: Option<RecvRegion>,
    parked: bool,
    /// The last drain stopped at its bound: more steady status arrives than one wake
    /// a keepalive can read (a flood, forged or not), so the twins stay watched and
    /// are read as fast as the watched sockets, rather than overflow and lose real
    /// heartbeats.
    flooded: bool,
    /// Logged once: a twin that cannot be watched is still read at every wake.
    warned: bool,
}

/// One steady status datagram and when the kernel received it.
pub struct Parked<'a> {
    pub link: usize,
    pub bytes: &'a [u8],
    pub from: SocketAddr,
    /// Wall-clock nanoseconds since the epoch (0: the kernel gave none).
    pub stamp_ns: u64,
}

impl Parking {
    pub fn new() -> Parking {
        Parking {
            twins: Vec::new(),
            bufs: None,
            parked: false,
            flooded: false,
            warned: false,
        }
    }

    /// Adds a twin; it starts watched, as nothing is settled at start-up.
    pub fn add(&mut self, sock: Socket, link: usize) -> io::Result<()> {
        if self.bufs.is_none() {
            self.bufs = Some(recv_region()?);
        }
        // SAFETY: the socket moves into the AsyncFd and stays open as long as it lives.
        let a = unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)?;
        self.twins.push(Twin {
            link,
            watch: Watch::Watched(a),
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.twins.is_empty()
    }

    /// The raw descriptors, for attaching filters.
    pub fn fds(&self) -> Vec<RawFd> {
        self.twins.iter().filter_map(Twin::fd).collect()
    }

    /// Drops every twin (when their filters could not be attached: without them both
    /// sockets of a pair would get every broadcast).
    pub fn clear(&mut self) {
        self.twins.clear();
    }

    /// Whether the twins are left out of the poll set.
    #[cfg(test)]
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    /// Parks (settled cluster) or watches the twins; a flood keeps them watched.
    pub fn set_parked(&mut self, on: bool) {
        let on = on && !self.flooded;
        if on == self.parked {
            return;
        }
        self.parked = on;
        for t in &mut self.twins {
            let w = std::mem::replace(&mut t.watch, Watch::Switching);
            t.watch = match (w, on) {
                (Watch::Watched(a), true) => Watch::Parked(a.into_inner()),
                // SAFETY: as in `add`; on failure the socket comes back to us.
                (Watch::Parked(s), false) => match unsafe { AsyncFd::register(s) } {
                    Ok(a) => Watch::Watched(a),
                    Err(e) => {
                        let (s, e) = e.into_parts();
                        if !self.warned {
                            self.warned = true;
                            tracing::warn!(
                                "cannot watch a steady-status socket: {} (it is read at every wake instead)",
                                e
                            );
                        }
                        Watch::Parked(s)
                    }
                },
                (w, _) => w,
            };
        }
    }

    /// While watched: true when a twin became readable (its readiness is cleared,
    /// so the [`Parking::drain`] that must follow sees everything up to now).
    pub fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let mut any = false;
        for t in &self.twins {
            if let Watch::Watched(a) = &t.watch {
                if let std::task::Poll::Ready(Ok(mut g)) = a.poll_read_ready(cx) {
                    g.clear_ready();
                    any = true;
                }
            }
        }
        any
    }

    /// Reads every queued datagram of every twin, oldest first per twin.
    pub fn drain(&mut self, mut each: impl FnMut(Parked<'_>)) {
        let Some(bufs) = self.bufs.as_mut() else {
            return;
        };
        self.flooded = false;
        for t in &self.twins {
            let Some(fd) = t.fd() else { continue };
            // Bounded: a flood cannot hold the loop here; the rest waits a wake.
            let mut emptied = false;
            for _ in 0..DRAIN_ROUNDS {
                let mut meta = [(0usize, SocketAddr::from(([0, 0, 0, 0], 0))); RECV_BATCH];
                let mut stamps = [0u64; RECV_BATCH];
                match recv_batch(fd, bufs, &mut meta, Some(&mut stamps)) {
                    Ok(n) => {
                        for j in 0..n {
                            each(Parked {
                                link: t.link,
                                bytes: slot(bufs, j, meta[j].0),
                                from: meta[j].1,
                                stamp_ns: stamps[j],
                            });
                        }
                        if n < RECV_BATCH {
                            emptied = true;
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        if e.kind() != io::ErrorKind::WouldBlock {
                            tracing::warn!("UDP receive error on link {}: {}", t.link, e);
                        }
                        emptied = true;
                        break;
                    }
                }
            }
            self.flooded |= !emptied;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::udp_recv_socket;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn now_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    /// A prompt socket and its twin on 127.0.0.1, set up as `media::open` does.
    fn pair() -> (Socket, Parking, SocketAddr) {
        pair_of(Family::V4)
    }

    /// The same on 127.0.0.1 or ::1.
    fn pair_of(family: Family) -> (Socket, Parking, SocketAddr) {
        let bind = |port| match family {
            Family::V4 => udp_recv_socket(None, Ipv4Addr::LOCALHOST, port).unwrap(),
            Family::V6 => {
                crate::media6::udp6_recv_socket("lo", std::net::Ipv6Addr::LOCALHOST, port).unwrap()
            }
        };
        let prompt = bind(0);
        let to = prompt.local_addr().unwrap().as_socket().unwrap();
        let twin = bind(to.port());
        assert_eq!(Family::of(&twin), family);
        attach_reuseport(&prompt).unwrap();
        enable_stamps(&twin).unwrap();
        prompt
            .attach_filter(&socket_filter(None, family, Queue::Prompt))
            .unwrap();
        twin.attach_filter(&socket_filter(None, family, Queue::Parked))
            .unwrap();
        let mut p = Parking::new();
        p.add(twin, 3).unwrap();
        p.set_parked(true);
        (prompt, p, to)
    }

    fn drain_prompt(s: &Socket) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        while let Ok(n) = s.recv(&mut buf) {
            // SAFETY: recv initialised the first n bytes.
            out.push(
                buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect(),
            );
        }
        out
    }

    fn steady(tail: &str) -> Vec<u8> {
        let mut v = STEADY_STATUS.to_vec();
        v.extend_from_slice(tail.as_bytes());
        v
    }

    #[test]
    fn steady_status_goes_to_the_twin_with_its_arrival_time_and_the_rest_stays_prompt() {
        steady_split(Family::V4);
    }

    #[test]
    fn steady_status_split_works_over_ipv6_too() {
        steady_split(Family::V6);
    }

    fn steady_split(family: Family) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let (prompt, mut park, to) = pair_of(family);
        let before = now_ns();
        let others: Vec<Vec<u8>> = vec![
            b"###\n11:(0)t=status,8:(0)st=up,10:(0)dt=2ee0,".to_vec(),
            b"###\n11:(0)t=status,10:(0)st=dead,".to_vec(),
            b"###\n13:(0)t=resource,".to_vec(),
            b"hello".to_vec(),
            // One byte short of the prefix, and the prefix with its last byte changed.
            STEADY_STATUS[..STEADY_STATUS.len() - 1].to_vec(),
            {
                let mut v = STEADY_STATUS.to_vec();
                *v.last_mut().unwrap() = b';';
                v
            },
        ];
        // Unicast picks one socket of a reuseport group by a hash of the addresses:
        // several source ports show the choice is the program's, not the hash's.
        let local = match family {
            Family::V4 => "127.0.0.1:0",
            Family::V6 => "[::1]:0",
        };
        let senders: Vec<UdpSocket> = (0..8).map(|_| UdpSocket::bind(local).unwrap()).collect();
        for (i, s) in senders.iter().enumerate() {
            s.send_to(&steady(&format!("n={i},")), to).unwrap();
            s.send_to(&others[i % others.len()], to).unwrap();
        }
        s_settle();
        let after = now_ns();
        let got_prompt = drain_prompt(&prompt);
        assert_eq!(got_prompt.len(), senders.len(), "{got_prompt:?}");
        for (i, g) in got_prompt.iter().enumerate() {
            assert_eq!(g, &others[i % others.len()]);
        }
        let mut parked = Vec::new();
        park.drain(|p| {
            assert_eq!(p.link, 3);
            assert!(
                p.stamp_ns >= before && p.stamp_ns <= after,
                "stamp {} not in [{before}, {after}]",
                p.stamp_ns
            );
            parked.push(p.bytes.to_vec());
        });
        let want: Vec<Vec<u8>> = (0..senders.len())
            .map(|i| steady(&format!("n={i},")))
            .collect();
        assert_eq!(parked, want);
        // Drained: nothing more, and no error.
        park.drain(|p| panic!("unexpected {:?}", p.bytes));
    }

    #[test]
    fn a_watched_twin_wakes_the_loop_and_a_parked_one_does_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_prompt, mut park, to) = pair();
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            tx.send_to(&steady("a,"), to).unwrap();
            s_settle();
            // Parked: never ready, however long.
            let ready =
                std::future::poll_fn(|cx| std::task::Poll::Ready(park.poll_ready(cx))).await;
            assert!(!ready);
            park.set_parked(false);
            assert!(!park.is_parked());
            // Watched: the datagram queued while parked is reported at once.
            let woke = tokio::time::timeout(
                Duration::from_secs(2),
                std::future::poll_fn(|cx| {
                    if park.poll_ready(cx) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                }),
            )
            .await;
            assert!(woke.is_ok(), "a watched twin must wake the loop");
            let mut n = 0;
            park.drain(|_| n += 1);
            assert_eq!(n, 1);
            // And a new one wakes it again.
            tx.send_to(&steady("b,"), to).unwrap();
            let woke = tokio::time::timeout(
                Duration::from_secs(2),
                std::future::poll_fn(|cx| {
                    if park.poll_ready(cx) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                }),
            )
            .await;
            assert!(woke.is_ok());
            park.set_parked(true);
            let mut n = 0;
            park.drain(|_| n += 1);
            assert_eq!(n, 1);
        });
    }

    #[test]
    fn a_flood_of_steady_status_keeps_the_twins_watched() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let (_prompt, mut park, to) = pair();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let flood = DRAIN_ROUNDS * RECV_BATCH + 10;
        for i in 0..flood {
            tx.send_to(&steady(&format!("n={i},")), to).unwrap();
        }
        s_settle();
        let mut n = 0;
        park.drain(|_| n += 1);
        assert_eq!(n, DRAIN_ROUNDS * RECV_BATCH, "one drain is bounded");
        park.set_parked(false);
        park.set_parked(true);
        assert!(
            !park.is_parked(),
            "more than a drain can read: stay watched"
        );
        let mut rest = 0;
        park.drain(|_| rest += 1);
        assert_eq!(rest, 10);
        park.set_parked(true);
        assert!(park.is_parked(), "calm again: parked");
    }

    #[test]
    fn classifier_matches_the_real_packets_first_bytes() {
        // The worked example of a Debian packet (reference §2.10) with st=active.
        let debian = b"###\n11:(0)t=status,12:(0)st=active,10:(0)dt=2ee0,13:(0)protocol=1,";
        assert!(debian.starts_with(STEADY_STATUS));
        let prog = reuseport_program(Family::V4);
        assert!(prog.len() < 64);
        // Every conditional jump lands inside the program.
        for (i, f) in prog.iter().enumerate() {
            if f.code == JEQ_K || f.code == JGE_K {
                assert!(i + 1 + usize::from(f.jf) < prog.len());
                assert_eq!(prog[i + 1 + usize::from(f.jf)].k, 0, "mismatch → other (0)");
            }
        }
    }

    /// Loopback delivery completes within the send call; a short pause covers
    /// kernels that defer it.
    fn s_settle() {
        std::thread::sleep(Duration::from_millis(20));
    }
}
