//! Multi-block PEM reading and writing (RFC 7468), for chains and trust files.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{PkiError, Result};

/// One `-----BEGIN <label>-----` block, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label (`CERTIFICATE`, `PRIVATE KEY`, …).
    pub label: String,
    /// The decoded bytes.
    pub der: Vec<u8>,
}

impl std::fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Blocks may hold private keys: never print the bytes.
        write!(
            f,
            "PemBlock {{ label: {:?}, {} bytes }}",
            self.label,
            self.der.len()
        )
    }
}

/// Every PEM block in `text`, in order. Text outside blocks is ignored (openssl writes
/// `Bag Attributes` and `subject=` lines there).
pub fn blocks(text: &str) -> Result<Vec<PemBlock>> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                // RFC 1421 headers (Proc-Type, DEK-Info) mark legacy encrypted keys.
                return Err(PkiError::InvalidInput {
                    field: "PEM block",
                    value: label.to_string(),
                    reason: "PEM headers (legacy encrypted keys) are not supported",
                });
            }
            body.push_str(l);
        }
        if !closed {
            return Err(PkiError::malformed(
                "PEM",
                format!("no END line for {label}"),
            ));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| PkiError::malformed("PEM", e))?;
        out.push(PemBlock {
            label: label.to_string(),
            der,
        });
    }
    Ok(out)
}

/// Encode one block with 64-column lines and a trailing newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    s.push_str("-----BEGIN ");
    s.push_str(label);
    s.push_str("-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        s.push_str(line);
        s.push('\n');
        rest = tail;
    }
    s.push_str("-----END ");
    s.push_str(label);
    s.push_str("-----\n");
    s
}

/// The certificates (DER) in `text`: PEM `CERTIFICATE` blocks, or if `text` holds no PEM at all,
/// nothing.
pub fn certificates(text: &str) -> Result<Vec<Vec<u8>>> {
    Ok(blocks(text)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect())
}
