// Shared by the build scripts of every package that links libtorch (embedder and the
// swan binary): bake the libtorch folder into the binaries' RUNPATH so they start
// without LD_LIBRARY_PATH. RUNPATH (not RPATH) so that LD_LIBRARY_PATH still wins,
// which is how a GPU machine points the same binary at its own libtorch.
fn emit_libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(dir) = std::env::var_os("LIBTORCH") else { return };
    let lib = std::path::Path::new(&dir).join("lib");
    // Resolve the `.venv-libtorch` link so the binary keeps working from another clone.
    let lib = std::fs::canonicalize(&lib).unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
