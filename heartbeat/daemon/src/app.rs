//! The daemon's I/O shell around `hb_core::Core` and `hb_api::server::ApiServer`:
//! one thread, one loop, one owner of all protocol state.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use hb_api::server::{ApiOutput, ApiServer, ConnId, PeerCred};
use hb_core::{Action, Core, Now};
use hb_wire::Msg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::config::DaemonConfig;
use crate::lrmd_client::LrmEvent;
use crate::media::{self, Inbound, Media, OutPacket};
use crate::paths::Paths;
use crate::ping::Pinger;
use crate::rm::{RmGlue, RmOut};
use crate::timer::DeadlineTimer;
use crate::view::View;
use crate::{logging, state, Opts};

/// How long a stopping node keeps sending status after `shutdone`, so the announcement
/// survives a lost packet (heartbeat keeps going ~1.5 s too).
const SHUTDOWN_LINGER: Duration = Duration::from_millis(600);
/// heartbeat restarts itself this long after a peer returned from a partition (R1).
const PARTITION_RESTART_DELAY: Duration = Duration::from_secs(2);
/// Frames queued for one API client before it is considered stuck and dropped.
const CLIENT_QUEUE: usize = 1024;

/// Monotonic and wall clocks, as the core wants them.
struct Clock {
    origin: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        Now {
            mono_ms: self.origin.elapsed().as_millis() as u64,
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// [`Clock::now`] moved back to a kernel receive stamp (wall-clock ns), but not
    /// before `not_before_ms` (monotonic): the age is measured on the wall clock, the
    /// result is on the monotonic one. The floor is the previous read of the queue,
    /// after which the datagram must have arrived, so a wall clock stepped forward
    /// cannot make a heartbeat look older than a keepalive (and a node dead); a stamp
    /// from the future (the clock was set back) counts as now.
    fn arrived(&self, stamp_ns: u64, not_before_ms: u64) -> Now {
        let now = self.now();
        if stamp_ns == 0 {
            return now;
        }
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let age_ms = wall_ns.saturating_sub(stamp_ns) / 1_000_000;
        Now {
            mono_ms: now
                .mono_ms
                .saturating_sub(age_ms)
                .max(not_before_ms.min(now.mono_ms)),
            unix_secs: now.unix_secs,
        }
    }

    fn instant(&self, mono_ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_millis(mono_ms))
    }
}

/// `/proc/loadavg`, for the `ld` field. Kept open and read with `pread`: one syscall
/// per refresh instead of open, stat, two reads and close.
struct LoadAvg {
    file: Option<std::fs::File>,
}

impl LoadAvg {
    fn open() -> LoadAvg {
        LoadAvg {
            file: std::fs::File::open("/proc/loadavg").ok(),
        }
    }

    fn read(&mut self) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        let n = self.file.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        Some(text.trim_end().to_string())
    }
}

/// Starts the daemon: configuration, logging, identity, then the event loop.
pub fn start(opts: Opts) -> Result<()> {
    let paths = opts.paths();
    let node = crate::paths::local_node_name(opts.node.as_deref(), &paths.nodeinfo())?;
    let cfg = DaemonConfig::load(&paths, &node, opts.debug, opts.foreground)?;
    logging::init(cfg.log.clone());
    for w in &cfg.warnings {
        tracing::warn!("{}", w);
    }
    if let Some(pid) = crate::running_pid(&paths) {
        bail!("heartbeat is already running [pid {pid}]");
    }
    if !opts.foreground {
        nix::unistd::daemon(false, false).context("cannot detach from the terminal")?;
    }
    if cfg.realtime && !opts.no_realtime {
        set_realtime();
    }
    std::fs::create_dir_all(&paths.state_dir)
        .with_context(|| format!("cannot create {}", paths.state_dir.display()))?;
    prepare_run_dir(&paths)?;
    let pid = std::process::id();
    state::write_atomically(&paths.pid_file, format!("{pid}\n").as_bytes(), 0o644)
        .with_context(|| format!("cannot write pid file {}", paths.pid_file.display()))?;

    let clock = Clock {
        origin: Instant::now(),
    };
    let now = clock.now();
    let generation = state::next_generation(&paths.state_dir, cfg.genmethod, now.unix_secs)?;
    let uuid = match cfg.uuid_from_nodename {
        true => hb_config::uuid::from_nodename(&node),
        false => state::node_uuid(&paths.state_dir)?,
    };
    tracing::info!("Heartbeat generation: {}", generation);
    tracing::info!("Local node {} uuid {}", node, hb_core::format_uuid(&uuid));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    let no_resources = opts.no_resources;
    let result = rt.block_on(run(
        cfg,
        paths.clone(),
        clock,
        generation,
        uuid,
        no_resources,
    ));
    drop(rt);
    let _ = std::fs::remove_file(paths.api_socket());
    let _ = std::fs::remove_file(&paths.pid_file);
    match &result {
        Ok(Exit::Stop) => tracing::info!("{} Heartbeat shutdown complete.", node),
        Ok(Exit::Restart) => {
            tracing::info!("{} Heartbeat restart after a partition.", node);
            return Err(reexec());
        }
        // main() logs the error itself ("Heartbeat not started: …").
        Err(_) => {}
    }
    result.map(drop)
}

/// How the event loop ended.
enum Exit {
    Stop,
    /// R1 split-brain heal: resources were given up; start again from scratch.
    Restart,
}

/// Replaces this process with a fresh heartbeat, same command line (same pid, so
/// the pid file and `heartbeat -k` keep working). Returns only on failure.
fn reexec() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let Some(argv0) = args.next() else {
        return anyhow::anyhow!("cannot restart: no argv[0]");
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(&argv0));
    let err = std::process::Command::new(exe)
        .arg0(argv0)
        .args(args)
        .exec();
    anyhow::Error::new(err).context("cannot restart heartbeat")
}

fn prepare_run_dir(paths: &Paths) -> Result<()> {
    std::fs::create_dir_all(&paths.run_dir)
        .with_context(|| format!("cannot create {}", paths.run_dir.display()))?;
    let rsctmp = paths.rsctmp();
    let _ = std::fs::remove_dir_all(&rsctmp);
    std::fs::create_dir_all(&rsctmp)
        .with_context(|| format!("cannot create {}", rsctmp.display()))?;
    std::fs::set_permissions(&rsctmp, std::fs::Permissions::from_mode(0o1755))?;
    // A socket left by a crashed predecessor would make bind fail.
    let _ = std::fs::remove_file(paths.api_socket());
    Ok(())
}

fn set_realtime() {
    // SCHED_FIFO keeps heartbeats on time when the node is CPU-saturated, which is when
    // a late heartbeat would trigger a false failover.
    // SAFETY: sched_get_priority_* and sched_setscheduler only read the struct we pass.
    unsafe {
        let min = libc::sched_get_priority_min(libc::SCHED_FIFO);
        let max = libc::sched_get_priority_max(libc::SCHED_FIFO);
        let param = libc::sched_param {
            sched_priority: (min + max) / 2,
        };
        if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) != 0 {
            tracing::info!(
                "Request to set pid {} to realtime ignored.",
                std::process::id()
            );
        }
    }
}

/// What TERM/INT (stop) and HUP (reload) ask of the loop.
enum DaemonSignal {
    Stop,
    Reload,
}

/// One task owns the signal streams and forwards what arrives: the loop then polls a
/// single channel on every wake-up instead of three signal streams.
fn forward_signals() -> Result<mpsc::Receiver<DaemonSignal>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                Some(()) = term.recv() => DaemonSignal::Stop,
                Some(()) = int.recv() => DaemonSignal::Stop,
                Some(()) = hup.recv() => DaemonSignal::Reload,
                else => return,
            };
            if tx.send(sig).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

enum ApiEvent {
    Connected(ConnId, PeerCred, mpsc::Sender<Vec<u8>>),
    Message(ConnId, Msg),
    Bad(ConnId, String),
    Gone(ConnId),
}

struct Daemon {
    cfg: DaemonConfig,
    paths: Paths,
    clock: Clock,
    core: Core,
    api: ApiServer,
    media: Media,
    pinger: Option<Pinger>,
    clients: HashMap<ConnId, mpsc::Sender<Vec<u8>>>,
    api_tx: mpsc::Sender<ApiEvent>,
    listening: bool,
    clients_paused: bool,
    held_back: Vec<(ConnId, Msg)>,
    bad_packets: u64,
    bad_packet_log_budget: u32,
    last_loadavg_ms: u64,
    loadavg: LoadAvg,
    /// The haresources resource manager (R1 mode without `-M`).
    rm: Option<RmGlue>,
    /// SIGTERM seen: the RM is releasing resources before `shutdone`.
    rm_stopping: bool,
    /// Set when the RM finished its shutdown: exit at this instant.
    exit_at: Option<tokio::time::Instant>,
    /// ha.cf `respawn` clients, started at comm-up.
    respawn: Option<crate::respawn::Respawner>,
    /// Partition returns already acted upon (`CoreStats::returns_after_partition`).
    partitions_seen: u64,
    /// R1: restart ourselves at this instant (a peer returned from a partition).
    restart_at: Option<tokio::time::Instant>,
    restarting: bool,
    /// When the parked steady status was last read (monotonic ms).
    parked_read_ms: u64,
}

async fn run(
    cfg: DaemonConfig,
    paths: Paths,
    clock: Clock,
    generation: u64,
    uuid: [u8; 16],
    no_resources: bool,
) -> Result<Exit> {
    let (pkt_tx, mut pkt_rx) = mpsc::channel::<Inbound>(1024);
    let (media, mut inbox) = media::open(&cfg.media, pkt_tx.clone())?;
    let mut links = media.link_names().to_vec();
    let pinger = if cfg.ping.is_empty() {
        None
    } else {
        let targets = cfg.ping_targets(links.len());
        links.extend(targets.iter().map(|t| t.node.clone()));
        Some(Pinger::open(targets, pkt_tx)?)
    };
    let now = clock.now();
    let core_cfg = cfg.core_config(links, generation, uuid);
    let autojoin = core_cfg.autojoin;
    let mut core = Core::new(core_cfg, now);
    if autojoin != hb_core::AutoJoin::None {
        // With autojoin the cache, not ha.cf, knows who is in the cluster (§3.7).
        match state::read_host_cache(&paths.state_dir) {
            Ok(cache) => core.restore_host_cache(&cache),
            Err(e) => tracing::error!(
                "Cannot read the host cache in {}: {}",
                paths.state_dir.display(),
                e
            ),
        }
    }
    let api = ApiServer::new(cfg.apiauth.clone(), cfg.msgfmt);
    let (api_tx, mut api_rx) = mpsc::channel::<ApiEvent>(1024);
    let mut d = Daemon {
        cfg,
        paths,
        clock,
        core,
        api,
        media,
        pinger,
        clients: HashMap::new(),
        api_tx,
        listening: false,
        clients_paused: false,
        held_back: Vec::new(),
        bad_packets: 0,
        bad_packet_log_budget: 20,
        last_loadavg_ms: 0,
        loadavg: LoadAvg::open(),
        rm: None,
        rm_stopping: false,
        exit_at: None,
        respawn: None,
        partitions_seen: 0,
        restart_at: None,
        restarting: false,
        parked_read_ms: 0,
    };
    let (lrm_tx, mut lrm_rx) = mpsc::channel::<LrmEvent>(256);
    let (fifo_tx, mut fifo_rx) = mpsc::channel::<Msg>(64);
    let (fence_tx, mut fence_rx) = mpsc::channel::<crate::fencing::FenceDone>(16);
    if crate::rm::wanted(&d.cfg, no_resources) {
        let mut rm = RmGlue::new(&d.cfg, &d.paths, now.mono_ms)?;
        rm.start_lrm(&d.cfg, &d.paths, lrm_tx);
        rm.start_fencing(&d.cfg, &d.paths, fence_tx);
        d.rm = Some(rm);
    }
    if let Err(e) = crate::fifo::open(&d.paths.fifo(), fifo_tx) {
        tracing::error!("{:#}", e);
    }
    let mut signals = forward_signals()?;
    let mut stop_at: Option<tokio::time::Instant> = None;
    d.refresh_loadavg(true);
    d.core.tick(d.clock.now());
    d.drain_actions();
    // One timerfd, re-armed only when the next deadline moves (see timer.rs: tokio's
    // wheel would wake twice per keepalive).
    let mut timer = DeadlineTimer::new().context("cannot create the event loop timer")?;
    loop {
        let mut next_ms = d.core.next_wakeup();
        if let Some(rm) = d.rm.as_ref().filter(|rm| rm.needs_timer()) {
            next_ms = next_ms.min(rm.next_tick_ms());
        }
        let wake = d.clock.instant(next_ms);
        let wake = match stop_at.or(d.restart_at) {
            Some(s) if s < wake => s,
            _ => wake,
        };
        timer
            .set(wake.into_std())
            .context("cannot arm the event loop timer")?;
        tokio::select! {
            r = timer.wait() => {
                r.context("event loop timer failed")?;
                if let Some(s) = stop_at {
                    if tokio::time::Instant::now() >= s {
                        break;
                    }
                }
                if d.restart_at.is_some_and(|r| tokio::time::Instant::now() >= r) {
                    d.restart_at = None;
                    if stop_at.is_none() && !d.rm_stopping {
                        tracing::info!("Restarting heartbeat: resources are given up and re-acquired.");
                        d.restarting = true;
                        stop_at = d.begin_shutdown();
                    }
                }
                d.refresh_loadavg(false);
                // Parked status first: liveness is judged right below.
                d.read_parked(&mut inbox);
                let now = d.clock.now();
                d.core.tick(now);
                if let Some(rm) = d.rm.as_mut() {
                    rm.tick(now.mono_ms);
                }
            }
            _ = inbox.recv() => {
                // Parked status is older than anything just woken for.
                d.read_parked(&mut inbox);
                for dg in inbox.datagrams() {
                    d.on_datagram(dg.link, dg.bytes, &dg.from);
                }
            }
            Some(p) = pkt_rx.recv() => d.on_datagram(p.link, &p.bytes, &p.from),
            Some(ev) = lrm_rx.recv() => {
                let now = d.clock.now().mono_ms;
                if let Some(rm) = d.rm.as_mut() {
                    rm.on_lrm_event(now, ev);
                }
            }
            Some(done) = fence_rx.recv() => {
                let now = d.clock.now().mono_ms;
                if let Some(rm) = d.rm.as_mut() {
                    rm.on_fence_done(now, done);
                }
            }
            Some(m) = fifo_rx.recv() => d.on_fifo_msg(m),
            Some(ev) = api_rx.recv() => d.on_api_event(ev),
            Some(sig) = signals.recv() => match sig {
                // A second TERM while stopping changes nothing.
                DaemonSignal::Stop => {
                    if stop_at.is_none() && !d.rm_stopping {
                        stop_at = d.begin_shutdown();
                    }
                }
                DaemonSignal::Reload => d.reload(),
            },
        }
        d.drain_actions();
        if stop_at.is_none() {
            stop_at = d.exit_at.take();
        }
        inbox.set_parking(d.core.settled());
    }
    // heartbeat stops its clients in reverse order of the directives; lrmd (ours
    // when no respawn line runs it) goes last, as its users are gone by then.
    if let Some(r) = d.respawn.take() {
        r.stop().await;
    }
    if let Some(rm) = d.rm.as_mut() {
        rm.stop_lrm().await;
    }
    Ok(if d.restarting {
        Exit::Restart
    } else {
        Exit::Stop
    })
}

impl Daemon {
    /// SIGTERM/SIGINT. With resources, they are released first and `shutdone` is
    /// sent when the RM says so (`exit_at` is set then); returns when to exit if known.
    fn begin_shutdown(&mut self) -> Option<tokio::time::Instant> {
        tracing::info!("Heartbeat shutdown in progress. ({})", std::process::id());
        let now = self.clock.now();
        if let Some(rm) = self.rm.as_mut() {
            if self.core.comm_up() {
                self.rm_stopping = true;
                rm.shutdown(now.mono_ms);
                return None;
            }
        }
        self.core.shutdown(now);
        Some(tokio::time::Instant::now() + SHUTDOWN_LINGER)
    }

    /// heartbeat 3.0.6 in R1 mode heals a split brain by restarting itself 2 s after
    /// a peer returns from a partition (both sides may hold the same groups: giving
    /// everything up and starting over lets the normal start-up protocol place them).
    fn check_partition_return(&mut self) {
        let returns = self.core.stats().returns_after_partition;
        if returns <= self.partitions_seen {
            return;
        }
        self.partitions_seen = returns;
        // Without resources there is nothing to reconcile (heartbeat restarts anyway).
        let has_resources = self.rm.as_ref().is_some_and(RmGlue::has_resources);
        if has_resources && self.restart_at.is_none() && !self.rm_stopping {
            tracing::warn!(
                "A node returned from a partition: restarting heartbeat in {} s.",
                PARTITION_RESTART_DELAY.as_secs()
            );
            self.restart_at = Some(tokio::time::Instant::now() + PARTITION_RESTART_DELAY);
        }
    }

    /// A message from the FIFO: `hb_standby`/`hb_takeover` go to the RM, anything
    /// else is sent to the cluster as our own.
    fn on_fifo_msg(&mut self, msg: Msg) {
        let now = self.clock.now().mono_ms;
        tracing::debug!("FIFO message {}", msg.msg_type().unwrap_or("?"));
        if let Some(rm) = self.rm.as_mut() {
            if rm.on_local_request(now, &msg) {
                return;
            }
        }
        if matches!(msg.msg_type(), Some("ask_resources" | "hb_takeover")) && self.rm.is_none() {
            tracing::warn!("Resource request from the FIFO ignored: no resource manager");
            return;
        }
        self.send_cluster(msg);
    }

    fn refresh_loadavg(&mut self, force: bool) {
        let now = self.clock.now().mono_ms;
        if !force && now.saturating_sub(self.last_loadavg_ms) < 5_000 {
            return;
        }
        self.last_loadavg_ms = now;
        if let Some(ld) = self.loadavg.read() {
            self.core.set_loadavg(ld);
        }
    }

    fn reload(&mut self) {
        match self.cfg.reload_authkeys(&self.paths) {
            Ok(true) => tracing::info!("Rereading authentication file."),
            Ok(false) => tracing::info!("Configuration unchanged; nothing to reload."),
            Err(e) => tracing::error!("Reload failed, keeping old keys: {:#}", e),
        }
    }

    /// A datagram (or tty frame) from link `link`; `from` names the sender in logs.
    fn on_datagram(&mut self, link: usize, bytes: &[u8], from: &dyn std::fmt::Display) {
        self.on_datagram_at(link, bytes, from, 0);
    }

    /// Serial ring (heartbeat's serial medium with two ports or more): an authentic
    /// message from another node goes on to our other ports with its `ttl` one lower
    /// and signed again (the in-band digest covers `ttl`), until the ttl runs out or
    /// the message is back at its sender. So nodes two cables apart still hear each
    /// other, and a ring survives one cut cable.
    fn pass_round_ring(&mut self, link: usize, msg: &Msg) {
        let from_us = msg
            .get_str("src")
            .is_some_and(|s| s.eq_ignore_ascii_case(self.core.local()));
        let ttl = msg
            .get_str("ttl")
            .and_then(|t| t.trim().parse::<i64>().ok());
        let Some(ttl) = ttl.filter(|t| *t > 0 && !from_us) else {
            return;
        };
        let mut fwd = msg.clone();
        fwd.set_str("ttl", (ttl - 1).to_string());
        match hb_wire::packet::encode_classic_packet(&fwd, &self.cfg.packet) {
            Ok(text) => self.media.forward_serial(link, &text),
            Err(e) => tracing::error!(
                "cannot forward a {} message round the ring: {}",
                msg.msg_type().unwrap_or("?"),
                e
            ),
        }
    }

    /// The steady status parked since the last read (see parking.rs).
    fn read_parked(&mut self, inbox: &mut crate::media::UdpInbox) {
        let started = self.clock.now().mono_ms;
        inbox.drain_parked(|p| self.on_datagram_at(p.link, p.bytes, &p.from, p.stamp_ns));
        self.parked_read_ms = started;
    }

    /// A datagram the kernel received at `stamp_ns` (wall clock; 0: just now), handled
    /// as if at that instant: parked status is read up to a keepalive late.
    fn on_datagram_at(
        &mut self,
        link: usize,
        bytes: &[u8],
        from: &dyn std::fmt::Display,
        stamp_ns: u64,
    ) {
        match hb_wire::packet::decode_packet(bytes, &self.cfg.packet.keyring) {
            Ok(msg) => {
                if self.media.is_ring_port(link) {
                    self.pass_round_ring(link, &msg);
                }
                let now = self.clock.arrived(stamp_ns, self.parked_read_ms);
                self.core.on_message(now, link, msg);
            }
            Err(e) => {
                self.bad_packets += 1;
                // A flood of garbage must not become a flood of log lines.
                if self.cfg.log_badpack && self.bad_packet_log_budget > 0 {
                    self.bad_packet_log_budget -= 1;
                    let link_name = self
                        .media
                        .link_names()
                        .get(link)
                        .cloned()
                        .unwrap_or_default();
                    tracing::error!(
                        "Dropped bad packet from {} on {} ({} bytes): {}",
                        from,
                        link_name,
                        bytes.len(),
                        e
                    );
                    if self.bad_packet_log_budget == 0 {
                        tracing::error!(
                            "Too many bad packets: not logging more until the next minute"
                        );
                    }
                }
            }
        }
    }

    fn drain_actions(&mut self) {
        // Budget refills slowly so a steady trickle of bad packets stays visible.
        if self.bad_packet_log_budget == 0 && self.clock.now().mono_ms % 60_000 < 1_000 {
            self.bad_packet_log_budget = 20;
        }
        loop {
            self.drain_core_actions();
            let now = self.clock.now();
            let outs = match self.rm.as_mut() {
                Some(rm) => rm.poll(now.mono_ms),
                None => Vec::new(),
            };
            if outs.is_empty() {
                break;
            }
            for out in outs {
                match out {
                    RmOut::Send(msg) => {
                        if let Err(e) = self.core.send_cluster(now, msg) {
                            tracing::warn!("Cannot send resource message: {}", e);
                        }
                    }
                    RmOut::ShutdownComplete => {
                        // hb-rm leaves `shutdone` to us: the core sends it.
                        self.core.shutdown(now);
                        self.exit_at = Some(tokio::time::Instant::now() + SHUTDOWN_LINGER);
                    }
                }
            }
        }
    }

    fn drain_core_actions(&mut self) {
        let mut table_changed = false;
        while let Some(action) = self.core.poll_action() {
            let now = self.clock.now().mono_ms;
            match action {
                Action::Send(msg) => self.send(&msg),
                Action::Deliver(msg) => {
                    if let Some(rm) = self.rm.as_mut() {
                        rm.on_message(now, &msg);
                    }
                    self.deliver(&msg);
                }
                Action::CommUp => {
                    self.start_api_listener();
                    if self.respawn.is_none() && !self.cfg.hacf.clients.is_empty() {
                        self.respawn = Some(crate::respawn::Respawner::start(
                            &self.cfg.hacf.clients,
                            &self.cfg.hacf.env,
                        ));
                    }
                    if let Some(rm) = self.rm.as_mut() {
                        rm.on_comm_up(now);
                    }
                }
                Action::NodeStatus { node, new, .. } => {
                    if let Some(rm) = self.rm.as_mut() {
                        if node != self.core.local() {
                            rm.on_node_status(now, &node, &new);
                        }
                    }
                    self.check_partition_return();
                }
                Action::ClientsPaused(p) => {
                    self.clients_paused = p;
                    if p {
                        tracing::warn!("all clients are now paused");
                    } else {
                        tracing::info!("all clients are now resumed");
                        let held = std::mem::take(&mut self.held_back);
                        for (conn, msg) in held {
                            self.on_client_msg(conn, msg);
                        }
                    }
                }
                // Several changes in one batch (a join) make one write.
                Action::NodeTable => table_changed = true,
                Action::LinkStatus { .. }
                | Action::NodeRestarted { .. }
                | Action::ShutdownNotice { .. } => {}
            }
        }
        if table_changed {
            self.save_host_cache();
        }
    }

    /// heartbeat 3.0.6 keeps the host cache only when it does not manage resources
    /// itself (a CRM does): in R1 mode the node list is ha.cf's alone.
    fn save_host_cache(&self) {
        if self.rm.is_some() {
            return;
        }
        if let Err(e) = state::write_host_cache(&self.paths.state_dir, &self.core.host_cache()) {
            tracing::error!(
                "Cannot write the host cache in {}: {}",
                self.paths.state_dir.display(),
                e
            );
        }
    }

    fn send(&mut self, msg: &Msg) {
        let udp = match hb_wire::packet::encode_packet(msg, &self.cfg.packet) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(
                    "Cannot send {} message: {}",
                    msg.msg_type().unwrap_or("?"),
                    e
                );
                return;
            }
        };
        let serial = if self.media.has_serial() {
            hb_wire::packet::encode_classic_packet(msg, &self.cfg.packet).ok()
        } else {
            None
        };
        self.media.send(&OutPacket {
            udp: &udp,
            serial: serial.as_deref(),
        });
        if msg.msg_type() == Some("status") {
            if let Some(p) = self.pinger.as_mut() {
                let secs = self.clock.now().unix_secs;
                p.ping_all(&self.cfg.packet, secs);
            }
        }
    }

    fn deliver(&mut self, msg: &Msg) {
        let targets = self.api.route(msg);
        if targets.is_empty() {
            return;
        }
        let body = match hb_api::frame::encode_body(msg, self.cfg.msgfmt) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot encode message for API clients: {}", e);
                return;
            }
        };
        for conn in targets {
            self.signal_client(conn);
            self.write_frame(conn, &body);
        }
    }

    fn write_frame(&mut self, conn: ConnId, body: &[u8]) {
        let Some(tx) = self.clients.get(&conn) else {
            return;
        };
        let mut frame = Vec::with_capacity(body.len() + 8);
        hb_api::frame::write_frame(&mut frame, body).ok();
        if tx.try_send(frame).is_err() {
            tracing::warn!(
                "API client {:?} is not reading its messages: disconnecting",
                conn
            );
            self.drop_client(conn, "queue full");
        }
    }

    fn drop_client(&mut self, conn: ConnId, why: &str) {
        self.clients.remove(&conn);
        tracing::debug!("API client {:?} closed: {}", conn, why);
        let outs = {
            let view = View::new(&self.core, &self.cfg, self.rm.as_ref());
            self.api.disconnect(conn, &view)
        };
        self.apply_api_outputs(outs);
    }

    fn start_api_listener(&mut self) {
        if self.listening {
            return;
        }
        let path: PathBuf = self.paths.api_socket();
        let _ = std::fs::remove_file(&path);
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("Cannot create API socket {}: {}", path.display(), e);
                return;
            }
        };
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777));
        self.listening = true;
        tracing::info!("API socket {} ready", path.display());
        let tx = self.api_tx.clone();
        tokio::spawn(accept_loop(listener, tx));
    }

    fn on_api_event(&mut self, ev: ApiEvent) {
        match ev {
            ApiEvent::Connected(conn, cred, out) => {
                self.clients.insert(conn, out);
                self.api.connect(conn, cred);
            }
            ApiEvent::Message(conn, msg) => {
                if self.clients_paused {
                    self.held_back.push((conn, msg));
                } else {
                    self.on_client_msg(conn, msg);
                }
            }
            ApiEvent::Bad(conn, why) => {
                tracing::warn!("API client {:?}: {}: disconnecting", conn, why);
                self.drop_client(conn, &why);
            }
            ApiEvent::Gone(conn) => {
                if self.clients.contains_key(&conn) {
                    self.drop_client(conn, "closed by client");
                }
            }
        }
    }

    fn on_client_msg(&mut self, conn: ConnId, msg: Msg) {
        let outs = {
            let view = View::new(&self.core, &self.cfg, self.rm.as_ref());
            self.api.handle(conn, msg, &view)
        };
        self.apply_api_outputs(outs);
    }

    fn apply_api_outputs(&mut self, outs: Vec<ApiOutput>) {
        for out in outs {
            match out {
                ApiOutput::Reply(conn, msg) => {
                    match hb_api::frame::encode_body(&msg, self.cfg.msgfmt) {
                        Ok(body) => self.write_frame(conn, &body),
                        Err(e) => tracing::error!("cannot encode API reply: {}", e),
                    }
                }
                ApiOutput::Close(conn, why) => {
                    // Replies already queued are flushed by the writer before EOF.
                    self.clients.remove(&conn);
                    tracing::debug!("API client {} disconnected: {}", conn, why);
                }
                ApiOutput::SendCluster(msg) => self.send_cluster(msg),
                ApiOutput::QueryClientStatus { query, .. } => self.send_cluster(query),
            }
        }
    }

    fn send_cluster(&mut self, msg: Msg) {
        // heartbeat accepts a message too big for one datagram, gives it a seq, fails
        // to send it, and then jams retransmission for minutes. Refuse it up front.
        if let Err(e) = self.fits_in_datagram(&msg) {
            tracing::error!(
                "Refusing {} message from a client: {}",
                msg.msg_type().unwrap_or("?"),
                e
            );
            return;
        }
        let now = self.clock.now();
        if let Err(e) = self.core.send_cluster(now, msg) {
            tracing::warn!("Cannot send client message: {}", e);
        }
    }

    /// Encodes the message with worst-case control fields (what the core will add) to
    /// learn whether it can travel at all.
    fn fits_in_datagram(&self, msg: &Msg) -> Result<(), hb_wire::WireError> {
        let mut probe = msg.clone();
        probe
            .add_str("src", self.core.local())
            .add_bin("srcuuid", [0u8; 16])
            .add_str("seq", "ffffffffffffffff")
            .add_str("hg", "ffffffffffffffff")
            .add_str("ts", "ffffffffffffffff")
            .add_str("ld", "x".repeat(64))
            .add_str("ttl", "255");
        hb_wire::packet::encode_packet(&probe, &self.cfg.packet).map(|_| ())
    }

    /// `setsignal`: heartbeat kill()s such a client whenever a message is queued for it.
    fn signal_client(&self, conn: ConnId) {
        if let Some(info) = self.api.client_info(conn) {
            if info.signal != 0 && info.pid > 0 {
                if let Ok(sig) = nix::sys::signal::Signal::try_from(info.signal as i32) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(info.pid), sig);
                }
            }
        }
    }
}

async fn accept_loop(listener: UnixListener, tx: mpsc::Sender<ApiEvent>) {
    let mut next_id: u64 = 1;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("API accept failed: {}", e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let cred = match stream.peer_cred() {
            Ok(c) => PeerCred {
                pid: c.pid().unwrap_or(0),
                uid: c.uid(),
                gid: c.gid(),
            },
            Err(e) => {
                tracing::warn!("API client without credentials refused: {}", e);
                continue;
            }
        };
        let conn: ConnId = next_id;
        next_id += 1;
        let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(CLIENT_QUEUE);
        if tx
            .send(ApiEvent::Connected(conn, cred, out_tx))
            .await
            .is_err()
        {
            return;
        }
        tokio::spawn(client_io(stream, conn, tx.clone(), out_rx));
    }
}

async fn client_io(
    stream: UnixStream,
    conn: ConnId,
    tx: mpsc::Sender<ApiEvent>,
    mut out_rx: mpsc::Receiver<Vec<u8>>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        // The daemon dropped this client: EOF tells it so.
        let _ = wr.shutdown().await;
    });
    let mut dec = hb_api::frame::FrameDecoder::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        dec.push(&buf[..n]);
        loop {
            match dec.next_frame() {
                Ok(Some(body)) => match hb_api::frame::decode_body(&body) {
                    Ok(msg) => {
                        if tx.send(ApiEvent::Message(conn, msg)).await.is_err() {
                            break 'read;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(ApiEvent::Bad(conn, e.to_string())).await;
                        break 'read;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(ApiEvent::Bad(conn, e.to_string())).await;
                    break 'read;
                }
            }
        }
    }
    let _ = tx.send(ApiEvent::Gone(conn)).await;
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    #[test]
    fn arrival_stamps_move_now_back_but_never_before_the_last_read() {
        let clock = Clock {
            origin: Instant::now().checked_sub(Duration::from_secs(60)).unwrap(),
        };
        let now = clock.now().mono_ms;
        // No stamp: now.
        let t = clock.arrived(0, 0).mono_ms;
        assert!(t >= now && t < now + 1_000, "{t} vs {now}");
        // 300 ms ago on the wall clock: 300 ms ago on the monotonic one.
        let t = clock.arrived(wall_ns() - 300_000_000, 0).mono_ms;
        assert!(t + 300 >= now && t + 300 < now + 1_000, "{t} vs {now}");
        // The wall clock stepped 10 s forward since: no older than the last read.
        let last_read = now - 1_000;
        let t = clock.arrived(wall_ns() - 10_000_000_000, last_read).mono_ms;
        assert_eq!(t, last_read);
        // Stepped back (a stamp from the future): now.
        let t = clock.arrived(wall_ns() + 5_000_000_000, last_read).mono_ms;
        assert!(t >= now, "{t} vs {now}");
    }
}
