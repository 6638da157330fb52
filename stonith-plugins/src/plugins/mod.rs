//! The shipped plugin types.

pub mod external;
pub mod fence;
pub mod libvirt;
pub mod meatware;
pub mod null;
pub mod ssh;
pub mod suicide;
