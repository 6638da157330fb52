//! `meatclient -c <node> [-w]`: confirm a manual reset to the meatware
//! STONITH plugin.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let code = stonith::meatclient::main_with(
        &args,
        &stonith::plugins::meatware::fifo_dir(),
        &mut stdin.lock(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
