// Shared by the build scripts of every package that links libtorch (embedder, server and the
// swan binary): bake the libtorch folder into the binaries' RUNPATH so they start
// without LD_LIBRARY_PATH. RUNPATH (not RPATH) so that LD_LIBRARY_PATH still wins,
// which is how a GPU machine points the same binary at its own libtorch.
//
// The path is the clone's `.venv-libtorch` link itself, not where it points:
// scripts/setup.sh keeps the link current when the venv moves or is rebuilt.
fn emit_libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(dir) = std::env::var_os("LIBTORCH") else { return };
    let lib = std::path::Path::new(&dir).join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
