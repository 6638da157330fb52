//! A stand-alone API endpoint with a fixed two-node cluster, for trying clients (our
//! `cl_status`, or the Debian `/usr/bin/cl_status` and `api_test`) without a daemon:
//!
//! ```text
//! cargo run -p hb-api --example fake_daemon -- /run/heartbeat/register
//! ```

use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};

use hb_api::frame::{decode_body, encode_body, write_frame, FrameDecoder, MsgFmt};
use hb_api::server::{ApiAuth, ApiOutput, ApiServer, ClusterView, NodeInfo, PeerCred};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

struct Fixed;

impl ClusterView for Fixed {
    fn local_node(&self) -> String {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "alpha".into())
            .to_ascii_lowercase()
    }
    fn nodes(&self) -> Vec<NodeInfo> {
        vec![
            NodeInfo {
                name: self.local_node(),
                node_type: "normal".into(),
                status: "active".into(),
            },
            NodeInfo {
                name: "bravo".into(),
                node_type: "normal".into(),
                status: "active".into(),
            },
            NodeInfo {
                name: "10.251.0.2".into(),
                node_type: "ping".into(),
                status: "ping".into(),
            },
        ]
    }
    fn links(&self, node: &str) -> Option<Vec<(String, String)>> {
        if node == "10.251.0.2" {
            return Some(vec![(node.into(), "up".into())]);
        }
        self.nodes().iter().any(|n| n.name == node).then(|| {
            vec![
                ("hbr1-0".into(), "up".into()),
                ("hbr2-0".into(), "dead".into()),
            ]
        })
    }
    fn node_weight(&self, _node: &str) -> Option<u32> {
        Some(100)
    }
    fn node_site(&self, _node: &str) -> Option<String> {
        Some(String::new())
    }
    fn uuid_of(&self, node: &str) -> Option<[u8; 16]> {
        (node == "bravo").then_some([0x85; 16])
    }
    fn name_of_uuid(&self, uuid: &[u8; 16]) -> Option<String> {
        (uuid == &[0x85; 16]).then(|| "bravo".into())
    }
    fn param(&self, name: &str) -> Option<String> {
        match name {
            "deadtime" => Some("10".into()),
            "keepalive" => Some("1".into()),
            "pacemaker" => Some("false".into()),
            _ => None,
        }
    }
    fn rsc_status(&self) -> String {
        "local".into()
    }
    fn deadtime_ms(&self) -> u64 {
        10_000
    }
    fn keepalive_ms(&self) -> u64 {
        1_000
    }
}

fn serve(
    conn: u64,
    mut stream: UnixStream,
    server: &Mutex<ApiServer>,
) -> Result<(), Box<dyn std::error::Error>> {
    let cred = getsockopt(&stream, PeerCredentials)?;
    let view = Fixed;
    let lock = || server.lock().map_err(|_| "server mutex poisoned");
    lock()?.connect(
        conn,
        PeerCred {
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
        },
    );
    let mut dec = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            lock()?.disconnect(conn, &view);
            return Ok(());
        }
        dec.push(&buf[..n]);
        while let Some(body) = dec.next_frame()? {
            let msg = decode_body(&body)?;
            eprintln!("conn {conn} <- {msg:?}");
            let out = lock()?.handle(conn, msg, &view);
            for o in out {
                eprintln!("conn {conn} -> {o:?}");
                match o {
                    ApiOutput::Reply(c, m) if c == conn => {
                        write_frame(&mut stream, &encode_body(&m, MsgFmt::Classic)?)?
                    }
                    ApiOutput::Close(..) => return Ok(()),
                    _ => {}
                }
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| hb_api::API_REGSOCK.to_string());
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let auth = vec![
        ApiAuth {
            name: "anon".into(),
            uids: vec![0],
            gids: vec![],
        },
        ApiAuth {
            name: "default".into(),
            uids: vec![0],
            gids: vec![],
        },
    ];
    let server = Arc::new(Mutex::new(ApiServer::new(auth, MsgFmt::Classic)));
    eprintln!("listening on {path}");
    for (conn, stream) in listener.incoming().enumerate() {
        let server = server.clone();
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(e) = serve(conn as u64, stream, &server) {
                eprintln!("conn {conn}: {e}");
            }
        });
    }
    Ok(())
}
