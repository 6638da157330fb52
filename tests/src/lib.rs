//! Test bench: network namespaces, bridges, veth pairs, node processes.
