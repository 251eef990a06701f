//! A bounded pool of pre-generated RSA-2048 private keys for the emulated fleet.
//!
//! An emulated device makes two RSA-2048 keys while it is provisioned: the setup-mode
//! self-signed TLS key (on its first TLS connection) and the key `GenerateKeyPair` creates.
//! RSA key generation costs tens to hundreds of milliseconds of CPU each, and done inline it
//! sits on the provisioning path of every device, so a fleet benchmark ends up measuring the
//! emulator's prime search rather than the server. A [`KeyPool`] moves that work off the path:
//! background threads (plain `std::thread`s, one per available core by default) keep up to
//! [`PoolOptions::capacity`] keys ready, and consumers take them without waiting.
//!
//! Rules:
//! - **Each key is handed out once.** [`KeyPool::take`] removes the key from the pool; the pool
//!   keeps no copy. A device's TLS identity and its `GenerateKeyPair` key are two separate
//!   takes, so no key is ever shared between devices or between the two uses.
//! - **Never blocks.** [`KeyPool::take`] returns `None` when the pool is empty, and the caller
//!   generates inline (the firmware from its `Env` randomness, the TLS front from the OS RNG),
//!   exactly as it does without a pool.
//! - **The firmware stays sans-IO.** It sees keys only through the
//!   [`crate::firmware::certs::KeySource`] trait object the network front gives each device's
//!   [`crate::firmware::Firmware`]; the threads live here, outside the firmware.
//! - Keys are fresh: made from the OS-seeded thread RNG, never read from or written to disk by
//!   the pool (a device persists the keys it uses in its own state, as before).
//!
//! Fidelity: a real device generates its keys on the Management Engine when asked; making them
//! ahead of time in the emulator's process changes only how long `GenerateKeyPair` and the
//! first setup-mode TLS handshake take, never a byte of the protocol. The pool is on by
//! default in [`crate::net::NetOptions`] and can be turned off
//! ([`PoolOptions::enabled`] = false; a `--no-key-pool` flag once the CLI wires it) to emulate
//! inline generation timing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use amt_pki::RsaKey;

use crate::firmware::certs::KeySource;

/// The only key size the pool makes.
pub const POOL_KEY_BITS: usize = 2048;

/// Pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Use a pool at all (false: every key is generated inline, when it is needed).
    pub enabled: bool,
    /// Most keys kept ready.
    pub capacity: usize,
    /// Background generator threads (0: one per available core).
    pub threads: usize,
    /// [`crate::net::Fleet::start`] waits until the pool is full before it starts any device.
    /// With a capacity of two keys per device (setup-mode TLS key + `GenerateKeyPair`) no
    /// device generates a key while it is provisioned: a benchmark then times the server,
    /// not the emulator's RSA. Costs the fill time at start-up instead (RSA-2048 generation:
    /// ~130 ms of one core per key in a release build on the reference machine).
    pub prefill: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            enabled: true,
            capacity: 64,
            threads: 0,
            prefill: false,
        }
    }
}

/// Counters of a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Keys the background threads made.
    pub generated: u64,
    /// Keys handed out.
    pub taken: u64,
    /// Takes that found the pool empty (the caller generated inline).
    pub misses: u64,
    /// Keys ready now.
    pub ready: usize,
}

struct Slots {
    keys: VecDeque<Vec<u8>>,
    /// Keys being generated right now (reserved room in the pool).
    in_flight: usize,
}

struct Inner {
    slots: Mutex<Slots>,
    /// Signalled when room appears or on shutdown.
    room: Condvar,
    capacity: usize,
    shutdown: AtomicBool,
    generated: AtomicU64,
    taken: AtomicU64,
    misses: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock cannot leave the queue inconsistent (push/pop only).
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A bounded pool of fresh RSA-2048 keys (PKCS#8 DER), refilled by background threads. Dropping
/// the pool stops its threads (each finishes the key it is making, then exits).
pub struct KeyPool {
    inner: Arc<Inner>,
    /// Refill threads actually running.
    threads: usize,
}

impl std::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPool")
            .field("capacity", &self.inner.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl KeyPool {
    /// Starts a pool per `options`, or `None` when the options disable it (or the capacity is
    /// zero). Threads are named `amt-keypool-N`; a thread that cannot be spawned is skipped
    /// (the pool then refills more slowly, or not at all, and takes fall back to inline).
    pub fn start(options: &PoolOptions) -> Option<Arc<KeyPool>> {
        if !options.enabled || options.capacity == 0 {
            return None;
        }
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Some(Self::with_generator(
            options.capacity,
            threads,
            Arc::new(generate_key),
        ))
    }

    /// A pool whose threads call `generate` for each key (tests use cheap generators).
    fn with_generator(
        capacity: usize,
        threads: usize,
        generate: Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>,
    ) -> Arc<KeyPool> {
        let inner = Arc::new(Inner {
            slots: Mutex::new(Slots {
                keys: VecDeque::with_capacity(capacity),
                in_flight: 0,
            }),
            room: Condvar::new(),
            capacity,
            shutdown: AtomicBool::new(false),
            generated: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        });
        let mut running = 0;
        for n in 0..threads.max(1) {
            let inner = Arc::clone(&inner);
            let generate = Arc::clone(&generate);
            let spawned = std::thread::Builder::new()
                .name(format!("amt-keypool-{n}"))
                .spawn(move || refill(&inner, generate.as_ref()));
            match spawned {
                Ok(_) => running += 1,
                Err(e) => tracing::warn!(error = %e, "could not start a key pool thread"),
            }
        }
        Arc::new(KeyPool {
            inner,
            threads: running,
        })
    }

    /// Takes one key (PKCS#8 DER of an RSA-2048 private key) out of the pool, or `None` when
    /// none is ready. Never blocks on key generation.
    pub fn take(&self) -> Option<Vec<u8>> {
        let key = self.inner.lock().keys.pop_front();
        match key {
            Some(k) => {
                self.inner.taken.fetch_add(1, Ordering::Relaxed);
                self.inner.room.notify_one();
                Some(k)
            }
            None => {
                self.inner.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Waits until `n` keys (at most the capacity) are ready or `timeout` passes; true when
    /// they are. For benchmarks that want a warm pool before they start the clock.
    pub fn wait_ready(&self, n: usize, timeout: std::time::Duration) -> bool {
        let n = n.min(self.inner.capacity);
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.inner.lock().keys.len() >= n {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The pool's counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            generated: self.inner.generated.load(Ordering::Relaxed),
            taken: self.inner.taken.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            ready: self.inner.lock().keys.len(),
        }
    }

    /// Most keys kept ready.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Refill threads running (0 when none could be spawned: the pool stays empty).
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Drop for KeyPool {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::Relaxed);
        // Take the lock so no thread is between its shutdown check and its wait.
        drop(self.inner.lock());
        self.inner.room.notify_all();
    }
}

impl KeySource for KeyPool {
    fn take_key(&self) -> Option<Vec<u8>> {
        self.take()
    }
}

/// One fresh RSA-2048 key as PKCS#8 DER, from the OS-seeded thread RNG.
fn generate_key() -> Option<Vec<u8>> {
    let key = RsaKey::generate(&mut rand::rng(), POOL_KEY_BITS).ok()?;
    key.to_pkcs8_der().ok().map(|d| d.to_vec())
}

/// A refill thread: reserve room, generate outside the lock, deposit; sleep while full.
fn refill(inner: &Inner, generate: &(dyn Fn() -> Option<Vec<u8>> + Send + Sync)) {
    loop {
        {
            let mut slots = inner.lock();
            loop {
                if inner.shutdown.load(Ordering::Relaxed) {
                    return;
                }
                if slots.keys.len() + slots.in_flight < inner.capacity {
                    break;
                }
                slots = inner
                    .room
                    .wait(slots)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            slots.in_flight += 1;
        }
        let key = generate();
        let mut slots = inner.lock();
        slots.in_flight -= 1;
        match key {
            Some(k) if !inner.shutdown.load(Ordering::Relaxed) => {
                slots.keys.push_back(k);
                inner.generated.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => return,
            None => {
                drop(slots);
                tracing::warn!("key pool: RSA key generation failed");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use super::*;
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn real_keys_are_distinct_rsa_2048_and_handed_out_once() {
        let pool = KeyPool::start(&PoolOptions {
            enabled: true,
            capacity: 4,
            threads: 2,
            prefill: false,
        })
        .expect("pool");
        assert!(pool.wait_ready(4, Duration::from_secs(120)), "pool filled");
        let mut seen = HashSet::new();
        let mut moduli = HashSet::new();
        for _ in 0..6 {
            // Beyond the capacity: later takes wait for the threads (or find the pool empty).
            let key = loop {
                if let Some(k) = pool.take() {
                    break k;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let parsed = rsa::PrivateKey::from_pkcs8_der(&key).expect("PKCS#8 RSA key");
            assert_eq!(parsed.size() * 8, 2048);
            // A consistent key: sign and verify.
            let digest = [7u8; 32];
            let scheme = || rsa::Pkcs1v15Sign::new_unprefixed();
            let sig = parsed.sign(scheme(), &digest).expect("sign");
            parsed
                .to_public_key()
                .verify(scheme(), &digest, &sig)
                .expect("verify");
            let public = parsed.to_public_key().to_pkcs1_der().expect("public key");
            assert!(seen.insert(key), "a key was handed out twice");
            assert!(moduli.insert(public.into_vec()), "duplicate modulus");
        }
        let s = pool.stats();
        assert_eq!(s.taken, 6);
        assert!(s.ready <= 4);
    }

    #[test]
    fn empty_pool_never_blocks() {
        // A generator that never finishes in time: takes must still return at once.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = Arc::clone(&gate);
        let pool = KeyPool::with_generator(
            8,
            1,
            Arc::new(move || {
                let (lock, cv) = &*g;
                let mut open = lock.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                None
            }),
        );
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(pool.take().is_none());
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(pool.stats().misses, 100);
        // Release the generator so its thread can see the shutdown.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    #[test]
    fn bounded_and_each_key_taken_once_under_contention() {
        let counter = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&counter);
        let pool = KeyPool::with_generator(
            16,
            4,
            Arc::new(move || Some(c.fetch_add(1, Ordering::Relaxed).to_be_bytes().to_vec())),
        );
        assert!(pool.wait_ready(16, Duration::from_secs(10)));
        // Full: the threads stop at the capacity (in-flight reservations included).
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.stats().ready, 16);
        assert!(counter.load(Ordering::Relaxed) <= 16);
        let taken: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        while mine.len() < 250 {
                            if let Some(k) = pool.take() {
                                mine.push(k);
                            } else {
                                std::thread::yield_now();
                            }
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: HashSet<_> = taken.iter().collect();
        assert_eq!(taken.len(), 1000);
        assert_eq!(distinct.len(), 1000, "a key was handed out twice");
    }

    #[test]
    fn disabled_or_zero_capacity_means_no_pool() {
        assert!(KeyPool::start(&PoolOptions {
            enabled: false,
            ..PoolOptions::default()
        })
        .is_none());
        assert!(KeyPool::start(&PoolOptions {
            capacity: 0,
            ..PoolOptions::default()
        })
        .is_none());
    }
}
