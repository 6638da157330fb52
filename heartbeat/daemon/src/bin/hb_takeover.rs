//! `hb_takeover [all|foreign|local|failback]`: ask the other node to give that set
//! of resources to this one (heartbeat 3.0.6's script, writing to heartbeat's FIFO).

#[path = "../standby_cli.rs"]
mod standby_cli;

fn main() -> std::process::ExitCode {
    standby_cli::main_with(
        standby_cli::Request::Takeover,
        "hb_takeover",
        std::env::args().skip(1).collect(),
    )
}
