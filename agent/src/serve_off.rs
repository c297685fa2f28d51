//! `frontier serve` in a build without the `serve` feature (the switcher,
//! axum and tokio left out to make the binary smaller): it says so, with
//! the fix.

use anyhow::bail;

use crate::cli::ServeArgs;

pub fn run(_args: ServeArgs) -> anyhow::Result<i32> {
    bail!("this frontier was built without serving (cargo feature `serve`); fix: use a build with it (the default features, or `cargo xtask dist` for a class whose features list `serve`)")
}
