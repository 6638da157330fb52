//! `stonith`: cluster-glue compatible STONITH command-line tool.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = stonith::cli::main_with(&args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
