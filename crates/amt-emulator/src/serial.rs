//! The emulated host's serial console (COM port redirected by SOL), sans-IO.
//!
//! When the host powers on it "boots": a BIOS banner with the persona's BIOS version,
//! `Booting from Hard Disk...`, a short Linux-like boot log, then a `login:` prompt. Typed
//! characters are echoed (not while a password is typed), backspace/DEL erase, Enter moves
//! from `login:` to `Password:` to `Login incorrect` and a fresh prompt. Power off stops the
//! console: input is ignored until the next power on.
//!
//! Output goes to a bounded history ([`SerialConsole::HISTORY`] bytes): a SOL session that
//! attaches after boot first receives the recent output, then everything new. Readers keep a
//! position ([`SerialConsole::read_from`]); output a slow reader missed is dropped, never
//! buffered without bound. No clock, no I/O: the network front pushes input and power changes
//! and pulls output.

use std::collections::VecDeque;

/// Where the line discipline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    /// Host off: no output, input ignored.
    Off,
    /// Typing a user name (echoed).
    Login,
    /// Typing a password (not echoed).
    Password,
}

/// Longest input line kept (further characters are ignored, as a tty's line buffer would).
const MAX_LINE: usize = 256;

/// One host's serial console.
#[derive(Debug, Clone)]
pub struct SerialConsole {
    hostname: String,
    bios_vendor: String,
    bios_version: String,
    prompt: Prompt,
    line: Vec<u8>,
    history: VecDeque<u8>,
    /// Bytes ever written (the position just after the newest byte).
    written: u64,
    boots: u32,
}

impl SerialConsole {
    /// Bytes of output kept for late readers.
    pub const HISTORY: usize = 8 * 1024;

    /// A console for a host named `hostname` with this BIOS, powered off.
    pub fn new(hostname: &str, bios_vendor: &str, bios_version: &str) -> Self {
        SerialConsole {
            hostname: if hostname.is_empty() {
                "localhost".to_owned()
            } else {
                hostname.to_owned()
            },
            bios_vendor: bios_vendor.to_owned(),
            bios_version: bios_version.to_owned(),
            prompt: Prompt::Off,
            line: Vec::new(),
            history: VecDeque::new(),
            written: 0,
            boots: 0,
        }
    }

    /// Whether the host is on (the console prints and reads).
    pub fn powered(&self) -> bool {
        self.prompt != Prompt::Off
    }

    /// How many times the host booted since the console was created.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// The host powered on (or reset): print the boot log and a login prompt. Powering on a
    /// host that is on reboots it.
    pub fn power_on(&mut self) {
        self.boots = self.boots.saturating_add(1);
        self.line.clear();
        let log = format!(
            "\r\n{vendor} BIOS {version}\r\n\
             Copyright (C) {vendor}\r\n\
             Intel(R) Active Management Technology: Serial-over-LAN console\r\n\
             \r\n\
             Booting from Hard Disk...\r\n\
             [    0.000000] Linux version 6.1.0-amd64 (emulated host)\r\n\
             [    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro console=tty0 console=ttyS1,115200n8\r\n\
             [    0.412345] serial8250: ttyS1 at I/O 0x2f8 (irq = 3) is a 16550A\r\n\
             [    1.234567] EXT4-fs (sda1): mounted filesystem with ordered data mode\r\n\
             [    2.345678] systemd[1]: Reached target Multi-User System.\r\n\
             \r\n\
             Debian GNU/Linux 12 {host} ttyS1\r\n\
             \r\n",
            vendor = self.bios_vendor,
            version = self.bios_version,
            host = self.hostname,
        );
        self.write(log.as_bytes());
        self.login_prompt();
    }

    /// The host powered off (or went to sleep): the console goes quiet.
    pub fn power_off(&mut self) {
        self.prompt = Prompt::Off;
        self.line.clear();
    }

    /// Bytes typed on the console (SOL data to host).
    pub fn input(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.prompt {
                Prompt::Off => return,
                Prompt::Login | Prompt::Password => self.key(b),
            }
        }
    }

    fn key(&mut self, b: u8) {
        let echo = self.prompt == Prompt::Login;
        match b {
            b'\r' | b'\n' => self.enter(),
            0x08 | 0x7f => {
                let erased = self.line.pop().is_some();
                self.echo(echo && erased, b"\x08 \x08");
            }
            // Ctrl-C and Ctrl-U: drop the line.
            0x03 | 0x15 => {
                self.line.clear();
                self.write(b"^C\r\n");
                self.login_prompt();
            }
            0x20..=0x7e => {
                let room = self.line.len() < MAX_LINE;
                if room {
                    self.line.push(b);
                }
                self.echo(echo && room, &[b]);
            }
            _ => {}
        }
    }

    fn echo(&mut self, wanted: bool, bytes: &[u8]) {
        if wanted {
            self.write(bytes);
        }
    }

    fn enter(&mut self) {
        self.write(b"\r\n");
        match self.prompt {
            Prompt::Login if self.line.is_empty() => self.login_prompt(),
            Prompt::Login => {
                self.line.clear();
                self.prompt = Prompt::Password;
                self.write(b"Password: ");
            }
            Prompt::Password => {
                self.line.clear();
                self.write(b"\r\nLogin incorrect\r\n");
                self.login_prompt();
            }
            Prompt::Off => {}
        }
    }

    fn login_prompt(&mut self) {
        self.prompt = Prompt::Login;
        self.line.clear();
        let p = format!("{} login: ", self.hostname);
        self.write(p.as_bytes());
    }

    fn write(&mut self, bytes: &[u8]) {
        self.written = self.written.saturating_add(bytes.len() as u64);
        self.history.extend(bytes);
        let excess = self.history.len().saturating_sub(Self::HISTORY);
        self.history.drain(..excess);
    }

    /// The position after the newest output byte (a new reader that wants only new output
    /// starts here).
    pub fn position(&self) -> u64 {
        self.written
    }

    /// The position of the oldest byte still kept (a reader that wants the recent history
    /// starts here).
    pub fn oldest_position(&self) -> u64 {
        self.written - self.history.len() as u64
    }

    /// Output from position `from` on, at most `max` bytes, and the position to continue
    /// from. A reader behind the history resumes at its oldest byte (it missed the rest).
    pub fn read_from(&self, from: u64, max: usize) -> (Vec<u8>, u64) {
        let start = from.clamp(self.oldest_position(), self.written);
        let skip = (start - self.oldest_position()) as usize;
        let out: Vec<u8> = self.history.iter().skip(skip).take(max).copied().collect();
        let next = start + out.len() as u64;
        (out, next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(c: &SerialConsole) -> String {
        let (b, _) = c.read_from(0, usize::MAX);
        String::from_utf8_lossy(&b).into_owned()
    }

    #[test]
    fn boot_prints_bios_banner_then_login_prompt() {
        let mut c = SerialConsole::new("amtdev01", "Emulated BIOS Co.", "N01 Ver. 02.45");
        assert!(all(&c).is_empty());
        c.power_on();
        let s = all(&c);
        assert!(s.contains("Emulated BIOS Co. BIOS N01 Ver. 02.45"));
        assert!(s.contains("Booting from Hard Disk..."));
        assert!(s.ends_with("amtdev01 login: "));
    }

    #[test]
    fn login_echoes_user_hides_password_and_refuses() {
        let mut c = SerialConsole::new("h", "V", "1");
        c.power_on();
        let p = c.position();
        c.input(b"roox\x7ft\rsecret\r");
        let (out, _) = c.read_from(p, usize::MAX);
        let s = String::from_utf8_lossy(&out);
        assert_eq!(
            s,
            "roox\x08 \x08t\r\nPassword: \r\n\r\nLogin incorrect\r\nh login: "
        );
        assert!(!s.contains("secret"));
    }

    #[test]
    fn powered_off_console_ignores_input() {
        let mut c = SerialConsole::new("h", "V", "1");
        c.power_on();
        c.power_off();
        let p = c.position();
        c.input(b"abc\r");
        assert_eq!(c.position(), p);
        assert!(!c.powered());
    }

    #[test]
    fn history_is_bounded_and_late_readers_resume_at_the_oldest_byte() {
        let mut c = SerialConsole::new("h", "V", "1");
        c.power_on();
        for _ in 0..2000 {
            c.input(b"x\r\r");
        }
        assert!(c.position() > SerialConsole::HISTORY as u64);
        let (out, next) = c.read_from(0, usize::MAX);
        assert_eq!(out.len(), SerialConsole::HISTORY);
        assert_eq!(next, c.position());
        let (chunk, next) = c.read_from(c.oldest_position(), 10);
        assert_eq!(chunk.len(), 10);
        assert_eq!(next, c.oldest_position() + 10);
    }

    #[test]
    fn long_lines_are_capped() {
        let mut c = SerialConsole::new("h", "V", "1");
        c.power_on();
        let p = c.position();
        c.input(&[b'a'; 1000]);
        assert_eq!(c.position() - p, MAX_LINE as u64);
    }
}
