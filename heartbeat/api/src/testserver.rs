//! A small threaded API daemon over a real Unix socket, for client and cl_status tests.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

use hb_wire::Msg;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use crate::frame::{decode_body, encode_body, write_frame, FrameDecoder};
use crate::server::tests::FakeView;
use crate::server::{ApiAuth, ApiOutput, ApiServer, PeerCred};

/// Behaviour switches for the fake daemon.
#[derive(Clone, Default)]
pub struct Options {
    /// Send an unsolicited `t=status` message before every batch of replies, to check
    /// that clients queue interleaved asynchronous messages.
    pub inject_async: bool,
    /// Answer remote `clientstatus` queries (as the remote node would) or stay silent.
    pub answer_remote_cstatus: bool,
    /// Never answer anything after the sign-on.
    pub mute_after_signon: bool,
    /// Request types answered as heartbeat 3.0.6 answers one it has no handler
    /// for: `result=badreq` without a reason (plays a Debian daemon).
    pub unknown_reqtypes: Vec<String>,
}

pub struct TestServer {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestServer {
    pub fn start(view: FakeView, auth: Vec<ApiAuth>, opts: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("register");
        let listener = UnixListener::bind(&path).expect("bind");
        let server = Arc::new(Mutex::new(ApiServer::new(auth, view_fmt())));
        let view = Arc::new(view);
        thread::spawn(move || {
            for (conn, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let (server, view, opts) = (server.clone(), view.clone(), opts.clone());
                thread::spawn(move || serve(conn as u64, stream, &server, &view, &opts));
            }
        });
        TestServer { _dir: dir, path }
    }
}

fn view_fmt() -> crate::frame::MsgFmt {
    crate::frame::MsgFmt::Classic
}

fn send(stream: &mut UnixStream, m: &Msg) -> bool {
    let Ok(body) = encode_body(m, view_fmt()) else {
        return false;
    };
    write_frame(stream, &body).is_ok()
}

fn serve(
    conn: u64,
    mut stream: UnixStream,
    server: &Mutex<ApiServer>,
    view: &FakeView,
    opts: &Options,
) {
    let Ok(cred) = getsockopt(&stream, PeerCredentials) else {
        return;
    };
    let cred = PeerCred {
        pid: cred.pid(),
        uid: cred.uid(),
        gid: cred.gid(),
    };
    server.lock().unwrap().connect(conn, cred);
    let mut dec = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    let mut signed_on = false;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        dec.push(&buf[..n]);
        while let Ok(Some(body)) = dec.next_frame() {
            let Ok(msg) = decode_body(&body) else { return };
            if let Some(rt) = msg
                .get_str("reqtype")
                .filter(|rt| opts.unknown_reqtypes.iter().any(|u| u == rt))
            {
                let mut resp = Msg::with_type("hbapi-resp");
                resp.add_str("reqtype", rt).add_str("result", "badreq");
                if !send(&mut stream, &resp) {
                    return;
                }
                continue;
            }
            let out = server.lock().unwrap().handle(conn, msg, view);
            if signed_on && opts.mute_after_signon {
                continue;
            }
            if opts.inject_async && signed_on {
                let mut st = Msg::with_type("status");
                st.add_str("src", "bravo").add_str("st", "active");
                if !send(&mut stream, &st) {
                    return;
                }
            }
            signed_on = true;
            for o in out {
                let keep_going = match o {
                    ApiOutput::Reply(c, m) => c != conn || send(&mut stream, &m),
                    // Closing another connection (a stale session this sign-on
                    // replaced) is that connection's business: its client is gone.
                    ApiOutput::Close(c, _) if c != conn => true,
                    ApiOutput::Close(..) => {
                        let _ = stream.flush();
                        false
                    }
                    ApiOutput::QueryClientStatus { query, .. } if opts.answer_remote_cstatus => {
                        // Play the remote node: nobody named like that runs there.
                        let mut q = query.clone();
                        q.add_str("src", "alpha");
                        let mut ans = server
                            .lock()
                            .unwrap()
                            .answer_query_cstatus(&q)
                            .unwrap_or_default();
                        ans.set_str("cs", "offline");
                        send(&mut stream, &ans)
                    }
                    _ => true,
                };
                if !keep_going {
                    return;
                }
            }
        }
    }
    server.lock().unwrap().disconnect(conn, view);
}
