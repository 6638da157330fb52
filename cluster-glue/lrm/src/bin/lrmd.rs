//! lrmd: the Local Resource Manager daemon (JSON over a Unix stream socket; docs/lrmd.md).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use lrm::model::{ClientId, Resource};
use lrm::proto::{
    outcome_value, parse_request, ErrorCode, Event, Reply, Request, DEFAULT_SOCKET, MAX_LINE,
};
use lrm::runner::{Completion, RunnerExecutor};
use lrm::sched::{CancelSel, Lrm, LrmError, Outcome, DEFAULT_MAX_CHILDREN};
use ra_runner::{AgentSpec, Class, Roots};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// Lines queued for one client before further events to it are dropped.
const CLIENT_QUEUE: usize = 4096;
/// Group whose members may use lrmd besides root.
const HA_GROUP: &str = "haclient";

#[derive(Parser, Debug)]
#[command(name = "lrmd", version, about = "Local Resource Manager daemon")]
struct Args {
    /// Listening socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Concurrent agents (default: LRMD_MAX_CHILDREN, else 4).
    #[arg(long, env = "LRMD_MAX_CHILDREN")]
    max_children: Option<usize>,
    /// OCF root (agents in <root>/resource.d/<provider>/<type>).
    #[arg(long, env = "LRMD_OCF_ROOT", default_value = ra_runner::roots::DEFAULT_OCF_ROOT)]
    ocf_root: PathBuf,
    /// LSB init script directory.
    #[arg(long, env = "LRMD_LSB_DIR", default_value = ra_runner::roots::DEFAULT_LSB_DIR)]
    lsb_dir: PathBuf,
    /// heartbeat-class script directory.
    #[arg(long, env = "LRMD_HEARTBEAT_DIR", default_value = ra_runner::roots::DEFAULT_HEARTBEAT_DIR)]
    heartbeat_dir: PathBuf,
    /// Log to this file instead of stderr.
    #[arg(long, conflicts_with = "syslog")]
    logfile: Option<PathBuf>,
    /// Log to syslog (facility daemon, ident lrmd) instead of stderr.
    #[arg(long)]
    syslog: bool,
    /// More logging (repeat for trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Seconds a graceful shutdown waits for running ops before killing them.
    #[arg(long, default_value_t = 120)]
    shutdown_timeout: u64,
    /// heartbeat's API socket; lrmd signs on when it exists.
    #[arg(long, default_value = hb_api::API_REGSOCK)]
    hb_socket: PathBuf,
    /// Client name for the heartbeat sign-on (needs `apiauth <name>`); casual when absent.
    #[arg(long)]
    hb_name: Option<String>,
    /// Do not sign on to heartbeat.
    #[arg(long)]
    standalone: bool,
}

/// What connection tasks tell the main loop.
enum Cmd {
    Connect(ClientId, mpsc::Sender<String>),
    Request(ClientId, Value, Request),
    Gone(ClientId),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = init_logging(&args) {
        eprintln!("lrmd: {e:#}");
        return std::process::ExitCode::from(100);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start runtime: {e}");
            return std::process::ExitCode::from(100);
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            // lrmd exited 100 when it could not set up its sockets.
            std::process::ExitCode::from(100)
        }
    }
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    let level = match args.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LRMD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if args.syslog {
        // SAFETY: the ident is a static NUL-terminated string, as openlog requires.
        unsafe { libc::openlog(c"lrmd".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        builder
            .with_ansi(false)
            .without_time()
            .with_writer(Syslog)
            .init();
        return Ok(());
    }
    match &args.logfile {
        Some(path) => {
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// `MakeWriter` that sends each formatted event to syslog at the event's level.
struct Syslog;

/// One event's text, sent to syslog when the formatter is done with it.
struct SyslogLine {
    priority: libc::c_int,
    buf: Vec<u8>,
}

impl std::io::Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text: Vec<u8> = self
            .buf
            .iter()
            .copied()
            .filter(|&b| b != 0 && b != b'\n')
            .collect();
        if let Ok(c) = std::ffi::CString::new(text) {
            // SAFETY: "%s" with one valid C string argument.
            unsafe { libc::syslog(self.priority, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;
    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            priority: libc::LOG_INFO,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        let priority = match *meta.level() {
            tracing::Level::ERROR => libc::LOG_ERR,
            tracing::Level::WARN => libc::LOG_WARNING,
            tracing::Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        SyslogLine {
            priority,
            buf: Vec::new(),
        }
    }
}

/// Binds the socket: refuses to steal a live lrmd's socket, replaces a stale one, and sets
/// mode 0660 root:haclient.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o750));
            chown_haclient(dir);
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another lrmd is listening on {}", path.display());
        }
        fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot bind {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    chown_haclient(path);
    Ok(listener)
}

fn chown_haclient(path: &Path) {
    if let Ok(Some(g)) = nix::unistd::Group::from_name(HA_GROUP) {
        if let Err(e) = nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(g.gid)) {
            tracing::warn!("cannot chown {} to root:{HA_GROUP}: {e}", path.display());
        }
    }
}

/// Root, or a member (primary or supplementary) of haclient.
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

/// Keeps a heartbeat API sign-on open so that heartbeat sees lrmd as a client.
fn heartbeat_signon(path: PathBuf, name: Option<String>) {
    if !path.exists() {
        tracing::info!("{} not found: running stand-alone", path.display());
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("hb-api".into())
        .spawn(
            move || match hb_api::client::HbClient::signon(&path, name.as_deref()) {
                Ok(mut c) => {
                    tracing::info!(client_id = c.client_id(), "signed on to heartbeat");
                    loop {
                        match c.recv(None) {
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(
                                    "heartbeat API connection lost: {e}; running stand-alone"
                                );
                                return;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(
                    "cannot sign on to heartbeat at {}: {e}; running stand-alone",
                    path.display()
                ),
            },
        );
    if let Err(e) = spawned {
        tracing::warn!("cannot start heartbeat sign-on thread: {e}");
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = bind(&args.socket)?;
    let roots = Roots {
        ocf_root: args.ocf_root.clone(),
        lsb_dir: args.lsb_dir.clone(),
        heartbeat_dir: args.heartbeat_dir.clone(),
    };
    let max_children = args.max_children.unwrap_or(DEFAULT_MAX_CHILDREN).max(1);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
    let mut lrm = Lrm::new(RunnerExecutor::new(roots.clone(), done_tx), max_children);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Cmd>(1024);
    if !args.standalone {
        heartbeat_signon(args.hb_socket.clone(), args.hb_name.clone());
    }
    tracing::info!(socket = %args.socket.display(), max_children, "lrmd started");

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    // SIGHUP was ignored by lrmd; keep a handler so that it does not kill us.
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;

    let mut clients: HashMap<ClientId, mpsc::Sender<String>> = HashMap::new();
    let mut subscribers: HashSet<ClientId> = HashSet::new();
    let mut next_client = 1u64;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    let far = Duration::from_secs(3600);

    loop {
        let wake = lrm.next_deadline().unwrap_or_else(|| Instant::now() + far);
        let kill_wake = kill_at
            .filter(|_| !killed)
            .unwrap_or_else(|| Instant::now() + far);
        tokio::select! {
            accepted = listener.accept(), if kill_at.is_none() => match accepted {
                Ok((stream, _)) => {
                    let id = ClientId(next_client);
                    next_client += 1;
                    tokio::spawn(connection(stream, id, cmd_tx.clone()));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(cmd) = cmd_rx.recv() => match cmd {
                Cmd::Connect(id, tx) => { clients.insert(id, tx); }
                Cmd::Gone(id) => {
                    clients.remove(&id);
                    subscribers.remove(&id);
                    lrm.client_gone(id);
                    tracing::debug!(client = id.0, "client disconnected");
                }
                Cmd::Request(id, req_id, req) => {
                    let reply = handle(&mut lrm, &mut subscribers, id, req_id, req, clients.get(&id).cloned());
                    if let (Some(reply), Some(tx)) = (reply, clients.get(&id)) {
                        send_line(tx, &reply, id);
                    }
                }
            },
            Some((call_id, result)) = done_rx.recv() => {
                lrm.executor_mut().finished(call_id);
                lrm.complete(call_id, result, Instant::now());
            }
            _ = tokio::time::sleep_until(wake.into()) => lrm.tick(Instant::now()),
            _ = tokio::time::sleep_until(kill_wake.into()) => {
                tracing::warn!("shutdown grace period expired; killing running operations");
                lrm.kill_all(Instant::now());
                killed = true;
            }
            _ = sigterm.recv() => begin_shutdown(&mut lrm, &mut kill_at, args.shutdown_timeout),
            _ = sigint.recv() => begin_shutdown(&mut lrm, &mut kill_at, args.shutdown_timeout),
            _ = sighup.recv() => tracing::info!("SIGHUP ignored"),
        }
        for n in lrm.take_notifications() {
            let line = match serde_json::to_string(&Event::OpResult(n.record)) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("cannot encode result: {e}");
                    continue;
                }
            };
            let mut targets: Vec<ClientId> = subscribers.iter().copied().collect();
            if let Some(owner) = n.owner {
                if !subscribers.contains(&owner) {
                    targets.push(owner);
                }
            }
            for t in targets {
                if let Some(tx) = clients.get(&t) {
                    send_raw(tx, line.clone(), t);
                }
            }
        }
        if lrm.is_shutting_down() && lrm.is_idle() {
            tracing::info!("no operation left; lrmd exits");
            break;
        }
    }
    drop(listener);
    let _ = fs::remove_file(&args.socket);
    // The last results are queued for the writer tasks; let them reach the clients before
    // the runtime (and with it every connection) goes away.
    let flush_deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < flush_deadline
        && clients.values().any(|tx| tx.capacity() < tx.max_capacity())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(())
}

fn begin_shutdown(lrm: &mut Lrm<RunnerExecutor>, kill_at: &mut Option<Instant>, timeout: u64) {
    if kill_at.is_some() {
        return;
    }
    tracing::info!(
        running = lrm.running(),
        "shutdown requested: refusing new operations, waiting for running ones"
    );
    lrm.shutdown(Instant::now());
    *kill_at = Some(Instant::now() + Duration::from_secs(timeout));
}

fn send_line(tx: &mpsc::Sender<String>, reply: &Reply, client: ClientId) {
    match serde_json::to_string(reply) {
        Ok(l) => send_raw(tx, l, client),
        Err(e) => tracing::error!("cannot encode reply: {e}"),
    }
}

fn send_raw(tx: &mpsc::Sender<String>, line: String, client: ClientId) {
    if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(line) {
        // A client that does not read must not make lrmd buffer without bound.
        tracing::warn!(client = client.0, "client is not reading; message dropped");
    }
}

fn lrm_error(id: Value, e: LrmError) -> Reply {
    let code = match &e {
        LrmError::UnknownResource(_) => ErrorCode::UnknownResource,
        LrmError::Duplicate { .. } | LrmError::InvalidResource { .. } => ErrorCode::InvalidResource,
        LrmError::Frozen { .. } | LrmError::ShuttingDown => ErrorCode::Busy,
        LrmError::UnknownOp { .. } => ErrorCode::UnknownOperation,
        LrmError::InvalidOp(_) | LrmError::InvalidMaxChildren(_) => ErrorCode::InvalidArgument,
    };
    Reply::err(id, code, e.to_string())
}

fn outcome(id: Value, r: Result<Outcome, LrmError>) -> Reply {
    match r {
        Ok(o) => Reply::ok(id, outcome_value(o == Outcome::Pending)),
        Err(e) => lrm_error(id, e),
    }
}

fn parse_class(id: &Value, class: &str) -> Result<Class, Reply> {
    Class::from_str(class)
        .map_err(|e| Reply::err(id.clone(), ErrorCode::InvalidArgument, e.to_string()))
}

fn to_value<T: serde::Serialize>(id: Value, v: &T) -> Reply {
    match serde_json::to_value(v) {
        Ok(v) => Reply::ok(id, v),
        Err(e) => Reply::err(
            id,
            ErrorCode::AgentError,
            format!("cannot encode reply: {e}"),
        ),
    }
}

/// Handles one request; `None` when the reply is sent later (meta-data).
fn handle(
    lrm: &mut Lrm<RunnerExecutor>,
    subscribers: &mut HashSet<ClientId>,
    client: ClientId,
    id: Value,
    req: Request,
    tx: Option<mpsc::Sender<String>>,
) -> Option<Reply> {
    let now = Instant::now();
    let roots = lrm.executor().roots().clone();
    let reply = match req {
        Request::Register { rsc } => match lrm.register(rsc) {
            Ok(()) => Reply::ok(id, json!({})),
            Err(e) => lrm_error(id, e),
        },
        Request::Unregister { rsc } => outcome(id, lrm.delete(&rsc, now)),
        Request::Exec { rsc, op } => match lrm.exec(&rsc, op, Some(client), now) {
            Ok(call_id) => Reply::ok(id, json!({ "call_id": call_id })),
            Err(e) => lrm_error(id, e),
        },
        Request::Cancel {
            rsc,
            call_id,
            operation,
            interval,
        } => {
            let sel = match (call_id, operation) {
                (Some(c), _) => CancelSel::Call(c),
                (None, Some(op)) => CancelSel::Key {
                    operation: op,
                    interval: interval.unwrap_or(0),
                },
                (None, None) => {
                    return Some(Reply::err(
                        id,
                        ErrorCode::InvalidArgument,
                        "cancel needs \"call_id\" or \"operation\" (+ \"interval\")",
                    ))
                }
            };
            outcome(id, lrm.cancel(&rsc, sel, now))
        }
        Request::Flush { rsc } => outcome(id, lrm.flush(&rsc, now)),
        Request::Fail { rsc, rc, reason } => match lrm.fail_rsc(&rsc, rc.unwrap_or(1), reason) {
            Ok(call_id) => Reply::ok(id, json!({ "call_id": call_id })),
            Err(e) => lrm_error(id, e),
        },
        Request::Get { rsc } => match lrm.resource(&rsc) {
            Some(r) => to_value(id, r),
            None => lrm_error(id, LrmError::UnknownResource(rsc)),
        },
        Request::List => {
            let all: Vec<&Resource> = lrm
                .resource_ids()
                .iter()
                .filter_map(|i| lrm.resource(i))
                .collect();
            to_value(id, &json!({ "resources": all }))
        }
        Request::State { rsc } => match lrm.state(&rsc, now) {
            Ok(s) => to_value(id, &s),
            Err(e) => lrm_error(id, e),
        },
        Request::Classes => {
            let classes: Vec<&str> = roots.classes().iter().map(|c| c.as_str()).collect();
            Reply::ok(id, json!({ "classes": classes }))
        }
        Request::Providers { class, agent_type } => match parse_class(&id, &class) {
            Ok(c) => match roots.providers(c, agent_type.as_deref()) {
                Ok(p) => Reply::ok(id, json!({ "providers": p })),
                Err(e) => Reply::err(id, ErrorCode::AgentError, e.to_string()),
            },
            Err(r) => r,
        },
        Request::Types { class, provider } => match parse_class(&id, &class) {
            Ok(c) => match roots.types(c, provider.as_deref()) {
                Ok(t) => Reply::ok(id, json!({ "types": t })),
                Err(e) => Reply::err(id, ErrorCode::AgentError, e.to_string()),
            },
            Err(r) => r,
        },
        Request::Metadata {
            class,
            agent_type,
            provider,
        } => {
            let c = match parse_class(&id, &class) {
                Ok(c) => c,
                Err(r) => return Some(r),
            };
            let provider = if c == Class::Ocf { provider } else { None };
            let spec = match AgentSpec::new(c, provider.as_deref(), &agent_type) {
                Ok(s) => s,
                Err(e) => return Some(Reply::err(id, ErrorCode::InvalidArgument, e.to_string())),
            };
            // The agent runs in its own task: a slow meta-data must not stall lrmd.
            tokio::spawn(async move {
                let reply = metadata(id, spec, roots).await;
                if let Some(tx) = tx {
                    send_line(&tx, &reply, client);
                }
            });
            return None;
        }
        Request::FailcountGet { rsc } => match lrm.fail_count(&rsc) {
            Ok(f) => to_value(id, &f),
            Err(e) => lrm_error(id, e),
        },
        Request::FailcountReset { rsc } => match lrm.reset_fail_count(&rsc) {
            Ok(()) => Reply::ok(id, json!({})),
            Err(e) => lrm_error(id, e),
        },
        Request::GetParam { name } if name == "max-children" => Reply::ok(
            id,
            json!({ "name": name, "value": lrm.max_children().to_string() }),
        ),
        Request::SetParam { name, value } if name == "max-children" => {
            match value.trim().parse::<usize>() {
                Ok(n) => match lrm.set_max_children(n, now) {
                    Ok(()) => Reply::ok(id, json!({})),
                    Err(e) => lrm_error(id, e),
                },
                Err(e) => Reply::err(
                    id,
                    ErrorCode::InvalidArgument,
                    format!("max-children {value:?}: {e}"),
                ),
            }
        }
        Request::GetParam { name } | Request::SetParam { name, .. } => Reply::err(
            id,
            ErrorCode::InvalidArgument,
            format!("unknown lrmd parameter {name:?} (only max-children exists)"),
        ),
        Request::Subscribe => {
            subscribers.insert(client);
            Reply::ok(id, json!({}))
        }
        Request::Ping => Reply::ok(
            id,
            json!({ "pid": std::process::id(), "version": env!("CARGO_PKG_VERSION"),
                    "shutting_down": lrm.is_shutting_down() }),
        ),
    };
    Some(reply)
}

async fn metadata(id: Value, spec: AgentSpec, roots: Roots) -> Reply {
    let mut req = ra_runner::OpRequest::new(spec.clone(), "meta-data");
    req.timeout = Duration::from_secs(30);
    req.output_limit = MAX_LINE / 2;
    match ra_runner::run_async(&req, &roots).await {
        Ok(r) if r.status == ra_runner::OpStatus::Done && r.rc == 0 && !r.stdout.is_empty() => {
            Reply::ok(id, json!({ "metadata": r.stdout_str() }))
        }
        Ok(r) => Reply::err(
            id,
            ErrorCode::AgentError,
            format!(
                "{spec} meta-data failed: {:?}, rc {} ({})",
                r.status,
                r.rc,
                r.outcome.text()
            ),
        ),
        Err(e) => Reply::err(id, ErrorCode::AgentError, e.to_string()),
    }
}

/// One client connection: checks credentials, reads bounded request lines, forwards them
/// to the main loop, and writes replies and events.
async fn connection(stream: UnixStream, id: ClientId, cmd_tx: mpsc::Sender<Cmd>) {
    let (mut rd, mut wr) = stream.into_split();
    let cred = match rd.as_ref().peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(client = id.0, "cannot read peer credentials: {e}");
            return;
        }
    };
    if !peer_allowed(cred.uid(), cred.gid()) {
        tracing::warn!(
            client = id.0,
            uid = cred.uid(),
            gid = cred.gid(),
            "connection refused: not root or {HA_GROUP}"
        );
        let reply = Reply::err(
            Value::Null,
            ErrorCode::PermissionDenied,
            format!(
                "uid {} gid {} may not use lrmd (root or group {HA_GROUP} only)",
                cred.uid(),
                cred.gid()
            ),
        );
        if let Ok(mut l) = serde_json::to_vec(&reply) {
            l.push(b'\n');
            let _ = wr.write_all(&l).await;
        }
        return;
    }
    let (tx, mut rx) = mpsc::channel::<String>(CLIENT_QUEUE);
    if cmd_tx.send(Cmd::Connect(id, tx.clone())).await.is_err() {
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
    let mut chunk = vec![0u8; 64 * 1024];
    // True while the rest of an over-long line is being thrown away.
    let mut skipping = false;
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = &chunk[..n];
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    let (part, rest) = data.split_at(pos);
                    data = &rest[1..];
                    if skipping {
                        skipping = false;
                        buf.clear();
                        continue;
                    }
                    buf.extend_from_slice(part);
                    let line = std::mem::take(&mut buf);
                    if line.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    match parse_request(&line) {
                        Ok((req_id, req)) => {
                            if cmd_tx.send(Cmd::Request(id, req_id, req)).await.is_err() {
                                break 'read;
                            }
                        }
                        Err(reply) => {
                            tracing::warn!(
                                client = id.0,
                                "bad request: {:?}",
                                reply.error.as_ref().map(|e| &e.message)
                            );
                            send_line(&tx, &reply, id);
                        }
                    }
                }
                None => {
                    if !skipping {
                        buf.extend_from_slice(data);
                        if buf.len() > MAX_LINE {
                            tracing::warn!(
                                client = id.0,
                                "request line over {MAX_LINE} bytes discarded"
                            );
                            send_line(
                                &tx,
                                &Reply::err(
                                    Value::Null,
                                    ErrorCode::Malformed,
                                    format!("request line exceeds {MAX_LINE} bytes"),
                                ),
                                id,
                            );
                            buf = Vec::new();
                            skipping = true;
                        }
                    }
                    data = &[];
                }
            }
        }
    }
    let _ = cmd_tx.send(Cmd::Gone(id)).await;
    drop(tx);
    // The main loop drops its sender on Gone; the writer then flushes and ends.
    let _ = writer.await;
}
