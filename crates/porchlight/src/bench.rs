//! `porchlight bench`: whole-system measurements (see BENCHMARKS.md).

use base::Error;

#[derive(clap::Subcommand)]
pub enum BenchCmd {}

pub fn run(cmd: BenchCmd) -> Result<(), Error> {
    match cmd {}
}
