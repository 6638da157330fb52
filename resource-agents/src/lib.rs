//! resource-agents: the OCF/LSB/heartbeat-class runner and shipped agents (issue 3). Empty until then.
