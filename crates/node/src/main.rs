//! `nestgrid-node`: runs one ledger validator, or writes a local test network.

fn main() {
    std::process::exit(nestgrid_node::cli::main_from(std::env::args_os()));
}
