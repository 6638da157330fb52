//! The API server's read-only window onto the daemon's state.

use hb_api::server::{ClusterView, NodeInfo};
use hb_core::{Core, LinkState, NodeType};

use crate::config::DaemonConfig;
use crate::rm::RmGlue;

pub struct View<'a> {
    core: &'a Core,
    cfg: &'a DaemonConfig,
    /// The haresources manager; `None` without one (`-M`, `crm`).
    rm: Option<&'a RmGlue>,
}

impl<'a> View<'a> {
    pub fn new(core: &'a Core, cfg: &'a DaemonConfig, rm: Option<&'a RmGlue>) -> Self {
        View { core, cfg, rm }
    }
}

fn type_name(t: NodeType) -> &'static str {
    match t {
        NodeType::Normal => "normal",
        NodeType::Ping => "ping",
    }
}

impl ClusterView for View<'_> {
    fn local_node(&self) -> String {
        self.core.local().to_string()
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.core
            .nodes()
            .into_iter()
            .map(|n| NodeInfo {
                name: n.name,
                node_type: type_name(n.node_type).into(),
                status: n.status,
            })
            .collect()
    }

    fn links(&self, node: &str) -> Option<Vec<(String, String)>> {
        let n = self.core.node(node)?;
        Some(
            n.links
                .into_iter()
                .map(|(name, st)| {
                    let st = match st {
                        LinkState::Up => "up",
                        LinkState::Dead => "dead",
                    };
                    (name, st.to_string())
                })
                .collect(),
        )
    }

    fn node_weight(&self, node: &str) -> Option<u32> {
        self.core.node(node).map(|n| n.weight)
    }

    fn node_site(&self, node: &str) -> Option<String> {
        self.core.node(node).map(|n| n.site)
    }

    fn uuid_of(&self, node: &str) -> Option<[u8; 16]> {
        self.core.uuid_of(node)
    }

    fn name_of_uuid(&self, uuid: &[u8; 16]) -> Option<String> {
        self.core.name_of_uuid(uuid)
    }

    fn param(&self, name: &str) -> Option<String> {
        self.cfg.hacf.param(name)
    }

    fn rsc_status(&self) -> String {
        // Without a resource manager (-M, crm) this node holds nothing.
        self.rm.map_or("none", RmGlue::rsc_status).into()
    }

    fn rsc_groups(&self) -> Option<Vec<hb_api::RscGroup>> {
        self.rm.map(RmGlue::rsc_groups)
    }

    fn deadtime_ms(&self) -> u64 {
        self.cfg.hacf.deadtime.as_millis() as u64
    }

    fn keepalive_ms(&self) -> u64 {
        self.cfg.hacf.keepalive.as_millis() as u64
    }

    fn log_facility(&self) -> i32 {
        self.cfg
            .hacf
            .logfacility
            .filter(|f| f.logs_to_syslog())
            .map(|f| f.code)
            .unwrap_or(-1)
    }
}
