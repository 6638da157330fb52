//! stonithd: the fencing daemon (docs/stonithd.md). The decisions are
//! `stonithd::fencer::Fencer`; this file is the I/O around it: the socket, plugin runs
//! on blocking threads, the heartbeat API connection on its own thread.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use stonith_ipc::{
    parse_request, DeviceSpec, Event, FenceOutcome, FenceResult, Op, Reply, Request,
    DEFAULT_FENCE_TIMEOUT_MS, MAX_LINE,
};
use stonithd::cluster::{self, Incoming};
use stonithd::config::hacf_devices;
use stonithd::device;
use stonithd::fencer::{Action, AttemptResult, Device, Fencer, Requester};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// Group whose members may use the socket besides root.
const HA_GROUP: &str = "haclient";
/// Pause between heartbeat sign-on attempts.
const SIGNON_RETRY: Duration = Duration::from_secs(1);
/// How long the heartbeat thread blocks in a read before it checks whether stonithd
/// is exiting (sends do not wait for it: they have their own thread).
const HB_IDLE_CHECK: Duration = Duration::from_secs(60);
/// Extra time given to a plugin thread beyond the attempt's limit before the attempt
/// is reported as timed out (the plugin's own deadline normally fires first).
const ATTEMPT_SLACK: Duration = Duration::from_millis(500);

#[derive(Parser, Debug)]
#[command(name = "stonithd", version, about = "STONITH daemon")]
struct Args {
    /// Directory of ha.cf (its stonith/stonith_host lines are registered at start).
    #[arg(long, default_value = "/etc/ha.d")]
    config_dir: PathBuf,
    /// Directory of the socket (stonithd.sock).
    #[arg(long, default_value = "/run/heartbeat")]
    run_dir: PathBuf,
    /// This node's name (default: uname -n, lower-cased).
    #[arg(long)]
    node: Option<String>,
    /// heartbeat's API socket (default: <run-dir>/register).
    #[arg(long)]
    register_socket: Option<PathBuf>,
    /// Extra rounds over the devices after a failed first round.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Write our pid here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Stand-alone: do not sign on to heartbeat (no peers).
    #[arg(short = 'a', long = "no-heartbeat")]
    no_heartbeat: bool,
    /// More logging (repeat for trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    debug: u8,
    /// Append the log to this file instead of stderr.
    #[arg(long)]
    logfile: Option<PathBuf>,
}

/// Per device id: its type and parameters, to build a plugin for each attempt.
type DeviceParams = HashMap<String, (String, Vec<(String, String)>)>;

/// What the tasks and threads tell the main loop.
enum Cmd {
    Connect {
        conn: u64,
        tx: mpsc::UnboundedSender<String>,
    },
    Gone(u64),
    Request {
        conn: u64,
        req: Request,
    },
    Registered {
        conn: Option<u64>,
        req: u64,
        spec: DeviceSpec,
        result: Result<Device, String>,
    },
    AttemptDone {
        op: u64,
        attempt: u64,
        result: AttemptResult,
    },
    ClusterUp(String),
    ClusterDown,
    ClusterMsg(hb_wire::Msg),
}

struct Conn {
    tx: mpsc::UnboundedSender<String>,
    client: String,
    watching: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = init_logging(&args) {
        eprintln!("stonithd: {e:#}");
        return std::process::ExitCode::from(1);
    }
    device::install_log_sink();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    let level = match args.debug {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STONITHD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    use std::io::IsTerminal;
    match &args.logfile {
        Some(path) => {
            let file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

fn local_node(args: &Args) -> anyhow::Result<String> {
    if let Some(n) = &args.node {
        return Ok(n.trim().to_lowercase());
    }
    let h = nix::unistd::gethostname().context("uname")?;
    Ok(h.to_string_lossy().to_lowercase())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let node = local_node(&args)?;
    if node.is_empty() {
        bail!("empty node name");
    }
    let started = Instant::now();
    let now_ms = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let sock = stonith_ipc::socket_path(&args.run_dir);
    let listener = bind(&sock)?;
    if let Some(p) = &args.pid_file {
        fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pid file {}", p.display()))?;
    }
    tracing::info!(node, socket = %sock.display(), "stonithd started");

    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
    let mut fencer = Fencer::new(
        &node,
        args.retries,
        &format!("{node}-{}", std::process::id()),
    );
    let mut params: DeviceParams = HashMap::new();
    let mut conns: HashMap<u64, Conn> = HashMap::new();

    register_hacf(&args.config_dir, &node, &cmd_tx);

    let hb_out = if args.no_heartbeat {
        tracing::info!("stand-alone (-a): peers will not be asked");
        None
    } else {
        let path = args
            .register_socket
            .clone()
            .unwrap_or_else(|| args.run_dir.join("register"));
        let (tx, rx) = std::sync::mpsc::channel::<hb_wire::Msg>();
        let cmd = cmd_tx.clone();
        std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || heartbeat_thread(path, cmd, rx))
            .context("cannot start the heartbeat thread")?;
        Some(tx)
    };

    let accept_tx = cmd_tx.clone();
    tokio::spawn(async move {
        let mut next = 1u64;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, next, accept_tx.clone()));
                    next += 1;
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("SIGINT handler")?;

    loop {
        let wake = fencer.next_wakeup().map(|ms| {
            let at = started
                .checked_add(Duration::from_millis(ms))
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            tokio::time::Instant::from_std(at)
        });
        let actions = tokio::select! {
            cmd = cmd_rx.recv() => {
                let Some(cmd) = cmd else { break };
                handle(cmd, &mut fencer, &mut params, &mut conns, &cmd_tx, now_ms())
            }
            _ = async { tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)).await }, if wake.is_some() => {
                fencer.tick(now_ms())
            }
            _ = term.recv() => { tracing::info!("SIGTERM: exiting"); break }
            _ = int.recv() => { tracing::info!("SIGINT: exiting"); break }
        };
        execute(actions, &fencer, &params, &conns, &cmd_tx, hb_out.as_ref());
    }
    let _ = fs::remove_file(&sock);
    if let Some(p) = &args.pid_file {
        let _ = fs::remove_file(p);
    }
    Ok(())
}

fn send_line(conns: &HashMap<u64, Conn>, conn: u64, line: String) {
    if let Some(c) = conns.get(&conn) {
        let _ = c.tx.send(line);
    }
}

fn handle(
    cmd: Cmd,
    fencer: &mut Fencer,
    params: &mut DeviceParams,
    conns: &mut HashMap<u64, Conn>,
    cmd_tx: &mpsc::UnboundedSender<Cmd>,
    now: u64,
) -> Vec<Action> {
    match cmd {
        Cmd::Connect { conn, tx } => {
            conns.insert(
                conn,
                Conn {
                    tx,
                    client: format!("conn{conn}"),
                    watching: false,
                },
            );
        }
        Cmd::Gone(conn) => {
            // Its fences keep running: the node must still be fenced, and the
            // outcome is announced and passed to watchers.
            conns.remove(&conn);
        }
        Cmd::Request { conn, req } => {
            let actions = request(conn, req, fencer, conns, cmd_tx, now);
            params.retain(|id, _| fencer.device(id).is_some());
            return actions;
        }
        Cmd::Registered {
            conn,
            req,
            spec,
            result,
        } => match result {
            Ok(dev) => {
                let hosts = dev.hosts.clone();
                tracing::info!(
                    device = %dev.id, r#type = %dev.type_name, hosts = %hosts.join(" "),
                    priority = dev.priority, source = %dev.source, "device registered"
                );
                params.insert(dev.id.clone(), (spec.type_name.clone(), spec.params));
                fencer.add_device(dev);
                if let Some(conn) = conn {
                    let mut r = Reply::ok(req);
                    r.hosts = Some(hosts);
                    send_line(conns, conn, r.to_line());
                }
            }
            Err(e) => {
                tracing::error!("{e}");
                if let Some(conn) = conn {
                    send_line(conns, conn, Reply::error(Some(req), e).to_line());
                }
            }
        },
        Cmd::AttemptDone {
            op,
            attempt,
            result,
        } => return fencer.attempt_done(now, op, attempt, result),
        Cmd::ClusterUp(hb_node) => {
            if hb_node != fencer.local_node() {
                tracing::warn!(
                    heartbeat = %hb_node, ours = %fencer.local_node(),
                    "heartbeat knows this node by another name; pass --node"
                );
            }
            fencer.set_cluster(true);
        }
        Cmd::ClusterDown => fencer.set_cluster(false),
        Cmd::ClusterMsg(m) => match cluster::parse(&m).inspect(|p| {
            if let Some((from, msg)) = p {
                tracing::debug!(from, ?msg, "cluster message");
            }
        }) {
            Ok(Some((from, Incoming::Request(r)))) => {
                return fencer.on_peer_request(now, &from, r);
            }
            Ok(Some((from, Incoming::Claim(c)))) => fencer.on_peer_claim(&from, &c),
            Ok(Some((from, Incoming::Result(a)))) => return fencer.on_peer_result(&from, &a),
            Ok(None) => {}
            Err(e) => tracing::warn!("bad cluster message: {e}"),
        },
    }
    Vec::new()
}

fn request(
    conn: u64,
    req: Request,
    fencer: &mut Fencer,
    conns: &mut HashMap<u64, Conn>,
    cmd_tx: &mpsc::UnboundedSender<Cmd>,
    now: u64,
) -> Vec<Action> {
    let id = req.req;
    match req.op {
        Op::Signon { client } => {
            tracing::debug!(conn, client, "client signed on");
            if let Some(c) = conns.get_mut(&conn) {
                c.client = client;
            }
            let mut r = Reply::ok(id);
            r.node = Some(fencer.local_node().to_string());
            r.version = Some(env!("CARGO_PKG_VERSION").to_string());
            send_line(conns, conn, r.to_line());
        }
        Op::Register { device } => {
            let client = conns
                .get(&conn)
                .map(|c| c.client.clone())
                .unwrap_or_default();
            spawn_probe(
                Some(conn),
                id,
                device,
                format!("client:{client}"),
                fencer.local_node().to_string(),
                cmd_tx.clone(),
            );
        }
        Op::Unregister { id: dev } => {
            let r = if fencer.remove_device(&dev) {
                tracing::info!(device = %dev, "device unregistered");
                Reply::ok(id)
            } else {
                Reply::error(Some(id), format!("no device '{dev}'"))
            };
            send_line(conns, conn, r.to_line());
        }
        Op::Devices => {
            let mut r = Reply::ok(id);
            r.devices = Some(fencer.devices());
            send_line(conns, conn, r.to_line());
        }
        Op::Fence {
            node,
            action,
            timeout_ms,
        } => {
            let timeout = timeout_ms.unwrap_or(DEFAULT_FENCE_TIMEOUT_MS);
            tracing::info!(conn, node, %action, timeout_ms = timeout, "fence request");
            return fencer.fence(
                now,
                Requester::Local { conn, req: id },
                &node,
                action,
                timeout,
            );
        }
        Op::Watch => {
            if let Some(c) = conns.get_mut(&conn) {
                c.watching = true;
            }
            send_line(conns, conn, Reply::ok(id).to_line());
        }
    }
    Vec::new()
}

fn spawn_probe(
    conn: Option<u64>,
    req: u64,
    spec: DeviceSpec,
    source: String,
    node: String,
    cmd_tx: mpsc::UnboundedSender<Cmd>,
) {
    tokio::spawn(async move {
        let s = spec.clone();
        let result = tokio::task::spawn_blocking(move || {
            device::probe(&s, &node, &source).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("device {}: plugin thread failed: {e}", spec.id)));
        let _ = cmd_tx.send(Cmd::Registered {
            conn,
            req,
            spec,
            result,
        });
    });
}

/// Registers ha.cf's devices in file order; failures are logged with their line.
fn register_hacf(config_dir: &Path, node: &str, cmd_tx: &mpsc::UnboundedSender<Cmd>) {
    let path = config_dir.join("ha.cf");
    if !path.exists() {
        tracing::info!("{} not found: no configured devices", path.display());
        return;
    }
    let cf = match hb_config::hacf::load(&path) {
        Ok(cf) => cf,
        Err(e) => {
            tracing::error!("{e}: its stonith devices are not registered");
            return;
        }
    };
    let entries = hacf_devices(&cf, config_dir, node);
    let node = node.to_string();
    let cmd_tx = cmd_tx.clone();
    // One after the other, so the registration order is the file order.
    tokio::spawn(async move {
        for e in entries {
            let timeout = Duration::from_millis(stonith_ipc::DEFAULT_DEVICE_TIMEOUT_MS);
            let node2 = node.clone();
            let result = tokio::task::spawn_blocking(move || {
                let values = e.values.map_err(|why| format!("ha.cf:{}: {why}", e.line))?;
                let spec = device::positional_spec(&e.id, &e.type_name, &values, timeout)
                    .map_err(|err| format!("ha.cf:{}: {err}", e.line))?;
                device::probe(&spec, &node2, &e.id)
                    .map(|d| (spec, d))
                    .map_err(|err| format!("ha.cf:{}: {err}", e.line))
            })
            .await;
            let (spec, result) = match result {
                Ok(Ok((spec, d))) => (spec, Ok(d)),
                Ok(Err(why)) => {
                    tracing::error!("{why}");
                    continue;
                }
                Err(e) => {
                    tracing::error!("ha.cf device: plugin thread failed: {e}");
                    continue;
                }
            };
            let _ = cmd_tx.send(Cmd::Registered {
                conn: None,
                req: 0,
                spec,
                result,
            });
        }
    });
}

fn execute(
    actions: Vec<Action>,
    fencer: &Fencer,
    params: &DeviceParams,
    conns: &HashMap<u64, Conn>,
    cmd_tx: &mpsc::UnboundedSender<Cmd>,
    hb_out: Option<&std::sync::mpsc::Sender<hb_wire::Msg>>,
) {
    let to_cluster = |m: hb_wire::Msg| {
        if let Some(tx) = hb_out {
            let _ = tx.send(m);
        }
    };
    for a in actions {
        match a {
            Action::Run {
                op,
                attempt,
                device,
                node,
                action,
                timeout_ms,
            } => {
                let Some((type_name, p)) = params.get(&device).cloned() else {
                    let _ = cmd_tx.send(Cmd::AttemptDone {
                        op,
                        attempt,
                        result: AttemptResult::Failed(format!("device {device} is gone")),
                    });
                    continue;
                };
                tracing::info!(device, node, %action, timeout_ms, "fencing attempt");
                let cmd_tx = cmd_tx.clone();
                tokio::spawn(async move {
                    let limit = Duration::from_millis(timeout_ms);
                    let t = type_name.clone();
                    let job = tokio::task::spawn_blocking(move || {
                        device::attempt(&t, &p, action, &node, limit)
                    });
                    let result = match tokio::time::timeout(limit + ATTEMPT_SLACK, job).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => AttemptResult::Failed(format!("plugin thread failed: {e}")),
                        // The plugin's program is being killed (SIGTERM, SIGKILL 5 s later)
                        // by its own deadline; a built-in plugin blocked in-process is left
                        // to finish on its thread.
                        Err(_) => AttemptResult::Timeout(format!(
                            "{type_name} did not finish within {:.1}s",
                            limit.as_secs_f64()
                        )),
                    };
                    if let AttemptResult::Failed(why) | AttemptResult::Timeout(why) = &result {
                        tracing::warn!(device, "attempt failed: {why}");
                    }
                    let _ = cmd_tx.send(Cmd::AttemptDone {
                        op,
                        attempt,
                        result,
                    });
                });
            }
            Action::Reply { conn, req, outcome } => {
                let mut r = Reply::ok(req);
                r.outcome = Some(outcome);
                send_line(conns, conn, r.to_line());
            }
            Action::AskPeers(r) => {
                tracing::info!(node = %r.node, reqid = %r.reqid, "no local device: asking peers");
                to_cluster(cluster::request_msg(&r));
            }
            Action::Claim(c) => {
                tracing::info!(node = %c.node, reqid = %c.reqid, "fencing for a peer");
                to_cluster(cluster::claim_msg(&c, fencer.local_node()));
            }
            Action::Announce(a) => to_cluster(cluster::result_msg(&a)),
            Action::Notify(o) => {
                log_outcome(&o);
                let line = Event::fenced(o).to_line();
                for c in conns.values().filter(|c| c.watching) {
                    let _ = c.tx.send(line.clone());
                }
            }
        }
    }
}

fn log_outcome(o: &FenceOutcome) {
    let by = o.by.as_deref().unwrap_or("-");
    let dev = o.device.as_deref().unwrap_or("-");
    if o.result == FenceResult::Ok {
        tracing::info!(node = %o.node, action = %o.action, by, device = dev, "fenced: {}", o.detail);
    } else {
        tracing::error!(
            node = %o.node, action = %o.action, result = %o.result, by, device = dev,
            "fencing did not succeed: {}", o.detail
        );
    }
}

/// Binds the socket: refuses to take over a live stonithd's socket, removes a stale
/// one, mode 0660 root:haclient.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another stonithd is listening on {}", path.display());
        }
        fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    // Created as 0660 rather than chmod-ed after bind: no moment where anyone may
    // connect. Only this thread runs yet, so the process-wide umask is ours to change.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.with_context(|| format!("cannot bind {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    if let Ok(Some(g)) = nix::unistd::Group::from_name(HA_GROUP) {
        if let Err(e) = nix::unistd::chown(path, None, Some(g.gid)) {
            tracing::warn!("cannot chgrp {} to {HA_GROUP}: {e}", path.display());
        }
    }
    Ok(listener)
}

/// Root, our own uid, or a member (primary or supplementary) of haclient.
fn peer_allowed(uid: u32, gid: u32) -> bool {
    if uid == 0 || uid == nix::unistd::geteuid().as_raw() {
        return true;
    }
    let Ok(Some(group)) = nix::unistd::Group::from_name(HA_GROUP) else {
        return false;
    };
    if gid == group.gid.as_raw() {
        return true;
    }
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return false;
    };
    let Ok(name) = std::ffi::CString::new(user.name.clone()) else {
        return false;
    };
    nix::unistd::getgrouplist(&name, user.gid)
        .map(|gs| gs.contains(&group.gid))
        .unwrap_or(false)
}

/// One client: credentials, then bounded request lines to the main loop; replies and
/// events come back through the writer task.
async fn connection(stream: UnixStream, conn: u64, cmd_tx: mpsc::UnboundedSender<Cmd>) {
    let (mut rd, mut wr) = stream.into_split();
    let cred = match rd.as_ref().peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(conn, "cannot read peer credentials: {e}");
            return;
        }
    };
    if !peer_allowed(cred.uid(), cred.gid()) {
        tracing::warn!(
            conn,
            uid = cred.uid(),
            gid = cred.gid(),
            pid = cred.pid(),
            "connection refused: not root or {HA_GROUP}"
        );
        let mut l = Reply::error(
            None,
            format!(
                "permission denied: uid {} gid {} may not use stonithd (root or group {HA_GROUP} only)",
                cred.uid(),
                cred.gid()
            ),
        )
        .to_line();
        l.push('\n');
        let _ = wr.write_all(l.as_bytes()).await;
        let _ = wr.shutdown().await;
        // Closing with unread input makes Linux reset the peer, which may then lose
        // the refusal: swallow what it sent until it hangs up (briefly).
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut sink = [0u8; 4096];
            while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    if cmd_tx
        .send(Cmd::Connect {
            conn,
            tx: tx.clone(),
        })
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(mut line) = rx.recv().await {
            line.push('\n');
            if wr.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut lineno = 0u64;
    // True while the rest of an over-long line is thrown away.
    let mut skipping = false;
    loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = &chunk[..n];
        while !data.is_empty() {
            let Some(pos) = data.iter().position(|&b| b == b'\n') else {
                if !skipping {
                    buf.extend_from_slice(data);
                    if buf.len() > MAX_LINE {
                        lineno += 1;
                        let e = parse_request(&buf, lineno).unwrap_err();
                        let _ = tx.send(e.reply().to_line());
                        buf.clear();
                        skipping = true;
                    }
                }
                break;
            };
            let (part, rest) = data.split_at(pos);
            data = &rest[1..];
            if skipping {
                skipping = false;
                buf.clear();
                continue;
            }
            buf.extend_from_slice(part);
            let line = std::mem::take(&mut buf);
            lineno += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_request(&line, lineno) {
                Ok(req) => {
                    if cmd_tx.send(Cmd::Request { conn, req }).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(conn, "{e}");
                    let _ = tx.send(e.reply().to_line());
                }
            }
        }
    }
    let _ = cmd_tx.send(Cmd::Gone(conn));
    drop(tx);
    let _ = writer.await;
}

/// Keeps a sign-on to heartbeat as client `stonithd`: retries every second while
/// heartbeat is down, forwards stonithd messages in, and sends ours out. Receiving
/// blocks; a second thread sends through [`hb_api::HbSender`], so an idle stonithd
/// does not wake up (it used to poll every 200 ms).
fn heartbeat_thread(
    path: PathBuf,
    cmd_tx: mpsc::UnboundedSender<Cmd>,
    out_rx: std::sync::mpsc::Receiver<hb_wire::Msg>,
) {
    let sender: Arc<Mutex<Option<hb_api::HbSender>>> = Arc::new(Mutex::new(None));
    let out = sender.clone();
    let spawned = std::thread::Builder::new()
        .name("heartbeat-send".into())
        .spawn(move || {
            // Ends when stonithd drops its sending side.
            while let Ok(m) = out_rx.recv() {
                let Ok(mut slot) = out.lock() else { return };
                // Without a sign-on the message is stale by the time heartbeat is back.
                if let Some(s) = slot.as_mut() {
                    if let Err(e) = s.send_cluster(&m) {
                        tracing::warn!("cannot send to heartbeat: {e}");
                        *slot = None;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the heartbeat sender thread: {e}");
        return;
    }
    let mut last_error = String::new();
    loop {
        match hb_api::HbClient::signon_with_timeout(
            &path,
            Some(cluster::CLIENT_NAME),
            Some(Duration::from_secs(5)),
        ) {
            Ok(mut c) => {
                last_error.clear();
                tracing::info!(node = c.local_node(), "signed on to heartbeat");
                match (c.sender(), sender.lock()) {
                    (Ok(s), Ok(mut slot)) => *slot = Some(s),
                    (Err(e), _) => tracing::error!("heartbeat connection: {e}"),
                    (_, Err(_)) => return,
                }
                if cmd_tx
                    .send(Cmd::ClusterUp(c.local_node().to_lowercase()))
                    .is_err()
                {
                    return;
                }
                let why = loop {
                    match c.recv(Some(HB_IDLE_CHECK)) {
                        Ok(Some(m)) => {
                            if matches!(
                                m.msg_type(),
                                Some(cluster::T_REQ | cluster::T_CLAIM | cluster::T_RES)
                            ) && cmd_tx.send(Cmd::ClusterMsg(m)).is_err()
                            {
                                return;
                            }
                        }
                        Ok(None) if cmd_tx.is_closed() => return,
                        Ok(None) => {}
                        Err(e) => break e.to_string(),
                    }
                };
                if let Ok(mut slot) = sender.lock() {
                    *slot = None;
                }
                tracing::warn!("heartbeat connection lost: {why}; signing on again");
                if cmd_tx.send(Cmd::ClusterDown).is_err() {
                    return;
                }
            }
            Err(e) => {
                let e = e.to_string();
                if e != last_error {
                    tracing::info!(
                        "cannot sign on to heartbeat at {}: {e}; retrying every second",
                        path.display()
                    );
                    last_error = e;
                }
            }
        }
        if cmd_tx.is_closed() {
            return;
        }
        std::thread::sleep(SIGNON_RETRY);
    }
}
