//! The floor for bench_idle: what one node costs on this machine when it does nothing
//! but a heartbeat's I/O. Every second (a periodic timerfd) it reads what arrived on
//! udpport 694 and broadcasts a 306-byte datagram (the size of a real status packet)
//! on eth0: one wake-up a second, as our settled daemon does (datagrams do not wake
//! it); a socket filter drops its own looped-back broadcasts in the kernel, as
//! heartbeat does. No parsing, no authentication, no protocol.
//!
//! Started by bench_idle in a node's namespaces in place of a daemon (its arguments
//! are ignored); SIGTERM ends it.

use std::ffi::CStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::process::ExitCode;

const IFACE: &CStr = c"eth0";
const PORT: u16 = 694;

fn check(rc: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(rc)
}

/// eth0's IPv4 address and broadcast address, host byte order.
fn iface_addrs() -> io::Result<(u32, u32)> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below; entries are read while it lives.
    unsafe {
        check(libc::getifaddrs(&mut list), "getifaddrs")?;
        let mut found = None;
        let mut p = list;
        while !p.is_null() {
            let a = &*p;
            if !a.ifa_addr.is_null()
                && i32::from((*a.ifa_addr).sa_family) == libc::AF_INET
                && CStr::from_ptr(a.ifa_name) == IFACE
                && !a.ifa_ifu.is_null()
            {
                let own = (*(a.ifa_addr as *const libc::sockaddr_in)).sin_addr.s_addr;
                let bc = (*(a.ifa_ifu as *const libc::sockaddr_in)).sin_addr.s_addr;
                found = Some((u32::from_be(own), u32::from_be(bc)));
            }
            p = a.ifa_next;
        }
        libc::freeifaddrs(list);
        found.ok_or_else(|| io::Error::other("eth0 has no IPv4 broadcast address"))
    }
}

fn setopt(
    fd: libc::c_int,
    level: libc::c_int,
    opt: libc::c_int,
    val: &[u8],
    what: &str,
) -> io::Result<()> {
    // SAFETY: the kernel reads `val.len()` bytes from a live slice.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    };
    check(rc, what).map(drop)
}

fn run() -> io::Result<()> {
    let (own, bcast) = iface_addrs()?;
    let one = 1i32.to_ne_bytes();
    // SAFETY: plain syscalls on descriptors this function owns until the process ends.
    unsafe {
        let tx = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
        let rx = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
        setopt(
            tx,
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            &one,
            "SO_BROADCAST",
        )?;
        setopt(
            tx,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            IFACE.to_bytes(),
            "SO_BINDTODEVICE",
        )?;
        setopt(
            rx,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one,
            "SO_REUSEADDR",
        )?;
        setopt(
            rx,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            IFACE.to_bytes(),
            "SO_BINDTODEVICE",
        )?;
        // Drop datagrams from our own address (our broadcasts come back to us).
        let mut code = [
            libc::sock_filter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: (-0x10_0000i32 + 12) as u32,
            },
            libc::sock_filter {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: own,
            },
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0,
            },
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: u32::MAX,
            },
        ];
        let prog = libc::sock_fprog {
            len: code.len() as u16,
            filter: code.as_mut_ptr(),
        };
        let prog_bytes = std::slice::from_raw_parts(
            (&prog as *const libc::sock_fprog).cast::<u8>(),
            size_of::<libc::sock_fprog>(),
        );
        setopt(
            rx,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            prog_bytes,
            "SO_ATTACH_FILTER",
        )?;
        let mut addr: libc::sockaddr_in = zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = PORT.to_be();
        let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        check(
            libc::bind(rx, (&addr as *const libc::sockaddr_in).cast(), len),
            "bind",
        )?;
        addr.sin_addr.s_addr = bcast.to_be();
        let tfd = check(
            libc::timerfd_create(libc::CLOCK_MONOTONIC, 0),
            "timerfd_create",
        )?;
        let second = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        let its = libc::itimerspec {
            it_interval: second,
            it_value: second,
        };
        check(
            libc::timerfd_settime(tfd, 0, &its, std::ptr::null_mut()),
            "timerfd_settime",
        )?;
        let ep = check(libc::epoll_create1(0), "epoll_create1")?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: tfd as u64,
        };
        check(
            libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, tfd, &mut ev),
            "epoll_ctl",
        )?;
        let msg = [b'x'; 306];
        let mut buf = vec![0u8; 65_536];
        let mut got = [libc::epoll_event { events: 0, u64: 0 }; 4];
        loop {
            let n = libc::epoll_wait(ep, got.as_mut_ptr(), got.len() as i32, -1);
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n > 0 {
                let mut ticks = 0u64;
                libc::read(tfd, (&mut ticks as *mut u64).cast(), 8);
                while libc::recv(rx, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) > 0 {}
                libc::sendto(
                    tx,
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&addr as *const libc::sockaddr_in).cast(),
                    len,
                );
            }
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
