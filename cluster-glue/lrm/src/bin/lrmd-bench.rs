//! lrmd benchmark: per-op overhead of lrmd over a direct fork/exec of the same agent, then
//! lrmd's own CPU and RSS while 1000 Dummy resources are monitored every 10 s.
//!
//! Usage: lrmd-bench [--lrmd PATH] [--agent PATH] [--resources N] [--interval MS]
//!                   [--seconds S] [--ops N] [--max-children N]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use lrm::client::Client;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// lrmd binary (default: next to this one).
    #[arg(long)]
    lrmd: Option<PathBuf>,
    /// The Dummy agent to run (linked as ocf:bench:Dummy).
    #[arg(long, default_value = "/usr/lib/ocf/resource.d/heartbeat/Dummy")]
    agent: PathBuf,
    /// OCF root whose lib/ the agent sources its shell functions from.
    #[arg(long, default_value = "/usr/lib/ocf")]
    ocf_lib_root: PathBuf,
    #[arg(long, default_value_t = 1000)]
    resources: usize,
    #[arg(long, default_value_t = 10_000)]
    interval: u64,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 500)]
    ops: usize,
    #[arg(long, default_value_t = 4)]
    max_children: usize,
}

/// utime + stime of `pid` in clock ticks, and VmRSS in kB.
fn proc_usage(pid: u32) -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading /proc/<lrmd>/stat")?;
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command name: field 3 (state) is index 0, utime (14) is index 11.
    let ticks = f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((ticks, rss))
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

struct Lrmd(Child);

impl Drop for Lrmd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let lrmd_bin = match &args.lrmd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("lrmd"),
    };
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("ocf");
    std::fs::create_dir_all(root.join("resource.d/bench"))?;
    std::os::unix::fs::symlink(args.ocf_lib_root.join("lib"), root.join("lib"))?;
    // A symlink named Dummy: ra-agents dispatches on argv[0]'s file name.
    let agent = root.join("resource.d/bench/Dummy");
    std::os::unix::fs::symlink(&args.agent, &agent)?;
    let socket = tmp.path().join("lrmd.sock");
    let child = Command::new(&lrmd_bin)
        .arg("--socket")
        .arg(&socket)
        .arg("--standalone")
        .arg("--ocf-root")
        .arg(&root)
        .arg("--max-children")
        .arg(args.max_children.to_string())
        .arg("--logfile")
        .arg(tmp.path().join("lrmd.log"))
        .env("LRMD_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", lrmd_bin.display()))?;
    let lrmd = Lrmd(child);
    let pid = lrmd.0.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut c = loop {
        match Client::connect(&socket) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => bail!("lrmd did not come up: {e}"),
        }
    };
    let state = |i: usize| tmp.path().join(format!("r{i}.state"));

    // 1. Per-op overhead: the same monitor, sequentially, via lrmd and directly.
    c.call(json!({"request": "register", "rsc": "p", "class": "ocf", "provider": "bench", "type": "Dummy",
        "params": {"state": tmp.path().join("p.state")}}))?;
    let start = c.call(json!({"request": "exec", "rsc": "p", "operation": "start"}))?;
    c.wait_result(start["call_id"].as_u64().unwrap_or(0), None)?;
    let t0 = Instant::now();
    for _ in 0..args.ops {
        let r = c.call(
            json!({"request": "exec", "rsc": "p", "operation": "monitor", "timeout": 20000}),
        )?;
        let rec = c.wait_result(r["call_id"].as_u64().unwrap_or(0), None)?;
        if rec.rc != 0 {
            bail!("monitor via lrmd returned rc {}", rec.rc);
        }
    }
    let via_lrmd = t0.elapsed();
    let mut env: BTreeMap<&str, String> = BTreeMap::new();
    env.insert("OCF_ROOT", root.display().to_string());
    env.insert("OCF_RA_VERSION_MAJOR", "1".into());
    env.insert("OCF_RA_VERSION_MINOR", "0".into());
    env.insert("OCF_RESOURCE_INSTANCE", "p".into());
    env.insert("OCF_RESOURCE_TYPE", "Dummy".into());
    env.insert("OCF_RESOURCE_PROVIDER", "bench".into());
    env.insert(
        "OCF_RESKEY_state",
        tmp.path().join("p.state").display().to_string(),
    );
    env.insert("OCF_RESKEY_CRM_meta_interval", "0".into());
    env.insert("OCF_RESKEY_CRM_meta_timeout", "20000".into());
    let t0 = Instant::now();
    for _ in 0..args.ops {
        let st = Command::new(&agent)
            .arg("monitor")
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if st.code() != Some(0) {
            bail!("direct monitor returned {st}");
        }
    }
    let direct = t0.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / args.ops as f64;

    // 2. Many monitored resources.
    let reg_t0 = Instant::now();
    let mut starts = Vec::new();
    for i in 0..args.resources {
        c.call(json!({"request": "register", "rsc": format!("r{i}"), "class": "ocf", "provider": "bench",
            "type": "Dummy", "params": {"state": state(i)}}))?;
        let r = c.call(json!({"request": "exec", "rsc": format!("r{i}"), "operation": "start"}))?;
        starts.push(r["call_id"].as_u64().unwrap_or(0));
    }
    for call in starts {
        c.wait_result(call, None)?;
    }
    for i in 0..args.resources {
        c.call(
            json!({"request": "exec", "rsc": format!("r{i}"), "operation": "monitor",
            "interval": args.interval, "timeout": 20000}),
        )?;
    }
    let setup = reg_t0.elapsed();
    // Let the first monitor wave pass, then measure whole intervals.
    std::thread::sleep(Duration::from_millis(args.interval.min(10_000)));
    let (ticks0, _) = proc_usage(pid)?;
    let m0 = Instant::now();
    let mut rss_max = 0;
    let mut rss_last = 0;
    while m0.elapsed() < Duration::from_secs(args.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let (_, rss) = proc_usage(pid)?;
        rss_max = rss_max.max(rss);
        rss_last = rss;
    }
    let (ticks1, _) = proc_usage(pid)?;
    let window = m0.elapsed().as_secs_f64();
    let cpu_s = (ticks1 - ticks0) as f64 / clock_ticks() as f64;
    let monitors = window * 1000.0 / args.interval as f64 * args.resources as f64;

    println!("agent: {} (via {})", args.agent.display(), agent.display());
    println!();
    println!("per-op wall time, {} sequential monitor ops", args.ops);
    println!(
        "  {:<28} {:>10}",
        "direct fork/exec",
        format!("{:.3} ms", per(direct))
    );
    println!(
        "  {:<28} {:>10}",
        "through lrmd (socket+sched)",
        format!("{:.3} ms", per(via_lrmd))
    );
    println!(
        "  {:<28} {:>10}",
        "lrmd overhead per op",
        format!("{:.3} ms", per(via_lrmd) - per(direct))
    );
    println!();
    println!(
        "{} resources, {} ms monitors (setup {:.1} s), window {:.0} s (~{:.0} monitor runs)",
        args.resources,
        args.interval,
        setup.as_secs_f64(),
        window,
        monitors
    );
    println!(
        "  lrmd CPU (utime+stime)      {:.2} s = {:.2}% of one core",
        cpu_s,
        cpu_s / window * 100.0
    );
    println!(
        "  lrmd RSS                    {} kB at end, {} kB max",
        rss_last, rss_max
    );
    Ok(())
}
