include!("rpath.rs");

fn main() {
    emit_libtorch_rpath();
    compile_autocast_shim();
}

/// csrc/autocast.cpp against the libtorch that torch-sys found (it passes the lib folder as
/// `DEP_TCH_LIBTORCH_LIB`; the headers sit next to it), with torch-sys's own flags so both
/// agree on the C++ ABI.
fn compile_autocast_shim() {
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_INCLUDE");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = std::env::var_os("DEP_TCH_LIBTORCH_LIB").expect("torch-sys did not report its libtorch (DEP_TCH_LIBTORCH_LIB)");
    let lib = std::path::PathBuf::from(lib);
    // As torch-sys: LIBTORCH_INCLUDE when set, else the folder above `lib`.
    let root = match std::env::var_os("LIBTORCH_INCLUDE") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => lib.parent().expect("libtorch lib folder has a parent").to_path_buf(),
    };
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/autocast.cpp")
        .compile("swan_autocast");
}
