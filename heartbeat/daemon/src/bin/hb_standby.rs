//! `hb_standby [all|foreign|local|failback]`: give this node's resources of that
//! set to the other node (heartbeat 3.0.6's script, writing to heartbeat's FIFO).

#[path = "../standby_cli.rs"]
mod standby_cli;

fn main() -> std::process::ExitCode {
    standby_cli::main_with(
        standby_cli::Request::Standby,
        "hb_standby",
        std::env::args().skip(1).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::standby_cli::*;

    #[test]
    fn failback_means_foreign() {
        assert_eq!(
            message(Request::Standby, "failback"),
            ">>>\nt=ask_resources\nrsc_hold=foreign\ninfo=me\n<<<\n"
        );
        assert_eq!(
            message(Request::Takeover, "local"),
            ">>>\nt=hb_takeover\nrsc_hold=local\n<<<\n"
        );
    }
}
