//! Bundles the web console's npm packages (xterm.js and its canvas renderer) into the binary.
//!
//! The packages are the npm registry's own tarballs, pinned by version and by the registry's
//! SHA-512 integrity string (the value `npm view <pkg>@<version> dist.integrity` prints and a
//! package-lock.json records). Each tarball is taken from, in order: `$AMTD_WEB_VENDOR_DIR`
//! (a directory holding the `.tgz` files, for offline builds), the download cache
//! (`$XDG_CACHE_HOME/amtd/npm` or `~/.cache/amtd/npm`), or the npm registry (fetched with curl).
//! A tarball whose hash differs is refused. The files the console serves are unpacked into
//! `$OUT_DIR/web-vendor/` and embedded by `src/server/web.rs`.
//!
//! When no tarball can be had (no network, no curl), the build still succeeds: a cargo warning
//! says so and the vendor files are replaced by a script that makes the console's SOL page say
//! that this build has no terminal. Everything else in the console works without them.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::Digest as _;

/// One npm package: name, tarball URL, integrity, and (path in the tarball, file name served).
struct Package {
    name: &'static str,
    url: &'static str,
    integrity: &'static str,
    files: &'static [(&'static str, &'static str)],
}

const PACKAGES: &[Package] = &[
    Package {
        name: "@xterm/xterm@5.5.0",
        url: "https://registry.npmjs.org/@xterm/xterm/-/xterm-5.5.0.tgz",
        integrity: "sha512-hqJHYaQb5OptNunnyAnkHyM8aCjZ1MEIDTQu1iIbbTD/xops91NB5yq1ZK/dC2JDbVWtF23zUtl9JE2NqwT87A==",
        files: &[
            ("package/lib/xterm.js", "xterm.js"),
            ("package/css/xterm.css", "xterm.css"),
            ("package/LICENSE", "xterm.LICENSE.txt"),
        ],
    },
    Package {
        name: "@xterm/addon-canvas@0.7.0",
        url: "https://registry.npmjs.org/@xterm/addon-canvas/-/addon-canvas-0.7.0.tgz",
        integrity: "sha512-LF5LYcfvefJuJ7QotNRdRSPc9YASAVDeoT5uyXS/nZshZXjYplGXRECBGiznwvhNL2I8bq1Lf5MzRwstsYQ2Iw==",
        files: &[("package/lib/addon-canvas.js", "addon-canvas.js")],
    },
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AMTD_WEB_VENDOR_DIR");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("web-vendor");
    if let Err(e) = std::fs::create_dir_all(&out) {
        panic!("cannot create {}: {e}", out.display());
    }
    let mut missing = Vec::new();
    for p in PACKAGES {
        if let Err(e) = vendor(p, &out) {
            missing.push(format!("{}: {e}", p.name));
        }
    }
    if !missing.is_empty() {
        for m in &missing {
            println!("cargo:warning=web console: {m}; the SOL terminal is left out of this build");
        }
        let note = "window.AMTD_NO_TERMINAL = \"this amtd build has no terminal: xterm.js could \
                    not be fetched from the npm registry at build time\";\n";
        for p in PACKAGES {
            for (_, served) in p.files {
                let body = if served.ends_with(".js") { note } else { "" };
                let _ = std::fs::write(out.join(served), body);
            }
        }
    }
}

/// Unpacks one package's files into `out`.
fn vendor(p: &Package, out: &Path) -> Result<(), String> {
    let file = p.url.rsplit('/').next().unwrap_or("package.tgz");
    let tgz = find_or_fetch(p, file)?;
    let tmp = out.join(format!("{file}.d"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(&tgz).arg("-C").arg(&tmp);
    for (inner, _) in p.files {
        tar.arg(inner);
    }
    let status = tar.status().map_err(|e| format!("running tar: {e}"))?;
    if !status.success() {
        return Err(format!("tar could not unpack {}", tgz.display()));
    }
    for (inner, served) in p.files {
        std::fs::copy(tmp.join(inner), out.join(served))
            .map_err(|e| format!("{inner} missing from {}: {e}", tgz.display()))?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// A tarball with the right hash: from the vendor dir, the cache, or the registry.
fn find_or_fetch(p: &Package, file: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("AMTD_WEB_VENDOR_DIR") {
        let path = PathBuf::from(dir).join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        check(p, &path)?;
        return Ok(path);
    }
    let cache = cache_dir().ok_or("no cache directory (HOME unset)")?;
    let path = cache.join(file);
    if check(p, &path).is_ok() {
        return Ok(path);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let part = cache.join(format!("{file}.part.{}", std::process::id()));
    let status = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "--max-time", "120", "-o"])
        .arg(&part)
        .arg(p.url)
        .status()
        .map_err(|e| format!("running curl: {e}"))?;
    if !status.success() {
        let _ = std::fs::remove_file(&part);
        return Err(format!("curl could not fetch {}", p.url));
    }
    if let Err(e) = check(p, &part) {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(x).join("amtd/npm"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/amtd/npm"))
}

/// Checks a tarball against the package's `sha512-<base64>` integrity string.
fn check(p: &Package, path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let got = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&data))
    );
    if got == p.integrity {
        Ok(())
    } else {
        Err(format!(
            "{} has integrity {got}, expected {} (refused)",
            path.display(),
            p.integrity
        ))
    }
}
