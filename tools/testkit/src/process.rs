//! Where the `fulfil` executable is, for every tool that starts it as a process (the demo,
//! the bench, the soak, the integration tests): one rule, so they all run the same build.

use std::io;
use std::path::PathBuf;

/// The `fulfil` executable: `FULFIL_BIN` when set, else [`binary`]`("fulfil")`.
pub fn fulfil_binary() -> io::Result<PathBuf> {
    match std::env::var_os("FULFIL_BIN") {
        Some(path) => Ok(PathBuf::from(path)),
        None => binary("fulfil"),
    }
}

/// A workspace executable (`fulfil`, `fulfil-check`, ...) beside the running one, or in its
/// parent directory (where test binaries in `deps/` find it).
pub fn binary(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    [dir.join(name), dir.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let why = format!(
                "no {name} executable beside {} (build it: ./dev build, or cargo build --workspace)",
                exe.display()
            );
            io::Error::new(io::ErrorKind::NotFound, why)
        })
}
