//! Sans-I/O API server: the daemon feeds it decoded client messages and cluster
//! messages, and performs the [`ApiOutput`]s it returns (§7.2–7.5).
//!
//! The daemon owns the sockets. For every accepted connection it calls
//! [`ApiServer::connect`] with the `SO_PEERCRED` credentials, then [`ApiServer::handle`]
//! for every frame, and [`ApiServer::disconnect`] on EOF/error. Cluster messages that
//! should reach local clients are dispatched with [`ApiServer::route`].

use std::collections::BTreeMap;

use hb_wire::{Msg, Value};

use crate::fields::*;
use crate::frame::MsgFmt;

/// The daemon's handle for one client connection.
pub type ConnId = u64;

/// Credentials of the connected peer as the kernel reports them (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// The API client name of stonithd (cluster-glue/stonithd).
pub const STONITHD_CLIENT: &str = "stonithd";

/// One `apiauth` entry: client name (`anon` for casual clients, `default` for named
/// clients without an entry of their own) and the uids/gids allowed to use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAuth {
    pub name: String,
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

impl ApiAuth {
    /// clplumbing's `verify_auth`: either list may authorize; an entry with neither
    /// list restricts nothing.
    fn allows(&self, uid: u32, gid: u32) -> bool {
        (self.uids.is_empty() && self.gids.is_empty())
            || self.uids.contains(&uid)
            || self.gids.contains(&gid)
    }
}

/// A configured node as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Lower-case node name (heartbeat lower-cases names from ha.cf).
    pub name: String,
    /// `normal` or `ping`.
    pub node_type: String,
    /// `init`, `up`, `active`, `dead` or `ping` (§3.2).
    pub status: String,
}

/// Read-only view of the daemon's cluster state, queried while answering requests.
pub trait ClusterView {
    /// Our node name, lower case.
    fn local_node(&self) -> String;
    /// Every configured node in configuration order (ping nodes included).
    fn nodes(&self) -> Vec<NodeInfo>;
    /// The links to `node` as `(medium name, "up"|"dead")`; for a ping node the single
    /// link named after the node. `None` if the node is unknown.
    fn links(&self, node: &str) -> Option<Vec<(String, String)>>;
    fn node_weight(&self, node: &str) -> Option<u32>;
    /// `Some("")` for a node without a site.
    fn node_site(&self, node: &str) -> Option<String>;
    fn uuid_of(&self, node: &str) -> Option<[u8; 16]>;
    fn name_of_uuid(&self, uuid: &[u8; 16]) -> Option<String>;
    /// A configuration parameter as written in ha.cf (or its default), e.g.
    /// `deadtime` → `"10"`; `None` if unset.
    fn param(&self, name: &str) -> Option<String>;
    /// R1 resource state: `none`, `local`, `foreign`, `all` or `transition`.
    fn rsc_status(&self) -> String;
    fn deadtime_ms(&self) -> u64;
    fn keepalive_ms(&self) -> u64;
    /// `logfacility` as a syslog facility number, -1 when not logging to syslog.
    fn log_facility(&self) -> i32 {
        -1
    }
    /// Every haresources group with its state on this node, in haresources order
    /// (`rscgroups`, our extension); `None` when this daemon runs no haresources
    /// resource manager (`-M`).
    fn rsc_groups(&self) -> Option<Vec<crate::rscgroups::RscGroup>> {
        None
    }
    /// False in pacemaker mode, where `getrsc` is refused.
    fn manages_resources(&self) -> bool {
        true
    }
    /// The uid heartbeat runs as; besides root, only it may set debug filters.
    fn daemon_uid(&self) -> u32 {
        0
    }
}

/// What the daemon must do after a call into the server, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiOutput {
    /// Send this message to that client (encode with [`ApiServer::msgfmt`]).
    Reply(ConnId, Msg),
    /// Flush pending replies to that client, then close its connection. The server
    /// has already forgotten the client; calling `disconnect` afterwards is a no-op.
    Close(ConnId, String),
    /// Send this message to the cluster (the normal send path adds src, seq, hg...).
    /// Its loop-back copy is later delivered to local clients through [`ApiServer::route`].
    SendCluster(Msg),
    /// A `clientstatus` request about a client on an active remote node: send `query`
    /// (a ready `query-cstatus` message) to the cluster. The `respond-cstatus` answer
    /// carries `to_id` = the asking client and reaches it through `route`.
    QueryClientStatus {
        node: String,
        client: String,
        conn: ConnId,
        query: Msg,
    },
}

/// A signed-on client, as the daemon may need it (e.g. to `kill()` it on delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client id: the name of a named client, the decimal pid of a casual one.
    pub id: String,
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    pub casual: bool,
    /// Treatment mask (`setfilter`), [`DEFAULTREATMENT`] initially.
    pub filter: u32,
    /// Signal to send the client whenever a message is queued for it (0: none).
    pub signal: u32,
    /// Client generation, unique per sign-on attempt in this daemon's life.
    pub cligen: u64,
    /// Send queue length requested with `set_sendqlen`.
    pub sendqlen: Option<u32>,
}

#[derive(Debug)]
struct Conn {
    cred: PeerCred,
    client: Option<ClientInfo>,
}

/// The API server state: connections, signed-on clients and authorization rules.
#[derive(Debug)]
pub struct ApiServer {
    apiauth: Vec<ApiAuth>,
    msgfmt: MsgFmt,
    conns: BTreeMap<ConnId, Conn>,
    next_cligen: u64,
}

/// Result of a request handler, mirroring heartbeat's I_API_RET / I_API_IGN / I_API_BADREQ.
enum Handled {
    /// Add `result=OK` to the response and send it.
    Ret,
    /// Replies (if any) were produced by the handler itself.
    Done,
    /// Send `result=badreq` with an optional `info`.
    BadReq(Option<&'static str>),
}

impl ApiServer {
    /// `apiauth` is the effective authorization table (built-ins plus ha.cf entries);
    /// `msgfmt` is the body format replies are sent in.
    pub fn new(mut apiauth: Vec<ApiAuth>, msgfmt: MsgFmt) -> ApiServer {
        // Our stonithd signs on as `stonithd`, a name heartbeat 3.0.6 authorizes only in
        // Pacemaker mode: without an ha.cf entry of its own, root may use it.
        if !apiauth.iter().any(|a| a.name == STONITHD_CLIENT) {
            apiauth.push(ApiAuth {
                name: STONITHD_CLIENT.into(),
                uids: vec![0],
                gids: Vec::new(),
            });
        }
        ApiServer {
            apiauth,
            msgfmt,
            conns: BTreeMap::new(),
            next_cligen: 0,
        }
    }

    /// The body format for every message this server asks the daemon to send to clients.
    pub fn msgfmt(&self) -> MsgFmt {
        self.msgfmt
    }

    /// Registers a freshly accepted connection; its first message must be a sign-on.
    pub fn connect(&mut self, conn: ConnId, cred: PeerCred) {
        self.conns.insert(conn, Conn { cred, client: None });
    }

    /// The signed-on client behind `conn`, if any.
    pub fn client_info(&self, conn: ConnId) -> Option<&ClientInfo> {
        self.conns.get(&conn)?.client.as_ref()
    }

    /// Signed-on clients, by connection.
    pub fn clients(&self) -> impl Iterator<Item = (ConnId, &ClientInfo)> {
        self.conns
            .iter()
            .filter_map(|(id, c)| c.client.as_ref().map(|cl| (*id, cl)))
    }

    /// True if a client with this id is signed on here (`clientstatus`, `query-cstatus`).
    pub fn is_client_online(&self, client_id: &str) -> bool {
        self.find_client(client_id).is_some()
    }

    fn find_client(&self, client_id: &str) -> Option<ConnId> {
        self.clients()
            .find(|(_, c)| c.id == client_id)
            .map(|(id, _)| id)
    }

    /// Processes one message received from a client.
    pub fn handle(&mut self, conn: ConnId, msg: Msg, view: &dyn ClusterView) -> Vec<ApiOutput> {
        let Some(c) = self.conns.get(&conn) else {
            tracing::warn!(conn, "API message on an unknown connection");
            return vec![ApiOutput::Close(conn, "unknown connection".into())];
        };
        let mut out = Vec::new();
        // Debug clients see every API call (heartbeat's APICALL treatment).
        self.monitor(&msg, APICALL, &mut out);
        if c.client.is_none() {
            self.signon(conn, &msg, view, &mut out);
        } else {
            self.request(conn, msg, view, &mut out);
        }
        out
    }

    /// The connection is gone (EOF, error, or the client died): forgets the client and
    /// announces `hbapi-clstat st=leave info=died` for a named client.
    pub fn disconnect(&mut self, conn: ConnId, view: &dyn ClusterView) -> Vec<ApiOutput> {
        self.disconnect_with_reason(conn, "died", view)
    }

    /// Like [`ApiServer::disconnect`] with an explicit `info` reason (`EOF`, `sendfail`...).
    pub fn disconnect_with_reason(
        &mut self,
        conn: ConnId,
        reason: &str,
        view: &dyn ClusterView,
    ) -> Vec<ApiOutput> {
        let mut out = Vec::new();
        if let Some(Conn {
            client: Some(client),
            ..
        }) = self.conns.remove(&conn)
        {
            if !client.casual {
                out.push(ApiOutput::SendCluster(client_status_msg(
                    &client,
                    LEAVESTATUS,
                    reason,
                    &view.local_node(),
                )));
            }
        }
        out
    }

    /// Which signed-on clients get a cluster message with the default treatment
    /// ([`KEEPIT`]): the client named by `to_id` if present, else every client.
    pub fn route(&self, msg: &Msg) -> Vec<ConnId> {
        self.route_with(msg, KEEPIT)
    }

    /// Routing for a message with an explicit treatment (`KEEPIT`, `NOCHANGE`,
    /// `DROPIT`, `DUPLICATE`, `APICALL`, `PROTOCOL`): only clients whose filter
    /// includes the treatment receive it.
    pub fn route_with(&self, msg: &Msg, treatment: u32) -> Vec<ConnId> {
        if treatment == 0 || treatment & ALLTREATMENTS != treatment {
            tracing::error!(treatment, "unknown message treatment");
            return Vec::new();
        }
        let to_id = msg.get_str(F_TOID);
        let mut out = Vec::new();
        for (conn, client) in self.clients() {
            if to_id.is_some_and(|id| id != client.id) {
                continue;
            }
            if client.filter & treatment != 0 {
                out.push(conn);
            }
            if to_id.is_some() {
                // Client ids are unique: nobody else may see an addressed message.
                break;
            }
        }
        out
    }

    /// Answers a `query-cstatus` message from another node (heartbeat's
    /// `HBDoMsg_T_QCSTATUS`): the `respond-cstatus` message to send back, or `None`
    /// when the query lacks `cn`, `from_id` or `src`.
    pub fn answer_query_cstatus(&self, query: &Msg) -> Option<Msg> {
        let cn = query.get_str(F_CLIENTNAME)?;
        let from_id = query.get_str(F_FROMID)?;
        let from_node = query.get_str(F_ORIG)?;
        let mut m = Msg::with_type(T_RCSTATUS);
        m.add_str(F_TO, from_node)
            .add_str(F_APIRESULT, API_OK)
            .add_str(F_CLIENTNAME, cn)
            .add_str(F_TOID, from_id)
            .add_str(
                F_CLIENTSTATUS,
                if self.is_client_online(cn) {
                    ONLINESTATUS
                } else {
                    OFFLINESTATUS
                },
            );
        Some(m)
    }

    fn monitor(&self, msg: &Msg, treatment: u32, out: &mut Vec<ApiOutput>) {
        for conn in self.route_with(msg, treatment) {
            out.push(ApiOutput::Reply(conn, msg.clone()));
        }
    }

    fn signon(
        &mut self,
        conn: ConnId,
        msg: &Msg,
        view: &dyn ClusterView,
        out: &mut Vec<ApiOutput>,
    ) {
        let cligen = self.next_cligen;
        self.next_cligen += 1;

        if msg.msg_type() != Some(T_APIREQ) || msg.get_str(F_APIREQ) != Some(API_SIGNON) {
            // heartbeat silently drops this and keeps waiting; a client that does not
            // start with a sign-on is broken, so we hang up instead.
            tracing::warn!(conn, ?msg, "first API message is not a sign-on");
            out.push(ApiOutput::Close(conn, "bad message".into()));
            self.conns.remove(&conn);
            return;
        }
        let fromid = msg.get_str(F_FROMID);
        let cpid = msg.get_str(F_PID);
        if fromid.is_none() && cpid.is_none() {
            tracing::warn!(conn, "sign-on without from_id and pid");
            out.push(ApiOutput::Close(conn, "no fromid in msg".into()));
            self.conns.remove(&conn);
            return;
        }
        let Some(cred) = self.conns.get(&conn).map(|c| c.cred) else {
            return;
        };
        // A casual client is its process: the same process signing on again (cl_status
        // run twice in a row, the old connection's EOF not yet seen) replaces its
        // stale session instead of being refused as a duplicate.
        let casual_id = fromid
            .map(str::to_string)
            .or_else(|| cpid.map(str::to_string));
        if let Some(old) = casual_id.as_deref().and_then(|id| self.find_client(id)) {
            let same_process = self.conns.get(&old).is_some_and(|c| {
                c.cred.pid == cred.pid && c.client.as_ref().is_some_and(|cl| cl.casual)
            });
            if same_process && old != conn {
                out.push(ApiOutput::Close(old, "replaced by a new sign-on".into()));
                self.conns.remove(&old);
            }
        }

        let result = self.check_signon(fromid, cpid, msg, cred, cligen);
        let mut resp = Msg::with_type(T_APIRESP);
        resp.add_str(F_APIREQ, API_SIGNON);
        let failure = match result {
            Ok(client) => {
                if !client.casual {
                    out.push(ApiOutput::SendCluster(client_status_msg(
                        &client,
                        JOINSTATUS,
                        API_SIGNON,
                        &view.local_node(),
                    )));
                }
                tracing::debug!(conn, id = %client.id, casual = client.casual, "API client signed on");
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.client = Some(client);
                }
                resp.add_str(F_APIRESULT, API_OK);
                None
            }
            Err(reason) => {
                tracing::warn!(conn, reason, ?fromid, ?cpid, "API sign-on refused");
                resp.add_str(F_COMMENT, reason)
                    .add_str(F_APIRESULT, API_BADREQ);
                Some(reason)
            }
        };
        // Sent even on refusal: a non-zero deadtime tells the client heartbeat runs.
        resp.add_str(F_DEADTIME, format!("{:x}", view.deadtime_ms()))
            .add_str(F_KEEPALIVE, format!("{:x}", view.keepalive_ms()))
            .add_str(F_NODENAME, view.local_node())
            .add_str(KEY_HBVERSION, crate::hbversion_string())
            .add_str(
                KEY_PACEMAKER,
                view.param(KEY_PACEMAKER).unwrap_or_else(|| "false".into()),
            )
            .add_str(F_LOGFACILITY, view.log_facility().to_string());
        // A named client's join announcement (pushed above) precedes this reply, as in heartbeat.
        out.push(ApiOutput::Reply(conn, resp));
        if let Some(reason) = failure {
            out.push(ApiOutput::Close(conn, reason.to_string()));
            self.conns.remove(&conn);
        }
    }

    /// heartbeat's `api_add_client` + `api_check_client_authorization`.
    fn check_signon(
        &self,
        fromid: Option<&str>,
        cpid: Option<&str>,
        msg: &Msg,
        cred: PeerCred,
        cligen: u64,
    ) -> Result<ClientInfo, &'static str> {
        let pid = cpid.map(c_atol).unwrap_or(0);
        if pid <= 0 || pid > i64::from(i32::MAX) {
            return Err("bad pid");
        }
        let pid = pid as i32;
        if let Some(id) = fromid {
            if self.find_client(id).is_some() {
                return Err("duplicate add request");
            }
        }
        let (id, casual) = match fromid {
            Some(id) => (id.to_string(), c_atol(id) == i64::from(pid)),
            None => (pid.to_string(), true),
        };
        let uid = msg
            .get_str(F_UID)
            .and_then(|s| s.trim().parse::<i64>().ok());
        let gid = msg
            .get_str(F_GID)
            .and_then(|s| s.trim().parse::<i64>().ok());
        let (Some(uid), Some(gid)) = (uid, gid) else {
            return Err("invalid id info");
        };
        if uid != i64::from(cred.uid) || gid != i64::from(cred.gid) {
            return Err("incorrect/false credentials");
        }
        let auth = if casual {
            self.auth_entry("anon").ok_or("apiauth anon missing")?
        } else {
            self.auth_entry(&id)
                .or_else(|| self.auth_entry("default"))
                .ok_or("no default client auth")?
        };
        if !auth.allows(cred.uid, cred.gid) {
            return Err("client failed authorization");
        }
        if cred.pid > 0 && cred.pid != pid {
            return Err("pid mismatch");
        }
        Ok(ClientInfo {
            id,
            pid,
            uid: cred.uid,
            gid: cred.gid,
            casual,
            filter: DEFAULTREATMENT,
            signal: 0,
            cligen,
            sendqlen: None,
        })
    }

    fn auth_entry(&self, name: &str) -> Option<&ApiAuth> {
        self.apiauth.iter().find(|a| a.name == name)
    }

    fn request(
        &mut self,
        conn: ConnId,
        mut msg: Msg,
        view: &dyn ClusterView,
        out: &mut Vec<ApiOutput>,
    ) {
        let Some(client) = self.client_info(conn).cloned() else {
            return;
        };
        if msg.msg_type() != Some(T_APIREQ) {
            // Anything else is a message for the cluster, confined to peers with the
            // same client id on every node.
            if client.casual {
                tracing::info!(conn, "general message from casual client!");
                out.push(ApiOutput::Close(conn, "badclient".into()));
                self.conns.remove(&conn);
                return;
            }
            msg.set_str(F_FROMID, &client.id)
                .set_str(F_TOID, &client.id)
                .set_str(F_CLIENT_GENERATION, client.cligen.to_string());
            out.push(ApiOutput::SendCluster(msg));
            return;
        }

        let fromid = msg.get_str(F_FROMID);
        let cpid = msg.get_str(F_PID);
        let Some(reqtype) = msg.get_str(F_APIREQ).map(str::to_string) else {
            tracing::error!(conn, "API request without reqtype");
            return;
        };
        if fromid.is_none() && cpid.is_none() {
            tracing::error!(conn, "API request without from_id/pid");
            return;
        }
        let is_self = cpid.is_some_and(|p| c_atol(p) == i64::from(client.pid))
            || fromid.is_some_and(|f| f == client.id);
        if !is_self {
            tracing::error!(conn, ?fromid, ?cpid, id = %client.id, "client mismatch (impersonation?)");
            return;
        }

        let mut resp = Msg::with_type(T_APIRESP);
        resp.add_str(F_APIREQ, &reqtype);
        let handled = match reqtype.as_str() {
            API_SIGNOFF => {
                self.remove_client(conn, API_SIGNOFF, view, out);
                Handled::Done
            }
            API_SETFILTER => self.setfilter(conn, &msg, view),
            API_SETSIGNAL => self.setsignal(conn, &msg),
            API_NODELIST => {
                let nodes = view.nodes();
                let last = nodes.len().saturating_sub(1);
                for (i, n) in nodes.iter().enumerate() {
                    resp.set_str(F_NODENAME, &n.name)
                        .set_str(F_NODETYPE, node_type_name(&n.node_type))
                        .set_str(F_STATUS, &n.status)
                        .set_str(F_APIRESULT, if i == last { API_OK } else { API_MORE });
                    out.push(ApiOutput::Reply(conn, resp.clone()));
                }
                Handled::Done
            }
            API_NODESTATUS => match lookup_node(view, &msg) {
                Some(n) => {
                    resp.set_str(F_STATUS, &n.status);
                    Handled::Ret
                }
                None => Handled::BadReq(Some("EINVAL")),
            },
            API_NODEWEIGHT => match lookup_node(view, &msg) {
                Some(n) => {
                    let w = view.node_weight(&n.name).unwrap_or(0);
                    resp.add_str(F_WEIGHT, w.to_string());
                    Handled::Ret
                }
                None => Handled::BadReq(Some("EINVAL")),
            },
            API_NODESITE => match lookup_node(view, &msg) {
                Some(n) => {
                    resp.add_str(F_SITE, view.node_site(&n.name).unwrap_or_default());
                    Handled::Ret
                }
                None => Handled::BadReq(Some("EINVAL")),
            },
            API_NODETYPE => match lookup_node(view, &msg) {
                Some(n) => {
                    resp.set_str(F_NODETYPE, node_type_name(&n.node_type));
                    Handled::Ret
                }
                None => Handled::BadReq(Some("EINVAL")),
            },
            API_IFLIST => match lookup_node(view, &msg) {
                Some(n) => {
                    let links = view.links(&n.name).unwrap_or_default();
                    if links.is_empty() {
                        // heartbeat would send nothing and leave the client waiting
                        // forever; an error is more useful.
                        Handled::BadReq(Some("EINVAL"))
                    } else {
                        let last = links.len() - 1;
                        for (i, (ifname, st)) in links.iter().enumerate() {
                            resp.set_str(F_IFNAME, ifname)
                                .set_str(F_STATUS, st)
                                .set_str(F_APIRESULT, if i == last { API_OK } else { API_MORE });
                            out.push(ApiOutput::Reply(conn, resp.clone()));
                        }
                        Handled::Done
                    }
                }
                None => Handled::BadReq(Some("EINVAL")),
            },
            API_IFSTATUS => {
                let link = lookup_node(view, &msg).and_then(|n| {
                    let ifname = msg.get_str(F_IFNAME)?;
                    view.links(&n.name)?
                        .into_iter()
                        .find(|(name, _)| name == ifname)
                });
                match link {
                    Some((_, st)) => {
                        resp.set_str(F_STATUS, st);
                        Handled::Ret
                    }
                    None => Handled::BadReq(Some("EINVAL")),
                }
            }
            API_CLIENTSTATUS => self.clientstatus(conn, &msg, &mut resp, view, out),
            API_NUMNODES => {
                let n = view
                    .nodes()
                    .iter()
                    .filter(|n| n.node_type == "normal")
                    .count();
                resp.add_str(F_NUMNODES, n.to_string());
                Handled::Ret
            }
            API_GETPARM => match msg.get_str(F_PNAME) {
                Some(pname) => {
                    let pname = if pname == KEY_REL2 {
                        KEY_PACEMAKER
                    } else {
                        pname
                    };
                    let value = match view.param(pname) {
                        Some(v) => Some(v),
                        // heartbeat registers its bare version as a parameter at start.
                        None if pname == KEY_HBVERSION => Some(crate::HB_VERSION.to_string()),
                        None => None,
                    };
                    if let Some(v) = value {
                        resp.set_str(F_PVALUE, v);
                    }
                    Handled::Ret
                }
                None => Handled::BadReq(Some("EINVAL")),
            },
            API_GETRESOURCES => {
                if view.manages_resources() {
                    resp.set_str(F_RESOURCES, view.rsc_status());
                    Handled::Ret
                } else {
                    Handled::BadReq(Some(
                        "Resource is managed by crm. Use crm tool to query resource",
                    ))
                }
            }
            API_RSCGROUPS => {
                if !view.manages_resources() {
                    Handled::BadReq(Some(
                        "Resource is managed by crm. Use crm tool to query resource",
                    ))
                } else if let Some(groups) = view.rsc_groups() {
                    crate::rscgroups::encode(&mut resp, &groups);
                    Handled::Ret
                } else {
                    Handled::BadReq(Some(NO_HARESOURCES_MANAGER))
                }
            }
            API_GETUUID => match msg.get_str(F_QUERYNAME) {
                Some(name) => {
                    if let Some(uuid) = view.uuid_of(&name.to_ascii_lowercase()) {
                        resp.set_bin(F_QUERYUUID, uuid);
                    }
                    Handled::Ret
                }
                None => Handled::BadReq(Some("no query node name found")),
            },
            API_GETNAME => {
                let uuid = msg
                    .get_bin(F_QUERYUUID)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok());
                match uuid {
                    Some(uuid) => {
                        if let Some(name) = view.name_of_uuid(&uuid) {
                            resp.set_str(F_QUERYNAME, name);
                        }
                        Handled::Ret
                    }
                    None => Handled::BadReq(Some("no query node name found")),
                }
            }
            API_SET_SENDQLEN => {
                match msg
                    .get_str(F_SENDQLEN)
                    .and_then(|s| s.trim().parse::<i64>().ok())
                {
                    Some(len) if len > 0 => {
                        if let Some(c) = self.conns.get_mut(&conn).and_then(|c| c.client.as_mut()) {
                            c.sendqlen = u32::try_from(len).ok();
                        }
                    }
                    other => tracing::error!(conn, ?other, "set_sendqlen: invalid length"),
                }
                Handled::Done
            }
            other => {
                tracing::error!(conn, reqtype = other, "unknown API request");
                Handled::BadReq(None)
            }
        };
        match handled {
            Handled::Done => {}
            Handled::Ret => {
                resp.set_str(F_APIRESULT, API_OK);
                out.push(ApiOutput::Reply(conn, resp));
            }
            Handled::BadReq(info) => {
                tracing::error!(conn, reqtype = %reqtype, ?info, "bad API request");
                resp.add_str(F_APIRESULT, API_BADREQ);
                if let Some(info) = info {
                    resp.add_str(F_COMMENT, info);
                }
                out.push(ApiOutput::Reply(conn, resp));
            }
        }
    }

    fn setfilter(&mut self, conn: ConnId, msg: &Msg, view: &dyn ClusterView) -> Handled {
        let Some(mask) = msg.get_str(F_FILTERMASK).and_then(c_hex) else {
            return Handled::BadReq(Some("EINVAL"));
        };
        if mask & ALLTREATMENTS == 0 {
            return Handled::BadReq(Some("EINVAL"));
        }
        let Some(client) = self.conns.get_mut(&conn).and_then(|c| c.client.as_mut()) else {
            return Handled::Done;
        };
        if client.filter & DEBUGTREATMENTS == 0
            && mask & DEBUGTREATMENTS != 0
            && client.uid != 0
            && client.uid != view.daemon_uid()
        {
            return Handled::BadReq(Some("EPERM"));
        }
        client.filter = mask;
        Handled::Ret
    }

    fn setsignal(&mut self, conn: ConnId, msg: &Msg) -> Handled {
        let Some(sig) = msg
            .get_str(F_SIGNAL)
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            return Handled::BadReq(None);
        };
        if sig == libc::SIGKILL as u32 || sig == libc::SIGSTOP as u32 || sig >= 32 {
            return Handled::BadReq(Some("EINVAL"));
        }
        if let Some(client) = self.conns.get_mut(&conn).and_then(|c| c.client.as_mut()) {
            client.signal = sig;
        }
        Handled::Ret
    }

    fn clientstatus(
        &self,
        conn: ConnId,
        msg: &Msg,
        resp: &mut Msg,
        view: &dyn ClusterView,
        out: &mut Vec<ApiOutput>,
    ) -> Handled {
        let (Some(cnode), Some(cname), Some(fromid), Some(node)) = (
            msg.get_str(F_NODENAME),
            msg.get_str(F_CLIENTNAME),
            msg.get_str(F_FROMID),
            lookup_node(view, msg),
        ) else {
            return Handled::BadReq(Some("EINVAL"));
        };
        resp.add_str(F_SUBTYPE, T_RCSTATUS);
        if cnode == view.local_node() {
            let cs = if self.is_client_online(cname) {
                ONLINESTATUS
            } else {
                OFFLINESTATUS
            };
            resp.add_str(F_CLIENTSTATUS, cs);
            return Handled::Ret;
        }
        if node.status != ACTIVESTATUS {
            resp.add_str(F_CLIENTSTATUS, OFFLINESTATUS);
            return Handled::Ret;
        }
        let mut query = Msg::with_type(T_QCSTATUS);
        query
            .add_str(F_TO, cnode)
            .add_str(F_CLIENTNAME, cname)
            .add_str(F_FROMID, fromid);
        out.push(ApiOutput::QueryClientStatus {
            node: node.name,
            client: cname.to_string(),
            conn,
            query,
        });
        // The answer arrives later as a respond-cstatus cluster message.
        Handled::Done
    }

    /// heartbeat's `api_remove_client_int` for a client that asked to leave.
    fn remove_client(
        &mut self,
        conn: ConnId,
        reason: &str,
        view: &dyn ClusterView,
        out: &mut Vec<ApiOutput>,
    ) {
        if let Some(Conn {
            client: Some(client),
            ..
        }) = self.conns.remove(&conn)
        {
            if !client.casual {
                let leave = client_status_msg(&client, LEAVESTATUS, reason, &view.local_node());
                // "Make sure they know they're signed off" before telling the cluster.
                out.push(ApiOutput::Reply(conn, leave.clone()));
                out.push(ApiOutput::SendCluster(leave));
            }
        }
        out.push(ApiOutput::Close(conn, reason.to_string()));
    }
}

/// `info` of a refused `rscgroups` when the daemon runs without resource manager.
pub const NO_HARESOURCES_MANAGER: &str = "no haresources resource manager on this node";

/// The `hbapi-clstat` announcement of a named client's join or leave.
fn client_status_msg(client: &ClientInfo, status: &str, reason: &str, local_node: &str) -> Msg {
    let mut m = Msg::with_type(T_APICLISTAT);
    m.add_str(F_STATUS, status)
        .add_str(F_FROMID, &client.id)
        .add_str(F_TOID, &client.id)
        .add_str(F_ORIG, local_node)
        .add_str(F_COMMENT, reason)
        .add_str(F_CLIENT_GENERATION, client.cligen.to_string());
    m
}

/// heartbeat's `lookup_node`: the `node` field, lower-cased, must name a configured node.
fn lookup_node(view: &dyn ClusterView, msg: &Msg) -> Option<NodeInfo> {
    let wanted = msg.get_str(F_NODENAME)?.to_ascii_lowercase();
    view.nodes().into_iter().find(|n| n.name == wanted)
}

fn node_type_name(t: &str) -> &str {
    match t {
        "normal" | "ping" => t,
        _ => "unknown",
    }
}

/// C `atol`: optional blanks and sign, then the longest digit prefix; 0 if none.
fn c_atol(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// `sscanf("%x")`: optional `0x`, then the longest hex prefix; `None` if no digits.
fn c_hex(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    u32::from_str_radix(&s[..end], 16).ok()
}

/// Extracts a binary UUID field (used by tests and the client).
pub(crate) fn uuid_field(msg: &Msg, name: &str) -> Option<[u8; 16]> {
    match msg.get(name)? {
        Value::Bin(b) => <[u8; 16]>::try_from(b.as_slice()).ok(),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests;
