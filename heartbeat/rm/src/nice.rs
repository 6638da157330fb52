//! Two-node clusters: heartbeat 3.0.6's R1 protocol, decision for decision
//! (hb_resource.c: `process_resources`, `ask_for_resources`, `go_standby`,
//! `takeover_from_node`, `hb_rsc_recover_dead_resources`,
//! `req_our_resources`, `hb_giveup_resources`; the rc.d scripts
//! `ip-request`, `ip-request-resp`, `hb_takeover`, and `mach_down`).
//!
//! The flags `hold` / `other_holds` are heartbeat's `i_hold_resources` /
//! `other_holds_resources`: what each side *says* it holds (local = groups
//! whose preferred node is that side). They drive the messages, which is what
//! a Debian peer reacts to; the executor tracks what really runs.

use hb_wire::Msg;

use crate::msgs::{self, decode, encode, swap};
use crate::{
    GroupState, LogLevel, RState, ResourceManager, Standby, Then, HB_ALL_RSC, HB_FOREIGN_RSC,
    HB_LOCAL_RSC, HB_NO_RSC, STANDBY_INIT_TO_MS, STANDBY_RSC_TO_MS,
};

/// `HB_UPD_RSC`: a full update replaces, a partial one adds (none clears).
fn upd(full: bool, cur: u8, up: u8) -> u8 {
    if full {
        up
    } else if up == HB_NO_RSC {
        HB_NO_RSC
    } else {
        up | cur
    }
}

impl ResourceManager {
    pub(crate) fn nice_comm_up(&mut self, now: u64) {
        self.send_rsc_state_req();
        if self.nice {
            self.send(msgs::starting());
            self.rstate = RState::Starting;
            if self.peers.values().all(|p| p.status == "dead") {
                // Nobody will answer `starting` (a one-node cluster, or every peer
                // already dead at comm-up): the other side is trivially stable and
                // holds nothing. Waiting would leave us unstable for ever, and a
                // graceful stop would wait with it.
                self.log(
                    LogLevel::Info,
                    "No other node is up: acquiring our resources.".to_string(),
                );
                self.other_stable = true;
                self.req_our_resources(now, false);
                self.rstate = RState::Stable;
                self.send(msgs::resource(self.hold, Some(true), None));
            }
        } else {
            self.req_our_resources(now, false);
        }
    }

    pub(crate) fn nice_message(&mut self, now: u64, t: &str, src: &str, from_us: bool, msg: &Msg) {
        match t {
            "starting" if self.nice && !from_us => self.process_starting(src),
            "resource" if self.nice => self.process_resource(now, src, from_us, msg),
            "shutdone" => self.process_shutdone(now, src, from_us),
            "ask_resources" => self.ask_for_resources(now, src, from_us, msg),
            "hb_takeover" if !from_us => {
                // rc.d/hb_takeover: run hb_standby with local/foreign swapped.
                let set = msg
                    .get_str("rsc_hold")
                    .and_then(encode)
                    .unwrap_or(HB_ALL_RSC);
                let set = swap(set);
                self.log(LogLevel::Info, format!("Going standby [{}].", decode(set)));
                self.send(msgs::ask_resources(set, "me"));
            }
            "ip-request" if !from_us => self.ip_request(src, msg),
            "ip-request-resp" if !from_us => self.ip_request_resp(src, msg),
            _ => {}
        }
    }

    /// Not in heartbeat: our own groups may be orphaned when the peer
    /// restarted while we were not running them (it came back while we were
    /// fencing it, or it held them and rebooted); heartbeat only logs "No one
    /// owns our local resources!". The restarted peer's first stable, full
    /// report is fresh, so when it says it holds none of our groups we take
    /// them, as `req_our_resources` does at start-up.
    fn repair_orphaned_local(&mut self, now: u64) {
        let local = self.cfg.local.clone();
        if self.hb_rsc_isstable()
            && !self.shutdown_in_progress
            && self.rstate == RState::Stable
            && self.hold & HB_LOCAL_RSC == 0
            && self.other_holds & HB_FOREIGN_RSC == 0
            && !self.keys_of(&local).is_empty()
        {
            self.log(
                LogLevel::Error,
                "No one owns our local resources!".to_string(),
            );
            self.req_our_resources(now, false);
            self.send(msgs::resource(self.hold, Some(true), None));
        }
    }

    fn process_starting(&mut self, src: &str) {
        self.peer_restarted = true;
        match self.rstate {
            RState::RscRcvd | RState::Stable | RState::Shutdown => {}
            RState::Starting => self.rstate = RState::BothStarting,
            s => {
                self.log(
                    LogLevel::Error,
                    format!("Received 'starting' message from {src} in state {s:?}"),
                );
                return;
            }
        }
        self.other_stable = false;
        if self.takeover_in_progress {
            self.log(
                LogLevel::Warning,
                "T_STARTING received during takeover.".to_string(),
            );
        }
        let stable = self.rstate == RState::Stable;
        self.send(msgs::resource(self.hold, Some(stable), None));
    }

    fn process_resource(&mut self, now: u64, src: &str, from_us: bool, msg: &Msg) {
        let Some(p) = msg.get_str("rsc_hold") else {
            self.log(
                LogLevel::Error,
                format!("resource message from {src} without rsc_hold field."),
            );
            return;
        };
        let n = encode(p).unwrap_or_else(|| {
            tracing::error!(%src, rsc_hold = p, "encode_resources: bad resource type");
            HB_NO_RSC
        });
        let full = msg.get_str("rtype") == Some("full");
        let mut newstate = self.rstate;
        match self.rstate {
            RState::BothStarting | RState::Starting => newstate = RState::RscRcvd,
            RState::RscRcvd | RState::Stable | RState::Shutdown => {}
            RState::Init => {
                self.log(
                    LogLevel::Error,
                    format!("resource message from {src} received in state Init"),
                );
                return;
            }
        }
        if !from_us {
            self.other_holds = upd(full, self.other_holds, n);
            if full && msg.get_str("isstable") == Some("1") {
                self.peer_reported = true;
            }
            if self.peer_restarted && full && msg.get_str("isstable") == Some("1") {
                self.peer_restarted = false;
                self.orphan_repair = true;
            }
            // isstable is absent in mach_down's short message.
            match msg.get_str("isstable") {
                Some("1") if !self.other_stable => {
                    self.log(
                        LogLevel::Info,
                        "remote resource transition completed.".to_string(),
                    );
                    self.other_stable = true;
                    let stable = self.rstate == RState::Stable;
                    self.send(msgs::resource(self.hold, Some(stable), None));
                    self.perform_auto_failback(now);
                }
                Some("1") => {}
                Some(_) => self.other_stable = false,
                None => {}
            }
            if !matches!(self.rstate, RState::Stable | RState::Shutdown) && self.other_stable {
                self.log(
                    LogLevel::Info,
                    "remote resource transition completed.".to_string(),
                );
                self.req_our_resources(now, false);
                newstate = RState::Stable;
                self.send(msgs::resource(self.hold, Some(true), None));
                self.perform_auto_failback(now);
            }
        } else {
            self.hold = upd(full, self.hold, n);
            match msg.get_str("info") {
                Some("mach_down") => {
                    self.log(LogLevel::Info, "mach_down takeover complete.".to_string());
                    self.takeover_in_progress = false;
                    self.hold |= HB_FOREIGN_RSC;
                    self.rsc_needs_failback = true;
                    self.other_stable = true;
                }
                Some("shutdown") => newstate = RState::Shutdown,
                _ => {}
            }
        }
        self.rstate = newstate;
        if std::mem::take(&mut self.orphan_repair) {
            self.repair_orphaned_local(now);
        }
        if self.rstate == RState::RscRcvd {
            // heartbeat waits RQSTDELAY for the other side to settle. When the other
            // side is starting too (it sent `starting`) and its report says it holds
            // none of our groups, waiting buys nothing: a starting node only takes
            // its own groups. That is the cold start. A node in any other transition
            // (a shutdown still stopping them) is waited for.
            let ours = self.keys_of(&self.cfg.local);
            let claims_ours = self
                .peers
                .get(src)
                .is_some_and(|p| ours.iter().any(|&i| p.claims.contains(&self.groups[i].key)));
            if !from_us
                && self.peer_restarted
                && self.other_holds & HB_FOREIGN_RSC == 0
                && !claims_ours
            {
                self.local_takeover_at = Some(now);
            } else if self.local_takeover_at.is_none() {
                self.local_takeover_at = Some(now.saturating_add(self.cfg.rqst_delay_ms));
            }
        }
        self.local_takeover_if_due(now);
        self.audit_resources();
    }

    /// `AuditResources`: complain about duplicated or orphaned resources.
    fn audit_resources(&mut self) {
        if self.hold & HB_LOCAL_RSC != 0 && self.other_holds & HB_FOREIGN_RSC != 0 {
            self.log(
                LogLevel::Error,
                "Both machines own our resources!".to_string(),
            );
        }
        if self.other_holds & HB_LOCAL_RSC != 0 && self.hold & HB_FOREIGN_RSC != 0 {
            self.log(
                LogLevel::Error,
                "Both machines own foreign resources!".to_string(),
            );
        }
    }

    fn process_shutdone(&mut self, now: u64, src: &str, from_us: bool) {
        if from_us {
            if self.nice {
                self.rstate = RState::Shutdown;
                self.hold = HB_NO_RSC;
            }
            return;
        }
        if self.nice && self.comm_up {
            // The other side gave everything up: it is stable and holds nothing.
            self.other_stable = true;
            self.other_holds = HB_NO_RSC;
            if self.hold != HB_ALL_RSC && !self.shutdown_in_progress {
                let rtype = match self.hold {
                    HB_FOREIGN_RSC => HB_LOCAL_RSC,
                    HB_LOCAL_RSC => HB_FOREIGN_RSC,
                    _ => HB_ALL_RSC,
                };
                self.standby = Standby::Done;
                self.go_standby(false, rtype);
            }
        }
        self.peer_has_resources = false;
        self.other_stable = false;
        self.other_holds = HB_NO_RSC;
        if let Some(p) = self.peers.get_mut(src) {
            p.claims.clear();
        }
        self.log(
            LogLevel::Info,
            format!("Received shutdown notice from '{src}'."),
        );
        self.takeover_from_node(now, src, false);
    }

    /// `go_standby`: `me` gives `set` up, otherwise we acquire the matching
    /// set (seen from the other side), then send `ask_resources ... done`.
    fn go_standby(&mut self, me: bool, set: u8) {
        if me {
            self.other_stable = false;
            self.hold &= !set;
            self.send(msgs::resource(self.hold, Some(false), Some("standby")));
        }
        let act = match set {
            HB_FOREIGN_RSC if me => HB_FOREIGN_RSC,
            HB_FOREIGN_RSC => HB_LOCAL_RSC,
            HB_LOCAL_RSC if me => HB_LOCAL_RSC,
            HB_LOCAL_RSC => HB_FOREIGN_RSC,
            HB_ALL_RSC => HB_ALL_RSC,
            _ => {
                let what = if me { "give up" } else { "acquire" };
                self.log(LogLevel::Error, format!("no resources to {what}"));
                return;
            }
        };
        let local = self.cfg.local.clone();
        let keys = match act {
            HB_FOREIGN_RSC => self.keys_not_of(&local),
            HB_LOCAL_RSC => self.keys_of(&local),
            _ => (0..self.groups.len()).collect(),
        };
        let what = if me { "give up" } else { "acquire" };
        self.log(
            LogLevel::Info,
            format!("{what} {} HA resources (standby).", decode(act)),
        );
        self.job(keys, !me, Then::StandbyDone);
    }

    fn ask_for_resources(&mut self, now: u64, src: &str, from_us: bool, msg: &Msg) {
        if !self.nice {
            self.log(
                LogLevel::Info,
                "Standby mode only implemented when nice_failback on".to_string(),
            );
            return;
        }
        if self.rstate == RState::Shutdown {
            return;
        }
        let rtype = msg
            .get_str("rsc_hold")
            .map(|s| encode(s).unwrap_or(HB_NO_RSC))
            .unwrap_or(HB_ALL_RSC);
        let Some(info) = msg.get_str("info") else {
            self.log(
                LogLevel::Error,
                "Received standby message without info/from".to_string(),
            );
            return;
        };
        if let Some(d) = self.standby_deadline {
            if now < d && info == "me" {
                let secs = (d - now).div_ceil(1000);
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Standby in progress- new request from {src} ignored [{secs} seconds left]"
                    ),
                );
                return;
            }
        }
        let orig = self.standby;
        let mut ignored = false;
        match self.standby {
            Standby::Not => {
                if !self.other_stable {
                    self.log(
                        LogLevel::Warning,
                        format!(
                            "standby message [{info}] from {src} ignored.  Other side is in flux."
                        ),
                    );
                    return;
                }
                if self.rstate != RState::Stable {
                    self.log(
                        LogLevel::Warning,
                        format!("standby message [{info}] from {src} ignored.  local resources in flux."),
                    );
                    return;
                }
                self.standby_rsctype = rtype;
                if info == "me" {
                    self.other_stable = false;
                    self.log(
                        LogLevel::Info,
                        format!("{src} wants to go standby [{}]", decode(rtype)),
                    );
                    if from_us {
                        self.standby_deadline = Some(now.saturating_add(STANDBY_INIT_TO_MS));
                        self.standby = Standby::Me;
                    } else {
                        self.standby = Standby::Other;
                        self.send(msgs::ask_resources(self.standby_rsctype, "other"));
                        self.standby_deadline = Some(now.saturating_add(STANDBY_RSC_TO_MS));
                    }
                } else {
                    ignored = true;
                }
            }
            Standby::Me => {
                if !from_us {
                    self.standby_rsctype = rtype;
                    self.standby_deadline = Some(now.saturating_add(STANDBY_RSC_TO_MS));
                    if info == "other" {
                        self.log(
                            LogLevel::Info,
                            format!("standby: {src} can take our {} resources", decode(rtype)),
                        );
                        self.go_standby(true, rtype);
                    } else {
                        ignored = true;
                    }
                } else if info == "done" {
                    self.log(
                        LogLevel::Info,
                        format!("Local standby process completed [{}].", decode(rtype)),
                    );
                    self.standby = Standby::Done;
                    self.hold &= !self.standby_rsctype;
                    self.standby_deadline = Some(now.saturating_add(STANDBY_RSC_TO_MS));
                } else {
                    ignored = true;
                }
            }
            Standby::Other => {
                self.standby_rsctype = rtype;
                if info == "done" {
                    self.standby_deadline = Some(now.saturating_add(STANDBY_RSC_TO_MS));
                    if !from_us {
                        self.log(
                            LogLevel::Info,
                            format!("standby: acquire [{}] resources from {src}", decode(rtype)),
                        );
                        self.go_standby(false, self.standby_rsctype);
                        self.standby = Standby::Done;
                    } else {
                        ignored = true;
                    }
                } else if !from_us || info != "other" {
                    ignored = true;
                }
            }
            Standby::Done => {
                self.standby_rsctype = rtype;
                if info == "done" {
                    self.standby_deadline = None;
                    self.standby = Standby::Not;
                    if from_us {
                        self.log(
                            LogLevel::Info,
                            format!("Standby resource acquisition done [{}].", decode(rtype)),
                        );
                        self.hold |= swap(rtype);
                    } else {
                        self.log(
                            LogLevel::Info,
                            format!(
                                "Other node completed standby takeover of {} resources.",
                                decode(rtype)
                            ),
                        );
                    }
                    self.send(msgs::resource(self.hold, Some(true), None));
                } else {
                    ignored = true;
                }
            }
        }
        if ignored {
            self.log(
                LogLevel::Error,
                format!("Ignored standby message '{info}' from {src} in state {orig:?}"),
            );
        }
    }

    /// Takes every group whose preferred node is `node` (mach_down), and our own.
    pub(crate) fn takeover_from_node(&mut self, now: u64, node: &str, fenced: bool) {
        if self.shutdown_in_progress {
            self.log(
                LogLevel::Info,
                "Resource takeover cancelled - shutdown in progress.".to_string(),
            );
            return;
        }
        self.log(
            LogLevel::Info,
            format!("Resources being acquired from {node}."),
        );
        let blocked = self
            .peers
            .get(node)
            .map(|p| p.blocked.clone())
            .unwrap_or_default();
        let mut keys = Vec::new();
        for i in self.keys_of(node) {
            let key = &self.groups[i].key;
            if blocked.contains(key) && !fenced {
                self.log(
                    LogLevel::Error,
                    format!(
                        "Resource group {key} is blocked on {node}: not taken over \
                         until {node} is fenced."
                    ),
                );
            } else {
                keys.push(i);
            }
        }
        if fenced {
            if let Some(p) = self.peers.get_mut(node) {
                p.blocked.clear();
            }
        }
        self.job(keys, true, Then::MachDown(node.to_string()));
        if self.nice {
            self.hold |= HB_FOREIGN_RSC;
            self.other_holds = HB_NO_RSC;
            self.other_stable = true;
            self.takeover_in_progress = true;
        }
        self.req_our_resources(now, true);
        if let Some(p) = self.peers.get_mut(node) {
            p.any_packets = true;
        }
    }

    pub(crate) fn req_our_resources(&mut self, now: u64, anyway: bool) {
        let _ = now;
        if self.shutdown_in_progress {
            return;
        }
        if self.nice {
            if (self.other_holds & HB_FOREIGN_RSC != 0 || self.hold & HB_LOCAL_RSC != 0)
                && !anyway
                && self.standby == Standby::Not
            {
                self.log(
                    LogLevel::Info,
                    "Local Resource acquisition completed. (none)".to_string(),
                );
                return;
            }
            // Set now, or the other side might think it can have our groups.
            self.hold |= HB_LOCAL_RSC;
        }
        let upcount = 1 + self.peers.values().filter(|p| p.status == "active").count();
        let alone = upcount < 2;
        let local = self.cfg.local.clone();
        let mine = self.keys_of(&local);
        if mine.is_empty() {
            self.log(
                LogLevel::Info,
                format!("No local resources [ResourceManager listkeys {local}] to acquire."),
            );
        }
        if self.nice || alone {
            // req_resource's DONTASK path: a self-addressed grant.
            for &i in &mine {
                if !self.groups[i].claimed() {
                    let key = self.groups[i].key.clone();
                    self.send(msgs::ip_request_resp(&local, &key, true));
                }
            }
            self.job(mine, true, Then::ResourcesHeld(Some("req_our_resources()")));
        } else {
            for &i in &mine {
                if !self.groups[i].claimed() {
                    let key = self.groups[i].key.clone();
                    self.send(msgs::ip_request(&key));
                }
            }
        }
    }

    /// rc.d/ip-request: give the group up if we run it, then answer.
    fn ip_request(&mut self, src: &str, msg: &Msg) {
        let Some(key) = msg.get_str("ipaddr") else {
            tracing::warn!(%src, "ip-request without ipaddr ignored");
            return;
        };
        let dest = src.to_string();
        match self.key_index.get(key).copied() {
            Some(i) if self.groups[i].claimed() => {
                let key = key.to_string();
                self.job(
                    vec![i],
                    false,
                    Then::IpRequestResp {
                        dest,
                        key,
                        weown: true,
                    },
                );
            }
            _ => self.send(msgs::ip_request_resp(&dest, key, false)),
        }
    }

    /// rc.d/ip-request-resp: take the group we asked for.
    fn ip_request_resp(&mut self, src: &str, msg: &Msg) {
        if msg.get_str("dest").map(str::to_ascii_lowercase).as_deref()
            != Some(self.cfg.local.as_str())
        {
            return;
        }
        let (Some(key), Some(ok)) = (msg.get_str("ipaddr"), msg.get_str("ok")) else {
            return;
        };
        let weown = msg.get_str("weown").unwrap_or("");
        self.log(
            LogLevel::Info,
            format!("received ip-request-resp {key} {ok} {weown} from {src}"),
        );
        if ok != "OK" || self.shutdown_in_progress {
            return;
        }
        match self.key_index.get(key).copied() {
            Some(i) => self.job(vec![i], true, Then::Nothing),
            None => tracing::warn!(%src, key, "ip-request-resp for an unknown group"),
        }
    }

    /// `hb_rsc_recover_dead_resources`.
    pub(crate) fn nice_node_dead(&mut self, now: u64, node: &str) {
        if self.standby != Standby::Not {
            self.log(
                LogLevel::Info,
                "Cancelling pending standby operation".to_string(),
            );
            self.standby = Standby::Not;
            self.standby_deadline = None;
            if !self.other_stable && self.hold == HB_ALL_RSC {
                self.other_stable = true;
            }
        }
        if self.shutdown_in_progress {
            if !matches!(self.rstate, RState::Shutdown | RState::Stable) {
                self.hb_giveup_resources(now);
            }
            return;
        }
        self.rsc_needs_failback = true;
        let any_packets = self.peers.get(node).is_some_and(|p| p.any_packets);
        let has_blocked = self.peers.get(node).is_some_and(|p| !p.blocked.is_empty());
        let mut need_stonith = true;
        // heartbeat reports `local` even for a node that prefers no group, and
        // 3.0.6 then fences it: both sides of a split shoot. A flag that maps to no
        // group of the haresources file holds nothing.
        let might_hold = |f: u8| {
            (f & HB_LOCAL_RSC != 0 && !self.keys_of(node).is_empty())
                || (f & HB_FOREIGN_RSC != 0 && !self.keys_not_of(node).is_empty())
        };
        if any_packets {
            if self.nice {
                if !might_hold(self.other_holds) && !has_blocked {
                    need_stonith = false;
                }
            } else if !self.peer_has_resources && !has_blocked {
                need_stonith = false;
            }
        }
        if need_stonith {
            if self.cfg.stonith {
                self.schedule_fence(now, node);
                return;
            }
            self.send(msgs::stonith(node, "n_stnth"));
            self.log(
                LogLevel::Warning,
                "No STONITH device configured.".to_string(),
            );
            self.log(
                LogLevel::Warning,
                "Shared disks are not protected.".to_string(),
            );
            self.takeover_from_node(now, node, false);
        } else {
            self.log(
                LogLevel::Info,
                format!("Dead node {node} gave up resources."),
            );
            self.send(msgs::stonith(node, "unneeded"));
            if self.nice {
                if self.hold & HB_ALL_RSC == HB_ALL_RSC {
                    self.other_stable = true;
                    return;
                }
                if self.hold & HB_LOCAL_RSC == 0 {
                    self.req_our_resources(now, true);
                }
                if self.hold & HB_FOREIGN_RSC == 0 {
                    self.takeover_from_node(now, node, false);
                }
            } else {
                self.takeover_from_node(now, node, false);
            }
        }
    }

    /// `hb_rsc_isstable`.
    pub(crate) fn hb_rsc_isstable(&self) -> bool {
        if !self.nice {
            return self.jobs.is_empty();
        }
        if self.shutdown_in_progress && self.rstate == RState::Init {
            return true;
        }
        self.other_stable
            && !self.takeover_in_progress
            && self.standby == Standby::Not
            && self.standby_deadline.is_none()
            && self.jobs.is_empty()
            && matches!(
                self.rstate,
                RState::Stable | RState::Shutdown | RState::Init
            )
    }

    /// Hands the sets whose groups failed here to the peer, once the
    /// standby protocol can run (heartbeat: `hb_standby` 30 s later).
    pub(crate) fn nice_failover(&mut self) {
        if self.failover_pending == HB_NO_RSC || self.shutdown_in_progress {
            self.failover_pending = HB_NO_RSC;
            return;
        }
        let peer_up = self
            .peers
            .values()
            .any(|p| !p.status.is_empty() && p.status != "dead");
        if !peer_up || !self.peer_reported || !self.hb_rsc_isstable() {
            return;
        }
        let set = std::mem::replace(&mut self.failover_pending, HB_NO_RSC);
        self.log(
            LogLevel::Info,
            format!("Going standby [{}] after a resource failure.", decode(set)),
        );
        self.send(msgs::ask_resources(set, "me"));
    }

    /// `PerformAutoFailback`: with auto_failback on, give foreign groups back.
    fn perform_auto_failback(&mut self, now: u64) {
        if self.shutdown_in_progress
            || self.hold & HB_FOREIGN_RSC == 0
            || !self.rsc_needs_failback
            || self.cfg.auto_failback != hb_config::hacf::AutoFailback::On
        {
            self.rsc_needs_failback = false;
            return;
        }
        if self.standby != Standby::Not || !self.other_stable || self.rstate != RState::Stable {
            tracing::debug!("Auto failback delayed.");
            self.failback_retry_at = Some(now.saturating_add(1_000));
            return;
        }
        self.standby_rsctype = HB_FOREIGN_RSC;
        self.send(msgs::ask_resources(HB_FOREIGN_RSC, "me"));
        self.rsc_needs_failback = false;
    }

    pub(crate) fn nice_tick(&mut self, now: u64) {
        if self.standby_deadline.is_some_and(|d| now >= d) {
            self.standby_deadline = None;
            if self.standby != Standby::Not {
                self.log(
                    LogLevel::Warning,
                    "No reply to standby request.  Standby request cancelled.".to_string(),
                );
                if self.standby == Standby::Me {
                    // We marked the other side unstable when we asked.
                    self.other_stable = true;
                    // Groups that failed here still need a home.
                    for g in self.groups.iter().filter(|g| g.state == GroupState::Failed) {
                        self.failover_pending |= if g.def.node == self.cfg.local {
                            HB_LOCAL_RSC
                        } else {
                            HB_FOREIGN_RSC
                        };
                    }
                }
                self.standby = Standby::Not;
            }
        }
        self.local_takeover_if_due(now);
        if self.failback_retry_at.is_some_and(|t| now >= t) {
            self.failback_retry_at = None;
            self.perform_auto_failback(now);
        }
    }

    /// Both sides started together and the other is not stable yet: take our own
    /// groups once `local_takeover_at` has come.
    fn local_takeover_if_due(&mut self, now: u64) {
        if self.local_takeover_at.is_some_and(|t| now >= t) {
            self.local_takeover_at = None;
            if self.rstate == RState::RscRcvd {
                self.req_our_resources(now, false);
                self.log(
                    LogLevel::Info,
                    "local resource transition completed.".to_string(),
                );
                self.rstate = RState::Stable;
                self.send(msgs::resource(self.hold, Some(true), None));
            }
        }
    }

    /// `hb_giveup_resources`: first half of a graceful shutdown.
    pub(crate) fn hb_giveup_resources(&mut self, now: u64) {
        let _ = now;
        if self.shutdown_done || (self.shutdown_in_progress && !self.rsc_needs_shutdown) {
            return;
        }
        if !self.hb_rsc_isstable() {
            if !self.rsc_needs_shutdown {
                self.log(
                    LogLevel::Warning,
                    "Shutdown delayed until current resource activity finishes.".to_string(),
                );
                self.rsc_needs_shutdown = true;
            }
            return;
        }
        self.rsc_needs_shutdown = false;
        self.shutdown_in_progress = true;
        self.hold = HB_NO_RSC;
        self.rstate = RState::Shutdown;
        if self.nice {
            self.send(msgs::resource(HB_NO_RSC, Some(false), Some("shutdown")));
        }
        // The daemon has logged "Heartbeat shutdown in progress. (pid)" already.
        self.log(LogLevel::Info, "Giving up all HA resources.".to_string());
        let all = (0..self.groups.len()).collect();
        self.job(all, false, Then::Shutdown);
    }
}
