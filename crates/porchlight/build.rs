//! Embeds the web app (`ui/dist`, built by `make ui`) into the binary: writes a table of
//! (path, content type, bytes, gzipped bytes if `ui/scripts/compress.mjs` made them) to
//! `$OUT_DIR/ui_files.rs`. Without a built app the table is
//! empty and `porchlight serve` answers `/` with a page saying how to build it.

use std::path::{Path, PathBuf};

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = manifest.join("../../ui/dist");
    println!("cargo::rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &mut files);
    files.sort();
    let mut code = String::from("pub static FILES: &[super::File] = &[\n");
    for f in files.iter().filter(|f| f.extension().is_none_or(|e| e != "gz")) {
        println!("cargo::rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
        let abs = f.canonicalize().expect("a file listed a moment ago");
        let mut gz = f.clone().into_os_string();
        gz.push(".gz");
        let gz = PathBuf::from(gz);
        let gz = if gz.exists() {
            format!("Some(include_bytes!({:?}))", gz.canonicalize().expect("exists"))
        } else {
            "None".to_owned()
        };
        code.push_str(&format!(
            "    ({:?}, {:?}, include_bytes!({:?}), {gz}),\n",
            format!("/{rel}"),
            content_type(f),
            abs
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ui_files.rs");
    std::fs::write(out, code).expect("writing ui_files.rs");
}
