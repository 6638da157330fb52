//! Field names and constant values of the API protocol (`ha_msg.h`, `hb_api.h`,
//! `hb_api_core.h`). They are the interface, so they are spelled exactly as on the wire.

/// Message type field.
pub const F_TYPE: &str = "t";
/// Originating node of a cluster message.
pub const F_ORIG: &str = "src";
/// Destination node.
pub const F_TO: &str = "dest";
pub const F_NODENAME: &str = "node";
pub const F_STATUS: &str = "st";
pub const F_WEIGHT: &str = "weight";
pub const F_SITE: &str = "site";
pub const F_NODETYPE: &str = "nodetype";
pub const F_NUMNODES: &str = "numnodes";
pub const F_IFNAME: &str = "ifname";
pub const F_CLIENTNAME: &str = "cn";
pub const F_CLIENTSTATUS: &str = "cs";
pub const F_SUBTYPE: &str = "subt";
pub const F_COMMENT: &str = "info";
pub const F_CLIENT_GENERATION: &str = "client_gen";
pub const F_FROMID: &str = "from_id";
pub const F_TOID: &str = "to_id";
pub const F_PID: &str = "pid";
pub const F_UID: &str = "uid";
pub const F_GID: &str = "gid";
pub const F_APIREQ: &str = "reqtype";
pub const F_APIRESULT: &str = "result";
pub const F_PNAME: &str = "pname";
pub const F_PVALUE: &str = "pvalue";
pub const F_DEADTIME: &str = "deadtime";
pub const F_KEEPALIVE: &str = "keepalive";
pub const F_LOGFACILITY: &str = "logfacility";
pub const F_RESOURCES: &str = "rsc_hold";
pub const F_FILTERMASK: &str = "fmask";
pub const F_SIGNAL: &str = "signal";
pub const F_QUERYNAME: &str = "queryname";
pub const F_QUERYUUID: &str = "queryuuid";
pub const F_SENDQLEN: &str = "sendqlen";
pub const KEY_HBVERSION: &str = "hbversion";
pub const KEY_PACEMAKER: &str = "pacemaker";
/// Historical alias of `pacemaker`.
pub const KEY_REL2: &str = "crm";

pub const T_APIREQ: &str = "hbapi-req";
pub const T_APIRESP: &str = "hbapi-resp";
pub const T_APICLISTAT: &str = "hbapi-clstat";
pub const T_QCSTATUS: &str = "query-cstatus";
pub const T_RCSTATUS: &str = "respond-cstatus";
pub const T_STATUS: &str = "status";
pub const T_IFSTATUS: &str = "ifstat";

pub const API_SIGNON: &str = "signon";
pub const API_SIGNOFF: &str = "signoff";
pub const API_SETFILTER: &str = "setfilter";
pub const API_SETSIGNAL: &str = "setsignal";
pub const API_NODELIST: &str = "nodelist";
pub const API_NODESTATUS: &str = "nodestatus";
pub const API_NODEWEIGHT: &str = "nodeweight";
pub const API_NODESITE: &str = "nodesite";
pub const API_NODETYPE: &str = "nodetype";
pub const API_NUMNODES: &str = "numnodes";
pub const API_IFLIST: &str = "iflist";
pub const API_IFSTATUS: &str = "ifstatus";
pub const API_CLIENTSTATUS: &str = "clientstatus";
pub const API_GETPARM: &str = "getparm";
pub const API_GETRESOURCES: &str = "getrsc";
pub const API_GETUUID: &str = "getuuid";
pub const API_GETNAME: &str = "getnodename";
pub const API_SET_SENDQLEN: &str = "set_sendqlen";
/// Our extension: every haresources group's state (see [`crate::rscgroups`]).
pub const API_RSCGROUPS: &str = "rscgroups";

/// Final (or only) reply of a request.
pub const API_OK: &str = "OK";
/// One reply of a multi-reply sequence; more follow, the last one says `OK`.
pub const API_MORE: &str = "ok/more";
pub const API_BADREQ: &str = "badreq";

pub const ONLINESTATUS: &str = "online";
pub const OFFLINESTATUS: &str = "offline";
pub const JOINSTATUS: &str = "join";
pub const LEAVESTATUS: &str = "leave";
pub const ACTIVESTATUS: &str = "active";

/// Message treatment bits (`fmask`, §7.4).
pub const KEEPIT: u32 = 0x01;
pub const NOCHANGE: u32 = 0x02;
pub const DROPIT: u32 = 0x04;
pub const DUPLICATE: u32 = 0x08;
pub const APICALL: u32 = 0x10;
pub const PROTOCOL: u32 = 0x20;
/// Treatments only root (or heartbeat's own uid) may ask for.
pub const DEBUGTREATMENTS: u32 = DROPIT | DUPLICATE | APICALL | NOCHANGE | PROTOCOL;
pub const ALLTREATMENTS: u32 = DEBUGTREATMENTS | KEEPIT;
pub const DEFAULTREATMENT: u32 = KEEPIT;
