//! The client side of the meatware protocol (`meatclient -c <node>`).

use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::plugins::meatware::{fifo_path, reply_text, REPLY_LEN};

/// Exit status for bad usage and for a cancelled confirmation.
pub const EXIT_USAGE: i32 = 3;
/// Exit status when the FIFO cannot be opened.
pub const EXIT_IPC: i32 = 4;
/// Exit status on write failure.
pub const EXIT_WRITE: i32 = 8;

/// Run meatclient: `args` excludes argv[0]. Prompts on `out`, reads the
/// answer from `input`; returns the exit status.
pub fn main_with(
    args: &[String],
    dir: &Path,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut node: Option<String> = None;
    let mut wait = false;
    let mut i = 0;
    let usage = |err: &mut dyn Write| {
        let _ = writeln!(err, "usage: meatclient -c node [-w]");
        EXIT_USAGE
    };
    while i < args.len() {
        match args[i].as_str() {
            "-c" => {
                i += 1;
                match args.get(i) {
                    Some(n) => node = Some(n.to_lowercase()),
                    None => return usage(err),
                }
            }
            s if s.starts_with("-c") && s.len() > 2 => node = Some(s[2..].to_lowercase()),
            "-w" => wait = true,
            _ => return usage(err),
        }
        i += 1;
    }
    let Some(node) = node else { return usage(err) };
    let path = fifo_path(dir, &node);
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
    };
    let mut fifo = loop {
        match open() {
            Ok(f) => break f,
            Err(e) if wait && e.kind() == std::io::ErrorKind::NotFound => {
                let _ = write!(out, ".");
                let _ = out.flush();
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => {
                let _ = writeln!(err, "Meatware_IPC failed: {}: {e}", path.display());
                return EXIT_IPC;
            }
        }
    };
    let _ = write!(
        out,
        "\nWARNING!\n\nIf node \"{node}\" has not been manually power-cycled or disconnected from all shared resources and networks, data on shared disks may become corrupted and migrated services might not work as expected.\nPlease verify that the name or address above corresponds to the node you just rebooted.\n\nPROCEED? [yN] "
    );
    let _ = out.flush();
    let mut line = String::new();
    let _ = input.read_line(&mut line);
    // Like the original only a lowercase "y" proceeds; we also accept "Y"
    // (cluster-glue bug 13 rejects it by accident).
    let word = line.split_whitespace().next().unwrap_or("");
    if !word.eq_ignore_ascii_case("y") {
        let _ = writeln!(out, "Meatware_client: operation canceled.");
        return EXIT_USAGE;
    }
    let mut buf = [0u8; REPLY_LEN];
    let text = reply_text(&node);
    let n = text.len().min(REPLY_LEN - 1);
    buf[..n].copy_from_slice(&text.as_bytes()[..n]);
    if let Err(e) = fifo.write_all(&buf) {
        let _ = writeln!(err, "Meatware_IPC failed: {}: {e}", path.display());
        return EXIT_WRITE;
    }
    let _ = writeln!(out, "Meatware_client: reset confirmed.");
    0
}
