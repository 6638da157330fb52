//! Blocking client library for heartbeat's API socket: the Rust counterpart of
//! libhbclient (`ll_cluster_t`), used by `cl_status`, and later by lrmd and stonithd.
//!
//! Replies and asynchronous messages (node/link status, client status, cluster
//! messages for named clients) share one socket. While waiting for a reply, every
//! other message is queued and later handed out by [`HbClient::recv`], exactly like
//! libhbclient's `read_api_msg`.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use hb_wire::Msg;

use crate::error::ApiError;
use crate::fields::*;
use crate::frame::{decode_body, encode_body, FrameDecoder, MsgFmt};

/// One configured node as `nodelist` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeEntry {
    pub name: String,
    /// `normal`, `ping` or `unknown`.
    pub node_type: String,
    pub status: String,
}

/// A signed-on API connection.
#[derive(Debug)]
pub struct HbClient {
    stream: UnixStream,
    decoder: FrameDecoder,
    queue: VecDeque<Msg>,
    client_id: String,
    pid: u32,
    casual: bool,
    dest: String,
    deadtime_ms: u64,
    keepalive_ms: u64,
    log_facility: i32,
    hbversion: Option<String>,
    pacemaker: Option<String>,
    reply_timeout: Option<Duration>,
    signed_on: bool,
}

/// The sending half of an [`HbClient`] connection (see [`HbClient::sender`]).
#[derive(Debug)]
pub struct HbSender {
    stream: UnixStream,
}

impl HbSender {
    /// Sends `msg` to the cluster, as [`HbClient::send_cluster`].
    pub fn send_cluster(&mut self, msg: &Msg) -> Result<(), ApiError> {
        let body = encode_body(msg, MsgFmt::Classic)?;
        crate::frame::write_frame(&mut self.stream, &body)
    }
}

impl HbClient {
    /// Connects to `socket_path` and signs on, as a named client when `client_name` is
    /// given (authorized by `apiauth <name>`), else as a casual client whose id is our
    /// pid (authorized by `apiauth anon`).
    ///
    /// A refusal gives [`ApiError::Refused`], which carries heartbeat's dead time: a
    /// non-zero value means heartbeat runs but rejects us.
    pub fn signon(socket_path: &Path, client_name: Option<&str>) -> Result<HbClient, ApiError> {
        HbClient::signon_with_timeout(socket_path, client_name, None)
    }

    /// [`HbClient::signon`] with a limit on every wait for a reply (libhbclient waits
    /// forever; `cl_status` relies on a global alarm instead).
    pub fn signon_with_timeout(
        socket_path: &Path,
        client_name: Option<&str>,
        reply_timeout: Option<Duration>,
    ) -> Result<HbClient, ApiError> {
        let stream = UnixStream::connect(socket_path).map_err(|source| ApiError::Connect {
            path: socket_path.to_path_buf(),
            source,
        })?;
        let pid = std::process::id();
        let (client_id, casual) = match client_name {
            Some(name) => (name.to_string(), false),
            None => (pid.to_string(), true),
        };
        // Until heartbeat tells us its name, address requests to our uname, as
        // libhbclient does.
        let dest = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut c = HbClient {
            stream,
            decoder: FrameDecoder::new(),
            queue: VecDeque::new(),
            client_id,
            pid,
            casual,
            dest,
            deadtime_ms: 0,
            keepalive_ms: 0,
            log_facility: -1,
            hbversion: None,
            pacemaker: None,
            reply_timeout,
            signed_on: false,
        };
        let mut req = c.boilerplate(API_SIGNON);
        req.add_str(F_UID, nix::unistd::geteuid().as_raw().to_string())
            .add_str(F_GID, nix::unistd::getegid().as_raw().to_string());
        c.send(&req)?;
        let reply = c.read_reply(API_SIGNON)?;
        let Some(result) = reply.get_str(F_APIRESULT) else {
            return Err(bad_reply(API_SIGNON, "no result field"));
        };
        // heartbeat includes its timing even in a refusal; parse what is there first.
        let deadtime = reply.get_hex(F_DEADTIME);
        if result != API_OK {
            return Err(ApiError::Refused {
                reason: reply.get_str(F_COMMENT).map(str::to_string),
                deadtime_ms: deadtime,
            });
        }
        c.deadtime_ms = deadtime.ok_or_else(|| bad_reply(API_SIGNON, "Can't get deadtime"))?;
        c.keepalive_ms = reply
            .get_hex(F_KEEPALIVE)
            .ok_or_else(|| bad_reply(API_SIGNON, "Can't get keepalive time"))?;
        c.dest = reply
            .get_str(F_NODENAME)
            .ok_or_else(|| bad_reply(API_SIGNON, "Can't get local node name"))?
            .to_string();
        c.log_facility = reply
            .get_str(F_LOGFACILITY)
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(-1);
        c.hbversion = reply.get_str(KEY_HBVERSION).map(str::to_string);
        c.pacemaker = reply.get_str(KEY_PACEMAKER).map(str::to_string);
        c.signed_on = true;
        Ok(c)
    }

    /// Our client id (the name, or the decimal pid of a casual client).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn is_casual(&self) -> bool {
        self.casual
    }

    /// heartbeat's dead time in ms, from the sign-on reply.
    pub fn deadtime(&self) -> u64 {
        self.deadtime_ms
    }

    /// heartbeat's keepalive interval in ms, from the sign-on reply.
    pub fn keepalive(&self) -> u64 {
        self.keepalive_ms
    }

    /// Suggested syslog facility (-1: none).
    pub fn log_facility(&self) -> i32 {
        self.log_facility
    }

    /// The `hbversion` string from the sign-on reply.
    pub fn hbversion(&self) -> Option<&str> {
        self.hbversion.as_deref()
    }

    /// The local node's name as heartbeat knows it.
    pub fn local_node(&self) -> &str {
        &self.dest
    }

    /// Limits every wait for a reply; `None` waits forever.
    pub fn set_reply_timeout(&mut self, timeout: Option<Duration>) {
        self.reply_timeout = timeout;
    }

    /// All configured nodes, in heartbeat's configuration order (libhbclient's node walk
    /// returns them in reverse).
    pub fn nodelist(&mut self) -> Result<Vec<NodeEntry>, ApiError> {
        let req = self.boilerplate(API_NODELIST);
        self.send(&req)?;
        let mut nodes = Vec::new();
        loop {
            let reply = self.read_reply(API_NODELIST)?;
            let last = more_or_ok(&reply, API_NODELIST)?;
            let name = reply
                .get_str(F_NODENAME)
                .ok_or_else(|| bad_reply(API_NODELIST, "No nodename in API reply"))?;
            nodes.push(NodeEntry {
                name: name.to_string(),
                node_type: reply.get_str(F_NODETYPE).unwrap_or("unknown").to_string(),
                status: reply.get_str(F_STATUS).unwrap_or("").to_string(),
            });
            if last {
                return Ok(nodes);
            }
        }
    }

    /// The status of a node (`init`, `up`, `active`, `dead`, `ping`).
    pub fn node_status(&mut self, node: &str) -> Result<String, ApiError> {
        self.query_str(API_NODESTATUS, &[(F_NODENAME, node)], F_STATUS)
    }

    /// `normal`, `ping` or `unknown`.
    pub fn node_type(&mut self, node: &str) -> Result<String, ApiError> {
        self.query_str(API_NODETYPE, &[(F_NODENAME, node)], F_NODETYPE)
    }

    pub fn node_weight(&mut self, node: &str) -> Result<i64, ApiError> {
        let w = self.query_str(API_NODEWEIGHT, &[(F_NODENAME, node)], F_WEIGHT)?;
        w.trim()
            .parse()
            .map_err(|_| bad_reply(API_NODEWEIGHT, &format!("weight {w:?} is not a number")))
    }

    /// The node's site (empty if none configured).
    pub fn node_site(&mut self, node: &str) -> Result<String, ApiError> {
        self.query_str(API_NODESITE, &[(F_NODENAME, node)], F_SITE)
    }

    /// The heartbeat links to `node` as `(name, status)`, in heartbeat's order.
    pub fn if_list(&mut self, node: &str) -> Result<Vec<(String, String)>, ApiError> {
        let mut req = self.boilerplate(API_IFLIST);
        req.add_str(F_NODENAME, node);
        self.send(&req)?;
        let mut links: Vec<(String, String)> = Vec::new();
        loop {
            let reply = self.read_reply(API_IFLIST)?;
            let last = more_or_ok(&reply, API_IFLIST)?;
            let name = reply
                .get_str(F_IFNAME)
                .ok_or_else(|| bad_reply(API_IFLIST, "no ifname in API reply"))?;
            // libhbclient drops duplicate names.
            if !links.iter().any(|(n, _)| n == name) {
                links.push((
                    name.to_string(),
                    reply.get_str(F_STATUS).unwrap_or("").to_string(),
                ));
            }
            if last {
                return Ok(links);
            }
        }
    }

    /// The status of one link (`up`/`dead`).
    pub fn if_status(&mut self, node: &str, ifname: &str) -> Result<String, ApiError> {
        self.query_str(
            API_IFSTATUS,
            &[(F_NODENAME, node), (F_IFNAME, ifname)],
            F_STATUS,
        )
    }

    /// `online`/`offline` (or `join`/`leave`) for client `client` on `node`. For an
    /// active remote node the answer comes from that node; `timeout` bounds each wait
    /// for it (cl_status' default is 500 ms).
    pub fn client_status(
        &mut self,
        node: &str,
        client: &str,
        timeout: Duration,
    ) -> Result<String, ApiError> {
        let mut req = self.boilerplate(API_CLIENTSTATUS);
        req.add_str(F_NODENAME, node).add_str(F_CLIENTNAME, client);
        self.send(&req)?;
        // The answer is either our API reply (subt=respond-cstatus) or the remote
        // node's respond-cstatus message; anything else is queued for recv().
        if let Some(pos) = self.queue.iter().position(is_cstatus_answer) {
            if let Some(m) = self.queue.remove(pos) {
                return cstatus_value(&m);
            }
        }
        loop {
            let m = self.read_one(
                Some(Instant::now() + timeout),
                "waiting for a client status answer",
            )?;
            if is_cstatus_answer(&m) {
                return cstatus_value(&m);
            }
            self.queue.push_back(m);
        }
    }

    /// Number of normal (non-ping) nodes.
    pub fn num_nodes(&mut self) -> Result<u32, ApiError> {
        let n = self.query_str(API_NUMNODES, &[], F_NUMNODES)?;
        n.trim()
            .parse()
            .map_err(|_| bad_reply(API_NUMNODES, &format!("numnodes {n:?} is not a number")))
    }

    /// A configuration parameter; `None` if heartbeat has no value for it.
    /// `hbversion` and `pacemaker` come from the sign-on reply, as in libhbclient.
    pub fn get_parameter(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        if name == KEY_HBVERSION && self.hbversion.is_some() {
            return Ok(self.hbversion.clone());
        }
        if name == KEY_PACEMAKER && self.pacemaker.is_some() {
            return Ok(self.pacemaker.clone());
        }
        let mut req = self.boilerplate(API_GETPARM);
        req.add_str(F_PNAME, name);
        self.send(&req)?;
        let reply = self.read_ok_reply(API_GETPARM)?;
        Ok(reply.get_str(F_PVALUE).map(str::to_string))
    }

    /// The R1 resources this node holds: `none`, `local`, `foreign`, `all`, `transition`.
    pub fn get_resources(&mut self) -> Result<String, ApiError> {
        self.query_str(API_GETRESOURCES, &[], F_RESOURCES)
    }

    /// Every haresources group with its state on the daemon's node (our `rscgroups`
    /// extension). A heartbeat that does not know the request gives
    /// [`ApiError::Unsupported`].
    pub fn rsc_groups(&mut self) -> Result<Vec<crate::rscgroups::RscGroup>, ApiError> {
        let req = self.boilerplate(API_RSCGROUPS);
        self.send(&req)?;
        let reply = match self.read_ok_reply(API_RSCGROUPS) {
            // heartbeat 3.0.6 answers requests it has no handler for with a bare
            // badreq; every refusal of ours names its reason.
            Err(ApiError::BadRequest { info: None, .. }) => {
                return Err(ApiError::Unsupported {
                    reqtype: API_RSCGROUPS.to_string(),
                })
            }
            other => other?,
        };
        crate::rscgroups::decode(&reply)
    }

    /// A node's UUID; `None` if heartbeat does not know it.
    pub fn get_uuid(&mut self, node: &str) -> Result<Option<[u8; 16]>, ApiError> {
        let mut req = self.boilerplate(API_GETUUID);
        req.add_str(F_QUERYNAME, node);
        self.send(&req)?;
        let reply = self.read_ok_reply(API_GETUUID)?;
        Ok(crate::server::uuid_field(&reply, F_QUERYUUID))
    }

    /// The node owning a UUID; `None` if heartbeat does not know it.
    pub fn get_nodename(&mut self, uuid: &[u8; 16]) -> Result<Option<String>, ApiError> {
        let mut req = self.boilerplate(API_GETNAME);
        req.add_bin(F_QUERYUUID, uuid);
        self.send(&req)?;
        let reply = self.read_ok_reply(API_GETNAME)?;
        Ok(reply.get_str(F_QUERYNAME).map(str::to_string))
    }

    /// Chooses which message treatments we receive (`KEEPIT`, ... see [`crate::fields`]).
    pub fn set_filter(&mut self, fmask: u32) -> Result<(), ApiError> {
        let mut req = self.boilerplate(API_SETFILTER);
        req.add_str(F_FILTERMASK, format!("{fmask:x}"));
        self.send(&req)?;
        self.read_ok_reply(API_SETFILTER).map(drop)
    }

    /// Asks heartbeat to send us `signal` whenever it queues a message for us (0: off).
    pub fn set_signal(&mut self, signal: u32) -> Result<(), ApiError> {
        let mut req = self.boilerplate(API_SETSIGNAL);
        req.add_str(F_SIGNAL, signal.to_string());
        self.send(&req)?;
        self.read_ok_reply(API_SETSIGNAL).map(drop)
    }

    /// Sends a message to the cluster. heartbeat stamps `from_id`/`to_id` with our
    /// client id, so only clients with the same id (on every node) receive it; casual
    /// clients are disconnected for trying.
    pub fn send_cluster(&mut self, msg: &Msg) -> Result<(), ApiError> {
        self.send(msg)
    }

    /// Like [`HbClient::send_cluster`], addressed to one node (`dest`).
    /// A handle that sends cluster messages on this connection from another thread,
    /// so one thread can block in [`HbClient::recv`] while another sends (libhbclient
    /// users poll with a timeout instead, waking up for nothing). Only cluster
    /// messages go through it: requests and their replies stay with the client.
    pub fn sender(&self) -> Result<HbSender, ApiError> {
        let stream = self
            .stream
            .try_clone()
            .map_err(|e| ApiError::io("duplicating the API connection", e))?;
        Ok(HbSender { stream })
    }

    pub fn send_node(&mut self, msg: &Msg, node: &str) -> Result<(), ApiError> {
        let mut m = msg.clone();
        m.set_str(F_TO, node);
        self.send(&m)
    }

    /// The next asynchronous message (status, ifstat, hbapi-clstat, respond-cstatus,
    /// cluster messages), waiting at most `timeout` (`None`: forever). `Ok(None)` on
    /// timeout.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<Msg>, ApiError> {
        if let Some(m) = self.queue.pop_front() {
            return Ok(Some(m));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        match self.read_one(deadline, "waiting for a message") {
            Ok(m) => Ok(Some(m)),
            Err(ApiError::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Signs off and closes the connection (no reply is expected).
    pub fn signoff(mut self) -> Result<(), ApiError> {
        if !self.signed_on {
            return Ok(());
        }
        let req = self.boilerplate(API_SIGNOFF);
        self.signed_on = false;
        self.send(&req)
    }

    /// The fields every request starts with (`hb_api_boilerplate`).
    fn boilerplate(&self, reqtype: &str) -> Msg {
        let mut m = Msg::with_type(T_APIREQ);
        m.add_str(F_APIREQ, reqtype)
            .add_str(F_TO, &self.dest)
            .add_str(F_PID, self.pid.to_string())
            .add_str(F_FROMID, &self.client_id);
        m
    }

    fn send(&mut self, msg: &Msg) -> Result<(), ApiError> {
        let body = encode_body(msg, MsgFmt::Classic)?;
        crate::frame::write_frame(&mut self.stream, &body)
    }

    /// A request answered by one `result=OK` reply carrying `field`.
    fn query_str(
        &mut self,
        reqtype: &str,
        args: &[(&str, &str)],
        field: &str,
    ) -> Result<String, ApiError> {
        let mut req = self.boilerplate(reqtype);
        for (k, v) in args {
            req.add_str(k, v);
        }
        self.send(&req)?;
        let reply = self.read_ok_reply(reqtype)?;
        reply
            .get_str(field)
            .map(str::to_string)
            .ok_or_else(|| bad_reply(reqtype, &format!("no {field} field in reply")))
    }

    fn read_ok_reply(&mut self, reqtype: &str) -> Result<Msg, ApiError> {
        let reply = self.read_reply(reqtype)?;
        match reply.get_str(F_APIRESULT) {
            Some(API_OK) => Ok(reply),
            Some(API_BADREQ) => Err(bad_request(reqtype, &reply)),
            other => Err(bad_reply(reqtype, &format!("unexpected result {other:?}"))),
        }
    }

    /// The next `hbapi-resp`; everything else is queued (`read_api_msg`).
    fn read_reply(&mut self, reqtype: &str) -> Result<Msg, ApiError> {
        let deadline = self.reply_timeout.map(|t| Instant::now() + t);
        loop {
            let m = self.read_one(deadline, &format!("waiting for the {reqtype} reply"))?;
            if m.msg_type() == Some(T_APIRESP) {
                return Ok(m);
            }
            self.queue.push_back(m);
        }
    }

    /// Reads the next message from the socket, waiting until `deadline` at most.
    fn read_one(&mut self, deadline: Option<Instant>, context: &str) -> Result<Msg, ApiError> {
        loop {
            if let Some(body) = self.decoder.next_frame()? {
                return decode_body(&body);
            }
            let wait = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ApiError::Timeout {
                            context: context.to_string(),
                        });
                    }
                    Some(left)
                }
            };
            self.stream
                .set_read_timeout(wait)
                .map_err(|e| ApiError::io("setting the socket read timeout", e))?;
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.signed_on = false;
                    return Err(ApiError::Eof {
                        context: context.to_string(),
                    });
                }
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ApiError::Timeout {
                        context: context.to_string(),
                    })
                }
                Err(e) => return Err(ApiError::io(context.to_string(), e)),
            }
        }
    }
}

impl Drop for HbClient {
    fn drop(&mut self) {
        if self.signed_on {
            // Best effort, like hb_api_delete: a vanished daemon is not an error here.
            let req = self.boilerplate(API_SIGNOFF);
            let _ = self.send(&req);
        }
    }
}

fn is_cstatus_answer(m: &Msg) -> bool {
    m.msg_type() == Some(T_RCSTATUS) || m.get_str(F_SUBTYPE) == Some(T_RCSTATUS)
}

fn cstatus_value(m: &Msg) -> Result<String, ApiError> {
    match (m.get_str(F_APIRESULT), m.get_str(F_CLIENTSTATUS)) {
        (Some(API_OK), Some(cs)) => Ok(cs.to_string()),
        (Some(API_BADREQ), _) => Err(bad_request(API_CLIENTSTATUS, m)),
        _ => Err(bad_reply(API_CLIENTSTATUS, "received wrong type of msg")),
    }
}

/// For multi-reply requests: true on the last (`OK`) reply, false on `ok/more`.
fn more_or_ok(reply: &Msg, reqtype: &str) -> Result<bool, ApiError> {
    match reply.get_str(F_APIRESULT) {
        Some(API_OK) => Ok(true),
        Some(API_MORE) => Ok(false),
        Some(API_BADREQ) => Err(bad_request(reqtype, reply)),
        None => Err(bad_reply(reqtype, "API reply missing result field")),
        Some(other) => Err(bad_reply(
            reqtype,
            &format!("Unexpected API result value: [{other}]"),
        )),
    }
}

fn bad_request(reqtype: &str, reply: &Msg) -> ApiError {
    ApiError::BadRequest {
        reqtype: reqtype.to_string(),
        info: reply.get_str(F_COMMENT).map(str::to_string),
    }
}

fn bad_reply(reqtype: &str, detail: &str) -> ApiError {
    ApiError::BadReply {
        reqtype: reqtype.to_string(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests;
